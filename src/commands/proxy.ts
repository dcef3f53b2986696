import type { Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { asksForHelp, PROXY_OPTIONS } from '../core/proxy-arguments.js';
import { runProxyCommand } from '../app/proxy.js';

// `pingknock proxy` normally starts through src/proxy-main.ts, which skips yargs; this module
// serves `--help` and any start through the full command line.
export const command = 'proxy <host> <port>';
export const describe =
  'Knock, then connect and relay stdin/stdout (or hand ssh the socket: --fdpass): the ssh ProxyCommand';

/**
 * The proxy's arguments as the launcher passes them: all but the command word, which yargs also
 * finds after options.
 */
function proxyArguments(): string[] {
  const words = hideBin(process.argv);
  const at = words.indexOf('proxy');
  return [...words.slice(0, at), ...words.slice(at + 1)];
}

/**
 * yargs checks a command's arguments by rules of its own between the builder and the handler: it
 * counts nothing after "--" as HOST or PORT, takes --secretFile for --secret-file and a last word
 * "help" for --help. So, help aside, the builder hands the arguments to runProxyCommand, as the
 * launcher's fast path does, and yargs never sees it return: one parser for both starts.
 */
export async function builder(yargs: Argv) {
  const args = proxyArguments();
  if (!asksForHelp(args)) await runProxyCommand(args);
  return yargs
    .positional('host', { type: 'string', demandOption: true, describe: 'host name or address (ssh: %h)' })
    .positional('port', { type: 'string', demandOption: true, describe: 'TCP port (ssh: %p)' })
    .options(PROXY_OPTIONS)
    .example('ProxyCommand pingknock proxy --name myserver %h %p', 'in ~/.ssh/config, in the block for Host myserver')
    .example("ssh -o ProxyCommand='pingknock proxy --name myserver %h %p' myserver", 'once, without editing the config')
    .example(
      'ProxyCommand pingknock proxy --name myserver --rolling-until 2025-03-31 %h %p',
      'for a server whose rules hold one-time patterns through that UTC day (enroll and setup write it)',
    )
    .example(
      'ProxyCommand pingknock proxy --name myserver --fdpass %h %p',
      'with ProxyUseFdpass yes on the next line: ssh takes the connected socket, no proxy runs during the session',
    )
    .epilogue('An option given twice counts with its last value; "--" ends the options.');
}

/**
 * Reached only when an argument looked like a request for help that yargs reads otherwise
 * (`--help false`): the proxy's parser judges it then, as it judges every other.
 */
export async function handler(): Promise<void> {
  await runProxyCommand(proxyArguments());
}
