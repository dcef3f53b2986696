import { describe, expect, it } from 'vitest';
import { ExitCode, PingknockError } from '../../src/core/errors.js';
import {
  probeOutcome,
  sshArgs,
  UNKNOCKED_CONNECT_TIMEOUT_SECONDS,
  type SshConnection,
} from '../../src/core/remote-ssh.js';
import { lastLines } from '../../src/core/target.js';

/**
 * The ssh command lines `pingknock enroll` and `unenroll` run: argument arrays with the alias,
 * validated, after `--`; `--config` as `-F`; each kind of connection with the options that make
 * it what the proofs need.
 */

const target = { alias: 'myserver' };
const controlPath = '/tmp/pingknock-ssh-x/cm';

/** The value of each `-o Key=Value` in an argument list. */
function options(args: readonly string[]): Record<string, string> {
  const found: Record<string, string> = {};
  args.forEach((arg, index) => {
    if (arg !== '-o') return;
    const [key, ...value] = (args[index + 1] ?? '').split('=');
    if (key !== undefined) found[key] = value.join('=');
  });
  return found;
}

describe('sshArgs', () => {
  it('ends with `-- ALIAS` and the command words, and reads --config as -F', () => {
    expect(sshArgs(target, { kind: 'knocked' }, ['sudo', '-n', 'sh', '-s']).slice(-6)).toEqual([
      '--',
      'myserver',
      'sudo',
      '-n',
      'sh',
      '-s',
    ]);
    expect(sshArgs({ alias: 'myserver', configFile: '/home/u/my config' }, { kind: 'knocked' }).slice(0, 2)).toEqual([
      '-F',
      '/home/u/my config',
    ]);
    expect(sshArgs(target, { kind: 'knocked' })).not.toContain('-F');
  });

  it.each(['-oProxyCommand=touch /tmp/x', 'a b', 'host;id', ''])(
    'refuses the alias %j before ssh ever sees it',
    (alias) => {
      let error: unknown;
      try {
        sshArgs({ alias }, { kind: 'knocked' });
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(PingknockError);
      expect((error as PingknockError).exitCode).toBe(ExitCode.usage);
    },
  );

  it('opens the master in the foreground, around the knock or through it, logging to a file', () => {
    const around = sshArgs(target, { kind: 'open-master', controlPath, logFile: '/tmp/l', knock: false });
    expect(options(around)).toMatchObject({
      ControlMaster: 'yes',
      ControlPath: controlPath,
      ControlPersist: 'no',
      ProxyCommand: 'none',
    });
    expect(around).toContain('-N');
    // ssh -f would orphan the ProxyCommand, and an orphaned pingknock proxy ends itself.
    expect(around).not.toContain('-f');
    expect(around.slice(around.indexOf('-E'), around.indexOf('-E') + 2)).toEqual(['-E', '/tmp/l']);
    const through = sshArgs(target, { kind: 'open-master', controlPath, logFile: '/tmp/l', knock: true });
    expect(options(through).ProxyCommand).toBeUndefined();
  });

  it('runs sessions over the master, and never lets one become a new connection through the knock', () => {
    const args = sshArgs(target, { kind: 'master', controlPath }, ['id', '-u']);
    expect(options(args)).toMatchObject({
      ControlMaster: 'no',
      ControlPath: controlPath,
      ProxyCommand: 'none',
      RemoteCommand: 'none',
    });
    expect(args).toContain('-T');
  });

  it("makes the proofs fresh connections: no master of the user's, the knock only where it belongs", () => {
    const knocked = sshArgs(target, { kind: 'knocked' }, ['true']);
    expect(options(knocked)).toMatchObject({
      ControlMaster: 'no',
      ControlPath: 'none',
      RemoteCommand: 'none',
      ClearAllForwardings: 'yes',
    });
    expect(options(knocked).ProxyCommand).toBeUndefined();
    const unknocked = sshArgs(target, { kind: 'unknocked' }, ['true']);
    expect(options(unknocked)).toMatchObject({
      ControlMaster: 'no',
      ControlPath: 'none',
      ProxyCommand: 'none',
      ConnectTimeout: String(UNKNOCKED_CONNECT_TIMEOUT_SECONDS),
      BatchMode: 'yes',
    });
    expect(options(unknocked).HostName).toBeUndefined();
  });

  it('connects the no-knock proof to one address of the server, checking its key under the name it is known by', () => {
    const at = sshArgs(
      target,
      { kind: 'unknocked', at: { address: 'fd70:6b::1', hostKeyAlias: 'myserver.example.org' } },
      ['true'],
    );
    expect(options(at)).toMatchObject({
      HostName: 'fd70:6b::1',
      HostKeyAlias: 'myserver.example.org',
      ProxyCommand: 'none',
      BatchMode: 'yes',
    });
    expect(at.slice(-3)).toEqual(['--', 'myserver', 'true']);
  });

  it('checks the master with -O check', () => {
    const connection: SshConnection = { kind: 'check', controlPath };
    expect(sshArgs(target, connection)).toEqual(['-o', `ControlPath=${controlPath}`, '-O', 'check', '--', 'myserver']);
  });
});

describe('probeOutcome: what the no-knock connection proves', () => {
  it('calls only a timed-out connection closed', () => {
    expect(
      probeOutcome({ code: 255, stderr: 'ssh: connect to host 10.0.0.1 port 22: Connection timed out\n' }),
    ).toEqual({ kind: 'closed' });
  });

  it.each([
    [0, '', 'it logged in'],
    [255, 'root@10.0.0.1: Permission denied (publickey).\n', 'root@10.0.0.1: Permission denied (publickey).'],
    [
      255,
      'ssh: connect to host 10.0.0.1 port 22: Connection refused\n',
      'ssh: connect to host 10.0.0.1 port 22: Connection refused',
    ],
    [1, '', 'ssh exited with 1'],
  ])('calls exit %i with %j open: %s', (code, stderr, detail) => {
    expect(probeOutcome({ code, stderr })).toEqual({ kind: 'open', detail });
  });

  it.each([
    'ssh: connect to host fd70:6b::1 port 22: Network is unreachable\n',
    'ssh: connect to host fd70:6b::1 port 22: No route to host\n',
    'ssh: connect to host fd70:6b::1 port 22: Address family not supported by protocol\n',
  ])('calls %j unreachable: it says nothing about the rules', (stderr) => {
    expect(probeOutcome({ code: 255, stderr })).toEqual({ kind: 'unreachable', detail: lastLines(stderr) });
  });
});

describe('lastLines', () => {
  it('keeps the last non-blank lines on one line, control characters escaped', () => {
    expect(lastLines('a\n\n b \nc\nd\x1b[31m\n')).toBe('b; c; d\\u{1b}[31m');
    expect(lastLines('')).toBe('');
  });
});
