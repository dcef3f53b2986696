import type { KnockRuleModel } from './model.js';
import { describeLayouts, manualKnock } from './describe.js';
import type { Family } from '../layout.js';
import { PATTERN_BYTES, transportByteOffset, type PingLayout } from '../layout.js';

export const NFT_TABLE = 'pingknock';
/** The sets of knocked source addresses, one per family. */
export const NFT_SETS: Readonly<Record<Family, string>> = { ipv4: 'knocked4', ipv6: 'knocked6' };

const FAMILY_SYNTAX: Readonly<Record<Family, { set: string; type: string; echo: string; saddr: string }>> = {
  ipv4: { set: NFT_SETS.ipv4, type: 'ipv4_addr', echo: 'icmp type echo-request', saddr: 'ip saddr' },
  ipv6: { set: NFT_SETS.ipv6, type: 'ipv6_addr', echo: 'icmpv6 type echo-request', saddr: 'ip6 saddr' },
};

/** Renders the model as an `nft -f` file that owns exactly one table, `inet pingknock`. */
export function renderNftables(model: KnockRuleModel): string {
  const families = model.families.map((family) => FAMILY_SYNTAX[family]);
  const sets = families.map(
    (f) => `\tset ${f.set} {\n\t\ttype ${f.type}\n\t\tflags dynamic,timeout\n\t\ttimeout ${model.windowSeconds}s\n\t}\n`,
  );
  const knocks = families.flatMap((f) =>
    model.layouts.map(
      (layout) =>
        `\t\t${f.echo} ${payloadTest(layout, model.patternHex)} update @${f.set} { ${f.saddr} } accept comment "knock (${layout.name} ping)"\n`,
    ),
  );
  const opens = families.map((f) => `\t\ttcp dport ${model.port} ${f.saddr} @${f.set} accept comment "knocked"\n`);
  return [
    header(model),
    // Declaring the table first lets `delete` succeed on a first load; the delete then makes a
    // reload replace the table instead of appending duplicate rules. nft applies the file atomically.
    `table inet ${NFT_TABLE}\n`,
    `delete table inet ${NFT_TABLE}\n\n`,
    `table inet ${NFT_TABLE} {\n`,
    ...sets.map((set) => `${set}\n`),
    '\tchain input {\n',
    '\t\ttype filter hook input priority filter - 10; policy accept;\n',
    ...knocks,
    `\t\ttcp dport ${model.port} ct state established,related accept\n`,
    ...opens,
    `\t\ttcp dport ${model.port} drop comment "not knocked"\n`,
    '\t}\n',
    '}\n',
  ].join('');
}

/** nft matches raw bits from the ICMP header (`@th`), so the same test serves IPv4 and IPv6. */
function payloadTest(layout: PingLayout, patternHex: string): string {
  const pattern = `@th,${transportByteOffset(layout.patternOffset) * 8},${PATTERN_BYTES * 8} 0x${patternHex}`;
  return layout.zeroWordOffset === undefined ? pattern : `@th,${transportByteOffset(layout.zeroWordOffset) * 8},32 0x0 ${pattern}`;
}

function header(model: KnockRuleModel): string {
  return `#!/usr/sbin/nft -f
# pingknock rules for nftables: TCP port ${model.port} opens only to hosts that knocked with a ping.
#
# What it does: an ICMP echo request (${model.families.join(', ')}) carrying the secret at its exact
# place adds its source address to a set for ${model.windowSeconds} s and is answered. New connections to
# port ${model.port} are accepted from addresses in that set, established ones are kept, all others
# are dropped. Where the secret is looked for: ${describeLayouts(model)}.
#
# Load:    nft -f FILE   (loading it again replaces the table: the result is the same)
# Remove:  nft delete table inet ${NFT_TABLE}
# Knock by hand, without pingknock:  ${manualKnock(model, 'ipv4')}
#
# With an existing firewall: this table adds its own base chain on the input hook. nftables runs
# every base chain on a hook and a packet must pass all of them: an accept here does not override
# a drop elsewhere. So this table only ever drops port ${model.port}; your own rules must still accept
# echo requests and port ${model.port} (a ruleset that allows ssh keeps working, and the knock
# decides who reaches it).

`;
}
