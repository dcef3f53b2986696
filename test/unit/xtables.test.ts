import { describe, expect, it } from 'vitest';
import type { Family } from '../../src/core/layout.js';
import { PING_LAYOUTS } from '../../src/core/layout.js';
import {
  buildRuleModel,
  FLOOD_LIMITS,
  newKnockerLimit,
  refreshAfterSeconds,
  rollingKey,
  staticKey,
} from '../../src/core/rules/model.js';
import { PingknockError } from '../../src/core/errors.js';
import { renderRules } from '../../src/core/rules/render.js';
import { renderIptables } from '../../src/core/rules/iptables.js';
import { renderUfw, renderUfwBlock, UFW_TARGETS, withUfwBlocks } from '../../src/core/rules/ufw.js';
import {
  knockRules,
  LOG_PREFIX,
  quoteArgument,
  RECENT_LISTS,
  u32Expression,
  XT_RECENT_CAPACITY,
  xtFloodNote,
  xtKnockLimit,
  xtStaticKeys,
} from '../../src/core/rules/xtables.js';
import { parseSecret, secretToHex } from '../../src/core/secret.js';

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
      '0>>22&0x3C@20=0x0&&0>>22&0x3C@24=0x41424344&&' +
        '0>>22&0x3C@28=0x45464748&&0>>22&0x3C@32=0x494a4b4c&&0>>22&0x3C@36=0x4d4e4f50',
    );
  });

  it('writes the BSD IPv4 test for ABCDEFGHIJKLMNOP out in full (no zero word)', () => {
    expect(u32Expression(HEX, PING_LAYOUTS.bsd, 'ipv4')).toBe(
      '0>>22&0x3C@16=0x41424344&&0>>22&0x3C@20=0x45464748&&0>>22&0x3C@24=0x494a4b4c&&0>>22&0x3C@28=0x4d4e4f50',
    );
  });

  it('writes the iputils IPv6 test at fixed offsets 40 + 8 + payload offset', () => {
    expect(u32Expression(HEX, PING_LAYOUTS.iputils, 'ipv6')).toBe(
      '60=0x0&&64=0x41424344&&68=0x45464748&&72=0x494a4b4c&&76=0x4d4e4f50',
    );
  });

  it('writes the BSD IPv6 test at fixed offsets 40 + 8 + payload offset', () => {
    expect(u32Expression(HEX, PING_LAYOUTS.bsd, 'ipv6')).toBe(
      '56=0x41424344&&60=0x45464748&&64=0x494a4b4c&&68=0x4d4e4f50',
    );
  });

  it('derives every offset from the layout: ICMP header 8 + payload offset (+ 40 for IPv6)', () => {
    for (const layout of Object.values(PING_LAYOUTS)) {
      const zero = layout.zeroWordOffset === undefined ? [] : [[8 + layout.zeroWordOffset, '0'] as const];
      const pattern = WORDS.map((word, index) => [8 + layout.patternOffset + index * 4, word] as const);
      const expected = [...zero, ...pattern];
      expect(u32Expression(HEX, layout, 'ipv4')).toBe(expected.map(([offset, value]) => v4(offset, value)).join('&&'));
      expect(u32Expression(HEX, layout, 'ipv6')).toBe(
        expected.map(([offset, value]) => v6(40 + offset, value)).join('&&'),
      );
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

  it.each(['', '41', HEX.slice(0, 24), HEX.slice(0, 31), `${HEX}${HEX}`])(
    'refuses a pattern of %j with a RangeError',
    (hex) => {
      expect(() => u32Expression(hex, PING_LAYOUTS.iputils, 'ipv4')).toThrow(RangeError);
      expect(() => u32Expression(hex, PING_LAYOUTS.bsd, 'ipv6')).toThrow('pattern must be 32 lowercase hex digits');
    },
  );

  it.each([`${HEX}0`, `${HEX}1234567`, HEX.replace('4', 'g'), HEX.toUpperCase()])(
    'refuses a pattern of %j (extra or foreign digits) with a RangeError',
    (hex) => {
      expect(() => u32Expression(hex, PING_LAYOUTS.iputils, 'ipv4')).toThrow(RangeError);
    },
  );
});

describe('knockRules', () => {
  const model = buildRuleModel({ secret, port: 2222, windowSeconds: 45 });
  const chains = { knock: 'knock', knockedTarget: 'knock-ok' };

  /** Written out for window 45 s, per source 50/s (burst 100), and 100 list entries shared by two layouts. */
  it.each<[Family, string[], string[], string[]]>([
    [
      'ipv4',
      ['-p', 'icmp', '--icmp-type', 'echo-request'],
      ['--name', 'knocked', '--rsource'],
      [
        '-m',
        'hashlimit',
        '--hashlimit-above',
        '50/sec',
        '--hashlimit-burst',
        '100',
        '--hashlimit-mode',
        'srcip',
        '--hashlimit-name',
        'pk-knocked',
      ],
    ],
    [
      'ipv6',
      ['-p', 'ipv6-icmp', '--icmpv6-type', 'echo-request'],
      ['--name', 'knocked6', '--mask', 'ffff:ffff:ffff:ffff::', '--rsource'],
      [
        '-m',
        'hashlimit',
        '--hashlimit-above',
        '50/sec',
        '--hashlimit-burst',
        '100',
        '--hashlimit-mode',
        'srcip',
        '--hashlimit-srcmask',
        '64',
        '--hashlimit-name',
        'pk-knocked6',
      ],
    ],
  ])(
    'gives, for %s, per layout: too fast, fresh, paced remember (LOG), known and drop; ' +
      'then established, knocked and drop',
    (family, echo, list, tooFast) => {
      expect(FLOOD_LIMITS).toMatchObject({ perSourcePerSecond: 50, perSourceBurst: 100 });
      const iputils = [...echo, '-m', 'u32', '--u32', u32Expression(HEX, PING_LAYOUTS.iputils, family)];
      const bsd = [...echo, '-m', 'u32', '--u32', u32Expression(HEX, PING_LAYOUTS.bsd, family)];
      const perLayout = (knock: string[]): string[][] => [
        [...knock, ...tooFast, '-j', 'DROP'],
        [...knock, '-m', 'recent', '--rcheck', '--seconds', '23', ...list, '-j', 'ACCEPT'],
        [
          ...knock,
          '-m',
          'limit',
          '--limit',
          '60/min',
          '--limit-burst',
          '5',
          '-m',
          'recent',
          '--set',
          ...list,
          '-j',
          'LOG',
          '--log-prefix',
          'KNOCK-OK: ',
          '--log-level',
          '5',
        ],
        [...knock, '-m', 'recent', '--rcheck', '--seconds', '45', ...list, '-j', 'ACCEPT'],
        [...knock, '-j', 'DROP'],
      ];
      expect(knockRules(model, family, chains)).toEqual([
        ...perLayout(iputils),
        ...perLayout(bsd),
        ['-p', 'tcp', '--dport', '2222', '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT'],
        ['-p', 'tcp', '--dport', '2222', '-m', 'recent', '--rcheck', '--seconds', '45', ...list, '-j', 'knock-ok'],
        ['-p', 'tcp', '--dport', '2222', '-j', 'DROP'],
      ]);
    },
  );

  it('names the recent lists knocked and knocked6 and logs with "KNOCK-OK: "', () => {
    expect(RECENT_LISTS).toEqual({ ipv4: 'knocked', ipv6: 'knocked6' });
    expect(LOG_PREFIX).toBe('KNOCK-OK: ');
  });

  it('sends knocked hosts to the target it is given', () => {
    const rules = knockRules(model, 'ipv4', { knock: 'ufw-before-input', knockedTarget: 'ACCEPT' });
    const rcheck = rules.find((rule) => rule.includes('--rcheck'));
    expect(rcheck?.slice(-2)).toEqual(['-j', 'ACCEPT']);
  });

  it('follows the layouts of the model: one layout gives five knock rules, and the whole list to itself', () => {
    const one = { ...model, layouts: [PING_LAYOUTS.bsd] };
    const rules = knockRules(one, 'ipv4', chains);
    expect(rules).toHaveLength(8);
    expect(rules.filter((rule) => rule.includes('--u32')).map((rule) => rule[rule.indexOf('--u32') + 1])).toEqual(
      Array<string>(5).fill(u32Expression(HEX, PING_LAYOUTS.bsd, 'ipv4')),
    );
    expect(xtKnockLimit(one)).toEqual(newKnockerLimit(XT_RECENT_CAPACITY, 45));
    const paced = rules.find((rule) => rule.includes('limit'));
    expect(paced?.slice(paced.indexOf('--limit'), paced.indexOf('--limit') + 4)).toEqual([
      '--limit',
      '120/min',
      '--limit-burst',
      '10',
    ]);
  });

  it('remembers (LOG, which does not end the chain) before it accepts, for every layout', () => {
    const rules = knockRules(model, 'ipv6', chains);
    for (const index of [0, 5]) {
      expect(rules[index + 2]).toContain('--set');
      expect(rules[index + 2]?.slice(-6, -4)).toEqual(['-j', 'LOG']);
      expect(rules[index + 3]).toContain('--rcheck');
      expect(rules[index + 3]?.slice(-2)).toEqual(['-j', 'ACCEPT']);
      expect(rules[index + 4]?.slice(-2)).toEqual(['-j', 'DROP']);
    }
    expect(rules.at(-1)).toEqual(['-p', 'tcp', '--dport', '2222', '-j', 'DROP']);
  });

  it.each<Family>(['ipv4', 'ipv6'])(
    'changes a list only at the pace (%s): one --set per layout, behind -m limit, and no --update ' +
      '(a free refresh would let a flood keep its own entries ' +
      'and push a real knocker off)',
    (family) => {
      const rules = knockRules(model, family, chains);
      expect(rules.filter((rule) => rule.includes('--update') || rule.includes('--remove'))).toEqual([]);
      const setting = rules.filter((rule) => rule.includes('--set'));
      expect(setting).toHaveLength(2);
      for (const rule of setting) expect(rule.indexOf('limit')).toBeGreaterThan(-1);
      for (const rule of setting) expect(rule.indexOf('limit')).toBeLessThan(rule.indexOf('--set'));
    },
  );

  it(
    'remembers, checks and rate-limits IPv6 knockers by their /64 in every rule, ' + 'and IPv4 ones by their address',
    () => {
      const v6 = knockRules(model, 'ipv6', chains);
      const recent6 = v6.filter((rule) => rule.includes('recent'));
      expect(recent6).toHaveLength(7);
      for (const rule of recent6)
        expect(rule.slice(rule.indexOf('--name'), rule.indexOf('--name') + 5)).toEqual([
          '--name',
          'knocked6',
          '--mask',
          'ffff:ffff:ffff:ffff::',
          '--rsource',
        ]);
      const limited6 = v6.filter((rule) => rule.includes('hashlimit'));
      expect(limited6).toHaveLength(2);
      for (const rule of limited6)
        expect(rule.slice(rule.indexOf('--hashlimit-srcmask'), rule.indexOf('--hashlimit-srcmask') + 2)).toEqual([
          '--hashlimit-srcmask',
          '64',
        ]);
      // The port's test too: a connection from the knocker's /64 is let in.
      expect(v6.at(-2)).toContain('--mask');

      const v4 = knockRules(model, 'ipv4', chains);
      expect(v4.filter((rule) => rule.includes('recent'))).toHaveLength(7);
      expect(v4.filter((rule) => rule.includes('hashlimit'))).toHaveLength(2);
      expect(v4.flat()).not.toContain('--mask');
      expect(v4.flat()).not.toContain('--hashlimit-srcmask');
    },
  );

  it.each([1, 2, 5, 45, 60, 600, 2700])(
    'shares the list among the layouts for a window of %i s: ' +
      'together they put at most its 100 entries on it per window',
    (windowSeconds) => {
      const windowed = { ...model, windowSeconds };
      const pace = xtKnockLimit(windowed);
      expect(pace).toEqual(newKnockerLimit(XT_RECENT_CAPACITY / 2, windowSeconds));
      expect(windowed.layouts.length * (pace.burst + (pace.perMinute * windowSeconds) / 60)).toBeLessThanOrEqual(
        XT_RECENT_CAPACITY,
      );
      const rules = knockRules(windowed, 'ipv4', chains);
      const limits = rules
        .filter((rule) => rule.includes('limit'))
        .map((rule) => rule.slice(rule.indexOf('--limit'), rule.indexOf('--limit') + 4));
      expect(limits).toEqual(
        Array<string[]>(2).fill(['--limit', `${pace.perMinute}/min`, '--limit-burst', String(pace.burst)]),
      );
      const fresh = rules
        .filter((rule) => rule.includes('--rcheck') && rule.includes('--u32'))
        .map((rule) => rule[rule.indexOf('--seconds') + 1]);
      expect(fresh).toEqual([
        String(refreshAfterSeconds(windowSeconds)),
        String(windowSeconds),
        String(refreshAfterSeconds(windowSeconds)),
        String(windowSeconds),
      ]);
    },
  );

  it('says the flood bounds in the header note: the per-source rate and the pace of both layouts together', () => {
    expect(xtFloodNote(buildRuleModel({ secret, port: 22, windowSeconds: 60 }))).toBe(
      [
        '# IPv6 knockers are remembered by their /64. Flood bounds: one source may knock 50 times a',
        '# second, and at most 90 knocks a minute (new or repeated) are put on a `recent` list, which',
        '# holds 100 by default and forgets its oldest: beyond that a knocker still on the list is',
        '# answered, others get no reply and knock again. For more people knocking at once, raise',
        "# xt_recent's ip_list_tot (see the README).",
      ].join('\n'),
    );
    expect(xtFloodNote(model)).toContain(' at most 120 knocks a minute ');
  });
});

describe('many keys on iptables and ufw', () => {
  const alice = parseSecret('aliceALICEalice0', 'test');
  const bob = parseSecret('bobBOBbobBOBbob0', 'test');
  const keys = [staticKey('alice', alice), staticKey('bob', bob)];
  const both = buildRuleModel({ keys, port: 22, windowSeconds: 60 });
  const chains = { knock: 'knock', knockedTarget: 'knock-ok' };

  it('tests every static key in every layout, each with the whole set of five rules', () => {
    const rules = knockRules(both, 'ipv4', chains);
    const tests = rules.filter((rule) => rule.includes('--u32')).map((rule) => rule[rule.indexOf('--u32') + 1]);
    const expected = [alice, bob].flatMap((key) =>
      [PING_LAYOUTS.iputils, PING_LAYOUTS.bsd].flatMap((layout) =>
        Array<string>(5).fill(u32Expression(secretToHex(key), layout, 'ipv4')),
      ),
    );
    expect(tests).toEqual(expected);
    expect(rules).toHaveLength(2 * 2 * 5 + 3);
  });

  it('shares the list among all knock rules: four rules, a quarter of it each, and says the total', () => {
    expect(xtKnockLimit(both)).toEqual(newKnockerLimit(XT_RECENT_CAPACITY / 4, 60));
    const { perMinute, burst } = xtKnockLimit(both);
    expect(4 * (burst + perMinute)).toBeLessThanOrEqual(XT_RECENT_CAPACITY);
    expect(xtFloodNote(both)).toContain(` at most ${4 * perMinute} knocks a minute `);
  });

  it('names the keys in the iptables header and the ufw block, and how to knock with each', () => {
    const script = renderIptables(both);
    expect(script).toContain('# Keys: alice (static), bob (static).\n');
    expect(script).toContain(
      `#   alice: ping -c1 -p ${secretToHex(alice)} HOST  or  ping -6 -c1 -p ${secretToHex(alice)} HOST\n`,
    );
    expect(script).toContain(
      `#   bob: ping -c1 -p ${secretToHex(bob)} HOST  or  ping -6 -c1 -p ${secretToHex(bob)} HOST\n`,
    );
    expect(renderUfwBlock(both, 'ipv4')).toContain('\n# keys: alice (static), bob (static)\n');
  });

  it.each<[string, (model: typeof both) => unknown]>([
    ['iptables', (model) => renderRules('iptables', model)],
    ['ip6tables', (model) => renderRules('ip6tables', model)],
    ['ufw', (model) => renderUfw(model)],
    ['the ufw block', (model) => renderUfwBlock(model, 'ipv6')],
    ['the ufw files', (model) => withUfwBlocks({ [UFW_TARGETS.ipv4.file]: '*filter\nCOMMIT\n' }, model)],
    ['knockRules', (model) => knockRules(model, 'ipv4', chains)],
  ])('%s refuses a one-time key, naming it, with exit 2', (_backend, render) => {
    const model = buildRuleModel({
      keys: [staticKey('alice', alice), rollingKey('bob@desk', bob, 19_783, 1)],
      port: 22,
      windowSeconds: 60,
    });
    let caught: unknown;
    try {
      render(model);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(PingknockError);
    expect((caught as PingknockError).exitCode).toBe(2);
    expect((caught as PingknockError).message).toBe(
      'key bob@desk is one-time (rolling), and iptables, ip6tables and ufw cannot hold one-time knocks: ' +
        'their recent lists remember addresses, not patterns. Use nftables, or a static key (--static)',
    );
  });

  it('passes static keys through', () => {
    expect(xtStaticKeys(both)).toEqual(keys);
  });
});

describe('quoteArgument', () => {
  it.each([
    '-A',
    'ufw-before-input',
    'echo-request',
    'ESTABLISHED,RELATED',
    '5',
    'knock-ok',
    '0x3C',
    'a=b:c.d/e%f+g@h_i',
  ])('leaves the plain word %j unquoted', (word) => {
    expect(quoteArgument(word)).toBe(word);
  });

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

  it.each(['say "hi"', 'a$b', '$(id)', 'a`id`', 'back\\slash'])(
    'refuses %j, which double quotes cannot hold',
    (argument) => {
      expect(() => quoteArgument(argument)).toThrow(RangeError);
    },
  );
});
