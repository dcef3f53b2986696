import { randomBytes } from 'node:crypto';
import { SECRET_RANDOM_BYTES, secretFromRandomBytes } from '../core/secret.js';
import { writeNewFile } from '../edge/files.js';
import { info } from './info.js';

/**
 * `pingknock secret new`: a fresh secret, into a new file (mode 0600) when `out` names one.
 * Returns what goes to stdout: the secret itself only when no file was asked for.
 */
export async function newSecret(out: string | undefined): Promise<string> {
  const secret = secretFromRandomBytes(randomBytes(SECRET_RANDOM_BYTES));
  if (out === undefined) return `${secret}\n`;
  await writeNewFile(out, `${secret}\n`, 0o600);
  info(`wrote a new secret to ${out}`);
  return '';
}
