import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
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
  readonly env?: Readonly<Record<string, string | undefined>>;
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

/** A `ping` that only records its arguments, in `log`: a test that finds no log proves ping never ran. */
export function recordingPing(folder: string): { readonly bin: string; readonly log: string } {
  const bin = join(folder, 'fake-bin');
  const log = join(folder, 'ping-argv');
  mkdirSync(bin);
  writeFileSync(join(bin, 'ping'), `#!/bin/sh\nprintf '%s\\n' "$@" >> '${log}'\nexit 1\n`, { mode: 0o755 });
  return { bin, log };
}
