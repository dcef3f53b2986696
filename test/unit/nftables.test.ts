import { describe, expect, it } from 'vitest';
import type { Family } from '../../src/core/layout.js';
import { buildRuleModel, FLOOD_LIMITS, newKnockerLimit, refreshAfterSeconds } from '../../src/core/rules/model.js';
import { NFT_SET_CAPACITY, NFT_SETS, NFT_TABLE, renderNftables } from '../../src/core/rules/nftables.js';
import { parseSecret } from '../../src/core/secret.js';

const secret = parseSecret('ABCDEFGHIJKLMNOP', 'test');
const HEX = '4142434445464748494a4b4c4d4e4f50';

function render(port: number, windowSeconds: number, families?: readonly Family[]): string {
  return renderNftables(
    buildRuleModel({ secret, port, windowSeconds, ...(families === undefined ? {} : { families }) }),
  );
}

/** Reviewed line by line: secret ABCDEFGHIJKLMNOP, port 22, window 60 s, IPv4 and IPv6. */
const EXPECTED_22_60_BOTH = `#!/usr/sbin/nft -f
# pingknock rules for nftables: TCP port 22 opens only to hosts that knocked with a ping.
#
# What it does: an ICMP echo request (ipv4, ipv6) carrying the secret at its exact
# place adds its source address to a set for 60 s and is answered. New connections to
# port 22 are accepted from addresses in that set, established ones are kept, all others
# are dropped. Where the secret is looked for: Linux iputils ping: payload byte 16; BSD/macOS ping: payload byte 8.
# IPv6 knockers are remembered by their /64. Flood bounds: one source may knock 50 times a
# second, and knocks (new or repeated) are remembered at a pace that cannot fill a set (65535
# entries) within one window; beyond that a knocker still in the set is answered, others get no
# reply and knock again.
#
# Load:    nft -f FILE   (loading it again replaces the table: the result is the same)
# Remove:  nft delete table inet pingknock
# Knock by hand, without pingknock:  ping -c1 -p 4142434445464748494a4b4c4d4e4f50 HOST
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
\t\tupdate @knockrate4 { ip saddr limit rate over 50/second burst 100 packets } counter drop comment "one source knocking too fast"
\t\tip saddr @fresh4 ip saddr @knocked4 accept comment "knocked in the last 30 s: answered, not refreshed"
\t\tlimit rate 58982/minute burst 6553 packets update @knocked4 { ip saddr } update @fresh4 { ip saddr } accept comment "knock remembered"
\t\tip saddr @knocked4 accept comment "knocked already, over the pace: answered, not refreshed"
\t\tcounter drop comment "new knockers coming faster than the set may fill: knock again"
\t}

\tchain knock6 {
\t\tupdate @knockrate6 { ip6 saddr & ffff:ffff:ffff:ffff:: limit rate over 50/second burst 100 packets } counter drop comment "one source knocking too fast"
\t\tip6 saddr & ffff:ffff:ffff:ffff:: @fresh6 ip6 saddr & ffff:ffff:ffff:ffff:: @knocked6 accept comment "knocked in the last 30 s: answered, not refreshed"
\t\tlimit rate 58982/minute burst 6553 packets update @knocked6 { ip6 saddr & ffff:ffff:ffff:ffff:: } update @fresh6 { ip6 saddr & ffff:ffff:ffff:ffff:: } accept comment "knock remembered"
\t\tip6 saddr & ffff:ffff:ffff:ffff:: @knocked6 accept comment "knocked already, over the pace: answered, not refreshed"
\t\tcounter drop comment "new knockers coming faster than the set may fill: knock again"
\t}

\tchain input {
\t\ttype filter hook input priority filter - 10; policy accept;
\t\ticmp type echo-request @th,160,32 0x0 @th,192,128 0x4142434445464748494a4b4c4d4e4f50 jump knock4 comment "knock (iputils ping)"
\t\ticmp type echo-request @th,128,128 0x4142434445464748494a4b4c4d4e4f50 jump knock4 comment "knock (bsd ping)"
\t\ticmpv6 type echo-request @th,160,32 0x0 @th,192,128 0x4142434445464748494a4b4c4d4e4f50 jump knock6 comment "knock (iputils ping)"
\t\ticmpv6 type echo-request @th,128,128 0x4142434445464748494a4b4c4d4e4f50 jump knock6 comment "knock (bsd ping)"
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
    expect(text).toContain(`icmp type echo-request @th,160,32 0x0 @th,192,128 0x${HEX} jump knock4 comment`);
    expect(text).toContain(`icmp type echo-request @th,128,128 0x${HEX} jump knock4 comment`);
    expect(text).toContain('\tchain knock4 {\n');
    expect(text).toContain(
      ' update @knocked4 { ip saddr } update @fresh4 { ip saddr } accept comment "knock remembered"\n',
    );
    expect(text).toContain('tcp dport 22 ip saddr @knocked4 accept');
    expect(text).not.toContain('icmpv6');
    expect(text).not.toMatch(/knocked6|knockrate6|fresh6|knock6/);
    expect(text).not.toContain('ip6');
    expect(text).toContain('an ICMP echo request (ipv4) carrying the secret');
    expect(text).toContain('tcp dport 22 drop');
  });

  it('ipv6 only: no ICMPv4 rule, no knocked4 set, no ip saddr match', () => {
    const text = render(22, 60, ['ipv6']);
    expect(text).toContain(`icmpv6 type echo-request @th,160,32 0x0 @th,192,128 0x${HEX} jump knock6 comment`);
    expect(text).toContain(`icmpv6 type echo-request @th,128,128 0x${HEX} jump knock6 comment`);
    expect(text).toContain('\tchain knock6 {\n');
    expect(text).toContain(
      ' update @knocked6 { ip6 saddr & ffff:ffff:ffff:ffff:: } update @fresh6 { ip6 saddr & ffff:ffff:ffff:ffff:: } accept comment "knock remembered"\n',
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
      '\n# Knock by hand, without pingknock:  ping -c1 -p 2d5f3039617a415a2d5f3039617a415a HOST\n',
    );
    // One knock rule per family and ping layout.
    expect(text.match(/ 0x2d5f3039617a415a2d5f3039617a415a jump knock[46] /g)).toHaveLength(4);
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

  it('sizes every set explicitly, and times out the rate memory after 10 s and the fresh knocks after half the window', () => {
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
  });

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
          `update @knockrate${family} { ${source} limit rate over ${FLOOD_LIMITS.perSourcePerSecond}/second burst ${FLOOD_LIMITS.perSourceBurst} packets } counter drop comment "one source knocking too fast"`,
          `${source} @fresh${family} ${source} @knocked${family} accept comment "knocked in the last ${fresh} s: answered, not refreshed"`,
          `limit rate ${perMinute}/minute burst ${burst} packets update @knocked${family} { ${source} } update @fresh${family} { ${source} } accept comment "knock remembered"`,
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
