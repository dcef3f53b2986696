import { describe, expect, it } from 'vitest';
import { wholeSeconds } from '../../src/core/duration.js';
import { parseIsoDate, STATIC_MODE } from '../../src/core/rolling.js';
import { knockModeEdit } from '../../src/core/ssh-config/knock-mode.js';
import { parseRecord } from '../../src/edge/enroll-record.js';
import { sshArgs } from '../../src/core/remote-ssh.js';

/**
 * The client's side of key management: the ProxyCommand rewritten for the mode the server's rules
 * now have, enroll's record of the key, the one seconds check, and which alias each ssh connection
 * uses with --via.
 */

const rollingUntil = (date: string) => ({ kind: 'rolling' as const, lastDay: parseIsoDate(date) ?? Number.NaN });

describe('knockModeEdit', () => {
  const config = [
    'Host *',
    '    ProxyCommand pingknock proxy --name elsewhere %h %p',
    'Host web',
    '\tHostName 203.0.113.7',
    '\tProxyCommand pingknock proxy --name web %h %p  # knock first',
    'Host other',
    '    ProxyCommand pingknock proxy --name other %h %p',
    '',
  ].join('\r\n');

  it('puts the last day into the alias own ProxyCommand, every other byte kept', () => {
    const edit = knockModeEdit(config, 'web', rollingUntil('2025-03-31'));
    expect(edit).toEqual({
      kind: 'changed',
      text: config.replace('--name web %h', '--name web --rolling-until 2025-03-31 %h'),
      lines: [
        {
          before: '\tProxyCommand pingknock proxy --name web %h %p  # knock first',
          after: '\tProxyCommand pingknock proxy --name web --rolling-until 2025-03-31 %h %p  # knock first',
        },
      ],
    });
  });

  it('moves the day, takes it out for static knocks, and says unchanged when all is as asked', () => {
    const rolling = knockModeEdit(config, 'web', rollingUntil('2025-03-31'));
    if (rolling.kind !== 'changed') throw new Error('no edit');
    const moved = knockModeEdit(rolling.text, 'web', rollingUntil('2025-04-30'));
    expect(moved.kind === 'changed' && moved.text).toBe(
      config.replace('--name web %h', '--name web --rolling-until 2025-04-30 %h'),
    );
    const back = knockModeEdit(rolling.text, 'web', STATIC_MODE);
    expect(back.kind === 'changed' && back.text).toBe(config);
    expect(knockModeEdit(config, 'web', STATIC_MODE)).toEqual({ kind: 'unchanged' });
    expect(knockModeEdit(rolling.text, 'web', rollingUntil('2025-03-31'))).toEqual({ kind: 'unchanged' });
  });

  it('keeps --fdpass where it is', () => {
    const static_ = 'Host web\n    ProxyCommand pingknock proxy --name web --fdpass %h %p\n    ProxyUseFdpass yes\n';
    const rolling = static_.replace('--name web --fdpass', '--name web --rolling-until 2025-03-31 --fdpass');
    expect(knockModeEdit(static_, 'web', rollingUntil('2025-03-31'))).toMatchObject({ text: rolling });
    expect(knockModeEdit(rolling, 'web', STATIC_MODE)).toMatchObject({ text: static_ });
  });

  it("refuses an alias whose own block has no ProxyCommand of pingknock's, and a text it cannot read", () => {
    expect(knockModeEdit('Host web\n    ProxyJump bastion\n', 'web', STATIC_MODE)).toEqual({
      kind: 'refused',
      message: "has no ProxyCommand of pingknock's in a Host web block",
    });
    expect(knockModeEdit('Host web\r    ProxyCommand x\n', 'web', STATIC_MODE).kind).toBe('refused');
  });
});

describe("enroll's record of the alias's key", () => {
  const base = { version: 1, config: '/home/u/.ssh/config', configAddition: null };
  const server = { backend: 'nftables', stateDir: '/run/pingknock', persistDir: '/etc' };

  it.each([
    { name: 'u@laptop', kind: 'static' },
    { name: 'u@laptop', kind: 'rolling', horizonDays: 30, until: '2025-03-31' },
  ])('reads %j', (key) => {
    expect(parseRecord(JSON.stringify({ ...base, server: { ...server, key } }))?.server?.key).toEqual(key);
  });

  it.each([
    { name: 'u laptop', kind: 'static' },
    { name: 'u@laptop', kind: 'static', horizonDays: 30 },
    { name: 'u@laptop', kind: 'rolling', horizonDays: 0, until: '2025-03-31' },
    { name: 'u@laptop', kind: 'rolling', horizonDays: 30, until: '2025-02-30' },
    { name: 'u@laptop', kind: 'sometimes' },
  ])('refuses %j', (key) => {
    expect(parseRecord(JSON.stringify({ ...base, server: { ...server, key } }))).toBeUndefined();
  });
});

describe('wholeSeconds, the one check of seconds an option takes', () => {
  it.each([15, 120, 3600])('takes %d', (seconds) => {
    expect(wholeSeconds('rollback', seconds, 15, 3600)).toBe(seconds);
  });

  it.each([14, 3601, 20.5, Number.NaN])('refuses %d as a usage error naming the option and the range', (seconds) => {
    expect(() => wholeSeconds('rollback', seconds, 15, 3600, ': long enough')).toThrowError(
      expect.objectContaining({
        exitCode: 2,
        message: '--rollback must be whole seconds from 15 to 3600: long enough',
      }),
    );
  });
});

describe('sshArgs with --via', () => {
  const target = { alias: 'web', via: 'web-old' };
  const controlPath = '/tmp/pingknock-ssh-x/cm';
  const aliasOf = (args: readonly string[]) => args[args.indexOf('--') + 1];

  it('keeps the connection as the via alias, and proves as the alias, or as another one asked for', () => {
    expect(aliasOf(sshArgs(target, { kind: 'open-master', controlPath, logFile: '/x', knock: true }))).toBe('web-old');
    expect(aliasOf(sshArgs(target, { kind: 'master', controlPath }))).toBe('web-old');
    expect(aliasOf(sshArgs(target, { kind: 'check', controlPath }))).toBe('web-old');
    expect(aliasOf(sshArgs(target, { kind: 'unknocked' }))).toBe('web');
    expect(aliasOf(sshArgs(target, { kind: 'knocked' }))).toBe('web');
    expect(aliasOf(sshArgs(target, { kind: 'knocked', as: 'web-old' }))).toBe('web-old');
  });

  it('validates the via alias as it does the alias', () => {
    expect(() => sshArgs({ alias: 'web', via: '-oProxyCommand=x' }, { kind: 'master', controlPath })).toThrow(
      /starts with "-"/,
    );
  });
});
