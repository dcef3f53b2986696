import { createHmac } from 'node:crypto';
import { secretToHex, type Secret } from './secret.js';

/**
 * One-time (rolling) knock patterns, format version 1. The pattern for a slot is the first 16
 * bytes of HMAC-SHA256, keyed with the secret's 16 characters, over the ASCII message
 * `pingknock-v1 YYYY-MM-DD S`: the UTC date and the slot of that day, in decimal without leading
 * zeros. A slot is 256 seconds of the UTC day (nftables' `meta hour` is seconds since UTC
 * midnight, and `& 0x1ff00` gives the slot shifted by 8), so a day has 338 slots, the last one 128 s.
 * Any change to the message is a new version, never an edit of this one.
 */
export const ROLLING_VERSION = 'pingknock-v1';
export const SLOT_SECONDS = 256;
export const SECONDS_PER_DAY = 86_400;
export const SLOTS_PER_DAY = Math.ceil(SECONDS_PER_DAY / SLOT_SECONDS);

/** A slot of a UTC day: `day` counts days since 1970-01-01, `slot` the 256-second slots of that day. */
export interface Slot {
  readonly day: number;
  readonly slot: number;
}

export function slotAt(unixSeconds: number): Slot {
  const whole = Math.floor(unixSeconds);
  const day = Math.floor(whole / SECONDS_PER_DAY);
  return { day, slot: Math.floor((whole - day * SECONDS_PER_DAY) / SLOT_SECONDS) };
}

/** The slot `offset` slots after (or, negative, before) `from`, across day boundaries. */
export function slotAfter(from: Slot, offset: number): Slot {
  const index = from.day * SLOTS_PER_DAY + from.slot + offset;
  const day = Math.floor(index / SLOTS_PER_DAY);
  return { day, slot: index - day * SLOTS_PER_DAY };
}

/** The UTC date of a day number, as `date -u +%F` prints it. */
export function isoDate(day: number): string {
  return new Date(day * SECONDS_PER_DAY * 1000).toISOString().slice(0, 10);
}

export function rollingMessage(at: Slot): string {
  return `${ROLLING_VERSION} ${isoDate(at.day)} ${at.slot}`;
}

/** The 16-byte pattern for one slot, as the 32 lowercase hex digits `ping -p` takes. */
export function rollingPatternHex(secret: Secret, at: Slot): string {
  return createHmac('sha256', secret).update(rollingMessage(at), 'ascii').digest().subarray(0, 16).toString('hex');
}

/**
 * How a host is knocked, as its ProxyCommand records it: with the secret itself (static), or with
 * one-time patterns, which the server's rules hold through `lastDay` (a day number, UTC).
 */
export type KnockMode = { readonly kind: 'static' } | { readonly kind: 'rolling'; readonly lastDay: number };

export const STATIC_MODE: KnockMode = { kind: 'static' };

/** The day number of a UTC date written `YYYY-MM-DD`; undefined for any other text or a day no calendar has. */
export function parseIsoDate(text: string): number | undefined {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(text)) return undefined;
  const day = Date.parse(`${text}T00:00:00Z`) / (SECONDS_PER_DAY * 1000);
  // Date.parse takes 2025-02-30 as 2 March: only a date that prints back as given is one.
  return Number.isInteger(day) && isoDate(day) === text ? day : undefined;
}

const ISO_TIME = /^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2}(?:\.\d+)?))?(?:([Zz])|([+-])(\d{2}):?(\d{2}))$/;

/**
 * Unix seconds of an ISO-8601 time that names its zone (`2025-03-01T12:00:00Z`, `...+01:00`):
 * without one the moment would depend on the machine's zone, and a pattern is valid for a few
 * minutes only. Undefined for anything else.
 */
export function parseIsoTime(text: string): number | undefined {
  const match = ISO_TIME.exec(text);
  if (match === null) return undefined;
  const [, date = '', hours = '', minutes = '', seconds = '0', utc, sign, offsetHours = '0', offsetMinutes = '0'] =
    match;
  const day = parseIsoDate(date);
  const [h, m, s, oh, om] = [hours, minutes, seconds, offsetHours, offsetMinutes].map(Number) as [
    number,
    number,
    number,
    number,
    number,
  ];
  if (day === undefined || h > 23 || m > 59 || s >= 60 || oh > 23 || om > 59) return undefined;
  const offset = utc === undefined ? (sign === '-' ? -1 : 1) * (oh * 3600 + om * 60) : 0;
  return day * SECONDS_PER_DAY + h * 3600 + m * 60 + s - offset;
}

/** How many days before the last one the proxy starts to warn: a week of logins to notice it in. */
export const HORIZON_WARNING_DAYS = 7;

/**
 * Where `today` stands against the last day the server's rules hold patterns for: `ending` from
 * HORIZON_WARNING_DAYS before it through that day, `ended` after it, when every knock fails.
 */
export function horizonState(today: number, lastDay: number): 'open' | 'ending' | 'ended' {
  if (today > lastDay) return 'ended';
  return lastDay - today <= HORIZON_WARNING_DAYS ? 'ending' : 'open';
}

export function horizonWarning(alias: string, lastDay: number): string {
  return `one-time knocks for ${alias} end on ${isoDate(lastDay)}: run pingknock renew ${alias}`;
}

export function horizonEndedMessage(alias: string, lastDay: number): string {
  return (
    `one-time knocks for ${alias} ended on ${isoDate(lastDay)}: the server's rules hold no pattern after that day, ` +
    `so no knock opens it. Run pingknock renew ${alias} --via OTHER_ALIAS (another alias of this server whose ` +
    "knocks still work), or load new rules from the server's console (pingknock rules --rolling); if they were " +
    `renewed from another machine, record their last day here: pingknock setup ${alias} --rolling-until YYYY-MM-DD`
  );
}

/**
 * What a knock at `unixSeconds` sends: the secret itself, or the pattern of the slot, with the
 * next slot's as a second try (the server accepts it too, for clock skew) for when the first was
 * spent from another address.
 */
export function knockPatterns(
  secret: Secret,
  mode: KnockMode,
  unixSeconds: number,
): { readonly first: string; readonly next: string | undefined } {
  if (mode.kind === 'static') return { first: secretToHex(secret), next: undefined };
  const slot = slotAt(unixSeconds);
  return { first: rollingPatternHex(secret, slot), next: rollingPatternHex(secret, slotAfter(slot, 1)) };
}
