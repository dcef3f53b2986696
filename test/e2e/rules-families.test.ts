import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, LAB_HOSTS } from '../../src/lab/lab.js';
import { labUfw, listServerRules } from '../support/lab-server.js';
import { run } from '../../src/edge/exec.js';
import type { Family } from '../../src/core/layout.js';
import type { Secret } from '../../src/core/secret.js';
import { newSecret } from './fixture.js';
import { EMPTY_FILTER, expectAllOpen, expectEachFamilyGuarded, FAMILIES } from './families.js';

/**
 * `rules --apply` guards IPv4 and IPv6 unless --family narrows it (iptables: with ip6tables too),
 * and on iptables its rollback takes back only what pingknock changed: a rule added after the
 * apply, a fail2ban ban say, is still there once the rollback has run.
 */

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
/** Long enough for the rule to go in while the rollback is pending, which each test checks. */
const ROLLBACK_SECONDS = 8;
const BANNED: Readonly<Record<Family, string>> = { ipv4: '10.201.0.77', ipv6: 'fd70:6b::77' };

class RulesLab {
  readonly secretFile: string;
  private readonly otherSecretFile: string;

  /** `secret`: the lab's, which its aliases knock with; a second one stands for an earlier ruleset's. */
  constructor(
    readonly lab: Lab,
    secret: Secret,
  ) {
    this.secretFile = join(lab.dir, 'server-secret');
    this.otherSecretFile = join(lab.dir, 'server-secret-2');
    writeFileSync(this.secretFile, `${secret}\n`, { mode: 0o600 });
    writeFileSync(this.otherSecretFile, `${newSecret()}\n`, { mode: 0o600 });
  }

  stateDir(tag: string): string {
    return join(this.lab.dir, `state-${tag}`);
  }

  async rules(args: readonly string[]): Promise<void> {
    const result = await this.lab.onServer('pingknock', ['rules', ...args], { timeoutMs: 30_000 });
    expect(result.code, result.stderr).toBe(0);
  }

  async apply(backend: string, stateDir: string, ...extra: string[]): Promise<void> {
    await this.rules([
      '--backend',
      backend,
      '--secret-file',
      this.secretFile,
      '--state-dir',
      stateDir,
      '--apply',
      ...extra,
    ]);
  }

  async applyOther(backend: string, stateDir: string, ...extra: string[]): Promise<void> {
    await this.rules([
      '--backend',
      backend,
      '--secret-file',
      this.otherSecretFile,
      '--state-dir',
      stateDir,
      '--apply',
      ...extra,
    ]);
  }

  async onServer(file: string, args: readonly string[], input = ''): Promise<void> {
    const result = await this.lab.onServer(file, args, { input });
    expect(result.code, `${file} ${args.join(' ')}: ${result.stderr}`).toBe(0);
  }
}

describe('rules --apply --backend iptables: both families, and a rollback that keeps the rules others added', () => {
  let lab: Lab;
  let rules: RulesLab;
  let pristine: string;

  beforeAll(async () => {
    const secret = newSecret();
    lab = await Lab.create({ secret, serverFirewall: 'bare' });
    rules = new RulesLab(lab, secret);
    for (const variant of ['', '-legacy', '-nft']) {
      for (const program of ['iptables', 'ip6tables'])
        await rules.onServer(`${program}${variant}-restore`, ['-w'], EMPTY_FILTER);
    }
    pristine = listServerRules(lab);
  });
  afterAll(() => lab?.destroy());

  it('guards IPv4 and IPv6 without --family, and --remove restores both', async () => {
    const state = rules.stateDir('families');
    await rules.apply('iptables', state);
    await expectEachFamilyGuarded(lab, LAB_HOSTS.knocked);
    await rules.rules(['--backend', 'iptables', '--state-dir', state, '--remove']);
    expect(listServerRules(lab)).toBe(pristine);
  }, 60_000);

  /**
   * Applies with a rollback, bans an address in each family while it is pending, and waits for the rollback to have
   * run.
   */
  async function banDuringRollback(applied: () => Promise<void>, variant: string, state: string): Promise<void> {
    await applied();
    for (const family of FAMILIES)
      await rules.onServer(program(family, variant), ['-w', '-I', 'INPUT', '-s', BANNED[family], '-j', 'DROP']);
    expect(existsSync(join(state, 'armed')), 'the rollback fired before the bans went in').toBe(true);
    const sleeper = `pingknock-rollback ${ROLLBACK_SECONDS} ${state}`;
    for (
      let waited = 0;
      waited < (ROLLBACK_SECONDS + 20) * 1000 && (await run('pgrep', ['-f', sleeper])).code === 0;
      waited += 200
    )
      await sleep(200);
    expect((await run('pgrep', ['-f', sleeper])).stdout.toString()).toBe('');
    expect(existsSync(join(state, 'armed'))).toBe(false);
  }

  /** The bans are in place; taken out again, the ruleset is `expected`. */
  async function expectBansKeptOver(expected: string, variant: string): Promise<void> {
    for (const family of FAMILIES)
      await rules.onServer(program(family, variant), ['-w', '-C', 'INPUT', '-s', BANNED[family], '-j', 'DROP']);
    for (const family of FAMILIES)
      await rules.onServer(program(family, variant), ['-w', '-D', 'INPUT', '-s', BANNED[family], '-j', 'DROP']);
    expect(listServerRules(lab)).toBe(expected);
  }

  it.each(['-legacy', '-nft'])(
    'rollback with no earlier pingknock rules: its chains and jump go, a ban added meanwhile stays (iptables%s)',
    async (variant) => {
      const state = rules.stateDir(`fresh${variant}`);
      await banDuringRollback(
        () => rules.apply('iptables', state, '--tool', `iptables${variant}`, '--rollback', String(ROLLBACK_SECONDS)),
        variant,
        state,
      );
      await expectBansKeptOver(pristine, variant);
    },
    60_000,
  );

  it.each(['-legacy', '-nft'])(
    'rollback over an earlier pingknock ruleset: its chains come back, the jump stays where it was, ' +
      'a ban added meanwhile stays (iptables%s)',
    async (variant) => {
      const state = rules.stateDir(`earlier${variant}`);
      await rules.applyOther('iptables', state, '--tool', `iptables${variant}`);
      const earlier = listServerRules(lab);
      await banDuringRollback(
        () => rules.apply('iptables', state, '--tool', `iptables${variant}`, '--rollback', String(ROLLBACK_SECONDS)),
        variant,
        state,
      );
      // Each ban went in above the jump, and is still above it.
      for (const family of FAMILIES) {
        const input = await lab.onServer(program(family, variant), ['-w', '-S', 'INPUT']);
        expect(
          input.stdout
            .toString()
            .split('\n')
            .filter((line) => line.startsWith('-A INPUT'))
            .slice(0, 2),
        ).toEqual([`-A INPUT -s ${BANNED[family]}/${family === 'ipv6' ? 128 : 32} -j DROP`, '-A INPUT -j knock']);
      }
      await expectBansKeptOver(earlier, variant);
      await rules.rules(['--backend', 'iptables', '--tool', `iptables${variant}`, '--state-dir', state, '--remove']);
      expect(listServerRules(lab)).toBe(pristine);
    },
    60_000,
  );
});

describe('rules --apply --backend ufw: both families', () => {
  let lab: Lab;
  let rules: RulesLab;

  beforeAll(async () => {
    const secret = newSecret();
    lab = await Lab.create({ secret, serverFirewall: 'bare', features: [labUfw] });
    rules = new RulesLab(lab, secret);
    await rules.onServer('ufw', ['allow', `${lab.port}/tcp`]);
  });
  afterAll(() => lab?.destroy());

  it('guards IPv4 and IPv6 without --family, and --remove opens both again', async () => {
    const state = rules.stateDir('ufw');
    await rules.apply('ufw', state);
    await expectEachFamilyGuarded(lab, LAB_HOSTS.knocked);
    await rules.rules(['--backend', 'ufw', '--state-dir', state, '--remove']);
    await expectAllOpen(lab);
  }, 60_000);
});

function program(family: Family, variant: string): string {
  return `${family === 'ipv6' ? 'ip6tables' : 'iptables'}${variant}`;
}
