import { describe, expect, it } from 'vitest';
import type { Family } from '../../src/core/layout.js';
import { buildRuleModel } from '../../src/core/rules/model.js';
import { NFT_TABLE, renderNftables } from '../../src/core/rules/nftables.js';
import { parseSecret } from '../../src/core/secret.js';

const secret = parseSecret('ABCDEFGHIJKLMNOP', 'test');
const HEX = '4142434445464748494a4b4c4d4e4f50';

function render(port: number, windowSeconds: number, families?: readonly Family[]): string {
  return renderNftables(buildRuleModel({ secret, port, windowSeconds, ...(families === undefined ? {} : { families }) }));
}

/** Reviewed line by line: secret ABCDEFGHIJKLMNOP, port 22, window 60 s, IPv4 and IPv6. */
const EXPECTED_22_60_BOTH = `#!/usr/sbin/nft -f
# pingknock rules for nftables: TCP port 22 opens only to hosts that knocked with a ping.
#
# What it does: an ICMP echo request (ipv4, ipv6) carrying the secret at its exact
# place adds its source address to a set for 60 s and is answered. New connections to
# port 22 are accepted from addresses in that set, established ones are kept, all others
# are dropped. Where the secret is looked for: Linux iputils ping: payload byte 16; BSD/macOS ping: payload byte 8.
#
# Load:    nft -f FILE   (loading it again replaces the table: the result is the same)
# Remove:  nft delete table inet pingknock
# Knock by hand, without pingknock:  ping -c1 -p 4142434445464748494a4b4c4d4e4f50 HOST
#
# With an existing firewall: this table adds its own base chain on the input hook. nftables runs
# every base chain on a hook and a packet must pass all of them: an accept here does not override
# a drop elsewhere. So this table only ever drops port 22; your own rules must still accept
# echo requests and port 22 (a ruleset that allows ssh keeps working, and the knock
# decides who reaches it).

table inet pingknock
delete table inet pingknock

table inet pingknock {
\tset knocked4 {
\t\ttype ipv4_addr
\t\tflags dynamic,timeout
\t\ttimeout 60s
\t}

\tset knocked6 {
\t\ttype ipv6_addr
\t\tflags dynamic,timeout
\t\ttimeout 60s
\t}

\tchain input {
\t\ttype filter hook input priority filter - 10; policy accept;
\t\ticmp type echo-request @th,160,32 0x0 @th,192,128 0x4142434445464748494a4b4c4d4e4f50 update @knocked4 { ip saddr } accept comment "knock (iputils ping)"
\t\ticmp type echo-request @th,128,128 0x4142434445464748494a4b4c4d4e4f50 update @knocked4 { ip saddr } accept comment "knock (bsd ping)"
\t\ticmpv6 type echo-request @th,160,32 0x0 @th,192,128 0x4142434445464748494a4b4c4d4e4f50 update @knocked6 { ip6 saddr } accept comment "knock (iputils ping)"
\t\ticmpv6 type echo-request @th,128,128 0x4142434445464748494a4b4c4d4e4f50 update @knocked6 { ip6 saddr } accept comment "knock (bsd ping)"
\t\ttcp dport 22 ct state established,related accept
\t\ttcp dport 22 ip saddr @knocked4 accept comment "knocked"
\t\ttcp dport 22 ip6 saddr @knocked6 accept comment "knocked"
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

describe('renderNftables', () => {
  it('renders the reviewed file for port 22, window 60, both families', () => {
    expect(render(22, 60)).toBe(EXPECTED_22_60_BOTH);
  });

  it('declares and deletes the table before defining it, and owns no other table', () => {
    const lines = bodyLines(render(22, 60));
    expect(lines.slice(0, 3)).toEqual([`table inet ${NFT_TABLE}`, `delete table inet ${NFT_TABLE}`, `table inet ${NFT_TABLE} {`]);
    expect(NFT_TABLE).toBe('pingknock');
    expect(lines.filter((line) => line.startsWith('table ')).every((line) => line.startsWith('table inet pingknock'))).toBe(true);
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
    expect(text).toContain(`icmp type echo-request @th,160,32 0x0 @th,192,128 0x${HEX} update @knocked4 { ip saddr } accept`);
    expect(text).toContain(`icmp type echo-request @th,128,128 0x${HEX} update @knocked4 { ip saddr } accept`);
    expect(text).toContain('tcp dport 22 ip saddr @knocked4 accept');
    expect(text).not.toContain('icmpv6');
    expect(text).not.toContain('knocked6');
    expect(text).not.toContain('ip6');
    expect(text).toContain('an ICMP echo request (ipv4) carrying the secret');
    expect(text).toContain('tcp dport 22 drop');
  });

  it('ipv6 only: no ICMPv4 rule, no knocked4 set, no ip saddr match', () => {
    const text = render(22, 60, ['ipv6']);
    expect(text).toContain(`icmpv6 type echo-request @th,160,32 0x0 @th,192,128 0x${HEX} update @knocked6 { ip6 saddr } accept`);
    expect(text).toContain(`icmpv6 type echo-request @th,128,128 0x${HEX} update @knocked6 { ip6 saddr } accept`);
    expect(text).toContain('tcp dport 22 ip6 saddr @knocked6 accept');
    expect(text).not.toContain('icmp type');
    expect(text).not.toContain('knocked4');
    expect(text).not.toContain('ip saddr');
    expect(text).toContain('tcp dport 22 drop');
  });

  it('puts port 2222 and window 5 everywhere, and no trace of 22 or 60', () => {
    const text = render(2222, 5);
    expect(text.match(/tcp dport 2222 /g)).toHaveLength(4);
    expect(text).toContain('tcp dport 2222 ct state established,related accept');
    expect(text).toContain('tcp dport 2222 ip saddr @knocked4 accept');
    expect(text).toContain('tcp dport 2222 ip6 saddr @knocked6 accept');
    expect(text).toContain('tcp dport 2222 drop');
    expect(text.match(/\ttimeout 5s\n/g)).toHaveLength(2);
    expect(text).toContain('TCP port 2222 opens');
    expect(text).toContain('to a set for 5 s and is answered. New connections to\n# port 2222 are accepted');
    expect(text).toContain('only ever drops port 2222;');
    expect(text).toContain('echo requests and port 2222 (');
    expect(text).not.toMatch(/\b22\b/);
    expect(text).not.toMatch(/\b60\b/);
  });

  it('tells the manual knock command with the secret as hex', () => {
    const other = parseSecret('-_09azAZ-_09azAZ', 'test');
    const text = renderNftables(buildRuleModel({ secret: other, port: 22, windowSeconds: 60 }));
    expect(text).toContain('\n# Knock by hand, without pingknock:  ping -c1 -p 2d5f3039617a415a2d5f3039617a415a HOST\n');
    // One knock rule per family and ping layout.
    expect(text.match(/ 0x2d5f3039617a415a2d5f3039617a415a update /g)).toHaveLength(4);
    expect(text).not.toContain(HEX);
  });
});
