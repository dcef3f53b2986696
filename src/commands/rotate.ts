import type { ArgumentsCamelCase, Argv } from 'yargs';
import { ROLLBACK_OPTION, sessionRequest, withServerOptions } from './options.js';

export const command = 'rotate <alias>';
export const describe = 'Give an enrolled alias a new secret: proven through a knocked login before the old one goes';

export function builder(yargs: Argv) {
  return withServerOptions(yargs)
    .option('rollback', ROLLBACK_OPTION)
    .example('$0 rotate myserver', 'a new ~/.ssh/pingknock/myserver; the old secret opens nothing afterwards');
}

type Args = ArgumentsCamelCase<Awaited<ReturnType<typeof builder>['argv']>>;

export async function handler(argv: Args): Promise<void> {
  // Loaded here: cli.ts loads every command module on each run, the proxy's too.
  const { runRotate } = await import('../app/rotate.js');
  await runRotate(sessionRequest(argv));
}
