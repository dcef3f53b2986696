// Rows 6 and 7: connects at real round trips against the targets of "no round trip for the knock",
// the proxy's CPU per connection, and a session through the fd-passing mode.
import { FDPASS_THROUGHPUT_LIMIT, PROXY_CPU_LIMIT, RTT_SLACK_MS } from '../config.js';
import type { OwnStart, RttConnects, RttResult } from '../sections/rtt.js';
import type { SessionResult } from '../sections/session.js';
import type { TransferVariant } from '../sections/transfer.js';
import type { Samples } from '../stats.js';
import { fmtMs, fmtRate, info, signedMs, verdict, type Row } from './format.js';

/** From this round trip on, pingknock must connect faster than the shell recipe. */
const FASTER_THAN_RECIPE_FROM_MS = 150;

const NOT_AVAILABLE = 'not available';
const FAIL_NOT_AVAILABLE = 'FAIL (not available)';

interface Mode {
  readonly name: string;
  readonly connect: (at: RttConnects) => Samples | undefined;
  readonly start: Samples | undefined;
}

function modes(start: OwnStart): Mode[] {
  return [
    { name: 'relay', connect: (at) => at.relay, start: start.relay },
    { name: 'fd passing', connect: (at) => at.fdpass, start: start.fdpass },
  ];
}

const overDirect = (s: Samples, direct: Samples): string =>
  `${(s.median / direct.median).toFixed(2)}x direct, ${signedMs(s.median - direct.median)}`;

function connectRows(at: RttConnects, start: OwnStart, why: string): Row[] {
  const { direct, recipe } = at;
  const rows: Row[] = [
    info(
      `6. connect at RTT ${at.rttMs} ms: direct ssh (no proxy)`,
      fmtMs(direct),
      '',
      `ping's round trip here: ${at.pingMs.toFixed(1)} ms`,
    ),
    info('   shell recipe: ping -c1 -p, then nc', fmtMs(recipe), '', overDirect(recipe, direct)),
  ];
  for (const mode of modes(start)) {
    const s = mode.connect(at);
    rows.push(
      info(`   pingknock, ${mode.name}`, s ? fmtMs(s) : NOT_AVAILABLE, s ? '' : why, s ? overDirect(s, direct) : ''),
    );
  }
  for (const mode of modes(start)) {
    const s = mode.connect(at);
    const row = `   target: ${mode.name} - direct <= own start + ${RTT_SLACK_MS} ms`;
    if (s === undefined || mode.start === undefined) {
      rows.push({ row, value: NOT_AVAILABLE, baseline: '', limit: '', result: FAIL_NOT_AVAILABLE });
      continue;
    }
    const over = s.median - direct.median;
    const limit = mode.start.median + RTT_SLACK_MS;
    rows.push({
      row,
      value: signedMs(over),
      baseline: `own start: ${fmtMs(mode.start)}`,
      limit: `<= ${limit.toFixed(1)} ms (gap ${signedMs(over - limit)})`,
      result: verdict(over <= limit, [s, direct, mode.start]),
    });
  }
  if (at.rttMs < FASTER_THAN_RECIPE_FROM_MS) return rows;
  for (const mode of modes(start)) {
    const s = mode.connect(at);
    const row = `   target: ${mode.name} faster than the recipe`;
    if (s === undefined) {
      rows.push({ row, value: NOT_AVAILABLE, baseline: '', limit: '', result: FAIL_NOT_AVAILABLE });
      continue;
    }
    rows.push({
      row,
      value: fmtMs(s),
      baseline: `recipe: ${fmtMs(recipe)}`,
      limit: `${(s.median / recipe.median).toFixed(3)}x < 1x (${signedMs(s.median - recipe.median)})`,
      result: verdict(s.median < recipe.median, [s, recipe]),
    });
  }
  return rows;
}

function startRows(start: OwnStart, first: RttConnects | undefined, why: string): Row[] {
  const { node } = start;
  const rows: Row[] = [];
  for (const mode of modes(start)) {
    const s = mode.start;
    const label = `6. own start, knock included (127.0.0.1): ${mode.name}`;
    rows.push(
      s === undefined
        ? info(label, NOT_AVAILABLE, why)
        : info(label, fmtMs(s), `node -e 0: ${fmtMs(node)}`, `${(s.median / node.median).toFixed(2)}x node -e 0`),
    );
  }
  for (const mode of modes(start)) {
    const s = mode.start;
    const row = `6. CPU per connection, proxy + its ping: ${mode.name}`;
    if (s === undefined) {
      rows.push({ row, value: NOT_AVAILABLE, baseline: '', limit: '', result: FAIL_NOT_AVAILABLE });
      continue;
    }
    const ratio = s.cpuMedian / node.cpuMedian;
    rows.push({
      row,
      value: `${s.cpuMedian.toFixed(1)} ms`,
      baseline: `node -e 0: ${node.cpuMedian.toFixed(1)} ms`,
      limit: `${ratio.toFixed(2)}x <= ${PROXY_CPU_LIMIT}x`,
      result: verdict(ratio <= PROXY_CPU_LIMIT, [s, node]),
    });
  }
  if (first !== undefined) {
    // The same cost seen from the connects: the CPU of ssh's whole tree over direct ssh's.
    const over = (s: Samples | undefined): string =>
      s === undefined ? NOT_AVAILABLE : signedMs(s.cpuMedian - first.direct.cpuMedian);
    rows.push(
      info(
        `   CPU of ssh + proxy over direct ssh (RTT ${first.rttMs} ms)`,
        `relay ${over(first.relay)}`,
        `fd passing ${over(first.fdpass)}; recipe ${over(first.recipe)}`,
        `direct ssh: ${first.direct.cpuMedian.toFixed(1)} ms`,
      ),
    );
  }
  return rows;
}

function sessionRows(session: SessionResult | undefined, sizeMib: number, why: string): Row[] {
  const aliveRow = '7. fd passing: nothing of pingknock left in the session';
  const throughputRow = `7. fd passing: scp ${sizeMib} MiB vs direct ssh`;
  if (session === undefined) {
    return [
      { row: aliveRow, value: NOT_AVAILABLE, baseline: why, limit: '', result: FAIL_NOT_AVAILABLE },
      { row: throughputRow, value: NOT_AVAILABLE, baseline: '', limit: '', result: FAIL_NOT_AVAILABLE },
    ];
  }
  const { fdpassLeft, relayLeft, errors, fdpass, direct } = session;
  const found = fdpassLeft.flat();
  // The control: the same look finds the relay of a relaying session, so it can find a proxy at all.
  const controlSeen = relayLeft.length > 0 && relayLeft.every((left) => left.length > 0);
  const aliveOk = errors.length === 0 && fdpassLeft.length > 0 && found.length === 0 && controlSeen;
  const ratio = fdpass.net.median / direct.net.median;
  return [
    {
      row: aliveRow,
      value: `${found.length} processes in ${fdpassLeft.length} sessions`,
      baseline: `relay (control): ${relayLeft.flat().map(program).join(', ') || 'none seen'}`,
      limit: found.length > 0 ? `found: ${found.map(program).join(', ')}` : 'none allowed',
      result: errors.length > 0 ? `FAIL (${errors.length} sessions failed)` : aliveOk ? 'PASS' : 'FAIL',
    },
    {
      row: throughputRow,
      value: fmtRate(fdpass.net),
      baseline: `direct: ${fmtRate(direct.net)}`,
      limit: `${(Math.floor(ratio * 1000) / 1000).toFixed(3)}x >= ${FDPASS_THROUGHPUT_LIMIT}x`,
      result: verdict(ratio >= FDPASS_THROUGHPUT_LIMIT, [fdpass.net, direct.net]),
    },
    wholeCommand(fdpass, direct),
  ];
}

/** A command line's first words without their folders: `node pingknock proxy`. */
const program = (argv: string): string =>
  argv
    .split(' ')
    .slice(0, 3)
    .map((word) => word.slice(word.lastIndexOf('/') + 1))
    .join(' ');

function wholeCommand(fdpass: TransferVariant, direct: TransferVariant): Row {
  const setUp = `set-up ${fdpass.emptyWall.median.toFixed(0)} vs ${direct.emptyWall.median.toFixed(0)} ms`;
  return info(
    '   whole command incl. set-up',
    fmtRate(fdpass.raw),
    `direct: ${fmtRate(direct.raw)}`,
    `${(fdpass.raw.median / direct.raw.median).toFixed(3)}x; ${setUp}`,
  );
}

export function rttRows(r: RttResult, sizeMib: number): Row[] {
  const why = r.support.available ? '' : r.support.why;
  return [
    ...startRows(r.start, r.connects[0], why),
    ...r.connects.flatMap((at) => connectRows(at, r.start, why)),
    ...sessionRows(r.session, sizeMib, why),
  ];
}
