import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../src/edge/exec.js';

/**
 * If `edited` is exactly `original` with whole lines inserted at one place, each of them blank
 * or (trimmed) one of `allowed`: those lines, trimmed, blanks left out; else undefined. Decided
 * from the outside, by trying every place the insertion can be (the common prefix and suffix
 * may overlap it), not from what the code under test reports.
 */
export function insertedLines(original: string, edited: string, allowed: ReadonlySet<string>): string[] | undefined {
  const extra = edited.length - original.length;
  if (extra <= 0) return undefined;
  let prefix = 0;
  while (prefix < original.length && original[prefix] === edited[prefix]) prefix += 1;
  let suffix = 0;
  while (suffix < original.length && original[original.length - 1 - suffix] === edited[edited.length - 1 - suffix])
    suffix += 1;
  for (let at = Math.max(0, original.length - suffix); at <= prefix; at += 1) {
    const atLineStart = at === 0 || original[at - 1] === '\n';
    const afterUnterminatedLastLine = original.length > 0 && at === original.length && !original.endsWith('\n');
    if (!atLineStart && !afterUnterminatedLastLine) continue;
    let text = edited.slice(at, at + extra);
    if (afterUnterminatedLastLine) {
      // After a last line without a line ending, the insertion has to start with one.
      const ending = /^\r?\n/.exec(text);
      if (ending === null) continue;
      text = text.slice(ending[0].length);
    } else if (at < original.length && !text.endsWith('\n')) {
      continue;
    }
    const lines = text.split(/\r?\n/).map((line) => line.trim());
    if (lines.every((line) => line === '' || allowed.has(line))) return lines.filter((line) => line !== '');
  }
  return undefined;
}

export function onlyInserted(original: string, edited: string, allowed: ReadonlySet<string>): boolean {
  return insertedLines(original, edited, allowed) !== undefined;
}

/**
 * `ssh -G` for each host with this config text (a file in a private folder), all at once; ssh's output or its
 * error.
 */
export async function sshG(configText: string | Buffer, hosts: readonly string[]): Promise<Map<string, string>> {
  const folder = await fs.mkdtemp(join(tmpdir(), 'pingknock-test-G-'));
  try {
    const file = join(folder, 'config');
    await fs.writeFile(file, configText, { mode: 0o600 });
    const answers = await Promise.all(
      hosts.map(async (host) => {
        const result = await run('ssh', ['-G', '-F', file, '--', host], { timeoutMs: 15_000 });
        return [
          host,
          result.code === 0
            ? result.stdout.toString()
            : `exit ${result.code}: ${result.stderr.replaceAll(file, 'CONFIG')}`,
        ] as const;
      }),
    );
    return new Map(answers);
  } finally {
    await fs.rm(folder, { recursive: true, force: true });
  }
}

/** One option from `ssh -G` output (first value), or undefined. */
export function option(output: string | undefined, name: string): string | undefined {
  const line = (output ?? '').split('\n').find((candidate) => candidate.startsWith(`${name} `));
  return line?.slice(name.length + 1);
}
