import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PingknockError } from '../core/errors.js';
import type { Secret } from '../core/secret.js';
import { NFT_SETS, NFT_TABLE } from '../core/rules/nftables.js';
import { RECENT_LISTS } from '../core/rules/xtables.js';
import { proxyCommandFor } from '../core/ssh-config/proxy-command.js';
import { findCommand, run, runChecked, type RunOptions, type RunResult } from '../edge/exec.js';

/**
 * A throw-away network of two namespaces joined by a veth pair: a server running a real sshd,
 * and a client. Used by `pingknock demo` and the end-to-end tests. Everything it makes is
 * named after its id, and `destroy()` (also run at process exit) removes all of it.
 */

/** `bare`: nothing but pingknock's table. `existing`: a host firewall with policy drop already in place. */
export type ServerFirewall = 'bare' | 'existing';

export interface LabOptions {
  readonly secret: Secret;
  readonly serverFirewall: ServerFirewall;
  readonly port?: number;
  /** Run ufw in the server (enabled, default deny), with a private copy of /etc/ufw. */
  readonly ufw?: boolean;
  /** Give the server the login accounts of LAB_ACCOUNTS besides root (needs sudo). */
  readonly accounts?: boolean;
  /**
   * sshd with its stock connection limits (MaxStartups 10:30:100, MaxSessions 10), as servers
   * run it, instead of the lab's raised ones, and logging every connection it drops (LogLevel
   * VERBOSE): for tests of what a dropped connection looks like.
   */
  readonly stockLimits?: boolean;
}

export interface Endpoint {
  readonly netns: string;
  readonly ipv4: string;
  readonly ipv6: string;
}

/** Host aliases in the lab's ssh config. */
export const LAB_HOSTS = {
  knocked: 'knocked',
  knocked6: 'knocked6',
  direct: 'direct',
  direct6: 'direct6',
} as const;

/**
 * Logins besides root on the server (LabOptions.accounts), as on servers where root may not log
 * in: `sudoer` may run anything through sudo without a password, `plain` may not use sudo.
 */
export const LAB_ACCOUNTS = { sudoer: 'pkdeploy', plain: 'pkguest' } as const;

const REQUIRED_PROGRAMS = ['ip', 'nft', 'sshd', 'ssh', 'ssh-keygen', 'ping', 'unshare', 'mount'] as const;

/** sudo's policy in the server's view: only root and LAB_ACCOUNTS.sudoer; nothing from the host's sudoers.d. */
const LAB_SUDOERS = `Defaults env_reset
Defaults secure_path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
root ALL=(ALL:ALL) ALL
${LAB_ACCOUNTS.sudoer} ALL=(ALL:ALL) NOPASSWD: ALL
`;

/** Bind-mounts each `from to` pair given before `--`, then runs what follows it. */
const BIND_THEN_EXEC = 'while [ "$1" != -- ]; do mount --bind "$1" "$2" || exit 1; shift 2; done; shift; exec "$@"';
/** The built `pingknock` command, as install.sh puts it on the PATH. */
const PROJECT_BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'bin');

/** A host firewall as many servers have it: policy drop, ssh, pings and established traffic allowed. */
const EXISTING_FIREWALL = `table inet host {
\tchain input {
\t\ttype filter hook input priority filter; policy drop;
\t\tct state established,related accept
\t\tiif lo accept
\t\ttcp dport 22 accept
\t\ticmp type echo-request accept
\t\ticmpv6 type { echo-request, nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert } accept
\t}
}
`;

let labCount = 0;

export class Lab {
  readonly id: string;
  readonly dir: string;
  readonly home: string;
  readonly sshConfig: string;
  readonly port: number;
  readonly server: Endpoint;
  readonly client: Endpoint;
  readonly env: NodeJS.ProcessEnv;
  /** The server's private /etc/ufw, when the lab runs ufw. */
  private readonly ufwDir: string | undefined;
  /** The server's home for the login user: sessions must not run the host user's dotfiles. */
  private readonly serverHome: string;
  /**
   * What the server sees instead of the host's files (`from`, `to`): its own home for the login
   * user, and what the options add (ufw's /etc/ufw, the accounts' files).
   */
  private readonly serverBinds: [string, string][];
  private sshd: ChildProcess | undefined;
  private sshdLog = '';
  private destroyed = false;
  private readonly destroyAtExit = (): void => this.destroy();

  private constructor(options: LabOptions) {
    labCount += 1;
    this.id = `${process.pid.toString(36)}${labCount}`;
    this.port = options.port ?? 22;
    this.dir = mkdtempSync(join(tmpdir(), `pingknock-lab-${this.id}-`));
    this.home = join(this.dir, 'home');
    this.sshConfig = join(this.dir, 'ssh_config');
    this.server = { netns: `pk-${this.id}-srv`, ipv4: '10.201.0.1', ipv6: 'fd70:6b::1' };
    this.client = { netns: `pk-${this.id}-cli`, ipv4: '10.201.0.2', ipv6: 'fd70:6b::2' };
    this.env = { ...process.env, HOME: this.home, PATH: `${PROJECT_BIN}:${process.env.PATH ?? '/usr/bin:/bin'}` };
    this.ufwDir = options.ufw === true ? join(this.dir, 'etc-ufw') : undefined;
    this.serverHome = join(this.dir, 'server-home');
    this.serverBinds = [
      [this.serverHome, userInfo().homedir],
      ...(this.ufwDir === undefined ? [] : [[this.ufwDir, '/etc/ufw'] as [string, string]]),
    ];
    process.on('exit', this.destroyAtExit);
  }

  static async create(options: LabOptions): Promise<Lab> {
    if (process.getuid?.() !== 0) {
      throw new PingknockError('privilege', 'the lab needs root (network namespaces, nft, sshd): run it with sudo');
    }
    const required = [
      ...REQUIRED_PROGRAMS,
      ...(options.ufw === true ? ['ufw'] : []),
      ...(options.accounts === true ? ['sudo'] : []),
    ];
    const missing = required.filter((name) => findCommand(name) === undefined);
    if (missing.length > 0) {
      throw new PingknockError('lab', `the lab needs ${missing.join(', ')}; install them with: ./install.sh --lab`);
    }
    const lab = new Lab(options);
    try {
      lab.buildNetwork();
      lab.writeFiles(options.secret, options.stockLimits === true);
      if (options.accounts === true) lab.writeAccounts();
      if (options.serverFirewall === 'existing') lab.loadServerRules(EXISTING_FIREWALL);
      await lab.startUfw();
      await lab.startSshd();
      return lab;
    } catch (error) {
      lab.destroy();
      if (error instanceof PingknockError) throw error;
      throw new PingknockError('lab', `could not build the lab: ${(error as Error).message}`);
    }
  }

  /** Loads an `nft -f` ruleset inside the server namespace. */
  loadServerRules(ruleset: string): void {
    runChecked('ip', ['netns', 'exec', this.server.netns, 'nft', '-f', '-'], ruleset);
  }

  /** Forgets every knock the server has seen (nftables sets, xt_recent lists), so the port is closed again. */
  forgetKnocks(): void {
    const sets = Object.values(NFT_SETS).map((set) => `nft flush set inet ${NFT_TABLE} ${set}`);
    const lists = Object.values(RECENT_LISTS).map((list) => `/proc/net/xt_recent/${list}`);
    const script = [
      `if nft list table inet ${NFT_TABLE} >/dev/null 2>&1; then ${sets.join('; ')}; fi`,
      `for list in ${lists.join(' ')}; do if [ -e "$list" ]; then echo / >"$list"; fi; done`,
    ].join('\n');
    runChecked('ip', ['netns', 'exec', this.server.netns, 'sh', '-c', script]);
  }

  /**
   * Every firewall rule in the server, nftables and legacy iptables alike, without what changes
   * as traffic flows (counters, set elements, timestamps): equal listings mean equal rulesets.
   */
  listServerRules(): string {
    const inServer = (file: string, args: readonly string[]): string =>
      runChecked('ip', ['netns', 'exec', this.server.netns, file, ...args]);
    const listings = [
      inServer('nft', ['-s', 'list', 'ruleset']),
      inServer('iptables-legacy-save', []),
      inServer('ip6tables-legacy-save', []),
    ];
    return listings
      .join('\n')
      .split('\n')
      .filter((line) => !line.startsWith('#') && !/^\s*elements = /.test(line))
      .map((line) => line.replace(/\[\d+:\d+\]/g, '[]').replace(/counter packets \d+ bytes \d+/g, 'counter'))
      .join('\n');
  }

  /** Runs a program in the client namespace with the lab's HOME and PATH (pingknock on it). */
  onClient(file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    return run('ip', ['netns', 'exec', this.client.netns, file, ...args], { env: this.env, ...options });
  }

  /** Runs a program in the server namespace, with the server's view of the files. */
  onServer(file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    return run('ip', this.serverCommand(file, args), { env: this.env, ...options });
  }

  /**
   * `ip` arguments that run a program in the server namespace, in a mount namespace of its own
   * where serverBinds stand in for the host's files (the login user's home, /etc/ufw with ufw, the
   * accounts' files). The host's files stay untouched, and the host user's shell start-up files (a pyenv rehash
   * taking a lock, say) never run in, or slow down, the server's sessions.
   */
  private serverCommand(file: string, args: readonly string[]): string[] {
    return [
      'netns',
      'exec',
      this.server.netns,
      'unshare',
      '-m',
      'sh',
      '-c',
      BIND_THEN_EXEC,
      'sh',
      ...this.serverBinds.flat(),
      '--',
      file,
      ...args,
    ];
  }

  /** ssh from the client with the lab's config; `host` is one of LAB_HOSTS or an address. */
  ssh(args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    return this.onClient('ssh', ['-F', this.sshConfig, ...args], options);
  }

  /** The ssh client options that log in to the lab's server (root, the lab's key and known hosts), one per line. */
  sshClientOptions(): string[] {
    return [
      'User root',
      `Port ${this.port}`,
      `IdentityFile ${join(this.dir, 'user_key')}`,
      'IdentitiesOnly yes',
      `UserKnownHostsFile ${join(this.dir, 'known_hosts')}`,
      'StrictHostKeyChecking accept-new',
      'BatchMode yes',
      'LogLevel ERROR',
    ];
  }

  /** What sshd logged so far: for failure messages. */
  serverLog(): string {
    return this.sshdLog;
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    process.removeListener('exit', this.destroyAtExit);
    this.sshd?.kill('SIGKILL');
    for (const netns of [this.server.netns, this.client.netns]) {
      // Deleting a namespace does not end the processes in it (sshd's sessions, pings): kill them first.
      const pids = spawnText('ip', ['netns', 'pids', netns]).split(/\s+/).filter(Boolean);
      for (const pid of pids) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
      spawnText('ip', ['netns', 'delete', netns]);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  private buildNetwork(): void {
    const { server, client } = this;
    const serverLink = `pk${this.id}s`;
    const clientLink = `pk${this.id}c`;
    runChecked('ip', ['netns', 'add', server.netns]);
    runChecked('ip', ['netns', 'add', client.netns]);
    runChecked('ip', [
      'link',
      'add',
      serverLink,
      'netns',
      server.netns,
      'type',
      'veth',
      'peer',
      'name',
      clientLink,
      'netns',
      client.netns,
    ]);
    for (const [end, link] of [
      [server, serverLink],
      [client, clientLink],
    ] as const) {
      runChecked('ip', ['-n', end.netns, 'link', 'set', 'lo', 'up']);
      runChecked('ip', ['-n', end.netns, 'addr', 'add', `${end.ipv4}/24`, 'dev', link]);
      runChecked('ip', ['-n', end.netns, '-6', 'addr', 'add', `${end.ipv6}/64`, 'dev', link, 'nodad']);
      runChecked('ip', ['-n', end.netns, 'link', 'set', link, 'up']);
    }
  }

  private writeFiles(secret: Secret, stockLimits: boolean): void {
    const sshDir = join(this.home, '.ssh');
    mkdirSync(join(sshDir, 'pingknock'), { recursive: true, mode: 0o700 });
    for (const alias of [LAB_HOSTS.knocked, LAB_HOSTS.knocked6]) {
      writeFileSync(join(sshDir, 'pingknock', alias), `${secret}\n`, { mode: 0o600 });
    }
    runChecked('ssh-keygen', [
      '-q',
      '-t',
      'ed25519',
      '-N',
      '',
      '-C',
      'pingknock-lab-host',
      '-f',
      join(this.dir, 'host_key'),
    ]);
    runChecked('ssh-keygen', [
      '-q',
      '-t',
      'ed25519',
      '-N',
      '',
      '-C',
      'pingknock-lab-user',
      '-f',
      join(this.dir, 'user_key'),
    ]);
    const authorizedKeys = join(this.dir, 'authorized_keys');
    writeFileSync(authorizedKeys, readFileSync(join(this.dir, 'user_key.pub')), { mode: 0o600 });
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    mkdirSync(this.serverHome, { mode: 0o700 });
    writeFileSync(
      join(this.dir, 'sshd_config'),
      [
        `Port ${this.port}`,
        'ListenAddress 0.0.0.0',
        'ListenAddress ::',
        `HostKey ${join(this.dir, 'host_key')}`,
        // The second file serves LAB_ACCOUNTS, which cannot read the first (root's, in a private folder).
        `AuthorizedKeysFile ${authorizedKeys} .ssh/authorized_keys`,
        'PermitRootLogin prohibit-password',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        'StrictModes no',
        'PidFile none',
        ...(stockLimits ? [] : ['MaxStartups 100:30:200', 'MaxSessions 100']),
        `LogLevel ${stockLimits ? 'VERBOSE' : 'INFO'}`,
        'Subsystem sftp internal-sftp',
        '',
      ].join('\n'),
    );
    const common = this.sshClientOptions().map((line) => `  ${line}`);
    writeFileSync(
      this.sshConfig,
      [
        `Host ${LAB_HOSTS.knocked}`,
        `  HostName ${this.server.ipv4}`,
        `  ProxyCommand ${proxyCommandFor(LAB_HOSTS.knocked)}`,
        ...common,
        `Host ${LAB_HOSTS.knocked6}`,
        `  HostName ${this.server.ipv6}`,
        `  ProxyCommand ${proxyCommandFor(LAB_HOSTS.knocked6)}`,
        ...common,
        `Host ${LAB_HOSTS.direct}`,
        `  HostName ${this.server.ipv4}`,
        '  ConnectTimeout 3',
        ...common,
        `Host ${LAB_HOSTS.direct6}`,
        `  HostName ${this.server.ipv6}`,
        '  ConnectTimeout 3',
        ...common,
        '',
      ].join('\n'),
    );
    chmodSync(this.sshConfig, 0o600);
  }

  /**
   * LAB_ACCOUNTS in the server's view only: copies of /etc/passwd, group and shadow with the
   * accounts added, homes under /home, and an /etc/sudoers of the lab's own, bound over the host's.
   */
  private writeAccounts(): void {
    const etc = join(this.dir, 'server-accounts');
    const homes = join(etc, 'home');
    mkdirSync(homes, { recursive: true, mode: 0o755 });
    chmodSync(etc, 0o755);
    const files = {
      passwd: readFileSync('/etc/passwd', 'utf8'),
      group: readFileSync('/etc/group', 'utf8'),
      shadow: readFileSync('/etc/shadow', 'utf8'),
    };
    const taken = new Set(
      [...`${files.passwd}${files.group}`.matchAll(/^[^:\n]*:[^:\n]*:(\d+):/gm)].map((match) => Number(match[1])),
    );
    let id = 4200;
    for (const name of Object.values(LAB_ACCOUNTS)) {
      while (taken.has(id)) id += 1;
      taken.add(id);
      const home = join(homes, name);
      files.passwd = `${withNewline(files.passwd)}${name}:x:${id}:${id}:pingknock lab:/home/${name}:/bin/sh\n`;
      files.group = `${withNewline(files.group)}${name}:x:${id}:\n`;
      // '*': no password, yet not locked ('!'), which would refuse the key too.
      files.shadow = `${withNewline(files.shadow)}${name}:*:19000:0:99999:7:::\n`;
      mkdirSync(join(home, '.ssh'), { recursive: true, mode: 0o700 });
      writeFileSync(join(home, '.ssh', 'authorized_keys'), readFileSync(join(this.dir, 'user_key.pub')), {
        mode: 0o600,
      });
      for (const path of [home, join(home, '.ssh'), join(home, '.ssh', 'authorized_keys')]) chownSync(path, id, id);
    }
    for (const [name, text] of Object.entries(files)) {
      writeFileSync(join(etc, name), text, { mode: name === 'shadow' ? 0o600 : 0o644 });
      this.serverBinds.push([join(etc, name), `/etc/${name}`]);
    }
    writeFileSync(join(etc, 'sudoers'), LAB_SUDOERS, { mode: 0o440 });
    this.serverBinds.push([join(etc, 'sudoers'), '/etc/sudoers'], [homes, '/home']);
  }

  /** ufw in the server: a private copy of /etc/ufw (the host's stays untouched), enabled, deny incoming. */
  private async startUfw(): Promise<void> {
    if (this.ufwDir === undefined) return;
    cpSync('/etc/ufw', this.ufwDir, { recursive: true });
    // ufw's first start leaves out a few rules that every later reload has: reload once, so the
    // server is in the state it keeps from then on.
    for (const args of [['--force', 'enable'], ['reload']]) {
      const result = await this.onServer('ufw', args);
      if (result.code !== 0) {
        throw new Error(`ufw ${args.join(' ')} failed: ${result.stderr.trim()}`);
      }
    }
  }

  private startSshd(): Promise<void> {
    // sshd refuses to run unless started by its absolute path.
    const sshd = spawn(
      'ip',
      this.serverCommand(findCommand('sshd') ?? '/usr/sbin/sshd', ['-D', '-e', '-f', join(this.dir, 'sshd_config')]),
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    this.sshd = sshd;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`sshd did not start: ${this.sshdLog.trim()}`)), 10_000);
      sshd.stderr.setEncoding('utf8').on('data', (text: string) => {
        this.sshdLog += text;
        // One line per ListenAddress: both must be up before anyone connects.
        if ((this.sshdLog.match(/Server listening on/g) ?? []).length >= 2) {
          clearTimeout(timer);
          resolve();
        }
      });
      sshd.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`sshd exited (${code}): ${this.sshdLog.trim()}`));
      });
    });
  }
}

function spawnText(file: string, args: readonly string[]): string {
  try {
    return runChecked(file, args);
  } catch {
    return '';
  }
}

function withNewline(text: string): string {
  return text === '' || text.endsWith('\n') ? text : `${text}\n`;
}
