import type { ArgumentsCamelCase, Argv } from 'yargs';
import { runKnock } from '../app/knock.js';
import { secondsOption } from '../core/proxy-arguments.js';
import { knockModeOf, withKnockModeOptions, withKnockOptions } from './options.js';

export const command = 'knock <host>';
export const describe = 'Send the knock ping and wait for the echo reply';

export function builder(yargs: Argv) {
  return withKnockModeOptions(
    withKnockOptions(
      yargs.positional('host', { type: 'string', demandOption: true, describe: 'host name or address' }),
    ),
    {
      rollingUntil:
        "knock with the one-time pattern of now, which the server's rules hold through this UTC day (YYYY-MM-DD)",
      static: 'knock with the static pattern (the secret itself), for servers without one-time knocks',
    },
  )
    .option('config', {
      type: 'string',
      describe: 'ssh config file (as ssh -F) that says where and how ssh reaches the alias; default: what ssh reads',
      requiresArg: true,
    })
    .example(
      '$0 knock myserver',
      'knock as ssh myserver does: at its HostName, one-time or static as its ProxyCommand says',
    )
    .example('$0 knock --static --secret-file key 203.0.113.7', 'knock with the secret in ./key itself')
    .epilogue(
      'Without --rolling-until or --static the knock is the one the ProxyCommand of the alias (--name, else HOST) ' +
        'sends, as ssh -G reads it: one-time patterns when it has --rolling-until, else the secret itself. ' +
        'Without --name, HOST is the alias, knocked at its HostName.',
    );
}

type Args = ArgumentsCamelCase<Awaited<ReturnType<typeof builder>['argv']>>;

export async function handler(argv: Args): Promise<void> {
  const { address, mode } = await runKnock({
    host: argv.host,
    secretFile: argv.secretFile,
    name: argv.name,
    deadlineMs: secondsOption('deadline', argv.deadline),
    verbose: argv.verbose,
    config: argv.config,
    mode: knockModeOf(argv),
  });
  process.stderr.write(
    `pingknock: ${address.address} answered the ${mode.kind === 'rolling' ? 'one-time ' : ''}knock\n`,
  );
}
