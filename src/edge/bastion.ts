import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { PingknockError } from '../core/errors.js';
import { routeArgs, type SshRoute } from '../core/jump.js';
import type { RemoteKnockResult } from '../core/jump-knock.js';
import { SSH_SESSION_OPTIONS } from '../core/remote-ssh.js';
import { ControlMaster } from './control-master.js';
import { sshAliasView, sshStartFailure } from './ssh.js';

/** ssh to a jump host, for a knock sent from it and the session carried through it (core/jump-knock.ts). */

function startFailure(error: NodeJS.ErrnoException): PingknockError {
  return new PingknockError('server', sshStartFailure(error));
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

/**
 * One ssh connection to a jump host kept open while doctor checks a knock from it: sessions and
 * `ssh -W` ride on it (a control master), so each step costs no new login and, when the jump
 * host is knock-protected too, no knock of its own.
 */
export class JumpMaster {
  private constructor(
    private readonly route: SshRoute,
    private readonly master: ControlMaster,
  ) {}

  /** Logs in along `route` and keeps the connection; throws (exit 13) when the login fails. */
  static async open(route: SshRoute): Promise<JumpMaster> {
    const master = await ControlMaster.open({
      folderPrefix: 'pingknock-jump-',
      masterArgs: (controlPath, logFile) =>
        routeArgs(route, [
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
        ]),
      checkArgs: (controlPath) => routeArgs(route, ['-o', `ControlPath=${controlPath}`, '-O', 'check']),
      failed: (reason) =>
        new PingknockError('server', `cannot log in to the jump host ${route.destination}: ${reason}`),
    });
    return new JumpMaster(route, master);
  }

  private get over(): string[] {
    return ['-o', 'ControlMaster=no', '-o', `ControlPath=${this.master.controlPath}`];
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

  close(): Promise<void> {
    return this.master.close();
  }
}

/**
 * The ProxyJump route of the jump host the alias's ProxyCommand knocks from (pingknock proxy
 * --jump), as ssh -G reads the config; undefined when it knocks from here, or ssh cannot say.
 */
export async function knockingJumpOf(alias: string, configFile: string | undefined): Promise<string | undefined> {
  const answer = await sshAliasView(alias, configFile);
  return answer.kind === 'ok' ? answer.view.pingknock?.jump?.route.text : undefined;
}
