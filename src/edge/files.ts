import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { PingknockError, type ExitCodeName } from '../core/errors.js';

/**
 * Creates `path` with `content` and `mode`, all at once or not at all, and never over an
 * existing file: the content goes to a temporary file in the same folder, which is then
 * hard-linked into place (link fails if the name is taken, where rename would replace it).
 */
export async function writeNewFile(path: string, content: string | Uint8Array, mode: number): Promise<void> {
  const folder = dirname(path);
  await fs.mkdir(folder, { recursive: true, mode: 0o700 });
  let temporary: string | undefined;
  try {
    temporary = await writeTemporaryBeside(path, content, mode);
    await fs.link(temporary, path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      throw new PingknockError('io', `${path} already exists; not overwriting it (remove it first if you mean to)`);
    }
    throw new PingknockError('io', `cannot write ${path} (${code ?? 'error'})`);
  } finally {
    if (temporary !== undefined) await fs.rm(temporary, { force: true });
  }
}

/** A file as read before an edit: what `replaceFile` compares against and keeps a backup of. */
export interface FileSnapshot {
  /** The path as given. */
  readonly path: string;
  /** Where it leads after following symlinks: the file that is read and replaced. */
  readonly target: string;
  /** undefined: there is no file yet. */
  readonly content: Buffer | undefined;
  readonly mode: number | undefined;
  readonly uid: number | undefined;
  readonly gid: number | undefined;
}

export const BACKUP_SUFFIX = '.pingknock-backup';

export function backupPathFor(target: string): string {
  return `${target}${BACKUP_SUFFIX}`;
}

/** Symlinks are at most this deep, as Linux's own limit (ELOOP). */
const MAX_SYMLINKS = 40;

export async function readSnapshot(path: string): Promise<FileSnapshot> {
  const target = await followSymlinks(path);
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(target, 'r');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { path, target, content: undefined, mode: undefined, uid: undefined, gid: undefined };
    throw new PingknockError('io', `cannot read ${target} (${code ?? 'error'})`);
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new PingknockError('io', `${target} is not a regular file`);
    return {
      path,
      target,
      content: await handle.readFile(),
      mode: stats.mode & 0o7777,
      uid: stats.uid,
      gid: stats.gid,
    };
  } finally {
    await handle.close();
  }
}

export interface ReplaceResult {
  /** The backup made now, before this first edit; undefined when one existed already or there was no file. */
  readonly backupCreated: string | undefined;
}

/**
 * Replaces the snapshot's file with `content` so that a reader sees the old file or the new one,
 * never a mix: a temporary file in the same folder, written and fsynced, renamed over the target
 * (the symlink, if the path is one, stays a symlink). The mode and owner stay those of the
 * original; a new file gets `newFileMode`. The original is copied to FILE.pingknock-backup first
 * unless that exists: the backup is what the file was before pingknock ever changed it.
 */
export async function replaceFile(
  snapshot: FileSnapshot,
  content: string | Uint8Array,
  newFileMode: number,
): Promise<ReplaceResult> {
  const { target } = snapshot;
  const folder = dirname(target);
  if (snapshot.content === undefined) await fs.mkdir(folder, { recursive: true, mode: 0o700 });
  const now = await readSnapshot(target);
  const unchanged =
    now.content === undefined ? snapshot.content === undefined : snapshot.content?.equals(now.content) === true;
  if (!unchanged) {
    throw new PingknockError(
      'io',
      `${target} changed while pingknock was editing it; nothing was written, run the command again`,
    );
  }
  let backupCreated: string | undefined;
  if (snapshot.content !== undefined) {
    const backup = backupPathFor(target);
    if (!(await exists(backup))) {
      await writeNewFile(backup, snapshot.content, snapshot.mode ?? newFileMode);
      backupCreated = backup;
    }
  }
  const owner =
    snapshot.uid !== undefined && snapshot.gid !== undefined ? { uid: snapshot.uid, gid: snapshot.gid } : undefined;
  let temporary: string | undefined;
  try {
    temporary = await writeTemporaryBeside(target, content, snapshot.mode ?? newFileMode, owner);
    await fs.rename(temporary, target);
  } catch (error) {
    if (temporary !== undefined) await fs.rm(temporary, { force: true });
    if (error instanceof PingknockError) throw error;
    throw new PingknockError('io', `cannot write ${target} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  await syncFolder(folder);
  return { backupCreated };
}

async function followSymlinks(path: string): Promise<string> {
  let current = resolve(path);
  for (let hops = 0; hops <= MAX_SYMLINKS; hops++) {
    let stats;
    try {
      stats = await fs.lstat(current);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // A missing file (also a dangling link's target) is created where the link points.
      if (code === 'ENOENT') return current;
      throw new PingknockError('io', `cannot read ${current} (${code ?? 'error'})`);
    }
    if (!stats.isSymbolicLink()) return current;
    current = resolve(dirname(current), await fs.readlink(current));
  }
  throw new PingknockError('io', `${path} is a chain of more than ${MAX_SYMLINKS} symlinks`);
}

/** Whether anything (a dangling symlink too) is at `path`; other failures are errors of `kind`. */
export async function exists(path: string, kind: ExitCodeName = 'io'): Promise<boolean> {
  try {
    await fs.lstat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new PingknockError(kind, `cannot check ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

async function keepOwner(handle: fs.FileHandle, uid: number, gid: number): Promise<void> {
  const own = await handle.stat();
  if (own.uid === uid && own.gid === gid) return;
  try {
    await handle.chown(uid, gid);
  } catch (error) {
    // Only root can give a file away; anyone else edits only files they may write, and keeps them.
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') throw error;
  }
}

/** Makes the rename itself durable: it lives in the folder's entry list. */
async function syncFolder(folder: string): Promise<void> {
  const handle = await fs.open(folder, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Writes `content` to a new temporary file in `path`'s folder, with `mode` (and `owner`), synced
 * to disk, for the caller to link or rename into place; returns its name. On failure nothing
 * is left behind.
 */
async function writeTemporaryBeside(
  path: string,
  content: string | Uint8Array,
  mode: number,
  owner?: { uid: number; gid: number },
): Promise<string> {
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const handle = await fs.open(temporary, 'wx', mode);
    try {
      await handle.writeFile(content);
      await handle.chmod(mode);
      if (owner !== undefined) await keepOwner(handle, owner.uid, owner.gid);
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (error) {
    await fs.rm(temporary, { force: true });
    throw error;
  }
  return temporary;
}
