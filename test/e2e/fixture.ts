import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, readdirSync, writeFileSync } from 'node:fs';
import { lstat, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'vitest';
import { run, type RunOptions, type RunResult } from '../../src/edge/exec.js';
import { Lab, LAB_HOSTS, type LabOptions, type ServerFirewall } from '../../src/lab/lab.js';
import { parseSecret, secretFromRandomBytes, SECRET_RANDOM_BYTES, type Secret } from '../../src/core/secret.js';
import { buildRuleModel } from '../../src/core/rules/model.js';
import { renderNftables } from '../../src/core/rules/nftables.js';
import {
  descendantsOf,
  killTree,
  processInfo,
  sleep,
  start,
  type Line,
  type ProcessInfo,
  type Started,
} from '../support/spawned.js';

export const FIREWALLS: readonly ServerFirewall[] = ['bare', 'existing'];

export function newSecret(): Secret {
  return secretFromRandomBytes(randomBytes(SECRET_RANDOM_BYTES));
}

/** The secret turned by `by` characters: the same symbols, so only an exact-offset match refuses it. */
export function rotated(secret: Secret, by: number): Secret {
  return parseSecret(secret.slice(by) + secret.slice(0, by), 'rotation');
}

export function nftRules(secret: Secret, windowSeconds = 60): string {
  return renderNftables(buildRuleModel({ secret, port: 22, windowSeconds }));
}

/** A lab whose server is protected by pingknock's nftables rules on top of `firewall`. */
export async function protectedLab(
  firewall: ServerFirewall,
  secret: Secret,
  options: Pick<LabOptions, 'features'> = {},
): Promise<Lab> {
  const lab = await Lab.create({ ...options, secret, serverFirewall: firewall });
  try {
    lab.loadServerRules(nftRules(secret));
  } catch (error) {
    lab.destroy();
    throw error;
  }
  return lab;
}

/** Where a copy goes from: the client's namespace, and the knocks to forget before each copy. */
export interface CopyClient {
  onClient(file: string, args: readonly string[], options?: RunOptions): Promise<RunResult>;
  forgetKnocks(): void;
}

/**
 * scp, then rsync, of 2 MiB + 5 random bytes from `folder` to the same folder on `alias` (ssh -F
 * `config`), each with the knocks forgotten first: both copies arrive byte-exact.
 */
export async function expectCopiedByteExact(
  client: CopyClient,
  config: string,
  alias: string,
  folder: string,
): Promise<void> {
  const source = join(folder, 'payload.bin');
  writeFileSync(source, randomBytes(2 * 1024 * 1024 + 5));
  const viaScp = join(folder, 'via-scp.bin');
  const viaRsync = join(folder, 'via-rsync.bin');
  client.forgetKnocks();
  const scp = await client.onClient('scp', ['-q', '-F', config, source, `${alias}:${viaScp}`], { timeoutMs: 60_000 });
  expect(scp.code, scp.stderr).toBe(0);
  client.forgetKnocks();
  const rsync = await client.onClient('rsync', ['-a', '-e', `ssh -F ${config}`, source, `${alias}:${viaRsync}`], {
    timeoutMs: 60_000,
  });
  expect(rsync.code, rsync.stderr).toBe(0);
  const expected = await sha256File(source);
  expect(await sha256File(viaScp)).toBe(expected);
  expect(await sha256File(viaRsync)).toBe(expected);
}

export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

// ---------------------------------------------------------------------------------------------
// Long-running programs in the lab, watched with test/support/spawned.ts

/** ssh from the client with the lab's config and plain pipes, as a script runs it: no terminal. */
export function startSsh(lab: Lab, args: readonly string[]): Started {
  return start('ip', ['netns', 'exec', lab.client.netns, 'ssh', '-F', lab.sshConfig, ...args], lab.env);
}

/**
 * `command` (sh) in the client namespace on a pseudo-terminal of 80x24, as a user types it:
 * script(1) gives it the terminal, whose output (the session's transcript) is script's stdout,
 * and passes on the command's exit code. Without CI in the environment, which turns the spinner
 * off, and with TERM=xterm.
 */
export function startOnTerminal(lab: Lab, command: string, env: NodeJS.ProcessEnv = {}): Started {
  const terminalEnv: NodeJS.ProcessEnv = { ...lab.env, TERM: 'xterm', SHELL: '/bin/sh', ...env };
  delete terminalEnv.CI;
  return start(
    'ip',
    ['netns', 'exec', lab.client.netns, 'script', '-qec', `stty cols 80 rows 24; ${command}`, '/dev/null'],
    terminalEnv,
  );
}

/** A knock from the client (`pingknock knock`): opens port 22 to it for the window, for ssh without the proxy. */
export async function openPort(lab: Lab): Promise<void> {
  const result = await lab.onClient('pingknock', ['knock', '--name', LAB_HOSTS.knocked, lab.server.ipv4], {
    timeoutMs: 20_000,
  });
  if (result.code !== 0) throw new Error(`pingknock knock failed (${result.code}): ${result.stderr}`);
}

/**
 * A TCP port in the server namespace that never answers like sshd: it takes connections, reads
 * what the client sends (its SSH banner) and says `greeted N` for the Nth, then on `close` or
 * `reset` (on its stdin) ends every connection it holds, with a FIN or with an RST (SO_LINGER 0).
 */
const SILENT_LISTENER = String.raw`
const net = require('node:net');
const sockets = [];
let greeted = 0;
const say = (text) => process.stdout.write(text + '\n');
const server = net.createServer((socket) => {
  socket.on('error', () => {});
  sockets.push(socket);
  socket.once('data', () => say('greeted ' + ++greeted));
});
server.listen(Number(process.argv[1]), '0.0.0.0', () => say('listening'));
require('node:readline').createInterface({ input: process.stdin }).on('line', (line) => {
  for (const socket of sockets.splice(0)) line === 'reset' ? socket.resetAndDestroy() : socket.destroy();
}).on('close', () => process.exit(0));
`;

export interface SilentListener {
  /** Resolves when the Nth connection has sent its first bytes. */
  greeted(count: number, timeoutMs: number): Promise<Line>;
  /** Ends every connection it holds; returns performance.now() taken just before. */
  end(how: 'close' | 'reset'): number;
  stop(): void;
}

export async function silentListener(lab: Lab, port: number): Promise<SilentListener> {
  const listener = start(
    'ip',
    ['netns', 'exec', lab.server.netns, process.execPath, '-e', SILENT_LISTENER, String(port)],
    lab.env,
  );
  await listener.line('stdout', /^listening$/, 20_000);
  return {
    greeted: (count, timeoutMs) => listener.line('stdout', new RegExp(`^greeted ${count}$`), timeoutMs),
    end(how) {
      const at = performance.now();
      listener.child.stdin.write(`${how}\n`);
      return at;
    },
    stop() {
      listener.child.stdin.end();
      killTree(listener.child.pid ?? 0);
    },
  };
}

/** The sessions of the lab's sshd: every process below the listening sshd, which this process started. */
export async function sshdSessions(lab: Lab): Promise<ProcessInfo[]> {
  const pids = (await run('ip', ['netns', 'pids', lab.server.netns])).stdout
    .toString()
    .split(/\s+/)
    .filter(Boolean)
    .map(Number);
  const listeners = pids.map(processInfo).filter((info) => info?.comm === 'sshd' && info.ppid === process.pid);
  return listeners.flatMap((info) => (info === undefined ? [] : descendantsOf(info.pid)));
}

/**
 * Waits until the server's established connections on `port` have nothing queued either way
 * (ss: Recv-Q and Send-Q 0) at three checks in a row: a process that dies now closes them with a
 * FIN. Unread bytes would make the kernel reset them instead, a different case.
 */
export async function serverConnectionsIdle(lab: Lab, port: number, timeoutMs = 10_000): Promise<void> {
  const until = performance.now() + timeoutMs;
  for (let quiet = 0; quiet < 3;) {
    const listing = (
      await run('ip', ['netns', 'exec', lab.server.netns, 'ss', '-tnH', 'state', 'established', `sport = :${port}`])
    ).stdout.toString();
    const rows = listing.split('\n').filter((row) => row.trim() !== '');
    quiet = rows.length > 0 && rows.every((row) => /^\s*0\s+0\s/.test(row)) ? quiet + 1 : 0;
    if (performance.now() > until)
      throw new Error(`the server's connections on port ${port} never went idle: ${listing}`);
    await sleep(50);
  }
}

/** Relative path, type, mode, size, mtime and content (or link target) of everything under `root`, sorted. */
export async function describeTree(root: string): Promise<string[]> {
  const entries = readdirSync(root, { recursive: true, encoding: 'utf8' }).sort();
  return Promise.all(
    entries.map(async (entry) => {
      const path = `${root}/${entry}`;
      const stats = await lstat(path);
      const what = stats.isSymbolicLink()
        ? `-> ${await readlink(path)}`
        : stats.isFile()
          ? await sha256File(path)
          : 'dir';
      const mode = (stats.mode & 0o7777).toString(8);
      const size = stats.isFile() ? stats.size : '';
      const mtime = stats.isSymbolicLink() ? '' : Math.floor(stats.mtimeMs / 1000);
      return `${entry} ${mode} ${size} ${mtime} ${what}`;
    }),
  );
}
