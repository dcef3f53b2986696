import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { KNOCK_INTERVAL_SECONDS } from '../../src/core/ping-command.js';
import { LAB_HOSTS, type Lab } from '../../src/lab/lab.js';
import { proxyEnv } from '../support/faults.js';
import { latencyLab } from '../support/latency-lab.js';
import { killStarted, start } from '../support/spawned.js';
import { newSecret, nftRules } from './fixture.js';

/**
 * The knock costs no round trip (app/connect-race.ts), over links with real round trips
 * (delay-bridge.py): the proxy's first SYN leaves right behind its echo request, so it connects
 * one round trip after the knock began, not two; and when the first echo request is lost, the
 * SYN that went behind it meets a closed port, yet the connection is up one round trip after the
 * knock's resend, not after TCP's resend of that SYN a second later. Times are the proxy's own
 * (`--verbose`: from just before ping starts to the connection), checked against its lines'
 * arrival here. The bounds leave a loaded machine room; the figures are printed.
 */

afterEach(killStarted);

const RESEND_MS = KNOCK_INTERVAL_SECONDS * 1000;
/** TCP resends an unanswered SYN after this long (Linux): what the fresh attempts must beat. */
const TCP_SYN_RESEND_MS = 1000;
/** What a loaded machine may add on top of the round trips: ping's start, the bridge's wake-ups. */
const SLACK_MS = 250;

/** Counts the SYNs that reach the server's port 22, before its rules judge them. */
const SYN_COUNTER = `table inet synwatch {
\tchain input {
\t\ttype filter hook input priority filter - 30; policy accept;
\t\ttcp dport 22 tcp flags & (syn | ack) == syn counter
\t}
}
`;

async function synsSeen(lab: Lab): Promise<number> {
  const listing = (await lab.onServer('nft', ['list', 'table', 'inet', 'synwatch'])).stdout.toString();
  return Number(/counter packets (\d+)/.exec(listing)?.[1] ?? Number.NaN);
}

/** A lab behind the rules, with its neighbours known (ARP) so that no first packet waits for them. */
async function delayedLab(oneWayMs: number, dropEchoRequests: number): Promise<Lab> {
  const secret = newSecret();
  const lab = await latencyLab({ secret, oneWayMs, dropEchoRequests });
  try {
    lab.loadServerRules(nftRules(secret));
    lab.loadServerRules(SYN_COUNTER);
    // A datagram, not a ping: the bridge drops the first echo requests it sees, whoever sends them.
    const warm = await lab.onClient('bash', ['-c', `echo warm > /dev/udp/${lab.server.ipv4}/9`]);
    expect(warm.code, warm.stderr).toBe(0);
    return lab;
  } catch (error) {
    lab.destroy();
    throw error;
  }
}

interface Timed {
  /** The proxy's figure: from just before ping started to the connection. */
  readonly ms: number;
  /** The same, from the arrival of its `knocking` and `connected` lines here. */
  readonly linesMs: number;
  /** SYNs that reached the server's port during the run. */
  readonly syns: number;
}

/** `pingknock proxy --verbose` in the client namespace, input closed: it connects, relays sshd's banner, ends. */
async function timedProxy(lab: Lab): Promise<Timed> {
  lab.forgetKnocks();
  const before = await synsSeen(lab);
  const proxy = start(
    'ip',
    [
      'netns',
      'exec',
      lab.client.netns,
      'pingknock',
      'proxy',
      '--verbose',
      '--name',
      LAB_HOSTS.knocked,
      lab.server.ipv4,
      '22',
    ],
    proxyEnv(lab.home, lab.env),
  );
  proxy.child.stdin.end();
  const knocking = await proxy.line('stderr', /^pingknock: knocking 10\.201\.0\.1$/, 20_000);
  const connected = await proxy.line(
    'stderr',
    /^pingknock: connected to port 22, \d+ ms after the knock began$/,
    20_000,
  );
  const result = await proxy.finish(20_000);
  expect(result.code, result.stderr).toBe(0);
  expect(result.stdout).toMatch(/^SSH-2\.0-/);
  return {
    ms: Number(/, (\d+) ms after/.exec(connected.text)?.[1]),
    linesMs: connected.at - knocking.at,
    syns: (await synsSeen(lab)) - before,
  };
}

const median = (values: readonly number[]): number =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;

describe('no round trip for the knock: 50 ms each way', () => {
  const ROUND_TRIP_MS = 100;
  let lab: Lab | undefined;
  afterAll(() => lab?.destroy());

  it('connects about one round trip after the knock began', async () => {
    lab = await delayedLab(ROUND_TRIP_MS / 2, 0);
    const runs: Timed[] = [];
    for (let run = 0; run < 5; run += 1) runs.push(await timedProxy(lab));
    const times = runs.map((run) => run.ms);
    console.log(
      `early SYN, ${ROUND_TRIP_MS} ms round trip: connected ${times.join(', ')} ms after the knock began ` +
        `(lines here: ${runs.map((run) => Math.round(run.linesMs)).join(', ')} ms); ` +
        `SYNs per run: ${runs.map((run) => run.syns).join(', ')}`,
    );
    for (const run of runs) {
      // Nothing connects faster than the link carries a SYN and its answer.
      expect(run.ms).toBeGreaterThanOrEqual(ROUND_TRIP_MS);
      expect(Math.abs(run.linesMs - run.ms)).toBeLessThan(SLACK_MS);
      expect(run.syns).toBeGreaterThanOrEqual(1);
    }
    // Knock, then connect, takes two round trips at the very least: the median needs less.
    expect(median(times)).toBeLessThan(2 * ROUND_TRIP_MS);
  });
});

describe('the first echo request lost: 25 ms each way', () => {
  const ROUND_TRIP_MS = 50;
  let lab: Lab | undefined;
  afterAll(() => lab?.destroy());

  it(
    'the SYN behind it meets a closed port, and the connection is up a round trip after the resend, ' +
      "long before TCP's own resend",
    async () => {
      lab = await delayedLab(ROUND_TRIP_MS / 2, 1);
      const run = await timedProxy(lab);
      const bound = RESEND_MS + ROUND_TRIP_MS + SLACK_MS;
      console.log(
        `early SYN, first echo request dropped, ${ROUND_TRIP_MS} ms round trip: connected ${run.ms} ms after the ` +
          `knock began (lines here: ${Math.round(run.linesMs)} ms; resend ${RESEND_MS} ms + round trip = ` +
          `${RESEND_MS + ROUND_TRIP_MS} ms; asserted below ${bound} ms); ${run.syns} SYNs reached the server`,
      );
      // Only the resent knock can have opened the port: one resend and one round trip at least.
      expect(run.ms).toBeGreaterThanOrEqual(RESEND_MS + ROUND_TRIP_MS);
      // The SYN behind the lost request reached the port before any knock, and another after the resend.
      expect(run.syns).toBeGreaterThanOrEqual(2);
      expect(run.ms).toBeLessThan(bound);
      expect(bound).toBeLessThan(TCP_SYN_RESEND_MS - 200);
      expect(Math.abs(run.linesMs - run.ms)).toBeLessThan(SLACK_MS);
    },
  );
});
