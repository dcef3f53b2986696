// Where the bench finds what it runs, what the environment asks of it, and the targets it checks.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findCommand } from '../src/edge/exec.js';

/** The project: `npm run bench` bundles the bench to dist/bench/, two levels below it. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** The command install.sh puts on the PATH. */
export const BIN = join(ROOT, 'dist', 'bin', 'pingknock');
export const MINIMAL_PROXY = join(ROOT, 'bench', 'minimal-proxy.cjs');
export const TIMED = join(ROOT, 'bench', 'timed.py');
export const SNIFF = join(ROOT, 'bench', 'sniff.py');
/** The lab's delay line (test/support/latency-lab.ts runs the same program). */
export const DELAY_BRIDGE = join(ROOT, 'test', 'support', 'delay-bridge.py');
export const NODE = process.execPath;
export const MIB = 1024 * 1024;

// Targets from the issues.
export const START_LIMIT = 1.15; // retired (information only): own start <= 1.15x `node -e 0`
export const CONNECT_NODE_FACTOR = 1.1; // connect <= shell recipe + 1.1x `node -e 0`
export const THROUGHPUT_LIMIT = 0.97; // >= 0.97x nc
export const RSS_LIMIT_MIB = 64; // peak RSS <= 64 MiB
export const FLAT_SLACK_MIB = 8; // "flat": peak at the big size <= peak at the small size + this
export const KNOCK_SLACK_MS = 10; // knock latency <= the shell recipe's + this (no sleeps, no extra round trip)
export const RTT_SLACK_MS = 10; // at every RTT: pingknock - direct ssh <= own start (knock included) + this
export const FDPASS_THROUGHPUT_LIMIT = 0.98; // fd passing: bulk throughput >= 0.98x direct ssh
export const PROXY_CPU_LIMIT = 1.3; // CPU of the proxy and its ping per connection <= 1.3x `node -e 0`'s

/** What rows 1 and 2 are checked on. */
export type Basis = 'wall' | 'cpu';

export interface Config {
  /** Repeats of rows 1-3. */
  readonly n: number;
  /** Repeats of the transfers. */
  readonly nXfer: number;
  readonly sizeMib: number;
  readonly smallMib: number;
  readonly parallel: number;
  /** Repeats of the connects at each round-trip time. */
  readonly nRtt: number;
  /** Round-trip times of the rtt section, ms; 0 is the lab without a delay line. */
  readonly rtts: readonly number[];
  /** A `bun` to build the single-executable candidate with (start section), if one is to be had. */
  readonly bun: string | undefined;
  readonly basis: Basis;
  /** Of start, connect, xfer, parallel, rtt, rolling. */
  readonly sections: ReadonlySet<string>;
  readonly jsonFile: string | undefined;
}

export const ALL_SECTIONS = 'start,connect,xfer,parallel,rtt,rolling';

function intEnv(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const value = Number(env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer`);
  return value;
}

/** Even round trips only: the delay line takes half of one each way, in whole milliseconds. */
function rttsEnv(env: NodeJS.ProcessEnv): number[] {
  const rtts = (env.BENCH_RTTS ?? '0,50,150').split(',').map((text) => Number(text.trim()));
  if (rtts.length === 0 || rtts.some((rtt) => !Number.isInteger(rtt) || rtt < 0 || rtt % 2 !== 0)) {
    throw new Error('BENCH_RTTS must be even whole milliseconds, comma-separated (0,50,150 is the default)');
  }
  return rtts;
}

function isBasis(value: string): value is Basis {
  return value === 'wall' || value === 'cpu';
}

/** The BENCH_* variables (see bench/README.md); throws on a value it cannot use. */
export function readConfig(env: NodeJS.ProcessEnv): Config {
  const basis = env.BENCH_BASIS ?? 'wall';
  if (!isBasis(basis)) throw new Error('BENCH_BASIS must be wall or cpu');
  return {
    n: intEnv(env, 'BENCH_N', 25),
    nXfer: intEnv(env, 'BENCH_N_XFER', 7),
    sizeMib: intEnv(env, 'BENCH_SIZE_MIB', 1024),
    smallMib: intEnv(env, 'BENCH_SMALL_MIB', 64),
    parallel: intEnv(env, 'BENCH_PARALLEL', 32),
    nRtt: intEnv(env, 'BENCH_N_RTT', 11),
    rtts: rttsEnv(env),
    bun: env.BENCH_BUN === '' ? undefined : (env.BENCH_BUN ?? findCommand('bun')),
    basis,
    sections: new Set((env.BENCH_SECTIONS ?? ALL_SECTIONS).split(',').map((s) => s.trim())),
    jsonFile: env.BENCH_JSON === '' ? undefined : env.BENCH_JSON,
  };
}
