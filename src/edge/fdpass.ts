import { fstatSync } from 'node:fs';
import { Socket } from 'node:net';
import { getSystemErrorName } from 'node:util';
import { PingknockError } from '../core/errors.js';

/**
 * Hands ssh the connected socket instead of relaying it (`ProxyUseFdpass yes`), so no proxy stays
 * in the data path.
 *
 * What OpenSSH does (sshconnect.c, ssh_proxy_fdpass_connect; monitor_fdpass.c, mm_receive_fd): it
 * makes a socketpair(AF_UNIX, SOCK_STREAM) and gives one end to the ProxyCommand as both fd 0 and
 * fd 1. It then reads exactly one message: recvmsg() with a 1-byte buffer and room for one
 * SCM_RIGHTS descriptor. Anything but 1 byte read (the proxy exiting first gives 0), or a first
 * control message other than SCM_RIGHTS, is fatal: "proxy dialer did not pass back a connection".
 * The byte's value does not matter (ssh's own sender sends NUL), the descriptor is used as it comes
 * (nothing checks it is TCP; TCPKeepAlive's SO_KEEPALIVE is set only on sockets ssh connects itself,
 * while TCP_NODELAY and IPQoS are applied as on a direct connection), and ssh then closes its end
 * and waits for the proxy to exit before it speaks a byte of SSH: the proxy's exit is on ssh's
 * connect path. Without ProxyUseFdpass, ssh gives
 * two pipes instead, on which a descriptor cannot be sent.
 *
 * How, without a native addon: the way child_process sends a handle to a child. A pipe handle in IPC
 * mode (pipe_wrap's Pipe) opened on fd 1 writes one byte with the TCP handle attached; libuv sends
 * them in one sendmsg(). Those two classes are Node internals, reached through process.binding();
 * this module is the only place that touches them, and checks their shape before use, so a Node
 * without them (a later release, or the permission model, which denies process.binding) is
 * reported as unavailable and the caller relays instead.
 *
 * Every refusal (FdPassError) comes before a byte reaches fd 1: the caller can still relay on it,
 * and the stream starts clean. fd 1 must be a UNIX socket, and that is checked first: on a TCP
 * socket the kernel would send the byte and silently drop the descriptor (SCM_RIGHTS is ignored
 * outside AF_UNIX), a byte in the stream of whoever reads it. A pipe, file or terminal is refused
 * from fstat() alone; a socket's family is libuv's answer (getsockname()) when net.Socket opens it.
 * fd 0 must be that same socket, as ssh gives it; a client with a socket for each is refused too.
 * What cannot be told from here is whether the process at the other end of a UNIX socket expects a
 * descriptor (a client may hand any ProxyCommand a socketpair, libssh does): that is for the caller
 * to judge, from ssh having been told ProxyUseFdpass yes and from what came in on fd 0.
 */

/** Why the socket was not handed over; in every case nothing was written to fd 1. */
export type FdPassRefusal =
  /** This Node lacks the internals (see above). */
  | 'unavailable'
  /**
   * fd 1 is no UNIX socket (a pipe, as ssh without ProxyUseFdpass gives, a file, a terminal, a TCP
   * socket), or not the one on fd 0.
   */
  | 'not-a-socket'
  /** The socket is not connected, or bytes already went over it, which ssh would never see. */
  | 'socket-in-use'
  /** Opening fd 1 or sending on it failed. */
  | 'send-failed';

export class FdPassError extends PingknockError {
  constructor(
    readonly reason: FdPassRefusal,
    message: string,
  ) {
    super('connectionLost', message);
    this.name = 'FdPassError';
  }
}

/** The few members of pipe_wrap's Pipe this module uses. */
interface IpcPipe {
  open(fd: number): unknown;
  writeUtf8String(request: WriteRequest, data: string, sendHandle: object): number;
  close(callback: () => void): void;
}

/** stream_wrap's WriteWrap: its `oncomplete` is called with 0 or a negative errno. */
interface WriteRequest {
  oncomplete?: (status: number) => void;
}

interface Internals {
  readonly openIpcPipe: (fd: number) => IpcPipe;
  /** Whether a libuv handle is a pipe_wrap Pipe: what net.Socket makes for a UNIX socket or a FIFO. */
  readonly isPipe: (handle: unknown) => boolean;
  readonly newWriteRequest: () => WriteRequest;
  /** Whether the last write will call its request's `oncomplete`, rather than having finished already. */
  readonly lastWriteWasAsync: () => boolean;
}

/** What net.Socket keeps of its libuv handle: undocumented, but what child_process sends for it. */
interface SocketInternals {
  readonly _handle?: { readonly reading?: boolean } | null;
}

function handleOf(socket: Socket): { readonly reading?: boolean } | null | undefined {
  return (socket as unknown as SocketInternals)._handle;
}

let internals: Internals | null | undefined;

function loadInternals(): Internals | null {
  const quiet = process.noDeprecation;
  // process.binding() warns (DEP0111) under --pending-deprecation or NODE_PENDING_DEPRECATION=1,
  // and that warning would reach ssh's terminal; silenced for these two calls only.
  process.noDeprecation = true;
  try {
    const binding = (process as unknown as { binding(name: string): unknown }).binding.bind(process);
    const pipeWrap = binding('pipe_wrap') as Partial<{ Pipe: unknown; constants: Partial<{ IPC: unknown }> }>;
    const streamWrap = binding('stream_wrap') as Partial<{
      WriteWrap: unknown;
      streamBaseState: unknown;
      kLastWriteWasAsync: unknown;
    }>;
    const { Pipe, constants } = pipeWrap;
    const { WriteWrap, streamBaseState, kLastWriteWasAsync } = streamWrap;
    const ipc = constants?.IPC;
    if (
      typeof Pipe !== 'function' ||
      typeof ipc !== 'number' ||
      typeof WriteWrap !== 'function' ||
      !(streamBaseState instanceof Int32Array) ||
      typeof kLastWriteWasAsync !== 'number' ||
      !['open', 'writeUtf8String', 'close'].every(
        (method) => typeof (Pipe.prototype as Record<string, unknown>)[method] === 'function',
      )
    ) {
      return null;
    }
    const PipeClass = Pipe as new (type: number) => IpcPipe;
    const WriteWrapClass = WriteWrap as new () => WriteRequest;
    return {
      openIpcPipe(fd) {
        const pipe = new PipeClass(ipc);
        // Some releases return a negative errno, others throw.
        const status = pipe.open(fd);
        if (typeof status === 'number' && status < 0) {
          pipe.close(() => undefined);
          throw new Error(`uv_pipe_open ${getSystemErrorName(status)}`);
        }
        return pipe;
      },
      isPipe: (handle) => handle instanceof PipeClass,
      newWriteRequest: () => new WriteWrapClass(),
      lastWriteWasAsync: () => streamBaseState[kLastWriteWasAsync] !== 0,
    };
  } catch {
    // Denied (the permission model) or gone: the relay it is.
    return null;
  } finally {
    if (quiet === undefined) Reflect.deleteProperty(process, 'noDeprecation');
    else process.noDeprecation = quiet;
  }
}

function getInternals(): Internals | null {
  // null (looked up, missing) is kept as well: the lookup runs once.
  if (internals === undefined) internals = loadInternals();
  return internals;
}

/** Whether this Node can pass a socket at all; looked up once. Says nothing about fd 1. */
export function fdPassingAvailable(): boolean {
  return getInternals() !== null;
}

/**
 * Sends `socket`'s descriptor to the process at the other end of fd 1 (ssh with ProxyUseFdpass), as
 * the one message ssh reads, then closes this process's copy: the connection itself stays up, ssh
 * holds it. Resolves once the message is sent; the caller then exits, promptly, since ssh waits for
 * that exit before it starts.
 *
 * `socket` must be connected and untouched: nothing written to it, nothing read. A socket that reads
 * could take the server's first bytes, which ssh would then never see, so one that started reading is
 * refused: connect it paused (socket.pause() before it connects; net starts reading right after the
 * 'connect' listeners, unless the socket is paused), or call this from a 'connect' listener, since
 * passSocket pauses it first. Rejects with an FdPassError, before a byte reaches fd 1, when the
 * hand-over cannot happen; the socket is then as it was, but paused once the checks of fd 1 passed.
 * Call it before anything holds fd 1 (claimStdio, process.stdout): libuv allows one watcher per fd.
 */
export async function passSocket(socket: Socket): Promise<void> {
  const found = getInternals();
  if (found === null) {
    throw new FdPassError('unavailable', `this Node (${process.version}) cannot pass a socket to ssh`);
  }
  const kind = describeFd1(found);
  if (kind !== 'a UNIX socket') {
    throw new FdPassError(
      'not-a-socket',
      `standard output is ${kind}, not a UNIX socket (ssh gives one only with ProxyUseFdpass yes)`,
    );
  }
  if (!sameAsStdin()) {
    throw new FdPassError(
      'not-a-socket',
      'standard output is not the socket on standard input (ssh with ProxyUseFdpass gives one socket as both)',
    );
  }
  // From here on net must not start reading it.
  socket.pause();
  const handle = handleOf(socket);
  if (
    handle === undefined ||
    handle === null ||
    socket.readyState !== 'open' ||
    handle.reading === true ||
    socket.bytesRead !== 0 ||
    socket.bytesWritten !== 0
  ) {
    throw new FdPassError(
      'socket-in-use',
      `the connection is not fresh (${socket.readyState}, ${socket.bytesRead} bytes read, ` +
        `${socket.bytesWritten} written${handle?.reading === true ? ', reading' : ''}): it cannot be passed to ssh`,
    );
  }
  let pipe: IpcPipe;
  try {
    pipe = found.openIpcPipe(1);
  } catch (error) {
    throw new FdPassError('send-failed', `cannot open standard output to pass the connection: ${message(error)}`);
  }
  let status: number;
  try {
    status = await sendWith(found, pipe, handle);
  } catch (error) {
    throw new FdPassError('send-failed', `cannot pass the connection on standard output: ${message(error)}`);
  } finally {
    // libuv never closes fds 0-2 with their handle: fd 1 stays, for a relay after a refusal.
    await new Promise<void>((resolve) => pipe.close(resolve));
  }
  if (status !== 0) {
    throw new FdPassError(
      'send-failed',
      `cannot pass the connection on standard output: ${getSystemErrorName(status)}`,
    );
  }
  // Only this process's descriptor closes (no shutdown): ssh's copy keeps the connection.
  socket.destroy();
}

/** One NUL byte with the socket attached, in one sendmsg(); the status libuv reports for it. */
function sendWith(found: Internals, pipe: IpcPipe, handle: object): Promise<number> {
  return new Promise((resolve) => {
    const request = found.newWriteRequest();
    request.oncomplete = (status) => resolve(status);
    const status = pipe.writeUtf8String(request, '\0', handle);
    if (status !== 0 || !found.lastWriteWasAsync()) resolve(status);
  });
}

function describeFd1(found: Internals): string {
  let isSocket: boolean;
  try {
    const stats = fstatSync(1);
    if (stats.isFIFO()) return 'a pipe';
    if (stats.isCharacterDevice()) return 'a terminal or device';
    if (stats.isFile()) return 'a file';
    isSocket = stats.isSocket();
  } catch (error) {
    return `unusable (${message(error)})`;
  }
  if (!isSocket) return 'neither a pipe nor a socket';
  // net.Socket picks its handle by the socket's family: a Pipe for AF_UNIX, TCP for AF_INET(6); it
  // throws for the rest. Opening reads and sends nothing, and closing leaves fds 0-2 open.
  let probe: Socket;
  try {
    probe = new Socket({ fd: 1, readable: false, writable: false });
  } catch (error) {
    return `a socket net cannot open (${message(error)})`;
  }
  const unix = found.isPipe(handleOf(probe));
  probe.destroy();
  return unix ? 'a UNIX socket' : 'a TCP socket';
}

/** Whether fd 0 is the socket on fd 1, as ssh hands it: the same inode. */
function sameAsStdin(): boolean {
  try {
    const [input, output] = [fstatSync(0), fstatSync(1)];
    return input.dev === output.dev && input.ino === output.ino;
  } catch {
    return false;
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
