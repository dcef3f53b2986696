// The table's rows: each checked row against its target, with the information rows under it.
import {
  CONNECT_NODE_FACTOR,
  FLAT_SLACK_MIB,
  KNOCK_SLACK_MS,
  RSS_LIMIT_MIB,
  START_LIMIT,
  THROUGHPUT_LIMIT,
  type Config,
} from '../config.js';
import type { RollingRulesetReport } from '../rolling-ruleset.js';
import type { ConnectResult } from '../sections/connect.js';
import type { KnockResult } from '../sections/knock.js';
import type { ParallelResult } from '../sections/parallel.js';
import type { RttResult } from '../sections/rtt.js';
import type { StartResult } from '../sections/start.js';
import type { TransferResult, TransferVariant } from '../sections/transfer.js';
import { median, type Samples } from '../stats.js';
import { budgetRows, rollingRows } from './budget-rows.js';
import { checkedOn, fmtMs, fmtRate, info, signed, signedMs, verdict, type Checked, type Row } from './format.js';
import { rttRows } from './rtt-rows.js';

/** What the sections measured; a section left out of BENCH_SECTIONS is missing. */
export interface Results {
  start?: StartResult;
  connect?: ConnectResult;
  knock?: KnockResult;
  xfer?: TransferResult;
  parallel?: ParallelResult;
  rtt?: RttResult;
  rolling?: RollingRulesetReport;
}

function startRows(s: StartResult, on: Checked): Row[] {
  const { pk, node } = s;
  const ratio = on.pick(pk) / on.pick(node);
  const gap = (on.pick(pk) - START_LIMIT * on.pick(node)).toFixed(1);
  const overMinimal = signed(on.pick(pk) - on.pick(s.minimal));
  const mib = (values: readonly number[]): string => (median(values) / 1024).toFixed(1);
  const over = (x: Samples, base = node, what = 'node -e 0'): string =>
    `${signed(x.median - base.median)} ms wall, ${signed(x.cpuMedian - base.cpuMedian)} ms CPU over ${what}`;
  return [
    {
      row: `2. own start: pingknock proxy to 127.0.0.1${on.suffix}`,
      value: on.show(pk),
      baseline: `node -e 0: ${on.show(node)}`,
      // Retired: spawning ping alone costs more than this allows (RESULTS.md); rows 6 replace it.
      limit: `${ratio.toFixed(2)}x (retired: <= ${START_LIMIT}x, gap ${gap} ms)`,
      result: pk.failures.length + node.failures.length > 0 ? verdict(false, [pk, node]) : 'info',
    },
    info(
      '   CPU time (user+sys, ping included)',
      `${pk.cpuMedian.toFixed(1)} ms`,
      `node -e 0: ${node.cpuMedian.toFixed(1)} ms`,
      `${(pk.cpuMedian / node.cpuMedian).toFixed(2)}x; peak RSS ${mib(pk.rssKib)} vs ${mib(node.rssKib)} MiB`,
    ),
    info(
      '   floor: minimal Node proxy, same knock',
      fmtMs(s.minimal),
      '',
      `${(on.pick(s.minimal) / on.pick(node)).toFixed(2)}x node -e 0; pingknock ${overMinimal} ms over it`,
    ),
    info(
      '   floor, knock only: spawn ping, wait for it',
      fmtMs(s.knockOnly),
      '',
      `${(on.pick(s.knockOnly) / on.pick(node)).toFixed(2)}x node -e 0: what any Node proxy pays before connecting`,
    ),
    info('   proxy load+parse only (port 0, exit 2)', fmtMs(s.parse), '', over(s.parse)),
    info('   ping -V (cost of one trivial spawn)', fmtMs(s.pingV)),
    info('   ping -c1 -p HEX 127.0.0.1 (the knock)', fmtMs(s.ping)),
    info("   node --input-type=module -e ''", fmtMs(s.esm), '', over(s.esm)),
    info("   import 'yargs'", fmtMs(s.yargs), '', over(s.yargs, s.esm, "ESM -e ''")),
    info('   pingknock --version (whole CLI)', fmtMs(s.cliVersion), '', over(s.cliVersion)),
  ];
}

/** `node`: row 2's `node -e 0`, which the target of row 1 is made of (NaN for its figures without it). */
function connectRows(c: ConnectResult, node: Samples | undefined, on: Checked): Row[] {
  const { pk, recipe, direct, minimal } = c;
  const nodeMs = node === undefined ? Number.NaN : on.pick(node);
  const limitMs = on.pick(recipe) + CONNECT_NODE_FACTOR * nodeMs;
  const cpuLimit = recipe.cpuMedian + CONNECT_NODE_FACTOR * (node?.cpuMedian ?? Number.NaN);
  const gap = (on.pick(pk) - limitMs).toFixed(1);
  const overRecipe = ((on.pick(minimal) - on.pick(recipe)) / nodeMs).toFixed(2);
  return [
    {
      row: `1. connect: ssh knocked true via pingknock${on.suffix}`,
      value: on.show(pk),
      baseline: `shell recipe: ${on.show(recipe)}`,
      limit: `<= ${limitMs.toFixed(1)} ms = recipe + ${CONNECT_NODE_FACTOR}x node -e 0 (gap ${gap} ms)`,
      result: verdict(on.pick(pk) <= limitMs, [pk, recipe]),
    },
    info(
      '   direct ssh, port open (no proxy)',
      fmtMs(direct),
      '',
      `pingknock ${signedMs(pk.median - direct.median)}, recipe ${signedMs(recipe.median - direct.median)}`,
    ),
    info(
      '   floor: ssh via a minimal Node proxy',
      fmtMs(minimal),
      '',
      `recipe + ${overRecipe}x node -e 0; pingknock ${signedMs(on.pick(pk) - on.pick(minimal))} over it`,
    ),
    info(
      '   CPU time of ssh + proxy (whole tree)',
      `${pk.cpuMedian.toFixed(1)} ms`,
      `recipe ${recipe.cpuMedian.toFixed(1)}, direct ${direct.cpuMedian.toFixed(1)} ms`,
      `recipe + 1.1x node CPU = ${cpuLimit.toFixed(1)} ms (gap ${(pk.cpuMedian - cpuLimit).toFixed(1)})`,
    ),
  ];
}

function knockRows(k: KnockResult): Row[] {
  const { pk, recipe, direct } = k;
  const limitMs = recipe.total.median + KNOCK_SLACK_MS;
  return [
    {
      row: '3. knock: echo request -> first SYN (wire)',
      value: fmtMs(pk.total),
      baseline: `shell recipe: ${fmtMs(recipe.total)}`,
      limit: `<= recipe + ${KNOCK_SLACK_MS} ms = ${limitMs.toFixed(2)} ms; resends ${pk.resends}`,
      result: verdict(pk.total.median <= limitMs, [pk.total, recipe.total]),
    },
    info('   request -> reply (round trip)', fmtMs(pk.rtt), `recipe: ${fmtMs(recipe.rtt)}`),
    info('   reply -> SYN (reaction)', fmtMs(pk.react), `recipe: ${fmtMs(recipe.react)}`),
    // Row 1 split at the wire: before the knock (start-up), before the SYN, after the SYN (session).
    info(
      '   connect: ssh started -> echo request',
      fmtMs(pk.toReq),
      `recipe: ${fmtMs(recipe.toReq)}`,
      signedMs(pk.toReq.median - recipe.toReq.median),
    ),
    info(
      '   connect: ssh started -> first SYN',
      fmtMs(pk.toSyn),
      `recipe: ${fmtMs(recipe.toSyn)}; direct: ${direct.toSyn.median.toFixed(1)} ms`,
      signedMs(pk.toSyn.median - recipe.toSyn.median),
    ),
    info(
      '   connect: first SYN -> ssh exited',
      fmtMs(pk.synToExit),
      `recipe: ${fmtMs(recipe.synToExit)}; direct: ${direct.synToExit.median.toFixed(1)} ms`,
      signedMs(pk.synToExit.median - recipe.synToExit.median),
    ),
  ];
}

function throughputRows(pk: TransferVariant, nc: TransferVariant, name: string, sizeMib: number): Row[] {
  const ratio = pk.net.median / nc.net.median;
  // The relay's CPU during the data phase: minus what it used in the empty-file runs (its start).
  const perGib = (v: TransferVariant): number => ((median(v.wall.cpu) - median(v.emptyWall.cpu)) / sizeMib) * 1024;
  const setUp = `set-up ${pk.emptyWall.median.toFixed(0)} vs ${nc.emptyWall.median.toFixed(0)} ms`;
  return [
    {
      row: `4. throughput: ${name} ${sizeMib} MiB via pingknock`,
      value: fmtRate(pk.net),
      baseline: `nc: ${fmtRate(nc.net)}`,
      // Cut, not rounded, so 0.9696 never shows as a failing "0.970x".
      limit: `${(Math.floor(ratio * 1000) / 1000).toFixed(3)}x >= ${THROUGHPUT_LIMIT}x`,
      result: verdict(ratio >= THROUGHPUT_LIMIT, [pk.net, nc.net]),
    },
    info(
      `   whole command incl. set-up`,
      fmtRate(pk.raw),
      `nc: ${fmtRate(nc.raw)}`,
      `${(pk.raw.median / nc.raw.median).toFixed(3)}x; ${setUp}`,
    ),
    info(
      `   relay CPU per GiB (sampled /proc)`,
      `${perGib(pk).toFixed(0)} ms`,
      `nc: ${perGib(nc).toFixed(0)} ms`,
      `${(perGib(pk) / perGib(nc)).toFixed(2)}x`,
    ),
  ];
}

function transferRows(x: TransferResult, { sizeMib, smallMib }: Config): Row[] {
  const bigHwm = Math.max(...x.scpPk.hwm, ...x.rsyncPk.hwm);
  const ncHwm = Math.max(...x.scpNc.hwm, ...x.rsyncNc.hwm);
  const smallHwm = Math.max(...x.small.hwm);
  return [
    ...throughputRows(x.scpPk, x.scpNc, 'scp', sizeMib),
    ...throughputRows(x.rsyncPk, x.rsyncNc, 'rsync', sizeMib),
    {
      row: `5. peak RSS of the proxy, ${sizeMib} MiB scp+rsync`,
      value: `${bigHwm.toFixed(1)} MiB`,
      baseline: `nc ${ncHwm.toFixed(1)} MiB; idle node ${x.idleNodeMib.toFixed(1)} MiB`,
      limit: `<= ${RSS_LIMIT_MIB} MiB`,
      result: verdict(bigHwm <= RSS_LIMIT_MIB && bigHwm > 0, [x.scpPk.wall, x.rsyncPk.wall]),
    },
    {
      row: `5. peak RSS flat: ${sizeMib} MiB vs ${smallMib} MiB scp`,
      value: `${bigHwm.toFixed(1)} MiB`,
      baseline: `${smallMib} MiB: ${smallHwm.toFixed(1)} MiB`,
      limit: `<= small + ${FLAT_SLACK_MIB} MiB (+${(bigHwm - smallHwm).toFixed(1)} MiB)`,
      result: verdict(bigHwm <= smallHwm + FLAT_SLACK_MIB && smallHwm > 0, [x.small.s]),
    },
  ];
}

function parallelRow(p: ParallelResult, { parallel }: Config): Row {
  const ok = p.maxHwmMib <= RSS_LIMIT_MIB && p.relays > 0;
  return {
    row: `5. peak RSS, ${parallel} parallel sessions (max proxy)`,
    value: `${p.maxHwmMib.toFixed(1)} MiB`,
    baseline: `${p.relays} proxies seen, sum ${p.concurrentRssMib.toFixed(0)} MiB at once`,
    limit: `<= ${RSS_LIMIT_MIB} MiB`,
    result: p.failed > 0 ? `FAIL (${p.failed} sessions failed)` : ok ? 'PASS' : 'FAIL',
  };
}

export function rows(results: Results, config: Config): Row[] {
  const on = checkedOn(config.basis);
  return [
    ...(results.start ? startRows(results.start, on) : []),
    ...(results.start ? budgetRows(results.start, results.rtt) : []),
    ...(results.connect ? connectRows(results.connect, results.start?.node, on) : []),
    ...(results.knock ? knockRows(results.knock) : []),
    ...(results.xfer ? transferRows(results.xfer, config) : []),
    ...(results.parallel ? [parallelRow(results.parallel, config)] : []),
    ...(results.rtt ? rttRows(results.rtt, config.sizeMib) : []),
    ...(results.rolling ? rollingRows(results.rolling) : []),
  ];
}
