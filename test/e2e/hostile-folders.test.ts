import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_STATE_DIR } from '../../src/core/rules/apply.js';
import { ExitCode } from '../../src/core/errors.js';
import { run, type RunResult } from '../../src/edge/exec.js';
import { newSecret } from './fixture.js';

/**
 * Issue 16: `pingknock rules` as root, given state folders that another user (nobody) owns or
 * could change, or that hold links planted where pingknock's files go, or a rollback.pid that
 * names no sleeper of pingknock's. Each is refused with one clear line, exit 10, and nothing
 * changes: no rule, no file, no process. The firewall is a network namespace's own; a
 * rollback.pid is tried in a pid namespace of its own (and its own process group), so that a
 * `kill -- -1` or `kill -- -0` would end only what is in there.
 */

const PINGKNOCK = join(import.meta.dirname, '..', '..', 'dist', 'bin', 'pingknock');
const NOBODY = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim());
const PRECIOUS = Buffer.from('root-owned, and not to be overwritten\n');
const NETNS = `pk16-${process.pid}`;

let base: string;
let secretFile: string;
/** A root-owned file that planted links point at. */
let victim: string;

const inNetns = (file: string, args: readonly string[]): Promise<RunResult> =>
  run('ip', ['netns', 'exec', NETNS, file, ...args], { timeoutMs: 30_000 });
const rules = (...args: string[]): Promise<RunResult> =>
  inNetns(PINGKNOCK, ['rules', '--secret-file', secretFile, ...args]);
const ruleset = async (): Promise<string> => {
  const listed = await inNetns('nft', ['list', 'ruleset']);
  expect(listed.code, listed.stderr).toBe(0);
  return listed.stdout.toString();
};

/** A folder of root's (or `owner`'s), with exactly this mode. */
function folder(path: string, mode = 0o700, owner = 0): string {
  mkdirSync(path);
  chmodSync(path, mode);
  chownSync(path, owner, owner);
  return path;
}

async function expectRefused(result: RunResult, message: string): Promise<void> {
  expect(result.stderr).toBe(`pingknock: ${message}\n`);
  expect(result.code).toBe(ExitCode.io);
  expect(await ruleset()).toBe('');
  expect(readFileSync(victim)).toEqual(PRECIOUS);
}

beforeAll(() => {
  expect(process.getuid?.(), 'these tests run as root').toBe(0);
  expect(existsSync(PINGKNOCK), 'npm run build').toBe(true);
  base = mkdtempSync(join(tmpdir(), 'pingknock-hostile-'));
  secretFile = join(base, 'secret');
  writeFileSync(secretFile, `${newSecret()}\n`, { mode: 0o600 });
  victim = join(base, 'victim');
  writeFileSync(victim, PRECIOUS, { mode: 0o644 });
  execFileSync('ip', ['netns', 'add', NETNS]);
});

afterAll(() => {
  execFileSync('ip', ['netns', 'del', NETNS]);
  rmSync(base, { recursive: true, force: true });
});

describe("rules --apply refuses a state folder that is not root's alone, and changes nothing", () => {
  it('owned by another user', async () => {
    const state = folder(join(base, 'nobodys'), 0o700, NOBODY);
    await expectRefused(
      await rules('--apply', '--state-dir', state),
      `refusing the state folder ${state}: ${state} belongs to user ${NOBODY}, not to root`,
    );
    expect(readdirSync(state)).toEqual([]);
  });

  it('in a folder another user owns', async () => {
    const home = folder(join(base, 'home-nobody'), 0o755, NOBODY);
    const state = folder(join(home, 'state'));
    await expectRefused(
      await rules('--apply', '--state-dir', state),
      `refusing the state folder ${state}: ${home} belongs to user ${NOBODY}, not to root`,
    );
    expect(readdirSync(state)).toEqual([]);
  });

  it.each(['770', '707', '777'])('in a folder of root that others may write in (mode %s)', async (mode) => {
    const open = folder(join(base, `open-${mode}`), Number.parseInt(mode, 8));
    const state = folder(join(open, 'state'));
    await expectRefused(
      await rules('--apply', '--state-dir', state),
      `refusing the state folder ${state}: ${open} may be written by its group or others`,
    );
    expect(readdirSync(state)).toEqual([]);
  });

  it('that is itself sticky and writable by all, like /tmp', async () => {
    const sticky = folder(join(base, 'sticky'), 0o1777);
    await expectRefused(
      await rules('--apply', '--state-dir', sticky),
      `refusing the state folder ${sticky}: ${sticky} may be written by its group or others`,
    );
    expect(readdirSync(sticky)).toEqual([]);
  });

  it('that is a symbolic link, even to a folder of root', async () => {
    const real = folder(join(base, 'real-state'));
    const link = join(base, 'linked-state');
    symlinkSync(real, link);
    await expectRefused(
      await rules('--apply', '--state-dir', link),
      `refusing the state folder ${link}: ${link} is a symbolic link`,
    );
    expect(readdirSync(real)).toEqual([]);
  });

  it.each(['rules', 'restore', 'restore.nft'])('holding a symbolic link at %s, which is not followed', async (name) => {
    const state = folder(join(base, `planted-${name}`));
    symlinkSync(victim, join(state, name));
    await expectRefused(
      await rules('--apply', '--rollback', '30', '--state-dir', state),
      `refusing ${state}/${name}: it is a symbolic link`,
    );
    expect(readdirSync(state)).toEqual([name]);
  });
});

describe("rules --confirm refuses a rollback.pid that names no sleeper of pingknock's, and signals nothing", () => {
  /**
   * In a pid namespace and process group of their own: a witness sleep, an armed state folder
   * whose rollback.pid holds `value` (`witness`: the witness's pid), the confirm, then the
   * witness's state from /proc (Z or gone: signalled).
   */
  async function confirmWith(value: string): Promise<{ result: RunResult; witness: string; witnessState: string }> {
    const state = folder(join(base, `pid-${value}`));
    const script = `sleep 60 & witness=$!
if [ "$2" = witness ]; then echo "$witness"; else printf '%s' "$2"; fi >"$1/rollback.pid"
: >"$1/armed"
"$3" rules --confirm --state-dir "$1" >/dev/null && code=0 || code=$?
echo "code=$code witness=$witness state=$(cut -d ' ' -f 3 "/proc/$witness/stat" 2>/dev/null || echo gone)"
kill -9 "$witness"`;
    const result = await run(
      'setsid',
      ['unshare', '--pid', '--fork', '--mount-proc', 'sh', '-c', script, 'sh', state, value, PINGKNOCK],
      { timeoutMs: 30_000 },
    );
    const said = /^code=(\d+) witness=(\d+) state=(\S+)$/m.exec(result.stdout.toString());
    expect(said, `${result.stdout.toString()} ${result.stderr}`).not.toBeNull();
    expect(Number(said?.[1]), result.stderr).toBe(ExitCode.io);
    expect(existsSync(join(state, 'armed'))).toBe(true);
    return { result, witness: said?.[2] ?? '', witnessState: said?.[3] ?? '' };
  }

  it.each(['1', '01', '0', '-1', 'abc'])('holding %j', async (value) => {
    const state = join(base, `pid-${value}`);
    const { result, witnessState } = await confirmWith(value);
    expect(result.stderr).toBe(`pingknock: refusing ${state}/rollback.pid: it holds no process id above 1\n`);
    expect(witnessState).toMatch(/^[SR]$/);
  });

  it('naming an unrelated process, which lives on', async () => {
    const state = join(base, 'pid-witness');
    const { result, witness, witnessState } = await confirmWith('witness');
    expect(result.stderr).toBe(
      `pingknock: refusing ${state}/rollback.pid: ` +
        `process ${witness} is not pingknock's rollback for ${state}, so it is not signalled\n`,
    );
    expect(witnessState).toMatch(/^[SR]$/);
  });
});

describe('rules --apply with a state folder it trusts still works', () => {
  /** Apply with a rollback, confirm (the sleeper goes), remove; `state` undefined: the default. */
  async function applyConfirmRemove(state?: string): Promise<void> {
    const where = state === undefined ? [] : ['--state-dir', state];
    const sleepers = async (): Promise<string> =>
      (await run('pgrep', ['-f', `pingknock-rollback [0-9]+ ${state ?? DEFAULT_STATE_DIR}$`])).stdout.toString();
    const applied = await rules('--apply', '--rollback', '60', ...where);
    expect(applied.code, applied.stderr).toBe(0);
    expect(await ruleset()).toContain('table inet pingknock');
    expect(await sleepers()).not.toBe('');
    const confirmed = await rules('--confirm', ...where);
    expect(confirmed.code, confirmed.stderr).toBe(0);
    expect(await sleepers()).toBe('');
    const removed = await rules('--remove', ...where);
    expect(removed.code, removed.stderr).toBe(0);
    expect(await ruleset()).toBe('');
  }

  it('a fresh one, made 0700 folder by folder, in a sticky folder like /tmp', async () => {
    const sticky = folder(join(base, 'sticky-parent'), 0o1777);
    const state = join(sticky, 'a', 'state');
    await applyConfirmRemove(state);
    for (const path of [join(sticky, 'a'), state]) {
      expect(statSync(path).mode & 0o7777).toBe(0o700);
      expect(statSync(path).uid).toBe(0);
    }
  });

  it('the default, /run/pingknock', async () => {
    const made = !existsSync(DEFAULT_STATE_DIR);
    try {
      await applyConfirmRemove();
    } finally {
      if (made) rmSync(DEFAULT_STATE_DIR, { recursive: true, force: true });
    }
  });
});
