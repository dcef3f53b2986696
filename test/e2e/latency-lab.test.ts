import { afterAll, describe, expect, it } from 'vitest';
import { NFT_SETS, NFT_TABLE } from '../../src/core/rules/nftables.js';
import { run } from '../../src/edge/exec.js';
import { LAB_HOSTS, type Lab } from '../../src/lab/lab.js';
import { latencyLab } from '../support/latency-lab.js';
import { processInfo } from '../support/spawned.js';
import { newSecret, nftRules } from './fixture.js';

const ONE_WAY_MS = 25;
const ROUND_TRIP_MS = 2 * ONE_WAY_MS;
/** What a loaded 2-core machine may add to a round trip: the bridge is a Python process waking from poll(). */
const SLACK_MS = 30;

/** Whether process `pid` has ended (gone, or a zombie holding nothing) within `ms`. */
async function endedWithin(pid: number, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; ; await new Promise((resolve) => setTimeout(resolve, 50))) {
    const state = processInfo(pid)?.state;
    if (state === undefined || state === 'Z') return true;
    if (Date.now() > end) return false;
  }
}

/**
 * Built by the first test that asks, once: a lab that cannot be built fails every test that
 * needs it (a failed beforeAll would only mark them skipped).
 */
function lazily(build: () => Promise<Lab>): { lab(): Promise<Lab>; destroy(): Promise<void> } {
  let built: Promise<Lab> | undefined;
  return {
    lab: () => (built ??= build()),
    destroy: async () => (await built?.catch(() => undefined))?.destroy(),
  };
}

/** The round-trip times ping printed, in ms, one per reply, and the sequence numbers answered. */
function replies(stdout: string): { seq: number; ms: number }[] {
  return [...stdout.matchAll(/icmp_seq=(\d+) ttl=\d+ time=([\d.]+) ms/g)].map((match) => ({
    seq: Number(match[1]),
    ms: Number(match[2]),
  }));
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};

describe(`a lab with ${ONE_WAY_MS} ms each way (delay-bridge.py)`, () => {
  const secret = newSecret();
  const delayed = lazily(async () => {
    const lab = await latencyLab({ secret, oneWayMs: ONE_WAY_MS });
    lab.loadServerRules(nftRules(secret));
    return lab;
  });
  afterAll(() => delayed.destroy());

  it(`takes at least ${ROUND_TRIP_MS} ms for a ping's round trip, and not much more`, async () => {
    const lab = await delayed.lab();
    // The first ping also waits for ARP: two round trips.
    const warmUp = await lab.onClient('ping', ['-c', '1', '-W', '2', lab.server.ipv4], { timeoutMs: 10_000 });
    expect(warmUp.code, warmUp.stdout.toString()).toBe(0);
    const result = await lab.onClient('ping', ['-c', '5', '-i', '0.2', '-W', '2', lab.server.ipv4], {
      timeoutMs: 10_000,
    });
    const times = replies(result.stdout.toString()).map((reply) => reply.ms);
    expect(times, result.stdout.toString()).toHaveLength(5);
    expect(Math.min(...times)).toBeGreaterThanOrEqual(ROUND_TRIP_MS);
    expect(median(times)).toBeLessThan(ROUND_TRIP_MS + SLACK_MS);
  });

  it('lets a knocked ssh login through the nftables rules, over the delayed path', async () => {
    const lab = await delayed.lab();
    lab.forgetKnocks();
    const login = await lab.ssh([LAB_HOSTS.knocked, 'echo logged in'], { timeoutMs: 20_000 });
    expect(login.code, `${login.stderr}\n${lab.serverLog()}`).toBe(0);
    expect(login.stdout.toString()).toBe('logged in\n');
    // The knock's round trip, TCP's handshake, the key exchange, the login and the command each take one at least.
    expect(login.ms).toBeGreaterThan(5 * ROUND_TRIP_MS);
    const knocked = await lab.onServer('nft', ['list', 'set', 'inet', NFT_TABLE, NFT_SETS.ipv4]);
    expect(knocked.stdout.toString()).toContain(lab.client.ipv4);
  });
});

describe('a lab that drops the first echo request', () => {
  const dropping = lazily(() => latencyLab({ secret: newSecret(), oneWayMs: ONE_WAY_MS, dropEchoRequests: 1 }));
  afterAll(() => dropping.destroy());

  it('loses ping 1 and answers ping 2', async () => {
    const lab = await dropping.lab();
    const result = await lab.onClient('ping', ['-c', '2', '-i', '0.3', '-W', '1', lab.server.ipv4], {
      timeoutMs: 10_000,
    });
    const stdout = result.stdout.toString();
    expect(
      replies(stdout).map((reply) => reply.seq),
      stdout,
    ).toEqual([2]);
    expect(stdout).toContain('2 packets transmitted, 1 received');
  });

  // Last: it takes the lab down.
  it('leaves neither the middle namespace nor the bridge behind once destroyed', async () => {
    const lab = await dropping.lab();
    const middle = lab.middle ?? '';
    const bridge = (await run('ip', ['netns', 'pids', middle])).stdout.toString().split(/\s+/).filter(Boolean);
    expect(bridge).toHaveLength(1);
    lab.destroy();
    expect((await run('ip', ['netns', 'list'])).stdout.toString()).not.toContain(middle);
    // Killed, it is gone once the kernel has ended it and this process reaped it: a loaded machine takes a moment.
    expect(await endedWithin(Number(bridge[0]), 10_000)).toBe(true);
  });
});
