import type { ArgumentsCamelCase, Argv } from 'yargs';
import { knock } from '../knock.js';
import { createProgress } from '../edge/progress.js';
import { secondsOption } from '../core/proxy-arguments.js';
import { withKnockOptions } from './options.js';

export const command = 'knock <host>';
export const describe = 'Send the knock ping and wait for the echo reply';

export function builder(yargs: Argv) {
  return withKnockOptions(yargs.positional('host', { type: 'string', demandOption: true, describe: 'host name or address' }))
    .example('$0 knock myserver', 'knock with ~/.ssh/pingknock/myserver')
    .example('$0 knock --secret-file key 203.0.113.7', 'knock with the secret in ./key');
}

type Args = ArgumentsCamelCase<Awaited<ReturnType<typeof builder>['argv']>>;

export async function handler(argv: Args): Promise<void> {
  const progress = await createProgress({ stderr: process.stderr, env: process.env, verbose: argv.verbose });
  let target;
  try {
    target = await knock({
      host: argv.host,
      secret: { secretFile: argv.secretFile, name: argv.name ?? argv.host, env: process.env, stdin: () => process.stdin },
      deadlineMs: secondsOption('deadline', argv.deadline),
      progress,
    });
  } finally {
    progress.stop();
  }
  process.stderr.write(`pingknock: ${target.address} answered the knock\n`);
}
