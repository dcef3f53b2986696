import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, LAB_ACCOUNTS, LAB_HOSTS } from '../../src/lab/lab.js';
import { run } from '../../src/lab/exec.js';
import { applyScript, nftIncludeLines } from '../../src/core/rules/apply.js';
import { parseSecret, secretToHex } from '../../src/core/secret.js';
import { newSecret, nftRules } from './fixture.js';

const ALIAS = 'target';
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** /etc/nftables.conf as Debian ships it: what persistence adds a line to, and unenroll must give back byte for byte. */
const DEBIAN_NFTABLES_CONF = `#!/usr/sbin/nft -f

flush ruleset

table inet filter {
\tchain input {
\t\ttype filter hook input priority filter;
\t}
\tchain forward {
\t\ttype filter hook forward priority filter;
\t}
\tchain output {
\t\ttype filter hook output priority filter;
\t}
}
`;

/** A server whose own earlier rules drop every ping, before pingknock's chain (priority filter - 10) sees it. */
const BLOCK_PINGS = `table inet blockping {
\tchain input {
\t\ttype filter hook input priority filter - 20; policy accept;
\t\ticmp type echo-request drop
\t\ticmpv6 type echo-request drop
\t}
}
`;

/**
 * A user's ssh config in the lab's client namespace, with nothing for ALIAS yet: enroll's setup
 * adds the Host block. The lab's own key and known_hosts come from `Host *`, as in setup.test.ts.
 */
function userConfig(lab: Lab, login: string | undefined): string {
  // With a login of its own, the user name comes from enroll's Host block (--user), not from `Host *`.
  const options = lab.sshClientOptions().filter((line) => login === undefined || !line.startsWith('User '));
  return ['# my ssh config', 'Host *', ...options.map((line) => `    ${line}`), ''].join('\n');
}

/** The client's side of a lab for enroll: its config, and the server's state and boot folders inside the lab. */
class EnrollLab {
  readonly config: string;
  readonly originalConfig: string;
  /** The lab's server shares this machine's filesystem: its /run/pingknock and /etc stay out of it. */
  readonly stateDir: string;
  readonly persistDir: string;
  readonly bootConfig: string;

  /** `login`: the server account enroll logs in as (root when undefined); `tag` keeps two clients of one lab apart. */
  constructor(
    readonly lab: Lab,
    private readonly login?: string,
    tag = '',
  ) {
    this.config = join(lab.dir, `user_ssh_config${tag}`);
    this.originalConfig = userConfig(lab, login);
    writeFileSync(this.config, this.originalConfig, { mode: 0o600 });
    this.stateDir = join(lab.dir, `server-state${tag}`);
    this.persistDir = join(lab.dir, `server-etc${tag}`);
    this.bootConfig = join(this.persistDir, 'nftables.conf');
    mkdirSync(this.persistDir);
    writeFileSync(this.bootConfig, DEBIAN_NFTABLES_CONF, { mode: 0o755 });
  }

  pingknock(args: readonly string[]) {
    return this.lab.onClient('pingknock', args, { timeoutMs: 120_000 });
  }

  enroll(...extra: string[]) {
    return this.pingknock([
      'enroll', ALIAS, '--hostname', this.lab.server.ipv4, '--config', this.config, '--yes',
      '--state-dir', this.stateDir, '--persist-dir', this.persistDir, ...(this.login === undefined ? [] : ['--user', this.login]), ...extra,
    ]);
  }

  unenroll(...extra: string[]) {
    return this.pingknock(['unenroll', ALIAS, '--config', this.config, ...extra]);
  }

  secretFile(): string {
    return join(this.lab.home, '.ssh', 'pingknock', ALIAS);
  }

  recordFile(): string {
    return join(this.lab.home, '.ssh', 'pingknock', '.enrolled', `${ALIAS}.json`);
  }

  /** A new connection with no knock: must time out while pingknock's rules are in place. */
  async expectClosedWithoutKnock(): Promise<void> {
    this.lab.forgetKnocks();
    const result = await this.lab.ssh(['-o', 'ConnectTimeout=2', LAB_HOSTS.direct, 'true'], { timeoutMs: 20_000 });
    expect(result.code, result.stderr).toBe(255);
    expect(result.stderr).toMatch(/timed out/);
  }

  async expectOpenWithoutKnock(): Promise<void> {
    const result = await this.lab.ssh([LAB_HOSTS.direct, 'echo open'], { timeoutMs: 20_000 });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.toString()).toBe('open\n');
  }

  /** `ssh ALIAS` with the user's config, which knocks through pingknock proxy, as the enrolled login. */
  async expectKnockedLogin(): Promise<void> {
    this.lab.forgetKnocks();
    const result = await this.lab.onClient('ssh', ['-F', this.config, ALIAS, 'id -un'], { timeoutMs: 20_000 });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.toString()).toBe(`${this.login ?? 'root'}\n`);
  }

  async rollbackSleepers(): Promise<string> {
    return (await run('pgrep', ['-f', `pingknock-rollback [0-9]+ ${this.stateDir}`])).stdout.toString();
  }
}

describe('pingknock enroll and unenroll: a bare nftables server with a real sshd', () => {
  let lab: Lab;
  let client: EnrollLab;
  let pristine: string;
  let enrolledAt = 0;
  const ROLLBACK_SECONDS = 20;

  beforeAll(async () => {
    lab = await Lab.create({ secret: newSecret(), serverFirewall: 'bare' });
    client = new EnrollLab(lab);
    pristine = lab.listServerRules();
  });
  afterAll(() => lab?.destroy());

  it('enrolls: both proofs hold afterwards, the rollback is disarmed, the rules load at boot', async () => {
    enrolledAt = Date.now();
    const result = await client.enroll('--rollback', String(ROLLBACK_SECONDS));
    const stderr = result.stderr;
    expect(result.code, stderr).toBe(0);
    expect(stderr).toContain('proof 1: a new connection without a knock times out');
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

    const persisted = join(client.persistDir, 'pingknock.nft');
    expect(readFileSync(persisted, 'utf8')).toBe(nftRules(secret));
    expect(statSync(persisted).mode & 0o777).toBe(0o600);
    expect(readFileSync(client.bootConfig, 'utf8')).toBe(`${DEBIAN_NFTABLES_CONF}${nftIncludeLines(client.persistDir).plain}\n`);
    expect(statSync(client.bootConfig).mode & 0o777).toBe(0o755);
    // What the boot configuration loads is what runs now.
    const check = await lab.onServer('nft', ['-c', '-f', client.bootConfig]);
    expect(check.code, check.stderr).toBe(0);

    // unenroll's record: what setup added, and how the server was set up.
    const record = JSON.parse(readFileSync(client.recordFile(), 'utf8')) as { configAddition: { added: string[] }; server: unknown };
    expect(record.configAddition.added).toContain(`Host ${ALIAS}`);
    expect(record.server).toEqual({ backend: 'nftables', stateDir: client.stateDir, persistDir: client.persistDir });
  }, 120_000);

  it('keeps the rules past the rollback time it was given: the rollback really is cancelled', async () => {
    const applied = lab.listServerRules();
    expect(applied).not.toBe(pristine);
    await sleep(Math.max(0, enrolledAt + (ROLLBACK_SECONDS + 3) * 1000 - Date.now()));
    expect(lab.listServerRules()).toBe(applied);
    await client.expectClosedWithoutKnock();
  }, 60_000);

  it('unenroll restores the ruleset exactly, the ssh config and nftables.conf byte for byte, and keeps the secret', async () => {
    const result = await client.unenroll();
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain(`${ALIAS} is unenrolled`);
    expect(lab.listServerRules()).toBe(pristine);
    expect(readFileSync(client.config, 'utf8')).toBe(client.originalConfig);
    expect(readFileSync(client.bootConfig, 'utf8')).toBe(DEBIAN_NFTABLES_CONF);
    expect(existsSync(join(client.persistDir, 'pingknock.nft'))).toBe(false);
    expect(existsSync(client.secretFile())).toBe(true);
    expect(existsSync(client.recordFile())).toBe(false);
    await client.expectOpenWithoutKnock();
  }, 120_000);

  it('fails and rolls back at once when the knock cannot work (pings dropped before pingknock sees them)', async () => {
    lab.loadServerRules(BLOCK_PINGS);
    try {
      const before = lab.listServerRules();
      const started = Date.now();
      const result = await client.enroll('--rollback', '60');
      expect(result.code, result.stderr).toBe(12);
      expect(result.stderr).toContain('proof 1: a new connection without a knock times out');
      expect(result.stderr).toMatch(/pingknock: a new connection through the knock did not log in \(.*\): pings may be dropped before pingknock's rules see them; rolled back at once: target has its previous rules again\n$/);
      // At once, not after the 60 s rollback: the connection kept from before the rules ran it.
      expect(Date.now() - started).toBeLessThan(45_000);
      expect(lab.listServerRules()).toBe(before);
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
    expect(lab.listServerRules()).toBe(pristine);
  }, 120_000);

  it('rolls back by itself when the ssh session is cut right after the apply', async () => {
    const stateDir = join(lab.dir, 'cut-state');
    const rollbackSeconds = 8;
    const script = applyScript({ backend: 'nftables', rules: nftRules(newSecret()), stateDir, rollbackSeconds });
    // The session announces its shell's process group, then stays open, as a user's would.
    const session = spawn('ip', ['netns', 'exec', lab.client.netns, 'ssh', '-F', lab.sshConfig, LAB_HOSTS.direct, 'sh -s'], {
      env: lab.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
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

    expect(lab.listServerRules()).not.toBe(pristine);
    await client.expectClosedWithoutKnock();
    for (let waited = 0; waited < (rollbackSeconds + 10) * 1000 && lab.listServerRules() !== pristine; waited += 250) await sleep(250);
    expect(lab.listServerRules()).toBe(pristine);
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
    // A server that runs iptables has its (empty) filter table: creating it is not pingknock's doing.
    const loaded = await lab.onServer('iptables-restore', ['-w'], { input: '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n' });
    expect(loaded.code, loaded.stderr).toBe(0);
    pristine = lab.listServerRules();
  });
  afterAll(() => lab?.destroy());

  it('enrolls with proofs, says how to keep the rules without netfilter-persistent, and unenroll --purge restores it all', async () => {
    const result = await client.enroll('--backend', 'iptables');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain(`${ALIAS} uses iptables (--backend)`);
    expect(result.stderr).toContain('proof 2: a new connection through pingknock proxy logs in');
    expect(result.stderr).toContain('install iptables-persistent and run: netfilter-persistent save');
    const chain = await lab.onServer('iptables', ['-w', '-n', '-L', 'knock']);
    expect(chain.code, chain.stderr).toBe(0);
    await client.expectClosedWithoutKnock();
    await client.expectKnockedLogin();

    const removed = await client.unenroll('--purge');
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stderr).toContain(`removed pingknock's iptables rules from ${ALIAS}`);
    expect(existsSync(client.secretFile())).toBe(false);
    expect(lab.listServerRules()).toBe(pristine);
    expect(readFileSync(client.config, 'utf8')).toBe(client.originalConfig);
    await client.expectOpenWithoutKnock();
  }, 120_000);
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
    lab = await Lab.create({ secret: newSecret(), serverFirewall: 'bare', ufw: true });
    client = new EnrollLab(lab);
    const allowed = await lab.onServer('ufw', ['allow', `${lab.port}/tcp`]);
    expect(allowed.code, allowed.stderr).toBe(0);
    originals = { 'before.rules': await ufwFile('before.rules'), 'before6.rules': await ufwFile('before6.rules') };
  });
  afterAll(() => lab?.destroy());

  it('finds ufw, puts the block into before(6).rules with both proofs, and unenroll gives the files back byte for byte', async () => {
    await client.expectOpenWithoutKnock();
    const result = await client.enroll();
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain(`${ALIAS} uses ufw\n`);
    expect(result.stderr).toContain('proof 1: a new connection without a knock times out');
    expect(result.stderr).toContain('proof 2: a new connection through pingknock proxy logs in');
    for (const name of ['before.rules', 'before6.rules']) {
      const text = await ufwFile(name);
      expect(text, name).toContain('# BEGIN pingknock');
      expect(text.replace(/# BEGIN pingknock\n[^]*?# END pingknock\n/, ''), name).toBe(originals[name]);
    }
    // ufw's own `allow` for the port comes after the block: without a knock it is never reached.
    await client.expectClosedWithoutKnock();
    await client.expectKnockedLogin();

    const removed = await client.unenroll();
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stderr).toContain(`${ALIAS} is unenrolled`);
    for (const name of ['before.rules', 'before6.rules']) expect(await ufwFile(name), name).toBe(originals[name]);
    expect(readFileSync(client.config, 'utf8')).toBe(client.originalConfig);
    await client.expectOpenWithoutKnock();
  }, 180_000);
});

describe('pingknock enroll as a login that is not root', () => {
  let lab: Lab;
  let pristine: string;

  beforeAll(async () => {
    lab = await Lab.create({ secret: newSecret(), serverFirewall: 'bare', accounts: true });
    pristine = lab.listServerRules();
  });
  afterAll(() => lab?.destroy());

  it('runs every root command through sudo -n: both proofs, the rules at boot, and unenroll byte for byte', async () => {
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
    expect(readFileSync(client.bootConfig, 'utf8')).toBe(`${DEBIAN_NFTABLES_CONF}${nftIncludeLines(client.persistDir).plain}\n`);

    const removed = await client.unenroll();
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stderr).toContain(`${ALIAS} is unenrolled`);
    expect(lab.listServerRules()).toBe(pristine);
    expect(readFileSync(client.config, 'utf8')).toBe(client.originalConfig);
    expect(readFileSync(client.bootConfig, 'utf8')).toBe(DEBIAN_NFTABLES_CONF);
    await client.expectOpenWithoutKnock();
  }, 120_000);

  it('stops before touching the firewall when the login may not use sudo, and says what to do', async () => {
    const client = new EnrollLab(lab, LAB_ACCOUNTS.plain, '-plain');
    const result = await client.enroll();
    expect(result.code, result.stderr).toBe(13);
    expect(result.stderr).toContain(
      `pingknock: changing the firewall on ${ALIAS} needs root: the login user is not root, and sudo -n does not work`,
    );
    expect(result.stderr).toContain('log in as root, or allow this user sudo without a password');
    expect(lab.listServerRules()).toBe(pristine);
    expect(readFileSync(client.bootConfig, 'utf8')).toBe(DEBIAN_NFTABLES_CONF);
    await client.expectOpenWithoutKnock();
  }, 120_000);
});
