import type { Family, PingLayout } from '../layout.js';
import { PATTERN_BYTES, PING_LAYOUTS } from '../layout.js';
import type { Secret } from '../secret.js';
import { secretToHex } from '../secret.js';
import { isoDate, rollingPatternHex, SLOTS_PER_DAY } from '../rolling.js';
import { PingknockError } from '../errors.js';
import { wholeSeconds } from '../duration.js';

/**
 * One secret the server admits, by name (one per person or machine). A static key is matched as
 * the secret's own 16 bytes at every layout's offset, every time. A rolling key holds no secret,
 * only the patterns derived from it (src/core/rolling.ts) for each slot of `days` UTC days from
 * `firstDay`: the server then holds nothing it could not already use, and each pattern works in
 * its own slot (and the slots either side, for clock skew), once.
 */
export type RuleKey = StaticKey | RollingKey;

export interface StaticKey {
  readonly kind: 'static';
  /** KEY_NAME_PATTERN; several entries may share a name (a rotation holds old and new). */
  readonly name: string;
  /** The secret's 16 bytes as 32 lowercase hex digits (what `ping -p` takes). */
  readonly patternHex: string;
}

export interface RollingKey {
  readonly kind: 'rolling';
  readonly name: string;
  /** The first UTC day, counted in days since 1970-01-01 (src/core/rolling.ts's Slot.day). */
  readonly firstDay: number;
  /** How many days from firstDay have patterns: 1 to MAX_HORIZON_DAYS. */
  readonly days: number;
  /**
   * patterns[d][s] is the pattern of slot s of day firstDay + d, 32 lowercase hex digits:
   * `days` arrays of SLOTS_PER_DAY each.
   */
  readonly patterns: readonly (readonly string[])[];
}

/**
 * What the server's firewall must do, independent of the firewall that does it: an echo request
 * carrying one of `keys`' patterns at one of `layouts`' offsets marks its source as knocked for
 * `windowSeconds` and is answered; the protected port accepts established traffic and knocked
 * sources, and drops everyone else.
 */
export interface KnockRuleModel {
  /** At least one. */
  readonly keys: readonly RuleKey[];
  readonly port: number;
  readonly windowSeconds: number;
  readonly families: readonly Family[];
  readonly layouts: readonly PingLayout[];
}

interface RuleSettings {
  readonly port: number;
  readonly windowSeconds: number;
  readonly families?: readonly Family[];
}

/**
 * The rules for a list of keys, or for one secret as a static key (named `keyName`, by default
 * DEFAULT_KEY_NAME): the form every server had before keys had names.
 */
export type RuleOptions = RuleSettings &
  ({ readonly keys: readonly RuleKey[] } | { readonly secret: Secret; readonly keyName?: string });

/** A key's name: what `revoke` and `keys` show and take, and what nft comments and the registry hold. */
export const KEY_NAME_PATTERN = /^[A-Za-z0-9._@-]{1,64}$/;
export const DEFAULT_KEY_NAME = 'default';
export const DEFAULT_HORIZON_DAYS = 30;
/** A year, leap years too; the ruleset's load time and kernel memory grow with it (see the README). */
export const MAX_HORIZON_DAYS = 366;

export function checkedKeyName(name: string): string {
  if (!KEY_NAME_PATTERN.test(name)) {
    throw new PingknockError(
      'usage',
      `key name ${JSON.stringify(name.slice(0, 80))} must be 1 to 64 characters from A-Z a-z 0-9 . _ @ -`,
    );
  }
  return name;
}

/**
 * The default key name, `user@host`, with every character a key name cannot hold made `-` and cut
 * to 64: user and host names come from the system and may hold anything.
 */
export function defaultKeyName(user: string, host: string): string {
  const name = `${user}@${host}`.replace(/[^A-Za-z0-9._@-]/g, '-').slice(0, 64);
  return name === '@' ? DEFAULT_KEY_NAME : name;
}

export function staticKey(name: string, secret: Secret): StaticKey {
  return { kind: 'static', name: checkedKeyName(name), patternHex: secretToHex(secret) };
}

export function checkedHorizonDays(days: number): number {
  if (!Number.isInteger(days) || days < 1 || days > MAX_HORIZON_DAYS) {
    throw new PingknockError('usage', `horizon must be a whole number of days from 1 to ${MAX_HORIZON_DAYS}`);
  }
  return days;
}

/** The patterns of `secret` for every slot of [firstDay, firstDay + days). */
export function rollingKey(name: string, secret: Secret, firstDay: number, days: number): RollingKey {
  checkedHorizonDays(days);
  const patterns = Array.from({ length: days }, (_, d) =>
    Array.from({ length: SLOTS_PER_DAY }, (_, slot) => rollingPatternHex(secret, { day: firstDay + d, slot })),
  );
  return { kind: 'rolling', name: checkedKeyName(name), firstDay, days, patterns };
}

/** The last UTC day a rolling key's patterns cover, `YYYY-MM-DD` (the proxy's --rolling-until). */
export function rollingUntil(key: RollingKey): string {
  return isoDate(key.firstDay + key.days - 1);
}

const PATTERN_HEX = new RegExp(`^[0-9a-f]{${PATTERN_BYTES * 2}}$`);

/**
 * `value` (a registry as parsed from JSON, say) as a key list, every field checked: names and
 * patterns end up in firewall rules, so nothing unchecked may reach a renderer.
 */
export function checkedRuleKeys(value: unknown): RuleKey[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new PingknockError('usage', 'the rules need at least one key');
  }
  return value.map((entry: unknown, index) => checkedRuleKey(entry, index));
}

function checkedRuleKey(entry: unknown, index: number): RuleKey {
  const bad = (what: string): PingknockError => new PingknockError('usage', `key ${index + 1}: ${what}`);
  if (typeof entry !== 'object' || entry === null) throw bad('not an object');
  const key = entry as Record<string, unknown>;
  if (typeof key.name !== 'string') throw bad('no name');
  const name = checkedKeyName(key.name);
  const hex = (pattern: unknown): string => {
    if (typeof pattern !== 'string' || !PATTERN_HEX.test(pattern)) {
      throw bad(`${name}: a pattern is not ${PATTERN_BYTES * 2} lowercase hex digits`);
    }
    return pattern;
  };
  if (key.kind === 'static') return { kind: 'static', name, patternHex: hex(key.patternHex) };
  if (key.kind !== 'rolling') throw bad(`${name}: kind must be static or rolling`);
  const { firstDay, days, patterns } = key;
  if (typeof firstDay !== 'number' || !Number.isInteger(firstDay) || firstDay < 0) {
    throw bad(`${name}: firstDay must be a day number`);
  }
  if (typeof days !== 'number') throw bad(`${name}: no days`);
  checkedHorizonDays(days);
  if (!Array.isArray(patterns) || patterns.length !== days) throw bad(`${name}: needs patterns for ${days} days`);
  return {
    kind: 'rolling',
    name,
    firstDay,
    days,
    patterns: patterns.map((day: unknown) => {
      if (!Array.isArray(day) || day.length !== SLOTS_PER_DAY)
        throw bad(`${name}: a day needs ${SLOTS_PER_DAY} patterns`);
      return day.map(hex);
    }),
  };
}

/**
 * Bounds on what a holder of the secret can do with spoofed knocks: a full nftables set admits no
 * one new, and a full xt_recent list forgets its oldest entry, a real knocker's among them. Knocks
 * beyond these bounds get no reply, so a real client simply knocks again.
 */
export const FLOOD_LIMITS = {
  /**
   * Knocks per second from one source. One proxy sends at most 5 (one per 0.2 s), but one address
   * may run many at once: Ansible's forks without ControlPersist, an office behind one NAT address.
   * This bounds what a spoofed source makes the server answer (and a reflection at a victim).
   */
  perSourcePerSecond: 50,
  perSourceBurst: 100,
  /**
   * IPv6 knockers are remembered and rate-limited per /64, the block one host or link is given:
   * addresses from one /64 cost one entry, and filling a set takes that many networks.
   */
  ipv6Prefix: { length: 64, mask: 'ffff:ffff:ffff:ffff::' },
} as const;

/**
 * How many new knockers to admit per minute so that a set of `capacity` entries cannot fill within
 * one window: a tenth of it as a burst, the rest spread over the window.
 */
export function newKnockerLimit(
  capacity: number,
  windowSeconds: number,
): { readonly perMinute: number; readonly burst: number } {
  const burst = Math.max(1, Math.floor(capacity / 10));
  return { perMinute: Math.max(1, Math.floor(((capacity - burst) * 60) / windowSeconds)), burst };
}

/**
 * A knocker remembered less than this long ago is answered without being remembered again. Every
 * remembering, a refresh too, takes the pace of newKnockerLimit (were a refresh free, a flood could
 * keep its own entries fresh: fill the set over one window and hold it full, or leave a real
 * knocker the oldest on a `recent` list, the next forgotten); so a busy source (an Ansible run, an
 * office behind one address) must not spend that pace on every knock. Half the window: an
 * answered knock leaves at least that long to connect, while the pace has room.
 */
export function refreshAfterSeconds(windowSeconds: number): number {
  return Math.ceil(windowSeconds / 2);
}

export const DEFAULT_WINDOW_SECONDS = 60;
/** Longer than a day is no longer a knock; nftables and xt_recent both take it comfortably. */
export const MAX_WINDOW_SECONDS = 86_400;

export function buildRuleModel(options: RuleOptions): KnockRuleModel {
  const windowSeconds = wholeSeconds('window', options.windowSeconds, 1, MAX_WINDOW_SECONDS);
  return {
    keys:
      'keys' in options
        ? checkedRuleKeys(options.keys)
        : [staticKey(options.keyName ?? DEFAULT_KEY_NAME, options.secret)],
    port: options.port,
    windowSeconds,
    families: options.families ?? ['ipv4', 'ipv6'],
    layouts: [PING_LAYOUTS.iputils, PING_LAYOUTS.bsd],
  };
}
