import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/core/errors.js';
import { run } from '../../src/edge/exec.js';
import { LAB_HOSTS, type Lab } from '../../src/lab/lab.js';
import { BIN, ROOT } from '../support/cli.js';
import { descendantsOf, killTree, processInfo, type ProcessInfo } from '../support/spawned.js';
import { newSecret, protectedLab } from './fixture.js';

/**
 * Faults: half-closes, resets, closed and silent ports, lossy knocks, a server killed mid-transfer
 * and an ssh killed under the proxy. Over loopback with servers of the test's own where the
 * network does not matter; in a namespace lab where the server's firewall does.
 */

// ---------------------------------------------------------------------------------------------
// Processes

interface Finished {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: Buffer;
  readonly stderr: string;
  /** From spawn to exit. */
  readonly ms: number;
  /** performance.now() at exit. */
  readonly exitedAt: number;
}

interface Started {
  readonly child: ChildProcessWithoutNullStreams;
  readonly done: Promise<Finished>;
  /** stdout so far. */
  stdout(): Buffer;
  /** stderr so far. */
  stderr(): string;
  /** stderr's complete lines so far, each with performance.now() at its arrival. */
  readonly lines: { readonly at: number; readonly text: string }[];
}

/** Everything started here and still running, killed with all it started when its test is over, passed or not. */
const startedPids = new Set<number>();

function start(file: string, args: readonly string[], env: NodeJS.ProcessEnv): Started {
  const started = performance.now();
  const child = spawn(file, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
  if (child.pid !== undefined) startedPids.add(child.pid);
  const stdout: Buffer[] = [];
  let stderr = '';
  const lines: { at: number; text: string }[] = [];
  let partial = '';
  child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr.setEncoding('utf8').on('data', (text: string) => {
    stderr += text;
    const at = performance.now();
    const parts = (partial + text).split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) lines.push({ at, text: line });
  });
  // The program may exit while we still write: that is its answer, not a test failure.
  child.stdin.on('error', () => {});
  const done = new Promise<Finished>((resolve, reject) => {
    child.on('error', reject);
    // Reaped at exit: from then on the pid may be anyone's.
    child.on('exit', () => startedPids.delete(child.pid ?? 0));
    child.on('close', (code, signal) => {
      const exitedAt = performance.now();
      resolve({ code, signal, stdout: Buffer.concat(stdout), stderr, ms: exitedAt - started, exitedAt });
    });
  });
  return { child, done, stdout: () => Buffer.concat(stdout), stderr: () => stderr, lines };
}

afterEach(() => {
  for (const pid of startedPids) killTree(pid);
  startedPids.clear();
});

/** The environment pingknock runs in: a private HOME, no secret from ours. */
function proxyEnv(home: string, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base, HOME: home };
  delete env.PINGKNOCK_SECRET;
  return env;
}

function childrenOf(pid: number): ProcessInfo[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map((name) => processInfo(Number(name)))
    .filter((info): info is ProcessInfo => info !== undefined && info.ppid === pid);
}

function argvOf(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`).toString('utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

/** Polls `probe` every 10 ms until it returns something, or fails after `timeoutMs`. */
async function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const until = performance.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (performance.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * A subreaper (prctl PR_SET_CHILD_SUBREAPER) around the processes under test, so that what ends
 * below it is really reaped, whatever the machine's PID 1 does with orphans: a pid that stays
 * after the reaper is gone is a real leftover. It exits once nothing is left below it, with the
 * exit code of its first child, which it also reports on stderr.
 *
 * MODE run: the first child is the command (ssh, say).
 * MODE parent-owns-pipes: the first child is a stand-in for ssh: it gives the command pipes of its
 *   own, which close when it dies, and on SIGTERM or SIGHUP it ends the command with SIGHUP before
 *   it exits, as ssh does with its ProxyCommand.
 * MODE parent-shares-pipes: the stand-in starts the command with the reaper's own stdin and stdout
 *   (the test's pipes), so they stay open when it dies: what \`ssh -f\` and ControlPersist do when
 *   they fork away from the ProxyCommand's parent and keep its pipes.
 */
const REAPER = String.raw`
import ctypes, os, signal, subprocess, sys
if ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) != 0:
    sys.exit('reaper: prctl(PR_SET_CHILD_SUBREAPER) failed')
mode, command = sys.argv[1], sys.argv[2:]
if mode == 'run':
    first = subprocess.Popen(command).pid
else:
    first = os.fork()
    if first == 0:
        pipes = subprocess.PIPE if mode == 'parent-owns-pipes' else None
        child = subprocess.Popen(command, stdin=pipes, stdout=pipes)
        if mode == 'parent-owns-pipes':
            def like_ssh(signum, frame):
                child.send_signal(signal.SIGHUP)
                os._exit(128 + signum)
            signal.signal(signal.SIGTERM, like_ssh)
            signal.signal(signal.SIGHUP, like_ssh)
        child.wait()
        os._exit(0)
code = None
while True:
    try:
        pid, status = os.wait()
    except ChildProcessError:
        break
    if pid == first:
        code = os.waitstatus_to_exitcode(status)
        print('reaper: first child exited %d' % code, file=sys.stderr, flush=True)
sys.exit(0 if code is None else code if code >= 0 else 128 - code)
`;

/** python3's real program: a version manager's shim would start helpers of its own below the reaper. */
const PYTHON = execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim();

type ReaperMode = 'run' | 'parent-shares-pipes' | 'parent-owns-pipes';

function underReaper(mode: ReaperMode, command: readonly string[], env: NodeJS.ProcessEnv, netns?: string): Started {
  const python = [PYTHON, '-c', REAPER, mode, ...command];
  return netns === undefined ? start(PYTHON, python.slice(1), env) : start('ip', ['netns', 'exec', netns, ...python], env);
}

/** The proxy somewhere below a process: node running bin/pingknock proxy. */
function proxyBelow(pid: number): ProcessInfo | undefined {
  return descendantsOf(pid).find((info) => {
    const argv = argvOf(info.pid);
    return info.state !== 'Z' && argv[1]?.endsWith('/bin/pingknock') === true && argv[2] === 'proxy';
  });
}

// ---------------------------------------------------------------------------------------------
// Data

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

async function writeAll(stream: Writable, data: Buffer, chunkSize = 64 * 1024): Promise<void> {
  for (let offset = 0; offset < data.length; offset += chunkSize) {
    if (!stream.write(data.subarray(offset, offset + chunkSize))) await once(stream, 'drain');
  }
  await new Promise<void>((resolve) => stream.end(resolve));
}

/** Writes `chunk` again and again, with backpressure, until `stop()` says so or the stream fails. */
async function stream(to: Writable, chunk: Buffer, stop: () => boolean, onWritten: (total: number) => void = () => {}): Promise<number> {
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

// ---------------------------------------------------------------------------------------------
// Loopback servers

interface TestServer {
  readonly port: number;
  readonly connections: Socket[];
  close(): Promise<void>;
}

async function loopbackServer(onConnection: (socket: Socket) => void): Promise<TestServer> {
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
async function closedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

/** Everything a socket sends until its EOF, as a hash and a count. */
function receiveAll(socket: Socket): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  socket.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    bytes += chunk.length;
  });
  return new Promise((resolve) => socket.once('end', () => resolve({ sha256: hash.digest('hex'), bytes })));
}

const ONE_LINE_MESSAGE = /^pingknock: \S[^\n]*\n$/;

// ---------------------------------------------------------------------------------------------

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
  ])('client EOF first, started by %s: the server reads to EOF, then answers; every byte arrives both ways', async (_, entry) => {
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
  });

  // Node's spawn gives a child socketpairs, where shutdown() half-closes; ssh gives its ProxyCommand
  // pipes, which only close. `cat` at both ends puts real pipes on the proxy's fd 0 and fd 1; bash
  // lets go of its own stdout, so the last cat's EOF is the test's, and keeps the pipeline's status.
  const THROUGH_PIPES = 'set -o pipefail; exec 3<&0; cat <&3 | "$@" | cat & exec >&- <&- 3<&-; wait $!';
  it.each([
    ['socketpairs', (port: number) => proxy(port)],
    [
      'pipes, as ssh gives them',
      (port: number) => start('bash', ['-c', THROUGH_PIPES, 'bash', process.execPath, BIN, 'proxy', '--secret-file', secretFile, '127.0.0.1', String(port)], env),
    ],
  ])('server EOF first, on %s: the client keeps sending after it, and the server gets every byte', async (_, startProxy) => {
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
  });

  it('a slow reader on stdout (ssh busy elsewhere) is waited for, not dropped: backpressure loses nothing', async () => {
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
      run.child.stdout.on('data', (chunk: Buffer) => {
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
  });

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

  it('a closed port: exit 6, says refused and that nothing listens there, not that the rules may not match', async () => {
    const port = await closedPort();
    const result = await proxy(port).done;
    expect(result.code, result.stderr).toBe(ExitCode.connectFailed);
    expect(result.stdout.length).toBe(0);
    expect(result.stderr).toMatch(ONE_LINE_MESSAGE);
    expect(result.stderr).toMatch(/refused the connection; the knock worked and the host answered, but nothing listens on that port/);
    expect(result.stderr).not.toMatch(/rules/);
  });

  describe('ssh killed while the proxy relays: proxy gone within 2 s, nothing left', () => {
    // SIGKILL: ssh's ends of the pipes die with it (stdin closed). SIGTERM, SIGHUP: ssh ends the proxy.
    const cases: { signal: NodeJS.Signals }[] = [{ signal: 'SIGKILL' }, { signal: 'SIGTERM' }, { signal: 'SIGHUP' }];
    it.each(cases)('$signal', async ({ signal }) => {
      const server = await loopbackServer((socket) => socket.write('hello\n'));
      try {
        const reaper = underReaper('parent-owns-pipes', [process.execPath, BIN, 'proxy', '--secret-file', secretFile, '127.0.0.1', String(server.port)], env);
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
        const reaper = underReaper('parent-shares-pipes', [process.execPath, BIN, 'proxy', '--secret-file', secretFile, '127.0.0.1', String(server.port)], env);
        const { proxyPid, parent } = await proxyAndParent(reaper);
        await waitFor('the greeting', () => reaper.stdout().toString() === 'hello\n');
        process.kill(parent, 'SIGKILL');
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        expect(processInfo(proxyPid)?.state, 'the proxy after its parent went').toMatch(/^[RS]/);
        server.connections[0]?.write('still here\n');
        await waitFor('more server bytes through the proxy', () => reaper.stdout().toString() === 'hello\nstill here\n');
        process.kill(proxyPid, 'SIGTERM');
        await reaper.done;
      } finally {
        await server.close();
      }
    });
  });
});

/** The proxy below a reaper, and its parent: ssh's stand-in, between the reaper and the proxy. */
async function proxyAndParent(reaper: Started): Promise<{ proxyPid: number; parent: number }> {
  const reaperPid = reaper.child.pid ?? 0;
  const proxy = await waitFor(`the proxy (stderr: ${reaper.stderr()})`, () => proxyBelow(reaperPid));
  expect(proxy.ppid).not.toBe(reaperPid);
  expect(processInfo(proxy.ppid)?.ppid).toBe(reaperPid);
  return { proxyPid: proxy.pid, parent: proxy.ppid };
}

/**
 * Kills `parent` (ssh's stand-in) with `signal`; the processes in `watched` (the proxy, its ping)
 * must then be gone, reaped (no zombie), and the reaper empty, within 2 s.
 */
async function expectAllGoneAfterKill(parent: number, signal: NodeJS.Signals, watched: readonly number[], reaper: Started): Promise<void> {
  let reaperExited = false;
  void reaper.done.then(() => {
    reaperExited = true;
  });
  const killedAt = performance.now();
  process.kill(parent, signal);
  try {
    await waitFor('the proxy and its ping to be gone', () => reaperExited && watched.every((pid) => processInfo(pid) === undefined), 2_000);
  } catch {
    const left = watched.map((pid) => ({ pid, state: processInfo(pid)?.state ?? 'gone', argv: argvOf(pid).join(' ') }));
    expect.fail(`still there 2 s after ${signal} to ssh's stand-in: ${JSON.stringify(left)}; stderr: ${reaper.stderr()}`);
  }
  const goneMs = performance.now() - killedAt;
  expect(goneMs).toBeLessThan(2_000);
  console.log(`${signal} to ssh's stand-in: proxy${watched.length > 1 ? ' and ping' : ''} gone and reaped after ${Math.round(goneMs)} ms`);
  // Reaped, not zombies: the pids are gone from /proc altogether.
  for (const pid of watched) expect(processInfo(pid)).toBeUndefined();
  const result = await reaper.done;
  expect(result.stderr).not.toMatch(/^\s+at /m);
}

// ---------------------------------------------------------------------------------------------

describe('in a namespace lab behind the rules', () => {
  const secret = newSecret();
  let lab: Lab;
  let secretFile: string;

  beforeAll(async () => {
    lab = await protectedLab('bare', secret);
    secretFile = join(lab.home, '.ssh', 'pingknock', LAB_HOSTS.knocked);
  });
  afterAll(() => lab?.destroy());

  const deleteServerTable = async (name: string): Promise<void> => {
    const result = await lab.onServer('nft', ['delete', 'table', 'inet', name]);
    expect(result.code, result.stderr).toBe(0);
  };

  /** pingknock proxy in the client namespace, as ssh would start it there. */
  const labProxy = (args: readonly string[]): Started =>
    start('ip', ['netns', 'exec', lab.client.netns, process.execPath, BIN, 'proxy', ...args], proxyEnv(lab.home, lab.env));

  describe('ssh killed while the proxy still knocks: proxy and ping gone within 2 s, nothing left', () => {
    const cases: { signal: NodeJS.Signals }[] = [{ signal: 'SIGKILL' }, { signal: 'SIGTERM' }, { signal: 'SIGHUP' }];
    it.each(cases)('$signal', async ({ signal }) => {
      const mode: ReaperMode = 'parent-owns-pipes';
      // An address on the client's own link that nobody has: the knock never gets an answer.
      const silent = '10.201.0.99';
      const command = [process.execPath, BIN, 'proxy', '--secret-file', secretFile, '--deadline', '10', silent, '22'];
      const reaper = underReaper(mode, command, proxyEnv(lab.home, lab.env), lab.client.netns);
      const { proxyPid, parent } = await proxyAndParent(reaper);
      const ping = await waitFor('the knocking ping', () =>
        childrenOf(proxyPid).find((info) => info.comm === 'ping' && argvOf(info.pid).includes('-p'))?.pid,
      );
      await expectAllGoneAfterKill(parent, signal, [proxyPid, ping], reaper);
    });
  });

  it('knock loss: 30 % of echo requests dropped, 20 ssh runs in a row all get in with the default deadline', async () => {
    lab.loadServerRules(
      [
        'table inet lossy {',
        '\tchain input {',
        '\t\ttype filter hook input priority filter - 20; policy accept;',
        '\t\ticmp type echo-request counter',
        '\t\ticmp type echo-request numgen random mod 10 < 3 counter drop',
        '\t}',
        '}',
        '',
      ].join('\n'),
    );
    try {
      const times: number[] = [];
      for (let attempt = 1; attempt <= 20; attempt++) {
        // Each run must open the port with its own knock.
        lab.forgetKnocks();
        const result = await lab.ssh([LAB_HOSTS.knocked, 'echo in'], { timeoutMs: 30_000 });
        expect(result.code, `run ${attempt}: ${result.stderr}`).toBe(0);
        expect(result.stdout.toString()).toBe('in\n');
        times.push(result.ms);
      }
      const listing = (await lab.onServer('nft', ['list', 'table', 'inet', 'lossy'])).stdout.toString();
      const [seen = 0, dropped = 0] = [...listing.matchAll(/counter packets (\d+)/g)].map((match) => Number(match[1]));
      // Every knock passed the lossy chain.
      expect(seen).toBeGreaterThanOrEqual(20);
      console.log(
        `knock loss: ${dropped} of ${seen} echo requests dropped; ssh runs ${Math.round(Math.min(...times))}-${Math.round(Math.max(...times))} ms, mean ${Math.round(times.reduce((a, b) => a + b, 0) / times.length)} ms`,
      );
    } finally {
      await deleteServerTable('lossy');
    }
  }, 120_000);

  it('server silent (pings and port dropped): the proxy gives up within its deadline + 1 s, and ssh reports it', async () => {
    lab.loadServerRules(
      [
        'table inet silent {',
        '\tchain input {',
        '\t\ttype filter hook input priority filter - 20; policy accept;',
        '\t\ticmp type echo-request drop',
        '\t\ttcp dport 22 drop',
        '\t}',
        '}',
        '',
      ].join('\n'),
    );
    try {
      lab.forgetKnocks();
      const proxy = labProxy(['--verbose', '--name', LAB_HOSTS.knocked, lab.server.ipv4, '22']);
      const result = await proxy.done;
      expect(result.code, result.stderr).toBe(ExitCode.noReply);
      expect(result.stdout.length).toBe(0);
      // Measured from the start of the knock, so node's start-up on a busy machine does not count.
      const knocking = proxy.lines.find((line) => /^pingknock: knocking 10\.201\.0\.1$/.test(line.text));
      expect(knocking, result.stderr).toBeDefined();
      const knockMs = result.exitedAt - (knocking?.at ?? 0);
      expect(knockMs).toBeLessThan(3_000 + 1_000);
      expect(result.ms).toBeLessThan(3_000 + 3_000);
      expect(result.stderr).toMatch(/^(pingknock: [^\n]+\n)+$/);
      expect(result.stderr).toMatch(/\npingknock: no echo reply from 10\.201\.0\.1 within 3 s[^\n]*\n$/);
      expect(result.stderr).not.toMatch(/^\s+at /m);

      const ssh = await lab.ssh([LAB_HOSTS.knocked, 'true'], { timeoutMs: 20_000 });
      expect(ssh.code).toBe(255);
      expect(ssh.stderr).toMatch(/^pingknock: no echo reply from 10\.201\.0\.1 within 3 s/);
      expect(ssh.stderr.match(/pingknock:/g)).toHaveLength(1);
      expect(ssh.ms).toBeLessThan(3_000 + 3_000);
      console.log(`server silent: the proxy gave up ${Math.round(knockMs)} ms after it began to knock (deadline 3 s; ${Math.round(result.ms)} ms in all); ssh exited 255 after ${Math.round(ssh.ms)} ms`);
    } finally {
      await deleteServerTable('silent');
    }
  });

  it('reply received but the port dropped (no knock accepted): exit 6 within the connect timeout + 1 s', async () => {
    lab.forgetKnocks();
    const wrong = join(lab.dir, 'faults-wrong-secret');
    writeFileSync(wrong, `${newSecret()}\n`, { mode: 0o600 });
    const proxy = labProxy(['--verbose', '--secret-file', wrong, '--connect-timeout', '2', lab.server.ipv4, '22']);
    const result = await proxy.done;
    expect(result.code, result.stderr).toBe(ExitCode.connectFailed);
    expect(result.stdout.length).toBe(0);
    // Measured from the knock's answer: the connection attempt alone.
    const connecting = proxy.lines.find((line) => /^pingknock: connecting to port 22$/.test(line.text));
    expect(connecting, result.stderr).toBeDefined();
    const connectMs = result.exitedAt - (connecting?.at ?? 0);
    expect(connectMs).toBeLessThan(2_000 + 1_000);
    expect(connectMs).toBeGreaterThan(1_900);
    expect(result.stderr).toMatch(/^(pingknock: [^\n]+\n)+$/);
    expect(result.stderr).toMatch(/\npingknock: 10\.201\.0\.1:22 did not answer within 2 s.*rules may not match[^\n]*\n$/);
    console.log(`port dropped: the proxy gave up ${Math.round(connectMs)} ms after the knock was answered (connect timeout 2 s; ${Math.round(result.ms)} ms in all)`);
  });

  it('reply received but the port closed: exit 6, refused, at once', async () => {
    const proxy = await lab.onClient('pingknock', ['proxy', '--name', LAB_HOSTS.knocked, lab.server.ipv4, '2222'], { timeoutMs: 20_000 });
    expect(proxy.code, proxy.stderr).toBe(ExitCode.connectFailed);
    expect(proxy.stdout.length).toBe(0);
    expect(proxy.stderr).toMatch(ONE_LINE_MESSAGE);
    expect(proxy.stderr).toMatch(/10\.201\.0\.1:2222 refused the connection/);
    expect(proxy.ms).toBeLessThan(3_000);
  });

  it('server killed mid-transfer: ssh exits non-zero within 3 s, the proxy is gone', async () => {
    const ssh = underReaper('run', ['ssh', '-F', lab.sshConfig, LAB_HOSTS.knocked, 'cat > /dev/null'], lab.env, lab.client.netns);
    const reaperPid = ssh.child.pid ?? 0;
    let sshExitedAt: number | undefined;
    ssh.child.stderr.on('data', () => {
      if (sshExitedAt === undefined && /^reaper: first child exited/m.test(ssh.stderr())) sshExitedAt = performance.now();
    });
    let reaperExited = false;
    void ssh.done.then(() => {
      reaperExited = true;
    });
    let flowing = false;
    const chunk = randomBytes(256 * 1024);
    const writing = stream(ssh.child.stdin, chunk, () => reaperExited, (total) => {
      // Accepted by the pipe with backpressure: ssh, the proxy and sshd are moving data.
      if (total >= 16 * 1024 * 1024) flowing = true;
    });
    const proxyPid = (await waitFor('the proxy', () => proxyBelow(reaperPid))).pid;
    await waitFor('16 MiB to flow, or ssh to end', () => flowing || reaperExited, 30_000);
    expect(reaperExited, `ssh ended before the server was killed: ${ssh.stderr()}`).toBe(false);

    // Everything in the server namespace but the lab's listening sshd (the test process started it).
    const pids = (await run('ip', ['netns', 'pids', lab.server.netns])).stdout.toString().split(/\s+/).filter(Boolean).map(Number);
    const sessions = pids.filter((pid) => processInfo(pid)?.ppid !== process.pid);
    expect(sessions.length).toBeGreaterThan(0);
    const killedAt = performance.now();
    for (const pid of sessions) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    const gone = await waitFor('ssh and the proxy to be gone', () => reaperExited, 3_000).then(
      () => true,
      () => false,
    );
    expect(gone, `still running 3 s after the server was killed: ${ssh.stderr()}`).toBe(true);
    const result = await ssh.done;
    await writing;
    const goneMs = performance.now() - killedAt;
    expect(sshExitedAt, `ssh did not exit: ${result.stderr}`).toBeDefined();
    expect((sshExitedAt ?? Infinity) - killedAt).toBeLessThan(3_000);
    expect(goneMs).toBeLessThan(3_000);
    // ssh's exit code (the reaper passes it on): ssh itself reports the lost connection with 255.
    expect(result.code, result.stderr).not.toBe(0);
    expect(result.stderr).toMatch(/^reaper: first child exited 255$/m);
    // ...and says so, as does the proxy when it saw the reset.
    expect(result.stderr.replace(/^reaper: .*$/m, '').trim()).not.toBe('');
    expect(processInfo(proxyPid)).toBeUndefined();
    console.log(`server killed: ssh exited ${Math.round((sshExitedAt ?? 0) - killedAt)} ms after the kill; stderr: ${JSON.stringify(result.stderr.trim())}`);
  }, 90_000);
});
