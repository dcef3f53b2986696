import type { Argv } from 'yargs';
import { KNOCK_OPTIONS, SECRET_OPTIONS } from '../core/proxy-arguments.js';

// The option definitions themselves live in src/core/proxy-arguments.ts, where the proxy's fast
// path reads them too; these give them to yargs.

export function withSecretOptions<T>(yargs: Argv<T>) {
  return yargs.options(SECRET_OPTIONS);
}

export function withKnockOptions<T>(yargs: Argv<T>) {
  return yargs.options(KNOCK_OPTIONS);
}
