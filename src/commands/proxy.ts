import type { ArgumentsCamelCase, Argv } from 'yargs';
import { runProxy } from '../proxy.js';
import { PROXY_OPTIONS } from './options.js';

// `pingknock proxy` normally starts through src/proxy-main.ts, which skips yargs; this module
// serves `--help` and any start through the full command line.
export const command = 'proxy <host> <port>';
export const describe = 'Knock, then connect and relay stdin/stdout: the ssh ProxyCommand';

export function builder(yargs: Argv) {
  return yargs
    .positional('host', { type: 'string', demandOption: true, describe: 'host name or address (ssh: %h)' })
    .positional('port', { type: 'string', demandOption: true, describe: 'TCP port (ssh: %p)' })
    .options(PROXY_OPTIONS)
    .example('ProxyCommand pingknock proxy --name myserver %h %p', 'in ~/.ssh/config, in the block for Host myserver')
    .example("ssh -o ProxyCommand='pingknock proxy --name myserver %h %p' myserver", 'once, without editing the config');
}

type Args = ArgumentsCamelCase<Awaited<ReturnType<typeof builder>['argv']>>;

export async function handler(argv: Args): Promise<void> {
  await runProxy(argv);
  // As in proxy-main.ts: both directions are done and flushed, so Node's teardown is only delay.
  process.exit();
}
