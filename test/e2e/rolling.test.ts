import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run, runChecked } from '../../src/edge/exec.js';
import { Lab } from '../../src/lab/lab.js';
import { removeNamespaces } from '../../src/lab/network.js';
import type { Family } from '../../src/core/layout.js';
import { buildRuleModel, rollingKey } from '../../src/core/rules/model.js';
import { NFT_ONCE, NFT_TABLE, renderNftables } from '../../src/core/rules/nftables.js';
import { rollingProbeScript } from '../../src/core/rules/detect.js';
import { rollingPatternHex, SLOT_SECONDS, slotAt } from '../../src/core/rolling.js';
import { secretToHex, type Secret } from '../../src/core/secret.js';
import { newSecret } from './fixture.js';

/**
 * One-time knocks against the real nft and sshd: the server holds two people's patterns for
 * yesterday, today and tomorrow (so a run across midnight UTC finds both days), a third namespace
 * on its own link to the server stands for whoever sniffed a knock. Patterns come from
 * src/core/rolling.ts for a time shifted from now: the server's clock is the real one, and no
 * test waits for a slot to pass.
 */

const BSD_KNOCK = join(import.meta.dirname, 'bsd-knock.py');
const CONNECT = 'import socket, sys\nsocket.create_connection((sys.argv[1], 22), timeout=2).close()';
const FAMILIES: readonly Family[] = ['ipv4', 'ipv6'];

/** A namespace on a link of its own to the lab's server, which it reaches by the server's usual addresses. */
class ThirdNamespace {
  readonly netns: string;

  constructor(lab: Lab) {
    this.netns = `pk-${lab.id}-3rd`;
    const [serverLink, ownLink] = [`pk${lab.id}x`, `pk${lab.id}y`];
    runChecked('ip', ['netns', 'add', this.netns]);
    runChecked('ip', ['-n', this.netns, 'link', 'set', 'lo', 'up']);
    runChecked('ip', ['link', 'add', ownLink, 'netns', this.netns, 'type', 'veth', 'peer', 'name', serverLink]);
    runChecked('ip', ['link', 'set', serverLink, 'netns', lab.server.netns]);
    for (const [netns, link, v4, v6] of [
      [lab.server.netns, serverLink, '10.201.1.1/24', 'fd70:6c::1/64'],
      [this.netns, ownLink, '10.201.1.2/24', 'fd70:6c::2/64'],
    ] as const) {
      runChecked('ip', ['-n', netns, 'addr', 'add', v4, 'dev', link]);
      runChecked('ip', ['-n', netns, '-6', 'addr', 'add', v6, 'dev', link, 'nodad']);
      runChecked('ip', ['-n', netns, 'link', 'set', link, 'up']);
    }
    runChecked('ip', ['-n', this.netns, 'route', 'add', 'default', 'via', '10.201.1.1']);
    runChecked('ip', ['-n', this.netns, '-6', 'route', 'add', 'default', 'via', 'fd70:6c::1']);
  }

  remove(): void {
    removeNamespaces([this.netns]);
  }
}

type Where = 'client' | 'third';

describe('one-time knocks (nftables): single use, clock skew, many keys', () => {
  const alice = newSecret();
  const bob = newSecret();
  let lab: Lab;
  let third: ThirdNamespace | undefined;

  const netns = (where: Where): string => (where === 'client' ? lab.client.netns : (third?.netns ?? ''));
  const address = (family: Family): string => (family === 'ipv6' ? lab.server.ipv6 : lab.server.ipv4);
  /** The pattern of `secret` for the slot a clock `offsetSeconds` off from this one is in. */
  const pattern = (secret: Secret, offsetSeconds = 0): string =>
    rollingPatternHex(secret, slotAt(Date.now() / 1000 + offsetSeconds));
  /** `ping -p` as iputils sends it; true when the echo reply came. */
  const ping = async (where: Where, family: Family, hex: string): Promise<boolean> => {
    const args = ['netns', 'exec', netns(where), 'ping', family === 'ipv6' ? '-6' : '-4', '-c1', '-W2', '-p', hex];
    return (await run('ip', [...args, address(family)], { timeoutMs: 10_000 })).code === 0;
  };
  const bsdPing = async (where: Where, family: Family, hex: string): Promise<boolean> => {
    const args = ['netns', 'exec', netns(where), 'python3', BSD_KNOCK, family === 'ipv6' ? '6' : '4'];
    return (await run('ip', [...args, address(family), hex], { timeoutMs: 10_000 })).code === 0;
  };
  /** Whether a TCP connection to port 22 gets through (sshd answers) within 2 s. */
  const connects = async (where: Where, family: Family): Promise<boolean> => {
    const args = ['netns', 'exec', netns(where), 'python3', '-c', CONNECT, address(family)];
    return (await run('ip', args, { timeoutMs: 10_000 })).code === 0;
  };
  const nft = (...args: string[]): string => runChecked('ip', ['netns', 'exec', lab.server.netns, 'nft', ...args]);
  /** Forgets the knocked sources, the used patterns and the replay count: the server as just loaded. */
  const forgetAll = (): void => {
    lab.forgetKnocks();
    for (const set of [NFT_ONCE.used, ...Object.values(NFT_ONCE.usedBy)]) nft('flush', 'set', 'inet', NFT_TABLE, set);
    nft('reset', 'counter', 'inet', NFT_TABLE, NFT_ONCE.replays);
  };
  const replays = (): number => {
    const listing = nft('list', 'counter', 'inet', NFT_TABLE, NFT_ONCE.replays);
    return Number(/packets (\d+)/.exec(listing)?.[1] ?? Number.NaN);
  };

  beforeAll(async () => {
    lab = await Lab.create({ secret: alice, serverFirewall: 'bare' });
    third = new ThirdNamespace(lab);
    const yesterday = slotAt(Date.now() / 1000).day - 1;
    const keys = [rollingKey('alice@client', alice, yesterday, 3), rollingKey('bob@third', bob, yesterday, 3)];
    lab.loadServerRules(renderNftables(buildRuleModel({ keys, port: lab.port, windowSeconds: 60 })));
  });
  afterAll(() => {
    third?.remove();
    lab?.destroy();
  });

  describe.each(FAMILIES)('%s', (family) => {
    it('a knock opens the port once: a replay from elsewhere is answered and counted, but opens nothing', async () => {
      forgetAll();
      expect(await connects('client', family), 'open before any knock').toBe(false);
      const knock = pattern(alice);
      expect(await ping('client', family, knock)).toBe(true);
      expect(await connects('client', family)).toBe(true);

      expect(await ping('third', family, knock), 'a replay is answered like any ping').toBe(true);
      expect(await connects('third', family), 'the replay opened the port').toBe(false);
      expect(replays()).toBe(1);
      expect(await connects('client', family), 'the replay closed the port to the client').toBe(true);

      // Lost replies: the client sends the same knock again, and it opens the port again.
      lab.forgetKnocks();
      expect(await connects('client', family)).toBe(false);
      expect(await ping('client', family, knock)).toBe(true);
      expect(await connects('client', family)).toBe(true);
      expect(replays()).toBe(1);
    });

    it("neither the static secret's hex nor a pattern three slots old opens the port", async () => {
      forgetAll();
      for (const old of [secretToHex(alice), pattern(alice, -3 * SLOT_SECONDS)]) {
        expect(await ping('client', family, old), 'answered like any ping').toBe(true);
        expect(await connects('client', family)).toBe(false);
      }
      expect(replays()).toBe(0);
    });

    it('a clock 200 s fast or slow still gets in; 20 minutes fast or slow does not', async () => {
      for (const offset of [200, -200]) {
        forgetAll();
        expect(await ping('client', family, pattern(alice, offset))).toBe(true);
        expect(await connects('client', family), `clock off by ${offset} s`).toBe(true);
      }
      forgetAll();
      for (const offset of [1200, -1200]) {
        expect(await ping('client', family, pattern(alice, offset))).toBe(true);
        expect(await connects('client', family), `clock off by ${offset} s`).toBe(false);
      }
    });

    it('two keys knocking in the same slot both get in', async () => {
      forgetAll();
      expect(await ping('client', family, pattern(alice))).toBe(true);
      expect(await ping('third', family, pattern(bob))).toBe(true);
      expect(await connects('client', family)).toBe(true);
      expect(await connects('third', family)).toBe(true);
      expect(replays()).toBe(0);
    });

    it('a knock shaped like BSD ping opens the port, and its replay in the iputils shape is refused', async () => {
      forgetAll();
      const knock = pattern(alice);
      expect(await bsdPing('client', family, knock)).toBe(true);
      expect(await connects('client', family)).toBe(true);
      expect(await ping('third', family, knock)).toBe(true);
      expect(await connects('third', family)).toBe(false);
      expect(replays()).toBe(1);
    });
  });

  it('shows the replays in `nft list` with what they are', () => {
    forgetAll();
    expect(nft('list', 'chain', 'inet', NFT_TABLE, 'once-iputils4')).toMatch(
      /@th,192,128 @used counter name "replays" accept comment "replayed: answered, opens nothing"/,
    );
  });
});

describe('rules --rolling --apply on the server', () => {
  const secret = newSecret();
  let lab: Lab;
  let secretFile: string;

  const inServer = (...args: string[]): string => runChecked('ip', ['netns', 'exec', lab.server.netns, ...args]);
  /** The table as nft lists it in UTC, without what traffic changes. */
  const table = (): string =>
    inServer('env', 'TZ=UTC0', 'nft', 'list', 'table', 'inet', NFT_TABLE).replace(/packets \d+ bytes \d+/g, '');
  const rules = async (env: NodeJS.ProcessEnv, ...args: string[]): Promise<void> => {
    const applied = await lab.onServer(
      'pingknock',
      ['rules', '--rolling', '--secret-file', secretFile, '--state-dir', join(lab.dir, 'state'), '--apply', ...args],
      { timeoutMs: 60_000, env: { ...lab.env, ...env } },
    );
    expect(applied.code, applied.stderr).toBe(0);
  };

  beforeAll(async () => {
    lab = await Lab.create({ secret, serverFirewall: 'existing' });
    secretFile = join(lab.dir, 'server-secret');
    writeFileSync(secretFile, `${secret}\n`, { mode: 0o600 });
  });
  afterAll(() => lab?.destroy());

  it("finds this nft new enough: the probe passes on the server's nft", async () => {
    const result = await run('ip', ['netns', 'exec', lab.server.netns, 'sh', '-s'], { input: rollingProbeScript() });
    expect(result.code, result.stderr).toBe(0);
    // The probe only checks: it loads nothing.
    expect(inServer('nft', 'list', 'tables')).not.toContain(NFT_TABLE);
  });

  it('loads the one-time rules for a key, and its current pattern opens the port', async () => {
    await rules({}, '--horizon', '2', '--key-name', 'me@laptop');
    expect(inServer('nft', 'list', 'chain', 'inet', NFT_TABLE, 'rolling').match(/goto day-/g)).toHaveLength(2);

    const knock = async (hex: string): Promise<void> => {
      const result = await lab.onClient('ping', ['-c1', '-W2', '-p', hex, lab.server.ipv4], { timeoutMs: 10_000 });
      expect(result.code, result.stderr).toBe(0);
    };
    const connects = async (): Promise<boolean> =>
      (await lab.onClient('python3', ['-c', CONNECT, lab.server.ipv4], { timeoutMs: 10_000 })).code === 0;
    lab.forgetKnocks();
    await knock(secretToHex(secret));
    expect(await connects(), 'the static secret opened one-time rules').toBe(false);
    await knock(rollingPatternHex(secret, slotAt(Date.now() / 1000)));
    expect(await connects()).toBe(true);
  });

  it('rolls back to the earlier one-time rules on a server whose clock is set west of UTC', async () => {
    // nft lists `meta hour` in local time, and west of UTC as hours it cannot read back.
    const newYork = { TZ: 'America/New_York' };
    await rules(newYork, '--horizon', '2', '--key-name', 'me@laptop');
    const before = table();
    await rules(newYork, '--horizon', '3', '--key-name', 'me@laptop', '--rollback', '3');
    expect(table()).not.toBe(before);
    let restored = table();
    for (let waited = 0; waited < 30_000 && restored !== before; waited += 500) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      restored = table();
    }
    expect(restored).toBe(before);
  });
});
