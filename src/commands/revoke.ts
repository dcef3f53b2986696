import type { ArgumentsCamelCase, Argv } from 'yargs';
import { ROLLBACK_OPTION, sessionRequest, withServerOptions } from './options.js';

export const command = 'revoke <alias> <key>';
export const describe = "Take another key off an enrolled server: its knocks open nothing, everyone else's still do";

export function builder(yargs: Argv) {
  return withServerOptions(yargs)
    .positional('key', {
      type: 'string',
      demandOption: true,
      describe: 'the name of the key, as pingknock keys lists it',
    })
    .option('rollback', ROLLBACK_OPTION)
    .example('$0 revoke myserver alice@old-laptop', 'proven through the knock of myserver, which stays');
}

type Args = ArgumentsCamelCase<Awaited<ReturnType<typeof builder>['argv']>>;

export async function handler(argv: Args): Promise<void> {
  // Loaded here: cli.ts loads every command module on each run, the proxy's too.
  const { runRevoke } = await import('../app/keys.js');
  await runRevoke({ ...sessionRequest(argv), revoked: argv.key });
}
