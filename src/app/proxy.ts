import { ExitCode } from '../core/errors.js';
import { parseProxyArguments, type ProxyRequest } from '../core/proxy-arguments.js';
import { createProgress } from '../edge/progress.js';
import { connectTcp, Pump, relay } from '../edge/tcp.js';
import { claimStdio } from '../edge/stdio.js';
import { knock } from './knock.js';

/**
 * `pingknock proxy` with the arguments that follow the word `proxy`: where the launcher's fast
 * path (src/proxy-main.ts) and the full command line (src/commands/proxy.ts) both hand over, so
 * that they read every command line alike.
 */
export async function runProxyCommand(args: readonly string[]): Promise<never> {
  await runProxy(parseProxyArguments(args));
  // Both directions are done and flushed, so there is nothing left to do: exiting at once skips
  // Node's orderly teardown of the heap and its threads, ~25 ms here that ssh would wait for in
  // the proxy's exit.
  process.exit();
}

/** The ProxyCommand: knock, connect to the address that answered, relay until both sides are done. */
async function runProxy(request: ProxyRequest): Promise<void> {
  // Read ssh's bytes from the start (they are held until the socket is up), so that ssh's death
  // is seen even while knocking: its end of the pipe closes.
  const { input: upstream, output } = claimStdio();
  exitWhenOrphaned(() => upstream.ended);
  const progress = await createProgress({ stderr: process.stderr, env: process.env, verbose: request.verbose });
  const downstream = new Pump();
  let socket;
  try {
    const target = await knock({
      host: request.host,
      secret: { secretFile: request.secretFile, name: request.name ?? request.host, env: process.env },
      deadlineMs: request.deadlineMs,
      progress,
    });
    progress.step(`connecting to port ${request.port}`);
    socket = await connectTcp(target, request.port, request.connectTimeoutMs, downstream);
  } catch (error) {
    // Nothing will be relayed: stop reading ssh's input, or it would keep the proxy alive.
    upstream.stop();
    throw error;
  } finally {
    // Cleared before the first byte flows: nothing may share the terminal with ssh's prompts.
    progress.stop();
  }
  await relay(upstream, socket, downstream, output);
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
