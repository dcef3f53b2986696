import { execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, LAB_HOSTS } from '../../src/lab/lab.js';
import { applyScript } from '../../src/core/rules/apply.js';
import { nftIncludeLines } from '../../src/core/rules/persist.js';
import { parseSecret, secretToHex } from '../../src/core/secret.js';
import { buildRuleModel, DEFAULT_HORIZON_DAYS, rollingKey } from '../../src/core/rules/model.js';
import { renderNftables } from '../../src/core/rules/nftables.js';
import { parseRegistry } from '../../src/core/rules/registry.js';
import { isoDate, slotAt } from '../../src/core/rolling.js';
import { newSecret, nftRules } from './fixture.js';
import { killTree, start } from '../support/spawned.js';
import { LAB_ACCOUNTS, labAccounts } from '../support/lab-accounts.js';
import { labUfw, listServerRules } from '../support/lab-server.js';
import { ALIAS, DEBIAN_NFTABLES_CONF, EnrollLab } from '../support/enroll-lab.js';
import { EMPTY_FILTER, expectEachFamilyGuarded } from './families.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A server whose own earlier rules drop every ping, before pingknock's chain (priority filter - 10) sees it. */
/**
 * IPv6's port 22 sent on to a port of its own, past pingknock's rules (which guard port 22), where
 * a listener answers as an SSH server would: a family left open, whatever the reason.
 */
const IPV6_FORWARDED = `table ip6 forwarded {
\tchain prerouting {
\t\ttype nat hook prerouting priority dstnat; policy accept;
\t\ttcp dport 22 redirect to :2222
\t}
}
`;
const SSH_ELSEWHERE = String.raw`
require('node:net')
  .createServer((socket) => socket.end('SSH-2.0-elsewhere\r\n'))
  .listen(2222, '::', () => process.stdout.write('listening\n'));
`;

const BLOCK_PINGS = `table inet blockping {
\tchain input {
\t\ttype filter hook input priority filter - 20; policy accept;
\t\ticmp type echo-request drop
\t\ticmpv6 type echo-request drop
\t}
}
`;

describe('pingknock enroll and unenroll: a bare nftables server with a real sshd', () => {
  let lab: Lab;
  let client: EnrollLab;
  let pristine: string;
  let enrolledAt = 0;
  const ROLLBACK_SECONDS = 20;

  beforeAll(async () => {
    lab = await Lab.create({ secret: newSecret(), serverFirewall: 'bare' });
    client = new EnrollLab(lab);
    pristine = listServerRules(lab);
  });
  afterAll(() => lab?.destroy());

  it('enrolls: both proofs hold afterwards, the rollback is disarmed, the rules load at boot', async () => {
    enrolledAt = Date.now();
    const result = await client.enroll('--rollback', String(ROLLBACK_SECONDS));
    const stderr = result.stderr;
    expect(result.code, stderr).toBe(0);
    expect(stderr).toContain(
      `proof 1: a new connection without a knock times out, also over IPv6 at ${lab.server.ipv6}\n`,
    );
    expect(stderr).toContain(
      `proof 2 over IPv6 (${lab.server.ipv6}): after a knock, a new connection gets an answer\n`,
    );
    expect(stderr).toContain('proof 2: a new connection through pingknock proxy logs in');
    expect(stderr).toContain(`${ALIAS} is enrolled`);
    // Unlike setup, enroll prints no next steps: nothing holds the secret, nor its pattern.
    expect(result.stdout.toString()).toBe('');
    const secret = parseSecret(readFileSync(client.secretFile()), 'the secret setup made');
    expect(stderr).not.toContain(secret);
    expect(stderr).not.toContain(secretToHex(secret));

    await client.expectClosedWithoutKnock();
    await client.expectKnockedLogin();

    expect(existsSync(join(client.stateDir, 'armed'))).toBe(false);
    expect(await client.rollbackSleepers()).toBe('');
    const table = await lab.onServer('nft', ['list', 'table', 'inet', 'pingknock']);
    expect(table.code, table.stderr).toBe(0);

    // One-time knocks, nftables' default: the rules kept for boot are those of the key list, which holds
    // this client's key as its patterns (never the secret), through the default 30 days.
    const registry = parseRegistry(readFileSync(client.registryFile(), 'utf8'), 'the key list');
    expect(statSync(client.registryFile()).mode & 0o777).toBe(0o600);
    expect(registry.keys).toEqual([
      rollingKey(registry.keys[0]?.name ?? '', secret, slotAt(enrolledAt / 1000).day, DEFAULT_HORIZON_DAYS),
    ]);
    expect(readFileSync(client.registryFile(), 'utf8')).not.toContain(secretToHex(secret));
    const persisted = join(client.persistDir, 'pingknock.nft');
    expect(readFileSync(persisted, 'utf8')).toBe(
      renderNftables(buildRuleModel({ keys: registry.keys, port: 22, windowSeconds: 60 })),
    );
    expect(statSync(persisted).mode & 0o777).toBe(0o600);
    const lastDay = isoDate(slotAt(enrolledAt / 1000).day + DEFAULT_HORIZON_DAYS - 1);
    expect(client.proxyCommand()).toMatch(
      new RegExp(`^ProxyCommand pingknock proxy --name ${ALIAS} --rolling-until ${lastDay}( --fdpass)? %h %p$`),
    );
    expect(readFileSync(client.bootConfig, 'utf8')).toBe(
      `${DEBIAN_NFTABLES_CONF}${nftIncludeLines(client.persistDir).plain}\n`,
    );
    expect(statSync(client.bootConfig).mode & 0o777).toBe(0o755);
    // What the boot configuration loads is what runs now.
    const check = await lab.onServer('nft', ['-c', '-f', client.bootConfig]);
    expect(check.code, check.stderr).toBe(0);

    // unenroll's record: what setup added, and how the server was set up.
    const record = JSON.parse(readFileSync(client.recordFile(), 'utf8')) as {
      configAddition: { added: string[] };
      server: unknown;
    };
    expect(record.configAddition.added).toContain(`Host ${ALIAS}`);
    expect(record.configAddition.added).toContain(`    ${client.proxyCommand()}`);
    expect(record.server).toEqual({
      backend: 'nftables',
      stateDir: client.stateDir,
      persistDir: client.persistDir,
      key: { name: registry.keys[0]?.name, kind: 'rolling', horizonDays: DEFAULT_HORIZON_DAYS, until: lastDay },
    });
  }, 120_000);

  it('keeps the rules past the rollback time it was given: the rollback really is cancelled', async () => {
    const applied = listServerRules(lab);
    expect(applied).not.toBe(pristine);
    await sleep(Math.max(0, enrolledAt + (ROLLBACK_SECONDS + 3) * 1000 - Date.now()));
    expect(listServerRules(lab)).toBe(applied);
    await client.expectClosedWithoutKnock();
  }, 60_000);

  it(
    'unenroll restores the ruleset exactly, ' + 'the ssh config and nftables.conf byte for byte, and keeps the secret',
    async () => {
      const result = await client.unenroll();
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).toContain(`${ALIAS} is unenrolled`);
      expect(listServerRules(lab)).toBe(pristine);
      expect(readFileSync(client.config, 'utf8')).toBe(client.originalConfig);
      expect(readFileSync(client.bootConfig, 'utf8')).toBe(DEBIAN_NFTABLES_CONF);
      expect(existsSync(join(client.persistDir, 'pingknock.nft'))).toBe(false);
      expect(existsSync(client.registryFile())).toBe(false);
      expect(existsSync(client.secretFile())).toBe(true);
      expect(existsSync(client.recordFile())).toBe(false);
      await client.expectOpenWithoutKnock();
    },
    120_000,
  );

  it('fails and rolls back at once when the knock cannot work (pings dropped before pingknock sees them)', async () => {
    lab.loadServerRules(BLOCK_PINGS);
    try {
      const before = listServerRules(lab);
      const started = Date.now();
      const result = await client.enroll('--rollback', '60');
      expect(result.code, result.stderr).toBe(12);
      expect(result.stderr).toContain('proof 1: a new connection without a knock times out');
      expect(result.stderr).toMatch(
        new RegExp(
          /pingknock: a new connection through the knock did not log in \(.*\): /.source +
            /pings may be dropped before pingknock's rules see them; /.source +
            /rolled back at once: target has its previous rules again\n$/.source,
        ),
      );
      // At once, not after the 60 s rollback: the connection kept from before the rules ran it.
      expect(Date.now() - started).toBeLessThan(45_000);
      expect(listServerRules(lab)).toBe(before);
      expect(await client.rollbackSleepers()).toBe('');
      await client.expectOpenWithoutKnock();
      // Nothing was made persistent.
      expect(readFileSync(client.bootConfig, 'utf8')).toBe(DEBIAN_NFTABLES_CONF);
      expect(existsSync(join(client.persistDir, 'pingknock.nft'))).toBe(false);
    } finally {
      const removed = await lab.onServer('nft', ['delete', 'table', 'inet', 'blockping']);
      expect(removed.code, removed.stderr).toBe(0);
    }
    // The client keeps setup's lines after a failed enroll; unenroll takes them out, finding no rules to remove.
    const result = await client.unenroll();
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain(`found none of pingknock's rules on ${ALIAS}`);
    expect(readFileSync(client.config, 'utf8')).toBe(client.originalConfig);
    expect(listServerRules(lab)).toBe(pristine);
  }, 120_000);

  it(
    'does not call the server protected while IPv6 is open: ' + 'it fails, says which family, and rolls back at once',
    async () => {
      lab.loadServerRules(IPV6_FORWARDED);
      const elsewhere = start(
        'ip',
        ['netns', 'exec', lab.server.netns, process.execPath, '-e', SSH_ELSEWHERE],
        lab.env,
      );
      try {
        await elsewhere.line('stdout', /^listening$/, 20_000);
        const before = listServerRules(lab);
        const result = await client.enroll();
        expect(result.code, result.stderr).toBe(12);
        expect(result.stderr).toMatch(
          new RegExp(
            `pingknock: over IPv6 \\(${lab.server.ipv6}\\) ` +
              `the port still answers a connection without a knock \\(.+\\): ` +
              `the rules do not protect ${ALIAS} over IPv6; ` +
              `rolled back at once: ${ALIAS} has its previous rules again\n$`,
          ),
        );
        expect(result.stderr).not.toContain('proof 1');
        expect(listServerRules(lab)).toBe(before);
        expect(await client.rollbackSleepers()).toBe('');
        expect(readFileSync(client.bootConfig, 'utf8')).toBe(DEBIAN_NFTABLES_CONF);
      } finally {
        killTree(elsewhere.child.pid ?? 0);
        const removed = await lab.onServer('nft', ['delete', 'table', 'ip6', 'forwarded']);
        expect(removed.code, removed.stderr).toBe(0);
      }
      const result = await client.unenroll();
      expect(result.code, result.stderr).toBe(0);
      expect(listServerRules(lab)).toBe(pristine);
      await client.expectOpenWithoutKnock();
    },
    120_000,
  );

  it('rolls back by itself when the ssh session is cut right after the apply', async () => {
    const stateDir = join(lab.dir, 'cut-state');
    const rollbackSeconds = 8;
    const script = applyScript({ backend: 'nftables', rules: nftRules(newSecret()), stateDir, rollbackSeconds });
    // The session announces its shell's process group, then stays open, as a user's would.
    const session = spawn(
      'ip',
      ['netns', 'exec', lab.client.netns, 'ssh', '-F', lab.sshConfig, LAB_HOSTS.direct, 'sh -s'],
      {
        env: lab.env,
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    session.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    const group = await new Promise<string>((resolve, reject) => {
      let stdout = '';
      session.stdout.setEncoding('utf8').on('data', (text: string) => {
        stdout += text;
        const match = /applied (\d+)\n/.exec(stdout);
        if (match?.[1] !== undefined) resolve(match[1]);
      });
      session.on('exit', (code) => reject(new Error(`the apply session ended (${code}) before applying: ${stderr}`)));
      session.stdin.write(`${script}echo "applied $$"\nexec sleep 600\n`);
    });
    // Cut it on both ends: the client dies, and the server's session loses its whole process group.
    session.kill('SIGKILL');
    const killed = await lab.onServer('kill', ['-KILL', '--', `-${group}`]);
    expect(killed.code, killed.stderr).toBe(0);
    const cutAt = Date.now();

    expect(listServerRules(lab)).not.toBe(pristine);
    await client.expectClosedWithoutKnock();
    for (let waited = 0; waited < (rollbackSeconds + 10) * 1000 && listServerRules(lab) !== pristine; waited += 250)
      await sleep(250);
    expect(listServerRules(lab)).toBe(pristine);
    expect(Date.now() - cutAt).toBeLessThan((rollbackSeconds + 5) * 1000);
    await client.expectOpenWithoutKnock();
  }, 60_000);
});

describe('pingknock enroll --backend iptables, and unenroll', () => {
  let lab: Lab;
  let client: EnrollLab;
  let pristine: string;

  beforeAll(async () => {
    lab = await Lab.create({ secret: newSecret(), serverFirewall: 'bare' });
    client = new EnrollLab(lab);
    for (const restore of ['iptables-restore', 'ip6tables-restore']) {
      const loaded = await lab.onServer(restore, ['-w'], { input: EMPTY_FILTER });
      expect(loaded.code, loaded.stderr).toBe(0);
    }
    pristine = listServerRules(lab);
  });
  afterAll(() => lab?.destroy());

  it(
    'enrolls with proofs over IPv4 and IPv6, says how to keep the rules without netfilter-persistent, ' +
      'and unenroll --purge restores both',
    async () => {
      const result = await client.enroll('--backend', 'iptables');
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).toContain(`${ALIAS} uses iptables (--backend)`);
      expect(result.stderr).toContain(
        `proof 1: a new connection without a knock times out, also over IPv6 at ${lab.server.ipv6}\n`,
      );
      expect(result.stderr).toContain(
        `proof 2 over IPv6 (${lab.server.ipv6}): after a knock, a new connection gets an answer\n`,
      );
      expect(result.stderr).toContain('proof 2: a new connection through pingknock proxy logs in');
      expect(result.stderr).toContain('install iptables-persistent and run: netfilter-persistent save');
      for (const program of ['iptables', 'ip6tables']) {
        const chain = await lab.onServer(program, ['-w', '-n', '-L', 'knock']);
        expect(chain.code, `${program}: ${chain.stderr}`).toBe(0);
      }
      await expectEachFamilyGuarded(lab, ALIAS);
      await client.expectKnockedLogin();

      const removed = await client.unenroll('--purge');
      expect(removed.code, removed.stderr).toBe(0);
      expect(removed.stderr).toContain(`removed pingknock's iptables rules from ${ALIAS}`);
      expect(existsSync(client.secretFile())).toBe(false);
      expect(listServerRules(lab)).toBe(pristine);
      expect(readFileSync(client.config, 'utf8')).toBe(client.originalConfig);
      await client.expectOpenWithoutKnock();
    },
    120_000,
  );
});

describe('pingknock enroll on a server running ufw, and unenroll', () => {
  let lab: Lab;
  let client: EnrollLab;
  const ufwFile = async (name: string): Promise<string> => {
    const result = await lab.onServer('cat', [`/etc/ufw/${name}`]);
    expect(result.code, result.stderr).toBe(0);
    return result.stdout.toString();
  };
  let originals: Record<string, string> = {};

  beforeAll(async () => {
    // ufw enabled, incoming denied, ssh allowed: the usual server before the knock.
    lab = await Lab.create({ secret: newSecret(), serverFirewall: 'bare', features: [labUfw] });
    client = new EnrollLab(lab);
    const allowed = await lab.onServer('ufw', ['allow', `${lab.port}/tcp`]);
    expect(allowed.code, allowed.stderr).toBe(0);
    originals = { 'before.rules': await ufwFile('before.rules'), 'before6.rules': await ufwFile('before6.rules') };
  });
  afterAll(() => lab?.destroy());

  it(
    'finds ufw, puts the block into before(6).rules with both proofs, ' +
      'and unenroll gives the files back byte for byte',
    async () => {
      await client.expectOpenWithoutKnock();
      const result = await client.enroll();
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).toContain(`${ALIAS} uses ufw\n`);
      expect(result.stderr).toContain(
        `proof 1: a new connection without a knock times out, also over IPv6 at ${lab.server.ipv6}\n`,
      );
      expect(result.stderr).toContain(
        `proof 2 over IPv6 (${lab.server.ipv6}): after a knock, a new connection gets an answer\n`,
      );
      expect(result.stderr).toContain('proof 2: a new connection through pingknock proxy logs in');
      for (const name of ['before.rules', 'before6.rules']) {
        const text = await ufwFile(name);
        expect(text, name).toContain('# BEGIN pingknock');
        expect(text.replace(/# BEGIN pingknock\n[^]*?# END pingknock\n/, ''), name).toBe(originals[name]);
      }
      // ufw's own `allow` for the port comes after the block: without a knock it is never reached.
      await expectEachFamilyGuarded(lab, ALIAS);
      await client.expectKnockedLogin();

      const removed = await client.unenroll();
      expect(removed.code, removed.stderr).toBe(0);
      expect(removed.stderr).toContain(`${ALIAS} is unenrolled`);
      for (const name of ['before.rules', 'before6.rules']) expect(await ufwFile(name), name).toBe(originals[name]);
      expect(readFileSync(client.config, 'utf8')).toBe(client.originalConfig);
      await client.expectOpenWithoutKnock();
    },
    180_000,
  );
});

describe('pingknock enroll as a login that is not root', () => {
  let lab: Lab;
  let pristine: string;

  beforeAll(async () => {
    lab = await Lab.create({ secret: newSecret(), serverFirewall: 'bare', features: [labAccounts] });
    pristine = listServerRules(lab);
  });
  afterAll(() => lab?.destroy());

  it(
    'runs every root command through sudo -n: ' + 'both proofs, the rules at boot, and unenroll byte for byte',
    async () => {
      const client = new EnrollLab(lab, LAB_ACCOUNTS.sudoer);
      const result = await client.enroll();
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).toContain('proof 1: a new connection without a knock times out');
      expect(result.stderr).toContain('proof 2: a new connection through pingknock proxy logs in');
      expect(result.stderr).toContain(`${ALIAS} is enrolled`);
      expect(readFileSync(client.config, 'utf8')).toContain(`User ${LAB_ACCOUNTS.sudoer}`);
      await client.expectClosedWithoutKnock();
      await client.expectKnockedLogin();
      // Written by root through sudo, not by the login: owned by root, private.
      const persisted = join(client.persistDir, 'pingknock.nft');
      expect(statSync(persisted).uid).toBe(0);
      expect(statSync(persisted).mode & 0o777).toBe(0o600);
      expect(readFileSync(client.bootConfig, 'utf8')).toBe(
        `${DEBIAN_NFTABLES_CONF}${nftIncludeLines(client.persistDir).plain}\n`,
      );

      const removed = await client.unenroll();
      expect(removed.code, removed.stderr).toBe(0);
      expect(removed.stderr).toContain(`${ALIAS} is unenrolled`);
      expect(listServerRules(lab)).toBe(pristine);
      expect(readFileSync(client.config, 'utf8')).toBe(client.originalConfig);
      expect(readFileSync(client.bootConfig, 'utf8')).toBe(DEBIAN_NFTABLES_CONF);
      await client.expectOpenWithoutKnock();
    },
    120_000,
  );

  it('stops before touching the firewall when the login may not use sudo, and says what to do', async () => {
    const client = new EnrollLab(lab, LAB_ACCOUNTS.plain, '-plain');
    const result = await client.enroll();
    expect(result.code, result.stderr).toBe(13);
    expect(result.stderr).toContain(
      `pingknock: changing the firewall on ${ALIAS} needs root: the login user is not root, and sudo -n does not work`,
    );
    expect(result.stderr).toContain('log in as root, or allow this user sudo without a password');
    expect(listServerRules(lab)).toBe(pristine);
    expect(readFileSync(client.bootConfig, 'utf8')).toBe(DEBIAN_NFTABLES_CONF);
    await client.expectOpenWithoutKnock();
  }, 120_000);
});

describe("pingknock enroll and a persist folder that is not root's alone (issue 16)", () => {
  const NOBODY = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim());
  const PRECIOUS = 'root-owned, and not to be overwritten\n';
  let lab: Lab;
  let pristine: string;

  beforeAll(async () => {
    lab = await Lab.create({ secret: newSecret(), serverFirewall: 'bare' });
    pristine = listServerRules(lab);
  });
  afterAll(() => lab?.destroy());

  function victim(name: string): string {
    const path = join(lab.dir, name);
    writeFileSync(path, PRECIOUS, { mode: 0o644 });
    return path;
  }

  /** Refused with this line and exit 10, before the apply: the server's rules and files as they were. */
  async function expectRefused(client: EnrollLab, message: string): Promise<void> {
    const result = await client.enroll();
    expect(result.stderr).toContain(`pingknock: ${ALIAS}: ${message}; nothing was changed there\n`);
    expect(result.code).toBe(10);
    expect(listServerRules(lab)).toBe(pristine);
    expect(existsSync(client.stateDir)).toBe(false);
    expect(readFileSync(client.bootConfig, 'utf8')).toBe(DEBIAN_NFTABLES_CONF);
    await client.expectOpenWithoutKnock();
  }

  it('refuses one owned by another user', async () => {
    const client = new EnrollLab(lab, undefined, '-nobody');
    chownSync(client.persistDir, NOBODY, NOBODY);
    await expectRefused(
      client,
      `refusing the persist folder ${client.persistDir}: ${client.persistDir} belongs to user ${NOBODY}, not to root`,
    );
  }, 60_000);

  it('refuses a symbolic link planted at pingknock.nft, and does not follow it', async () => {
    const client = new EnrollLab(lab, undefined, '-planted');
    const target = victim('victim-planted');
    symlinkSync(target, join(client.persistDir, 'pingknock.nft'));
    await expectRefused(client, `refusing ${client.persistDir}/pingknock.nft: it is a symbolic link`);
    expect(readFileSync(target, 'utf8')).toBe(PRECIOUS);
  }, 60_000);

  it('writes through no link at the temporary names it used before: they stay, their targets too', async () => {
    const client = new EnrollLab(lab, undefined, '-old-names');
    const targets = ['nftables.conf', 'pingknock.nft'].map((name) => {
      const target = victim(`victim-${name}`);
      symlinkSync(target, join(client.persistDir, `${name}.pingknock-new`));
      return target;
    });
    const result = await client.enroll();
    expect(result.code, result.stderr).toBe(0);
    expect(readFileSync(client.bootConfig, 'utf8')).toBe(
      `${DEBIAN_NFTABLES_CONF}${nftIncludeLines(client.persistDir).plain}\n`,
    );
    for (const target of targets) expect(readFileSync(target, 'utf8')).toBe(PRECIOUS);
    const removed = await client.unenroll();
    expect(removed.code, removed.stderr).toBe(0);
    expect(listServerRules(lab)).toBe(pristine);
    for (const target of targets) expect(readFileSync(target, 'utf8')).toBe(PRECIOUS);
  }, 120_000);
});

describe('pingknock setup, then enroll, then unenroll', () => {
  let lab: Lab;
  let client: EnrollLab;

  beforeAll(async () => {
    lab = await Lab.create({ secret: newSecret(), serverFirewall: 'bare' });
    client = new EnrollLab(lab);
  });
  afterAll(() => lab?.destroy());

  it(
    'leaves the lines setup wrote, static again: the one-time end date enroll gave them would fail ssh once ' +
      'it passed',
    async () => {
      const setup = await client.pingknock([
        'setup',
        ALIAS,
        '--hostname',
        lab.server.ipv4,
        '--config',
        client.config,
        '--yes',
      ]);
      expect(setup.code, setup.stderr).toBe(0);
      const afterSetup = readFileSync(client.config, 'utf8');
      expect(client.proxyCommand()).not.toContain('--rolling-until');

      const enrolled = await client.enroll();
      expect(enrolled.code, enrolled.stderr).toBe(0);
      expect(client.proxyCommand()).toContain(`--rolling-until ${isoDate(slotAt(Date.now() / 1000).day + 29)}`);
      await client.expectKnockedLogin();

      const removed = await client.unenroll();
      expect(removed.code, removed.stderr).toBe(0);
      expect(removed.stderr).toContain(`had pingknock's lines for ${ALIAS} before enroll; they stay`);
      expect(removed.stderr).toContain(`ssh ${ALIAS} knocks with static knocks now`);
      expect(removed.stderr).toContain(`ssh ${ALIAS} keeps the lines it had before enroll`);
      expect(readFileSync(client.config, 'utf8')).toBe(afterSetup);
      await client.expectOpenWithoutKnock();
      await client.expectKnockedLogin();
    },
    180_000,
  );
});
