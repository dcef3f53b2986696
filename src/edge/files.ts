import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { PingknockError } from '../core/errors.js';

/**
 * Creates `path` with `content` and `mode`, all at once or not at all, and never over an
 * existing file: the content goes to a temporary file in the same folder, which is then
 * hard-linked into place (link fails if the name is taken, where rename would replace it).
 */
export async function writeNewFile(path: string, content: string, mode: number): Promise<void> {
  const folder = dirname(path);
  await fs.mkdir(folder, { recursive: true, mode: 0o700 });
  const temporary = join(folder, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const handle = await fs.open(temporary, 'wx', mode);
    try {
      await handle.writeFile(content);
      await handle.chmod(mode);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.link(temporary, path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      throw new PingknockError('io', `${path} already exists; not overwriting it (remove it first if you mean to)`);
    }
    throw new PingknockError('io', `cannot write ${path} (${code ?? 'error'})`);
  } finally {
    await fs.rm(temporary, { force: true });
  }
}
