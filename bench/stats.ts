// Medians and percentiles of repeated runs, and the samples of one variant.

/** Nearest rank; NaN for no values. The median of an even count is the mean of the middle two. */
export function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  if (q === 0.5) {
    const mid = sorted.length / 2;
    return Number.isInteger(mid) ? (at(sorted, mid - 1) + at(sorted, mid)) / 2 : at(sorted, Math.floor(mid));
  }
  return at(sorted, Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1));
}

function at(sorted: readonly number[], index: number): number {
  return sorted[index] ?? Number.NaN;
}

export const median = (values: readonly number[]): number => quantile(values, 0.5);
export const p90 = (values: readonly number[]): number => quantile(values, 0.9);

/**
 * One variant's samples and the failed runs (their stderr), kept apart so a failure is visible.
 * Its own fields are what BENCH_JSON writes of it.
 */
export class Samples {
  readonly name: string;
  /** The measure: wall ms, MB/s, ... */
  readonly values: number[];
  /** CPU ms of the whole process tree, where measured. */
  readonly cpu: number[];
  /** Largest peak RSS in the tree, where measured. */
  readonly rssKib: number[];
  readonly failures: string[];

  constructor(name: string) {
    // Assigned here in this order, which is the order of BENCH_JSON's keys.
    this.name = name;
    this.values = [];
    this.cpu = [];
    this.rssKib = [];
    this.failures = [];
  }

  add(value: number, extra: { readonly cpu?: number; readonly rssKib?: number } = {}): void {
    this.values.push(value);
    if (extra.cpu !== undefined) this.cpu.push(extra.cpu);
    if (extra.rssKib !== undefined) this.rssKib.push(extra.rssKib);
  }

  fail(message: string): void {
    this.failures.push(message);
  }

  get median(): number {
    return median(this.values);
  }

  get p90(): number {
    return p90(this.values);
  }

  get cpuMedian(): number {
    return median(this.cpu);
  }
}
