import { ExitCode } from '../core/errors.js';
import { parseProxyArguments, type ProxyRequest } from '../core/proxy-arguments.js';
import { knockPatterns } from '../core/rolling.js';
import { FdPassError, passSocket } from '../edge/fdpass.js';
import { createProgress } from '../edge/progress.js';
import { claimInput, claimOutput } from '../edge/stdio.js';
import { relay, type Pump } from '../edge/tcp.js';
import { knockAndConnect, type Connection } from './connect-race.js';
import { info } from './info.js';
import { runJumpProxy } from './jump-knock.js';
import { checkHorizon, prepareKnock } from './knock.js';

/**
 * `pingknock proxy` with the arguments that follow the word `proxy`: where the launcher's fast
 * path (src/proxy-main.ts) and the full command line (src/commands/proxy.ts) both hand over, so
 * that they read every command line alike.
 */
export async function runProxyCommand(args: readonly string[]): Promise<never> {
  const request = parseProxyArguments(args);
  // Before anything claims stdin: ssh -W inherits the stream as it is.
  if (request.jump !== undefined) await runJumpProxy(request, request.jump);
  await runProxy(request);
  // Both directions are done and flushed, or the socket is ssh's now, so there is nothing left to
  // do: exiting at once skips Node's orderly teardown of the heap and its threads, ~25 ms here
  // that ssh would wait for in the proxy's exit.
  process.exit();
}

/**
 * The ProxyCommand: knock, connect to the address that answered, then either hand ssh the socket
 * (--fdpass, when ssh asked for it) or relay until both sides are done.
 */
async function runProxy(request: ProxyRequest): Promise<void> {
  // Read ssh's bytes from the start (they are held until the socket is up), so that ssh's death
  // is seen even while knocking: its end of the pipe (or socket) closes. fd 1 stays untouched.
  const upstream = claimInput();
  exitWhenOrphaned(() => upstream.ended);
  let connection: Connection;
  try {
    connection = await connectToServer(request);
  } catch (error) {
    // Nothing will be relayed: stop reading ssh's input, or it would keep the proxy alive.
    upstream.stop();
    throw error;
  }
  if (request.fdpass && (await handedOver(connection, upstream, request.verbose))) return;
  await relay(upstream, connection.socket, connection.downstream, claimOutput());
}

/**
 * --fdpass: the connected socket to ssh over fd 1 (ProxyUseFdpass yes); ssh waits for this
 * process to exit before it speaks, so the caller exits at once. false when it cannot be passed,
 * with nothing written to fd 1: the caller relays instead. ssh with ProxyUseFdpass gives one
 * socket as both fd 0 and fd 1 and never writes to it; a client that hands a socket pair and
 * wants the stream relayed speaks first (an SSH client sends its banner at once), so bytes on fd 0
 * mean relay. One turn of the event loop first lets bytes that already came be seen.
 */
async function handedOver(connection: Connection, upstream: Pump, verbose: boolean): Promise<boolean> {
  await new Promise((resolve) => setImmediate(resolve));
  if (upstream.bytesHeld > 0 || upstream.ended) {
    if (verbose) info('relaying: the client wrote to the proxy, so it did not ask for the socket');
    return false;
  }
  try {
    await passSocket(connection.socket);
    return true;
  } catch (error) {
    if (!(error instanceof FdPassError)) throw error;
    if (verbose) info(`relaying: ${error.message}`);
    return false;
  }
}

async function connectToServer(request: ProxyRequest): Promise<Connection> {
  const alias = request.name ?? request.host;
  // Read once: the horizon and the pattern are judged at the same moment.
  const now = Date.now() / 1000;
  checkHorizon(request.mode, alias, now);
  const progress = await createProgress({ stderr: process.stderr, env: process.env, verbose: request.verbose });
  try {
    const target = await prepareKnock(request.host, {
      secretFile: request.secretFile,
      name: alias,
      env: process.env,
    });
    return await knockAndConnect(
      { request, target, progress, paused: request.fdpass },
      knockPatterns(target.secret, request.mode, now),
    );
  } finally {
    // Cleared before the first byte flows: nothing may share the terminal with ssh's prompts.
    progress.stop();
  }
}

/** How often to check that ssh is still there; its death must end us (and ping) within 2 s. */
const PARENT_CHECK_MS = 250;

/**
 * ssh ends its ProxyCommand with SIGHUP when it exits; when ssh is killed outright (SIGKILL),
 * nothing tells the proxy but its input's EOF, and a server that never closes would keep it
 * waiting. Re-parented with the input closed means ssh is gone: exit, which also stops a running
 * ping. Re-parenting alone is not enough: `ssh -f` and ControlPersist fork away from the proxy's
 * parent and keep its pipes, and then the proxy must live on.
 */
function exitWhenOrphaned(inputEnded: () => boolean): void {
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent && inputEnded()) process.exit(ExitCode.connectionLost);
  }, PARENT_CHECK_MS).unref();
}
