import { FLOOD_LIMITS, newKnockerLimit, refreshAfterSeconds, type KnockRuleModel } from './model.js';
import { describeLayouts, manualKnock } from './describe.js';
import type { Family } from '../layout.js';
import { PATTERN_BYTES, transportByteOffset, type PingLayout } from '../layout.js';

export const NFT_TABLE = 'pingknock';
/** The sets of knocked source addresses, one per family. */
export const NFT_SETS: Readonly<Record<Family, string>> = { ipv4: 'knocked4', ipv6: 'knocked6' };

/** What nftables admits at most at once per family: its default set size, made explicit. */
export const NFT_SET_CAPACITY = 65535;

interface FamilySyntax {
  readonly set: string;
  readonly rateSet: string;
  /** Knockers remembered in the last refreshAfterSeconds: answered without a refresh. */
  readonly freshSet: string;
  readonly chain: string;
  readonly type: string;
  readonly echo: string;
  /** The source as it is remembered: an IPv6 knocker by its /64. */
  readonly source: string;
}

const FAMILY_SYNTAX: Readonly<Record<Family, FamilySyntax>> = {
  ipv4: {
    set: NFT_SETS.ipv4,
    rateSet: 'knockrate4',
    freshSet: 'fresh4',
    chain: 'knock4',
    type: 'ipv4_addr',
    echo: 'icmp type echo-request',
    source: 'ip saddr',
  },
  ipv6: {
    set: NFT_SETS.ipv6,
    rateSet: 'knockrate6',
    freshSet: 'fresh6',
    chain: 'knock6',
    type: 'ipv6_addr',
    echo: 'icmpv6 type echo-request',
    source: `ip6 saddr & ${FLOOD_LIMITS.ipv6Prefix.mask}`,
  },
};

/** Renders the model as an `nft -f` file that owns exactly one table, `inet pingknock`. */
export function renderNftables(model: KnockRuleModel): string {
  const families = model.families.map((family) => FAMILY_SYNTAX[family]);
  const newKnockers = newKnockerLimit(NFT_SET_CAPACITY, model.windowSeconds);
  const { perSourcePerSecond, perSourceBurst } = FLOOD_LIMITS;
  const set = (name: string, type: string, timeoutSeconds: number): string =>
    `\tset ${name} {\n\t\ttype ${type}\n\t\tsize ${NFT_SET_CAPACITY}\n\t\tflags dynamic,timeout\n\t\ttimeout ${timeoutSeconds}s\n\t}\n\n`;
  const fresh = refreshAfterSeconds(model.windowSeconds);
  const sets = families.flatMap((f) => [
    set(f.set, f.type, model.windowSeconds),
    set(f.rateSet, f.type, RATE_MEMORY_SECONDS),
    set(f.freshSet, f.type, fresh),
  ]);
  const knocks = families.flatMap((f) =>
    model.layouts.map(
      (layout) =>
        `\t\t${f.echo} ${payloadTest(layout, model.patternHex)} jump ${f.chain} comment "knock (${layout.name} ping)"\n`,
    ),
  );
  const opens = families.map((f) => `\t\ttcp dport ${model.port} ${f.source} @${f.set} accept comment "knocked"\n`);
  // A knock's own chain: the rate set fails open when it is full (its update then adds nothing and
  // the rule does not match); the knocked set never fills, as knocks are remembered, new or
  // refreshed, at a pace that cannot fill it within one window (see refreshAfterSeconds). The
  // fresh set only ever holds what the knocked set got at the same time, so it cannot fill either.
  const chains = families.map(
    (f) =>
      `\tchain ${f.chain} {\n` +
      `\t\tupdate @${f.rateSet} { ${f.source} limit rate over ${perSourcePerSecond}/second burst ${perSourceBurst} packets } counter drop comment "one source knocking too fast"\n` +
      `\t\t${f.source} @${f.freshSet} ${f.source} @${f.set} accept comment "knocked in the last ${fresh} s: answered, not refreshed"\n` +
      `\t\tlimit rate ${newKnockers.perMinute}/minute burst ${newKnockers.burst} packets update @${f.set} { ${f.source} } update @${f.freshSet} { ${f.source} } accept comment "knock remembered"\n` +
      `\t\t${f.source} @${f.set} accept comment "knocked already, over the pace: answered, not refreshed"\n` +
      `\t\tcounter drop comment "new knockers coming faster than the set may fill: knock again"\n` +
      '\t}\n\n',
  );
  return [
    header(model),
    // Declaring the table first lets `delete` succeed on a first load; the delete then makes a
    // reload replace the table instead of appending duplicate rules. nft applies the file atomically.
    `table inet ${NFT_TABLE}\n`,
    `delete table inet ${NFT_TABLE}\n\n`,
    `table inet ${NFT_TABLE} {\n`,
    ...sets,
    ...chains,
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

/** How long a source's knock rate is remembered once it stops knocking. */
const RATE_MEMORY_SECONDS = 10;

/** nft matches raw bits from the ICMP header (`@th`), so the same test serves IPv4 and IPv6. */
function payloadTest(layout: PingLayout, patternHex: string): string {
  const pattern = `@th,${transportByteOffset(layout.patternOffset) * 8},${PATTERN_BYTES * 8} 0x${patternHex}`;
  return layout.zeroWordOffset === undefined
    ? pattern
    : `@th,${transportByteOffset(layout.zeroWordOffset) * 8},32 0x0 ${pattern}`;
}

function header(model: KnockRuleModel): string {
  return `#!/usr/sbin/nft -f
# pingknock rules for nftables: TCP port ${model.port} opens only to hosts that knocked with a ping.
#
# What it does: an ICMP echo request (${model.families.join(', ')}) carrying the secret at its exact
# place adds its source address to a set for ${model.windowSeconds} s and is answered. New connections to
# port ${model.port} are accepted from addresses in that set, established ones are kept, all others
# are dropped. Where the secret is looked for: ${describeLayouts(model)}.
# IPv6 knockers are remembered by their /64. Flood bounds: one source may knock ${FLOOD_LIMITS.perSourcePerSecond} times a
# second, and knocks (new or repeated) are remembered at a pace that cannot fill a set (${NFT_SET_CAPACITY}
# entries) within one window; beyond that a knocker still in the set is answered, others get no
# reply and knock again.
#
# Load:    nft -f FILE   (loading it again replaces the table: the result is the same)
# Remove:  nft delete table inet ${NFT_TABLE}
# Knock by hand, without pingknock:  ${manualKnock(model, 'ipv4')}
#
# With an existing firewall: this table adds its own base chain on the input hook. nftables runs
# every base chain on a hook and a packet must pass all of them: an accept here does not override
# a drop elsewhere. So this table only ever drops port ${model.port} and knocks beyond the flood bounds;
# your own rules must still accept echo requests and port ${model.port} (a ruleset that allows ssh
# keeps working, and the knock decides who reaches it).

`;
}
