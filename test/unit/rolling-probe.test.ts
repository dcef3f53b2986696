import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OLD_NFT_EXIT, rollingProbeScript } from '../../src/core/rules/detect.js';

/**
 * The probe run by sh against a stand-in nft: one that loads anything, one that fails like nft
 * 1.0.2 on a set keyed on raw payload, one that cannot check anything at all, and none. The real
 * nft's verdict is in test/e2e/rolling.test.ts.
 */

let bin: string;

beforeEach(() => {
  bin = mkdtempSync(join(tmpdir(), 'pingknock-probe-'));
});

afterEach(() => {
  rmSync(bin, { recursive: true, force: true });
});

/** A stand-in nft: `--version` says `version`; a check fails with `error` when the file matches `failOn`. */
function fakeNft(version: string, failOn: string | undefined, error: string): void {
  const path = join(bin, 'nft');
  writeFileSync(
    path,
    `#!/bin/sh
if [ "$1" = --version ]; then echo '${version}'; exit 0; fi
[ "$1 $2 $3" = '-c -f /dev/stdin' ] || { echo "unexpected: $*" >&2; exit 99; }
rules=$(cat)
${failOn === undefined ? '' : `case $rules in *'${failOn}'*) echo '${error}' >&2; exit 1;; esac`}
exit 0
`,
  );
  chmodSync(path, 0o755);
}

function probe(): { status: number | null; stderr: string } {
  const result = spawnSync('sh', ['-s'], {
    input: rollingProbeScript(),
    encoding: 'utf8',
    env: { PATH: `${bin}:/usr/bin:/bin`, LC_ALL: 'C' },
  });
  return { status: result.status, stderr: result.stderr };
}

describe('rollingProbeScript', () => {
  it('passes when nft checks both the static and the one-time ruleset', () => {
    fakeNft('nftables v1.0.6 (Lester Gooch #5)', undefined, '');
    expect(probe()).toEqual({ status: 0, stderr: '' });
  });

  it('says what to do, with its own exit code, when nft refuses a set keyed on raw payload (nft 1.0.2)', () => {
    fakeNft(
      'nftables v1.0.2 (Lester Gooch)',
      'typeof @th,192,128',
      '/dev/stdin:90:10-27: Error: syntax error, unexpected @',
    );
    const { status, stderr } = probe();
    expect(status).toBe(OLD_NFT_EXIT);
    expect(stderr).toBe(
      '/dev/stdin:90:10-27: Error: syntax error, unexpected @\n' +
        'nftables v1.0.2 (Lester Gooch) cannot load one-time knocks (sets keyed on raw payload): ' +
        'upgrade nftables (1.0.4 or later), or use static knocks (--static)\n',
    );
  });

  it('fails with nft\'s own words, not "too old", when nft cannot check even the static ruleset', () => {
    fakeNft('nftables v1.0.6', 'table inet pingknock', 'Error: Could not process rule: Operation not permitted');
    expect(probe()).toEqual({ status: 1, stderr: 'Error: Could not process rule: Operation not permitted\n' });
  });

  it('fails when there is no nft', () => {
    expect(probe()).toEqual({ status: 1, stderr: 'nft is not installed here\n' });
  });

  it('checks what the one-time ruleset needs: raw payload set keys, the slot lookup and the day ranges', () => {
    const script = rollingProbeScript();
    for (const needed of [
      'typeof @th,192,128\n',
      'typeof @th,192,128 . ip saddr\n',
      'typeof meta hour . @th,192,128\n',
      'add @used { @th,192,128 }',
      'meta hour & 0x1ff00 . @th,128,128 @slots-1970-01-01',
      'meta time >= 0 meta time < 86400 goto day-1970-01-01',
      'counter name "replays"',
    ]) {
      expect(script).toContain(needed);
    }
  });
});
