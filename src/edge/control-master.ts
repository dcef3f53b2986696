import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PingknockError } from '../core/errors.js';
import { lastLines } from '../core/target.js';
import { run } from './exec.js';
import { sshStartFailure } from './ssh.js';

/**
 * One ssh login kept open as a control master in a private folder, for enroll's server and
 * doctor's jump host alike: sessions ride on it, so each step costs no new login and no knock.
 */

const MASTER_TIMEOUT_MS = 60_000;
const MASTER_POLL_MS = 100;
/** How long close waits for the master to end after each signal. */
const CLOSE_WAIT_MS = 5_000;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export interface ControlMasterSpec {
  /** Start of the private folder's name, under the temporary folder. */
  readonly folderPrefix: string;
  /** ssh's arguments for the master (ControlMaster=yes, this ControlPath, its messages to `logFile` with -E, -N). */
  readonly masterArgs: (controlPath: string, logFile: string) => string[];
  /** ssh's arguments asking the master at `controlPath` whether it is up (-O check). */
  readonly checkArgs: (controlPath: string) => string[];
  /** The error for a login that failed, for `reason` (ssh's last words, or a timeout). */
  readonly failed: (reason: string) => PingknockError;
}

export class ControlMaster {
  private readonly killAtExit = (): void => this.kill();
  private master: ChildProcess | undefined;
  private closed = false;

  private constructor(private readonly dir: string) {}

  /** The control socket: `-o ControlPath=` this, for sessions over the master. */
  get controlPath(): string {
    return join(this.dir, 'cm');
  }

  /** Logs in and keeps the connection; throws `spec.failed(...)` when the login fails or takes over a minute. */
  static async open(spec: ControlMasterSpec): Promise<ControlMaster> {
    // A private folder: the control socket is a login to that host for whoever can reach it.
    // ssh reads ControlPath as words with %-tokens: a TMPDIR it could misread is not used.
    const base = /^[A-Za-z0-9._/-]+$/.test(tmpdir()) ? tmpdir() : '/tmp';
    const master = new ControlMaster(await fs.mkdtemp(join(base, spec.folderPrefix)));
    try {
      await master.start(spec);
      return master;
    } catch (error) {
      await master.close();
      throw error;
    }
  }

  /** Ends the master (SIGTERM, then SIGKILL should it linger) and removes its folder; never waits long. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    process.removeListener('exit', this.killAtExit);
    const master = this.master;
    if (master !== undefined && master.exitCode === null && master.signalCode === null) {
      const gone = new Promise<boolean>((resolve) => master.once('exit', () => resolve(true)));
      // The timer must not keep the command alive once the master is gone.
      const within = (ms: number): Promise<boolean> =>
        Promise.race([gone, new Promise<boolean>((resolve) => setTimeout(resolve, ms, false).unref())]);
      this.kill();
      if (!(await within(CLOSE_WAIT_MS))) {
        master.kill('SIGKILL');
        // Not reaped even so: the command is done with it, and must not wait on it to exit.
        if (!(await within(CLOSE_WAIT_MS))) master.unref();
      }
    }
    await fs.rm(this.dir, { recursive: true, force: true });
  }

  private async start(spec: ControlMasterSpec): Promise<void> {
    const logFile = join(this.dir, 'log');
    // In the foreground, not `ssh -f`: forking away would orphan a ProxyCommand, and pingknock
    // proxy ends when orphaned. Its messages go to the log (-E); a password prompt uses /dev/tty.
    const master = spawn('ssh', spec.masterArgs(this.controlPath, logFile), { stdio: 'ignore' });
    this.master = master;
    process.on('exit', this.killAtExit);
    const ended = new Promise<string>((resolve) => {
      master.on('error', (error: NodeJS.ErrnoException) => resolve(sshStartFailure(error)));
      master.on('exit', (code) => resolve(lastLines(readLog(logFile)) || `ssh exited with ${code}`));
    });
    // Up once ssh answers on the control socket, which it opens after logging in.
    for (const started = Date.now(); ;) {
      const end = await Promise.race([ended, sleep(MASTER_POLL_MS).then(() => undefined)]);
      if (end !== undefined) throw spec.failed(end);
      if ((await run('ssh', spec.checkArgs(this.controlPath), { timeoutMs: 10_000 })).code === 0) return;
      if (Date.now() - started > MASTER_TIMEOUT_MS) throw spec.failed(`no login within ${MASTER_TIMEOUT_MS / 1000} s`);
    }
  }

  private kill(): void {
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
