import { createConnection, type Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { PingknockError } from '../core/errors.js';
import { formatSeconds } from '../core/duration.js';
import type { ResolvedHost } from './resolve.js';

const NOT_MATCHING_HINT =
  "the knock got a reply, so the host is up: the server's rules may not match this client " +
  '(secret, port, or ping layout; see `pingknock rules`), ' +
  'or its list of knocked addresses is full (someone flooding it with knocks; try again later)';
/** A reset comes from the host itself: the rules let this client through (a dropped SYN gets no answer at all). */
const REFUSED_HINT =
  'the knock worked and the host answered, but nothing listens on that port or the server refuses it: ' +
  'a wrong port, or sshd not running';

/**
 * The port gave no answer at all within the wait: its SYNs were dropped, as a firewall drops them
 * for an address that has not knocked.
 */
export class PortSilentError extends PingknockError {}

export interface ConnectOptions {
  /** Gets what the server sends, from the moment the connection is up (unless `paused`). */
  readonly downstream?: Pump | undefined;
  /** Aborting it before the connection is up gives it up (the socket is destroyed); after, it does nothing. */
  readonly signal?: AbortSignal | undefined;
  /**
   * Connects without reading a byte: not one of the server's is taken from the kernel until the
   * downstream pump is given a sink (Pump.into resumes it), so the socket can still be handed to
   * ssh untouched (fdpass.ts).
   */
  readonly paused?: boolean | undefined;
}

/** Connects to the address the knock went to. */
export function connectTcp(
  target: ResolvedHost,
  port: number,
  timeoutMs: number,
  options: ConnectOptions = {},
): Promise<Socket> {
  const { downstream, signal } = options;
  return new Promise((resolve, reject) => {
    const socket = createConnection({
      host: target.address,
      port,
      family: target.family,
      allowHalfOpen: true,
      ...(downstream === undefined ? {} : { onread: downstream.onread }),
    });
    // net starts reading once the 'connect' listeners ran, unless the socket is paused by then.
    if (options.paused === true) socket.pause();
    const where = `${target.family === 6 ? `[${target.address}]` : target.address}:${port}`;
    const giveUp = (): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(new Error(`the connection to ${where} was given up`));
    };
    const settled = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', giveUp);
    };
    const timer = setTimeout(() => {
      settled();
      socket.destroy();
      reject(
        new PortSilentError(
          'connectFailed',
          `${where} did not answer within ${formatSeconds(timeoutMs)}; ${NOT_MATCHING_HINT}`,
        ),
      );
    }, timeoutMs);
    signal?.addEventListener('abort', giveUp, { once: true });
    socket.once('connect', () => {
      settled();
      socket.removeAllListeners('error');
      downstream?.readFrom(socket, 'onread');
      resolve(socket);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      settled();
      const reason =
        error.code === 'ECONNREFUSED'
          ? `refused the connection; ${REFUSED_HINT}`
          : `failed (${error.code ?? error.message}); ${NOT_MATCHING_HINT}`;
      reject(new PingknockError('connectFailed', `${where} ${reason}`));
    });
  });
}

/** One read's worth: what Node reads at a time from a socket or pipe anyway. */
const CHUNK_BYTES = 64 * 1024;
/** What the input may pile up before there is anywhere to send it (ssh sends a few hundred bytes). */
const HELD_LIMIT = 64 * 1024;

/**
 * One direction of the relay: chunks from a source to a sink, one at a time. A socket or pipe
 * source reads into a single buffer, reused for every read (net's `onread`), and reads again
 * only once the sink has taken the last chunk: memory stays at one buffer per direction, where a
 * fresh 64 KiB Buffer per read piles up tens of MiB awaiting the garbage collector on a fast
 * transfer. Backpressure is the same as `pipe`'s: a slow sink stops the reads. Until a sink is
 * attached, chunks are copied aside (ssh's first bytes, sent while the proxy knocks), and the
 * source is still read, so its end is seen. The sink must be done with a chunk when its write
 * callback runs, as sockets, pipes, files and terminals are (a stream that buffers chunks is not).
 */
export class Pump {
  /** The `onread` option for a socket created to be read by this pump. */
  readonly onread = {
    buffer: Buffer.allocUnsafe(CHUNK_BYTES),
    callback: (bytes: number, buffer: Uint8Array): boolean => this.take(buffer.subarray(0, bytes)),
  };
  private source: Readable | undefined;
  private sink: Writable | undefined;
  private held: Buffer[] = [];
  private heldBytes = 0;
  private sourceEnded = false;

  /** Whether the source has ended (its writer closed its end). */
  get ended(): boolean {
    return this.sourceEnded;
  }

  /** What the source sent that waits for a sink. */
  get bytesHeld(): number {
    return this.heldBytes;
  }

  /**
   * Starts reading `source`: a socket created with this pump's `onread`, or any readable stream,
   * whose chunks are then fresh buffers from 'data' events.
   */
  readFrom(source: Readable, how: 'onread' | 'data'): void {
    this.source = source;
    source.once('end', () => {
      this.sourceEnded = true;
      this.sink?.end();
    });
    if (how === 'data') {
      source.on('data', (chunk: Buffer) => {
        if (!this.take(chunk)) source.pause();
      });
    }
  }

  /** Sends what was held and everything from now on to `sink`, ending it when the source ends. */
  into(sink: Writable): void {
    this.sink = sink;
    const held = Buffer.concat(this.held);
    this.held = [];
    this.heldBytes = 0;
    if (held.length > 0) sink.write(held);
    if (this.sourceEnded) sink.end();
    else this.source?.resume();
  }

  /** Stops reading the source for good. */
  stop(): void {
    this.source?.destroy();
  }

  /** Takes one chunk; false asks the source to pause until the chunk is written. */
  private take(chunk: Uint8Array): boolean {
    const sink = this.sink;
    if (sink === undefined) {
      this.held.push(Buffer.from(chunk));
      this.heldBytes += chunk.length;
      return this.heldBytes < HELD_LIMIT;
    }
    let waiting = false;
    sink.write(chunk, (error) => {
      if (waiting && error == null) this.source?.resume();
    });
    // Nothing left queued means the sink's kernel buffer took the chunk during write(): the read
    // buffer is free again at once. Otherwise the chunk is still ours to keep, so reads wait.
    if (sink.writableLength === 0) return true;
    waiting = true;
    return false;
  }
}

/**
 * Relays upstream -> socket and socket -> output until both directions are done. Each direction
 * ends on its own: input EOF half-closes the socket's write side while the server's reply still
 * flows back, and the server's EOF ends the output while input may still flow to the server.
 */
export function relay(upstream: Pump, socket: Socket, downstream: Pump, output: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    let upstreamDone = false;
    let downstreamDone = false;
    const finishIfDone = (): void => {
      if (upstreamDone && downstreamDone) resolve();
    };
    const fail = (error: PingknockError): void => {
      upstream.stop();
      socket.destroy();
      reject(error);
    };
    socket.on('error', (error: NodeJS.ErrnoException) => {
      fail(new PingknockError('connectionLost', `connection to the server lost (${error.code ?? error.message})`));
    });
    output.on('error', (error: NodeJS.ErrnoException) => {
      fail(new PingknockError('connectionLost', `standard output closed (${error.code ?? error.message})`));
    });
    socket.on('finish', () => {
      upstreamDone = true;
      finishIfDone();
    });
    output.on('finish', () => {
      downstreamDone = true;
      finishIfDone();
    });
    socket.on('close', (hadError) => {
      // A close without both EOFs means the server went away while we were still sending.
      if (!hadError && !upstreamDone) {
        fail(
          new PingknockError('connectionLost', 'the server closed the connection before the client finished sending'),
        );
      }
    });
    upstream.into(socket);
    downstream.into(output);
  });
}
