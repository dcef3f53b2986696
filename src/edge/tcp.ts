import { createWriteStream, fstatSync } from 'node:fs';
import { createConnection, Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { PingknockError } from '../core/errors.js';
import { formatSeconds } from './ping.js';
import type { ResolvedHost } from './resolve.js';

const NOT_MATCHING_HINT =
  "the knock got a reply, so the host is up: the server's rules may not match this client (secret, port, or ping layout; see `pingknock rules`)";

/** Connects to the address the knock went to, keeping the socket half-open capable. */
export function connectTcp(target: ResolvedHost, port: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: target.address, port, family: target.family, allowHalfOpen: true });
    const where = `${target.family === 6 ? `[${target.address}]` : target.address}:${port}`;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new PingknockError('connectFailed', `${where} did not answer within ${formatSeconds(timeoutMs)}; ${NOT_MATCHING_HINT}`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const reason = error.code === 'ECONNREFUSED' ? 'refused the connection' : `failed (${error.code ?? error.message})`;
      reject(new PingknockError('connectFailed', `${where} ${reason}; ${NOT_MATCHING_HINT}`));
    });
  });
}

/**
 * Pipes input -> socket and socket -> output until both directions are done. Each direction ends
 * on its own: input EOF half-closes the socket's write side while the server's reply still flows
 * back, and the server's EOF ends the output while input may still flow to the server.
 * `pipe` applies backpressure both ways, so memory stays flat whatever the volume.
 */
export function relay(input: Readable, socket: Socket, output: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    let upstreamDone = false;
    let downstreamDone = false;
    const finishIfDone = (): void => {
      if (upstreamDone && downstreamDone) resolve();
    };
    const fail = (error: PingknockError): void => {
      input.unpipe(socket);
      socket.unpipe(output);
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
        fail(new PingknockError('connectionLost', 'the server closed the connection before the client finished sending'));
      }
    });
    input.pipe(socket);
    socket.pipe(output);
  });
}

/**
 * stdout as the ssh byte stream, on a handle of our own that can really close fd 1, so ssh sees
 * the server's EOF while its own data still flows the other way. ssh gives a pipe (or a socket):
 * a net.Socket on it waits out a slow reader in the event loop (fd 1 is non-blocking once
 * anything touches process.stdout, and an fs stream gives up on EAGAIN). A file gets an fs
 * stream; a terminal keeps process.stdout.
 */
export function openStdout(): Writable {
  const stats = fstatSync(1);
  if (stats.isFIFO() || stats.isSocket()) return new Socket({ fd: 1, readable: false, writable: true });
  if (stats.isFile()) return createWriteStream('', { fd: 1 });
  return process.stdout;
}
