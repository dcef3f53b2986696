// Rows 4 and 5: scp and rsync of a big file through pingknock and through nc, with the relays' peak RSS.
import { spawn } from 'node:child_process';
import { createCipheriv, randomBytes } from 'node:crypto';
import { closeSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { MIB, NODE } from '../config.js';
import { checked, log, sleep, timedAsync } from '../measure.js';
import { statusKib } from '../sampler.js';
import { Samples } from '../stats.js';
import { onClient, type Context } from './context.js';

/** One command's runs: the big file, the empty one, and the rates computed from both. */
export interface TransferVariant {
  readonly key: string;
  readonly label: string;
  readonly wall: Samples;
  readonly emptyWall: Samples;
  /** The relay's peak RSS in each big-file run, MiB. */
  readonly hwm: number[];
  /** MB/s of the data phase: each run's wall time minus the median set-up time. */
  readonly net: Samples;
  /** MB/s of the whole command. */
  readonly raw: Samples;
}

export interface TransferResult {
  readonly scpPk: TransferVariant;
  readonly scpNc: TransferVariant;
  readonly rsyncPk: TransferVariant;
  readonly rsyncNc: TransferVariant;
  /** scp of the small file via pingknock: peak RSS must not grow with the volume. */
  readonly small: { readonly s: Samples; readonly hwm: number[] };
  readonly idleNodeMib: number;
}

/** 1 GiB of incompressible bytes fast: AES-CTR of zeros (urandom would take ~5-8 s here). */
export function writeRandomFile(path: string, mib: number): void {
  const cipher = createCipheriv('aes-128-ctr', randomBytes(16), randomBytes(16));
  const zeros = Buffer.alloc(MIB);
  const fd = openSync(path, 'w');
  try {
    for (let i = 0; i < mib; i += 1) writeSync(fd, cipher.update(zeros));
  } finally {
    closeSync(fd);
  }
}

/** Peak RSS of a Node that does nothing, for scale: what any Node relay starts from. */
async function idleNodeHwmMib(): Promise<number> {
  const child = spawn(NODE, ['-e', "console.log('up'); setTimeout(() => {}, 5000)"], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  await new Promise((resolve) => child.stdout.once('data', resolve));
  await sleep(200);
  const hwm = child.pid === undefined ? undefined : statusKib(child.pid, 'VmHWM');
  child.kill('SIGKILL');
  return (hwm ?? Number.NaN) / 1024;
}

export const transferVariant = (key: string, label: string, sizeMib: number): TransferVariant => ({
  key,
  label,
  wall: new Samples(`${label}, ${sizeMib} MiB`),
  emptyWall: new Samples(`${label}, empty file`),
  hwm: [],
  net: new Samples(`${label}, data phase`),
  raw: new Samples(`${label}, whole command`),
});

/** One command of a transfer row: its samples, its arguments for a file, what comes before each run. */
export interface TransferRun {
  readonly v: TransferVariant;
  readonly args: (file: string) => string[];
  readonly before: () => void;
}

export interface TransferFiles {
  /** The section, for the log. */
  readonly section: string;
  readonly big: string;
  readonly empty: string;
  /** The big file's size. */
  readonly bytes: number;
  readonly nXfer: number;
  readonly env: NodeJS.ProcessEnv;
  /** After every round, once each command ran. */
  readonly afterRound: () => void;
}

/**
 * Runs `runs` round-robin: the big file `nXfer` times and the empty one at least 5 times, sampling
 * the relays; then each variant's rates, the data phase (each run minus the empty file's median)
 * and the whole command.
 */
export async function timeTransfers(runs: readonly TransferRun[], files: TransferFiles): Promise<void> {
  const { big, empty, bytes, nXfer, env } = files;
  const emptyRounds = Math.max(nXfer, 5);
  const rounds = `${nXfer} rounds of ${runs.length} variants (+ ${emptyRounds} rounds with an empty file)`;
  log(`${files.section}: ${rounds}, round-robin`);
  for (let round = 0; round < Math.max(nXfer, emptyRounds); round += 1) {
    for (const { v, args, before } of runs) {
      for (const [file, samples, wanted] of [
        [big, v.wall, round < nXfer],
        [empty, v.emptyWall, round < emptyRounds],
      ] as const) {
        if (!wanted) continue;
        before();
        const run = await timedAsync('ip', args(file), { env });
        if (run.error !== undefined) {
          samples.fail(run.error);
          continue;
        }
        samples.add(run.ms, { cpu: run.memory.relayCpuMs });
        if (file === big) v.hwm.push(run.memory.maxHwmMib);
      }
    }
    files.afterRound();
  }
  for (const { v } of runs) {
    for (const ms of v.wall.values) {
      v.net.add(bytes / 1e6 / ((ms - v.emptyWall.median) / 1000));
      v.raw.add(bytes / 1e6 / (ms / 1000));
    }
    v.net.failures.push(...v.wall.failures, ...v.emptyWall.failures);
  }
}

/**
 * 4 + 5. scp and rsync of the big file through pingknock vs nc, with the relays' peak RSS.
 * Throughput counts the data phase: each variant's wall time minus the median wall time of the same
 * command copying an empty file (connect, knock, auth, session set-up), measured in the same rounds.
 * The raw figure (whole command) is reported too.
 */
export async function benchTransfer(ctx: Context): Promise<TransferResult> {
  const { lab, hex, config } = ctx;
  const { sizeMib, smallMib, nXfer } = config;
  const big = join(ctx.work, `data-${sizeMib}M`);
  const small = join(ctx.work, `data-${smallMib}M`);
  const empty = join(ctx.work, 'data-0');
  log(`transfer: writing ${sizeMib} MiB and ${smallMib} MiB of random data to ${ctx.work}`);
  writeRandomFile(big, sizeMib);
  writeRandomFile(small, smallMib);
  writeFileSync(empty, '');
  const dest = join(ctx.work, 'dest'); // on tmpfs: the server writes it, no disk in the way
  const bytes = sizeMib * MIB;
  const nc = 'ProxyCommand=nc %h %p';
  const knockByHand = (): void => void checked('ip', onClient(lab, ['ping', '-c1', '-W1', '-p', hex, lab.server.ipv4]));
  const removeDest = (): void => rmSync(dest, { force: true });
  const closed = (): void => (removeDest(), lab.forgetKnocks());
  const opened = (): void => (removeDest(), knockByHand());
  const scp = (extra: string[], file: string): string[] =>
    onClient(lab, ['scp', '-q', '-F', lab.sshConfig, ...extra, file, `knocked:${dest}`]);
  const rsync = (extra: string, file: string): string[] =>
    onClient(lab, ['rsync', '-e', `ssh -F ${lab.sshConfig}${extra}`, file, `knocked:${dest}`]);
  const result = {
    scpPk: transferVariant('scpPk', 'scp via pingknock', sizeMib),
    scpNc: transferVariant('scpNc', 'scp via nc', sizeMib),
    rsyncPk: transferVariant('rsyncPk', 'rsync via pingknock', sizeMib),
    rsyncNc: transferVariant('rsyncNc', 'rsync via nc', sizeMib),
  };
  const runs = [
    { v: result.scpPk, args: (f: string) => scp([], f), before: closed },
    { v: result.scpNc, args: (f: string) => scp(['-o', nc], f), before: opened },
    { v: result.rsyncPk, args: (f: string) => rsync('', f), before: closed },
    { v: result.rsyncNc, args: (f: string) => rsync(` -o "${nc}"`, f), before: opened },
  ];
  await timeTransfers(runs, { section: 'transfer', big, empty, bytes, nXfer, env: lab.env, afterRound: removeDest });
  // The same relay, a transfer 1/16th the size: peak RSS must not grow with the volume.
  const smallHwm: number[] = [];
  const smallRuns = new Samples(`scp ${smallMib} MiB via pingknock`);
  for (let i = 0; i < nXfer; i += 1) {
    removeDest();
    lab.forgetKnocks();
    const run = await timedAsync('ip', scp([], small), { env: lab.env });
    if (run.error !== undefined) smallRuns.fail(run.error);
    else {
      smallRuns.add(run.ms);
      smallHwm.push(run.memory.maxHwmMib);
    }
  }
  rmSync(big, { force: true });
  rmSync(small, { force: true });
  removeDest();
  return { ...result, small: { s: smallRuns, hwm: smallHwm }, idleNodeMib: await idleNodeHwmMib() };
}
