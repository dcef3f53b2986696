// Row 5b: many `ssh knocked` sessions at once: the largest proxy's peak RSS.
import { spawn, type ChildProcess } from 'node:child_process';
import { log } from '../measure.js';
import { memorySampler } from '../sampler.js';
import { onClient, type Context } from './context.js';

export interface ParallelResult {
  readonly wallMs: number;
  /** pingknock proxies the sampler saw. */
  readonly relays: number;
  readonly maxHwmMib: number;
  readonly concurrentRssMib: number;
  /** Sessions that did not exit 0. */
  readonly failed: number;
  readonly firstError: string | undefined;
}

interface Session {
  readonly code: number | null;
  readonly stderr: string;
}

/** 5b. BENCH_PARALLEL `ssh knocked` sessions at once: the largest proxy's peak RSS. */
export async function benchParallel(ctx: Context): Promise<ParallelResult> {
  const { lab, config } = ctx;
  log(`parallel: ${config.parallel} sessions of ssh knocked 'sleep 1' at once`);
  lab.forgetKnocks();
  const started = performance.now();
  const children: ChildProcess[] = [];
  const sampler = memorySampler(() => children.flatMap((c) => (c.pid === undefined ? [] : [c.pid])), 50);
  const sessions = await Promise.all(
    Array.from(
      { length: config.parallel },
      () =>
        new Promise<Session>((resolve) => {
          const child = spawn('ip', onClient(lab, ['ssh', '-F', lab.sshConfig, 'knocked', 'sleep 1']), {
            env: lab.env,
            stdio: ['ignore', 'ignore', 'pipe'],
          });
          children.push(child);
          let stderr = '';
          child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
          child.on('close', (code) => resolve({ code, stderr }));
          child.on('error', (error) => resolve({ code: -1, stderr: error.message }));
        }),
    ),
  );
  const memory = sampler.stop();
  const failed = sessions.filter((s) => s.code !== 0);
  return {
    wallMs: performance.now() - started,
    relays: memory.relays.filter((r) => r.kind === 'pingknock').length,
    maxHwmMib: memory.maxHwmMib,
    concurrentRssMib: memory.concurrentRssMib,
    failed: failed.length,
    firstError: failed[0]?.stderr.trim(),
  };
}
