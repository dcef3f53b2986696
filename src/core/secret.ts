import { PingknockError } from './errors.js';

/** The seed's 6 bits per character keep the pattern printable: 16 characters carry 96 bits. */
export const SECRET_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
export const SECRET_LENGTH = 16;
/** 16 characters x 6 bits = 12 random bytes, and base64url maps 12 bytes to exactly 16 such characters. */
export const SECRET_RANDOM_BYTES = (SECRET_LENGTH * 6) / 8;

declare const secretBrand: unique symbol;
/** A validated knock secret. Only `parseSecret` and `secretFromRandomBytes` make one. */
export type Secret = string & { readonly [secretBrand]: true };

const SECRET_PATTERN = /^[A-Za-z0-9_-]{16}$/;

export function secretFromRandomBytes(bytes: Uint8Array): Secret {
  if (bytes.length !== SECRET_RANDOM_BYTES) {
    throw new RangeError(`need ${SECRET_RANDOM_BYTES} random bytes, got ${bytes.length}`);
  }
  return Buffer.from(bytes).toString('base64url') as Secret;
}

/**
 * Validates secret text from `source` (a file name or "PINGKNOCK_SECRET"). One trailing line
 * ending is allowed, as editors add it. Messages never contain the secret or any part of it.
 */
export function parseSecret(raw: Uint8Array | string, source: string): Secret {
  const text = (typeof raw === 'string' ? raw : Buffer.from(raw).toString('utf8')).replace(/\r?\n$/, '');
  const characters = [...text].length;
  if (characters === 0) {
    throw new PingknockError('secret', `secret from ${source} is empty (make one with: pingknock secret new)`);
  }
  if (characters !== SECRET_LENGTH) {
    throw new PingknockError(
      'secret',
      `secret from ${source} has ${characters} characters; ` +
        `a secret has exactly ${SECRET_LENGTH} (make one with: pingknock secret new)`,
    );
  }
  // Invalid UTF-8 decodes to U+FFFD, which the pattern refuses like any other foreign symbol.
  if (!SECRET_PATTERN.test(text)) {
    throw new PingknockError(
      'secret',
      `secret from ${source} contains a character outside A-Z a-z 0-9 - _ (make one with: pingknock secret new)`,
    );
  }
  return text as Secret;
}

/** The pattern `ping -p` takes: the secret's 16 bytes as 32 lowercase hex digits. */
export function secretToHex(secret: Secret): string {
  return Buffer.from(secret, 'latin1').toString('hex');
}
