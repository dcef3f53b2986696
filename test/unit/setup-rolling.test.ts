import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/core/errors.js';
import { isoDate, slotAt, STATIC_MODE } from '../../src/core/rolling.js';
import { proxyCommandFor } from '../../src/core/ssh-config/proxy-command.js';
import { pingknock } from '../support/cli.js';

let dir: string;
let home: string;
let config: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pingknock-setup-rolling-'));
  home = join(dir, 'home');
  mkdirSync(home);
  config = join(dir, 'config');
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const setup = (args: readonly string[]) =>
  pingknock(['setup', 'web', '--hostname', 'web.example.org', '--yes', '--config', config, ...args], { home });
const today = (): number => slotAt(Date.now() / 1000).day;
const secretHex = (): string =>
  Buffer.from(readFileSync(join(home, '.ssh', 'pingknock', 'web'), 'utf8').trim()).toString('hex');

describe('setup --rolling-until: the mode of a server whose rules were loaded by hand', () => {
  it('writes the rolling ProxyCommand, and says how to make rules through that day and knock by hand', () => {
    const lastDay = today() + 44;
    const result = setup(['--rolling-until', isoDate(lastDay)]);
    expect(result.status, result.stderr).toBe(0);
    // This machine's OpenSSH takes the socket from the proxy: ProxyUseFdpass with --fdpass.
    const line = `ProxyCommand ${proxyCommandFor('web', { kind: 'rolling', lastDay }, { fdpass: true })}`;
    expect(line).toContain(`--rolling-until ${isoDate(lastDay)} --fdpass %h %p`);
    expect(readFileSync(config, 'utf8')).toBe(
      `Host web\n    HostName web.example.org\n    ${line}\n    ProxyUseFdpass yes\n`,
    );
    // The horizon counts today: 45 days, today through the last day.
    expect(result.stdout).toContain(
      'pingknock rules --rolling --horizon 45 --secret-file ~/.ssh/pingknock/web > pingknock.nft',
    );
    expect(result.stdout).toContain('ping -c 1 -p "$(pingknock pattern web)" web.example.org');
    expect(result.stdout).not.toContain(secretHex());
  });

  it('keeps the mode in place when run again without one, and says so', () => {
    const lastDay = isoDate(today() + 10);
    expect(setup(['--rolling-until', lastDay]).status).toBe(0);
    const written = readFileSync(config, 'utf8');
    const again = setup([]);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/nothing changed/);
    expect(readFileSync(config, 'utf8')).toBe(written);
    expect(again.stdout).toContain('pingknock rules --rolling --horizon 11 ');
  });

  it('turns a host static again with --static, and back, keeping each replaced line as a comment', () => {
    const lastDay = isoDate(today() + 10);
    expect(setup(['--rolling-until', lastDay]).status).toBe(0);
    const toStatic = setup(['--static']);
    expect(toStatic.status, toStatic.stderr).toBe(0);
    const rolling = `ProxyCommand pingknock proxy --name web --rolling-until ${lastDay} --fdpass %h %p`;
    // The new line keeps the way the replaced one connects: the socket passed to ssh.
    expect(readFileSync(config, 'utf8')).toBe(
      `Host web\n    HostName web.example.org\n    # replaced by pingknock setup: ${rolling}\n` +
        `    ProxyUseFdpass yes\n    ProxyCommand ${proxyCommandFor('web', STATIC_MODE, { fdpass: true })}\n`,
    );
    expect(toStatic.stdout).toContain('ping -c 1 -p "$(pingknock pattern --static web)" web.example.org');
    expect(toStatic.stdout).toContain('pingknock rules --secret-file ~/.ssh/pingknock/web > pingknock.nft');
  });

  it.each([
    ['a past day', () => ['--rolling-until', isoDate(today() - 1)], /--rolling-until \S+ is past \(today is /],
    ['no date', () => ['--rolling-until', 'next-month'], /--rolling-until takes the last UTC day/],
    ['both modes', () => ['--rolling-until', isoDate(today() + 1), '--static'], /mutually exclusive/],
  ])('refuses %s, writing nothing', (_name, args, message) => {
    const result = setup(args());
    expect(result.status).toBe(ExitCode.usage);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(message);
    expect(existsSync(config)).toBe(false);
    expect(existsSync(join(home, '.ssh', 'pingknock', 'web'))).toBe(false);
  });
});
