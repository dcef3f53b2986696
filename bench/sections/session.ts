// Row 7: a session through pingknock's fd-passing mode, once it is up: no pingknock process (nor a
// ping of its) left in the client's namespace, and bulk throughput next to direct ssh's.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Lab } from '../../src/lab/lab.js';
import { argvOf, processInfo, start } from '../../test/support/spawned.js';
import { MIB } from '../config.js';
import { checked, log } from '../measure.js';
import { onClient, type Context } from './context.js';
import { timeTransfers, transferVariant, writeRandomFile, type TransferVariant } from './transfer.js';

export interface SessionResult {
  /** For each fd-passing session: the processes other than ssh in the client's namespace once it was up. */
  readonly fdpassLeft: string[][];
  /** The same for one relaying session: the control, which must find the relay. */
  readonly relayLeft: string[][];
  /** Sessions that did not come up or end well. */
  readonly errors: string[];
  readonly fdpass: TransferVariant;
  readonly direct: TransferVariant;
}

/** ssh's options for pingknock's fd-passing mode, for the lab's `knocked` host. */
export const FDPASS_OPTIONS = [
  '-o',
  'ProxyUseFdpass=yes',
  '-o',
  'ProxyCommand=pingknock proxy --fdpass --name knocked %h %p',
] as const;

const FDPASS_SESSIONS = 3;
const SESSION_LIMIT_MS = 30_000;

/** The command lines of every process in the client's namespace but `ssh` (the session's own). */
function othersInClient(lab: Lab, ssh: number): string[] {
  return checked('ip', ['netns', 'pids', lab.client.netns])
    .split(/\s+/)
    .filter(Boolean)
    .map(Number)
    .filter((pid) => pid !== ssh && !isGone(pid))
    .map((pid) => argvOf(pid).join(' '))
    .filter((argv) => argv !== '');
}

/** Exited: a zombie waits for ssh to reap it and holds nothing. */
function isGone(pid: number): boolean {
  const info = processInfo(pid);
  return info === undefined || info.state === 'Z';
}

/**
 * Starts `ssh knocked` with `options`, and once the remote command has said it runs (so the
 * knock, the connection and the login are behind it), lists what else runs in the client's
 * namespace; then lets the session end.
 */
async function leftDuringSession(lab: Lab, options: readonly string[]): Promise<string[]> {
  lab.forgetKnocks();
  const args = onClient(lab, ['ssh', '-F', lab.sshConfig, ...options, 'knocked', 'echo up; sleep 1']);
  const session = start('ip', args, lab.env);
  await session.line('stdout', /^up$/, SESSION_LIMIT_MS);
  const left = othersInClient(lab, session.child.pid ?? 0);
  const finished = await session.finish(SESSION_LIMIT_MS);
  if (finished.code !== 0) throw new Error(`ssh exited ${finished.code}: ${finished.stderr.trim().slice(0, 300)}`);
  return left;
}

/** 7. The fd-passing session checks, in the bench's own lab (no delay line). */
export async function benchSession(ctx: Context): Promise<SessionResult> {
  const { lab, config, hex } = ctx;
  log(`session: ${FDPASS_SESSIONS} fd-passing sessions and 1 relaying one, looking for what runs beside ssh`);
  const fdpassLeft: string[][] = [];
  const relayLeft: string[][] = [];
  const errors: string[] = [];
  for (const [left, options, count] of [
    [relayLeft, [], 1],
    [fdpassLeft, FDPASS_OPTIONS, FDPASS_SESSIONS],
  ] as const) {
    for (let i = 0; i < count; i += 1) {
      try {
        left.push(await leftDuringSession(lab, options));
      } catch (error) {
        errors.push((error as Error).message);
      }
    }
  }

  const { sizeMib, nXfer } = config;
  const big = join(ctx.work, `session-${sizeMib}M`);
  const empty = join(ctx.work, 'session-0');
  const dest = join(ctx.work, 'session-dest');
  writeRandomFile(big, sizeMib);
  writeFileSync(empty, '');
  const removeDest = (): void => rmSync(dest, { force: true });
  const knockByHand = (): void => void checked('ip', onClient(lab, ['ping', '-c1', '-W1', '-p', hex, lab.server.ipv4]));
  const scp = (options: readonly string[], host: string, file: string): string[] =>
    onClient(lab, ['scp', '-q', '-F', lab.sshConfig, ...options, file, `${host}:${dest}`]);
  const fdpass = transferVariant('scpFdpass', 'scp via pingknock --fdpass', sizeMib);
  const direct = transferVariant('scpDirect', 'scp direct', sizeMib);
  await timeTransfers(
    [
      { v: fdpass, args: (f) => scp(FDPASS_OPTIONS, 'knocked', f), before: () => (removeDest(), lab.forgetKnocks()) },
      { v: direct, args: (f) => scp([], 'direct', f), before: () => (removeDest(), knockByHand()) },
    ],
    { section: 'session', big, empty, bytes: sizeMib * MIB, nXfer, env: lab.env, afterRound: removeDest },
  );
  for (const file of [big, empty, dest]) rmSync(file, { force: true });
  return { fdpassLeft, relayLeft, errors, fdpass, direct };
}
