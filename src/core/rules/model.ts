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
