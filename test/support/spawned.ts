import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/**
 * Processes a test starts and watches while they run: every output line with the time it
 * arrived, the time of the exit, and a bounded wait, so that a hang fails the test instead of
 * stalling it. Whatever is still running is killed with all it started by `killStarted()`.
 * Output is kept as latin1 text, one character a byte, so binary output keeps every byte.
 */

export interface Finished {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** performance.now() at the exit (not when the pipes closed). */
  readonly exitedAt: number;
  /** From the start to the exit. */
  readonly ms: number;
}

export interface Line {
  readonly stream: 'stdout' | 'stderr';
  readonly text: string;
  /** performance.now() when it arrived. */
  readonly at: number;
}

export interface Started {
  readonly child: ChildProcessWithoutNullStreams;
  readonly startedAt: number;
  readonly lines: readonly Line[];
  stdout(): string;
  stderr(): string;
  /** performance.now() at the exit, once it exited. */
  exitedAt(): number | undefined;
  /** The exit and the end of its output, however long they take: for a test whose own timeout bounds it. */
  readonly done: Promise<Finished>;
  /**
   * The first line of `stream` matching `pattern`, with its arrival; fails after `timeoutMs`, or when the output ends
   * first.
   */
  line(stream: Line['stream'], pattern: RegExp, timeoutMs: number): Promise<Line>;
  /**
   * Waits for the exit and the end of its output (nothing it started may keep it open); when that
   * has not come `timeoutMs` after the start, kills the process tree and fails, saying which.
   */
  finish(timeoutMs: number): Promise<Finished>;
}

const running = new Set<number>();

export function start(file: string, args: readonly string[], env: NodeJS.ProcessEnv): Started {
  const startedAt = performance.now();
  const child = spawn(file, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
  const pid = child.pid ?? 0;
  running.add(pid);
  const text = { stdout: '', stderr: '' };
  const partial = { stdout: '', stderr: '' };
  const lines: Line[] = [];
  let exitedAt: number | undefined;
  let closed = false;
  for (const stream of ['stdout', 'stderr'] as const) {
    child[stream].setEncoding('latin1').on('data', (chunk: string) => {
      const at = performance.now();
      text[stream] += chunk;
      const parts = (partial[stream] + chunk).split('\n');
      partial[stream] = parts.pop() ?? '';
      for (const part of parts) lines.push({ stream, text: part.replace(/\r$/, ''), at });
    });
  }
  // The program may exit while we still write to it: that is its answer, not a failure here.
  child.stdin.on('error', () => {});
  child.on('exit', () => {
    exitedAt = performance.now();
    running.delete(pid);
  });
  const finished = new Promise<Finished>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      closed = true;
      const at = exitedAt ?? performance.now();
      resolve({ code, signal, stdout: text.stdout, stderr: text.stderr, exitedAt: at, ms: at - startedAt });
    });
  });
  finished.catch(() => undefined);
  const describe = (): string =>
    `${[file, ...args].join(' ').slice(0, 300)}\n` +
    `--- stdout:\n${text.stdout.slice(-3000)}\n` +
    `--- stderr:\n${text.stderr.slice(-3000)}`;
  return {
    child,
    startedAt,
    lines,
    done: finished,
    stdout: () => text.stdout,
    stderr: () => text.stderr,
    exitedAt: () => exitedAt,
    async line(stream, pattern, timeoutMs) {
      const until = performance.now() + timeoutMs;
      for (;;) {
        const found = lines.find((line) => line.stream === stream && pattern.test(line.text));
        if (found !== undefined) return found;
        if (closed) throw new Error(`ended before a ${stream} line matched ${pattern}: ${describe()}`);
        if (performance.now() > until)
          throw new Error(`no ${stream} line matched ${pattern} within ${timeoutMs} ms: ${describe()}`);
        await sleep(5);
      }
    },
    async finish(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), Math.max(0, startedAt + timeoutMs - performance.now()));
      });
      const result = await Promise.race([finished, timedOut]);
      clearTimeout(timer);
      if (result === undefined) {
        const state =
          exitedAt === undefined ? 'still running' : 'exited, but something it started still holds its output';
        killTree(pid);
        throw new Error(
          `${state} ${Math.round(performance.now() - startedAt)} ms after its start ` +
            `(limit ${timeoutMs} ms): ${describe()}`,
        );
      }
      return result;
    },
  };
}

/** Kills everything `start` started that still runs, with its descendants: for afterEach and afterAll. */
export function killStarted(): void {
  for (const pid of running) killTree(pid);
  running.clear();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `probe` every 10 ms until it returns something, or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const until = performance.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (performance.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

export interface ProcessInfo {
  readonly pid: number;
  readonly ppid: number;
  /** R, S, D, Z, ... from /proc/PID/stat. */
  readonly state: string;
  readonly comm: string;
}

export function processInfo(pid: number): ProcessInfo | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const close = text.lastIndexOf(')');
  const [state = '?', ppid = '0'] = text.slice(close + 2).split(' ');
  return { pid, ppid: Number(ppid), state, comm: text.slice(text.indexOf('(') + 1, close) };
}

/** Every process below `pid`, however deep. */
export function descendantsOf(pid: number): ProcessInfo[] {
  const all = readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map((name) => processInfo(Number(name)))
    .filter((info): info is ProcessInfo => info !== undefined);
  const found: ProcessInfo[] = [];
  const parents = new Set([pid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const info of all) {
      if (parents.has(info.ppid) && !parents.has(info.pid)) {
        parents.add(info.pid);
        found.push(info);
        grew = true;
      }
    }
  }
  return found;
}

/** A process's command line; empty once it is gone. */
export function argvOf(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`).toString('utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

/** The pingknock proxy somewhere below a process (ssh, say): node running bin/pingknock proxy. */
export function proxyBelow(pid: number): ProcessInfo | undefined {
  return descendantsOf(pid).find((info) => {
    const argv = argvOf(info.pid);
    return info.state !== 'Z' && argv[1]?.endsWith('/bin/pingknock') === true && argv[2] === 'proxy';
  });
}

/** SIGKILL to `pid` and everything below it (all found before any is killed, so none escapes by re-parenting). */
export function killTree(pid: number): void {
  for (const info of [...descendantsOf(pid), processInfo(pid)]) {
    if (info === undefined || info.state === 'Z') continue;
    try {
      process.kill(info.pid, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
}
