import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { hostname, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Family } from '../../src/core/layout.js';
import { buildRuleModel, defaultKeyName } from '../../src/core/rules/model.js';
import { renderNftables } from '../../src/core/rules/nftables.js';
import { parseSecret } from '../../src/core/secret.js';
import { pingknock, recordingPing } from '../support/cli.js';

const SECRET = 'ABCDEFGHIJKLMNOP';

interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

let home: string;
let fakeBin: string;
let pingLog: string;

beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'pingknock-cli-'));
  // No test here may get as far as knocking.
  ({ bin: fakeBin, log: pingLog } = recordingPing(home));
});

afterEach(() => {
  rmSync(home, { recursive: true, force: true });
});

function run(args: readonly string[], extraEnv: Readonly<Record<string, string>> = {}): Run {
  return pingknock(args, { home, env: { PATH: `${fakeBin}:${process.env.PATH ?? ''}`, ...extraEnv } });
}

/**
 * A failure as the interface promises: the exit code, nothing on stdout, a `pingknock: ` message
 * and no stack trace.
 */
function expectFailure(result: Run, exitCode: number): void {
  expect({ status: result.status, stdout: result.stdout }).toEqual({ status: exitCode, stdout: '' });
  expect(result.stderr).toMatch(/^pingknock: \S[^]*\n$/);
  expect(result.stderr).not.toMatch(/^\s+at /m);
}

function expectNoPing(): void {
  expect(existsSync(pingLog), 'ping was started').toBe(false);
}

/**
 * Every 4+ character substring of the secret stays out of `text`. The test's own folder, whose name
 * is random, is left out: it once held a piece of the secret by chance.
 */
function expectNoLeak(text: string, secret: string): void {
  const shown = text.replaceAll(home, '<home>');
  for (let start = 0; start + 4 <= secret.length; start++) {
    expect(shown).not.toContain(secret.slice(start, start + 4));
  }
}

function secretFile(content: string | Buffer, mode = 0o600, name = 'secret.key'): string {
  const path = join(home, name);
  writeFileSync(path, content, { mode });
  chmodSync(path, mode);
  return path;
}

function expectedRules(secret: string, port: number, windowSeconds: number, families?: readonly Family[]): string {
  return renderNftables(
    buildRuleModel({
      secret: parseSecret(secret, 'test'),
      keyName: defaultKeyName(userInfo().username, hostname()),
      port,
      windowSeconds,
      ...(families === undefined ? {} : { families }),
    }),
  );
}

describe('usage errors exit 2', () => {
  it.each([
    ['no command', []],
    ['an unknown command', ['bogus']],
    ['an unknown option', ['proxy', '--bogus', 'h', '22']],
    ['an unknown option after the positionals', ['proxy', 'h', '22', '--bogus']],
    ['proxy without a port', ['proxy', 'h']],
    ['proxy without a host', ['proxy']],
    ['proxy with a service name', ['proxy', 'h', 'ssh']],
    ['proxy with port 0', ['proxy', 'h', '0']],
    ['proxy with port 70000', ['proxy', 'h', '70000']],
    ['proxy with port -1', ['proxy', 'h', '-1']],
    ['proxy with an empty port', ['proxy', 'h', '']],
    ['proxy with a host after --', ['proxy', '--', '-oProxyCommand=x', '22']],
    ['proxy with a bracketed leading-dash host', ['proxy', '[-oProxyCommand=x]', '22']],
    ['proxy with a shell metacharacter host', ['proxy', 'a;b', '22']],
    ['knock with a bracketed leading-dash host', ['knock', '[-oProxyCommand=x]']],
    ['proxy reading the secret from stdin', ['proxy', '--secret-file', '-', 'h', '22']],
    ['proxy with --deadline 0', ['proxy', '--deadline', '0', 'h', '22']],
    ['secret without an action', ['secret']],
    ['an unknown secret action', ['secret', 'old']],
  ])('%s', (_name, args) => {
    expectFailure(run(args), 2);
    expectNoPing();
  });

  it('says why a leading-dash host is refused, before looking for a secret', () => {
    const result = run(['proxy', '[-oProxyCommand=x]', '22']);
    expectFailure(result, 2);
    expect(result.stderr).toContain('starts with "-"');
    expectNoPing();
  });

  it('proxy refuses a stdin secret because stdin is the ssh stream', () => {
    expect(run(['proxy', '--secret-file', '-', 'h', '22']).stderr).toContain('that is the ssh stream');
  });

  it.each([
    ['--window 0', ['--window', '0']],
    ['--window 86401', ['--window', '86401']],
    ['--window 1.5', ['--window', '1.5']],
    ['--window abc', ['--window', 'abc']],
    ['--port 0', ['--port', '0']],
    ['--port ssh', ['--port', 'ssh']],
    ['--family ipv5', ['--family', 'ipv5']],
    ['--backend pf', ['--backend', 'pf']],
    ['--backend ip6tables --family ipv4', ['--backend', 'ip6tables', '--family', 'ipv4']],
    ['--tool without an iptables backend', ['--tool', 'iptables']],
    ['--rollback without --apply', ['--rollback', '30']],
    ['--horizon without --rolling', ['--horizon', '30']],
    ['--rolling --horizon 0', ['--rolling', '--horizon', '0']],
    ['--rolling --horizon 367', ['--rolling', '--horizon', '367']],
    ['--rolling --backend iptables', ['--rolling', '--backend', 'iptables']],
    ['--rolling --backend ufw', ['--rolling', '--backend', 'ufw']],
    ['--key-name with a space', ['--key-name', 'a b']],
    ['--key-name of 65 characters', ['--key-name', 'k'.repeat(65)]],
  ])('rules with a valid secret and %s', (_name, extra) => {
    expectFailure(run(['rules', '--secret-file', secretFile(`${SECRET}\n`), ...extra]), 2);
  });
});

describe('secret errors exit 3 and never show the secret', () => {
  it('a missing secret file', () => {
    const path = join(home, 'nope.key');
    const result = run(['rules', '--secret-file', path]);
    expectFailure(result, 3);
    expect(result.stderr).toContain(path);
  });

  it('a missing secret file on proxy, before any ping', () => {
    expectFailure(run(['proxy', '--secret-file', join(home, 'nope.key'), '192.0.2.1', '22']), 3);
    expectNoPing();
  });

  it('proxy with no secret for the host name in ~/.ssh/pingknock', () => {
    const result = run(['proxy', '192.0.2.1', '22']);
    expectFailure(result, 3);
    expect(result.stderr).toContain(join(home, '.ssh', 'pingknock', '192.0.2.1'));
    expectNoPing();
  });

  it.each([0o644, 0o640, 0o604, 0o620, 0o602])('a secret file with mode %o, telling how to fix it', (mode) => {
    const path = secretFile(`${SECRET}\n`, mode);
    const result = run(['rules', '--secret-file', path]);
    expectFailure(result, 3);
    expect(result.stderr).toContain('chmod 600');
    expectNoLeak(result.stderr, SECRET);
  });

  it.each([
    ['15 characters', 'Kq7vXw2LmZp9RtY'],
    ['17 characters', 'Kq7vXw2LmZp9RtYbN'],
    ['a symbol outside the alphabet', 'Kq7vXw2LmZp9RtY+'],
    ['an empty file', ''],
  ])('a secret file with %s', (_name, text) => {
    const result = run(['rules', '--secret-file', secretFile(`${text}\n`)]);
    expectFailure(result, 3);
    expectNoLeak(result.stderr, text);
  });

  it('a secret file with non-UTF-8 bytes', () => {
    expectFailure(
      run(['rules', '--secret-file', secretFile(Buffer.from([0xff, 0xfe, ...Buffer.from('ABCDEFGHIJKLMN')]))]),
      3,
    );
  });

  it('a secret file that is a directory', () => {
    const path = join(home, 'a-directory');
    mkdirSync(path, { mode: 0o700 });
    const result = run(['rules', '--secret-file', path]);
    expectFailure(result, 3);
    expect(result.stderr).toContain('directory');
  });

  it('rules with no secret at all', () => {
    const result = run(['rules']);
    expectFailure(result, 3);
    expect(result.stderr).toContain('PINGKNOCK_SECRET');
  });

  it('an invalid PINGKNOCK_SECRET', () => {
    const result = run(['rules'], { PINGKNOCK_SECRET: 'Kq7vXw2LmZp9RtY' });
    expectFailure(result, 3);
    expect(result.stderr).toContain('PINGKNOCK_SECRET');
    expectNoLeak(result.stderr, 'Kq7vXw2LmZp9RtY');
  });
});

describe('rules', () => {
  it('prints the nftables file for a secret file, with the defaults (port 22, 60 s, both families)', () => {
    const result = run(['rules', '--secret-file', secretFile(`${SECRET}\n`)]);
    expect(result).toEqual({ status: 0, stdout: expectedRules(SECRET, 22, 60), stderr: '' });
    expect(result.stdout).toContain(
      'icmp type echo-request @th,160,32 0x0 @th,192,128 ' +
        `{ 0x4142434445464748494a4b4c4d4e4f50 comment "${defaultKeyName(userInfo().username, hostname())}" } ` +
        'jump knock4 comment "knock (iputils ping)"',
    );
  });

  it('prints one-time rules with --rolling: the days from today, the key named, never the secret', () => {
    const result = run([
      'rules',
      '--secret-file',
      secretFile(`${SECRET}\n`),
      '--rolling',
      '--horizon',
      '2',
      '--key-name',
      'me@laptop',
    ]);
    expect(result.status, result.stderr).toBe(0);
    const today = new Date().toISOString().slice(0, 10);
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    expect(result.stdout).toContain(`# Keys: me@laptop (one-time, ${today} to ${tomorrow}).\n`);
    expect(result.stdout.match(/\tchain day-/g)).toHaveLength(2);
    expect(result.stdout).not.toContain('4142434445464748494a4b4c4d4e4f50');
    expect(result.stdout).not.toContain(SECRET);
  });

  it('passes --port, --window and --family through', () => {
    const result = run([
      'rules',
      '--secret-file',
      secretFile(`${SECRET}\n`),
      '--port',
      '2222',
      '--window',
      '5',
      '--family',
      'ipv4',
    ]);
    expect(result).toEqual({ status: 0, stdout: expectedRules(SECRET, 2222, 5, ['ipv4']), stderr: '' });
  });

  it('gives --backend iptables both families (ip6tables too), and --family narrows it', () => {
    const rules = (...extra: string[]) =>
      run(['rules', '--secret-file', secretFile(`${SECRET}\n`), '--backend', 'iptables', ...extra]);
    const both = rules();
    expect(both.status, both.stderr).toBe(0);
    expect(both.stdout).toContain('\nipt=${IPTABLES:-iptables}\nip6t=${IP6TABLES:-ip6tables}\ncase');
    expect(rules('--family', 'both').stdout).toBe(both.stdout);
    const v4 = rules('--family', 'ipv4');
    expect(v4.stdout).toContain('\nipt=${IPTABLES:-iptables}\ncase');
    expect(v4.stdout).not.toContain('ip6t');
    expect(rules('--family', 'ipv6').stdout).toBe(
      run(['rules', '--secret-file', secretFile(`${SECRET}\n`), '--backend', 'ip6tables']).stdout,
    );
  });

  it('takes the secret from PINGKNOCK_SECRET when no file is given', () => {
    const result = run(['rules'], { PINGKNOCK_SECRET: SECRET });
    expect(result).toEqual({ status: 0, stdout: expectedRules(SECRET, 22, 60), stderr: '' });
  });

  it('prefers --secret-file over PINGKNOCK_SECRET', () => {
    const result = run(['rules', '--secret-file', secretFile(`${SECRET}\n`)], { PINGKNOCK_SECRET: '0123456789abcdef' });
    expect(result).toEqual({ status: 0, stdout: expectedRules(SECRET, 22, 60), stderr: '' });
  });
});

describe('secret new', () => {
  it('prints exactly one 16-character secret line', () => {
    const first = run(['secret', 'new']);
    expect(first.status).toBe(0);
    expect(first.stdout).toMatch(/^[A-Za-z0-9_-]{16}\n$/);
    expect(first.stderr).toBe('');
    // Random each time.
    expect(run(['secret', 'new']).stdout).not.toBe(first.stdout);
  });

  it('--out creates a 0600 file once and refuses to overwrite it', () => {
    const out = join(home, 'keys', 'myserver');
    const created = run(['secret', 'new', '--out', out]);
    expect(created.status).toBe(0);
    expect(created.stdout).toBe('');
    expect(created.stderr).toMatch(/^pingknock: [^\n]+\n$/);
    const content = readFileSync(out, 'utf8');
    expect(content).toMatch(/^[A-Za-z0-9_-]{16}\n$/);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expectNoLeak(created.stderr, content.trim());

    const again = run(['secret', 'new', '--out', out]);
    expectFailure(again, 10);
    expect(readFileSync(out, 'utf8')).toBe(content);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    // Neither run leaves its temporary file behind.
    expect(readdirSync(join(home, 'keys'))).toEqual(['myserver']);

    // What `secret new` writes, `rules` reads.
    expect(run(['rules', '--secret-file', out])).toEqual({
      status: 0,
      stdout: expectedRules(content.trim(), 22, 60),
      stderr: '',
    });
  });
});

describe('help', () => {
  it('--help exits 0 and prints the usage on stdout', () => {
    const result = run(['--help']);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('pingknock <command>');
    expect(result.stdout).toContain('proxy <host> <port>');
    expect(result.stderr).toBe('');
  });
});
