import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRegistry } from '../../src/core/rules/registry.js';
import { isoDate, SLOT_SECONDS, slotAt } from '../../src/core/rolling.js';
import { Lab, LAB_HOSTS } from '../../src/lab/lab.js';
import { DEBIAN_NFTABLES_CONF, EnrollLab } from '../support/enroll-lab.js';
import { listServerRules } from '../support/lab-server.js';
import { EMPTY_FILTER } from './families.js';
import { newSecret } from './fixture.js';

/**
 * Many keys on one server: two clients (two aliases, two secrets, two key names) enrolled on it,
 * each getting in with its own knock; revoke, renew, rotate and unenroll changing one key and
 * leaving the other's knock working, through the same apply, proof and confirm as enroll.
 */

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const currentSlot = (): number => {
  const { day, slot } = slotAt(Date.now() / 1000);
  return day * 1000 + slot;
};

/**
 * Runs `steps` until one run lies wholly inside one 256-s slot (a slow machine can cross a slot's end
 * however early a run starts); each run's own expectations must hold every time.
 */
async function withinOneSlot(steps: () => Promise<void>): Promise<void> {
  for (let run = 1; run <= 3; run += 1) {
    const left = SLOT_SECONDS - ((Date.now() / 1000) % SLOT_SECONDS);
    if (left < 60) await sleep(left * 1000 + 500);
    const slot = currentSlot();
    await steps();
    if (currentSlot() === slot) return;
  }
  throw new Error('three runs each crossed the end of a slot');
}

function keysOf(client: EnrollLab): { name: string; kind: string; days?: number }[] {
  const registry = parseRegistry(readFileSync(client.registryFile(), 'utf8'), 'the key list');
  return registry.keys.map((key) =>
    key.kind === 'rolling' ? { name: key.name, kind: key.kind, days: key.days } : { name: key.name, kind: key.kind },
  );
}

/** `pingknock keys` lists exactly these lines after its header. */
async function expectKeysListed(client: EnrollLab, rows: readonly RegExp[]): Promise<void> {
  const listed = await client.command('keys');
  expect(listed.code, listed.stderr).toBe(0);
  const lines = listed.stdout.toString().trimEnd().split('\n');
  expect(lines[0]).toMatch(/^NAME +KIND +UNTIL \(UTC\)$/);
  expect(lines.length - 1).toBe(rows.length);
  rows.forEach((row, index) => expect(lines[index + 1]).toMatch(row));
}

describe('two clients, each with its own key, on one nftables server', () => {
  let lab: Lab;
  let alpha: EnrollLab;
  let beta: EnrollLab;
  let pristine: string;
  const today = (): number => slotAt(Date.now() / 1000).day;

  beforeAll(async () => {
    lab = await Lab.create({ secret: newSecret(), serverFirewall: 'bare' });
    alpha = new EnrollLab(lab, undefined, '', 'alpha');
    beta = alpha.as('beta');
    pristine = listServerRules(lab);
  });
  afterAll(() => lab?.destroy());

  it('enrolls a second alias only --via the first, keeps the first, and both get in within one slot', async () => {
    const first = await alpha.enroll('--key-name', 'alice@a');
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain('adds the key alice@a (one-time knocks through');
    const afterAlpha = listServerRules(lab);

    // The port is protected now (alpha's proof knocked a moment ago: that is forgotten first): a
    // login without a knock times out, and enroll says what to do.
    lab.forgetKnocks();
    const refused = await beta.enroll('--key-name', 'bob@b');
    expect(refused.code, refused.stderr).toBe(13);
    expect(refused.stderr).toContain('pingknock enroll beta --via OTHER_ALIAS');
    expect(listServerRules(lab)).toBe(afterAlpha);

    const second = await beta.enroll('--key-name', 'bob@b', '--via', 'alpha');
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain('logged in to beta through the knock of alpha');
    expect(second.stderr).toContain('beta uses nftables (its key list says so)');
    expect(second.stderr).toContain('adds the key bob@b (one-time knocks through');
    expect(second.stderr).toContain('; keeps alice@a');
    expect(second.stderr).toContain('proof 2: a new connection through pingknock proxy logs in');
    expect(keysOf(alpha)).toEqual([
      { name: 'alice@a', kind: 'rolling', days: 30 },
      { name: 'bob@b', kind: 'rolling', days: 30 },
    ]);
    expect(alpha.secretFile()).not.toBe(beta.secretFile());
    expect(readFileSync(alpha.secretFile(), 'utf8')).not.toBe(readFileSync(beta.secretFile(), 'utf8'));

    // Each knock on its own (the knocks before are forgotten), in one and the same slot.
    await withinOneSlot(async () => {
      await alpha.expectKnockedLogin();
      await beta.expectKnockedLogin();
      await alpha.expectKnockedLogin();
    });
    await alpha.expectClosedWithoutKnock();

    const until = isoDate(today() + 29);
    await expectKeysListed(alpha, [
      new RegExp(`^alice@a +one-time +${until} \\(from ${isoDate(today())}\\) +this alias$`),
      new RegExp(`^bob@b +one-time +${until} \\(from ${isoDate(today())}\\)$`),
    ]);
  }, 300_000);

  it("revokes the other's key: only it is locked out; its own key it refuses", async () => {
    const own = await alpha.command('revoke', 'alice@a');
    expect(own.code, own.stderr).toBe(2);
    expect(own.stderr).toContain("alice@a is alpha's own key: pingknock unenroll alpha takes it off the server");

    const revoked = await alpha.command('revoke', 'bob@b');
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stderr).toContain('proof 2: a new connection through pingknock proxy logs in');
    expect(revoked.stderr).toContain('revoked bob@b on alpha');
    expect(keysOf(alpha).map((key) => key.name)).toEqual(['alice@a']);
    await beta.expectLockedOut();
    await alpha.expectKnockedLogin();
  }, 180_000);

  it('renews: a new horizon from today, in the key list and in the ProxyCommand', async () => {
    const renewed = await alpha.command('renew', '--horizon', '5');
    expect(renewed.code, renewed.stderr).toBe(0);
    const until = isoDate(today() + 4);
    expect(renewed.stderr).toContain(`renewed: one-time knocks for alpha now run through ${until}`);
    expect(alpha.proxyCommand()).toMatch(
      new RegExp(`^ProxyCommand pingknock proxy --name alpha --rolling-until ${until}( --fdpass)? %h %p$`),
    );
    expect(keysOf(alpha)).toEqual([{ name: 'alice@a', kind: 'rolling', days: 5 }]);
    const record = JSON.parse(readFileSync(alpha.recordFile(), 'utf8')) as { server: { key: unknown } };
    expect(record.server.key).toEqual({ name: 'alice@a', kind: 'rolling', horizonDays: 5, until });
    await alpha.expectKnockedLogin();
  }, 180_000);

  it('rotates: the new secret gets in, the old one no longer does', async () => {
    const old = readFileSync(alpha.secretFile(), 'utf8');
    const rotated = await alpha.command('rotate');
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(rotated.stderr).toContain('the new secret knocks: retiring the old one of alice@a');
    expect(rotated.stderr).toContain('rotated: alpha knocks with a new secret');
    expect(readFileSync(alpha.secretFile(), 'utf8')).not.toBe(old);
    expect(readdirSync(join(lab.home, '.ssh', 'pingknock', '.rotating'))).toEqual([]);
    expect(keysOf(alpha)).toEqual([{ name: 'alice@a', kind: 'rolling', days: 5 }]);
    await alpha.expectKnockedLogin();

    // The old secret, knocking as alpha's ProxyCommand would: the port stays closed to it.
    const oldFile = join(lab.dir, 'alpha-old-secret');
    writeFileSync(oldFile, old, { mode: 0o600 });
    const until = isoDate(today() + 4);
    lab.forgetKnocks();
    const withOld = await lab.onClient(
      'ssh',
      [
        '-F',
        alpha.config,
        '-o',
        `ProxyCommand=pingknock proxy --secret-file ${oldFile} --rolling-until ${until} %h %p`,
        'alpha',
        'true',
      ],
      { timeoutMs: 30_000 },
    );
    expect(withOld.code, withOld.stderr).toBe(255);
    await alpha.expectKnockedLogin();
  }, 300_000);

  it("does not let a second alias's default key name replace the first's, made from another secret", async () => {
    const gamma = alpha.as('gamma');
    const delta = alpha.as('delta');
    const first = await gamma.enroll('--via', 'alpha');
    expect(first.code, first.stderr).toBe(0);
    const name = /adds the key (\S+) /.exec(first.stderr)?.[1] ?? '';
    expect(name).toMatch(/^root@/);

    const refused = await delta.enroll('--via', 'alpha');
    expect(refused.code, refused.stderr).toBe(2);
    expect(refused.stderr).toContain(`delta already has a key named ${name} with another secret`);
    expect(refused.stderr).toContain('give this one a name of its own with --key-name NAME');
    expect(keysOf(alpha).map((key) => key.name)).toEqual(['alice@a', name]);
    await gamma.expectKnockedLogin();

    for (const client of [gamma, delta]) {
      const gone = await client.unenroll('--via', 'alpha');
      expect(gone.code, gone.stderr).toBe(0);
    }
    expect(keysOf(alpha).map((key) => key.name)).toEqual(['alice@a']);
  }, 300_000);

  it('unenrolls one key and leaves the other working; the last one takes everything away', async () => {
    const again = await beta.enroll('--key-name', 'bob@b', '--via', 'alpha');
    expect(again.code, again.stderr).toBe(0);
    await beta.expectKnockedLogin();

    const gone = await beta.unenroll('--via', 'alpha');
    expect(gone.code, gone.stderr).toBe(0);
    expect(gone.stderr).toContain('proof 2: a new connection through pingknock proxy as alpha logs in');
    expect(gone.stderr).toContain('beta is unenrolled: its key is off the server, which keeps alice@a');
    expect(readFileSync(alpha.config, 'utf8')).not.toContain('Host beta');
    expect(keysOf(alpha).map((key) => key.name)).toEqual(['alice@a']);
    await alpha.expectKnockedLogin();

    const last = await alpha.unenroll();
    expect(last.code, last.stderr).toBe(0);
    expect(last.stderr).toContain("alpha is unenrolled: pingknock's rules are off the server");
    expect(listServerRules(lab)).toBe(pristine);
    expect(readFileSync(alpha.config, 'utf8')).toBe(alpha.originalConfig);
    expect(readFileSync(alpha.bootConfig, 'utf8')).toBe(DEBIAN_NFTABLES_CONF);
    expect(existsSync(alpha.registryFile())).toBe(false);
    expect(existsSync(join(alpha.persistDir, 'pingknock.nft'))).toBe(false);
    await alpha.expectOpenWithoutKnock();
  }, 300_000);
});

describe('two static keys on an iptables server', () => {
  let lab: Lab;
  let alpha: EnrollLab;
  let beta: EnrollLab;
  let pristine: string;

  beforeAll(async () => {
    lab = await Lab.create({ secret: newSecret(), serverFirewall: 'bare' });
    for (const restore of ['iptables-restore', 'ip6tables-restore']) {
      const loaded = await lab.onServer(restore, ['-w'], { input: EMPTY_FILTER });
      expect(loaded.code, loaded.stderr).toBe(0);
    }
    alpha = new EnrollLab(lab, undefined, '', 'alpha');
    beta = alpha.as('beta');
    pristine = listServerRules(lab);
  });
  afterAll(() => lab?.destroy());

  it('enrolls both with static knocks, lets each in, and each unenroll takes only its own key', async () => {
    const first = await alpha.enroll('--backend', 'iptables', '--key-name', 'alice@a');
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain('iptables cannot refuse a replayed knock');
    expect(first.stderr).toContain('adds the key alice@a (static knocks)');
    expect(alpha.proxyCommand()).toMatch(/^ProxyCommand pingknock proxy --name alpha( --fdpass)? %h %p$/);

    const second = await beta.enroll('--key-name', 'bob@b', '--via', 'alpha');
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain('beta uses iptables (its key list says so)');
    expect(second.stderr).toContain('; keeps alice@a');
    expect(keysOf(alpha)).toEqual([
      { name: 'alice@a', kind: 'static' },
      { name: 'bob@b', kind: 'static' },
    ]);
    await alpha.expectKnockedLogin();
    await beta.expectKnockedLogin();
    await alpha.expectClosedWithoutKnock();
    await expectKeysListed(beta, [/^alice@a +static +-$/, /^bob@b +static +- +this alias$/]);

    const betaSecret = readFileSync(beta.secretFile(), 'utf8').trim();
    const gone = await beta.unenroll('--via', 'alpha');
    expect(gone.code, gone.stderr).toBe(0);
    expect(gone.stderr).toContain('beta is unenrolled: its key is off the server, which keeps alice@a');
    await alpha.expectKnockedLogin();
    // beta's secret knocks in vain now: answered or not, the port stays closed to it.
    lab.forgetKnocks();
    await lab.onClient('pingknock', ['knock', lab.server.ipv4, '--secret-file', '-'], {
      input: `${betaSecret}\n`,
      timeoutMs: 20_000,
    });
    const after = await lab.ssh(['-o', 'ConnectTimeout=2', LAB_HOSTS.direct, 'true'], { timeoutMs: 20_000 });
    expect(after.code, after.stderr).toBe(255);
    expect(after.stderr).toMatch(/timed out/);

    const last = await alpha.unenroll();
    expect(last.code, last.stderr).toBe(0);
    expect(last.stderr).toContain("removed pingknock's iptables rules from alpha");
    expect(listServerRules(lab)).toBe(pristine);
    expect(readFileSync(alpha.config, 'utf8')).toBe(alpha.originalConfig);
    expect(existsSync(alpha.registryFile())).toBe(false);
    await alpha.expectOpenWithoutKnock();
  }, 300_000);
});
