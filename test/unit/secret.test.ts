import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { PingknockError } from '../../src/core/errors.js';
import { parseSecret, SECRET_ALPHABET, secretFromRandomBytes, secretToHex } from '../../src/core/secret.js';

/** An encoder written independently of Buffer's base64url: 6 bits per character, most significant first. */
function encodeSixBits(bytes: Uint8Array): string {
  let bits = '';
  for (const byte of bytes) bits += byte.toString(2).padStart(8, '0');
  let out = '';
  for (let i = 0; i < bits.length; i += 6) out += SECRET_ALPHABET[parseInt(bits.slice(i, i + 6), 2)];
  return out;
}

/** Every substring of `text` with at least `min` characters (by code point). */
function substrings(text: string, min = 4): string[] {
  const chars = [...text];
  const found = new Set<string>();
  for (let start = 0; start < chars.length; start++) {
    for (let end = start + min; end <= chars.length; end++) found.add(chars.slice(start, end).join(''));
  }
  return [...found];
}

function refusal(raw: Uint8Array | string, source: string): PingknockError {
  try {
    parseSecret(raw, source);
  } catch (error) {
    if (error instanceof PingknockError) return error;
    throw error;
  }
  throw new Error(`parseSecret accepted ${JSON.stringify(String(raw))}`);
}

/** Refused with exit code 3, naming the source, and never echoing any 4+ character part of `secretText`. */
function expectRefusedWithoutLeak(raw: Uint8Array | string, secretText: string): PingknockError {
  const error = refusal(raw, 'test.key');
  expect(error.exitCode).toBe(3);
  expect(error.message).toContain('test.key');
  for (const part of substrings(secretText)) {
    expect(error.message, `message leaks "${part}"`).not.toContain(part);
  }
  return error;
}

describe('SECRET_ALPHABET', () => {
  it('is the 64 base64url symbols, each once', () => {
    expect(SECRET_ALPHABET).toHaveLength(64);
    expect(new Set(SECRET_ALPHABET).size).toBe(64);
    expect(SECRET_ALPHABET).toMatch(/^[A-Za-z0-9_-]+$/);
  });
});

describe('secretFromRandomBytes', () => {
  it.each([
    ['12 zero bytes', new Uint8Array(12), 'AAAAAAAAAAAAAAAA'],
    ['12 0xff bytes', new Uint8Array(12).fill(0xff), '________________'],
    ['00 10 83 10 51 87 20 92 8b 30 d3 8f', Buffer.from('00108310518720928b30d38f', 'hex'), 'ABCDEFGHIJKLMNOP'],
    ['(fb ef be) x 4', Buffer.from('fbefbefbefbefbefbefbefbe', 'hex'), '----------------'],
  ])('maps %s to the known secret', (_name, bytes, expected) => {
    expect(secretFromRandomBytes(bytes)).toBe(expected);
  });

  it('uses every symbol of the alphabet at its index', () => {
    for (let i = 0; i < 64; i += 16) {
      const slice = SECRET_ALPHABET.slice(i, i + 16);
      // Pack the 16 six-bit indexes i..i+15 into 12 bytes by hand.
      let bits = '';
      for (let k = i; k < i + 16; k++) bits += k.toString(2).padStart(6, '0');
      const bytes = new Uint8Array(12);
      for (let b = 0; b < 12; b++) bytes[b] = parseInt(bits.slice(b * 8, b * 8 + 8), 2);
      expect(secretFromRandomBytes(bytes)).toBe(slice);
    }
  });

  it.each([0, 1, 11, 13, 16, 32])('throws RangeError for %i bytes', (count) => {
    expect(() => secretFromRandomBytes(new Uint8Array(count))).toThrow(RangeError);
  });

  it('round-trips 200 random inputs: 16 alphabet characters, parseable, 32 lowercase hex digits', () => {
    const seen = new Set<string>();
    for (let round = 0; round < 200; round++) {
      const bytes = randomBytes(12);
      const secret = secretFromRandomBytes(bytes);
      expect(secret).toBe(encodeSixBits(bytes));
      expect(secret).toHaveLength(16);
      for (const char of secret) expect(SECRET_ALPHABET).toContain(char);
      expect(parseSecret(secret, 'generated')).toBe(secret);
      expect(parseSecret(`${secret}\n`, 'generated')).toBe(secret);
      expect(parseSecret(Buffer.from(`${secret}\r\n`), 'generated')).toBe(secret);
      const hex = secretToHex(secret);
      expect(hex).toMatch(/^[0-9a-f]{32}$/);
      expect(Buffer.from(hex, 'hex').toString('ascii')).toBe(secret);
      seen.add(secret);
    }
    // 96 random bits: a repeat among 200 means the bytes are not being used.
    expect(seen.size).toBe(200);
  });
});

describe('parseSecret accepts', () => {
  it.each([
    ['a plain secret', 'ABCDEFGHIJKLMNOP', 'ABCDEFGHIJKLMNOP'],
    ['a trailing \\n', 'ABCDEFGHIJKLMNOP\n', 'ABCDEFGHIJKLMNOP'],
    ['a trailing \\r\\n', 'ABCDEFGHIJKLMNOP\r\n', 'ABCDEFGHIJKLMNOP'],
    ['digits, dash and underscore', '0123456789-_-_az', '0123456789-_-_az'],
  ])('%s', (_name, raw, expected) => {
    expect(parseSecret(raw, 'test.key')).toBe(expected);
    expect(parseSecret(Buffer.from(raw, 'utf8'), 'test.key')).toBe(expected);
    expect(parseSecret(new Uint8Array(Buffer.from(raw, 'utf8')), 'test.key')).toBe(expected);
  });
});

describe('parseSecret refuses, with exit code 3 and no part of the secret in the message', () => {
  it.each([
    ['empty', ''],
    ['only a newline', '\n'],
    ['15 characters', 'ABCDEFGHIJKLMNO'],
    ['15 characters and a newline', 'ABCDEFGHIJKLMNO\n'],
    ['17 characters', 'ABCDEFGHIJKLMNOPQ'],
    ['two trailing newlines', 'ABCDEFGHIJKLMNOP\n\n'],
    ['a trailing \\r alone', 'ABCDEFGHIJKLMNOP\r'],
    ['a leading space', ' ABCDEFGHIJKLMNOP'],
    ['a trailing space', 'ABCDEFGHIJKLMNOP '],
    ['a long token', 'Zq3xV9wLm2Rt7YbKp4Hs8NdFc6GjTe1UaQiWoEyXrBvCnMlK'],
  ])('%s', (_name, raw) => {
    expectRefusedWithoutLeak(raw, raw);
    expectRefusedWithoutLeak(Buffer.from(raw, 'utf8'), raw);
  });

  it.each(['+', '/', '=', ' ', 'é', '.', '\t', '\0', '😀'])('16 characters including %j', (symbol) => {
    const raw = `ABCDEFGHIJKLMNO${symbol}`;
    expect([...raw]).toHaveLength(16);
    const error = expectRefusedWithoutLeak(raw, raw);
    expect(error.message).toContain('outside A-Z a-z 0-9 - _');
    expectRefusedWithoutLeak(`${raw}\n`, raw);
    expectRefusedWithoutLeak(Buffer.from(raw, 'utf8'), raw);
  });

  it.each([
    [
      '0xff 0xfe then 14 characters',
      Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('ABCDEFGHIJKLMN')]),
      'ABCDEFGHIJKLMN',
    ],
    [
      '15 characters then 0xff',
      Buffer.concat([Buffer.from('ABCDEFGHIJKLMNO'), Buffer.from([0xff])]),
      'ABCDEFGHIJKLMNO',
    ],
    ['latin-1 é (0xe9) as the 16th byte', Buffer.from('ABCDEFGHIJKLMNOé', 'latin1'), 'ABCDEFGHIJKLMNO'],
    [
      'a truncated UTF-8 sequence (0xc3)',
      Buffer.concat([Buffer.from('ABCDEFGHIJKLMNO'), Buffer.from([0xc3])]),
      'ABCDEFGHIJKLMNO',
    ],
  ])('non-UTF-8 bytes: %s', (_name, raw, visible) => {
    expect(raw.toString('utf8')).toContain('\ufffd');
    expectRefusedWithoutLeak(raw, visible);
  });

  it('says where the secret came from', () => {
    expect(refusal('short', 'PINGKNOCK_SECRET').message).toContain('PINGKNOCK_SECRET');
  });
});

describe('secretToHex', () => {
  it.each([
    ['ABCDEFGHIJKLMNOP', '4142434445464748494a4b4c4d4e4f50'],
    ['AAAAAAAAAAAAAAAA', '41414141414141414141414141414141'],
    ['________________', '5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f5f'],
    ['-_09azAZ-_09azAZ', '2d5f3039617a415a2d5f3039617a415a'],
  ])('%s -> %s', (text, hex) => {
    expect(secretToHex(parseSecret(text, 'test'))).toBe(hex);
  });
});
