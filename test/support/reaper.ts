import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { expect } from 'vitest';
import { ROOT } from './cli.js';
import { argvOf, processInfo, proxyBelow, start, waitFor, type Started } from './spawned.js';

/**
 * Processes under test/e2e/reaper.py, a subreaper: what ends below it is really reaped, so a pid
 * still there once it is gone is a real leftover. Its modes stand in for ssh (see the script).
 */

export type ReaperMode = 'run' | 'parent-shares-pipes' | 'parent-owns-pipes';

const REAPER = join(ROOT, 'test', 'e2e', 'reaper.py');

/** python3's real program: a version manager's shim would start helpers of its own below the reaper. */
const PYTHON = execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim();

export function underReaper(
  mode: ReaperMode,
  command: readonly string[],
  env: NodeJS.ProcessEnv,
  netns?: string,
): Started {
  const python = [PYTHON, REAPER, mode, ...command];
  return netns === undefined
    ? start(PYTHON, python.slice(1), env)
    : start('ip', ['netns', 'exec', netns, ...python], env);
}

/** The proxy below a reaper, and its parent: ssh's stand-in, between the reaper and the proxy. */
export async function proxyAndParent(reaper: Started): Promise<{ proxyPid: number; parent: number }> {
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
export async function expectAllGoneAfterKill(
  parent: number,
  signal: NodeJS.Signals,
  watched: readonly number[],
  reaper: Started,
): Promise<void> {
  let reaperExited = false;
  void reaper.done.then(() => {
    reaperExited = true;
  });
  const killedAt = performance.now();
  process.kill(parent, signal);
  try {
    await waitFor(
      'the proxy and its ping to be gone',
      () => reaperExited && watched.every((pid) => processInfo(pid) === undefined),
      2_000,
    );
  } catch {
    const left = watched.map((pid) => ({ pid, state: processInfo(pid)?.state ?? 'gone', argv: argvOf(pid).join(' ') }));
    expect.fail(
      `still there 2 s after ${signal} to ssh's stand-in: ${JSON.stringify(left)}; stderr: ${reaper.stderr()}`,
    );
  }
  const goneMs = performance.now() - killedAt;
  expect(goneMs).toBeLessThan(2_000);
  console.log(
    `${signal} to ssh's stand-in: proxy${watched.length > 1 ? ' and ping' : ''} ` +
      `gone and reaped after ${Math.round(goneMs)} ms`,
  );
  // Reaped, not zombies: the pids are gone from /proc altogether.
  for (const pid of watched) expect(processInfo(pid)).toBeUndefined();
  const result = await reaper.done;
  expect(result.stderr).not.toMatch(/^\s+at /m);
}
