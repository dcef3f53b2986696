import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findCommand } from '../../src/edge/exec.js';

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
  /**
   * Run in network and mount namespaces of its own, where the resolver asks 127.0.0.1 and only
   * loopback exists: a name that is not in /etc/hosts fails at once, and no query leaves the machine.
   */
  readonly offline?: boolean;
}

/** Loopback up, the given resolv.conf over the system's, then the command. */
const OFFLINE_THEN_EXEC = '"$1" link set lo up && "$2" --bind "$3" /etc/resolv.conf && shift 3 && exec "$@"';

function offlineCommand(home: string, command: readonly string[]): string[] {
  const tools = ['unshare', 'ip', 'mount'].map((name) => {
    const path = findCommand(name);
    if (path === undefined) throw new Error(`an offline CLI run needs ${name}`);
    return path;
  });
  const resolvConf = join(home, 'offline-resolv.conf');
  writeFileSync(resolvConf, 'nameserver 127.0.0.1\n');
  const [unshare, ip, mount] = tools as [string, string, string];
  return [
    unshare,
    '--user',
    '--map-root-user',
    '--net',
    '--mount',
    '/bin/sh',
    '-c',
    OFFLINE_THEN_EXEC,
    'sh',
    ip,
    mount,
    resolvConf,
    ...command,
  ];
}

/** The real CLI, as a user runs it: HOME given, no PINGKNOCK_SECRET from the test's own environment, no terminal. */
export function pingknock(args: readonly string[], options: CliOptions): CliRun {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: options.home, ...options.env };
  if (options.env?.PINGKNOCK_SECRET === undefined) delete env.PINGKNOCK_SECRET;
  const [file, ...argv] =
    options.offline === true
      ? offlineCommand(options.home, [process.execPath, BIN, ...args])
      : [process.execPath, BIN, ...args];
  const result = spawnSync(file as string, argv, {
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
