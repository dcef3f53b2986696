// Process sampling: peak resident set (VmHWM) and CPU time of the relays below a process we started.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { argvOf } from '../test/support/spawned.js';

/**
 * The direct children of `pid`. The sampler reads only the tree below its own child, every 20 ms
 * during the transfers: test/support's `descendantsOf` reads every process's stat instead, ~80x
 * the cost (1.4 ms a walk on a machine with 100 processes), CPU taken from the relay being timed.
 */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** [pid, parent] for every process below `pid`. */
function descendants(pid: number): [number, number][] {
  const out: [number, number][] = [];
  const stack = [pid];
  for (let parent = stack.pop(); parent !== undefined; parent = stack.pop()) {
    for (const child of childrenOf(parent)) {
      out.push([child, parent]);
      stack.push(child);
    }
  }
  return out;
}

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** User + system CPU ms a process has used so far. */
function cpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK; // utime, stime
  } catch {
    return undefined;
  }
}

/** A `NAME: N kB` line of /proc/PID/status. */
export function statusKib(pid: number, field: 'VmHWM' | 'VmRSS'): number | undefined {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

const base = (path: string): string => path.slice(path.lastIndexOf('/') + 1);

export type RelayKind = 'nc' | 'pingknock';

/**
 * Which relay a process is, from its command line, when its parent is ssh (the ProxyCommand is
 * ssh's child: sh execs the command, env execs node, all in one pid): nc, pingknock, or undefined
 * (the shell before its exec, or ssh's own fork before that).
 */
function relayKind(argv: readonly string[], parentArgv: readonly string[]): RelayKind | undefined {
  if (parentArgv[0] === undefined || base(parentArgv[0]) !== 'ssh') return undefined;
  if (argv[0] === undefined || base(argv[0]) === 'ssh') return undefined;
  if (/^nc(\.openbsd)?$/.test(base(argv[0]))) return 'nc';
  if (argv.includes('proxy')) return 'pingknock';
  return undefined;
}

export interface Relay {
  readonly kind: RelayKind;
  readonly hwmKib: number;
  readonly cpuMs: number;
}

export interface Memory {
  readonly relays: Relay[];
  readonly maxHwmMib: number;
  /** The most the relays held at one time, summed. */
  readonly concurrentRssMib: number;
  /** Sampled: the last 20 ms of a relay's life may be missing. */
  readonly relayCpuMs: number;
}

export interface Sampler {
  /** Takes a last sample and returns what all the samples saw. */
  stop(): Memory;
}

/**
 * Samples the relays below `roots()` every `everyMs` until stopped. VmHWM only grows, so the last
 * reading of each process is its peak; sampling often enough catches the last growth before exit.
 */
export function memorySampler(roots: () => readonly number[], everyMs = 20): Sampler {
  const peaks = new Map<number, Relay>();
  let concurrentRssKib = 0;
  const sample = (): void => {
    let rssNow = 0;
    const relaysNow = new Set<number>();
    for (const root of roots()) {
      for (const [pid, parent] of descendants(root)) {
        // A relay's own child is not a relay: between fork and exec (the proxy spawning ping)
        // it still shows the proxy's command line.
        if (relaysNow.has(parent)) continue;
        const kind = relayKind(argvOf(pid), argvOf(parent));
        if (kind === undefined) continue;
        relaysNow.add(pid);
        const hwm = statusKib(pid, 'VmHWM');
        const rss = statusKib(pid, 'VmRSS');
        const cpu = cpuMs(pid);
        const known = peaks.get(pid);
        if (hwm !== undefined)
          peaks.set(pid, {
            kind,
            hwmKib: Math.max(hwm, known?.hwmKib ?? 0),
            cpuMs: Math.max(cpu ?? 0, known?.cpuMs ?? 0),
          });
        if (rss !== undefined) rssNow += rss;
      }
    }
    concurrentRssKib = Math.max(concurrentRssKib, rssNow);
  };
  const timer = setInterval(sample, everyMs);
  return {
    stop() {
      clearInterval(timer);
      sample();
      const relays = [...peaks.values()];
      return {
        relays,
        maxHwmMib: Math.max(0, ...relays.map((r) => r.hwmKib)) / 1024,
        concurrentRssMib: concurrentRssKib / 1024,
        relayCpuMs: relays.reduce((sum, r) => sum + r.cpuMs, 0),
      };
    },
  };
}
