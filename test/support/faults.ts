import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Writable } from 'node:stream';

/**
 * What the fault suites share: pingknock's environment, its one-line failure, data to stream, servers of the test's
 * own.
 */

/** A failure as pingknock reports it: one `pingknock:` line and nothing else. */
export const ONE_LINE_MESSAGE = /^pingknock: \S[^\n]*\n$/;

/** The environment pingknock runs in: a private HOME, no secret from ours. */
export function proxyEnv(home: string, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base, HOME: home };
  delete env.PINGKNOCK_SECRET;
  return env;
}

/** Of bytes, or of output as spawned.ts keeps it (latin1: one character a byte). */
export function sha256(data: Buffer | string): string {
  return createHash('sha256')
    .update(typeof data === 'string' ? Buffer.from(data, 'latin1') : data)
    .digest('hex');
}

export async function writeAll(stream: Writable, data: Buffer, chunkSize = 64 * 1024): Promise<void> {
  for (let offset = 0; offset < data.length; offset += chunkSize) {
    if (!stream.write(data.subarray(offset, offset + chunkSize))) await once(stream, 'drain');
  }
  await new Promise<void>((resolve) => stream.end(resolve));
}

/** Writes `chunk` again and again, with backpressure, until `stop()` says so or the stream fails. */
export async function stream(
  to: Writable,
  chunk: Buffer,
  stop: () => boolean,
  onWritten: (total: number) => void = () => {},
): Promise<number> {
  let total = 0;
  let failed = false;
  to.once('error', () => {
    failed = true;
  });
  while (!stop() && !failed && !to.destroyed) {
    const more = to.write(chunk);
    total += chunk.length;
    onWritten(total);
    if (!more) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          to.off('drain', done).off('close', done).off('error', done);
          resolve();
        };
        to.on('drain', done).on('close', done).on('error', done);
      });
    }
  }
  return total;
}

export interface TestServer {
  readonly port: number;
  readonly connections: Socket[];
  close(): Promise<void>;
}

export async function loopbackServer(onConnection: (socket: Socket) => void): Promise<TestServer> {
  const connections: Socket[] = [];
  const server: Server = createServer({ allowHalfOpen: true }, (socket) => {
    connections.push(socket);
    socket.on('error', () => {});
    onConnection(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    connections,
    close: async () => {
      for (const socket of connections) socket.destroy();
      server.close();
      await once(server, 'close').catch(() => undefined);
    },
  };
}

/** A port nothing listens on: bound once by the kernel's choice, then closed. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

/** Everything a socket sends until its EOF, as a hash and a count. */
export function receiveAll(socket: Socket): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  socket.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    bytes += chunk.length;
  });
  return new Promise((resolve) => socket.once('end', () => resolve({ sha256: hash.digest('hex'), bytes })));
}
