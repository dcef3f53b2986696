import type { ArgumentsCamelCase, Argv } from 'yargs';
import { checkedServerPath } from '../core/rules/apply.js';
import { ENROLL_BACKEND_CHOICES } from '../core/rules/detect.js';

export const command = 'unenroll <alias>';
export const describe =
  "Undo enroll: take pingknock's rules off the server (through the knock), then its lines out of the ssh config";

export function builder(yargs: Argv) {
  return yargs
    .positional('alias', { type: 'string', demandOption: true, describe: 'the name you give ssh (ssh ALIAS)' })
    .option('config', {
      type: 'string',
      describe: 'ssh config file enroll edited (default ~/.ssh/config)',
      requiresArg: true,
    })
    .option('backend', {
      choices: ENROLL_BACKEND_CHOICES,
      default: 'auto' as const,
      describe: 'the firewall to take the rules out of; auto: the one enroll used, else every one holding them',
    })
    .option('state-dir', { type: 'string', describe: 'on the server: the state folder enroll used', requiresArg: true })
    .option('persist-dir', {
      type: 'string',
      describe: 'on the server: the boot configuration folder enroll used',
      requiresArg: true,
    })
    .option('purge', { type: 'boolean', default: false, describe: 'also delete the secret ~/.ssh/pingknock/ALIAS' })
    .example('$0 unenroll myserver', 'the server open again without a knock, ~/.ssh/config as before enroll')
    .example('$0 unenroll myserver --purge', 'and the secret deleted');
}

type Args = ArgumentsCamelCase<Awaited<ReturnType<typeof builder>['argv']>>;

export async function handler(argv: Args): Promise<void> {
  // Loaded here: cli.ts loads every command module on each run, the proxy's too.
  const { runUnenroll } = await import('../app/unenroll.js');
  await runUnenroll({
    alias: argv.alias,
    config: argv.config,
    backend: argv.backend,
    stateDir: argv.stateDir === undefined ? undefined : checkedServerPath('state-dir', argv.stateDir),
    persistDir: argv.persistDir === undefined ? undefined : checkedServerPath('persist-dir', argv.persistDir),
    purge: argv.purge,
  });
}
