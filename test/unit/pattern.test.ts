import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/core/errors.js';
import { pingknock, ROOT } from '../support/cli.js';

const SECRET = 'Abcdefgh12345678';
const ALIAS = 'myserver';

let home: string;

beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'pingknock-pattern-'));
  writeSecret(0o600);
});

afterEach(() => {
  rmSync(home, { recursive: true, force: true });
});

function writeSecret(mode: number): string {
  const folder = join(home, '.ssh', 'pingknock');
  mkdirSync(folder, { recursive: true, mode: 0o700 });
  const path = join(folder, ALIAS);
  writeFileSync(path, `${SECRET}\n`);
  chmodSync(path, mode);
  return path;
}

const pattern = (args: readonly string[], env: Readonly<Record<string, string>> = {}, input?: string) =>
  pingknock(['pattern', ...args], input === undefined ? { home, env } : { home, env, input });

describe('pingknock pattern', () => {
  it('prints the 32 hex digits for the moment and nothing else', () => {
    const result = pattern([ALIAS, '--at', '2025-03-01T00:00:00Z']);
    expect(result).toEqual({ status: 0, stdout: '525e6b217f2549c6d326c70215d9b86f\n', stderr: '' });
  });

  it('reads a moment in any zone, and counts the slot in UTC', () => {
    const utc = pattern([ALIAS, '--at', '2025-03-01T23:59:59Z']);
    expect(utc.stdout).toBe('649f61505c0f6ffb57c6bc0fd918118b\n');
    expect(pattern([ALIAS, '--at', '2025-03-02T00:59:59+01:00']).stdout).toBe(utc.stdout);
    expect(pattern([ALIAS, '--at', '2025-03-01T19:59:59-04:00']).stdout).toBe(utc.stdout);
  });

  it("prints now's pattern without --at: one of the slot's at the start or end of the run", () => {
    const before = pattern([ALIAS, '--at', new Date().toISOString()]).stdout;
    const now = pattern([ALIAS]);
    const after = pattern([ALIAS, '--at', new Date().toISOString()]).stdout;
    expect(now.status, now.stderr).toBe(0);
    expect([before, after]).toContain(now.stdout);
  });

  it('prints the static pattern, the secret itself, with --static', () => {
    expect(pattern([ALIAS, '--static'])).toEqual({
      status: 0,
      stdout: `${Buffer.from(SECRET).toString('hex')}\n`,
      stderr: '',
    });
  });

  it('takes the secret from --secret-file, standard input and PINGKNOCK_SECRET too', () => {
    const other = 'Zz-_0123456789ab';
    const expected = 'a8f88baa426769e07346657655deb2a0\n';
    const file = join(home, 'other.key');
    writeFileSync(file, `${other}\n`, { mode: 0o600 });
    expect(pattern([ALIAS, '--at', '1970-01-01T00:00:00Z', '--secret-file', file]).stdout).toBe(expected);
    expect(pattern([ALIAS, '--at', '1970-01-01T00:00:00Z', '--secret-file', '-'], {}, other).stdout).toBe(expected);
    expect(pattern([ALIAS, '--at', '1970-01-01T00:00:00Z'], { PINGKNOCK_SECRET: other }).stdout).toBe(expected);
  });

  it('refuses a secret file others may read, like every other command', () => {
    const path = writeSecret(0o640);
    const result = pattern([ALIAS]);
    expect(result.status).toBe(ExitCode.secret);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      `pingknock: secret file ${path} has permissions 0640, readable by others; run: chmod 600 '${path}'\n`,
    );
  });

  it.each([
    ['a time without its zone', [ALIAS, '--at', '2025-03-01T12:00:00'], /--at takes an ISO-8601 time with its zone/],
    ['a date alone', [ALIAS, '--at', '2025-03-01'], /--at takes an ISO-8601 time/],
    ['--static with --at', [ALIAS, '--static', '--at', '2025-03-01T12:00:00Z'], /mutually exclusive/],
    ['no alias', [], /Not enough non-option arguments/],
  ])('refuses %s', (_name, args, message) => {
    const result = pattern(args);
    expect(result.status).toBe(ExitCode.usage);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(message);
  });
});

/**
 * The README's command for a pattern without pingknock, run as it is printed there, with a `date`
 * that answers for a fixed moment: it must print what `pingknock pattern --at` prints.
 */
describe("the README's openssl one-liner", () => {
  function readmeOneLiner(): string {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('\n## One-time knocks\n'));
    const block = /```sh\n(printf 'pingknock-v1[^]*?)```/.exec(section.slice(0, section.indexOf('\n## ', 1)));
    if (block?.[1] === undefined) throw new Error('no openssl one-liner in the README section One-time knocks');
    return block[1];
  }

  function withFixedDate(iso: string): string {
    const bin = join(home, 'fake-bin');
    mkdirSync(bin, { recursive: true });
    const seconds = Date.parse(iso) / 1000;
    writeFileSync(
      join(bin, 'date'),
      `#!/bin/sh\n[ "$1" = -u ] || exit 1\ncase "$2" in\n` +
        `+%F) echo ${iso.slice(0, 10)} ;;\n+%s) echo ${seconds} ;;\n*) exit 1 ;;\nesac\n`,
      { mode: 0o755 },
    );
    return bin;
  }

  it.each(['2025-03-01T13:37:05Z', '2025-03-01T00:00:00Z', '2025-03-01T23:59:59Z', '2031-07-15T04:16:00Z'])(
    'agrees with pingknock pattern --at %s',
    (iso) => {
      const bin = withFixedDate(iso);
      const manual = spawnSync('sh', ['-c', readmeOneLiner()], {
        env: { ...process.env, HOME: home, PATH: `${bin}:${process.env.PATH ?? ''}` },
        encoding: 'utf8',
      });
      expect(manual.stderr).toBe('');
      expect(manual.status).toBe(0);
      const tool = pattern([ALIAS, '--at', iso]);
      expect(tool.status, tool.stderr).toBe(0);
      expect(manual.stdout).toMatch(/^[0-9a-f]{32}\n$/);
      expect(manual.stdout).toBe(tool.stdout);
    },
  );
});
