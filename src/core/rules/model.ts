import type { Family, PingLayout } from '../layout.js';
import { PING_LAYOUTS } from '../layout.js';
import type { Secret } from '../secret.js';
import { secretToHex } from '../secret.js';
import { PingknockError } from '../errors.js';

/**
 * What the server's firewall must do, independent of the firewall that does it:
 * an echo request carrying the secret at one of `layouts`' offsets marks its source as knocked
 * for `windowSeconds` and is answered; the protected port accepts established traffic and
 * knocked sources, and drops everyone else.
 */
export interface KnockRuleModel {
  readonly patternHex: string;
  readonly port: number;
  readonly windowSeconds: number;
  readonly families: readonly Family[];
  readonly layouts: readonly PingLayout[];
}

export interface RuleOptions {
  readonly secret: Secret;
  readonly port: number;
  readonly windowSeconds: number;
  readonly families?: readonly Family[];
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
  const { windowSeconds } = options;
  if (!Number.isInteger(windowSeconds) || windowSeconds < 1 || windowSeconds > MAX_WINDOW_SECONDS) {
    throw new PingknockError('usage', `window must be a whole number of seconds from 1 to ${MAX_WINDOW_SECONDS}`);
  }
  return {
    patternHex: secretToHex(options.secret),
    port: options.port,
    windowSeconds,
    families: options.families ?? ['ipv4', 'ipv6'],
    layouts: [PING_LAYOUTS.iputils, PING_LAYOUTS.bsd],
  };
}
