import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { proxyCommandMode } from '../../src/app/knock.js';
import { ExitCode, PingknockError } from '../../src/core/errors.js';
import { isoDate, rollingPatternHex, slotAt, STATIC_MODE, type KnockMode } from '../../src/core/rolling.js';
import { parseSecret, secretToHex } from '../../src/core/secret.js';
import { proxyCommandFor } from '../../src/core/ssh-config/proxy-command.js';
import { pingknock, type CliRun } from '../support/cli.js';

const day = (iso: string): number => Date.parse(`${iso}T00:00:00Z`) / 86_400_000;
const UNTIL: KnockMode = { kind: 'rolling', lastDay: day('2025-03-31') };

describe("the knock mode of an alias's ProxyCommand, as ssh -G gives it", () => {
  it.each([
    ['no ProxyCommand', undefined, STATIC_MODE],
    ['a static line', 'pingknock proxy --name web %h %p', STATIC_MODE],
    ['a one-time line', 'pingknock proxy --name web --rolling-until 2025-03-31 %h %p', UNTIL],
    [
      'a one-time line that passes the socket',
      'pingknock proxy --name web --rolling-until 2025-03-31 --fdpass %h %p',
      UNTIL,
    ],
    [
      'a one-time line by its path',
      '/usr/local/bin/pingknock proxy --name web --rolling-until 2025-03-31 %h %p',
      UNTIL,
    ],
    ["another alias's one-time line", 'pingknock proxy --name db --rolling-until 2025-03-31 %h %p', STATIC_MODE],
    ['the legacy %n line', 'pingknock proxy --name %n %h %p', STATIC_MODE],
    ['a line a user changed', 'pingknock proxy --name web --rolling-until 2025-03-31 --verbose %h %p', STATIC_MODE],
    ['a day no calendar has', 'pingknock proxy --name web --rolling-until 2025-02-30 %h %p', STATIC_MODE],
    ['another program', 'nc -X connect -x proxy:8080 %h %p', STATIC_MODE],
    ['another alias knocking from a jump host', 'pingknock proxy --name db --jump bastion %h %p', STATIC_MODE],
  ])('%s', (_name, line, mode) => {
    expect(proxyCommandMode('web', line)).toEqual(mode);
  });

  /** The PingknockError `run` throws. */
  function refusalOf(run: () => unknown): PingknockError {
    try {
      run();
    } catch (error) {
      if (error instanceof PingknockError) return error;
      throw error;
    }
    throw new Error('it did not refuse');
  }

  it.each([
    ['static', 'pingknock proxy --name web --jump bastion %h %p'],
    ['one-time, two hops', 'pingknock proxy --name web --jump gw,ops@bastion:2222 --rolling-until 2025-03-31 %h %p'],
  ])('refuses a line that knocks from a jump host (%s), saying what to run instead', (_name, line) => {
    const refusal = refusalOf(() => proxyCommandMode('web', line));
    expect(refusal.exitCode).toBe(ExitCode.usage);
    expect(refusal.message).toMatch(/^ssh web knocks from the jump host bastion \(its ProxyCommand has --jump\): /);
    expect(refusal.message).toContain('; run ssh web, or pingknock doctor web to check that knock ');
  });

  it('names the config it was read from in what to run', () => {
    expect(
      refusalOf(() => proxyCommandMode('web', 'pingknock proxy --name web --jump bastion %h %p', '/etc/my.conf'))
        .message,
    ).toContain('; run ssh -F /etc/my.conf web, or pingknock doctor web --config /etc/my.conf to check that knock ');
  });
});

/**
 * `pingknock knock` as a user runs it, with a `ping` that records its arguments and answers at
 * once, and ssh's own reading of a config: which pattern went out, and what was said.
 */
describe('pingknock knock picks its pattern', () => {
  const SECRET = parseSecret('Abcdefgh12345678', 'the test');
  const ALIAS = 'web';
  const today = (): number => slotAt(Date.now() / 1000).day;
  let dir: string;
  let home: string;
  let bin: string;
  let config: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'pingknock-knock-mode-'));
    home = join(dir, 'home');
    bin = join(dir, 'bin');
    config = join(dir, 'ssh_config');
    mkdirSync(join(home, '.ssh', 'pingknock'), { recursive: true, mode: 0o700 });
    writeFileSync(join(home, '.ssh', 'pingknock', ALIAS), `${SECRET}\n`, { mode: 0o600 });
    mkdirSync(bin);
    fakeProgram('ping', 0);
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  /**
   * A program on the PATH before the system's that appends its arguments to `dir/NAME-argv`, one
   * a line and a line END after them, and exits `code`.
   */
  function fakeProgram(name: string, code: number): void {
    const path = join(bin, name);
    writeFileSync(path, `#!/bin/sh\nprintf '%s\\n' "$@" END >> '${join(dir, `${name}-argv`)}'\nexit ${code}\n`);
    chmodSync(path, 0o755);
  }

  /** Each run of the fake `name`, as its argument lists; empty when it never ran. */
  function runsOf(name: string): string[][] {
    const log = join(dir, `${name}-argv`);
    if (!existsSync(log)) return [];
    return readFileSync(log, 'utf8')
      .split('END\n')
      .slice(0, -1)
      .map((run) => run.split('\n').slice(0, -1));
  }

  /** The pattern of the one knock that went out. */
  function sentPattern(): string | undefined {
    const runs = runsOf('ping');
    expect(runs).toHaveLength(1);
    const args = runs[0] ?? [];
    return args[args.indexOf('-p') + 1];
  }

  const knock = (...args: string[]): CliRun =>
    pingknock(['knock', ...args], { home, env: { PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}` } });

  /** The config with `alias`'s Host block and this ProxyCommand, 0600 as ssh wants it. */
  function writeConfig(proxyCommand: string, alias = ALIAS): void {
    writeFileSync(config, `Host ${alias}\n    HostName 127.0.0.1\n    ProxyCommand ${proxyCommand}\n`, { mode: 0o600 });
  }

  /** A run that knocked 127.0.0.1 with the one-time pattern of its moment, said so and nothing else. */
  function expectOneTimeKnock(run: () => CliRun, before = ''): void {
    const from = slotAt(Date.now() / 1000);
    const result = run();
    const to = slotAt(Date.now() / 1000);
    expect(result).toEqual({
      status: 0,
      stdout: '',
      stderr: `${before}pingknock: 127.0.0.1 answered the one-time knock\n`,
    });
    expect([rollingPatternHex(SECRET, from), rollingPatternHex(SECRET, to)]).toContain(sentPattern());
  }

  function expectStaticKnock(result: CliRun): void {
    expect(result).toEqual({ status: 0, stdout: '', stderr: 'pingknock: 127.0.0.1 answered the knock\n' });
    expect(sentPattern()).toBe(secretToHex(SECRET));
  }

  function expectRefused(result: CliRun, code: number, message: string | RegExp): void {
    expect({ status: result.status, stdout: result.stdout }).toEqual({ status: code, stdout: '' });
    expect(result.stderr).toMatch(/^pingknock: [^\n]+\n$/);
    expect(result.stderr).toMatch(message);
    expect(runsOf('ping'), 'ping was started').toEqual([]);
  }

  it('with --static, the secret itself', () => {
    expectStaticKnock(knock('--static', '--name', ALIAS, '127.0.0.1'));
  });

  it('with --rolling-until, the one-time pattern of the moment, and says it was the one-time knock', () => {
    expectOneTimeKnock(() => knock('--rolling-until', isoDate(today() + 60), '--name', ALIAS, '127.0.0.1'));
  });

  it("without either, as the alias's ProxyCommand knocks: one-time, or static", () => {
    writeConfig(proxyCommandFor(ALIAS, { kind: 'rolling', lastDay: today() + 60 }, { fdpass: true }));
    expectOneTimeKnock(() => knock('--config', config, '--name', ALIAS, '127.0.0.1'));
    rmSync(join(dir, 'ping-argv'));
    writeConfig(proxyCommandFor(ALIAS));
    expectStaticKnock(knock('--config', config, '--name', ALIAS, '127.0.0.1'));
  });

  it('reads the ProxyCommand of HOST without --name', () => {
    // An alias that is its server's address, so that HOST resolves without a name service.
    const alias = '127.0.0.1';
    writeFileSync(join(home, '.ssh', 'pingknock', alias), `${SECRET}\n`, { mode: 0o600 });
    writeConfig(proxyCommandFor(alias, { kind: 'rolling', lastDay: today() + 60 }), alias);
    expectOneTimeKnock(() => knock('--config', config, alias));
    rmSync(join(dir, 'ping-argv'));
    // With --name, that alias's ProxyCommand counts, not HOST's: it has none here, so static.
    expectStaticKnock(knock('--config', config, '--name', ALIAS, alias));
  });

  it("knocks HOST's HostName without --name, as ssh connects to it, with its ProxyCommand's pattern", () => {
    writeConfig(proxyCommandFor(ALIAS, { kind: 'rolling', lastDay: today() + 60 }));
    expectOneTimeKnock(() => knock('--config', config, ALIAS));
    rmSync(join(dir, 'ping-argv'));
    // --static chooses the pattern; the alias still leads to its HostName.
    expectStaticKnock(knock('--config', config, '--static', ALIAS));
  });

  it('warns in the last week, and knocks', () => {
    const lastDay = today() + 2;
    writeConfig(proxyCommandFor(ALIAS, { kind: 'rolling', lastDay }));
    expectOneTimeKnock(
      () => knock('--config', config, '--name', ALIAS, '127.0.0.1'),
      `pingknock: one-time knocks for ${ALIAS} end on ${isoDate(lastDay)}: run pingknock renew ${ALIAS}\n`,
    );
  });

  it('fails with exit 16 after the last day, without knocking', () => {
    const lastDay = today() - 1;
    const ended = new RegExp(`^pingknock: one-time knocks for ${ALIAS} ended on ${isoDate(lastDay)}: .*renew ${ALIAS}`);
    writeConfig(proxyCommandFor(ALIAS, { kind: 'rolling', lastDay }));
    expectRefused(knock('--config', config, '--name', ALIAS, '127.0.0.1'), ExitCode.horizonEnded, ended);
    expectRefused(
      knock('--rolling-until', isoDate(lastDay), '--name', ALIAS, '127.0.0.1'),
      ExitCode.horizonEnded,
      ended,
    );
  });

  it('refuses to knock from here for an alias that knocks from a jump host', () => {
    writeConfig(`pingknock proxy --name ${ALIAS} --jump bastion %h %p`);
    expectRefused(
      knock('--config', config, '--name', ALIAS, '127.0.0.1'),
      ExitCode.usage,
      `run ssh -F ${config} ${ALIAS}, or pingknock doctor ${ALIAS} --config ${config} to check that knock`,
    );
    // Told to, it knocks from here all the same.
    expectStaticKnock(knock('--static', '--name', ALIAS, '127.0.0.1'));
  });

  it('knocks an address no alias can have with the static pattern, without asking ssh', () => {
    fakeProgram('ssh', 1);
    const result = knock('::1', '--secret-file', join(home, '.ssh', 'pingknock', ALIAS));
    expect(result).toEqual({ status: 0, stdout: '', stderr: 'pingknock: ::1 answered the knock\n' });
    expect(sentPattern()).toBe(secretToHex(SECRET));
    expect(runsOf('ssh')).toEqual([]);
  });

  it('knocks static when ssh cannot read the config it always reads, and says why only with --verbose', () => {
    fakeProgram('ssh', 255);
    expectStaticKnock(knock('--name', ALIAS, '127.0.0.1'));
    expect(runsOf('ssh')).toEqual([['-G', '--', ALIAS]]);
    const verbose = knock('--verbose', '--name', ALIAS, '127.0.0.1');
    expect(verbose.status, verbose.stderr).toBe(0);
    expect(verbose.stderr).toMatch(
      new RegExp(`^pingknock: ssh cannot say how it reaches ${ALIAS}, so the knock is static: `),
    );
  });

  it('fails when the config it was given cannot be read', () => {
    expectRefused(
      knock('--config', join(dir, 'missing'), '--name', ALIAS, '127.0.0.1'),
      ExitCode.io,
      `pingknock: cannot read how ssh reaches ${ALIAS}: `,
    );
  });

  it.each([
    ['--static with --rolling-until', ['--static', '--rolling-until', '2099-01-01'], /mutually exclusive/],
    ['a date no calendar has', ['--rolling-until', '2099-02-30'], /--rolling-until takes .* got "2099-02-30"/],
    ['a date without its day', ['--rolling-until', '2099-02'], /YYYY-MM-DD/],
  ])('refuses %s', (_name, args, message) => {
    expectRefused(knock(...args, '--name', ALIAS, '127.0.0.1'), ExitCode.usage, message);
  });
});
