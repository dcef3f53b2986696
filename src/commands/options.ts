import type { Argv } from 'yargs';
import { PingknockError } from '../core/errors.js';

/**
 * Option definitions as plain data, so that yargs (for every command and for --help) and the
 * proxy's own start-up path (node:util parseArgs, which loads in a fraction of yargs' time) read
 * the same definitions.
 */
export interface OptionSpec {
  readonly type: 'string' | 'number' | 'boolean';
  readonly describe: string;
  readonly default?: number | boolean;
  readonly requiresArg?: boolean;
}

/** Options every command that needs the secret accepts, in the order they are consulted. */
export const SECRET_OPTIONS = {
  'secret-file': { type: 'string', describe: 'file holding the secret (- reads standard input)', requiresArg: true },
  name: {
    type: 'string',
    describe: 'ssh host alias whose secret is ~/.ssh/pingknock/NAME; defaults to the host',
    requiresArg: true,
  },
} as const satisfies Record<string, OptionSpec>;

export const KNOCK_OPTIONS = {
  ...SECRET_OPTIONS,
  deadline: { type: 'number', default: 3, describe: 'seconds to keep knocking until an echo reply comes', requiresArg: true },
  verbose: { type: 'boolean', default: false, describe: 'report each step on stderr' },
} as const satisfies Record<string, OptionSpec>;

export const PROXY_OPTIONS = {
  ...KNOCK_OPTIONS,
  'connect-timeout': {
    type: 'number',
    default: 5,
    describe: 'seconds to wait for the port once the knock was answered',
    requiresArg: true,
  },
} as const satisfies Record<string, OptionSpec>;

export function withSecretOptions<T>(yargs: Argv<T>) {
  return yargs.options(SECRET_OPTIONS);
}

export function withKnockOptions<T>(yargs: Argv<T>) {
  return yargs.options(KNOCK_OPTIONS);
}

/** Seconds from the command line as milliseconds, refusing what no clock can wait for. */
export function secondsOption(name: string, value: number, max = 3600): number {
  if (!Number.isFinite(value) || value <= 0 || value > max) {
    throw new PingknockError('usage', `--${name} must be a number of seconds above 0 and at most ${max}`);
  }
  return Math.round(value * 1000);
}
