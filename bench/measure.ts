// Running the programs the bench measures: timed from outside by bench/timed.py, or sampled while they run.
import { spawn, spawnSync, type SpawnOptions } from 'node:child_process';
import { TIMED } from './config.js';
import { memorySampler, type Memory } from './sampler.js';
import type { Samples } from './stats.js';

export function log(text: string): void {
  process.stderr.write(`bench: ${text}\n`);
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
/** Lets the event loop run between synchronous runs, so a SIGINT/SIGTERM handler gets its turn. */
export const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Runs a program to its end; its stdout, or an error saying how it failed. */
export function checked(file: string, args: readonly string[]): string {
  const result = spawnSync(file, args, { encoding: 'utf8' });
  if (result.error) throw new Error(`${file} could not run: ${result.error.message}`);
  if (result.status !== 0)
    throw new Error(`${file} ${args.join(' ')} failed (${result.status}): ${result.stderr.trim()}`);
  return result.stdout;
}

export interface TimedOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** The exit status that counts as success. */
  readonly status?: number;
  /** stdin and stdout are pipes, as ssh gives its ProxyCommand, not /dev/null. */
  readonly pipes?: boolean;
  /**
   * stdin and stdout are a UNIX socket on which the program must pass a descriptor, as ssh gives
   * its ProxyCommand with ProxyUseFdpass yes; a run that passes none fails.
   */
  readonly fdpass?: boolean;
}

export interface TimedRun {
  readonly wall: number;
  readonly cpu: number;
  readonly rssKib: number;
  /** When it started and ended on the wall clock, as the packet sniffer's kernel timestamps are. */
  readonly fromNs: bigint;
  readonly toNs: bigint;
}

/**
 * Runs a program to its end with nothing else going on in this process, through bench/timed.py:
 * wall ms (fork to exit), CPU ms and peak RSS of its whole process tree. Throws on an unexpected status.
 */
export function timedSync(file: string, args: readonly string[], options: TimedOptions = {}): TimedRun {
  const { status = 0, pipes = false, fdpass = false, ...spawnOptions } = options;
  const mode = fdpass ? ['--fdpass'] : pipes ? ['--pipes'] : [];
  const result = spawnSync('/usr/bin/python3', ['-S', '-E', TIMED, ...mode, file, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
    ...spawnOptions,
  });
  if (result.error) throw new Error(`timed.py could not run: ${result.error.message}`);
  const fields = result.stdout.trim().split(' ');
  const [code, wall = Number.NaN, cpu = Number.NaN, rssKib = Number.NaN] = fields.slice(0, 4).map(Number);
  if (result.status !== 0 || code !== status) {
    throw new Error(`${[file, ...args].join(' ')} exited ${code}: ${result.stderr.trim().slice(0, 400)}`);
  }
  if (fdpass && fields[6] !== 'fd') {
    throw new Error(`${[file, ...args].join(' ')} passed no descriptor: ${result.stderr.trim().slice(0, 400)}`);
  }
  return { wall, cpu, rssKib, fromNs: nanoseconds(fields[4]), toNs: nanoseconds(fields[5]) };
}

function nanoseconds(field: string | undefined): bigint {
  if (field === undefined) throw new Error('timed.py printed no timestamps');
  return BigInt(field);
}

/** Times one run into `samples`; returns the run's measures, or undefined when it failed. */
export function timeInto(
  samples: Samples,
  file: string,
  args: readonly string[],
  options: TimedOptions,
): TimedRun | undefined {
  try {
    const run = timedSync(file, args, options);
    samples.add(run.wall, { cpu: run.cpu, rssKib: run.rssKib });
    return run;
  } catch (error) {
    samples.fail((error as Error).message);
    return undefined;
  }
}

export interface SampledRun {
  readonly ms: number;
  readonly memory: Memory;
  /** Why it failed, when it did. */
  readonly error: string | undefined;
}

/** Runs a program asynchronously (so the sampler runs), returning wall ms and the relays' peaks. */
export function timedAsync(file: string, args: readonly string[], options: SpawnOptions = {}): Promise<SampledRun> {
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(file, args, { ...options, stdio: ['ignore', 'ignore', 'pipe'] });
    const sampler = memorySampler(() => (child.pid === undefined ? [] : [child.pid]));
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (text: string) => {
      stderr += text;
    });
    child.on('error', (error) => {
      resolve({ ms: Number.NaN, memory: sampler.stop(), error: `${file} could not run: ${error.message}` });
    });
    child.on('close', (code, signal) => {
      const ms = performance.now() - started;
      const memory = sampler.stop();
      const error =
        code === 0
          ? undefined
          : `${[file, ...args].join(' ')} exited ${code ?? signal}: ${stderr.trim().slice(0, 400)}`;
      resolve({ ms, memory, error });
    });
  });
}
