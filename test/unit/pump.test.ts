import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { PassThrough, Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/core/errors.js';
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
    const socket = await connectTcp({ address: '127.0.0.1', family: 4 }, port, 5000, { downstream: pump });
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
    const socket = await connectTcp({ address: '127.0.0.1', family: 4 }, port, 5000, { downstream: pump });
    const { sink, received } = kernelLikeSink(0);
    pump.into(sink);
    await once(sink, 'finish');
    socket.destroy();
    expect(sha256(Buffer.concat(received))).toBe(sha256(data));
  });

  it(
    'holds what arrives before it has a sink, ' + 'then sends it first, and ends the sink if the source ended',
    async () => {
      const data = Buffer.from('SSH-2.0-OpenSSH_9.2p1 banner sent before anyone listens\r\n');
      const port = await serverSending(data);
      const pump = new Pump();
      const socket = await connectTcp({ address: '127.0.0.1', family: 4 }, port, 5000, { downstream: pump });
      await once(socket, 'end');
      expect(pump.ended).toBe(true);
      const { sink, received } = kernelLikeSink(1);
      pump.into(sink);
      await once(sink, 'finish');
      socket.destroy();
      expect(Buffer.concat(received).toString()).toBe(data.toString());
    },
  );

  it('connected paused, reads not a byte until it has a sink (so it can still go to ssh untouched)', async () => {
    const data = randomBytes(256 * 1024);
    const port = await serverSending(data);
    const pump = new Pump();
    const socket = await connectTcp({ address: '127.0.0.1', family: 4 }, port, 5000, {
      downstream: pump,
      paused: true,
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(socket.bytesRead).toBe(0);
    expect(pump.bytesHeld).toBe(0);
    const { sink, received } = kernelLikeSink(0);
    pump.into(sink);
    await once(sink, 'finish');
    socket.destroy();
    expect(sha256(Buffer.concat(received))).toBe(sha256(data));
  });

  it('stops reading a source that floods it before there is a sink, and goes on once there is one', async () => {
    const data = randomBytes(8 * 1024 * 1024);
    const port = await serverSending(data);
    const pump = new Pump();
    const socket: Socket = await connectTcp({ address: '127.0.0.1', family: 4 }, port, 5000, { downstream: pump });
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

describe('connectTcp failures say what they mean', () => {
  const loopback = { address: '127.0.0.1', family: 4 } as const;

  it('a refused connection: the knock worked and the host answered, but nothing listens there', async () => {
    const port = await serverSending(Buffer.alloc(0));
    await new Promise((resolve) => server?.close(resolve));
    server = undefined;
    const failure = await connectTcp(loopback, port, 5000).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toMatchObject({ exitCode: ExitCode.connectFailed });
    expect((failure as Error).message).toBe(
      `127.0.0.1:${port} refused the connection; ` +
        `the knock worked and the host answered, ` +
        `but nothing listens on that port or the server refuses it: a wrong port, or sshd not running`,
    );
  });

  it("no answer at all (the SYN dropped): the server's rules may not match", async () => {
    // A listener whose process never accepts, with a backlog of 1: once two connections wait in
    // its queue, the kernel drops every further SYN, as a firewall does.
    const listener = spawn(
      process.execPath,
      [
        '-e',
        "const s = require('node:net').createServer(); " +
          "s.listen(0, '127.0.0.1', 1, () => process.stdout.write(`${s.address().port}\\n`, " +
          '() => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0)));',
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const queued: Socket[] = [];
    try {
      const port = Number(String((await once(listener.stdout, 'data'))[0]).trim());
      queued.push(await connectTcp(loopback, port, 5000), await connectTcp(loopback, port, 5000));
      const started = performance.now();
      const failure = await connectTcp(loopback, port, 300).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(performance.now() - started).toBeGreaterThanOrEqual(290);
      expect(failure).toMatchObject({ exitCode: ExitCode.connectFailed });
      expect((failure as Error).message).toMatch(
        new RegExp(
          `^127\\.0\\.0\\.1:${port} did not answer within 0\\.3 s; ` +
            `the knock got a reply, so the host is up: the server's rules may not match this client`,
        ),
      );
      expect((failure as Error).message).not.toMatch(/refused|nothing listens/);
    } finally {
      // Before the listener goes: its end would reset them, an error nobody listens for.
      for (const socket of queued) socket.destroy();
      listener.kill('SIGKILL');
    }
  });
});
