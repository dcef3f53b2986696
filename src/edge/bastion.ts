import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs, readFileSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PingknockError } from '../core/errors.js';
import { routeArgs, type SshRoute } from '../core/jump.js';
import type { RemoteKnockResult } from '../core/jump-knock.js';
import { SSH_SESSION_OPTIONS } from '../core/remote-ssh.js';
import { readPingknockProxy } from '../core/ssh-config/proxy-command.js';
import { lastLines } from '../core/target.js';
import { run } from './exec.js';
import { effectiveSshConfig } from './ssh.js';

/** ssh to a jump host, for a knock sent from it and the session carried through it (core/jump-knock.ts). */

const SSH_MISSING = 'ssh not found (Debian/Ubuntu: apt-get install openssh-client)';

function startFailure(error: NodeJS.ErrnoException): PingknockError {
  return new PingknockError(
    'server',
    error.code === 'ENOENT' ? SSH_MISSING : `ssh could not be started (${error.code ?? error.message})`,
  );
}

/**
 * Runs ssh with `args` and collects what it says. Its stdin is the null device: the proxy's own
 * stdin is the ssh stream, which must not lose a byte to it. Exiting meanwhile (ssh ended the
 * proxy) ends it too.
 */
export function sshCollect(args: readonly string[]): Promise<RemoteKnockResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('ssh', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const stop = (): void => {
      child.kill('SIGTERM');
    };
    process.once('exit', stop);
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', (error: NodeJS.ErrnoException) => {
      process.removeListener('exit', stop);
      reject(startFailure(error));
    });
    child.on('close', (code) => {
      process.removeListener('exit', stop);
      resolve({
        code,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
      });
    });
  });
}

/**
 * Runs ssh with the proxy's own stdin, stdout and stderr (the session's stream passes between
 * ssh and ssh, untouched by pingknock) and resolves with its exit status, a signal's as the
 * shell gives it (128 + its number). Should the proxy be ended first (ssh hangs up on its
 * ProxyCommand), it is ended too.
 */
export function sshInheriting(args: readonly string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('ssh', args, { stdio: 'inherit' });
    const stop = (): void => {
      child.kill('SIGHUP');
    };
    process.once('exit', stop);
    child.on('error', (error: NodeJS.ErrnoException) => {
      process.removeListener('exit', stop);
      reject(startFailure(error));
    });
    child.on('exit', (code, signal) => {
      process.removeListener('exit', stop);
      resolve(code ?? 128 + (signal === null ? 0 : constants.signals[signal]));
    });
  });
}

export type PortAnswer =
  | { readonly kind: 'answered' }
  | { readonly kind: 'silent' }
  | { readonly kind: 'failed'; readonly code: number | null; readonly said: string };

/**
 * Runs `ssh -W` (args) and waits up to `ms` for the first byte the port sends: an sshd greets
 * every new connection at once. `silent` when nothing came (a port that drops the SYN never
 * answers); `failed` when ssh gave up first, with what it said (a refused port, no way there).
 */
export function firstByteWithin(args: readonly string[], ms: number): Promise<PortAnswer> {
  return new Promise((resolve, reject) => {
    const child = spawn('ssh', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    let settled = false;
    const settle = (answer: PortAnswer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill('SIGTERM');
      resolve(answer);
    };
    const timer = setTimeout(() => settle({ kind: 'silent' }), ms);
    child.stdout.once('data', () => settle({ kind: 'answered' }));
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      stderr += text;
    });
    child.stdin.on('error', () => {
      // ssh may be gone before anything is written; its end is what is reported.
    });
    child.on('error', (error: NodeJS.ErrnoException) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(startFailure(error));
    });
    child.on('close', (code) => settle({ kind: 'failed', code, said: stderr.trim() || `ssh exited with ${code}` }));
  });
}

const MASTER_TIMEOUT_MS = 60_000;
const MASTER_POLL_MS = 100;

/**
 * One ssh connection to a jump host kept open while doctor checks a knock from it: sessions and
 * `ssh -W` ride on it (a control master), so each step costs no new login and, when the jump
 * host is knock-protected too, no knock of its own.
 */
export class JumpMaster {
  private readonly killAtExit = (): void => this.kill();
  private master: ChildProcess | undefined;

  private constructor(
    private readonly route: SshRoute,
    private readonly dir: string,
  ) {}

  /** Logs in along `route` and keeps the connection; throws (exit 13) when the login fails. */
  static async open(route: SshRoute): Promise<JumpMaster> {
    // A private folder: the control socket is a login to that host for whoever can reach it.
    const base = /^[A-Za-z0-9._/-]+$/.test(tmpdir()) ? tmpdir() : '/tmp';
    const session = new JumpMaster(route, await fs.mkdtemp(join(base, 'pingknock-jump-')));
    try {
      await session.start();
      return session;
    } catch (error) {
      await session.close();
      throw error;
    }
  }

  private get over(): string[] {
    return ['-o', 'ControlMaster=no', '-o', `ControlPath=${join(this.dir, 'cm')}`];
  }

  /** Runs `command` in the jump host's shell, over the kept connection. */
  run(command: string): Promise<RemoteKnockResult> {
    return sshCollect(routeArgs(this.route, [...this.over, ...SSH_SESSION_OPTIONS], command));
  }

  /** A new connection from the jump host to HOST:PORT (ssh -W): whether the port greets it within `ms`. */
  firstByte(host: string, port: number, ms: number): Promise<PortAnswer> {
    return firstByteWithin(routeArgs(this.route, [...this.over, '-W', `[${host}]:${port}`]), ms);
  }

  /** Runs `command` there and waits up to `ms` for the first byte of its output (what it relays from a port). */
  firstOutput(command: string, ms: number): Promise<PortAnswer> {
    return firstByteWithin(routeArgs(this.route, [...this.over, ...SSH_SESSION_OPTIONS], command), ms);
  }

  async close(): Promise<void> {
    process.removeListener('exit', this.killAtExit);
    const master = this.master;
    if (master !== undefined && master.exitCode === null && master.signalCode === null) {
      const gone = new Promise((resolve) => master.once('exit', resolve));
      this.kill();
      await gone;
    }
    await fs.rm(this.dir, { recursive: true, force: true });
  }

  private async start(): Promise<void> {
    const logFile = join(this.dir, 'log');
    const controlPath = join(this.dir, 'cm');
    const args = routeArgs(this.route, [
      '-o',
      'ControlMaster=yes',
      '-o',
      `ControlPath=${controlPath}`,
      '-o',
      'ControlPersist=no',
      '-o',
      'ClearAllForwardings=yes',
      '-E',
      logFile,
      '-N',
    ]);
    // In the foreground: a master forked away (-f) would orphan a ProxyCommand of the jump host's
    // own, and pingknock proxy ends when orphaned. A password prompt still reaches the terminal.
    const master = spawn('ssh', args, { stdio: 'ignore' });
    this.master = master;
    process.on('exit', this.killAtExit);
    const ended = new Promise<string>((resolve) => {
      master.on('error', (error: NodeJS.ErrnoException) => resolve(startFailure(error).message));
      master.on('exit', (code) => resolve(lastLines(readLog(logFile)) || `ssh exited with ${code}`));
    });
    const failed = (reason: string): PingknockError =>
      new PingknockError('server', `cannot log in to the jump host ${this.route.destination}: ${reason}`);
    const check = routeArgs(this.route, ['-o', `ControlPath=${controlPath}`, '-O', 'check']);
    for (const started = Date.now(); ;) {
      const end = await Promise.race([ended, sleep(MASTER_POLL_MS).then(() => undefined)]);
      if (end !== undefined) throw failed(end);
      if ((await run('ssh', check, { timeoutMs: 10_000 })).code === 0) return;
      if (Date.now() - started > MASTER_TIMEOUT_MS) throw failed(`no login within ${MASTER_TIMEOUT_MS / 1000} s`);
    }
  }

  private kill(): void {
    if (this.master?.exitCode === null && this.master.signalCode === null) this.master.kill('SIGTERM');
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function readLog(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/**
 * The ProxyJump route of the jump host the alias's ProxyCommand knocks from (pingknock proxy
 * --jump), as ssh -G reads the config; undefined when it knocks from here, or ssh cannot say.
 */
export async function knockingJumpOf(alias: string, configFile: string | undefined): Promise<string | undefined> {
  const answer = await effectiveSshConfig(
    alias,
    configFile === undefined ? { kind: 'default' } : { kind: 'file', path: configFile },
  );
  const proxy = answer.kind === 'ok' ? answer.config.get('proxycommand') : undefined;
  return proxy === undefined ? undefined : readPingknockProxy(proxy, alias)?.jump?.route.text;
}
