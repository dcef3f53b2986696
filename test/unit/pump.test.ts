import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { PassThrough, Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { connectTcp, Pump } from '../../src/edge/tcp.js';

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/**
 * A sink that takes each chunk the way the kernel does: it copies the bytes when the write is
 * done, `delayMs` later (0: at once, inside write()). A pump that reused its read buffer before
 * the write was done would hand it overwritten bytes.
 */
function kernelLikeSink(delayMs: number): { sink: Writable; received: Buffer[]; writes: number[] } {
  const received: Buffer[] = [];
  const writes: number[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      writes.push(chunk.length);
      const take = (): void => {
        received.push(Buffer.from(chunk));
        callback();
      };
      if (delayMs === 0) take();
      else setTimeout(take, delayMs);
    },
  });
  return { sink, received, writes };
}

let server: Server | undefined;
afterEach(() => {
  server?.close();
  server = undefined;
});

/** A local server that sends `data` to whoever connects, then closes its side. */
async function serverSending(data: Buffer): Promise<number> {
  server = createServer((socket) => socket.end(data));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

describe('Pump from a socket (one reused read buffer)', () => {
  it('delivers every byte in order to a slow sink, never handing over a buffer it has reused', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const port = await serverSending(data);
    const pump = new Pump();
    const socket = await connectTcp({ address: '127.0.0.1', family: 4 }, port, 5000, pump);
    const { sink, received, writes } = kernelLikeSink(2);
    pump.into(sink);
    await once(sink, 'finish');
    socket.destroy();
    expect(sha256(Buffer.concat(received))).toBe(sha256(data));
    expect(pump.ended).toBe(true);
    // One chunk at a time, each at most one read buffer long.
    expect(Math.max(...writes)).toBeLessThanOrEqual(64 * 1024);
  });

  it('keeps reading without pausing when the sink takes chunks at once', async () => {
    const data = randomBytes(2 * 1024 * 1024);
    const port = await serverSending(data);
    const pump = new Pump();
    const socket = await connectTcp({ address: '127.0.0.1', family: 4 }, port, 5000, pump);
    const { sink, received } = kernelLikeSink(0);
    pump.into(sink);
    await once(sink, 'finish');
    socket.destroy();
    expect(sha256(Buffer.concat(received))).toBe(sha256(data));
  });

  it('holds what arrives before it has a sink, then sends it first, and ends the sink if the source ended', async () => {
    const data = Buffer.from('SSH-2.0-OpenSSH_9.2p1 banner sent before anyone listens\r\n');
    const port = await serverSending(data);
    const pump = new Pump();
    const socket = await connectTcp({ address: '127.0.0.1', family: 4 }, port, 5000, pump);
    await once(socket, 'end');
    expect(pump.ended).toBe(true);
    const { sink, received } = kernelLikeSink(1);
    pump.into(sink);
    await once(sink, 'finish');
    socket.destroy();
    expect(Buffer.concat(received).toString()).toBe(data.toString());
  });

  it('stops reading a source that floods it before there is a sink, and goes on once there is one', async () => {
    const data = randomBytes(8 * 1024 * 1024);
    const port = await serverSending(data);
    const pump = new Pump();
    const socket: Socket = await connectTcp({ address: '127.0.0.1', family: 4 }, port, 5000, pump);
    await new Promise((resolve) => setTimeout(resolve, 200));
    // Held: one read past the limit at most, far from the 8 MiB on offer.
    expect(socket.bytesRead).toBeLessThan(256 * 1024);
    const { sink, received } = kernelLikeSink(0);
    pump.into(sink);
    await once(sink, 'finish');
    socket.destroy();
    expect(sha256(Buffer.concat(received))).toBe(sha256(data));
  });
});

describe('Pump from a readable stream (data events)', () => {
  it('passes chunks through in order, with backpressure from a slow sink, and ends the sink', async () => {
    const source = new PassThrough();
    const pump = new Pump();
    pump.readFrom(source, 'data');
    const chunks = Array.from({ length: 50 }, (_, n) => Buffer.from(`chunk ${n};`));
    const { sink, received } = kernelLikeSink(1);
    pump.into(sink);
    for (const chunk of chunks) source.write(chunk);
    source.end();
    await once(sink, 'finish');
    expect(Buffer.concat(received).toString()).toBe(Buffer.concat(chunks).toString());
  });

  it('stop() ends reading for good', () => {
    const source = new PassThrough();
    const pump = new Pump();
    pump.readFrom(source, 'data');
    pump.stop();
    expect(source.destroyed).toBe(true);
  });
});
