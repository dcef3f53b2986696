import { closeSync, createWriteStream, fstatSync } from 'node:fs';
import { Socket, type SocketConstructorOpts } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { Pump } from './tcp.js';

/** The ssh byte stream on fd 0 and fd 1, as ssh and other clients hand them to a ProxyCommand. */

/**
 * fd 1 when it is a pipe, as ssh gives it. A pipe cannot be half-closed (shutdown() is for
 * sockets: ENOTSOCK) and libuv never closes fds 0-2, so ending a plain stream on fd 1 would leave
 * the pipe open and ssh waiting forever for the server's EOF. Ending this one closes fd 1 once
 * every byte is written: ssh sees the EOF while its own bytes may still flow the other way.
 */
class PipeOutput extends Socket {
  constructor() {
    super({ fd: 1, readable: false, writable: true });
  }

  // Runs once every queued write has completed.
  override _final(callback: (error?: Error | null) => void): void {
    this.once('close', () => closeSync(1));
    callback();
    this.destroy();
  }
}

/**
 * Takes fd 0 for the ssh byte stream, before anything else can, and keeps everything else off fd 1.
 * Only one handle per fd can exist (a second one fails with EEXIST), and Node makes process.stdin
 * and process.stdout handles as soon as anything reads them: ora hooks process.stdout while it
 * spins, and importing any ES module that imports `node:process` reads every property of process.
 * So from here on process.stdin is the relay's own input handle and process.stdout is stderr: a
 * library or a stray log line can neither hold fd 1 nor write into the stream. fd 1 itself stays
 * untouched until claimOutput(), or for good when the socket is passed to ssh over it (fdpass.ts).
 *
 * Input: a pipe or socket (ssh's way) is read by a net.Socket of our own into the pump's buffer; a
 * file or a terminal through process.stdin.
 */
export function claimInput(): Pump {
  const input = new Pump();
  const inputStats = fstatSync(0);
  let stdin: Readable;
  if (inputStats.isFIFO() || inputStats.isSocket()) {
    // Node's Socket constructor takes `onread` (net.connect passes it through), its types do not.
    const options = {
      fd: 0,
      readable: true,
      writable: false,
      allowHalfOpen: true,
      onread: input.onread,
    } as SocketConstructorOpts;
    stdin = new Socket(options);
    input.readFrom(stdin, 'onread');
  } else {
    stdin = process.stdin;
    input.readFrom(stdin, 'data');
  }
  // Node's own getter, which opens fd 1 when first called: kept for claimOutput.
  const stdout = Object.getOwnPropertyDescriptor(process, 'stdout') as { get?: (this: void) => unknown } | undefined;
  const nodeGetter = stdout?.get;
  nodeStdout = nodeGetter === undefined ? undefined : () => Reflect.apply(nodeGetter, process, []) as Writable;
  Object.defineProperty(process, 'stdin', { configurable: true, enumerable: true, get: () => stdin });
  Object.defineProperty(process, 'stdout', { configurable: true, enumerable: true, get: () => process.stderr });
  return input;
}

let nodeStdout: (() => Writable) | undefined;

/**
 * fd 1 for the server's bytes, after claimInput(): a pipe closes when it ends (PipeOutput); a
 * socket is half-closed with shutdown(), since fd 0 may be the same socket; a file gets an fs
 * stream; anything else (a terminal) the stream Node itself makes for process.stdout.
 */
export function claimOutput(): Writable {
  const outputStats = fstatSync(1);
  if (outputStats.isFIFO()) return new PipeOutput();
  if (outputStats.isSocket()) return new Socket({ fd: 1, readable: false, writable: true });
  if (outputStats.isFile()) return createWriteStream('', { fd: 1 });
  if (nodeStdout === undefined) throw new Error('claimOutput() before claimInput()');
  return nodeStdout();
}
