/**
 * The one-time (rolling) keys' part of the nftables ruleset: a chain per day picked by `meta time`,
 * each day's set of `slot . pattern`, and the `once` chains that admit each pattern for one source.
 */
import type { KnockRuleModel, RollingKey } from './model.js';
import { dynamicSet, FAMILY_SYNTAX, payload, zeroTest, type FamilySyntax } from './nftables-syntax.js';
import type { Family } from '../layout.js';
import { PING_LAYOUTS, type PingLayout } from '../layout.js';
import { isoDate, SECONDS_PER_DAY, SLOT_SECONDS, SLOTS_PER_DAY, slotAfter, type Slot } from '../rolling.js';

/**
 * One-time knocks' state: `used` holds every pattern that opened the port, `usedby4`/`usedby6` the
 * pattern with the source that used it (IPv6 by its /64, as knockers are remembered), and the
 * `replays` counter counts the knocks refused as replays.
 */
export const NFT_ONCE = {
  used: 'used',
  usedBy: { ipv4: 'usedby4', ipv6: 'usedby6' },
  replays: 'replays',
} as const satisfies { used: string; usedBy: Readonly<Record<Family, string>>; replays: string };

/** A one-time pattern is accepted in its own slot and this many either side: clients' clocks drift. */
export const SKEW_SLOTS = 1;
/**
 * How long a used pattern is remembered: every slot it is accepted in, from the first to the end of
 * the last, so that no pattern is accepted twice (from another source) while it could be valid.
 */
export const ONCE_SECONDS = (2 * SKEW_SLOTS + 1) * SLOT_SECONDS;

/**
 * `meta hour` (seconds since UTC midnight, below 2^17) masked to its slot: the slot number shifted
 * left by 8, as the slot sets hold it. Derived, so that a change of SLOT_SECONDS cannot go unnoticed.
 */
const SLOT_MASK = (2 ** Math.ceil(Math.log2(SECONDS_PER_DAY)) - 1) & ~(SLOT_SECONDS - 1);

/** The sets, counter and chains of the one-time keys (see renderNftables). */
export function renderRolling(model: KnockRuleModel, keys: readonly RollingKey[]): string {
  const families = model.families.map((family) => FAMILY_SYNTAX[family]);
  // Typed by the iputils offset; nft compares only type and length, so BSD's offset uses them too.
  const pattern = payload(PING_LAYOUTS.iputils);
  const state = [
    dynamicSet(NFT_ONCE.used, `typeof ${pattern}`, ONCE_SECONDS),
    ...families.map((f) => dynamicSet(NFT_ONCE.usedBy[f.family], `typeof ${pattern} . ${f.sourceType}`, ONCE_SECONDS)),
    `\tcounter ${NFT_ONCE.replays} {\n\t}\n\n`,
  ];
  const once = families.flatMap((f) =>
    model.layouts.map((layout) => {
      const at = payload(layout);
      const usedBy = NFT_ONCE.usedBy[f.family];
      return (
        `\tchain ${onceChain(layout, f)} {\n` +
        `\t\t${at} . ${f.source} @${usedBy} goto ${f.chain} comment "resent by the source that used it"\n` +
        `\t\t${at} @${NFT_ONCE.used} counter name "${NFT_ONCE.replays}" accept ` +
        'comment "replayed: answered, opens nothing"\n' +
        `\t\tadd @${NFT_ONCE.used} { ${at} } add @${usedBy} { ${at} . ${f.source} } goto ${f.chain} ` +
        'comment "first use"\n' +
        '\t}\n\n'
      );
    }),
  );
  const days = [...new Set(keys.flatMap((key) => Array.from({ length: key.days }, (_, d) => key.firstDay + d)))].sort(
    (a, b) => a - b,
  );
  const lookups = days.map((day) => {
    const date = isoDate(day);
    const elements = slotElements(keys, day).join(',\n\t\t\t');
    const rules = families.flatMap((f) =>
      model.layouts.map(
        (layout) =>
          `\t\tmeta nfproto ${f.family} ${zeroTest(layout)}meta hour & 0x${SLOT_MASK.toString(16)} . ` +
          `${payload(layout)} @slots-${date} goto ${onceChain(layout, f)}\n`,
      ),
    );
    return (
      `\tset slots-${date} {\n\t\ttypeof meta hour . ${pattern}\n\t\telements = {\n\t\t\t${elements}\n\t\t}\n\t}\n\n` +
      `\tchain day-${date} {\n${rules.join('')}\t}\n\n`
    );
  });
  // meta time takes seconds since the epoch; `<` leaves no gap between consecutive days.
  const dispatch = days.map(
    (day) =>
      `\t\tmeta time >= ${day * SECONDS_PER_DAY} meta time < ${(day + 1) * SECONDS_PER_DAY} goto day-${isoDate(day)}\n`,
  );
  return [...state, ...once, ...lookups, `\tchain rolling {\n${dispatch.join('')}\t}\n\n`].join('');
}

/** The header's paragraph on one-time keys: how long a pattern works, for whom, and how replays show. */
export function onceHeader(table: string): string {
  const [skew, slot] = [SKEW_SLOTS, SLOT_SECONDS];
  return `
# One-time keys: a pattern works from ${skew} slot before its own ${slot}-s slot of the UTC day to ${skew} after
# (clock skew), for the first source that uses it: a resend from there works, the same pattern from any
# other source is answered, opens nothing and is counted (nft list counter inet ${table} ${NFT_ONCE.replays}).
# Used patterns are forgotten on a reload or reboot. After a key's last day its knocks open nothing:
# renew it before (pingknock renew ALIAS).`;
}

function onceChain(layout: PingLayout, f: FamilySyntax): string {
  return `once-${layout.name}${f.suffix}`;
}

/**
 * The day's set: for each slot of the day, the slot (shifted as `meta hour & SLOT_MASK` gives it)
 * with every key's pattern of that slot and of the SKEW_SLOTS either side, across day boundaries
 * where the key has that day.
 */
function slotElements(keys: readonly RollingKey[], day: number): string[] {
  const elements = new Set<string>();
  for (let slot = 0; slot < SLOTS_PER_DAY; slot += 1) {
    for (let offset = -SKEW_SLOTS; offset <= SKEW_SLOTS; offset += 1) {
      const at = slotAfter({ day, slot }, offset);
      for (const key of keys) {
        const hex = patternOf(key, at);
        if (hex !== undefined) elements.add(`${slot * SLOT_SECONDS} . 0x${hex}`);
      }
    }
  }
  return [...elements];
}

function patternOf(key: RollingKey, at: Slot): string | undefined {
  return key.patterns[at.day - key.firstDay]?.[at.slot];
}
