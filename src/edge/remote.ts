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
import { ControlMaster } from './control-master.js';
import { run, type RunResult } from './exec.js';

/**
 * The server side of `pingknock enroll` and `unenroll`, reached with the user's own ssh: one
 * control master connection that stays up while the firewall changes (the rules keep
 * established connections), sessions multiplexed over it, and fresh connections that prove what
 * a new client meets. Its ssh command lines are core/remote-ssh.ts's.
 */

const SCRIPT_TIMEOUT_MS = 120_000;

/** Over the kept connection, or a fresh knocked one: as the alias, or `as` another alias of the server. */
export type Route = 'master' | 'knocked' | { readonly knockedAs: string };

/** A server logged in to over a control master, with root (directly or through `sudo -n`) checked. */
export class RemoteServer {
  /** The login is not root: root's commands go through `sudo -n`. */
  private sudo = false;

  private constructor(
    readonly target: SshTarget,
    private readonly master: ControlMaster,
  ) {}

  private get controlPath(): string {
    return this.master.controlPath;
  }

  /**
   * Logs in (as `target.via` when given) and keeps the connection; `knock: false` connects around
   * the ProxyCommand (the port is still open).
   */
  static async open(target: SshTarget, options: { readonly knock: boolean }): Promise<RemoteServer> {
    const jump = target.jump ?? (await knockingJumpOf(target.alias, target.configFile));
    const reached: SshTarget = { ...target, jump };
    const via = target.via;
    const as = via === undefined || via === target.alias ? '' : ` (as ${via})`;
    const master = await ControlMaster.open({
      folderPrefix: 'pingknock-ssh-',
      masterArgs: (controlPath, logFile) =>
        sshArgs(reached, { kind: 'open-master', controlPath, logFile, knock: options.knock }),
      checkArgs: (controlPath) => sshArgs(reached, { kind: 'check', controlPath }),
      failed: (reason) =>
        new PingknockError(
          'server',
          `cannot log in to ${target.alias} ${options.knock ? 'through the knock' : 'without a knock'}${as}: ${reason}`,
        ),
    });
    const server = new RemoteServer(reached, master);
    try {
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

  close(): Promise<void> {
    return this.master.close();
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
}
