import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/core/errors.js';
import { parseJump, type JumpProxy } from '../../src/core/jump.js';
import {
  carrySshArgs,
  knockSshArgs,
  remoteKnockCommand,
  remoteKnockFailure,
  REMOTE_PING_UNFIT,
} from '../../src/core/jump-knock.js';
import { readRemotePingknock, remotePingknockCommand } from '../../src/core/remote-pingknock.js';
import { sshArgs } from '../../src/core/remote-ssh.js';
import { STATIC_MODE } from '../../src/core/rolling.js';
import { additionOf, editSshConfig } from '../../src/core/ssh-config/add.js';
import { knockModeEdit } from '../../src/core/ssh-config/knock-mode.js';
import { proxyCommandFor, readPingknockProxy, withRollingUntil } from '../../src/core/ssh-config/proxy-command.js';
import { removeSetupAddition } from '../../src/core/ssh-config/remove.js';
import { usageMessage } from '../support/usage.js';

/**
 * Knocking from a jump host: the ProxyJump route read as ssh reads it, the ssh command lines
 * (the knock there, then ssh -W through it), the remote command as the jump host's shell runs it,
 * what its exit means, and the ProxyCommand setup writes for it, read back and taken out again.
 */

const PATTERN = '0123456789abcdef0123456789abcdef';
const jumpOf = (route: string, config?: string): JumpProxy => ({ route: parseJump(route), config });

describe('parseJump', () => {
  it.each([
    ['bastion', [[undefined, 'bastion', undefined]]],
    ['ops@bastion.example.org:2222', [['ops', 'bastion.example.org', 2222]]],
    ['ssh://ops@10.0.0.1:22', [['ops', '10.0.0.1', 22]]],
    ['[fd00::1]:2200', [[undefined, 'fd00::1', 2200]]],
    ['u@[fd00::1]', [['u', 'fd00::1', undefined]]],
    [
      'a,u@b:2,c',
      [
        [undefined, 'a', undefined],
        ['u', 'b', 2],
        [undefined, 'c', undefined],
      ],
    ],
  ])('reads %s', (text, hops) => {
    const route = parseJump(text);
    expect(route.text).toBe(text);
    expect(route.hops.map((hop) => [hop.user, hop.host, hop.port])).toEqual(hops);
  });

  it.each([
    ['none', /ProxyJump none names no jump host/],
    ['', /is not a ProxyJump route/],
    ['b c', /is not a ProxyJump route/],
    ["b'$(reboot)'", /is not a ProxyJump route/],
    ['%h', /is not a ProxyJump route/],
    ['-oProxy', /starts with "-"/],
    ['a,,b', /host is empty/],
    ['fd00::1', /an IPv6 address without \[ \]/],
    ['[fd00::1', /opens a \[ it does not close/],
    ['b:70000', /port 70000 is out of range/],
    ['ssh://b/path', /has a path/],
    ['bad user@b', /is not a ProxyJump route/],
  ])('refuses %j', (text, message) => {
    expect(usageMessage(() => parseJump(text))).toMatch(message);
  });
});

describe('the ssh command lines of a knock from a jump host', () => {
  const knock = { host: '10.9.0.2', patternHex: PATTERN, deadlineMs: 3000 };

  it('knocks from the one jump host, with the config, and carries the session as ProxyJump does', () => {
    const jump = jumpOf('bastion', '/home/u/cfg');
    expect(knockSshArgs(jump, knock)).toEqual([
      '-F',
      '/home/u/cfg',
      '-T',
      '-o',
      'RemoteCommand=none',
      '-o',
      'ClearAllForwardings=yes',
      '--',
      'bastion',
      remoteKnockCommand(knock),
    ]);
    expect(carrySshArgs(jump, '10.9.0.2', 22)).toEqual(['-F', '/home/u/cfg', '-W', '[10.9.0.2]:22', '--', 'bastion']);
  });

  it('knocks from the last hop, reached through the earlier ones, its user and port as options', () => {
    const jump = jumpOf('a,ssh://x@b:22,ops@[fd00::1]:2200');
    expect(carrySshArgs(jump, 'fd00::9', 2222)).toEqual([
      '-l',
      'ops',
      '-p',
      '2200',
      '-J',
      'a,ssh://x@b:22',
      '-W',
      '[fd00::9]:2222',
      '--',
      'fd00::1',
    ]);
    expect(knockSshArgs(jump, knock).slice(0, 6)).toEqual(['-l', 'ops', '-p', '2200', '-J', 'a,ssh://x@b:22']);
  });

  it('refuses a host that could be an option, and a pattern that is not one', () => {
    expect(usageMessage(() => carrySshArgs(jumpOf('b'), '-oProxyCommand=x', 22))).toMatch(/starts with "-"/);
    expect(() => remoteKnockCommand({ ...knock, patternHex: 'zz' })).toThrow(/32 hex digits/);
  });
});

describe('the knock the jump host runs, in a real sh', () => {
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'pingknock-jump-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Runs the remote command in sh with a `ping` that says `version` to -V and prints its arguments otherwise. */
  function runWith(version: string, host: string) {
    const bin = join(dir, `bin-${version.length}`);
    mkdirSync(bin, { recursive: true });
    writeFileSync(
      join(bin, 'ping'),
      `#!/bin/sh\nif [ "$1" = -V ]; then echo '${version}'; exit 0; fi\nprintf '%s\\n' "$@"\n`,
      { mode: 0o755 },
    );
    const command = remoteKnockCommand({ host, patternHex: PATTERN, deadlineMs: 2500 });
    return spawnSync('sh', ['-c', command], {
      env: { PATH: `${bin}:/usr/bin:/bin` },
      encoding: 'utf8',
    });
  }

  it('runs iputils ping with each argument as given: resent until the first reply, the host after --', () => {
    const result = runWith('ping from iputils 20221126', 'fd00::2');
    expect(result.status).toBe(0);
    expect(result.stdout.split('\n').filter(Boolean)).toEqual([
      '-n',
      '-c',
      '1',
      '-i',
      '0.2',
      '-w',
      '3',
      '-p',
      PATTERN,
      '--',
      'fd00::2',
    ]);
  });

  it('runs no ping that is not iputils (BusyBox would send one byte of the pattern): exit 126', () => {
    const result = runWith('BusyBox v1.36.1 multi-call binary', 'h');
    expect(result.status).toBe(REMOTE_PING_UNFIT);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe('ping here is not iputils ping\n');
  });
});

describe('remoteKnockFailure', () => {
  const jump = jumpOf('a,bastion');
  const knock = { host: '10.9.0.2', patternHex: PATTERN, deadlineMs: 3000 };
  const failure = (code: number | null, stdout: string, stderr: string) =>
    remoteKnockFailure({ code, stdout, stderr }, jump, knock);

  it('is nothing when the knock was answered', () => {
    expect(failure(0, `PATTERN: 0x${PATTERN}\n64 bytes from 10.9.0.2`, '')).toBeUndefined();
  });

  it.each([
    [
      255,
      '',
      'ssh: connect to host bastion port 22: Connection timed out',
      'server',
      /cannot reach the jump host bastion/,
    ],
    [REMOTE_PING_UNFIT, '', 'ping here is not iputils ping', 'pingUnavailable', /bastion cannot knock/],
    [127, '', 'sh: ping: not found', 'pingUnavailable', /install iputils ping there/],
    [
      1,
      `PATTERN: 0x${PATTERN}\nFrom 10.9.0.1 icmp_seq=1 Destination Host Unreachable`,
      '',
      'unreachable',
      /10\.9\.0\.2 is unreachable from bastion \(ping: From 10\.9\.0\.1 icmp_seq=1 Destination Host Unreachable\)/,
    ],
    [2, '', 'ping: inner: Name or service not known', 'resolve', /bastion cannot resolve 10\.9\.0\.2/],
    [2, '', `ping: odd failure with ${PATTERN}`, 'noReply', /failed: ping: odd failure with <pattern>/],
    [
      1,
      `PATTERN: 0x${PATTERN}\n`,
      '',
      'noReply',
      /no echo reply from 10\.9\.0\.2 to the knock from bastion within 3 s/,
    ],
  ] as const)('exit %s: %s', (code, stdout, stderr, kind, message) => {
    const error = failure(code, stdout, stderr);
    expect(error?.exitCode).toBe(ExitCode[kind]);
    expect(error?.message).toMatch(message);
    expect(error?.message).not.toContain(PATTERN);
  });
});

describe('a hand-written ProxyCommand that runs pingknock on a jump host', () => {
  it('is read: the way there and the remote command', () => {
    const found = readRemotePingknock(
      '/usr/bin/ssh -q -F /home/u/cfg -p2222 -o BatchMode=yes ops@bastion /opt/pingknock proxy --name in %h %p # mine',
    );
    expect(found?.route).toEqual({
      options: ['-q', '-F', '/home/u/cfg', '-p2222', '-o', 'BatchMode=yes'],
      destination: 'ops@bastion',
    });
    expect(found === undefined ? '' : remotePingknockCommand(found, '10.9.0.2', 22)).toBe(
      '/opt/pingknock proxy --name in 10.9.0.2 22',
    );
    expect(readRemotePingknock('ssh -- bastion pingknock proxy %h %p')?.route.destination).toBe('bastion');
  });

  it.each([
    'ssh -W %h:%p bastion',
    "ssh bastion 'pingknock proxy --name in %h %p'",
    'ssh -Z bastion pingknock proxy %h %p',
    'ssh bastion pingknock knock %h',
    'ssh bastion pingknock proxy --name %n %h %p',
    'ssh bastion pingknock proxy %h',
    'ssh -p',
    'nc bastion pingknock proxy %h %p',
    'pingknock proxy --name in %h %p',
  ])('is not read from %j', (value) => {
    expect(readRemotePingknock(value)).toBeUndefined();
  });
});

describe("pingknock's ProxyCommand that knocks from a jump host", () => {
  const rolling = { kind: 'rolling', lastDay: 20_000 } as const;

  it('is written and read back with its route, config and mode', () => {
    const jump = jumpOf('a,ops@b:2222', '/home/u/.ssh/work');
    const line = proxyCommandFor('in', rolling, { jump, fdpass: true });
    expect(line).toBe(
      'pingknock proxy --name in --jump a,ops@b:2222 --config /home/u/.ssh/work --rolling-until 2024-10-04 %h %p',
    );
    const read = readPingknockProxy(line, 'in');
    expect(read).toMatchObject({ form: 'current', mode: rolling, fdpass: false });
    expect(read?.jump?.route.text).toBe('a,ops@b:2222');
    expect(read?.jump?.config).toBe('/home/u/.ssh/work');
    expect(readPingknockProxy(proxyCommandFor('in', STATIC_MODE, { jump: jumpOf('b') }), 'in')?.mode).toEqual(
      STATIC_MODE,
    );
  });

  it.each([
    ['another alias', 'pingknock proxy --name other --jump b %h %p'],
    ['a route ssh would not read', 'pingknock proxy --name in --jump b%x %h %p'],
    ['a date that is none', 'pingknock proxy --name in --jump b --rolling-until 2024-02-30 %h %p'],
    ['the options in another order', 'pingknock proxy --name in --config /c --jump b %h %p'],
    ['--fdpass', 'pingknock proxy --name in --jump b --fdpass %h %p'],
  ])('is not taken for one with %s', (_name, value) => {
    expect(readPingknockProxy(value, 'in')).toBeUndefined();
  });

  it('takes a new last day, and goes static, every other byte kept', () => {
    const line = '  ProxyCommand /usr/local/bin/pingknock proxy --name in --jump b --config /c %h %p  # via b';
    expect(withRollingUntil(line, 'in', 20_000)).toBe(
      '  ProxyCommand /usr/local/bin/pingknock proxy --name in --jump b --config /c --rolling-until 2024-10-04 ' +
        '%h %p  # via b',
    );
    const config = `Host in\n${withRollingUntil(line, 'in', 20_000) ?? ''}\n`;
    const edit = knockModeEdit(config, 'in', STATIC_MODE);
    expect(edit.kind === 'changed' && edit.text).toBe(`Host in\n${line}\n`);
  });
});

describe('setup on a host with ProxyJump, taken out again', () => {
  it.each([
    ['its own block', 'Host in\n    HostName 10.9.0.2\n    ProxyJump bastion # the way in\n    User root\n'],
    ['its own block, CRLF and Key=Value', 'Host in\r\n\tProxyJump=a,b\r\n\tUser root\r\n'],
    ['a later shared block', 'Host bastion\n  HostName 1.2.3.4\n\nHost *\n  ProxyJump bastion\n'],
    ['its own block, the last line without a newline', 'Host in\n  ProxyJump bastion'],
  ])('gives back %s byte for byte, with the record of setup and without it', (_name, original) => {
    const edit = editSshConfig(original, { alias: 'in', force: false, jumpConfig: '/c' });
    if (edit.kind !== 'changed') throw new Error(`expected a change, got ${JSON.stringify(edit)}`);
    expect(edit.text).toMatch(/ProxyCommand pingknock proxy --name in --jump \S+ --config \/c %h %p/);
    const recorded = removeSetupAddition(edit.text, 'in', additionOf(edit));
    expect(recorded.kind === 'changed' && recorded.text).toBe(original);
    const unrecorded = removeSetupAddition(edit.text, 'in', undefined);
    if (edit.newBlock) {
      // Without the record only the line goes: the block setup made stays, and changes nothing for ssh.
      expect(unrecorded.kind === 'changed' && unrecorded.text).toBe(edit.text.replace(/^ +ProxyCommand .*\n/m, ''));
    } else {
      expect(unrecorded.kind === 'changed' && unrecorded.text).toBe(original);
      expect(unrecorded.kind === 'changed' && unrecorded.restored.map((line) => line.text.trim())).toEqual([
        original
          .split(/\r?\n/)
          .find((line) => /proxyjump/i.test(line))
          ?.trim(),
      ]);
    }
  });
});

describe("enroll's connections around the knock to a host knocked from a jump host", () => {
  const target = { alias: 'in', configFile: '/c', jump: 'a,bastion' };

  it('go through the jump host (ProxyJump), not straight to the server', () => {
    const controlPath = '/tmp/cm';
    for (const args of [
      sshArgs(target, { kind: 'unknocked' }, ['true']),
      sshArgs(target, { kind: 'open-master', controlPath, logFile: '/tmp/l', knock: false }),
    ]) {
      expect(args).toContain('ProxyJump=a,bastion');
      expect(args).not.toContain('ProxyCommand=none');
    }
    // Through the knock, the ProxyCommand of the config does it all.
    const knocked = sshArgs(target, { kind: 'knocked' }, ['true']);
    expect(knocked.join(' ')).not.toMatch(/Proxy/);
    expect(sshArgs({ alias: 'in' }, { kind: 'unknocked' }, ['true'])).toContain('ProxyCommand=none');
  });
});
