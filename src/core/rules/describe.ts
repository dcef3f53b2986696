import type { KnockRuleModel } from './model.js';
import { rollingUntil } from './model.js';
import type { Family } from '../layout.js';
import { isoDate, SLOT_SECONDS } from '../rolling.js';

const LAYOUT_NAMES = { iputils: 'Linux iputils ping', bsd: 'BSD/macOS ping' } as const;

/** "Linux iputils ping: payload byte 16; BSD/macOS ping: payload byte 8", for header comments. */
export function describeLayouts(model: KnockRuleModel): string {
  return model.layouts.map((layout) => `${LAYOUT_NAMES[layout.name]}: payload byte ${layout.patternOffset}`).join('; ');
}

/** "alice@laptop (static), bob@desk (one-time, 2024-05-01 to 2024-05-30)", for header comments. */
export function describeKeys(model: KnockRuleModel): string {
  return model.keys
    .map((key) =>
      key.kind === 'static'
        ? `${key.name} (static)`
        : `${key.name} (one-time, ${isoDate(key.firstDay)} to ${rollingUntil(key)})`,
    )
    .join(', ');
}

/**
 * The knocks without pingknock, one comment line per key, as every rules file's header shows them.
 * A static key's pattern is its secret (the server's copy); a one-time key's is computed for the
 * moment, on the client, from the secret the server never sees (rollingByHand).
 */
export function manualKnocks(model: KnockRuleModel, families: readonly Family[]): string[] {
  return model.keys.map((key) => {
    const pattern = key.kind === 'static' ? key.patternHex : '"$(pingknock pattern ALIAS)"';
    const pings = families.map((family) => `ping${family === 'ipv6' ? ' -6' : ''} -c1 -p ${pattern} HOST`);
    return `#   ${key.name}: ${pings.join('  or  ')}`;
  });
}

/**
 * For the header of a file with one-time keys: the pattern of this moment without pingknock,
 * from the client's secret file (the manual form of src/core/rolling.ts, version 1).
 */
export function rollingByHand(model: KnockRuleModel): string[] {
  if (!model.keys.some((key) => key.kind === 'rolling')) return [];
  return [
    `#   A one-time pattern without pingknock (${SLOT_SECONDS}-s slots of the UTC day), on the client:`,
    `#     printf 'pingknock-v1 %s %d' "$(date -u +%F)" $(( $(date -u +%s) % 86400 / ${SLOT_SECONDS} )) \\`,
    `#       | openssl dgst -sha256 -hmac "$(cat ~/.ssh/pingknock/ALIAS)" | sed 's/.*= //' | cut -c1-32`,
  ];
}
