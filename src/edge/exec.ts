import { accessSync, constants } from 'node:fs';
import { spawn, spawnSync, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';

export interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: Buffer;
  readonly stderr: string;
  readonly ms: number;
}

export interface RunOptions {
  readonly input?: Buffer | string;
  readonly env?: NodeJS.ProcessEnv;
  readonly timeoutMs?: number;
  readonly cwd?: string;
  /**
   * 'ignore' when nobody reads it: nothing is collected, and nothing the program leaves running
   * keeps our pipe open.
   */
  readonly stdout?: 'pipe' | 'ignore';
}

/** Runs a program (no shell parses its arguments) and collects its output; the timeout kills it with SIGKILL. */
export function run(file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    // Node's typings pick the streams' types only from a literal stdio: stdout is the one that may be absent.
    const child = spawn(file, args, {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: ['pipe', options.stdout ?? 'pipe', 'pipe'],
    }) as ChildProcessByStdio<Writable, Readable | null, Readable>;
    const stdout: Buffer[] = [];
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      stderr += text;
    });
    const timer =
      options.timeoutMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(stdout), stderr, ms: performance.now() - started });
    });
    child.stdin.on('error', () => {
      // The program may exit without reading its input; that is its answer, not our failure.
    });
    child.stdin.end(options.input ?? '');
  });
}

export interface ScriptResult {
  /** A script ended by a signal counts as failed: 1. */
  readonly code: number;
  readonly stderr: string;
}

/** Runs a generated POSIX sh script, fed on stdin so it never appears in the process list. */
export async function runScript(script: string): Promise<ScriptResult> {
  const { code, stderr } = await run('sh', ['-s'], { input: script, stdout: 'ignore' });
  return { code: code ?? 1, stderr };
}

/** What runChecked takes from a program: a ruleset with a year of one-time patterns lists at tens of MiB. */
const CHECKED_OUTPUT_LIMIT = 256 * 1024 * 1024;

/** For set-up and clean-up steps that must succeed: throws with the program's stderr. */
export function runChecked(file: string, args: readonly string[], input?: string): string {
  const result = spawnSync(file, args, { input: input ?? '', encoding: 'utf8', maxBuffer: CHECKED_OUTPUT_LIMIT });
  if (result.error !== undefined) {
    throw new Error(`${file} could not run: ${result.error.message}`);
  }
  if (result.status !== 0) {
    throw new Error(`${file} ${args.join(' ')} failed: ${result.stderr.trim()}`);
  }
  return result.stdout;
}

/** The absolute path of a program on PATH (or in the sbin folders root has), if any. */
export function findCommand(name: string): string | undefined {
  const folders = (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin']);
  return folders
    .filter((folder) => folder !== '')
    .map((folder) => `${folder}/${name}`)
    .find((path) => {
      try {
        accessSync(path, constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
}
