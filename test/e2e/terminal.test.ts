import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LAB_HOSTS, type Lab } from '../../src/lab/lab.js';
import { killStarted } from '../support/spawned.js';
import { describeTree, newSecret, protectedLab, sha256File, startOnTerminal } from './fixture.js';

/**
 * ssh and the programs that run it, typed on a terminal, through `pingknock proxy` (the lab's
 * `knocked` alias): the proxy's stderr is the terminal, so its spinner runs while ssh's byte
 * stream flows through pipes. Each command must end by itself, well within 30 s.
 */

const LIMIT_MS = 30_000;
/** ora's clear: the cursor to column 1 (CSI 1G), then the line erased to its end (CSI 0K). */
const SPINNER_CLEAR = '\u001b[1G\u001b[0K';
const SPINNER_TEXT = /knocking 10\.201\.0\.1|connecting to port \d+/;

/** The transcript shows the spinner's knock, then its clear after its last frame, and no message of pingknock's. */
function expectSpinnerShownAndCleared(transcript: string): void {
  expect(transcript).toMatch(/knocking 10\.201\.0\.1/);
  const cleared = transcript.lastIndexOf(SPINNER_CLEAR);
  expect(cleared, 'the spinner was never cleared').toBeGreaterThan(transcript.search(SPINNER_TEXT));
  expect(transcript.slice(cleared)).not.toMatch(SPINNER_TEXT);
  expect(transcript).not.toContain('pingknock:');
}

describe('from a terminal, through pingknock proxy', () => {
  let lab: Lab;
  /** Files of this test, inside the lab's folder, which the server sees too: "remote" paths are read back here. */
  let work: string;
  let ssh: string;

  beforeAll(async () => {
    lab = await protectedLab('bare', newSecret());
    work = join(lab.dir, 'terminal');
    mkdirSync(work);
    ssh = `ssh -F ${lab.sshConfig}`;
  });
  afterEach(() => killStarted());
  afterAll(() => {
    killStarted();
    lab?.destroy();
  });

  /**
   * Runs `command` on the terminal in `work`: it must exit 0 within LIMIT_MS, through the spinner. Gives the
   * transcript.
   */
  async function typed(command: string, env: NodeJS.ProcessEnv = {}): Promise<string> {
    const result = await startOnTerminal(lab, `cd ${work} && ${command}`, env).finish(LIMIT_MS);
    expect(result.code, `${command}\n${result.stdout}`).toBe(0);
    expectSpinnerShownAndCleared(result.stdout);
    return result.stdout;
  }

  it('ssh knocked CMD: the remote output on stdout and nothing else, its stderr on the terminal, exit 0', async () => {
    const transcript = await typed(
      `${ssh} ${LAB_HOSTS.knocked} 'echo remote out; echo "$SSH_CONNECTION"; echo remote err >&2' > ssh-stdout`,
    );
    expect(readFileSync(join(work, 'ssh-stdout'), 'latin1')).toMatch(
      /^remote out\n10\.201\.0\.2 \d+ 10\.201\.0\.1 22\n$/,
    );
    expect(transcript).toContain('remote err');
    expect(transcript).not.toContain('remote out');
  });

  it('scp a file up and back down: the same bytes all three times', async () => {
    writeFileSync(join(work, 'scp-local.bin'), randomBytes(3 * 1024 * 1024 + 7));
    await typed(`scp -F ${lab.sshConfig} scp-local.bin ${LAB_HOSTS.knocked}:${work}/scp-remote.bin`);
    await typed(`scp -F ${lab.sshConfig} ${LAB_HOSTS.knocked}:${work}/scp-remote.bin scp-back.bin`);
    const sums = await Promise.all(
      ['scp-local.bin', 'scp-remote.bin', 'scp-back.bin'].map((name) => sha256File(join(work, name))),
    );
    expect(new Set(sums).size, sums.join(' ')).toBe(1);
  });

  it('rsync -a a folder: paths, modes, times, links and contents arrive as they were', async () => {
    const source = join(work, 'rsync-source');
    mkdirSync(join(source, 'nested', 'deeper'), { recursive: true });
    writeFileSync(join(source, 'big.bin'), randomBytes(2 * 1024 * 1024 + 3));
    writeFileSync(join(source, 'nested', 'script.sh'), '#!/bin/sh\necho hi\n');
    chmodSync(join(source, 'nested', 'script.sh'), 0o750);
    writeFileSync(join(source, 'nested', 'deeper', 'empty'), '');
    symlinkSync('nested/script.sh', join(source, 'link'));
    utimesSync(join(source, 'big.bin'), new Date('2020-02-02T02:02:02Z'), new Date('2020-02-02T02:02:02Z'));
    await typed(`rsync -a -e '${ssh}' rsync-source/ ${LAB_HOSTS.knocked}:${work}/rsync-copy/`);
    expect(await describeTree(join(work, 'rsync-copy'))).toEqual(await describeTree(source));
  });

  it('git clone and git push over ssh (GIT_SSH_COMMAND)', async () => {
    const git = (cwd: string, ...args: string[]): string =>
      execFileSync('git', args, { cwd, env: gitEnv(lab.env), encoding: 'utf8' }).trim();
    const bare = join(work, 'repo.git');
    const seed = join(work, 'seed');
    mkdirSync(seed);
    git(work, 'init', '-q', '--bare', '-b', 'main', bare);
    git(seed, 'init', '-q', '-b', 'main');
    writeFileSync(join(seed, 'README'), 'seed\n');
    git(seed, 'add', 'README');
    git(seed, 'commit', '-q', '-m', 'seed');
    git(seed, 'push', '-q', bare, 'main');

    const env = { ...gitEnv({}), GIT_SSH_COMMAND: ssh };
    await typed(`git clone ${LAB_HOSTS.knocked}:${bare} clone`, env);
    const clone = join(work, 'clone');
    expect(git(clone, 'rev-parse', 'HEAD')).toBe(git(seed, 'rev-parse', 'HEAD'));
    expect(readFileSync(join(clone, 'README'), 'utf8')).toBe('seed\n');

    writeFileSync(join(clone, 'pushed'), randomBytes(64 * 1024));
    git(clone, 'add', 'pushed');
    git(clone, 'commit', '-q', '-m', 'pushed over ssh');
    await typed('cd clone && git push origin main', env);
    expect(git(bare, 'rev-parse', 'main')).toBe(git(clone, 'rev-parse', 'HEAD'));
  });

  it('sftp -b batchfile: put, get and ls, each file the same bytes', async () => {
    writeFileSync(join(work, 'sftp-local.bin'), randomBytes(1024 * 1024 + 1));
    const batch = [
      `put sftp-local.bin ${work}/sftp-remote.bin`,
      `get ${work}/sftp-remote.bin sftp-back.bin`,
      `ls -l ${work}/sftp-remote.bin`,
      '',
    ];
    writeFileSync(join(work, 'sftp-batch'), batch.join('\n'));
    const transcript = await typed(`sftp -F ${lab.sshConfig} -b sftp-batch ${LAB_HOSTS.knocked}`);
    expect(transcript).toMatch(/sftp-remote\.bin/);
    const sums = await Promise.all(
      ['sftp-local.bin', 'sftp-remote.bin', 'sftp-back.bin'].map((name) => sha256File(join(work, name))),
    );
    expect(new Set(sums).size, sums.join(' ')).toBe(1);
  });

  it('pingknock doctor knocked --config: every check ok, exit 0', async () => {
    // The knocks above left the port open to the client: doctor's own knock must be what opens it.
    lab.forgetKnocks();
    const result = await startOnTerminal(lab, `pingknock doctor ${LAB_HOSTS.knocked} --config ${lab.sshConfig}`).finish(
      LIMIT_MS,
    );
    expect(result.code, result.stdout).toBe(0);
    for (const check of ['ping', 'pingknock', 'secret', 'ssh config', 'name', 'knock', 'port']) {
      expect(result.stdout, check).toMatch(new RegExp(`^ok {4}${check}: `, 'm'));
    }
    expect(result.stdout).not.toMatch(/^FAIL/m);
  });
});

/** git with an author and nothing from the host's git configuration. */
function gitEnv(base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const who = { name: 'pingknock test', email: 'test@pingknock.invalid' };
  return {
    ...base,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_AUTHOR_NAME: who.name,
    GIT_AUTHOR_EMAIL: who.email,
    GIT_COMMITTER_NAME: who.name,
    GIT_COMMITTER_EMAIL: who.email,
  };
}
