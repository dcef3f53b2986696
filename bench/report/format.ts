// How figures read in the table.
import type { Basis } from '../config.js';
import type { Samples } from '../stats.js';

export interface Row {
  readonly row: string;
  readonly value: string;
  readonly baseline: string;
  readonly limit: string;
  readonly result: string;
}

/** A row that is information only: it neither passes nor fails. */
export const info = (row: string, value: string, baseline = '', limit = ''): Row => ({
  row,
  value,
  baseline,
  limit,
  result: 'info',
});

export const signed = (ms: number): string => `${ms >= 0 ? '+' : ''}${ms.toFixed(1)}`;
export const signedMs = (ms: number): string => `${signed(ms)} ms`;
export const fmtMs = (s: Samples): string => `${s.median.toFixed(1)} ms (p90 ${s.p90.toFixed(1)})`;
export const fmtRate = (s: Samples): string => `${s.median.toFixed(0)} MB/s (min ${Math.min(...s.values).toFixed(0)})`;

/** The measure rows 1 and 2 are checked on, wall time (default) or CPU time (BENCH_BASIS=cpu), and how it reads. */
export interface Checked {
  pick(s: Samples): number;
  show(s: Samples): string;
  /** Appended to a checked row's name. */
  readonly suffix: string;
}

export function checkedOn(basis: Basis): Checked {
  return basis === 'cpu'
    ? {
        pick: (s) => s.cpuMedian,
        show: (s) => `${s.cpuMedian.toFixed(1)} ms CPU (wall ${s.median.toFixed(1)})`,
        suffix: ' (CPU)',
      }
    : { pick: (s) => s.median, show: fmtMs, suffix: '' };
}

/** PASS or FAIL, and FAIL whenever a run of the row failed, whatever its figures. */
export function verdict(ok: boolean, samples: readonly Samples[]): string {
  const failures = samples.flatMap((s) => s.failures);
  if (failures.length > 0) return `FAIL (${failures.length} runs failed)`;
  return ok ? 'PASS' : 'FAIL';
}
