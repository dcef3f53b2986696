import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/core/errors.js';
import { BIN, ROOT } from '../support/cli.js';
import {
  closedPort,
  loopbackServer,
  ONE_LINE_MESSAGE,
  proxyEnv,
  receiveAll,
  sha256,
  stream,
  writeAll,
} from '../support/faults.js';
import { expectAllGoneAfterKill, proxyAndParent, underReaper } from '../support/reaper.js';
import { killStarted, processInfo, start, waitFor, type Started } from '../support/spawned.js';
import { newSecret } from './fixture.js';

/**
 * Faults where the network does not matter, over loopback with servers of the test's own:
 * half-closes, backpressure, resets, closed ports, and ssh killed under the relaying proxy.
 */

// Whatever a test started is killed with all it started when the test is over, passed or not.
afterEach(killStarted);

describe('over loopback, against servers of the test', () => {
  let home: string;
  let secretFile: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(() => {
    home = mkdtempSync(join(tmpdir(), 'pingknock-faults-'));
    secretFile = join(home, 'secret');
    writeFileSync(secretFile, `${newSecret()}\n`, { mode: 0o600 });
    env = proxyEnv(home);
  });
  afterAll(() => {
    if (home !== undefined) rmSync(home, { recursive: true, force: true });
  });

  const proxy = (port: number, ...options: string[]): Started => proxyFrom(BIN, port, ...options);
  const proxyFrom = (entry: string, port: number, ...options: string[]): Started =>
    start(process.execPath, [entry, 'proxy', '--secret-file', secretFile, ...options, '127.0.0.1', String(port)], env);

  // The launcher starts the proxy without yargs; dist/cli.js, the full command line, has its own handler.
  it.each([
    ['the launcher', BIN],
    ['the full command line', join(ROOT, 'dist', 'cli.js')],
  ])(
    'client EOF first, started by %s: the server reads to EOF, then answers; every byte arrives both ways',
    async (_, entry) => {
      const upstream = randomBytes(3 * 1024 * 1024 + 5);
      const downstream = randomBytes(5 * 1024 * 1024 + 11);
      let received: Promise<{ sha256: string; bytes: number }> | undefined;
      const server = await loopbackServer((socket) => {
        received = receiveAll(socket);
        // Only after the client's EOF: the proxy must keep the way back open.
        void received.then(() => socket.end(downstream));
      });
      try {
        const run = proxyFrom(entry, server.port);
        // A failed write shows as the proxy's exit and stderr, asserted below.
        await writeAll(run.child.stdin, upstream).catch(() => undefined);
        const result = await run.done;
        expect(result.stderr).toBe('');
        expect(result.code).toBe(0);
        expect(await received).toEqual({ sha256: sha256(upstream), bytes: upstream.length });
        expect(result.stdout.length).toBe(downstream.length);
        expect(sha256(result.stdout)).toBe(sha256(downstream));
      } finally {
        await server.close();
      }
    },
  );

  // Node's spawn gives a child socketpairs, where shutdown() half-closes; ssh gives its ProxyCommand
  // pipes, which only close. `cat` at both ends puts real pipes on the proxy's fd 0 and fd 1; bash
  // lets go of its own stdout, so the last cat's EOF is the test's, and keeps the pipeline's status.
  const THROUGH_PIPES = 'set -o pipefail; exec 3<&0; cat <&3 | "$@" | cat & exec >&- <&- 3<&-; wait $!';
  it.each([
    ['socketpairs', (port: number) => proxy(port)],
    [
      'pipes, as ssh gives them',
      (port: number) =>
        start(
          'bash',
          [
            '-c',
            THROUGH_PIPES,
            'bash',
            process.execPath,
            BIN,
            'proxy',
            '--secret-file',
            secretFile,
            '127.0.0.1',
            String(port),
          ],
          env,
        ),
    ],
  ])(
    'server EOF first, on %s: the client keeps sending after it, and the server gets every byte',
    async (_, startProxy) => {
      const downstream = randomBytes(2 * 1024 * 1024 + 3);
      const upstream = randomBytes(4 * 1024 * 1024 + 9);
      // The second channel: what the server read after its own EOF, kept here.
      let received: Promise<{ sha256: string; bytes: number }> | undefined;
      const server = await loopbackServer((socket) => {
        received = receiveAll(socket);
        socket.end(downstream);
      });
      try {
        const run = startProxy(server.port);
        // The server's EOF reaches us as the end of the proxy's stdout (it closes fd 1)...
        await once(run.child.stdout, 'end');
        // ...and only then does the client start sending.
        // A failed write shows as the proxy's exit and stderr, asserted below.
        await writeAll(run.child.stdin, upstream).catch(() => undefined);
        const result = await run.done;
        expect(result.stderr).toBe('');
        expect(result.code).toBe(0);
        expect(sha256(result.stdout)).toBe(sha256(downstream));
        expect(await received).toEqual({ sha256: sha256(upstream), bytes: upstream.length });
      } finally {
        await server.close();
      }
    },
  );

  it(
    'a slow reader on stdout (ssh busy elsewhere) is waited for, not dropped: ' + 'backpressure loses nothing',
    async () => {
      const downstream = randomBytes(8 * 1024 * 1024 + 1);
      const server = await loopbackServer((socket) => {
        socket.on('data', () => {});
        socket.end(downstream);
      });
      try {
        const run = proxy(server.port);
        run.child.stdin.end();
        // Stop reading for 300 ms after every MiB, as ssh does while its own output is blocked.
        let sincePause = 0;
        run.child.stdout.on('data', (chunk: string) => {
          sincePause += chunk.length;
          if (sincePause >= 1024 * 1024) {
            sincePause = 0;
            run.child.stdout.pause();
            setTimeout(() => run.child.stdout.resume(), 300);
          }
        });
        const result = await run.done;
        expect(result.stderr).toBe('');
        expect(result.code).toBe(0);
        expect(result.stdout.length).toBe(downstream.length);
        expect(sha256(result.stdout)).toBe(sha256(downstream));
      } finally {
        await server.close();
      }
    },
  );

  it('a connection reset mid-stream ends the proxy promptly with exit 7 and a message', async () => {
    let resetAt: number | undefined;
    const server = await loopbackServer((socket) => {
      let bytes = 0;
      socket.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes >= 1024 * 1024 && resetAt === undefined) {
          resetAt = performance.now();
          socket.resetAndDestroy();
        }
      });
    });
    try {
      const run = proxy(server.port);
      let exited = false;
      void run.done.then(() => {
        exited = true;
      });
      await stream(run.child.stdin, randomBytes(64 * 1024), () => exited);
      const result = await run.done;
      expect(resetAt, 'the server never reset').toBeDefined();
      expect(result.code, result.stderr).toBe(ExitCode.connectionLost);
      expect(result.exitedAt - (resetAt ?? 0)).toBeLessThan(2_000);
      expect(result.stderr).toMatch(ONE_LINE_MESSAGE);
      expect(result.stderr).toMatch(/^pingknock: .*(lost|reset)/i);
    } finally {
      await server.close();
    }
  });

  it(
    'a closed port: exit 6, says refused and that nothing listens there, ' + 'not that the rules may not match',
    async () => {
      const port = await closedPort();
      const result = await proxy(port).done;
      expect(result.code, result.stderr).toBe(ExitCode.connectFailed);
      expect(result.stdout.length).toBe(0);
      expect(result.stderr).toMatch(ONE_LINE_MESSAGE);
      expect(result.stderr).toMatch(
        /refused the connection; the knock worked and the host answered, but nothing listens on that port/,
      );
      expect(result.stderr).not.toMatch(/rules/);
    },
  );

  describe('ssh killed while the proxy relays: proxy gone within 2 s, nothing left', () => {
    // SIGKILL: ssh's ends of the pipes die with it (stdin closed). SIGTERM, SIGHUP: ssh ends the proxy.
    const cases: { signal: NodeJS.Signals }[] = [{ signal: 'SIGKILL' }, { signal: 'SIGTERM' }, { signal: 'SIGHUP' }];
    it.each(cases)('$signal', async ({ signal }) => {
      const server = await loopbackServer((socket) => socket.write('hello\n'));
      try {
        const reaper = underReaper(
          'parent-owns-pipes',
          [process.execPath, BIN, 'proxy', '--secret-file', secretFile, '127.0.0.1', String(server.port)],
          env,
        );
        const { proxyPid, parent } = await proxyAndParent(reaper);
        await waitFor('the connection', () => server.connections.length > 0);
        await expectAllGoneAfterKill(parent, signal, [proxyPid], reaper);
      } finally {
        await server.close();
      }
    });

    it('but lives on, relaying, when its parent goes and the pipes stay (ssh -f, ControlPersist)', async () => {
      const server = await loopbackServer((socket) => socket.write('hello\n'));
      try {
        const reaper = underReaper(
          'parent-shares-pipes',
          [process.execPath, BIN, 'proxy', '--secret-file', secretFile, '127.0.0.1', String(server.port)],
          env,
        );
        const { proxyPid, parent } = await proxyAndParent(reaper);
        await waitFor('the greeting', () => reaper.stdout() === 'hello\n');
        process.kill(parent, 'SIGKILL');
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        expect(processInfo(proxyPid)?.state, 'the proxy after its parent went').toMatch(/^[RS]/);
        server.connections[0]?.write('still here\n');
        await waitFor('more server bytes through the proxy', () => reaper.stdout() === 'hello\nstill here\n');
        process.kill(proxyPid, 'SIGTERM');
        await reaper.done;
      } finally {
        await server.close();
      }
    });
  });
});
