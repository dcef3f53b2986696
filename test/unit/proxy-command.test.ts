import { describe, expect, it } from 'vitest';
import { STATIC_MODE, type KnockMode } from '../../src/core/rolling.js';
import { additionOf, editSshConfig } from '../../src/core/ssh-config/add.js';
import { removeSetupAddition } from '../../src/core/ssh-config/remove.js';
import {
  effectiveMismatches,
  pingknockProxyForm,
  proxyCommandFor,
  readPingknockProxy,
  sameMode,
  sshPassesFds,
  withRollingUntil,
} from '../../src/core/ssh-config/proxy-command.js';

const day = (iso: string): number => Date.parse(`${iso}T00:00:00Z`) / 86_400_000;
const UNTIL: KnockMode = { kind: 'rolling', lastDay: day('2025-03-31') };
const LATER: KnockMode = { kind: 'rolling', lastDay: day('2025-04-30') };
const STATIC_LINE = 'pingknock proxy --name web %h %p';
const ROLLING_LINE = 'pingknock proxy --name web --rolling-until 2025-03-31 %h %p';

describe('the ProxyCommand setup writes, in each knock mode', () => {
  it('is static without a mode, and carries the last day of one-time knocks with one', () => {
    expect(proxyCommandFor('web')).toBe(STATIC_LINE);
    expect(proxyCommandFor('web', STATIC_MODE)).toBe(STATIC_LINE);
    expect(proxyCommandFor('web', UNTIL)).toBe(ROLLING_LINE);
  });

  it('passes the socket with --fdpass, after the mode', () => {
    expect(proxyCommandFor('web', STATIC_MODE, { fdpass: true })).toBe('pingknock proxy --name web --fdpass %h %p');
    expect(proxyCommandFor('web', UNTIL, { fdpass: true })).toBe(
      'pingknock proxy --name web --rolling-until 2025-03-31 --fdpass %h %p',
    );
    expect(proxyCommandFor('web', UNTIL, { fdpass: false })).toBe(ROLLING_LINE);
  });

  it.each([
    [STATIC_LINE, { form: 'current', mode: STATIC_MODE, fdpass: false }],
    [ROLLING_LINE, { form: 'current', mode: UNTIL, fdpass: false }],
    [
      '/usr/local/bin/pingknock  proxy\t--name web --rolling-until 2025-03-31 %h %p',
      { form: 'current', mode: UNTIL, fdpass: false },
    ],
    [`${ROLLING_LINE} # one-time knocks`, { form: 'current', mode: UNTIL, fdpass: false }],
    ['pingknock proxy --name %n %h %p', { form: 'legacy', mode: STATIC_MODE, fdpass: false }],
    ['pingknock proxy --name web --fdpass %h %p', { form: 'current', mode: STATIC_MODE, fdpass: true }],
    [
      '/opt/bin/pingknock proxy --name web --rolling-until 2025-03-31 --fdpass %h %p # no relay',
      { form: 'current', mode: UNTIL, fdpass: true },
    ],
  ])("reads %j as pingknock's", (value, expected) => {
    expect(readPingknockProxy(value, 'web')).toEqual(expected);
    expect(pingknockProxyForm(value, 'web')).toBe(expected.form);
  });

  it.each([
    ['another alias', 'pingknock proxy --name db --rolling-until 2025-03-31 %h %p'],
    ['a date no calendar has', 'pingknock proxy --name web --rolling-until 2025-02-30 %h %p'],
    ['a date in another form', 'pingknock proxy --name web --rolling-until 31.03.2025 %h %p'],
    ['the options in another order', 'pingknock proxy --rolling-until 2025-03-31 --name web %h %p'],
    [
      'the option given twice',
      'pingknock proxy --name web --rolling-until 2025-03-31 --rolling-until 2025-04-30 %h %p',
    ],
    ['more options', `${ROLLING_LINE} --verbose`],
    ['--rolling-until=DATE', 'pingknock proxy --name web --rolling-until=2025-03-31 %h %p'],
    ['a legacy line with a date', 'pingknock proxy --name %n --rolling-until 2025-03-31 %h %p'],
    ['another program', 'notpingknock proxy --name web --rolling-until 2025-03-31 %h %p'],
    ['--fdpass before the mode', 'pingknock proxy --name web --fdpass --rolling-until 2025-03-31 %h %p'],
    ['--fdpass before the alias', 'pingknock proxy --fdpass --name web %h %p'],
    ['--fdpass twice', 'pingknock proxy --name web --fdpass --fdpass %h %p'],
    ['a legacy line with --fdpass', 'pingknock proxy --name %n --fdpass %h %p'],
  ])('does not take %s for its own line', (_name, value) => {
    expect(readPingknockProxy(value, 'web')).toBeUndefined();
  });

  it('compares modes by kind and last day', () => {
    expect(sameMode(STATIC_MODE, { kind: 'static' })).toBe(true);
    expect(sameMode(UNTIL, { kind: 'rolling', lastDay: day('2025-03-31') })).toBe(true);
    expect(sameMode(UNTIL, LATER)).toBe(false);
    expect(sameMode(UNTIL, STATIC_MODE)).toBe(false);
  });
});

describe('withRollingUntil: the date of a ProxyCommand line, for renewals', () => {
  it.each([
    ['a static line gets one', `    ProxyCommand ${STATIC_LINE}`, `    ProxyCommand ${ROLLING_LINE}`],
    [
      'a rolling line gets the new one',
      '\tProxyCommand pingknock proxy --name web --rolling-until 2024-12-31 %h %p',
      `\tProxyCommand ${ROLLING_LINE}`,
    ],
    [
      'every other byte stays: Key=Value, a path, a comment, a CR',
      'ProxyCommand=/opt/bin/pingknock  proxy --name web\t%h %p  # knock first\r',
      'ProxyCommand=/opt/bin/pingknock  proxy --name web --rolling-until 2025-03-31\t%h %p  # knock first\r',
    ],
    ['a bare value', ROLLING_LINE, ROLLING_LINE],
    [
      'a --fdpass after it stays',
      '    ProxyCommand pingknock proxy --name web --rolling-until 2024-12-31 --fdpass %h %p',
      `    ProxyCommand ${proxyCommandFor('web', UNTIL, { fdpass: true })}`,
    ],
    [
      'a static --fdpass line gets one before it',
      `ProxyCommand ${proxyCommandFor('web', STATIC_MODE, { fdpass: true })}`,
      `ProxyCommand ${proxyCommandFor('web', UNTIL, { fdpass: true })}`,
    ],
  ])('%s', (_name, line, expected) => {
    expect(withRollingUntil(line, 'web', day('2025-03-31'))).toBe(expected);
  });

  it.each([
    ['another alias', `ProxyCommand ${proxyCommandFor('db')}`],
    ['an alias the name only begins with', `ProxyCommand ${proxyCommandFor('web2')}`],
    ['a legacy line', 'ProxyCommand pingknock proxy --name %n %h %p'],
    ['another program', 'ProxyCommand ncat --proxy web %h %p'],
    ['more options', `ProxyCommand ${STATIC_LINE} --verbose`],
    ['a broken date', 'ProxyCommand pingknock proxy --name web --rolling-until soon %h %p'],
  ])('leaves alone %s', (_name, line) => {
    expect(withRollingUntil(line, 'web', day('2025-03-31'))).toBeUndefined();
  });

  it('escapes the alias: a dot matches only a dot', () => {
    expect(withRollingUntil(`ProxyCommand ${proxyCommandFor('aXb')}`, 'a.b', day('2025-03-31'))).toBeUndefined();
    expect(withRollingUntil(`ProxyCommand ${proxyCommandFor('a.b')}`, 'a.b', day('2025-03-31'))).toBe(
      `ProxyCommand ${proxyCommandFor('a.b', UNTIL)}`,
    );
  });
});

describe('ssh -G and the mode asked for', () => {
  const effective = (proxy: string) => new Map([['proxycommand', proxy]]);

  it('takes either mode when none is asked, and only the one asked for otherwise', () => {
    expect(effectiveMismatches(effective(ROLLING_LINE), 'web')).toEqual([]);
    expect(effectiveMismatches(effective(ROLLING_LINE), 'web', { mode: UNTIL })).toEqual([]);
    expect(effectiveMismatches(effective(ROLLING_LINE), 'web', { mode: LATER })).toEqual([
      `ProxyCommand ${ROLLING_LINE}`,
    ]);
    expect(effectiveMismatches(effective(STATIC_LINE), 'web', { mode: UNTIL })).toEqual([
      `ProxyCommand ${STATIC_LINE}`,
    ]);
    expect(effectiveMismatches(effective('pingknock proxy --name %n %h %p'), 'web', { mode: STATIC_MODE })).toEqual([]);
  });

  it('says when ssh would take a socket from a ProxyCommand that relays, and checks the way asked for', () => {
    const passing = proxyCommandFor('web', STATIC_MODE, { fdpass: true });
    const answer = (proxy: string, fdpass: 'yes' | 'no') =>
      new Map([
        ['proxycommand', proxy],
        ['proxyusefdpass', fdpass],
      ]);
    expect(effectiveMismatches(answer(passing, 'yes'), 'web', { fdpass: true })).toEqual([]);
    // --fdpass relays when ssh gives pipes: fine, unless the socket was asked for.
    expect(effectiveMismatches(answer(passing, 'no'), 'web')).toEqual([]);
    expect(effectiveMismatches(answer(passing, 'no'), 'web', { fdpass: true })).toEqual([
      'no fd passing (ProxyUseFdpass no)',
    ]);
    expect(effectiveMismatches(answer(STATIC_LINE, 'yes'), 'web')).toEqual([
      'fd passing (ProxyUseFdpass yes) with a ProxyCommand that relays (no --fdpass)',
    ]);
    expect(effectiveMismatches(answer(STATIC_LINE, 'no'), 'web', { fdpass: true })).toEqual([
      `ProxyCommand ${STATIC_LINE}`,
    ]);
    expect(effectiveMismatches(answer(passing, 'yes'), 'web', { fdpass: false })).toEqual([`ProxyCommand ${passing}`]);
  });

  it('reads from ssh -V whether the local ssh takes a socket from its ProxyCommand', () => {
    expect(sshPassesFds('OpenSSH_9.2p1 Debian-2+deb12u3, OpenSSL 3.0.15 3 Sep 2024')).toBe(true);
    expect(sshPassesFds('OpenSSH_6.5p1, OpenSSL 1.0.1f 6 Jan 2014')).toBe(true);
    expect(sshPassesFds('OpenSSH_10.0p2, OpenSSL 3.5.0')).toBe(true);
    expect(sshPassesFds('OpenSSH_6.4p1, OpenSSL 1.0.1e-fips 11 Feb 2013')).toBe(false);
    expect(sshPassesFds('OpenSSH_5.3p1, OpenSSL 1.0.1e-fips 11 Feb 2013')).toBe(false);
    expect(sshPassesFds('OpenSSH_for_Windows_8.1p1, LibreSSL 3.0.2')).toBe(false);
    expect(sshPassesFds('Dropbear SSH multi-purpose v2022.83')).toBe(false);
  });
});

describe("setup's edit with a knock mode", () => {
  const edit = (text: string, mode: KnockMode | undefined, force = false) =>
    editSshConfig(text, { alias: 'web', hostName: 'web.example.org', mode, force });

  it('writes the rolling form into a new block', () => {
    const result = edit('', UNTIL);
    expect(result).toMatchObject({
      kind: 'changed',
      text: `Host web\n    HostName web.example.org\n    ProxyCommand ${ROLLING_LINE}\n`,
    });
  });

  it("keeps pingknock's line in either mode when no mode is asked for", () => {
    const text = `Host web\n    HostName web.example.org\n    ProxyCommand ${ROLLING_LINE}\n`;
    expect(edit(text, undefined)).toEqual({ kind: 'unchanged' });
    expect(edit(text, UNTIL)).toEqual({ kind: 'unchanged' });
  });

  it('replaces its own line of another mode or date without --force, keeping it as a comment', () => {
    const text = `Host web\n    HostName web.example.org\n    ProxyCommand ${STATIC_LINE}\n`;
    const rolling = edit(text, UNTIL);
    expect(rolling).toMatchObject({
      kind: 'changed',
      text:
        `Host web\n    HostName web.example.org\n    # replaced by pingknock setup: ProxyCommand ${STATIC_LINE}\n` +
        `    ProxyCommand ${ROLLING_LINE}\n`,
    });
    if (rolling.kind !== 'changed') throw new Error('changed expected');
    const later = edit(rolling.text, LATER);
    expect(later).toMatchObject({ kind: 'changed' });
    if (later.kind !== 'changed') throw new Error('changed expected');
    expect(later.text).toContain(`    # replaced by pingknock setup: ProxyCommand ${ROLLING_LINE}\n`);
    expect(later.text).toContain(`    ProxyCommand ${proxyCommandFor('web', LATER)}\n`);
    expect(edit(rolling.text, STATIC_MODE)).toMatchObject({ kind: 'changed' });
  });

  it('refuses when an earlier block, which other hosts share, knocks in another mode', () => {
    const text = `Host web db\n    ProxyCommand ${STATIC_LINE}\nHost web\n    HostName web.example.org\n`;
    expect(edit(text, UNTIL)).toMatchObject({ kind: 'refused', reason: 'shadowed' });
    expect(edit(text, STATIC_MODE)).toEqual({ kind: 'unchanged' });
  });

  it('lets an older static line in a shared block serve a static host only', () => {
    const text =
      'Host web db\n    ProxyCommand pingknock proxy --name %n %h %p\nHost web\n    HostName web.example.org\n';
    expect(edit(text, STATIC_MODE)).toEqual({ kind: 'unchanged' });
    expect(edit(text, undefined)).toEqual({ kind: 'unchanged' });
    expect(edit(text, UNTIL)).toMatchObject({ kind: 'refused', reason: 'shadowed' });
  });

  it('overrides a later shared block of another mode only with --force', () => {
    const text = `Host web db\n    ProxyCommand ${STATIC_LINE}\n`;
    expect(edit(text, UNTIL)).toMatchObject({ kind: 'refused', reason: 'conflict' });
    const forced = edit(text, UNTIL, true);
    expect(forced).toMatchObject({ kind: 'changed', overridden: [{ number: 2 }] });
    if (forced.kind !== 'changed') throw new Error('changed expected');
    expect(forced.text.startsWith(`Host web\n    HostName web.example.org\n    ProxyCommand ${ROLLING_LINE}\n`)).toBe(
      true,
    );
  });
});

describe("fd passing in setup's edit, and unenroll's removal of it", () => {
  const PASSING = `ProxyCommand ${proxyCommandFor('web', STATIC_MODE, { fdpass: true })}`;
  const edit = (text: string, request: { fdpass?: boolean; sshPassesFds?: boolean; force?: boolean } = {}) =>
    editSshConfig(text, { alias: 'web', hostName: 'web.example.org', force: false, ...request });
  const changed = (result: ReturnType<typeof edit>) => {
    if (result.kind !== 'changed') throw new Error(`changed expected, got ${JSON.stringify(result)}`);
    return result;
  };

  it('writes ProxyUseFdpass yes and --fdpass into a new block where ssh can take the socket, and only there', () => {
    expect(changed(edit('', { sshPassesFds: true })).text).toBe(
      `Host web\n    HostName web.example.org\n    ${PASSING}\n    ProxyUseFdpass yes\n`,
    );
    expect(changed(edit('', { sshPassesFds: false })).text).toBe(
      `Host web\n    HostName web.example.org\n    ProxyCommand ${STATIC_LINE}\n`,
    );
    expect(changed(edit('', {})).text).not.toContain('fdpass');
  });

  it("leaves the choice to the user's own ProxyUseFdpass: yes needs no line more, no keeps the relay", () => {
    expect(changed(edit('ProxyUseFdpass yes\n', { sshPassesFds: true })).added).toEqual([
      '',
      'Host web',
      '    HostName web.example.org',
      `    ${PASSING}`,
    ]);
    const no = changed(edit('Host *\n    ProxyUseFdpass no\n', { sshPassesFds: true }));
    expect(no.added).toContain(`    ProxyCommand ${STATIC_LINE}`);
    expect(no.text).not.toContain('--fdpass');
  });

  it('keeps the way of a line in place unless asked, and a second run changes nothing', () => {
    const relaying = `Host web\n    HostName web.example.org\n    ProxyCommand ${STATIC_LINE}\n`;
    expect(edit(relaying, { sshPassesFds: true })).toEqual({ kind: 'unchanged' });
    const passing = changed(edit('', { sshPassesFds: true })).text;
    expect(edit(passing, { sshPassesFds: true })).toEqual({ kind: 'unchanged' });
    // Turned off by hand (the ProxyUseFdpass line taken out): it stays off.
    expect(edit(passing.replace('    ProxyUseFdpass yes\n', ''), { sshPassesFds: true })).toEqual({
      kind: 'unchanged',
    });
    // An older setup's %n line, in a block other hosts share, relays: no ProxyUseFdpass joins it.
    const shared =
      'Host web db\n    ProxyCommand pingknock proxy --name %n %h %p\nHost web\n    HostName web.example.org\n';
    expect(edit(shared, { sshPassesFds: true })).toEqual({ kind: 'unchanged' });
    expect(edit(shared, { fdpass: true, sshPassesFds: true })).toMatchObject({ kind: 'refused', reason: 'shadowed' });
  });

  it('--fdpass and --no-fdpass replace its own line without --force, each time keeping the one replaced', () => {
    const relaying = `Host web\n    HostName web.example.org\n    ProxyCommand ${STATIC_LINE}\n`;
    const on = changed(edit(relaying, { fdpass: true, sshPassesFds: true }));
    expect(on.text).toBe(
      `Host web\n    HostName web.example.org\n    # replaced by pingknock setup: ProxyCommand ${STATIC_LINE}\n` +
        `    ${PASSING}\n    ProxyUseFdpass yes\n`,
    );
    const off = changed(edit(on.text, { fdpass: false, sshPassesFds: true }));
    expect(off.replaced.map((line) => line.text.trim())).toEqual([PASSING, 'ProxyUseFdpass yes']);
    expect(off.text).toContain(
      `\n    # replaced by pingknock setup: ProxyUseFdpass yes\n    ProxyCommand ${STATIC_LINE}\n`,
    );
    expect(off.text.match(/^ {4}ProxyUseFdpass/gm)).toBeNull();
    expect(edit(off.text, { fdpass: false })).toEqual({ kind: 'unchanged' });
  });

  it("needs --force for --fdpass over the user's own ProxyUseFdpass no in the host's block", () => {
    const text = 'Host web\n    HostName web.example.org\n    ProxyUseFdpass no\n';
    expect(edit(text, { fdpass: true, sshPassesFds: true })).toMatchObject({ kind: 'refused', reason: 'conflict' });
    const forced = changed(edit(text, { fdpass: true, sshPassesFds: true, force: true }));
    expect(forced.text).toContain('# replaced by pingknock setup: ProxyUseFdpass no\n');
    expect(forced.text).toContain(`    ${PASSING}\n    ProxyUseFdpass yes\n`);
  });

  it('is taken out by unenroll with the record setup kept, and without one', () => {
    const original = 'Host other\n    User me\n';
    const setup = changed(edit(original, { sshPassesFds: true }));
    expect(setup.added).toContain('    ProxyUseFdpass yes');
    const undone = removeSetupAddition(setup.text, 'web', additionOf(setup));
    expect(undone).toMatchObject({ kind: 'changed', text: original });
    const withoutRecord = removeSetupAddition(setup.text, 'web', undefined);
    if (withoutRecord.kind !== 'changed') throw new Error('changed expected');
    expect(withoutRecord.removed.map((line) => line.text.trim())).toEqual([PASSING, 'ProxyUseFdpass yes']);
    expect(withoutRecord.text).not.toContain('Fdpass');
  });
});
