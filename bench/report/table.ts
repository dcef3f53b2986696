// The printed report: a heading on the machine and the build, the table, the runs that failed.
import { writeFileSync } from 'node:fs';
import type { Config } from '../config.js';
import { distFingerprint, loadAverage, type Machine } from '../machine.js';
import { Samples } from '../stats.js';
import type { Row } from './format.js';
import type { Results } from './rows.js';

export interface RunInfo extends Machine {
  /** distFingerprint() at the start. */
  readonly dist: string;
  /** src/ was newer than dist/ at the start. */
  readonly stale: boolean;
  /** A variable the bench removed from every run's environment. */
  readonly unset?: string;
}

function heading(info: RunInfo, config: Config): string[] {
  const distNow = distFingerprint();
  const changed =
    distNow === info.dist ? '' : `  WARNING: dist/ changed during the run (now ${distNow}): the rows mix two builds`;
  const stale = info.stale ? '  WARNING: src/ is newer than dist/: run npm run build' : '';
  const { n, nXfer, sizeMib, smallMib, parallel, basis, nRtt, rtts } = config;
  const sizes = `${sizeMib} MiB / ${smallMib} MiB`;
  return [
    `pingknock bench  ${info.date}`,
    `machine: ${info.nproc} CPUs, ${info.model}, Linux ${info.kernel}, node ${info.node}, ${info.ssh}`,
    `load average at start: ${info.loadavg}; at end: ${loadAverage()}`,
    ...(info.unset ? [`environment: ${info.unset} unset for every run (Node would parse it at each start)`] : []),
    `dist ${info.dist}${stale}${changed}`,
    `N=${n}, N_XFER=${nXfer}, ${sizes}, ${parallel} parallel, N_RTT=${nRtt} at RTT ${rtts.join('/')} ms, ` +
      `rows 1-2 checked on ${basis} time`,
  ];
}

export function printTable(rows: readonly Row[], info: RunInfo, config: Config): void {
  const head = ['row', 'value (median)', 'baseline (same run)', 'ratio / limit', 'result'];
  const body = rows.map((r) => [r.row, r.value, r.baseline, r.limit, r.result]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]?.length ?? 0)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ');
  const out = [
    ...heading(info, config),
    '',
    line(head),
    widths.map((w) => '-'.repeat(w)).join('-|-'),
    ...body.map(line),
  ];
  process.stdout.write(`${out.join('\n')}\n`);
}

/** Every variant whose runs can fail, in the order of the table. */
function allSamples(results: Results): Samples[] {
  const { start, connect, knock, xfer, rtt } = results;
  const values = (section: object | string | undefined): unknown[] =>
    typeof section === 'object' ? Object.values(section) : [];
  const session = rtt?.session;
  return [
    ...values(start),
    ...values(start?.bun),
    ...values(connect),
    ...(knock ? [knock.pk.total, knock.recipe.total, knock.direct.total] : []),
    ...(xfer ? [xfer.scpPk, xfer.scpNc, xfer.rsyncPk, xfer.rsyncNc].flatMap((v) => [v.wall, v.emptyWall]) : []),
    ...(xfer ? [xfer.small.s] : []),
    ...values(rtt?.start),
    ...(rtt?.connects ?? []).flatMap(values),
    ...(session ? [session.fdpass, session.direct].flatMap((v) => [v.wall, v.emptyWall]) : []),
  ].filter((s): s is Samples => s instanceof Samples);
}

/** The first few errors of each variant that had failed runs, and of the parallel sessions. */
export function printFailures(results: Results): void {
  for (const s of allSamples(results).filter((s) => s.failures.length > 0))
    process.stdout.write(`\nfailed runs of "${s.name}":\n  ${s.failures.slice(0, 3).join('\n  ')}\n`);
  if (results.parallel?.firstError) process.stdout.write(`\nparallel session error: ${results.parallel.firstError}\n`);
  for (const error of results.rtt?.session?.errors ?? [])
    process.stdout.write(`\nfd-passing session error: ${error}\n`);
}

/** BENCH_JSON: every sample (Samples write their own fields) and the table. */
export function writeJson(file: string, info: RunInfo, rows: readonly Row[], results: Results): void {
  writeFileSync(file, `${JSON.stringify({ info, rows, results }, null, 2)}\n`);
}
