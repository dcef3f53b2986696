import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { run } from '../../src/edge/exec.js';
import type { Lab } from '../../src/lab/lab.js';
import { expectAllClosed, expectAllOpen } from '../e2e/families.js';

/** The client's side of a lab for enroll and the commands that change a server's keys, shared by their suites. */

/**
 * /etc/nftables.conf as Debian ships it: what persistence adds a line to, and unenroll must give back byte for
 * byte.
 */
export const DEBIAN_NFTABLES_CONF = `#!/usr/sbin/nft -f

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

export const ALIAS = 'target';

/**
 * A user's ssh config in the lab's client namespace, with nothing for the aliases yet: enroll's
 * setup adds their Host blocks. The lab's own key and known_hosts come from `Host *`, as in
 * setup.test.ts.
 */
function userConfig(lab: Lab, login: string | undefined): string {
  // With a login of its own, the user name comes from enroll's Host block (--user), not from `Host *`.
  const options = lab.sshClientOptions().filter((line) => login === undefined || !line.startsWith('User '));
  return ['# my ssh config', 'Host *', ...options.map((line) => `    ${line}`), ''].join('\n');
}

/** One ssh config and one server's state and boot folders; `alias` is the one its methods act for. */
export class EnrollLab {
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
    readonly alias = ALIAS,
    shared?: EnrollLab,
  ) {
    this.config = shared?.config ?? join(lab.dir, `user_ssh_config${tag}`);
    this.originalConfig = shared?.originalConfig ?? userConfig(lab, login);
    this.stateDir = shared?.stateDir ?? join(lab.dir, `server-state${tag}`);
    this.persistDir = shared?.persistDir ?? join(lab.dir, `server-etc${tag}`);
    this.bootConfig = join(this.persistDir, 'nftables.conf');
    if (shared !== undefined) return;
    writeFileSync(this.config, this.originalConfig, { mode: 0o600 });
    mkdirSync(this.persistDir);
    writeFileSync(this.bootConfig, DEBIAN_NFTABLES_CONF, { mode: 0o755 });
  }

  /** The same config and server, acting for another alias (of the same server). */
  as(alias: string): EnrollLab {
    return new EnrollLab(this.lab, this.login, '', alias, this);
  }

  pingknock(args: readonly string[]) {
    return this.lab.onClient('pingknock', args, { timeoutMs: 120_000 });
  }

  enroll(...extra: string[]) {
    return this.pingknock([
      'enroll',
      this.alias,
      '--hostname',
      this.lab.server.ipv4,
      '--config',
      this.config,
      '--yes',
      '--state-dir',
      this.stateDir,
      '--persist-dir',
      this.persistDir,
      ...(this.login === undefined ? [] : ['--user', this.login]),
      ...extra,
    ]);
  }

  unenroll(...extra: string[]) {
    return this.pingknock(['unenroll', this.alias, '--config', this.config, ...extra]);
  }

  /** renew, rotate, revoke or keys for the alias, with this config. */
  command(name: 'renew' | 'rotate' | 'revoke' | 'keys', ...extra: string[]) {
    return this.pingknock([name, this.alias, '--config', this.config, ...extra]);
  }

  secretFile(): string {
    return join(this.lab.home, '.ssh', 'pingknock', this.alias);
  }

  recordFile(): string {
    return join(this.lab.home, '.ssh', 'pingknock', '.enrolled', `${this.alias}.json`);
  }

  registryFile(): string {
    return join(this.persistDir, 'pingknock.keys.json');
  }

  /** The alias's Host block's ProxyCommand line, as the config has it now. */
  proxyCommand(): string {
    const lines = readFileSync(this.config, 'utf8').split('\n');
    const block = lines.slice(lines.indexOf(`Host ${this.alias}`));
    const line = block.find((each) => /^\s*ProxyCommand /.test(each));
    if (line === undefined) throw new Error(`no ProxyCommand for ${this.alias} in ${this.config}`);
    return line.trim();
  }

  /** New connections with no knock, over IPv4 and IPv6: must time out while pingknock's rules are in place. */
  async expectClosedWithoutKnock(): Promise<void> {
    await expectAllClosed(this.lab);
  }

  async expectOpenWithoutKnock(): Promise<void> {
    await expectAllOpen(this.lab);
  }

  /** `ssh ALIAS` with the user's config, which knocks through pingknock proxy, as the enrolled login. */
  async expectKnockedLogin(): Promise<void> {
    this.lab.forgetKnocks();
    const result = await this.ssh();
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.toString()).toBe(`${this.login ?? 'root'}\n`);
  }

  /** `ssh ALIAS` fails: its knock opens nothing (the port was closed to this client first). */
  async expectLockedOut(): Promise<void> {
    this.lab.forgetKnocks();
    const result = await this.ssh();
    expect(result.code, result.stderr).toBe(255);
    expect(result.stderr).toMatch(/^pingknock: /m);
  }

  ssh() {
    return this.lab.onClient('ssh', ['-F', this.config, this.alias, 'id -un'], { timeoutMs: 30_000 });
  }

  async rollbackSleepers(): Promise<string> {
    return (await run('pgrep', ['-f', `pingknock-rollback [0-9]+ ${this.stateDir}`])).stdout.toString();
  }
}
