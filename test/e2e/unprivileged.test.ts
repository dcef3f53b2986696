import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/core/errors.js';
import { findCommand } from '../../src/edge/exec.js';
import { ROOT } from '../support/cli.js';

/**
 * The set-up commands as README's quick start gives them, `./install.sh` and `pingknock demo`,
 * run as root and as a user who is not (nobody): as root they do the work themselves; as the user
 * they go through sudo, said on stderr, or stop with what to do when there is no sudo. sudo is
 * the real one, allowed to nobody by a sudoers file bound over /etc/sudoers in a mount namespace
 * of the test's own: the host's sudo policy is never changed.
 */

const NOBODY = 65534;
const LAUNCHER = join(ROOT, 'dist', 'bin', 'pingknock');

let dir: string;
let sudoers: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pingknock-unprivileged-'));
  chmodSync(dir, 0o755);
  sudoers = join(dir, 'sudoers');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `command` as root, or as nobody (no groups), with exactly `env`. With `secure_path`, sudo
 * lets nobody run anything without a password, with that PATH.
 */
function runAs(
  user: 'root' | 'nobody',
  command: readonly string[],
  env: Record<string, string>,
  securePath?: string,
): Run {
  const asUser =
    user === 'root'
      ? [...command]
      : [need('setpriv'), `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', ...command];
  let argv = asUser;
  if (securePath !== undefined) {
    writeFileSync(
      sudoers,
      'Defaults env_reset\n' +
        `Defaults secure_path="${securePath}"\n` +
        'root ALL=(ALL:ALL) ALL\n' +
        'nobody ALL=(ALL:ALL) NOPASSWD: ALL\n',
      { mode: 0o440 },
    );
    argv = [
      need('unshare'),
      '-m',
      '/bin/sh',
      '-c',
      '"$1" --bind "$2" /etc/sudoers && shift 2 && exec "$@"',
      'sh',
      need('mount'),
      sudoers,
      ...asUser,
    ];
  }
  const [file, ...args] = argv as [string, ...string[]];
  const result = spawnSync(file, args, { env, cwd: dir, input: '', encoding: 'utf8', timeout: 120_000 });
  if (result.error !== undefined) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function need(name: string): string {
  const path = findCommand(name);
  if (path === undefined) throw new Error(`this test needs ${name}`);
  return path;
}

describe('./install.sh', () => {
  /**
   * A copy of install.sh beside a stand-in build, and stand-in apt-get and npm that record who ran
   * them: everything else is the script's real work. No ping on the PATH, so it has a package to install.
   */
  function stage(name: string, options: { sudo: 'real' | 'none' | 'recording' }) {
    const base = join(dir, name);
    const source = join(base, 'source');
    const bin = join(base, 'bin');
    const log = join(base, 'log');
    const bindir = join(base, 'root-only', 'bin');
    for (const folder of [join(source, 'dist', 'bin'), bin, log, join(base, 'root-only')])
      mkdirSync(folder, { recursive: true, mode: 0o755 });
    // Root (apt-get through sudo) and the user (npm) write to the same record.
    writeFileSync(join(log, 'calls'), '');
    chmodSync(join(log, 'calls'), 0o666);
    copyFileSync(join(ROOT, 'install.sh'), join(source, 'install.sh'));
    chmodSync(join(source, 'install.sh'), 0o755);
    writeFileSync(join(source, 'dist', 'bin', 'pingknock'), '#!/bin/sh\necho 0.1.0\n', { mode: 0o755 });
    const recorder = (tool: string): string => `#!/bin/sh\necho "$(id -u) ${tool} $*" >> '${log}/calls'\n`;
    writeFileSync(join(bin, 'apt-get'), recorder('apt-get'), { mode: 0o755 });
    writeFileSync(join(bin, 'npm'), recorder('npm'), { mode: 0o755 });
    for (const tool of ['dirname', 'id', 'mkdir', 'ln', 'env', 'node']) symlinkSync(need(tool), join(bin, tool));
    if (options.sudo === 'real') symlinkSync(need('sudo'), join(bin, 'sudo'));
    if (options.sudo === 'recording') writeFileSync(join(bin, 'sudo'), `${recorder('sudo')}exit 1\n`, { mode: 0o755 });
    const calls = (): string[] => readFileSync(join(log, 'calls'), 'utf8').split('\n').filter(Boolean);
    const link = join(bindir, 'pingknock');
    return {
      script: join(source, 'install.sh'),
      bin,
      bindir,
      link,
      target: join(source, 'dist', 'bin', 'pingknock'),
      calls,
    };
  }

  const npmCalls = (uid: number) => [
    `${uid} npm ci --no-audit --no-fund --loglevel=error`,
    `${uid} npm run --silent build`,
  ];
  const aptCalls = ['0 apt-get update -qq', '0 apt-get install -y -qq --no-install-recommends iputils-ping'];

  it('as root: installs the package and links the command itself, never through sudo', () => {
    const staged = stage('as-root', { sudo: 'recording' });
    const result = runAs('root', [staged.script, '--bindir', staged.bindir], { PATH: staged.bin });
    expect(result.status, result.stderr).toBe(0);
    expect(staged.calls()).toEqual([...aptCalls, ...npmCalls(0)]);
    expect(result.stderr).not.toContain('sudo');
    expect(readlinkSync(staged.link)).toBe(staged.target);
    expect(result.stderr).toContain(`install.sh: pingknock is ${staged.link} (0.1.0)\n`);
  });

  it(
    'as a user with sudo: apt-get and the link through sudo, saying so; ' +
      'the Node packages and the build as the user',
    () => {
      const staged = stage('with-sudo', { sudo: 'real' });
      const result = runAs(
        'nobody',
        [staged.script, '--bindir', staged.bindir],
        { PATH: staged.bin },
        `${staged.bin}:/usr/sbin:/usr/bin:/sbin:/bin`,
      );
      expect(result.status, result.stderr).toBe(0);
      expect(staged.calls()).toEqual([...aptCalls, ...npmCalls(NOBODY)]);
      for (const step of [
        'env DEBIAN_FRONTEND=noninteractive apt-get update -qq',
        'env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends iputils-ping',
        `mkdir -p ${staged.bindir}`,
        `ln -sf ${staged.target} ${staged.link}`,
      ]) {
        expect(result.stderr).toContain(`install.sh: through sudo (this is not root): ${step}\n`);
      }
      expect(readlinkSync(staged.link)).toBe(staged.target);
      expect(lstatSync(staged.link).uid).toBe(0);
    },
  );

  it('as a user without sudo: stops before installing anything, and says to run it as root', () => {
    const staged = stage('without-sudo', { sudo: 'none' });
    const result = runAs('nobody', [staged.script, '--bindir', staged.bindir], { PATH: staged.bin });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(
      'install.sh: needs root for: env DEBIAN_FRONTEND=noninteractive apt-get update -qq; ' +
        'sudo is not installed, so run ./install.sh as root\n',
    );
    expect(staged.calls()).toEqual([]);
  });
});

describe('pingknock demo, not as root', () => {
  it('without sudo: exit 9, and says to run it as root', () => {
    // Not even sudo's usual folders: the launcher names node's path itself.
    const result = runAs('nobody', [LAUNCHER, 'demo'], { PATH: join(dir, 'no-such-folder') });
    expect(result.status).toBe(ExitCode.privilege);
    expect(result.stderr).toBe(
      'pingknock: the demo needs root (network namespaces, nft, sshd) and sudo is not installed: run it as root\n',
    );
    expect(result.stdout).toBe('');
  });

  it('with sudo: runs itself again through it, says so, and the whole demo runs as root', () => {
    const result = runAs(
      'nobody',
      [LAUNCHER, 'demo'],
      { PATH: '/usr/bin:/bin' },
      '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    );
    expect(result.status, result.stderr + result.stdout).toBe(0);
    expect(result.stderr).toBe(
      'pingknock: the demo needs root (network namespaces, nft, sshd): running it again through sudo\n',
    );
    expect(result.stdout).toMatch(/\[2\/3\] ssh through pingknock proxy\n\s+logged in as root/);
    expect(result.stdout).toMatch(/lab removed/);
  });
});
