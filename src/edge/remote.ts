import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PingknockError } from '../core/errors.js';
import { globalIpv6Addresses } from '../core/inet6.js';
import {
  probeOutcome,
  sshArgs,
  UNKNOCKED_CONNECT_TIMEOUT_SECONDS,
  type ProbeOutcome,
  type ServerAddress,
  type SshConnection,
  type SshTarget,
} from '../core/remote-ssh.js';
import { lastLines } from '../core/target.js';
import { knockingJumpOf } from './bastion.js';
import { run, type RunResult } from './exec.js';

/**
 * The server side of `pingknock enroll` and `unenroll`, reached with the user's own ssh: one
 * control master connection that stays up while the firewall changes (the rules keep
 * established connections), sessions multiplexed over it, and fresh connections that prove what
 * a new client meets. Its ssh command lines are core/remote-ssh.ts's.
 */

const MASTER_TIMEOUT_MS = 60_000;
const MASTER_POLL_MS = 100;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const SCRIPT_TIMEOUT_MS = 120_000;

/** Over the kept connection, or a fresh knocked one: as the alias, or `as` another alias of the server. */
export type Route = 'master' | 'knocked' | { readonly knockedAs: string };

/** A server logged in to over a control master, with root (directly or through `sudo -n`) checked. */
export class RemoteServer {
  private readonly killAtExit = (): void => this.killMaster();
  /** The login is not root: root's commands go through `sudo -n`. */
  private sudo = false;
  private master: ChildProcess | undefined;
  private closed = false;

  private constructor(
    readonly target: SshTarget,
    private readonly dir: string,
  ) {}

  private get controlPath(): string {
    return join(this.dir, 'cm');
  }

  /**
   * Logs in (as `target.via` when given) and keeps the connection; `knock: false` connects around
   * the ProxyCommand (the port is still open).
   */
  static async open(target: SshTarget, options: { readonly knock: boolean }): Promise<RemoteServer> {
    // A private folder: the control socket is a login to the server for whoever can reach it.
    // ssh reads ControlPath as words with %-tokens: a TMPDIR it could misread is not used.
    const base = /^[A-Za-z0-9._/-]+$/.test(tmpdir()) ? tmpdir() : '/tmp';
    const jump = target.jump ?? (await knockingJumpOf(target.alias, target.configFile));
    const server = new RemoteServer({ ...target, jump }, await fs.mkdtemp(join(base, 'pingknock-ssh-')));
    try {
      await server.openMaster(options.knock);
      server.sudo = await server.needsSudo();
      return server;
    } catch (error) {
      await server.close();
      throw error;
    }
  }

  get alias(): string {
    return this.target.alias;
  }

  /** Runs a command over the master (words fixed by pingknock, never user input). */
  command(words: readonly string[], timeoutMs = SCRIPT_TIMEOUT_MS): Promise<RunResult> {
    return run('ssh', sshArgs(this.target, { kind: 'master', controlPath: this.controlPath }, words), { timeoutMs });
  }

  /** Runs a script as root on the server: over the master, or over a fresh knocked connection. */
  script(script: string, route: Route, timeoutMs = SCRIPT_TIMEOUT_MS): Promise<RunResult> {
    const connection: SshConnection =
      route === 'master'
        ? { kind: 'master', controlPath: this.controlPath }
        : { kind: 'knocked', as: route === 'knocked' ? undefined : route.knockedAs };
    return run('ssh', sshArgs(this.target, connection, this.asRoot(['sh', '-s'])), { input: script, timeoutMs });
  }

  /** A fresh login without a knock (to the alias, or `at` an address): it must time out once the rules are in place. */
  async probeUnknocked(at?: ServerAddress): Promise<ProbeOutcome> {
    const result = await run('ssh', sshArgs(this.target, { kind: 'unknocked', at }, ['true']), {
      timeoutMs: (UNKNOCKED_CONNECT_TIMEOUT_SECONDS + 25) * 1000,
    });
    return probeOutcome({ code: result.code, stderr: result.stderr });
  }

  /** The server's IPv6: whether its kernel has it at all, and its global addresses, best first. */
  async ipv6(): Promise<{ readonly enabled: boolean; readonly addresses: readonly string[] }> {
    // Read as the login user (the file is public): one line per address, none when IPv6 is off.
    const result = await this.command(['cat', '/proc/net/if_inet6']);
    if (result.code === 0) return { enabled: true, addresses: globalIpv6Addresses(result.stdout.toString('utf8')) };
    if (result.code === 1) return { enabled: false, addresses: [] };
    throw new PingknockError(
      'server',
      `cannot tell whether ${this.alias} has IPv6: ${lastLines(result.stderr) || `exit ${result.code}`}`,
    );
  }

  /** Reads a file on the server as root. */
  async readFile(path: string): Promise<string> {
    const result = await this.command(this.asRoot(['cat', '--', path]));
    if (result.code !== 0) {
      throw new PingknockError(
        'server',
        `cannot read ${path} on ${this.alias}: ${lastLines(result.stderr) || `exit ${result.code}`}`,
      );
    }
    return result.stdout.toString('utf8');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    process.removeListener('exit', this.killAtExit);
    if (this.master !== undefined) {
      const master = this.master;
      const gone = new Promise((resolve) =>
        master.exitCode !== null || master.signalCode !== null ? resolve(undefined) : master.once('exit', resolve),
      );
      this.killMaster();
      await gone;
    }
    await fs.rm(this.dir, { recursive: true, force: true });
  }

  private async openMaster(knock: boolean): Promise<void> {
    const logFile = join(this.dir, 'log');
    const args = sshArgs(this.target, { kind: 'open-master', controlPath: this.controlPath, logFile, knock });
    // In the foreground, not `ssh -f`: forking away would orphan the ProxyCommand, and pingknock
    // proxy ends when orphaned. Its messages go to the log (-E); a password prompt uses /dev/tty.
    const master = spawn('ssh', args, { stdio: 'ignore' });
    this.master = master;
    process.on('exit', this.killAtExit);
    const exited = new Promise<string>((resolve) => {
      master.on('error', (error: NodeJS.ErrnoException) =>
        resolve(
          error.code === 'ENOENT'
            ? 'ssh not found (Debian/Ubuntu: apt-get install openssh-client)'
            : `ssh could not be started (${error.code ?? error.message})`,
        ),
      );
      master.on('exit', (code) => resolve(lastLines(readLog(logFile)) || `ssh exited with ${code}`));
    });
    const via = this.target.via;
    const as = via === undefined || via === this.alias ? '' : ` (as ${via})`;
    const failed = (reason: string): PingknockError =>
      new PingknockError(
        'server',
        `cannot log in to ${this.alias} ${knock ? 'through the knock' : 'without a knock'}${as}: ${reason}`,
      );
    // Up once ssh answers on the control socket, which it opens after logging in.
    for (const started = Date.now(); ;) {
      const ended = await Promise.race([exited, sleep(MASTER_POLL_MS).then(() => undefined)]);
      if (ended !== undefined) throw failed(ended);
      const check = await run('ssh', sshArgs(this.target, { kind: 'check', controlPath: this.controlPath }), {
        timeoutMs: 10_000,
      });
      if (check.code === 0) return;
      if (Date.now() - started > MASTER_TIMEOUT_MS) {
        this.killMaster();
        throw failed(`no login within ${MASTER_TIMEOUT_MS / 1000} s`);
      }
    }
  }

  private asRoot(words: readonly string[]): readonly string[] {
    return this.sudo ? ['sudo', '-n', ...words] : words;
  }

  private async needsSudo(): Promise<boolean> {
    const id = await this.command(['id', '-u']);
    if (id.code !== 0)
      throw new PingknockError(
        'server',
        `cannot run commands on ${this.alias}: ${lastLines(id.stderr) || `exit ${id.code}`}`,
      );
    if (id.stdout.toString().trim() === '0') return false;
    const sudo = await this.command(['sudo', '-n', 'true']);
    if (sudo.code !== 0) {
      throw new PingknockError(
        'server',
        `changing the firewall on ${this.alias} needs root: the login user is not root, ` +
          `and sudo -n does not work (${lastLines(sudo.stderr) || `exit ${sudo.code}`}); ` +
          'log in as root, or allow this user sudo without a password',
      );
    }
    return true;
  }

  private killMaster(): void {
    if (this.master?.exitCode === null && this.master.signalCode === null) this.master.kill('SIGTERM');
  }
}

function readLog(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
