import type { ArgumentsCamelCase, Argv } from 'yargs';
import { ENROLL_BACKEND_CHOICES } from '../core/rules/detect.js';
import { ROLLBACK_OPTION, sessionRequest, withServerOptions } from './options.js';

export const command = 'unenroll <alias>';
export const describe =
  "Undo enroll: take this alias's key off the server (all of pingknock's rules with the last key), " +
  'then its lines out of the ssh config';

export function builder(yargs: Argv) {
  return withServerOptions(yargs)
    .option('backend', {
      choices: ENROLL_BACKEND_CHOICES,
      default: 'auto' as const,
      describe:
        'the firewall to take the rules out of; auto: the one the keys are in, else the one enroll used, ' +
        'else every one holding them',
    })
    .option('rollback', ROLLBACK_OPTION)
    .option('purge', { type: 'boolean', default: false, describe: 'also delete the secret ~/.ssh/pingknock/ALIAS' })
    .example('$0 unenroll myserver', 'the server open again without a knock, ~/.ssh/config as before enroll')
    .example('$0 unenroll myserver --purge', 'and the secret deleted')
    .example('$0 unenroll old-laptop --via myserver', 'other keys stay: --via proves their rules with a knocked login');
}

type Args = ArgumentsCamelCase<Awaited<ReturnType<typeof builder>['argv']>>;

export async function handler(argv: Args): Promise<void> {
  // Loaded here: cli.ts loads every command module on each run, the proxy's too.
  const { runUnenroll } = await import('../app/unenroll.js');
  await runUnenroll({ ...sessionRequest(argv), backend: argv.backend, purge: argv.purge });
}
