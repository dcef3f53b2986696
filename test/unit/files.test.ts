import {
  chmodSync,
  chownSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/core/errors.js';
import { backupPathFor, readSnapshot, replaceFile, writeNewFile } from '../../src/edge/files.js';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pingknock-files-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const bytes = (text: string) => Buffer.from(text, 'latin1');

describe('replaceFile', () => {
  it('replaces the content, keeps the mode, backs up the original and leaves no temporary file', async () => {
    const path = join(dir, 'config');
    writeFileSync(path, 'old\r\n');
    chmodSync(path, 0o640);
    const result = await replaceFile(await readSnapshot(path), bytes('new\r\n'), 0o600);
    expect(readFileSync(path, 'latin1')).toBe('new\r\n');
    expect(statSync(path).mode & 0o777).toBe(0o640);
    expect(result.backupCreated).toBe(backupPathFor(path));
    expect(readFileSync(backupPathFor(path), 'latin1')).toBe('old\r\n');
    expect(statSync(backupPathFor(path)).mode & 0o777).toBe(0o640);
    expect(readdirSync(dir).sort()).toEqual(['config', 'config.pingknock-backup']);
  });

  it('never overwrites an existing backup: it is the file before pingknock first changed it', async () => {
    const path = join(dir, 'config');
    writeFileSync(path, 'first');
    await replaceFile(await readSnapshot(path), bytes('second'), 0o600);
    const again = await replaceFile(await readSnapshot(path), bytes('third'), 0o600);
    expect(again.backupCreated).toBeUndefined();
    expect(readFileSync(backupPathFor(path), 'latin1')).toBe('first');
    expect(readFileSync(path, 'latin1')).toBe('third');
  });

  it('keeps bytes that are not UTF-8', async () => {
    const path = join(dir, 'config');
    const original = Buffer.from([0x23, 0x20, 0xe9, 0xff, 0x0a]);
    writeFileSync(path, original);
    const snapshot = await readSnapshot(path);
    await replaceFile(snapshot, Buffer.concat([snapshot.content ?? Buffer.alloc(0), bytes('Host x\n')]), 0o600);
    expect(readFileSync(path).subarray(0, original.length).equals(original)).toBe(true);
  });

  it('writes through a chain of symlinks to the file, and the links stay links', async () => {
    mkdirSync(join(dir, 'dotfiles'));
    const real = join(dir, 'dotfiles', 'ssh_config');
    writeFileSync(real, 'real');
    chmodSync(real, 0o644);
    symlinkSync('dotfiles/ssh_config', join(dir, 'middle'));
    symlinkSync('middle', join(dir, 'config'));
    const snapshot = await readSnapshot(join(dir, 'config'));
    expect(snapshot.target).toBe(real);
    await replaceFile(snapshot, bytes('edited'), 0o600);
    expect(readlinkSync(join(dir, 'config'))).toBe('middle');
    expect(lstatSync(join(dir, 'middle')).isSymbolicLink()).toBe(true);
    expect(readFileSync(real, 'latin1')).toBe('edited');
    expect(statSync(real).mode & 0o777).toBe(0o644);
    expect(readFileSync(backupPathFor(real), 'latin1')).toBe('real');
  });

  it('creates a missing file with the new-file mode, its folders 0700, and no backup', async () => {
    const path = join(dir, 'home', '.ssh', 'config');
    const snapshot = await readSnapshot(path);
    expect(snapshot.content).toBeUndefined();
    const result = await replaceFile(snapshot, bytes('Host x\n'), 0o600);
    expect(result.backupCreated).toBeUndefined();
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'home', '.ssh')).mode & 0o777).toBe(0o700);
  });

  it('creates the target of a dangling symlink', async () => {
    symlinkSync('elsewhere/config', join(dir, 'config'));
    mkdirSync(join(dir, 'elsewhere'));
    await replaceFile(await readSnapshot(join(dir, 'config')), bytes('Host x\n'), 0o600);
    expect(readFileSync(join(dir, 'elsewhere', 'config'), 'latin1')).toBe('Host x\n');
    expect(lstatSync(join(dir, 'config')).isSymbolicLink()).toBe(true);
  });

  it('refuses to write when the file changed since it was read', async () => {
    const path = join(dir, 'config');
    writeFileSync(path, 'read');
    const snapshot = await readSnapshot(path);
    writeFileSync(path, 'someone else wrote this');
    await expect(replaceFile(snapshot, bytes('mine'), 0o600)).rejects.toMatchObject({
      exitCode: ExitCode.io,
      message: expect.stringMatching(/changed while pingknock was editing it/),
    });
    expect(readFileSync(path, 'latin1')).toBe('someone else wrote this');
    expect(readdirSync(dir)).toEqual(['config']);
  });

  it('keeps the owner of a file root edits for someone else', async () => {
    const path = join(dir, 'config');
    writeFileSync(path, 'theirs');
    chownSync(path, 4321, 4322);
    await replaceFile(await readSnapshot(path), bytes('edited'), 0o600);
    expect(statSync(path)).toMatchObject({ uid: 4321, gid: 4322 });
  });

  it('refuses what is not a regular file', async () => {
    await expect(readSnapshot(dir)).rejects.toMatchObject({
      exitCode: ExitCode.io,
      message: expect.stringMatching(/not a regular file/),
    });
  });
});

describe('writeNewFile', () => {
  it('writes bytes as given, and never over an existing file', async () => {
    const path = join(dir, 'new');
    await writeNewFile(path, Buffer.from([0, 1, 255]), 0o600);
    expect([...readFileSync(path)]).toEqual([0, 1, 255]);
    await expect(writeNewFile(path, 'again', 0o600)).rejects.toMatchObject({ exitCode: ExitCode.io });
    expect([...readFileSync(path)]).toEqual([0, 1, 255]);
  });
});
