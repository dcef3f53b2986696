import type { ArgumentsCamelCase, Argv } from 'yargs';
import { runKnock } from '../app/knock.js';
import { secondsOption } from '../core/proxy-arguments.js';
import { withKnockOptions } from './options.js';

export const command = 'knock <host>';
export const describe = 'Send the knock ping and wait for the echo reply';

export function builder(yargs: Argv) {
  return withKnockOptions(
    yargs.positional('host', { type: 'string', demandOption: true, describe: 'host name or address' }),
  )
    .example('$0 knock myserver', 'knock with ~/.ssh/pingknock/myserver')
    .example('$0 knock --secret-file key 203.0.113.7', 'knock with the secret in ./key');
}

type Args = ArgumentsCamelCase<Awaited<ReturnType<typeof builder>['argv']>>;

export async function handler(argv: Args): Promise<void> {
  const target = await runKnock({
    host: argv.host,
    secretFile: argv.secretFile,
    name: argv.name,
    deadlineMs: secondsOption('deadline', argv.deadline),
    verbose: argv.verbose,
  });
  process.stderr.write(`pingknock: ${target.address} answered the knock\n`);
}
