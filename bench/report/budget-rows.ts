// Where the proxy's start goes, from the start section's variants (and, with the rtt section, what
// the knock's round trip adds on a link); the single-executable candidate; the rolling ruleset.
import type { RollingRulesetReport, RulesetFigures } from '../rolling-ruleset.js';
import type { RttResult } from '../sections/rtt.js';
import type { StartResult } from '../sections/start.js';
import type { Samples } from '../stats.js';
import { fmtMs, info, signedMs, type Row } from './format.js';

const share = (ms: number, total: number): string => `${((ms / total) * 100).toFixed(0)} % of the proxy's start`;

/**
 * The proxy's start (row 2's `pingknock proxy` to 127.0.0.1) cut into what its variants tell
 * apart, by differences of medians: Node's bootstrap; the launcher, the bundle and the argument
 * parse; spawning the knock's ping and waiting for it (the minimal Node proxy's knock-only run,
 * which also reads the secret); the rest (pingknock's checks, connect, two EOFs, exit).
 */
export function budgetRows(s: StartResult, rtt: RttResult | undefined): Row[] {
  // Wall time, and CPU time beside it: on a busy machine the steadier of the two.
  const part = (label: string, wall: number, cpu: number, how: string): Row =>
    info(label, `${wall.toFixed(1)} ms`, `CPU ${cpu.toFixed(1)} ms; ${how}`, share(wall, s.pk.median));
  const minus = (a: Samples, b: Samples): [number, number] => [a.median - b.median, a.cpuMedian - b.cpuMedian];
  const load = minus(s.parse, s.node);
  const knock = minus(s.knockOnly, s.node);
  const rest: [number, number] = [
    s.pk.median - s.parse.median - knock[0],
    s.pk.cpuMedian - s.parse.cpuMedian - knock[1],
  ];
  const rows: Row[] = [
    part('2b. where the start goes: Node bootstrap', s.node.median, s.node.cpuMedian, 'node -e 0'),
    part('    launcher, proxy bundle load, parse', ...load, 'port 0 run - node -e 0'),
    part('    knock: spawn ping, wait for its reply', ...knock, 'minimal knock-only - node -e 0'),
    part('    the rest: checks, connect, EOFs, exit', ...rest, 'by difference'),
    info('    of the knock, ping alone (exec to exit)', fmtMs(s.ping), `CPU ${s.ping.cpuMedian.toFixed(1)} ms`),
  ];
  if (rtt !== undefined) {
    // What the knock's round trip adds on a link: a connect through the relay over direct ssh's,
    // beyond the proxy's own start on loopback. About one round trip while the proxy waits for the
    // echo reply before its first SYN; about none once the SYN follows the request at once.
    const waits = rtt.connects.map(
      (at) => `RTT ${at.rttMs}: ${signedMs(at.relay.median - at.direct.median - rtt.start.relay.median)}`,
    );
    rows.push(info('    on a link: relay - direct - own start', waits.join(', '), '', "the knock's wait, per RTT"));
  }
  rows.push(...bunRows(s));
  return rows;
}

function bunRows(s: StartResult): Row[] {
  const label = '2c. candidate: bun --compile --bytecode';
  if (typeof s.bun === 'string') return [info(label, s.bun)];
  const { bun } = s;
  const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}x`;
  return [
    info(
      `${label} (bun ${bun.version}, ${bun.mib.toFixed(0)} MiB)`,
      fmtMs(bun.pk),
      `node launcher: ${fmtMs(s.pk)}`,
      `${ratio(bun.pk.median, s.pk.median)} wall, ${ratio(bun.pk.cpuMedian, s.pk.cpuMedian)} CPU`,
    ),
    info(
      '    bun executable of an empty script',
      fmtMs(bun.boot),
      `node -e 0: ${fmtMs(s.node)}`,
      `${ratio(bun.boot.median, s.node.median)} wall, ${ratio(bun.boot.cpuMedian, s.node.cpuMedian)} CPU`,
    ),
    info(
      '    bun executable: load+parse only',
      fmtMs(bun.parse),
      `node launcher: ${fmtMs(s.parse)}`,
      `over its empty script ${signedMs(bun.parse.median - bun.boot.median)}`,
    ),
    info(
      '    ssh knocked through it (relay)',
      bun.loginError === undefined ? 'logged in' : `FAILED: ${bun.loginError}`,
    ),
  ];
}

function rulesetRow(label: string, f: RulesetFigures): Row {
  return info(
    label,
    `load ${f.loadSeconds.toFixed(2)} s`,
    `${f.elements} elements, file ${f.fileMiB.toFixed(1)} MiB`,
    `kernel +${f.kernelMiB.toFixed(1)} MiB; nft peak RSS ${f.nftPeakMiB.toFixed(0)} MiB`,
  );
}

/** 8. What one-time knocks cost the server: nft's load time and the kernel memory of the table. */
export function rollingRows(r: RollingRulesetReport): Row[] {
  return [
    rulesetRow('8. server ruleset: static key', r.staticKey),
    ...r.rolling.map((f) => rulesetRow(`8. server ruleset: rolling, ${f.days} days`, f)),
  ];
}
