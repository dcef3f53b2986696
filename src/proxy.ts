import { ExitCode, PingknockError } from './core/errors.js';
import { parsePort } from './core/target.js';
import { knock } from './knock.js';
import { createProgress } from './edge/progress.js';
import { connectTcp, openStdout, relay } from './edge/tcp.js';
import { secondsOption } from './commands/options.js';

export interface ProxyRequest {
  readonly host: string;
  readonly port: string;
  readonly secretFile?: string | undefined;
  readonly name?: string | undefined;
  readonly deadline: number;
  readonly connectTimeout: number;
  readonly verbose: boolean;
}

/** The ProxyCommand: knock, connect to the address that answered, relay until both sides are done. */
export async function runProxy(request: ProxyRequest): Promise<void> {
  if (request.secretFile === '-') {
    throw new PingknockError('usage', 'proxy cannot read the secret from standard input: that is the ssh stream');
  }
  const port = parsePort(request.port);
  const deadlineMs = secondsOption('deadline', request.deadline);
  const connectTimeoutMs = secondsOption('connect-timeout', request.connectTimeout);
  exitWhenOrphaned();
  const progress = await createProgress({ stderr: process.stderr, env: process.env, verbose: request.verbose });
  let socket;
  try {
    const target = await knock({
      host: request.host,
      secret: { secretFile: request.secretFile, name: request.name ?? request.host, env: process.env, stdin: process.stdin },
      deadlineMs,
      progress,
    });
    progress.step(`connecting to port ${port}`);
    socket = await connectTcp(target, port, connectTimeoutMs);
  } finally {
    // Cleared before the first byte flows: nothing may share the terminal with ssh's prompts.
    progress.stop();
  }
  await relay(process.stdin, socket, openStdout());
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
