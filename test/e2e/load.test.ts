import { spawn } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LAB_HOSTS, type Lab } from '../../src/lab/lab.js';
import { proxyBelow } from '../support/spawned.js';
import { newSecret, protectedLab, sha256File } from './fixture.js';

/**
 * Load and integrity through the proxy in a namespace lab: a deploy's fan-out of ssh sessions
 * started at once, and 1 GiB each way with the same sha256 and a proxy whose memory stays flat.
 */

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** Deterministic pseudo-random bytes: the AES-128-CTR keystream of a fixed key, made chunk by chunk. */
function* pseudoRandomChunks(total: number, chunkSize: number): Generator<Buffer> {
  const cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, 0x5a), Buffer.alloc(16, 0));
  const zeros = Buffer.alloc(chunkSize);
  for (let sent = 0; sent < total; sent += chunkSize) {
    yield cipher.update(zeros.subarray(0, Math.min(chunkSize, total - sent)));
  }
}

/** VmRSS of a process in bytes; undefined once it is gone. */
function rssOf(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match === null ? undefined : Number(match[1]) * 1024;
  } catch {
    return undefined;
  }
}

interface MemoryReport {
  readonly samples: number;
  readonly peak: number;
  /** Highest RSS in the middle half and in the last quarter of the transfer. */
  readonly middleHalf: number;
  readonly lastQuarter: number;
}

/** Samples the proxy below `sshPid` every 200 ms from when it appears until `stop()`. */
function sampleProxyMemory(sshPid: number): { stop(): MemoryReport } {
  const samples: { at: number; rss: number }[] = [];
  let proxyPid: number | undefined;
  const timer = setInterval(() => {
    proxyPid ??= proxyBelow(sshPid)?.pid;
    if (proxyPid === undefined) return;
    const rss = rssOf(proxyPid);
    if (rss !== undefined) samples.push({ at: performance.now(), rss });
  }, 200);
  return {
    stop() {
      clearInterval(timer);
      const first = samples[0]?.at ?? 0;
      const last = samples.at(-1)?.at ?? 0;
      const quarter = (last - first) / 4;
      const highest = (list: { rss: number }[]): number => Math.max(0, ...list.map((sample) => sample.rss));
      return {
        samples: samples.length,
        peak: highest(samples),
        middleHalf: highest(samples.filter((sample) => sample.at >= first + quarter && sample.at <= last - quarter)),
        lastQuarter: highest(samples.filter((sample) => sample.at >= last - quarter)),
      };
    },
  };
}

/** Soft: a transfer's memory verdict does not stop the other direction from being checked. */
function expectFlat(direction: string, memory: MemoryReport): void {
  // Enough samples to speak of quarters.
  expect.soft(memory.samples, `${direction}: RSS samples`).toBeGreaterThanOrEqual(8);
  expect.soft(memory.peak, `${direction}: peak RSS under 100 MiB`).toBeLessThan(100 * MiB);
  // Node's heap warms up during the first seconds; after that, buffering the stream would add a
  // quarter of the transfer (256 MiB) between the middle and the end, and flat memory adds nothing.
  expect
    .soft(memory.lastQuarter, `${direction}: RSS in the last quarter at most 16 MiB above the middle half's`)
    .toBeLessThanOrEqual(memory.middleHalf + 16 * MiB);
}

const describeMemory = (memory: MemoryReport): string =>
  `proxy RSS peak ${(memory.peak / MiB).toFixed(1)} MiB, ` +
  `middle half ${(memory.middleHalf / MiB).toFixed(1)} MiB, ` +
  `last quarter ${(memory.lastQuarter / MiB).toFixed(1)} MiB (${memory.samples} samples)`;

describe('load and integrity through the proxy', () => {
  const secret = newSecret();
  let lab: Lab;
  const started = new Set<number>();

  beforeAll(async () => {
    lab = await protectedLab('bare', secret);
  });
  afterEach(() => {
    // A failed transfer must not leave ssh (and its proxy) running.
    for (const pid of started) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone.
      }
    }
    started.clear();
  });
  afterAll(() => lab?.destroy());

  /** ssh in the client namespace, its stdout hashed as it comes, stdin written by `feed`. */
  function sshStream(
    remoteCommand: string,
    feed: (stdin: NodeJS.WritableStream) => Promise<void>,
  ): {
    pid: number;
    done: Promise<{ code: number | null; stderr: string; stdoutSha256: string; stdoutBytes: number; ms: number }>;
  } {
    const begun = performance.now();
    const child = spawn(
      'ip',
      ['netns', 'exec', lab.client.netns, 'ssh', '-F', lab.sshConfig, LAB_HOSTS.knocked, remoteCommand],
      {
        env: lab.env,
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    if (child.pid !== undefined) started.add(child.pid);
    const hash = createHash('sha256');
    let stdoutBytes = 0;
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      stdoutBytes += chunk.length;
    });
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      stderr += text;
    });
    child.stdin.on('error', () => {});
    const feeding = feed(child.stdin).catch(() => undefined);
    const done = new Promise<{
      code: number | null;
      stderr: string;
      stdoutSha256: string;
      stdoutBytes: number;
      ms: number;
    }>((resolve, reject) => {
      child.on('error', reject);
      // Reaped at exit: from then on the pid may be anyone's.
      child.on('exit', () => started.delete(child.pid ?? 0));
      child.on('close', (code) => {
        void feeding.then(() =>
          resolve({ code, stderr, stdoutSha256: hash.digest('hex'), stdoutBytes, ms: performance.now() - begun }),
        );
      });
    });
    return { pid: child.pid ?? 0, done };
  }

  it('32 ssh sessions started at once (a deploy fan-out) all get in, each with its own output', async () => {
    lab.forgetKnocks();
    const begun = performance.now();
    const results = await Promise.all(
      Array.from({ length: 32 }, (_, n) => lab.ssh([LAB_HOSTS.knocked, `echo ${n}`], { timeoutMs: 120_000 })),
    );
    const ms = performance.now() - begun;
    results.forEach((result, n) => {
      expect({ n, code: result.code, stderr: result.stderr }).toEqual({ n, code: 0, stderr: '' });
      expect(result.stdout.toString()).toBe(`${n}\n`);
    });
    console.log(
      `fan-out: 32 sessions done in ${Math.round(ms)} ms ` +
        `(slowest ${Math.round(Math.max(...results.map((result) => result.ms)))} ms)`,
    );
  }, 180_000);

  it(
    "1 GiB up with ssh host 'cat > f' and back with ssh host 'cat f': " + "same sha256, the proxy's memory flat",
    async () => {
      const file = join(lab.dir, 'one-gib.bin');
      const sent = createHash('sha256');

      // Up: generated, hashed and written chunk by chunk, with backpressure; never all in memory.
      const up = sshStream(`cat > ${file}`, async (stdin) => {
        for (const chunk of pseudoRandomChunks(GiB, MiB)) {
          sent.update(chunk);
          if (!stdin.write(chunk)) {
            await new Promise<void>((resolve) => {
              const go = (): void => {
                stdin.removeListener('drain', go).removeListener('close', go).removeListener('error', go);
                resolve();
              };
              stdin.on('drain', go).on('close', go).on('error', go);
            });
          }
        }
        stdin.end();
      });
      const upMemory = sampleProxyMemory(up.pid);
      const upResult = await up.done;
      const upRss = upMemory.stop();
      expect(upResult.code, upResult.stderr).toBe(0);
      expect(upResult.stderr).toBe('');
      const sentSha256 = sent.digest('hex');
      expect(await sha256File(file)).toBe(sentSha256);
      console.log(
        `1 GiB up in ${(upResult.ms / 1000).toFixed(1)} s ` +
          `(${(GiB / MiB / (upResult.ms / 1000)).toFixed(0)} MiB/s), ${describeMemory(upRss)}`,
      );
      expectFlat('up', upRss);

      // Back: the file's bytes through ssh's stdout, hashed as they arrive.
      const down = sshStream(`cat ${file}`, (stdin) => {
        stdin.end();
        return Promise.resolve();
      });
      const downMemory = sampleProxyMemory(down.pid);
      const downResult = await down.done;
      const downRss = downMemory.stop();

      console.log(
        `1 GiB down in ${(downResult.ms / 1000).toFixed(1)} s ` +
          `(${(GiB / MiB / (downResult.ms / 1000)).toFixed(0)} MiB/s), ${describeMemory(downRss)}`,
      );
      expect(downResult.code, downResult.stderr).toBe(0);
      expect(downResult.stderr).toBe('');
      expect(downResult.stdoutBytes).toBe(GiB);
      expect(downResult.stdoutSha256).toBe(sentSha256);
      expectFlat('down', downRss);
    },
    300_000,
  );
});
