import { describe, expect, it } from 'vitest';
import type { Family } from '../../src/core/layout.js';
import {
  buildRuleModel,
  FLOOD_LIMITS,
  newKnockerLimit,
  refreshAfterSeconds,
  rollingKey,
  staticKey,
  type RuleKey,
} from '../../src/core/rules/model.js';
import {
  NFT_ONCE,
  NFT_SET_CAPACITY,
  NFT_SETS,
  NFT_TABLE,
  ONCE_SECONDS,
  renderNftables,
  SKEW_SLOTS,
} from '../../src/core/rules/nftables.js';
import { rollingPatternHex, slotAfter, SLOT_SECONDS, SLOTS_PER_DAY, type Slot } from '../../src/core/rolling.js';
import { parseSecret, secretToHex } from '../../src/core/secret.js';

const secret = parseSecret('ABCDEFGHIJKLMNOP', 'test');
const HEX = '4142434445464748494a4b4c4d4e4f50';
const HEX_SET = `{ 0x${HEX} comment "default" }`;

function render(port: number, windowSeconds: number, families?: readonly Family[]): string {
  return renderNftables(
    buildRuleModel({ secret, port, windowSeconds, ...(families === undefined ? {} : { families }) }),
  );
}

/** Reviewed line by line: secret ABCDEFGHIJKLMNOP, port 22, window 60 s, IPv4 and IPv6. */
const EXPECTED_22_60_BOTH = `#!/usr/sbin/nft -f
# pingknock rules for nftables: TCP port 22 opens only to hosts that knocked with a ping.
#
# What it does: an ICMP echo request (ipv4, ipv6) carrying a key's pattern at its exact
# place adds its source address to a set for 60 s and is answered. New connections to
# port 22 are accepted from addresses in that set, established ones are kept, all others
# are dropped. Where the pattern is looked for: Linux iputils ping: payload byte 16; BSD/macOS ping: payload byte 8.
# Keys: default (static).
# IPv6 knockers are remembered by their /64. Flood bounds: one source may knock 50 times a
# second, and knocks (new or repeated) are remembered at a pace that cannot fill a set (65535
# entries) within one window; beyond that a knocker still in the set is answered, others get no
# reply and knock again.
#
# Load:    nft -f FILE   (loading it again replaces the table: the result is the same)
# Remove:  nft delete table inet pingknock
# Knock by hand, without pingknock:
#   default: ping -c1 -p 4142434445464748494a4b4c4d4e4f50 HOST
#
# With an existing firewall: this table adds its own base chain on the input hook. nftables runs
# every base chain on a hook and a packet must pass all of them: an accept here does not override
# a drop elsewhere. So this table only ever drops port 22 and knocks beyond the flood bounds;
# your own rules must still accept echo requests and port 22 (a ruleset that allows ssh
# keeps working, and the knock decides who reaches it).

table inet pingknock
delete table inet pingknock

table inet pingknock {
\tset knocked4 {
\t\ttype ipv4_addr
\t\tsize 65535
\t\tflags dynamic,timeout
\t\ttimeout 60s
\t}

\tset knockrate4 {
\t\ttype ipv4_addr
\t\tsize 65535
\t\tflags dynamic,timeout
\t\ttimeout 10s
\t}

\tset fresh4 {
\t\ttype ipv4_addr
\t\tsize 65535
\t\tflags dynamic,timeout
\t\ttimeout 30s
\t}

\tset knocked6 {
\t\ttype ipv6_addr
\t\tsize 65535
\t\tflags dynamic,timeout
\t\ttimeout 60s
\t}

\tset knockrate6 {
\t\ttype ipv6_addr
\t\tsize 65535
\t\tflags dynamic,timeout
\t\ttimeout 10s
\t}

\tset fresh6 {
\t\ttype ipv6_addr
\t\tsize 65535
\t\tflags dynamic,timeout
\t\ttimeout 30s
\t}

\tchain knock4 {
\t\tupdate @knockrate4 { ip saddr limit rate over 50/second burst 100 packets } counter drop \
comment "one source knocking too fast"
\t\tip saddr @fresh4 ip saddr @knocked4 accept comment "knocked in the last 30 s: answered, not refreshed"
\t\tlimit rate 58982/minute burst 6553 packets update @knocked4 { ip saddr } update @fresh4 { ip saddr } accept \
comment "knock remembered"
\t\tip saddr @knocked4 accept comment "knocked already, over the pace: answered, not refreshed"
\t\tcounter drop comment "new knockers coming faster than the set may fill: knock again"
\t}

\tchain knock6 {
\t\tupdate @knockrate6 { ip6 saddr & ffff:ffff:ffff:ffff:: limit rate over 50/second burst 100 packets } counter drop \
comment "one source knocking too fast"
\t\tip6 saddr & ffff:ffff:ffff:ffff:: @fresh6 ip6 saddr & ffff:ffff:ffff:ffff:: @knocked6 accept \
comment "knocked in the last 30 s: answered, not refreshed"
\t\tlimit rate 58982/minute burst 6553 packets update @knocked6 { ip6 saddr & ffff:ffff:ffff:ffff:: } \
update @fresh6 { ip6 saddr & ffff:ffff:ffff:ffff:: } accept comment "knock remembered"
\t\tip6 saddr & ffff:ffff:ffff:ffff:: @knocked6 accept comment "knocked already, over the pace: answered, not refreshed"
\t\tcounter drop comment "new knockers coming faster than the set may fill: knock again"
\t}

\tchain input {
\t\ttype filter hook input priority filter - 10; policy accept;
\t\ticmp type echo-request @th,160,32 0x0 @th,192,128 { 0x4142434445464748494a4b4c4d4e4f50 comment "default" } \
jump knock4 comment "knock (iputils ping)"
\t\ticmp type echo-request @th,128,128 { 0x4142434445464748494a4b4c4d4e4f50 comment "default" } \
jump knock4 comment "knock (bsd ping)"
\t\ticmpv6 type echo-request @th,160,32 0x0 @th,192,128 { 0x4142434445464748494a4b4c4d4e4f50 comment "default" } \
jump knock6 comment "knock (iputils ping)"
\t\ticmpv6 type echo-request @th,128,128 { 0x4142434445464748494a4b4c4d4e4f50 comment "default" } \
jump knock6 comment "knock (bsd ping)"
\t\ttcp dport 22 ct state established,related accept
\t\ttcp dport 22 ip saddr @knocked4 accept comment "knocked"
\t\ttcp dport 22 ip6 saddr & ffff:ffff:ffff:ffff:: @knocked6 accept comment "knocked"
\t\ttcp dport 22 drop comment "not knocked"
\t}
}
`;

/** The lines of the table body, without the header comments and blank lines, trimmed. */
function bodyLines(text: string): string[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('#'))
    .map((line) => line.trim());
}

/** The rules of one chain of the table, trimmed. */
function chainLines(text: string, chain: string): string[] {
  const lines = text.split('\n');
  const start = lines.indexOf(`\tchain ${chain} {`);
  if (start < 0) throw new Error(`no chain ${chain}`);
  const end = lines.indexOf('\t}', start);
  return lines.slice(start + 1, end).map((line) => line.trim());
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describe('renderNftables', () => {
  it('renders the reviewed file for port 22, window 60, both families', () => {
    expect(render(22, 60)).toBe(EXPECTED_22_60_BOTH);
  });

  it('declares and deletes the table before defining it, and owns no other table', () => {
    const lines = bodyLines(render(22, 60));
    expect(lines.slice(0, 3)).toEqual([
      `table inet ${NFT_TABLE}`,
      `delete table inet ${NFT_TABLE}`,
      `table inet ${NFT_TABLE} {`,
    ]);
    expect(NFT_TABLE).toBe('pingknock');
    expect(
      lines.filter((line) => line.startsWith('table ')).every((line) => line.startsWith('table inet pingknock')),
    ).toBe(true);
  });

  it('orders the chain: knocks, established, knocked sources, then the drop last', () => {
    const lines = bodyLines(render(22, 60));
    const chain = lines.slice(lines.indexOf('chain input {') + 1, lines.lastIndexOf('}') - 1);
    expect(chain.map((line) => line.split(' ').slice(0, 4).join(' '))).toEqual([
      'type filter hook input',
      'icmp type echo-request @th,160,32',
      'icmp type echo-request @th,128,128',
      'icmpv6 type echo-request @th,160,32',
      'icmpv6 type echo-request @th,128,128',
      'tcp dport 22 ct',
      'tcp dport 22 ip',
      'tcp dport 22 ip6',
      'tcp dport 22 drop',
    ]);
    expect(chain.at(-1)).toBe('tcp dport 22 drop comment "not knocked"');
  });

  it('ipv4 only: no ICMPv6 rule, no knocked6 set, no ip6 match', () => {
    const text = render(22, 60, ['ipv4']);
    expect(text).toContain(`icmp type echo-request @th,160,32 0x0 @th,192,128 ${HEX_SET} jump knock4 comment`);
    expect(text).toContain(`icmp type echo-request @th,128,128 ${HEX_SET} jump knock4 comment`);
    expect(text).toContain('\tchain knock4 {\n');
    expect(text).toContain(
      ' update @knocked4 { ip saddr } update @fresh4 { ip saddr } accept comment "knock remembered"\n',
    );
    expect(text).toContain('tcp dport 22 ip saddr @knocked4 accept');
    expect(text).not.toContain('icmpv6');
    expect(text).not.toMatch(/knocked6|knockrate6|fresh6|knock6/);
    expect(text).not.toContain('ip6');
    expect(text).toContain("an ICMP echo request (ipv4) carrying a key's pattern");
    expect(text).toContain('tcp dport 22 drop');
  });

  it('ipv6 only: no ICMPv4 rule, no knocked4 set, no ip saddr match', () => {
    const text = render(22, 60, ['ipv6']);
    expect(text).toContain(`icmpv6 type echo-request @th,160,32 0x0 @th,192,128 ${HEX_SET} jump knock6 comment`);
    expect(text).toContain(`icmpv6 type echo-request @th,128,128 ${HEX_SET} jump knock6 comment`);
    expect(text).toContain('\tchain knock6 {\n');
    expect(text).toContain(
      ' update @knocked6 { ip6 saddr & ffff:ffff:ffff:ffff:: } ' +
        'update @fresh6 { ip6 saddr & ffff:ffff:ffff:ffff:: } accept comment "knock remembered"\n',
    );
    expect(text).toContain('tcp dport 22 ip6 saddr & ffff:ffff:ffff:ffff:: @knocked6 accept');
    expect(text).not.toContain('icmp type');
    expect(text).not.toMatch(/knocked4|knockrate4|fresh4|knock4/);
    expect(text).not.toContain('ip saddr');
    expect(text).toContain('tcp dport 22 drop');
  });

  it('puts port 2222 and window 5 everywhere, and no trace of 22 or 60', () => {
    const text = render(2222, 5);
    expect(text.match(/tcp dport 2222 /g)).toHaveLength(4);
    expect(text).toContain('tcp dport 2222 ct state established,related accept');
    expect(text).toContain('tcp dport 2222 ip saddr @knocked4 accept');
    expect(text).toContain('tcp dport 2222 ip6 saddr & ffff:ffff:ffff:ffff:: @knocked6 accept');
    expect(text).toContain('tcp dport 2222 drop');
    // knocked4 and knocked6 keep a knock for the window, fresh4 and fresh6 for half of it.
    expect(text.match(/\ttimeout 5s\n/g)).toHaveLength(2);
    expect(text.match(/\ttimeout 3s\n/g)).toHaveLength(2);
    expect(text.match(/"knocked in the last 3 s: answered, not refreshed"/g)).toHaveLength(2);
    expect(text).toContain('TCP port 2222 opens');
    expect(text).toContain('to a set for 5 s and is answered. New connections to\n# port 2222 are accepted');
    expect(text).toContain('only ever drops port 2222 and knocks beyond the flood bounds;');
    expect(text).toContain('echo requests and port 2222 (');
    expect(text).not.toMatch(/\b22\b/);
    expect(text).not.toMatch(/\b60\b/);
  });

  it('tells the manual knock command with the secret as hex', () => {
    const other = parseSecret('-_09azAZ-_09azAZ', 'test');
    const text = renderNftables(buildRuleModel({ secret: other, port: 22, windowSeconds: 60 }));
    expect(text).toContain(
      '\n# Knock by hand, without pingknock:\n#   default: ping -c1 -p 2d5f3039617a415a2d5f3039617a415a HOST\n',
    );
    // One knock rule per family and ping layout.
    expect(text.match(/ \{ 0x2d5f3039617a415a2d5f3039617a415a comment "default" \} jump knock[46] /g)).toHaveLength(4);
    expect(text).not.toContain(HEX);
  });
  it('remembers, refreshes, rate-limits and opens the port to IPv6 knockers by their /64, every time', () => {
    const text = render(22, 60, ['ipv6']);
    const masked = 'ip6 saddr & ffff:ffff:ffff:ffff::';
    expect(FLOOD_LIMITS.ipv6Prefix).toEqual({ length: 64, mask: 'ffff:ffff:ffff:ffff::' });
    // Every IPv6 source in the file is the masked one: none is left to stand for a single address.
    // The rate test, the fresh test (twice), the paced updates (twice), the known test, the port.
    expect(text.match(/ip6 saddr/g)).toHaveLength(7);
    expect(text.match(/ip6 saddr & ffff:ffff:ffff:ffff:: /g)).toHaveLength(7);
    const knock6 = chainLines(text, 'knock6');
    expect(knock6[0]).toMatch(
      new RegExp(
        `^update @knockrate6 \\{ ${escape(masked)} limit rate over \\d+/second burst \\d+ packets \\} counter drop `,
      ),
    );
    expect(knock6[1]).toMatch(new RegExp(`^${escape(masked)} @fresh6 ${escape(masked)} @knocked6 accept `));
    expect(knock6[2]).toContain(` update @knocked6 { ${masked} } update @fresh6 { ${masked} } accept `);
    expect(knock6[3]).toMatch(new RegExp(`^${escape(masked)} @knocked6 accept `));
    expect(chainLines(text, 'input')).toContain(`tcp dport 22 ${masked} @knocked6 accept comment "knocked"`);
  });

  it('remembers and opens the port to IPv4 knockers by their own address: no mask', () => {
    const text = render(22, 60, ['ipv4']);
    expect(text).not.toContain(' & ');
    expect(text.match(/ip saddr/g)).toHaveLength(7);
    expect(text.match(/ip saddr [@}l]/g)).toHaveLength(7);
    expect(chainLines(text, 'input')).toContain('tcp dport 22 ip saddr @knocked4 accept comment "knocked"');
  });

  it(
    'sizes every set explicitly, ' +
      'and times out the rate memory after 10 s and the fresh knocks after half the window',
    () => {
      const text = render(22, 90);
      expect(NFT_SET_CAPACITY).toBe(65535);
      const sets = [
        ...text.matchAll(
          /\tset (\S+) \{\n\t\ttype (\S+)\n\t\tsize (\d+)\n\t\tflags dynamic,timeout\n\t\ttimeout (\d+)s\n\t\}\n/g,
        ),
      ].map(([, name, type, size, timeout]) => [name, type, Number(size), Number(timeout)]);
      expect(sets).toEqual([
        ['knocked4', 'ipv4_addr', 65535, 90],
        ['knockrate4', 'ipv4_addr', 65535, 10],
        ['fresh4', 'ipv4_addr', 65535, 45],
        ['knocked6', 'ipv6_addr', 65535, 90],
        ['knockrate6', 'ipv6_addr', 65535, 10],
        ['fresh6', 'ipv6_addr', 65535, 45],
      ]);
      expect(text.match(/\tset /g)).toHaveLength(6);
      expect(NFT_SETS).toEqual({ ipv4: 'knocked4', ipv6: 'knocked6' });
    },
  );

  it.each([1, 5, 60, 600, 3600, 86_400])(
    'takes the pace for a window of %i s from newKnockerLimit, and only the paced rule changes the knocked set',
    (windowSeconds) => {
      const text = render(22, windowSeconds);
      const { perMinute, burst } = newKnockerLimit(NFT_SET_CAPACITY, windowSeconds);
      const fresh = refreshAfterSeconds(windowSeconds);
      for (const [family, source] of [
        ['4', 'ip saddr'],
        ['6', 'ip6 saddr & ffff:ffff:ffff:ffff::'],
      ] as const) {
        expect(chainLines(text, `knock${family}`)).toEqual([
          `update @knockrate${family} { ${source} limit rate over ${FLOOD_LIMITS.perSourcePerSecond}/second ` +
            `burst ${FLOOD_LIMITS.perSourceBurst} packets } counter drop ` +
            `comment "one source knocking too fast"`,
          `${source} @fresh${family} ${source} @knocked${family} accept ` +
            `comment "knocked in the last ${fresh} s: answered, not refreshed"`,
          `limit rate ${perMinute}/minute burst ${burst} packets update @knocked${family} { ${source} } ` +
            `update @fresh${family} { ${source} } accept comment "knock remembered"`,
          `${source} @knocked${family} accept comment "knocked already, over the pace: answered, not refreshed"`,
          'counter drop comment "new knockers coming faster than the set may fill: knock again"',
        ]);
        // A free refresh would let a flood keep its own entries and fill the set: every update of
        // the knocked and fresh sets sits behind the pace.
        const updates = text
          .split('\n')
          .filter((line) => line.includes(`update @knocked${family} `) || line.includes(`update @fresh${family} `));
        expect(updates).toHaveLength(1);
        expect(updates[0]?.trim().startsWith(`limit rate ${perMinute}/minute burst ${burst} packets `)).toBe(true);
      }
      // The knocks of both layouts go through their family's one chain, so they share one pace.
      expect(text.match(/ jump knock4 comment/g)).toHaveLength(2);
      expect(text.match(/ jump knock6 comment/g)).toHaveLength(2);
      expect(text.match(/limit rate \d+\/minute/g)).toHaveLength(2);
    },
  );
});

describe('renderNftables with many keys and one-time keys', () => {
  const alice = parseSecret('aliceALICEalice0', 'test');
  const bob = parseSecret('bobBOBbobBOBbob0', 'test');
  const carol = parseSecret('carolCAROLcarol0', 'test');
  /** 2024-03-01 as a day number. */
  const DAY = Date.UTC(2024, 2, 1) / 86_400_000;
  const model = (keys: readonly RuleKey[], families?: readonly Family[]) =>
    buildRuleModel({ keys, port: 22, windowSeconds: 60, ...(families === undefined ? {} : { families }) });
  /** The elements of a day's slot set, as written. */
  const elements = (text: string, date: string): string[] => {
    const match = new RegExp(`\\tset slots-${date} \\{\\n[^]*?elements = \\{\\n([^]*?)\\n\\t\\t\\}`).exec(text);
    if (match === null) throw new Error(`no set slots-${date}`);
    return (match[1] ?? '').split(',\n').map((line) => line.trim());
  };
  const element = (secretOf: typeof alice, at: Slot, inSlot: number): string =>
    `${inSlot * SLOT_SECONDS} . 0x${rollingPatternHex(secretOf, at)}`;

  it('looks every static key up in one anonymous set per family and layout: the rule count stays four', () => {
    const text = renderNftables(model([staticKey('alice', alice), staticKey('bob', bob), staticKey('carol', carol)]));
    const set =
      `{ 0x${secretToHex(alice)} comment "alice", 0x${secretToHex(bob)} comment "bob", ` +
      `0x${secretToHex(carol)} comment "carol" }`;
    expect(chainLines(text, 'input').filter((line) => line.includes('echo-request'))).toEqual([
      `icmp type echo-request @th,160,32 0x0 @th,192,128 ${set} jump knock4 comment "knock (iputils ping)"`,
      `icmp type echo-request @th,128,128 ${set} jump knock4 comment "knock (bsd ping)"`,
      `icmpv6 type echo-request @th,160,32 0x0 @th,192,128 ${set} jump knock6 comment "knock (iputils ping)"`,
      `icmpv6 type echo-request @th,128,128 ${set} jump knock6 comment "knock (bsd ping)"`,
    ]);
    expect(text).toContain('# Keys: alice (static), bob (static), carol (static).\n');
    for (const [name, key] of [
      ['alice', alice],
      ['bob', bob],
      ['carol', carol],
    ] as const) {
      expect(text).toContain(`\n#   ${name}: ping -c1 -p ${secretToHex(key)} HOST\n`);
    }
    // Static keys alone need nothing of the one-time machinery, which nft 1.0.2 could not load.
    expect(text).not.toMatch(/typeof|rolling|once-|slots-|@used/);
  });

  it('writes a pattern two keys share once, named after the first', () => {
    const text = renderNftables(model([staticKey('old', alice), staticKey('new', alice)]));
    expect(text).toContain(`{ 0x${secretToHex(alice)} comment "old" } jump knock4`);
    expect(text).not.toContain('comment "new"');
  });

  it('renders the reviewed one-time machinery for one key over two days, IPv4 and IPv6', () => {
    const text = renderNftables(model([rollingKey('bob', bob, DAY, 2)]));
    const skeleton = bodyLines(text).filter((line) => !/^\d+ \. 0x[0-9a-f]{32},?$/.test(line));
    const from = skeleton.indexOf('set used {');
    expect(skeleton.slice(from)).toEqual([
      'set used {',
      'typeof @th,192,128',
      'size 65535',
      'flags dynamic,timeout',
      'timeout 768s',
      '}',
      'set usedby4 {',
      'typeof @th,192,128 . ip saddr',
      'size 65535',
      'flags dynamic,timeout',
      'timeout 768s',
      '}',
      'set usedby6 {',
      'typeof @th,192,128 . ip6 saddr',
      'size 65535',
      'flags dynamic,timeout',
      'timeout 768s',
      '}',
      'counter replays {',
      '}',
      'chain once-iputils4 {',
      '@th,192,128 . ip saddr @usedby4 goto knock4 comment "resent by the source that used it"',
      '@th,192,128 @used counter name "replays" accept comment "replayed: answered, opens nothing"',
      'add @used { @th,192,128 } add @usedby4 { @th,192,128 . ip saddr } goto knock4 comment "first use"',
      '}',
      'chain once-bsd4 {',
      '@th,128,128 . ip saddr @usedby4 goto knock4 comment "resent by the source that used it"',
      '@th,128,128 @used counter name "replays" accept comment "replayed: answered, opens nothing"',
      'add @used { @th,128,128 } add @usedby4 { @th,128,128 . ip saddr } goto knock4 comment "first use"',
      '}',
      'chain once-iputils6 {',
      '@th,192,128 . ip6 saddr & ffff:ffff:ffff:ffff:: @usedby6 goto knock6 ' +
        'comment "resent by the source that used it"',
      '@th,192,128 @used counter name "replays" accept comment "replayed: answered, opens nothing"',
      'add @used { @th,192,128 } add @usedby6 { @th,192,128 . ip6 saddr & ffff:ffff:ffff:ffff:: } goto knock6 ' +
        'comment "first use"',
      '}',
      'chain once-bsd6 {',
      '@th,128,128 . ip6 saddr & ffff:ffff:ffff:ffff:: @usedby6 goto knock6 ' +
        'comment "resent by the source that used it"',
      '@th,128,128 @used counter name "replays" accept comment "replayed: answered, opens nothing"',
      'add @used { @th,128,128 } add @usedby6 { @th,128,128 . ip6 saddr & ffff:ffff:ffff:ffff:: } goto knock6 ' +
        'comment "first use"',
      '}',
      ...['2024-03-01', '2024-03-02'].flatMap((date) => [
        `set slots-${date} {`,
        'typeof meta hour . @th,192,128',
        'elements = {',
        '}',
        '}',
        `chain day-${date} {`,
        `meta nfproto ipv4 @th,160,32 0x0 meta hour & 0x1ff00 . @th,192,128 @slots-${date} goto once-iputils4`,
        `meta nfproto ipv4 meta hour & 0x1ff00 . @th,128,128 @slots-${date} goto once-bsd4`,
        `meta nfproto ipv6 @th,160,32 0x0 meta hour & 0x1ff00 . @th,192,128 @slots-${date} goto once-iputils6`,
        `meta nfproto ipv6 meta hour & 0x1ff00 . @th,128,128 @slots-${date} goto once-bsd6`,
        '}',
      ]),
      'chain rolling {',
      'meta time >= 1709251200 meta time < 1709337600 goto day-2024-03-01',
      'meta time >= 1709337600 meta time < 1709424000 goto day-2024-03-02',
      '}',
      'chain input {',
      'type filter hook input priority filter - 10; policy accept;',
      'icmp type echo-request jump rolling comment "one-time knocks"',
      'icmpv6 type echo-request jump rolling comment "one-time knocks"',
      'tcp dport 22 ct state established,related accept',
      'tcp dport 22 ip saddr @knocked4 accept comment "knocked"',
      'tcp dport 22 ip6 saddr & ffff:ffff:ffff:ffff:: @knocked6 accept comment "knocked"',
      'tcp dport 22 drop comment "not knocked"',
      '}',
      '}',
    ]);
    expect(NFT_ONCE).toEqual({ used: 'used', usedBy: { ipv4: 'usedby4', ipv6: 'usedby6' }, replays: 'replays' });
  });

  it('remembers a used pattern for every slot it is accepted in: a 256-s slot and one either side', () => {
    expect(SLOT_SECONDS).toBe(256);
    expect(SKEW_SLOTS).toBe(1);
    expect(ONCE_SECONDS).toBe(768);
    // 0x1ff00 keeps the slot bits of any second of the day: (second & mask) / 256 is its slot.
    for (const second of [0, 255, 256, 43_210, 86_271, 86_272, 86_399]) {
      expect((second & 0x1ff00) / SLOT_SECONDS).toBe(Math.floor(second / SLOT_SECONDS));
    }
  });

  it('puts each slot pattern in its own slot and the slots either side, and nowhere else', () => {
    const text = renderNftables(model([rollingKey('bob', bob, DAY, 2)]));
    const first = elements(text, '2024-03-01');
    const second = elements(text, '2024-03-02');
    // Three patterns a slot, less the two neighbours outside the horizon.
    expect(first).toHaveLength(3 * SLOTS_PER_DAY - 1);
    expect(second).toHaveLength(3 * SLOTS_PER_DAY - 1);
    const slot = 100;
    const at = (offset: number): Slot => slotAfter({ day: DAY, slot }, offset);
    for (const offset of [-1, 0, 1]) expect(first).toContain(element(bob, at(offset), slot));
    for (const offset of [-3, -2, 2, 3]) expect(first).not.toContain(element(bob, at(offset), slot));
    // Across midnight: the last slot of the first day and the first of the second take each other's pattern.
    const last = SLOTS_PER_DAY - 1;
    expect(first).toContain(element(bob, { day: DAY + 1, slot: 0 }, last));
    expect(second).toContain(element(bob, { day: DAY, slot: last }, 0));
    // The last slot of the day is 128 s long and still a slot of its own.
    expect(first).toContain(`${last * SLOT_SECONDS} . 0x${rollingPatternHex(bob, { day: DAY, slot: last })}`);
    expect(last * SLOT_SECONDS).toBe(86_272);
  });

  it('holds every key: static and one-time together, with days of different keys merged', () => {
    const text = renderNftables(
      model([staticKey('alice', alice), rollingKey('bob', bob, DAY, 2), rollingKey('carol', carol, DAY + 1, 2)]),
    );
    expect(text).toContain(`{ 0x${secretToHex(alice)} comment "alice" } jump knock4`);
    expect(text).toContain(
      '# Keys: alice (static), bob (one-time, 2024-03-01 to 2024-03-02), carol (one-time, 2024-03-02 to 2024-03-03).\n',
    );
    expect(chainLines(text, 'rolling')).toEqual([
      'meta time >= 1709251200 meta time < 1709337600 goto day-2024-03-01',
      'meta time >= 1709337600 meta time < 1709424000 goto day-2024-03-02',
      'meta time >= 1709424000 meta time < 1709510400 goto day-2024-03-03',
    ]);
    const shared = elements(text, '2024-03-02');
    expect(shared).toHaveLength(2 * 3 * SLOTS_PER_DAY - 2);
    expect(shared).toContain(element(bob, { day: DAY + 1, slot: 7 }, 7));
    expect(shared).toContain(element(carol, { day: DAY + 1, slot: 7 }, 7));
    expect(
      elements(text, '2024-03-01').some((line) => line.includes(rollingPatternHex(carol, { day: DAY, slot: 7 }))),
    ).toBe(false);
    // The static knock comes first; a packet it does not match goes on to the one-time lookup.
    expect(chainLines(text, 'input').map((line) => line.split(' ').slice(0, 3).join(' '))).toEqual([
      'type filter hook',
      'icmp type echo-request',
      'icmp type echo-request',
      'icmpv6 type echo-request',
      'icmpv6 type echo-request',
      'icmp type echo-request',
      'icmpv6 type echo-request',
      'tcp dport 22',
      'tcp dport 22',
      'tcp dport 22',
      'tcp dport 22',
    ]);
  });

  it('holds no secret of a one-time key, only its patterns', () => {
    const text = renderNftables(model([rollingKey('bob', bob, DAY, 3)]));
    expect(text).not.toContain(bob);
    expect(text).not.toContain(secretToHex(bob));
    expect(text).toContain('#   bob: ping -c1 -p "$(pingknock pattern ALIAS)" HOST\n');
    expect(text).toContain(
      '#     printf \'pingknock-v1 %s %d\' "$(date -u +%F)" $(( $(date -u +%s) % 86400 / 256 )) \\\n' +
        '#       | openssl dgst -sha256 -hmac "$(cat ~/.ssh/pingknock/ALIAS)" | sed \'s/.*= //\' | cut -c1-32\n',
    );
  });

  it('IPv4 only: no IPv6 state, chain or rule', () => {
    const text = renderNftables(model([rollingKey('bob', bob, DAY, 1)], ['ipv4']));
    expect(text).toContain('\tset usedby4 {\n');
    expect(text).not.toMatch(/usedby6|once-\w+6|ip6|icmpv6|nfproto ipv6/);
    expect(chainLines(text, 'day-2024-03-01')).toHaveLength(2);
  });

  it('IPv6 only: no IPv4 state, chain or rule', () => {
    const text = renderNftables(model([rollingKey('bob', bob, DAY, 1)], ['ipv6']));
    expect(text).toContain('\tset usedby6 {\n');
    expect(text).not.toMatch(/usedby4|once-\w+4|ip saddr|icmp type|nfproto ipv4/);
    expect(chainLines(text, 'day-2024-03-01')).toHaveLength(2);
  });

  it('a year of one key: a range rule and a set per day, three entries a slot', () => {
    const text = renderNftables(model([rollingKey('bob', bob, DAY, 365)]));
    expect(chainLines(text, 'rolling')).toHaveLength(365);
    expect(text.match(/\tchain day-/g)).toHaveLength(365);
    expect(text.match(/^\t\t\t\d+ \. 0x[0-9a-f]{32},?$/gm)).toHaveLength(365 * 3 * SLOTS_PER_DAY - 2);
  });
});
