import type { ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PingknockError } from '../core/errors.js';
import type { Secret } from '../core/secret.js';
import { findCommand, run, type RunOptions, type RunResult } from '../edge/exec.js';
import { EXISTING_FIREWALL, forgetKnocks, loadRules, type ServerFirewall } from './firewall.js';
import { buildNetwork, removeNamespaces, startForwarder, type Command, type Endpoint, type Middle } from './network.js';
import { clientConfig, LAB_HOSTS, makeKeys, sshdConfig, startSshd, type Sshd } from './sshd.js';

/**
 * A throw-away network of two namespaces joined by a veth pair (or through a third, see
 * LabOptions.forwarder): a server running a real sshd, and a client. Used by `pingknock demo`, the
 * end-to-end tests and the benchmarks. Everything it makes is named after its id, and `destroy()`
 * (also run at process exit) removes all of it.
 */

export { LAB_HOSTS, type Command, type Endpoint, type Middle, type ServerFirewall };

/**
 * Something a caller adds to the server (another firewall, more logins, sshd settings): the lab
 * itself builds only what the demo shows.
 */
export interface ServerFeature {
  /** Programs it needs, checked with the lab's own before anything is built. */
  readonly programs?: readonly string[];
  /** Lines for sshd's config, each replacing the lab's lines of the same keyword. */
  readonly sshdConfig?: readonly string[];
  /** Runs once the network, the keys and the server's own firewall are in place, before sshd starts. */
  readonly prepare?: (lab: Lab) => void | Promise<void>;
}

export interface LabOptions {
  readonly secret: Secret;
  readonly serverFirewall: ServerFirewall;
  readonly port?: number;
  /** Set up in this order. */
  readonly features?: readonly ServerFeature[];
  /**
   * Puts a third namespace between client and server, holding the other end of each one's link,
   * and runs there the command this returns for it: a program that carries frames between those
   * ends (a delay line, a lossy link). It must write a line on stdout once it forwards; the lab
   * waits for that line.
   */
  readonly forwarder?: (middle: Middle) => Command;
}

const REQUIRED_PROGRAMS = ['ip', 'nft', 'sshd', 'ssh', 'ssh-keygen', 'ping', 'unshare', 'mount'] as const;

/** Bind-mounts each `from to` pair given before `--`, then runs what follows it. */
const BIND_THEN_EXEC = 'while [ "$1" != -- ]; do mount --bind "$1" "$2" || exit 1; shift 2; done; shift; exec "$@"';
/** The built `pingknock` command, as install.sh puts it on the PATH. */
const PROJECT_BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'bin');

let labCount = 0;

export class Lab {
  readonly id: string;
  readonly dir: string;
  readonly home: string;
  readonly sshConfig: string;
  /** The client's private key, which logs in to the server; `.pub` beside it. */
  readonly userKey: string;
  readonly port: number;
  readonly server: Endpoint;
  readonly client: Endpoint;
  /** The namespace between them, when a forwarder carries their frames. */
  readonly middle: string | undefined;
  readonly env: NodeJS.ProcessEnv;
  /**
   * What the server sees instead of the host's files (`from`, `to`): its own home for the login
   * user, and what bindOnServer adds.
   */
  private readonly serverBinds: [string, string][];
  /** The server's home for the login user: sessions must not run the host user's dotfiles. */
  private readonly serverHome: string;
  private sshd: Sshd | undefined;
  private forwarder: ChildProcess | undefined;
  private destroyed = false;
  private readonly destroyAtExit = (): void => this.destroy();

  private constructor(options: LabOptions) {
    labCount += 1;
    this.id = `${process.pid.toString(36)}${labCount}`;
    this.port = options.port ?? 22;
    this.dir = mkdtempSync(join(tmpdir(), `pingknock-lab-${this.id}-`));
    this.home = join(this.dir, 'home');
    this.sshConfig = join(this.dir, 'ssh_config');
    this.userKey = join(this.dir, 'user_key');
    this.server = { netns: `pk-${this.id}-srv`, ipv4: '10.201.0.1', ipv6: 'fd70:6b::1' };
    this.client = { netns: `pk-${this.id}-cli`, ipv4: '10.201.0.2', ipv6: 'fd70:6b::2' };
    this.middle = options.forwarder === undefined ? undefined : `pk-${this.id}-mid`;
    this.env = { ...process.env, HOME: this.home, PATH: `${PROJECT_BIN}:${process.env.PATH ?? '/usr/bin:/bin'}` };
    this.serverHome = join(this.dir, 'server-home');
    this.serverBinds = [[this.serverHome, userInfo().homedir]];
    process.on('exit', this.destroyAtExit);
  }

  static async create(options: LabOptions): Promise<Lab> {
    if (process.getuid?.() !== 0) {
      throw new PingknockError('privilege', 'the lab needs root (network namespaces, nft, sshd): run it with sudo');
    }
    const required = [...REQUIRED_PROGRAMS, ...(options.features ?? []).flatMap((feature) => feature.programs ?? [])];
    const missing = required.filter((name) => findCommand(name) === undefined);
    if (missing.length > 0) {
      throw new PingknockError('lab', `the lab needs ${missing.join(', ')}; install them with: ./install.sh --lab`);
    }
    const lab = new Lab(options);
    try {
      await lab.build(options);
      return lab;
    } catch (error) {
      lab.destroy();
      if (error instanceof PingknockError) throw error;
      throw new PingknockError('lab', `could not build the lab: ${(error as Error).message}`);
    }
  }

  /** Loads an `nft -f` ruleset inside the server namespace. */
  loadServerRules(ruleset: string): void {
    loadRules(this.server.netns, ruleset);
  }

  /** Forgets every knock the server has seen (nftables sets, xt_recent lists), so the port is closed again. */
  forgetKnocks(): void {
    forgetKnocks(this.server.netns);
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
   * Shows `from` at `to` to what the server runs from then on, the host's file staying untouched:
   * before sshd starts (in a feature's prepare), so its sessions see it too.
   */
  bindOnServer(from: string, to: string): void {
    this.serverBinds.push([from, to]);
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
      `IdentityFile ${this.userKey}`,
      'IdentitiesOnly yes',
      `UserKnownHostsFile ${join(this.dir, 'known_hosts')}`,
      'StrictHostKeyChecking accept-new',
      'BatchMode yes',
      'LogLevel ERROR',
    ];
  }

  /** What sshd logged so far: for failure messages. */
  serverLog(): string {
    return this.sshd?.log() ?? '';
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    process.removeListener('exit', this.destroyAtExit);
    this.sshd?.process.kill('SIGKILL');
    this.forwarder?.kill('SIGKILL');
    removeNamespaces([this.server.netns, this.client.netns, ...(this.middle === undefined ? [] : [this.middle])]);
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async build(options: LabOptions): Promise<void> {
    const middle = buildNetwork(this.id, this.server, this.client, this.middle);
    if (middle !== undefined && options.forwarder !== undefined) {
      this.forwarder = await startForwarder(middle, options.forwarder(middle), this.env);
    }
    this.writeClientFiles(options.secret);
    const keys = makeKeys(this.dir);
    mkdirSync(this.serverHome, { mode: 0o700 });
    if (options.serverFirewall === 'existing') this.loadServerRules(EXISTING_FIREWALL);
    const features = options.features ?? [];
    for (const feature of features) await feature.prepare?.(this);
    const config = join(this.dir, 'sshd_config');
    writeFileSync(
      config,
      sshdConfig(
        this.port,
        keys,
        features.flatMap((feature) => feature.sshdConfig ?? []),
      ),
    );
    // sshd refuses to run unless started by its absolute path.
    this.sshd = await startSshd(
      this.serverCommand(findCommand('sshd') ?? '/usr/sbin/sshd', ['-D', '-e', '-f', config]),
    );
  }

  /** The client's secrets, one per knocked alias, and its ssh config. */
  private writeClientFiles(secret: Secret): void {
    const secrets = join(this.home, '.ssh', 'pingknock');
    mkdirSync(secrets, { recursive: true, mode: 0o700 });
    for (const alias of [LAB_HOSTS.knocked, LAB_HOSTS.knocked6]) {
      writeFileSync(join(secrets, alias), `${secret}\n`, { mode: 0o600 });
    }
    writeFileSync(this.sshConfig, clientConfig(this.server, this.sshClientOptions()));
    chmodSync(this.sshConfig, 0o600);
  }

  /**
   * `ip` arguments that run a program in the server namespace, in a mount namespace of its own
   * where serverBinds stand in for the host's files. The host's files stay untouched, and the host
   * user's shell start-up files (a pyenv rehash taking a lock, say) never run in, or slow down, the
   * server's sessions.
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
}
