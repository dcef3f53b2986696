import type { ArgumentsCamelCase, Argv } from 'yargs';
import { runSetup } from '../app/setup.js';
import { knockModeOf, withKnockModeOptions } from './options.js';

export const command = 'setup <alias>';
export const describe = "Set up a host once: make its secret and add pingknock's ProxyCommand to the ssh config";

/** Setup's arguments; `pingknock enroll` takes the same ones. */
export function withSetupOptions<T>(yargs: Argv<T>) {
  return yargs
    .positional('alias', { type: 'string', demandOption: true, describe: 'the name you give ssh (ssh ALIAS)' })
    .option('hostname', {
      type: 'string',
      describe: 'HostName for a new Host block: the server name or address',
      requiresArg: true,
    })
    .option('port', { type: 'string', describe: 'Port for a new Host block', requiresArg: true })
    .option('user', { type: 'string', describe: 'User for a new Host block', requiresArg: true })
    .option('config', {
      type: 'string',
      describe: 'ssh config file to edit (default ~/.ssh/config)',
      requiresArg: true,
    })
    .option('secret-file', {
      type: 'string',
      describe: 'use this existing secret (- reads standard input) instead of making a new one',
      requiresArg: true,
    })
    .option('yes', {
      type: 'boolean',
      default: false,
      describe: 'ask nothing (for scripts); without a terminal nothing is asked anyway',
    })
    .option('force', {
      type: 'boolean',
      default: false,
      describe: "replace the host's other ProxyCommand or ProxyJump, and say what was replaced",
    });
}

export function builder(yargs: Argv) {
  return withKnockModeOptions(withSetupOptions(yargs), {
    rollingUntil: "the server's rules hold one-time patterns through this UTC day (YYYY-MM-DD): knock with them",
    static: "the server's rules match the secret itself: the ProxyCommand knocks with it (what a new line does)",
  })
    .option('fdpass', {
      type: 'boolean',
      describe:
        'ssh takes the connected socket from the proxy (ProxyUseFdpass yes, proxy --fdpass); ' +
        '--no-fdpass: the proxy relays the stream',
    })
    .example(
      '$0 setup myserver --hostname myserver.example.org',
      'secret in ~/.ssh/pingknock/myserver, Host block in ~/.ssh/config',
    )
    .example('$0 setup web --hostname 203.0.113.7 --user deploy --yes', 'the same from a script')
    .example('$0 setup lab --config ./ssh_config --hostname 10.0.0.2', 'then: ssh -F ./ssh_config lab')
    .example('$0 setup web --rolling-until 2025-03-31', 'rules loaded by hand with one-time patterns through that day')
    .epilogue(
      'Without --rolling-until or --static, a ProxyCommand of pingknock already in place keeps its mode; ' +
        'a new one is static. Without --fdpass or --no-fdpass, one in place keeps its way; a new one passes ' +
        'the socket where the local ssh can (OpenSSH 6.5 or later).',
    );
}

type Args = ArgumentsCamelCase<Awaited<ReturnType<typeof builder>['argv']>>;

export async function handler(argv: Args): Promise<void> {
  const mode = knockModeOf(argv);
  process.stdout.write((await runSetup({ ...argv, mode })).instructions);
}
