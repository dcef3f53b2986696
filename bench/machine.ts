// What was measured: the machine, and which build of dist/ (the bench's own bundle left out).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { availableParallelism, loadavg, release } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './config.js';

const DIST = join(ROOT, 'dist');

export interface Machine {
  readonly date: string;
  readonly nproc: number;
  readonly model: string;
  readonly kernel: string;
  readonly node: string;
  readonly ssh: string;
  readonly loadavg: string;
}

export const loadAverage = (): string =>
  loadavg()
    .map((v) => v.toFixed(2))
    .join(' ');

export function machine(): Machine {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? 'unknown';
  return {
    date: new Date().toISOString(),
    nproc: availableParallelism(),
    model,
    kernel: release(),
    node: process.version,
    ssh: spawnSync('ssh', ['-V'], { encoding: 'utf8' }).stderr.trim(),
    loadavg: loadAverage(),
  };
}

/** The files below `dir` ending in `ext`, as paths relative to it; in dist/, not the bench's own bundle. */
function filesOf(dir: string, ext: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(ext))
    .map((entry) => join(entry.parentPath, entry.name).slice(dir.length + 1))
    .filter((file) => dir !== DIST || !file.startsWith('bench/'));
}

function newestMtime(dir: string, ext: string): number {
  return Math.max(0, ...filesOf(dir, ext).map((file) => statSync(join(dir, file)).mtimeMs));
}

/** src/ changed after the last build. */
export const distIsStale = (): boolean => newestMtime(join(ROOT, 'src'), '.ts') > newestMtime(DIST, '.js');

/** A short fingerprint of dist/, so a results file says which build it measured. */
export function distFingerprint(): string {
  const hash = createHash('sha256');
  for (const file of filesOf(DIST, '.js').sort()) hash.update(file).update(readFileSync(join(DIST, file)));
  return hash.digest('hex').slice(0, 12);
}
