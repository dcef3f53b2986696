import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, LAB_HOSTS } from '../../src/lab/lab.js';
import { run, type RunResult } from '../../src/edge/exec.js';
import { secretToHex, type Secret } from '../../src/core/secret.js';
import { buildRuleModel, newKnockerLimit } from '../../src/core/rules/model.js';
import { NFT_SET_CAPACITY, NFT_SETS, NFT_TABLE } from '../../src/core/rules/nftables.js';
import { RECENT_LISTS, XT_RECENT_CAPACITY, xtKnockLimit } from '../../src/core/rules/xtables.js';
import { newSecret } from './fixture.js';

/**
 * Issue 16, item 3: someone who has the secret floods the server with knocks from spoofed sources
 * (inside the lab only), to fill nftables' set of knocked addresses or push everyone off
 * xt_recent's list. The rules must bound that: the set never fills, a knocker keeps its place for
 * its window, the flood beyond the pace is dropped (the counters say so), and a real client gets
 * in right after the flood, or during it where the flood only refreshes what it already got in.
 *
 * The rules are rendered by `pingknock rules` from this build's dist/bin, or from the folder
 * PK_FLOOD_RULES_BIN names: the same floods against other rules (an older build, say) show what
 * this test catches. The packets are built by flood-knock.py (raw sockets, spoofed sources).
 */

const FLOOD = join(import.meta.dirname, 'flood-knock.py');
const RULES_BIN = process.env.PK_FLOOD_RULES_BIN ?? join(import.meta.dirname, '..', '..', 'dist', 'bin');
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const seconds = (since: number): number => (performance.now() - since) / 1000;

interface Flood {
  readonly sent: number;
  readonly lost: number;
  readonly seconds: number;
  readonly sources: number;
}

function floodResult(result: RunResult): Flood {
  if (result.code !== 0) throw new Error(`flood-knock.py failed (${result.code ?? result.signal}): ${result.stderr}`);
  return JSON.parse(result.stdout.toString()) as Flood;
}

/**
 * Starts flood-knock.py in the client namespace; it ends by itself (count or seconds) or is killed after
 * `timeoutMs`.
 */
function startFlood(lab: Lab, secret: Secret, args: readonly string[], timeoutMs: number): Promise<RunResult> {
  return lab.onClient('python3', [FLOOD, '--pattern', secretToHex(secret), ...args], { timeoutMs });
}

function inServer(lab: Lab, file: string, args: readonly string[], input?: string): Promise<RunResult> {
  return run('ip', ['netns', 'exec', lab.server.netns, file, ...args], {
    timeoutMs: 30_000,
    ...(input === undefined ? {} : { input }),
  });
}

async function checked(result: Promise<RunResult>, what: string): Promise<string> {
  const done = await result;
  if (done.code !== 0) throw new Error(`${what} failed (${done.code ?? done.signal}): ${done.stderr}`);
  return done.stdout.toString();
}

/** The rules `pingknock rules` prints for this secret (see RULES_BIN). */
async function renderedRules(lab: Lab, secret: Secret, args: readonly string[]): Promise<string> {
  const secretFile = join(lab.dir, 'server-secret');
  writeFileSync(secretFile, `${secret}\n`, { mode: 0o600 });
  return checked(
    run(join(RULES_BIN, 'pingknock'), ['rules', '--secret-file', secretFile, ...args], {
      env: lab.env,
      timeoutMs: 30_000,
    }),
    'pingknock rules',
  );
}

/** The /64 an IPv6 address is in, as nft prints it (fd70:6b::2 gives fd70:6b::). */
function prefix64(address: string): string {
  const [head = '', tail] = address.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right].map((group) =>
    Number.parseInt(group, 16),
  );
  const kept = groups.slice(0, 4);
  while (kept.length > 0 && kept.at(-1) === 0) kept.pop();
  return `${kept.map((group) => group.toString(16)).join(':')}::`;
}

/** The elements of an nftables set of pingknock's table. */
async function nftSetElements(lab: Lab, set: string): Promise<string[]> {
  const listing = JSON.parse(
    await checked(inServer(lab, 'nft', ['-j', 'list', 'set', 'inet', NFT_TABLE, set]), `nft list set ${set}`),
  ) as {
    nftables: { set?: { elem?: (string | { elem: { val: string } })[] } }[];
  };
  const elements = listing.nftables.find((entry) => entry.set !== undefined)?.set?.elem ?? [];
  return elements.map((element) => (typeof element === 'string' ? element : element.elem.val));
}

/** What every counter in a chain of pingknock's table counted (undefined when there is no such chain). */
async function nftCounters(lab: Lab, chain: string): Promise<number[] | undefined> {
  const listing = await inServer(lab, 'nft', ['list', 'chain', 'inet', NFT_TABLE, chain]);
  if (listing.code !== 0) return undefined;
  return [...listing.stdout.toString().matchAll(/counter packets (\d+)/g)].map((match) => Number(match[1]));
}

/**
 * The knock rules' packet counters in chain `knock` (iptables-legacy): remembered (LOG), answered as known (recent,
 * ACCEPT), dropped.
 */
async function xtKnockCounters(lab: Lab): Promise<{ remembered: number; known: number; dropped: number }> {
  const saved = await checked(inServer(lab, 'iptables-legacy-save', ['-c', '-t', 'filter']), 'iptables-legacy-save');
  const counts = { remembered: 0, known: 0, dropped: 0 };
  for (const [, packets = '0', rule = ''] of saved.matchAll(/^\[(\d+):\d+\] (-A knock .*-m u32 .*)$/gm)) {
    if (rule.includes(' -j LOG ')) counts.remembered += Number(packets);
    else if (rule.includes(' -m recent ') && rule.endsWith('-j ACCEPT')) counts.known += Number(packets);
    else if (rule.endsWith('-j DROP')) counts.dropped += Number(packets);
  }
  return counts;
}

async function recentList(lab: Lab, list: string): Promise<string[]> {
  return (await checked(inServer(lab, 'cat', [`/proc/net/xt_recent/${list}`]), `reading xt_recent ${list}`))
    .split('\n')
    .filter((line) => line !== '');
}

/** ssh straight to the port, without a knock: it gets in only while a knock from before is remembered. */
async function sshWithoutKnock(lab: Lab, host: string): Promise<RunResult> {
  return lab.ssh(['-o', 'ConnectTimeout=3', host, 'echo open'], { timeoutMs: 20_000 });
}

/** ssh through `pingknock proxy`: a new knock, then the login. */
async function sshKnocked(lab: Lab, host: string): Promise<RunResult> {
  return lab.ssh([host, 'echo in'], { timeoutMs: 30_000 });
}

describe('a knock flood from spoofed sources: nftables', () => {
  const secret = newSecret();
  let lab: Lab;

  beforeAll(async () => {
    lab = await Lab.create({ secret, serverFirewall: 'bare' });
  });
  afterAll(() => lab?.destroy());

  it(
    '70,000 knocks from as many IPv6 /64s in a burst: the set stays far from full, ' +
      'the rest is dropped and counted, and a new knock gets in right after',
    async () => {
      lab.loadServerRules(await renderedRules(lab, secret, ['--backend', 'nftables', '--window', '60']));
      const limit = newKnockerLimit(NFT_SET_CAPACITY, 60);
      // The client's address reaches the server first (neighbour discovery), so no flood packet waits for it.
      await checked(lab.onClient('ping', ['-6', '-c1', '-W2', lab.server.ipv6], { timeoutMs: 10_000 }), 'ping');

      const started = performance.now();
      const flood = floodResult(
        await startFlood(
          lab,
          secret,
          [
            '--family',
            '6',
            '--to',
            lab.server.ipv6,
            '--sources',
            'fd70:6b:1-70000',
            '--count',
            '70000',
            '--seconds',
            '30',
          ],
          60_000,
        ),
      );
      expect(flood).toMatchObject({ sent: 70_000, lost: 0, sources: 70_000 });
      const elements = await nftSetElements(lab, NFT_SETS.ipv6);
      const elapsed = seconds(started);
      const dropped = await nftCounters(lab, 'knock6');
      console.log(
        `nftables, 70,000 /64s: sent in ${flood.seconds} s, ` +
          `${elements.length} in the set after ${elapsed.toFixed(1)} s, dropped ${dropped?.join(' + ')}`,
      );
      expect(
        elements.filter((element) => element === prefix64(lab.client.ipv6) || element === lab.client.ipv6),
        'the client has not knocked yet',
      ).toEqual([]);

      // Far from full: the burst plus the pace over the time it took.
      expect.soft(elements.length, 'knocked6 never fills').toBeLessThan(NFT_SET_CAPACITY);
      expect
        .soft(elements.length, 'knocked6 grew only at the pace')
        .toBeLessThanOrEqual(limit.burst + (limit.perMinute / 60) * elapsed + 1);
      expect.soft(elements.length, 'the pace let some in').toBeGreaterThan(limit.burst / 2);
      // Every flood knock was either remembered or dropped, and counted so.
      expect.soft(dropped, 'the chain knock6 counts what it drops').toBeDefined();
      const droppedTotal = (dropped ?? []).reduce((sum, count) => sum + count, 0);
      expect
        .soft(droppedTotal + elements.length, 'remembered + dropped = the flood')
        .toBeGreaterThanOrEqual(0.95 * flood.sent);
      expect.soft(droppedTotal + elements.length, 'remembered + dropped = the flood').toBeLessThanOrEqual(flood.sent);

      const login = await sshKnocked(lab, LAB_HOSTS.knocked6);
      console.log(`nftables: a new knock and login right after the flood took ${(login.ms / 1000).toFixed(2)} s`);
      expect.soft(login.code, `a new knock right after the flood gets in: ${login.stderr}`).toBe(0);
      expect.soft(login.stdout.toString()).toBe('in\n');
    },
    120_000,
  );

  it(
    'knocks from as many /64s as the set holds, each sent again within the window (5 s), for 12 s: ' +
      'the set never fills, and a real knock gets in during the flood',
    async () => {
      // A short window, so that the flood outlasts it within seconds; the pace is per window, so a
      // longer one changes the numbers, not the outcome.
      const windowSeconds = 5;
      lab.loadServerRules(
        await renderedRules(lab, secret, ['--backend', 'nftables', '--window', String(windowSeconds)]),
      );
      await checked(lab.onClient('ping', ['-6', '-c1', '-W2', lab.server.ipv6], { timeoutMs: 10_000 }), 'ping');
      const started = performance.now();
      const running = startFlood(
        lab,
        secret,
        [
          '--family',
          '6',
          '--to',
          lab.server.ipv6,
          '--sources',
          `fd70:6b:1-${NFT_SET_CAPACITY}`,
          '--count',
          '100000000',
          '--seconds',
          '12',
          '--rate',
          '40000',
        ],
        60_000,
      );
      const sizes: number[] = [];
      for (const at of [3, 6]) {
        await sleep(Math.max(0, at * 1000 - (performance.now() - started)));
        sizes.push((await nftSetElements(lab, NFT_SETS.ipv6)).length);
      }
      // Past the time the pace needs to fill the set were refreshes free (a window and a bit).
      await sleep(Math.max(0, 7500 - (performance.now() - started)));
      const login = await sshKnocked(lab, LAB_HOSTS.knocked6);
      const loginDone = seconds(started);
      sizes.push((await nftSetElements(lab, NFT_SETS.ipv6)).length);
      const flood = floodResult(await running);
      console.log(
        `nftables, refresh flood: ${flood.sent} knocks in ${flood.seconds} s ` +
          `(${Math.round(flood.sent / flood.seconds)}/s), set sizes ${sizes.join(', ')}, ` +
          `login done at ${loginDone.toFixed(1)} s (took ${(login.ms / 1000).toFixed(2)} s)`,
      );

      expect.soft(Math.max(...sizes), 'knocked6 never fills').toBeLessThan(NFT_SET_CAPACITY);
      expect.soft(login.code, `a real knock during the flood gets in: ${login.stderr}`).toBe(0);
      expect.soft(login.stdout.toString()).toBe('in\n');
      // The flood must have been one: every source sent again well within the window, for more than
      // two windows, and the login while it lasted.
      expect(flood.sent / flood.seconds, 'the flood sent every source again within the window').toBeGreaterThan(
        (1.5 * NFT_SET_CAPACITY) / windowSeconds,
      );
      expect(flood.seconds).toBeGreaterThan(2 * windowSeconds);
      expect(loginDone, 'the login came while the flood lasted').toBeLessThan(flood.seconds);
    },
    120_000,
  );
});

describe('a knock flood from spoofed sources: iptables (legacy)', () => {
  const secret = newSecret();
  const windowSeconds = 15;
  let lab: Lab;

  beforeAll(async () => {
    lab = await Lab.create({ secret, serverFirewall: 'bare' });
    // The spoofed sources are off the link, routed through the client as through a gateway: the
    // server's replies to them go there and die, instead of waiting for ARP answers that never come.
    await checked(
      run('ip', ['-n', lab.server.netns, 'route', 'add', '10.201.1.0/24', 'via', lab.client.ipv4]),
      'ip route add',
    );
  });
  afterAll(() => lab?.destroy());

  it(
    '150 rotating IPv4 sources at 2,200 knocks/s in both ping layouts for 9 s of a 15 s window: ' +
      'a knocker from before keeps its place, the list takes only the pace, ' +
      'and a new knock gets in right after',
    async () => {
      const script = await renderedRules(lab, secret, [
        '--backend',
        'iptables',
        '--family',
        'ipv4',
        '--window',
        String(windowSeconds),
      ]);
      await checked(
        run('ip', ['netns', 'exec', lab.server.netns, 'sh', '-s'], {
          input: script,
          env: { ...lab.env, IPTABLES: 'iptables-legacy' },
          timeoutMs: 30_000,
        }),
        'loading the iptables rules',
      );
      const loaded = performance.now();
      const model = buildRuleModel({ secret, port: 22, windowSeconds });
      const pace = xtKnockLimit(model);
      const layouts = model.layouts.length;

      const knock = await lab.onClient('pingknock', ['knock', '--name', LAB_HOSTS.knocked, lab.server.ipv4], {
        timeoutMs: 20_000,
      });
      expect(knock.code, knock.stderr).toBe(0);
      const flood = floodResult(
        await startFlood(
          lab,
          secret,
          [
            '--family',
            '4',
            '--to',
            lab.server.ipv4,
            '--sources',
            '10.201.1.100-10.201.1.249',
            '--count',
            '19800',
            '--seconds',
            '9',
            '--rate',
            '2200',
            '--layout',
            'both',
          ],
          60_000,
        ),
      );
      expect(flood.sources).toBe(150);
      expect(flood.sent / flood.seconds, 'at least 2,000 knocks a second').toBeGreaterThanOrEqual(2000);
      expect(flood.sent).toBeGreaterThanOrEqual(0.9 * 19_800);

      const list = await recentList(lab, RECENT_LISTS.ipv4);
      const counters = await xtKnockCounters(lab);
      const elapsed = seconds(loaded);
      console.log(
        `iptables, 150 rotating sources: ${flood.sent} knocks in ${flood.seconds} s; list holds ${list.length}; ` +
          `remembered ${counters.remembered}, answered as known ${counters.known}, dropped ${counters.dropped} ` +
          `(${elapsed.toFixed(1)} s after loading)`,
      );
      expect
        .soft(
          list.some((line) => line.startsWith(`src=${lab.client.ipv4} `)),
          'the knocker from before is still on the list',
        )
        .toBe(true);
      expect(list.length).toBeLessThanOrEqual(XT_RECENT_CAPACITY);
      const kept = await sshWithoutKnock(lab, LAB_HOSTS.direct);
      expect.soft(kept.code, `the knocker from before still gets in: ${kept.stderr}`).toBe(0);
      expect.soft(kept.stdout.toString()).toBe('open\n');
      // Knocks put on the list (new or refreshed): the bursts and the pace since loading, and no
      // more; every other flood knock is counted, answered as known or dropped.
      expect
        .soft(counters.remembered, 'the list took only the pace')
        .toBeLessThanOrEqual(layouts * (pace.burst + (pace.perMinute / 60) * elapsed) + 2);
      expect.soft(counters.remembered, 'the pace let some in').toBeGreaterThanOrEqual(layouts * pace.burst);
      expect.soft(counters.dropped, 'the flood beyond the pace was dropped').toBeGreaterThan(flood.sent / 4);
      expect
        .soft(counters.remembered + counters.known + counters.dropped, 'every knock is counted')
        .toBeGreaterThanOrEqual(0.95 * flood.sent);

      // Forget that knocker only, so the next login needs a new knock.
      await checked(
        inServer(lab, 'sh', ['-c', `echo -${lab.client.ipv4} >/proc/net/xt_recent/${RECENT_LISTS.ipv4}`]),
        'forgetting the knocker',
      );
      expect(
        (await recentList(lab, RECENT_LISTS.ipv4)).filter((line) => line.startsWith(`src=${lab.client.ipv4} `)),
      ).toEqual([]);
      const login = await sshKnocked(lab, LAB_HOSTS.knocked);
      console.log(`iptables: a new knock and login right after the flood took ${(login.ms / 1000).toFixed(2)} s`);
      expect.soft(login.code, `a new knock right after the flood gets in: ${login.stderr}`).toBe(0);
      expect.soft(login.stdout.toString()).toBe('in\n');
    },
    120_000,
  );
});
