import { describe, expect, it } from 'vitest';
import type { Family } from '../../src/core/layout.js';
import { PING_LAYOUTS } from '../../src/core/layout.js';
import { buildRuleModel } from '../../src/core/rules/model.js';
import { knockRules, LOG_PREFIX, quoteArgument, RECENT_LISTS, u32Expression } from '../../src/core/rules/xtables.js';
import { parseSecret } from '../../src/core/secret.js';

const secret = parseSecret('ABCDEFGHIJKLMNOP', 'test');
const HEX = '4142434445464748494a4b4c4d4e4f50';
const WORDS = ['41424344', '45464748', '494a4b4c', '4d4e4f50'];

/** IPv4: jump over the real header length, then count from the ICMP header. */
const v4 = (offset: number, value: string): string => `0>>22&0x3C@${offset}=0x${value}`;
/** IPv6: a fixed 40-byte header, then the ICMPv6 header. */
const v6 = (offset: number, value: string): string => `${offset}=0x${value}`;

describe('u32Expression', () => {
  it('writes the iputils IPv4 test for ABCDEFGHIJKLMNOP out in full', () => {
    expect(u32Expression(HEX, PING_LAYOUTS.iputils, 'ipv4')).toBe(
      '0>>22&0x3C@20=0x0&&0>>22&0x3C@24=0x41424344&&0>>22&0x3C@28=0x45464748&&0>>22&0x3C@32=0x494a4b4c&&0>>22&0x3C@36=0x4d4e4f50',
    );
  });

  it('writes the BSD IPv4 test for ABCDEFGHIJKLMNOP out in full (no zero word)', () => {
    expect(u32Expression(HEX, PING_LAYOUTS.bsd, 'ipv4')).toBe(
      '0>>22&0x3C@16=0x41424344&&0>>22&0x3C@20=0x45464748&&0>>22&0x3C@24=0x494a4b4c&&0>>22&0x3C@28=0x4d4e4f50',
    );
  });

  it('writes the iputils IPv6 test at fixed offsets 40 + 8 + payload offset', () => {
    expect(u32Expression(HEX, PING_LAYOUTS.iputils, 'ipv6')).toBe('60=0x0&&64=0x41424344&&68=0x45464748&&72=0x494a4b4c&&76=0x4d4e4f50');
  });

  it('writes the BSD IPv6 test at fixed offsets 40 + 8 + payload offset', () => {
    expect(u32Expression(HEX, PING_LAYOUTS.bsd, 'ipv6')).toBe('56=0x41424344&&60=0x45464748&&64=0x494a4b4c&&68=0x4d4e4f50');
  });

  it('derives every offset from the layout: ICMP header 8 + payload offset (+ 40 for IPv6)', () => {
    for (const layout of Object.values(PING_LAYOUTS)) {
      const zero = layout.zeroWordOffset === undefined ? [] : [[8 + layout.zeroWordOffset, '0'] as const];
      const pattern = WORDS.map((word, index) => [8 + layout.patternOffset + index * 4, word] as const);
      const expected = [...zero, ...pattern];
      expect(u32Expression(HEX, layout, 'ipv4')).toBe(expected.map(([offset, value]) => v4(offset, value)).join('&&'));
      expect(u32Expression(HEX, layout, 'ipv6')).toBe(expected.map(([offset, value]) => v6(40 + offset, value)).join('&&'));
    }
  });

  it('puts the iputils zero word (payload 12..15) first and right before the pattern at payload 16', () => {
    const tests = u32Expression(HEX, PING_LAYOUTS.iputils, 'ipv4').split('&&');
    expect(tests).toHaveLength(5);
    expect(tests[0]).toBe(v4(20, '0'));
    expect(tests[1]).toBe(v4(24, WORDS[0] ?? ''));
  });

  it('keeps the pattern in order, word by word, for another pattern', () => {
    const hex = '000102030405060708090a0b0c0d0eff';
    expect(u32Expression(hex, PING_LAYOUTS.bsd, 'ipv4')).toBe(
      [v4(16, '00010203'), v4(20, '04050607'), v4(24, '08090a0b'), v4(28, '0c0d0eff')].join('&&'),
    );
  });

  it.each(['', '41', HEX.slice(0, 24), HEX.slice(0, 31), `${HEX}${HEX}`])('refuses a pattern of %j with a RangeError', (hex) => {
    expect(() => u32Expression(hex, PING_LAYOUTS.iputils, 'ipv4')).toThrow(RangeError);
    expect(() => u32Expression(hex, PING_LAYOUTS.bsd, 'ipv6')).toThrow('pattern must be 32 lowercase hex digits');
  });

  it.each([`${HEX}0`, `${HEX}1234567`, HEX.replace('4', 'g'), HEX.toUpperCase()])('refuses a pattern of %j (extra or foreign digits) with a RangeError', (hex) => {
    expect(() => u32Expression(hex, PING_LAYOUTS.iputils, 'ipv4')).toThrow(RangeError);
  });
});

describe('knockRules', () => {
  const model = buildRuleModel({ secret, port: 2222, windowSeconds: 45 });
  const chains = { knock: 'knock', knockedTarget: 'knock-ok' };

  it.each<[Family, string[]]>([
    ['ipv4', ['-p', 'icmp', '--icmp-type', 'echo-request']],
    ['ipv6', ['-p', 'ipv6-icmp', '--icmpv6-type', 'echo-request']],
  ])('gives, for %s, the log+remember and accept rules per layout, then established, knocked and drop', (family, echo) => {
    const list = RECENT_LISTS[family];
    const iputils = [...echo, '-m', 'u32', '--u32', u32Expression(HEX, PING_LAYOUTS.iputils, family)];
    const bsd = [...echo, '-m', 'u32', '--u32', u32Expression(HEX, PING_LAYOUTS.bsd, family)];
    const remember = ['-m', 'recent', '--set', '--name', list, '--rsource', '-j', 'LOG', '--log-prefix', 'KNOCK-OK: ', '--log-level', '5'];
    expect(knockRules(model, family, chains)).toEqual([
      [...iputils, ...remember],
      [...iputils, '-j', 'ACCEPT'],
      [...bsd, ...remember],
      [...bsd, '-j', 'ACCEPT'],
      ['-p', 'tcp', '--dport', '2222', '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT'],
      ['-p', 'tcp', '--dport', '2222', '-m', 'recent', '--rcheck', '--seconds', '45', '--name', list, '--rsource', '-j', 'knock-ok'],
      ['-p', 'tcp', '--dport', '2222', '-j', 'DROP'],
    ]);
  });

  it('names the recent lists knocked and knocked6 and logs with "KNOCK-OK: "', () => {
    expect(RECENT_LISTS).toEqual({ ipv4: 'knocked', ipv6: 'knocked6' });
    expect(LOG_PREFIX).toBe('KNOCK-OK: ');
  });

  it('sends knocked hosts to the target it is given', () => {
    const rules = knockRules(model, 'ipv4', { knock: 'ufw-before-input', knockedTarget: 'ACCEPT' });
    const rcheck = rules.find((rule) => rule.includes('--rcheck'));
    expect(rcheck?.slice(-2)).toEqual(['-j', 'ACCEPT']);
  });

  it('follows the layouts of the model: one layout gives two knock rules', () => {
    const rules = knockRules({ ...model, layouts: [PING_LAYOUTS.bsd] }, 'ipv4', chains);
    expect(rules).toHaveLength(5);
    expect(rules.filter((rule) => rule.includes('--u32')).map((rule) => rule[rule.indexOf('--u32') + 1])).toEqual([
      u32Expression(HEX, PING_LAYOUTS.bsd, 'ipv4'),
      u32Expression(HEX, PING_LAYOUTS.bsd, 'ipv4'),
    ]);
  });

  it('remembers (LOG, which does not end the chain) before it accepts, for every layout', () => {
    const rules = knockRules(model, 'ipv6', chains);
    for (const index of [0, 2]) {
      expect(rules[index]).toContain('--set');
      expect(rules[index]?.slice(-6, -4)).toEqual(['-j', 'LOG']);
      expect(rules[index + 1]?.slice(-2)).toEqual(['-j', 'ACCEPT']);
      expect(rules[index + 1]).not.toContain('recent');
    }
    expect(rules.at(-1)).toEqual(['-p', 'tcp', '--dport', '2222', '-j', 'DROP']);
  });
});

describe('quoteArgument', () => {
  it.each(['-A', 'ufw-before-input', 'echo-request', 'ESTABLISHED,RELATED', '5', 'knock-ok', '0x3C', 'a=b:c.d/e%f+g@h_i'])(
    'leaves the plain word %j unquoted',
    (word) => {
      expect(quoteArgument(word)).toBe(word);
    },
  );

  it('double-quotes a u32 expression (it holds & and >)', () => {
    const expression = u32Expression(HEX, PING_LAYOUTS.iputils, 'ipv4');
    expect(quoteArgument(expression)).toBe(`"${expression}"`);
  });

  it('double-quotes the log prefix with its trailing space', () => {
    expect(quoteArgument('KNOCK-OK: ')).toBe('"KNOCK-OK: "');
  });

  it('double-quotes the empty argument, so it stays one word', () => {
    expect(quoteArgument('')).toBe('""');
  });

  it.each(['say "hi"', 'a$b', '$(id)', 'a`id`', 'back\\slash'])('refuses %j, which double quotes cannot hold', (argument) => {
    expect(() => quoteArgument(argument)).toThrow(RangeError);
  });
});
