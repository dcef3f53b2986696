import { isIP } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PingknockError } from '../../src/core/errors.js';
import { literalFamily, parseHost, parsePort, printable } from '../../src/core/target.js';

function usageError(run: () => unknown): PingknockError {
  try {
    run();
  } catch (error) {
    if (error instanceof PingknockError) return error;
    throw error;
  }
  throw new Error('expected a PingknockError, nothing was thrown');
}

describe('parseHost accepts', () => {
  it.each([
    ['example.com', 'example.com'],
    ['my-server', 'my-server'],
    ['host_1.internal', 'host_1.internal'],
    ['localhost', 'localhost'],
    ['192.0.2.7', '192.0.2.7'],
    ['::1', '::1'],
    ['2001:db8::1', '2001:db8::1'],
    ['::ffff:192.0.2.7', '::ffff:192.0.2.7'],
    ['[2001:db8::1]', '2001:db8::1'],
    ['[::1]', '::1'],
    ['fe80::1%eth0', 'fe80::1%eth0'],
    ['[fe80::1%eth0]', 'fe80::1%eth0'],
  ])('%s', (input, expected) => {
    expect(parseHost(input)).toBe(expected);
  });

  it('a name of exactly 253 characters', () => {
    const name = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`;
    expect(name).toHaveLength(253);
    expect(parseHost(name)).toBe(name);
  });
});

describe('parseHost refuses with exit code 2', () => {
  it.each([
    '1.2.3.4%eth0',
    'a%b',
    'fe80::1%',
    '::1%a%b',
    'fe80::1%et h0',
    '',
    '[]',
    '-oProxyCommand=x',
    '[-oProxyCommand=x]',
    '-x',
    '-',
    'a b',
    'a;b',
    '$(x)',
    '`x`',
    'a|b',
    "a'b",
    'a"b',
    'a&b',
    'a>b',
    'a/b',
    'a\nb',
    'a\0b',
    'héllo.example',
    '[[::1]]',
    '1:2:zz',
    '1:2:3',
    'example.com:22',
    'fe80::zz%eth0',
  ])('%j', (input) => {
    const error = usageError(() => parseHost(input));
    expect(error.exitCode).toBe(2);
    // The message quotes the host escaped: a hostile host cannot break the line.
    expect(error.message).not.toMatch(/[\u0000-\u001f]/);
  });

  it('a name longer than 253 characters', () => {
    const name = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(62)}`;
    expect(name).toHaveLength(254);
    expect(usageError(() => parseHost(name)).exitCode).toBe(2);
    expect(usageError(() => parseHost('a'.repeat(1000))).exitCode).toBe(2);
  });

  it('a leading dash with a message that says so', () => {
    expect(usageError(() => parseHost('-oProxyCommand=x')).message).toContain('starts with "-"');
  });
});

describe('parsePort', () => {
  it.each([
    ['22', 22],
    [22, 22],
    ['1', 1],
    ['65535', 65535],
    [65535, 65535],
    ['2222', 2222],
  ])('accepts %j', (input, expected) => {
    expect(parsePort(input)).toBe(expected);
  });

  it.each([
    '0',
    0,
    '65536',
    '70000',
    70000,
    'ssh',
    '-1',
    -1,
    '22.5',
    22.5,
    '',
    ' 22',
    '22 ',
    '+22',
    '0x16',
    '1e3',
    '123456',
    NaN,
    Infinity,
    '٢٢',
  ])('refuses %j with exit code 2', (input) => {
    expect(usageError(() => parsePort(input)).exitCode).toBe(2);
  });
});

describe('printable', () => {
  it.each([
    ['a\nb', 'a\\u{a}b'],
    ['a\rb', 'a\\u{d}b'],
    ['a\tb', 'a\\u{9}b'],
    ['a\0b', 'a\\u{0}b'],
    ['\x1b[31mred', '\\u{1b}[31mred'],
    ['del\x7f', 'del\\u{7f}'],
    ['c1\u009b2J', 'c1\\u{9b}2J'],
    ['bidi\u202e', 'bidi\\u{202e}'],
    ['line\u2028sep', 'line\\u{2028}sep'],
    ['say "hi"', 'say "hi"'],
    ['plain-host.example', 'plain-host.example'],
  ])('%j -> %j', (input, expected) => {
    expect(printable(input)).toBe(expected);
  });

  it('lets nothing but printable ASCII through, for every character up to U+2FFF', () => {
    let all = '';
    for (let code = 0; code < 0x3000; code++) all += String.fromCharCode(code);
    for (let start = 0; start < all.length; start += 80) {
      expect(printable(all.slice(start, start + 80))).toMatch(/^[\x20-\x7e]*$/);
    }
  });

  it('shortens text over 80 characters to 80 and an ellipsis', () => {
    expect(printable('x'.repeat(80))).toBe('x'.repeat(80));
    expect(printable('x'.repeat(81))).toBe(`${'x'.repeat(80)}...`);
  });
});

describe('literalFamily', () => {
  it.each([
    ['192.0.2.10', 4],
    ['2001:db8::1', 6],
    ['::1', 6],
    ['fe80::1%eth0', 6],
    ['::ffff:192.0.2.1', 6],
    ['example.com', 0],
    ['localhost', 0],
    ['1.2.3', 0],
    ['256.1.1.1', 0],
    ['dead:beef', 0],
  ] as const)('%s is %i', (host, family) => {
    expect(literalFamily(host)).toBe(family);
  });

  it("gives isIP's verdict on the host without its zone, for any host", () => {
    const character = fc.constantFrom(...'0123456789abcdefABCDEF.:%-_xyz'.split(''));
    const host = fc.oneof(
      fc.array(character, { maxLength: 45 }).map((characters) => characters.join('')),
      fc.ipV4(),
      fc.ipV6(),
      fc
        .tuple(fc.oneof(fc.ipV4(), fc.ipV6()), fc.stringMatching(/^[a-z0-9]{0,8}$/))
        .map(([address, zone]) => `${address}%${zone}`),
    );
    fc.assert(
      fc.property(host, (text) => {
        expect(literalFamily(text)).toBe(isIP(text.split('%')[0] ?? ''));
      }),
      { numRuns: 2000 },
    );
  });
});
