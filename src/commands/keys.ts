import type { ArgumentsCamelCase, Argv } from 'yargs';
import { sessionRequest, withServerOptions } from './options.js';

export const command = 'keys <alias>';
export const describe = "List the keys an enrolled server's rules admit: name, kind, and the last day of one-time ones";

export function builder(yargs: Argv) {
  return withServerOptions(yargs).example('$0 keys myserver', "one line per key; ALIAS's own is marked");
}

type Args = ArgumentsCamelCase<Awaited<ReturnType<typeof builder>['argv']>>;

export async function handler(argv: Args): Promise<void> {
  // Loaded here: cli.ts loads every command module on each run, the proxy's too.
  const { runKeys } = await import('../app/keys.js');
  process.stdout.write(await runKeys(sessionRequest(argv)));
}
