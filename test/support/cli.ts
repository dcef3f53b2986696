import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = join(ROOT, 'bin', 'pingknock');

export interface CliRun {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliOptions {
  readonly home: string;
  readonly env?: Readonly<Record<string, string>>;
  readonly input?: string;
  readonly cwd?: string;
}

/** The real CLI, as a user runs it: HOME given, no PINGKNOCK_SECRET from the test's own environment, no terminal. */
export function pingknock(args: readonly string[], options: CliOptions): CliRun {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: options.home, ...options.env };
  if (options.env?.PINGKNOCK_SECRET === undefined) delete env.PINGKNOCK_SECRET;
  const result = spawnSync(process.execPath, [BIN, ...args], {
    cwd: options.cwd ?? options.home,
    env,
    input: options.input ?? '',
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (result.error !== undefined) throw result.error;
  if (result.signal !== null) throw new Error(`pingknock ${args.join(' ')} was killed by ${result.signal}`);
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}
