import { createWriteStream } from 'node:fs';
import type { ArgumentsCamelCase, Argv } from 'yargs';
import { ExitCode, PingknockError } from '../core/errors.js';
import { parsePort } from '../core/target.js';
import { knock } from '../knock.js';
import { createProgress } from '../edge/progress.js';
import { connectTcp, relay } from '../edge/tcp.js';
import { secondsOption, withKnockOptions } from './options.js';

export const command = 'proxy <host> <port>';
export const describe = 'Knock, then connect and relay stdin/stdout: the ssh ProxyCommand';

export function builder(yargs: Argv) {
  return withKnockOptions(
    yargs
      .positional('host', { type: 'string', demandOption: true, describe: 'host name or address (ssh: %h)' })
      .positional('port', { type: 'string', demandOption: true, describe: 'TCP port (ssh: %p)' }),
  )
    .option('connect-timeout', {
      type: 'number',
      default: 5,
      describe: 'seconds to wait for the port once the knock was answered',
      requiresArg: true,
    })
    .example('ProxyCommand pingknock proxy --name %n %h %p', 'in ~/.ssh/config, for the hosts behind the knock')
    .example("ssh -o ProxyCommand='pingknock proxy --name %n %h %p' myserver", 'once, without editing the config');
}

type Args = ArgumentsCamelCase<Awaited<ReturnType<typeof builder>['argv']>>;

export async function handler(argv: Args): Promise<void> {
  if (argv.secretFile === '-') {
    throw new PingknockError('usage', 'proxy cannot read the secret from standard input: that is the ssh stream');
  }
  const port = parsePort(argv.port);
  const connectTimeoutMs = secondsOption('connect-timeout', argv.connectTimeout);
  exitWhenOrphaned();
  const progress = await createProgress({ stderr: process.stderr, env: process.env, verbose: argv.verbose });
  let socket;
  try {
    const target = await knock({
      host: argv.host,
      secret: { secretFile: argv.secretFile, name: argv.name ?? argv.host, env: process.env, stdin: process.stdin },
      deadlineMs: secondsOption('deadline', argv.deadline),
      progress,
    });
    progress.step(`connecting to port ${port}`);
    socket = await connectTcp(target, port, connectTimeoutMs);
  } finally {
    // Cleared before the first byte flows: nothing may share the terminal with ssh's prompts.
    progress.stop();
  }
  // stdout is the ssh byte stream. Our own stream on fd 1 can really close it, so ssh sees the
  // server's EOF even while its own data still flows the other way.
  await relay(process.stdin, socket, createWriteStream('', { fd: 1 }));
}

/** How often to check that ssh is still there; its death must end us (and ping) within 2 s. */
const PARENT_CHECK_MS = 250;

/**
 * When ssh dies without a word (SIGKILL), nothing tells the proxy: stdin is not read while
 * knocking, and a blocked server may never close. Being re-parented is the sign: then exit,
 * which also stops a running ping.
 */
function exitWhenOrphaned(): void {
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) process.exit(ExitCode.connectionLost);
  }, PARENT_CHECK_MS).unref();
}
