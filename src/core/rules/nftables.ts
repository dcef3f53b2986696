/**
 * The nftables ruleset: one table, `inet pingknock`, with the static keys' knocks, the flood-bound
 * chains and the port's rules; the one-time keys' part is rendered by nftables-once.ts.
 */
import {
  FLOOD_LIMITS,
  newKnockerLimit,
  refreshAfterSeconds,
  type KnockRuleModel,
  type RollingKey,
  type StaticKey,
} from './model.js';
import { describeKeys, describeLayouts, manualKnocks, rollingByHand } from './describe.js';
import { onceHeader, renderRolling } from './nftables-once.js';
import { dynamicSet, FAMILY_SYNTAX, NFT_SET_CAPACITY, payload, zeroTest } from './nftables-syntax.js';

// The names a loaded ruleset is inspected by (lab, tests, bench) stay importable from here, with the renderer.
export { NFT_SET_CAPACITY, NFT_SETS } from './nftables-syntax.js';
export { NFT_ONCE, ONCE_SECONDS, SKEW_SLOTS } from './nftables-once.js';

export const NFT_TABLE = 'pingknock';

/**
 * Renders the model as an `nft -f` file that owns exactly one table, `inet pingknock`.
 *
 * Static keys: one anonymous set of their patterns, looked up at each layout's offset (a hash
 * lookup however many keys there are). Anonymous, because a named set keyed on raw payload needs
 * `typeof @th,...`, which nft 1.0.2 (Ubuntu 22.04) lacks, and static keys are what such a server uses.
 *
 * One-time (rolling) keys: `rolling` picks the day with one `meta time` range rule per day and
 * goes to that day's chain, which looks `slot . pattern` up in that day's set, for each family
 * and layout. The day is not carried in a packet mark between the two: `meta mark` belongs to
 * policy routing and other firewalls. Nor is time a set key: a set keyed on `meta time` intervals
 * loads in quadratic time (a year's did not load), while a few hundred range rules and exact hash
 * lookups load in seconds. A pattern found there goes to its layout's `once` chain: the source that
 * used it may resend it, any other source is answered and counted but opens nothing, and a first
 * use is remembered for every slot it could be valid in. Every admitted knock, static or one-time,
 * then goes through the family's flood bounds (`knock4`/`knock6`).
 */
export function renderNftables(model: KnockRuleModel): string {
  const families = model.families.map((family) => FAMILY_SYNTAX[family]);
  const newKnockers = newKnockerLimit(NFT_SET_CAPACITY, model.windowSeconds);
  const { perSourcePerSecond, perSourceBurst } = FLOOD_LIMITS;
  const fresh = refreshAfterSeconds(model.windowSeconds);
  const sets = families.flatMap((f) => [
    dynamicSet(f.set, `type ${f.type}`, model.windowSeconds),
    dynamicSet(f.rateSet, `type ${f.type}`, RATE_MEMORY_SECONDS),
    dynamicSet(f.freshSet, `type ${f.type}`, fresh),
  ]);
  const staticKeys = model.keys.filter((key): key is StaticKey => key.kind === 'static');
  const rollingKeys = model.keys.filter((key): key is RollingKey => key.kind === 'rolling');
  const staticSet = staticKeys.length === 0 ? undefined : anonymousSet(staticKeys);
  const knocks =
    staticSet === undefined
      ? []
      : families.flatMap((f) =>
          model.layouts.map(
            (layout) =>
              `\t\t${f.echo} ${zeroTest(layout)}${payload(layout)} ${staticSet} jump ${f.chain} ` +
              `comment "knock (${layout.name} ping)"\n`,
          ),
        );
  const rolling = rollingKeys.length === 0 ? undefined : renderRolling(model, rollingKeys);
  const toRolling =
    rolling === undefined ? [] : families.map((f) => `\t\t${f.echo} jump rolling comment "one-time knocks"\n`);
  const opens = families.map((f) => `\t\ttcp dport ${model.port} ${f.source} @${f.set} accept comment "knocked"\n`);
  // A knock's own chain: the rate set fails open when it is full (its update then adds nothing and
  // the rule does not match); the knocked set never fills, as knocks are remembered, new or
  // refreshed, at a pace that cannot fill it within one window (see refreshAfterSeconds). The
  // fresh set only ever holds what the knocked set got at the same time, so it cannot fill either.
  const chains = families.map(
    (f) =>
      `\tchain ${f.chain} {\n` +
      `\t\tupdate @${f.rateSet} { ${f.source} limit rate over ${perSourcePerSecond}/second ` +
      `burst ${perSourceBurst} packets } counter drop comment "one source knocking too fast"\n` +
      `\t\t${f.source} @${f.freshSet} ${f.source} @${f.set} accept ` +
      `comment "knocked in the last ${fresh} s: answered, not refreshed"\n` +
      `\t\tlimit rate ${newKnockers.perMinute}/minute burst ${newKnockers.burst} packets ` +
      `update @${f.set} { ${f.source} } update @${f.freshSet} { ${f.source} } accept comment "knock remembered"\n` +
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
    rolling ?? '',
    '\tchain input {\n',
    '\t\ttype filter hook input priority filter - 10; policy accept;\n',
    ...knocks,
    ...toRolling,
    `\t\ttcp dport ${model.port} ct state established,related accept\n`,
    ...opens,
    `\t\ttcp dport ${model.port} drop comment "not knocked"\n`,
    '\t}\n',
    '}\n',
  ].join('');
}

/** How long a source's knock rate is remembered once it stops knocking. */
const RATE_MEMORY_SECONDS = 10;

/** The static keys' patterns, each once, named in a comment so that `nft list` shows whose it is. */
function anonymousSet(keys: readonly StaticKey[]): string {
  const names = new Map<string, string>();
  for (const key of keys) if (!names.has(key.patternHex)) names.set(key.patternHex, key.name);
  return `{ ${[...names].map(([hex, name]) => `0x${hex} comment "${name}"`).join(', ')} }`;
}

function header(model: KnockRuleModel): string {
  const { perSourcePerSecond } = FLOOD_LIMITS;
  const rolling = model.keys.some((key) => key.kind === 'rolling');
  const once = rolling ? onceHeader(NFT_TABLE) : '';
  return `#!/usr/sbin/nft -f
# pingknock rules for nftables: TCP port ${model.port} opens only to hosts that knocked with a ping.
#
# What it does: an ICMP echo request (${model.families.join(', ')}) carrying a key's pattern at its exact
# place adds its source address to a set for ${model.windowSeconds} s and is answered. New connections to
# port ${model.port} are accepted from addresses in that set, established ones are kept, all others
# are dropped. Where the pattern is looked for: ${describeLayouts(model)}.
# Keys: ${describeKeys(model)}.${once}
# IPv6 knockers are remembered by their /64. Flood bounds: one source may knock ${perSourcePerSecond} times a
# second, and knocks (new or repeated) are remembered at a pace that cannot fill a set (${NFT_SET_CAPACITY}
# entries) within one window; beyond that a knocker still in the set is answered, others get no
# reply and knock again.
#
# Load:    nft -f FILE   (loading it again replaces the table: the result is the same)
# Remove:  nft delete table inet ${NFT_TABLE}
# Knock by hand, without pingknock:
${[...manualKnocks(model, ['ipv4']), ...rollingByHand(model)].join('\n')}
#
# With an existing firewall: this table adds its own base chain on the input hook. nftables runs
# every base chain on a hook and a packet must pass all of them: an accept here does not override
# a drop elsewhere. So this table only ever drops port ${model.port} and knocks beyond the flood bounds;
# your own rules must still accept echo requests and port ${model.port} (a ruleset that allows ssh
# keeps working, and the knock decides who reaches it).

`;
}
