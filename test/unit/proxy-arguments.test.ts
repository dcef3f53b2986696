import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/core/errors.js';
import { asksForHelp, parseProxyArguments, rollingUntilOption, secondsOption } from '../../src/core/proxy-arguments.js';
import { isoDate, slotAt, STATIC_MODE } from '../../src/core/rolling.js';
import { BIN, recordingPing, ROOT } from '../support/cli.js';
import { usageMessage } from '../support/usage.js';

describe('parseProxyArguments', () => {
  it('reads every option, in both spellings of a value', () => {
    expect(
      parseProxyArguments([
        '--secret-file',
        'k',
        '--name=box',
        '--deadline',
        '0.5',
        '--connect-timeout=2',
        '--verbose',
        'h',
        '22',
      ]),
    ).toEqual({
      host: 'h',
      port: 22,
      secretFile: 'k',
      name: 'box',
      deadlineMs: 500,
      connectTimeoutMs: 2000,
      verbose: true,
      mode: STATIC_MODE,
      fdpass: false,
    });
  });

  it('reads --rolling-until as one-time knocks through that UTC day, in both spellings', () => {
    const through = { kind: 'rolling', lastDay: Date.UTC(2025, 2, 31) / 86_400_000 };
    expect(parseProxyArguments(['--rolling-until', '2025-03-31', 'h', '22']).mode).toEqual(through);
    expect(parseProxyArguments(['--name', 'web', '--rolling-until=2025-03-31', 'h', '22'])).toMatchObject({
      name: 'web',
      mode: through,
    });
    expect(
      parseProxyArguments(['--rolling-until', '2024-01-01', '--rolling-until', '2025-03-31', 'h', '22']).mode,
    ).toEqual(through);
  });

  it('fills in the defaults the help shows', () => {
    expect(parseProxyArguments(['h', '22'])).toEqual({
      host: 'h',
      port: 22,
      secretFile: undefined,
      name: undefined,
      deadlineMs: 3000,
      connectTimeoutMs: 5000,
      verbose: false,
      mode: STATIC_MODE,
      fdpass: false,
    });
  });

  it('reads --fdpass, and --no-fdpass after it, as a flag of its own', () => {
    expect(parseProxyArguments(['--name', 'web', '--fdpass', 'h', '22'])).toMatchObject({ name: 'web', fdpass: true });
    expect(parseProxyArguments(['--fdpass', '--no-fdpass', 'h', '22']).fdpass).toBe(false);
  });

  it('reads --jump as the route to knock from, with --config the ssh config that reaches it', () => {
    const { jump } = parseProxyArguments(['--name', 'in', '--jump', 'a,ops@b:2222', '--config', '/c', 'h', '22']);
    expect(jump?.config).toBe('/c');
    expect(jump?.route.text).toBe('a,ops@b:2222');
    expect(jump?.route.hops.map((hop) => [hop.user, hop.host, hop.port])).toEqual([
      [undefined, 'a', undefined],
      ['ops', 'b', 2222],
    ]);
    expect(parseProxyArguments(['h', '22']).jump).toBeUndefined();
  });

  it('takes the last value of an option given twice', () => {
    expect(
      parseProxyArguments(['--deadline', '1', '--deadline', '2', '--name', 'a', '--name', 'b', 'h', '22']),
    ).toMatchObject({ deadlineMs: 2000, name: 'b' });
    expect(parseProxyArguments(['--verbose', '--no-verbose', 'h', '22']).verbose).toBe(false);
    expect(parseProxyArguments(['--no-verbose', '--verbose', 'h', '22']).verbose).toBe(true);
  });

  it('ends the options at --, leaving the host as given for knock() to judge', () => {
    expect(parseProxyArguments(['--', '-x', '22']).host).toBe('-x');
    expect(parseProxyArguments(['--', '[::1]', '22']).host).toBe('[::1]');
  });

  it.each([
    ['--secretFile', ['--secretFile', 'k', 'h', '22'], /Unknown option '--secretFile'/],
    ['--no-name', ['--no-name', 'h', '22'], /Unknown option '--no-name'/],
    ['--verbose=true', ['--verbose=true', 'h', '22'], /does not take an argument/],
    ['--deadline without a value', ['h', '22', '--deadline'], /argument missing/],
    ['--deadline -1', ['--deadline', '-1', 'h', '22'], /ambiguous/],
    ['--help', ['--help'], /Unknown option '--help'/],
    ['no port', ['h'], /got 1 arguments/],
    ['a third word', ['h', '22', 'x'], /got 3 arguments/],
    ['port 0', ['h', '0'], /port 0 is out of range/],
    ['--secret-file -', ['--secret-file', '-', 'h', '22'], /the ssh stream/],
    ['--deadline=-1', ['--deadline=-1', 'h', '22'], /--deadline must be a number of seconds above 0 and at most 3600/],
    ['--connect-timeout abc', ['--connect-timeout', 'abc', 'h', '22'], /--connect-timeout must be/],
    ['--rolling-until without a value', ['h', '22', '--rolling-until'], /argument missing/],
    ['--no-rolling-until', ['--no-rolling-until', 'h', '22'], /Unknown option '--no-rolling-until'/],
    ['--rollingUntil', ['--rollingUntil', '2025-03-31', 'h', '22'], /Unknown option '--rollingUntil'/],
    [
      '--rolling-until 2025-02-30',
      ['--rolling-until', '2025-02-30', 'h', '22'],
      /--rolling-until takes the last UTC day of one-time knocks as YYYY-MM-DD, got "2025-02-30"/,
    ],
    ['--rolling-until 31.3.2025', ['--rolling-until', '31.3.2025', 'h', '22'], /as YYYY-MM-DD, got "31.3.2025"/],
  ])('refuses %s', (_name, args, message) => {
    expect(usageMessage(() => parseProxyArguments(args))).toMatch(message);
  });
});

describe('rollingUntilOption', () => {
  it('is the knock mode setup records', () => {
    expect(rollingUntilOption('1970-01-02')).toEqual({ kind: 'rolling', lastDay: 1 });
    expect(usageMessage(() => rollingUntilOption('tomorrow'))).toMatch(/got "tomorrow"/);
  });
});

describe('secondsOption', () => {
  it.each([
    [0.5, 500],
    [3, 3000],
    [3600, 3_600_000],
  ])('%s s is %s ms', (seconds, ms) => {
    expect(secondsOption('deadline', seconds)).toBe(ms);
  });

  it.each([0, -1, 3600.5, Number.NaN, Number.POSITIVE_INFINITY])('refuses %s', (seconds) => {
    expect(usageMessage(() => secondsOption('deadline', seconds))).toBe(
      '--deadline must be a number of seconds above 0 and at most 3600',
    );
  });
});

describe('asksForHelp', () => {
  it.each([
    [['--help'], true],
    [['-h'], true],
    [['--version'], true],
    [['--bogus', 'h', '22', '--help'], true],
    [['h', '22'], false],
    [['--help=1'], false],
    [['-vh'], false],
    [['h', 'help'], false],
    [['--', '-h', '22'], false],
  ])('%j: %s', (args, expected) => {
    expect(asksForHelp(args)).toBe(expected);
  });
});

/**
 * Both starts of `pingknock proxy`, run for real: the launcher (bin/pingknock, which takes the fast
 * path without yargs unless help is asked for) and the full command line (dist/cli.js). Every row
 * must end alike on both, byte for byte, and as the row says. A missing secret file is the
 * furthest a row may get, so no row knocks.
 */
describe('both starts of pingknock proxy read a command line alike', () => {
  let home: string;
  let fakeBin: string;
  let pingLog: string;
  let missing: string;

  beforeAll(() => {
    home = mkdtempSync(join(tmpdir(), 'pingknock-proxy-args-'));
    ({ bin: fakeBin, log: pingLog } = recordingPing(home));
    missing = join(home, 'missing.key');
  });

  afterAll(() => {
    rmSync(home, { recursive: true, force: true });
  });

  const ENTRIES = { launcher: BIN, cli: join(ROOT, 'dist', 'cli.js') };

  function run(entry: string, args: readonly string[]) {
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, PATH: `${fakeBin}:${process.env.PATH ?? ''}` };
    delete env.PINGKNOCK_SECRET;
    const result = spawnSync(process.execPath, [entry, 'proxy', ...args], {
      cwd: home,
      env,
      input: '',
      encoding: 'utf8',
      timeout: 30_000,
    });
    if (result.error !== undefined) throw result.error;
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  }

  type Outcome = 'help' | 'usage' | 'secret' | 'ended';
  const EXIT: Readonly<Record<Outcome, number>> = {
    help: ExitCode.ok,
    usage: ExitCode.usage,
    secret: ExitCode.secret,
    ended: ExitCode.horizonEnded,
  };
  const S = '<missing secret file>';

  // [what the row shows, the arguments after `proxy` (S: a secret file that does not exist), the outcome, what it says]
  const ROWS: readonly (readonly [string, readonly string[], Outcome, RegExp])[] = [
    ['--verbose', ['--verbose', '--secret-file', S, 'h', '22'], 'secret', /no secret file/],
    [
      '--no-verbose (a boolean takes --no-)',
      ['--no-verbose', '--secret-file', S, 'h', '22'],
      'secret',
      /no secret file/,
    ],
    ['--secret-file', ['--secret-file', S, 'h', '22'], 'secret', /no secret file/],
    ['--secretFile (no camelCase twins)', ['--secretFile', S, 'h', '22'], 'usage', /Unknown option '--secretFile'/],
    ['--name=x', ['--name=x', 'h', '22'], 'secret', /no secret file \S*\/\.ssh\/pingknock\/x;/],
    ['--name x', ['--name', 'x', 'h', '22'], 'secret', /no secret file \S*\/\.ssh\/pingknock\/x;/],
    [
      '--deadline given twice, the last one valid: it counts',
      ['--deadline', '0', '--deadline', '1', '--secret-file', S, 'h', '22'],
      'secret',
      /no secret file/,
    ],
    [
      '--deadline given twice, the last one 0: it counts',
      ['--deadline', '1', '--deadline', '0', '--secret-file', S, 'h', '22'],
      'usage',
      /--deadline must be/,
    ],
    [
      '--deadline 0',
      ['--deadline', '0', '--secret-file', S, 'h', '22'],
      'usage',
      /--deadline must be a number of seconds above 0 and at most 3600/,
    ],
    [
      '--deadline -1',
      ['--deadline', '-1', '--secret-file', S, 'h', '22'],
      'usage',
      /'--deadline' argument is ambiguous/,
    ],
    ['--deadline=-1', ['--deadline=-1', '--secret-file', S, 'h', '22'], 'usage', /--deadline must be/],
    ['--deadline abc', ['--deadline', 'abc', '--secret-file', S, 'h', '22'], 'usage', /--deadline must be/],
    ['--deadline 1e9', ['--deadline', '1e9', '--secret-file', S, 'h', '22'], 'usage', /--deadline must be/],
    ['--deadline 3600', ['--deadline', '3600', '--secret-file', S, 'h', '22'], 'secret', /no secret file/],
    ['--deadline 0.5', ['--deadline', '0.5', '--secret-file', S, 'h', '22'], 'secret', /no secret file/],
    ['--deadline without a value', ['--secret-file', S, 'h', '22', '--deadline'], 'usage', /argument missing/],
    [
      '--connect-timeout 0',
      ['--connect-timeout', '0', '--secret-file', S, 'h', '22'],
      'usage',
      /--connect-timeout must be/,
    ],
    ['-- HOST PORT', ['--secret-file', S, '--', 'h', '22'], 'secret', /no secret file/],
    [
      '--rolling-until far ahead: one-time knocks, no warning',
      ['--rolling-until', '2999-12-31', '--secret-file', S, 'h', '22'],
      'secret',
      /no secret file/,
    ],
    [
      '--rolling-until not a date',
      ['--rolling-until', '2025-13-01', '--secret-file', S, 'h', '22'],
      'usage',
      /--rolling-until takes the last UTC day/,
    ],
    [
      '--rolling-until past: no knock, what to run instead',
      ['--name', 'web', '--rolling-until', '2000-01-01', 'h', '22'],
      'ended',
      /one-time knocks for web ended on 2000-01-01: .*pingknock renew web --via OTHER_ALIAS/,
    ],
    [
      'a -leading host after --',
      ['--secret-file', S, '--', '-oProxyCommand=x', '22'],
      'usage',
      /host "-oProxyCommand=x" starts with "-"/,
    ],
    ['a -leading host without --', ['--secret-file', S, '-oProxyCommand=x', '22'], 'usage', /Unknown option '-o'/],
    [
      '-h after -- (a host, so the launcher starts the CLI for it)',
      ['--secret-file', S, '--', '-h', '22'],
      'usage',
      /host "-h" starts with "-"/,
    ],
    ['a bracketed -leading host', ['--secret-file', S, '[-x]', '22'], 'usage', /host "-x" starts with "-"/],
    ['no port', ['--secret-file', S, 'h'], 'usage', /proxy takes HOST and PORT, got 1 arguments/],
    ['no host', ['--secret-file', S], 'usage', /proxy takes HOST and PORT, got 0 arguments/],
    ['a third word', ['--secret-file', S, 'h', '22', 'x'], 'usage', /proxy takes HOST and PORT, got 3 arguments/],
    [
      'a last word "help" (yargs would show the help)',
      ['--secret-file', S, 'h', 'help'],
      'usage',
      /port "help" is not a number/,
    ],
    ['an unknown option', ['--bogus', '--secret-file', S, 'h', '22'], 'usage', /Unknown option '--bogus'/],
    ['--help=1', ['--help=1', 'h', '22'], 'usage', /Unknown option '--help'/],
    ['-vh', ['-vh', 'h', '22'], 'usage', /Unknown option '-v'/],
    [
      '--help false (yargs reads no help in it, so its handler runs)',
      ['--help', 'false', 'h', '22'],
      'usage',
      /Unknown option '--help'/,
    ],
    ['--secret-file - (stdin is the ssh stream)', ['--secret-file', '-', 'h', '22'], 'usage', /that is the ssh stream/],
    ['port 0', ['--secret-file', S, 'h', '0'], 'usage', /port 0 is out of range 1-65535/],
    ['port 65536', ['--secret-file', S, 'h', '65536'], 'usage', /port 65536 is out of range 1-65535/],
    ['port abc', ['--secret-file', S, 'h', 'abc'], 'usage', /port "abc" is not a number from 1 to 65535/],
    ['--jump, the secret missing', ['--jump', 'bastion', '--secret-file', S, 'h', '22'], 'secret', /no secret file/],
    [
      '--jump that is no ProxyJump route',
      ['--jump', 'bastion;reboot', '--secret-file', S, 'h', '22'],
      'usage',
      /jump host "bastion;reboot" is not a ProxyJump route/,
    ],
    ['--jump without a host', ['--jump', 'ops@', '--secret-file', S, 'h', '22'], 'usage', /host is empty/],
    [
      '--config without --jump',
      ['--config', '/c', '--secret-file', S, 'h', '22'],
      'usage',
      /--config goes with --jump/,
    ],
    [
      '--jump with --fdpass',
      ['--jump', 'b', '--fdpass', '--secret-file', S, 'h', '22'],
      'usage',
      /--fdpass cannot go with --jump/,
    ],
    [
      '--jump, one-time knocks past: no knock from there either',
      ['--name', 'web', '--jump', 'b', '--rolling-until', '2000-01-01', 'h', '22'],
      'ended',
      /one-time knocks for web ended on 2000-01-01/,
    ],
    ['--help', ['--help'], 'help', /^pingknock proxy <host> <port>\n[^]*--connect-timeout/],
    ['-h after everything else', ['--bogus', 'h', '22', '-h'], 'help', /^pingknock proxy <host> <port>\n/],
    ['--version', ['--version'], 'help', /^\d+\.\d+\.\d+\n$/],
  ];

  it.each(ROWS)('%s', (_name, template, outcome, says) => {
    const args = template.map((arg) => (arg === S ? missing : arg));
    const launcher = run(ENTRIES.launcher, args);
    const cli = run(ENTRIES.cli, args);
    expect(cli, 'the full command line ends as the launcher does').toEqual(launcher);
    expect(launcher.status).toBe(EXIT[outcome]);
    if (outcome === 'help') {
      expect(launcher.stderr).toBe('');
      expect(launcher.stdout).toMatch(says);
    } else {
      expect(launcher.stdout).toBe('');
      expect(launcher.stderr).toMatch(/^pingknock: [^\n]+\n$/);
      expect(launcher.stderr).toMatch(says);
    }
    expect(existsSync(pingLog), 'ping was started').toBe(false);
  });

  it('warns once, on stderr alone, in the last week of one-time knocks', () => {
    const lastDay = isoDate(slotAt(Date.now() / 1000).day + 3);
    const args = ['--name', 'web', '--rolling-until', lastDay, '--secret-file', missing, 'h', '22'];
    const launcher = run(ENTRIES.launcher, args);
    expect(run(ENTRIES.cli, args)).toEqual(launcher);
    expect(launcher.status).toBe(ExitCode.secret);
    expect(launcher.stdout).toBe('');
    const [warning, failure, ...rest] = launcher.stderr.split('\n');
    expect(warning).toBe(`pingknock: one-time knocks for web end on ${lastDay}: run pingknock renew web`);
    expect(failure).toMatch(/^pingknock: no secret file /);
    expect(rest).toEqual(['']);
    expect(existsSync(pingLog), 'ping was started').toBe(false);
  });

  it('the fast path loads without yargs', () => {
    expect(readFileSync(join(ROOT, 'dist', 'proxy-main.cjs'), 'utf8')).not.toMatch(/yargs/);
  });
});
