import type { Argv } from 'yargs';
import { PingknockError } from '../core/errors.js';

/** Options every command that needs the secret accepts, in the order they are consulted. */
export function withSecretOptions<T>(yargs: Argv<T>) {
  return yargs
    .option('secret-file', {
      type: 'string',
      describe: 'file holding the secret (- reads standard input)',
      requiresArg: true,
    })
    .option('name', {
      type: 'string',
      describe: 'ssh host name (%n) whose secret is ~/.ssh/pingknock/NAME; defaults to the host',
      requiresArg: true,
    });
}

export function withKnockOptions<T>(yargs: Argv<T>) {
  return withSecretOptions(yargs)
    .option('deadline', {
      type: 'number',
      default: 3,
      describe: 'seconds to keep knocking until an echo reply comes',
      requiresArg: true,
    })
    .option('verbose', { type: 'boolean', default: false, describe: 'report each step on stderr' });
}

/** Seconds from the command line as milliseconds, refusing what no clock can wait for. */
export function secondsOption(name: string, value: number, max = 3600): number {
  if (!Number.isFinite(value) || value <= 0 || value > max) {
    throw new PingknockError('usage', `--${name} must be a number of seconds above 0 and at most ${max}`);
  }
  return Math.round(value * 1000);
}
