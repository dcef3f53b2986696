// What one-time knocks cost the server: the time `nft -f` takes to load the ruleset of one rolling
// key, and the kernel memory the loaded table holds, for each horizon, next to the same table with
// one static key. Needs root: it makes a network namespace, and removes it.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { slotAt, SLOTS_PER_DAY } from '../src/core/rolling.js';
import { buildRuleModel, rollingKey, staticKey, type RuleKey } from '../src/core/rules/model.js';
import { renderNftables, SKEW_SLOTS } from '../src/core/rules/nftables.js';
import { secretFromRandomBytes, SECRET_RANDOM_BYTES } from '../src/core/secret.js';
import { checked, sleep, timedSync } from './measure.js';
import { MIB } from './config.js';

export interface RulesetFigures {
  /** 0 for the static key alone. */
  readonly days: number;
  /** Entries of the day sets: each slot's pattern in three slots. */
  readonly elements: number;
  readonly fileMiB: number;
  /** Wall time of `nft -f`: the whole transaction, parsing to commit. */
  readonly loadSeconds: number;
  /** nft's own peak resident memory while it loads. */
  readonly nftPeakMiB: number;
  /** The unreclaimable kernel memory the loaded table holds: what deleting it frees. */
  readonly kernelMiB: number;
}

export interface RollingRulesetReport {
  readonly staticKey: RulesetFigures;
  readonly rolling: readonly RulesetFigures[];
}

/**
 * Measures the static table, then one rolling key for each of `horizons` days from today; each
 * figure is the median of `repeats` loads.
 */
export async function measureRollingRuleset(
  horizons: readonly number[] = [30, 365],
  repeats = 3,
): Promise<RollingRulesetReport> {
  const secret = secretFromRandomBytes(randomBytes(SECRET_RANDOM_BYTES));
  const today = slotAt(Date.now() / 1000).day;
  const netns = `pk-bench-rolling-${process.pid}`;
  const dir = mkdtempSync(join(tmpdir(), 'pingknock-bench-rolling-'));
  checked('ip', ['netns', 'add', netns]);
  try {
    const measure = async (days: number, key: RuleKey): Promise<RulesetFigures> => {
      const ruleset = renderNftables(buildRuleModel({ keys: [key], port: 22, windowSeconds: 60 }));
      const file = join(dir, `${days}.nft`);
      writeFileSync(file, ruleset);
      const figures = await loadMeasured(netns, file, repeats);
      const elements = days === 0 ? 0 : days * (2 * SKEW_SLOTS + 1) * SLOTS_PER_DAY - 2 * SKEW_SLOTS;
      return { days, elements, fileMiB: Buffer.byteLength(ruleset) / MIB, ...figures };
    };
    const staticFigures = await measure(0, staticKey('bench', secret));
    const rolling: RulesetFigures[] = [];
    for (const days of horizons) rolling.push(await measure(days, rollingKey('bench', secret, today, days)));
    return { staticKey: staticFigures, rolling };
  } finally {
    checked('ip', ['netns', 'delete', netns]);
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Loads `file` in `netns` and takes the table away again, `repeats` times; the medians. Kernel
 * memory is what the machine's unreclaimable kernel memory shrinks by when the loaded table is
 * deleted: nftables objects are unreclaimable slab, vmalloc and per-CPU memory, and much of it (the
 * sets' hash tables) is charged to no memory cgroup, so a cgroup would undercount it. Read around
 * the delete, a second apart, rather than around the load (seconds for a year), so that other
 * activity on the machine has little time to add its noise.
 */
async function loadMeasured(
  netns: string,
  file: string,
  repeats: number,
): Promise<Pick<RulesetFigures, 'loadSeconds' | 'nftPeakMiB' | 'kernelMiB'>> {
  const seconds: number[] = [];
  const peaks: number[] = [];
  const kernel: number[] = [];
  for (let index = 0; index < repeats; index += 1) {
    const run = timedSync('ip', ['netns', 'exec', netns, 'nft', '-f', file]);
    // nftables frees what a transaction no longer needs after an RCU grace period.
    await sleep(SETTLE_MS);
    const loaded = kernelKib();
    checked('ip', ['netns', 'exec', netns, 'nft', 'delete', 'table', 'inet', 'pingknock']);
    await sleep(SETTLE_MS);
    kernel.push((loaded - kernelKib()) / 1024);
    seconds.push(run.wall / 1000);
    peaks.push(run.rssKib / 1024);
  }
  return { loadSeconds: median(seconds), nftPeakMiB: median(peaks), kernelMiB: median(kernel) };
}

const SETTLE_MS = 1000;

/** Unreclaimable kernel memory now, KiB: what a loaded nftables table holds. */
function kernelKib(): number {
  const meminfo = readFileSync('/proc/meminfo', 'utf8');
  return ['SUnreclaim', 'VmallocUsed', 'Percpu']
    .map((field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(meminfo)?.[1] ?? Number.NaN))
    .reduce((sum, kib) => sum + kib, 0);
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? Number.NaN)
    : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}
