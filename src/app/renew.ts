import { PingknockError } from '../core/errors.js';
import { checkedHorizonDays, DEFAULT_HORIZON_DAYS, rollingKey } from '../core/rules/model.js';
import { withKey } from '../core/rules/registry.js';
import { isoDate, slotAt, type KnockMode } from '../core/rolling.js';
import { readSecretFile, secretPathFor } from '../edge/secret-source.js';
import { enrolledKey } from './enroll-plan.js';
import { info } from './info.js';
import { changeKeys } from './key-change.js';
import { ownKeyEntries, recordKey, requireRegistry, withAliasSession, type SessionRequest } from './key-session.js';
import { withKnockMode } from './knock-mode.js';

export interface RenewRequest extends SessionRequest {
  /** `--horizon`: days of patterns from today; else as many as enroll (or the last renew) loaded. */
  readonly horizonDays?: number | undefined;
}

/**
 * `pingknock renew`: the alias's one-time patterns for a new horizon from today, in place of its
 * key's old ones, through the same apply, proof and confirm as enroll; the ProxyCommand's last day
 * moves along.
 */
export async function runRenew(request: RenewRequest): Promise<void> {
  await withAliasSession(request, async (session) => {
    const { alias, keyName } = session;
    const registry = requireRegistry(session);
    const own = ownKeyEntries(session, registry);
    if (!own.some((key) => key.kind === 'rolling')) {
      throw new PingknockError(
        'usage',
        `${alias}'s key ${keyName} knocks with its static secret, which has no horizon to renew` +
          (registry.backend === 'nftables' ? `; pingknock enroll ${alias} --via ${alias} makes it one-time` : ''),
      );
    }
    const horizonDays = checkedHorizonDays(
      request.horizonDays ?? session.record?.server?.key?.horizonDays ?? DEFAULT_HORIZON_DAYS,
    );
    const secret = readSecretFile(secretPathFor(alias));
    const today = slotAt(Date.now() / 1000).day;
    const mode: KnockMode = { kind: 'rolling', lastDay: today + horizonDays - 1 };
    const keys = withKey(registry.keys, rollingKey(keyName, secret, today, horizonDays));
    await withKnockMode(alias, session.configPath, { from: session.mode, to: mode }, () =>
      changeKeys(session, { ...registry, keys, prover: { alias, secret, mode }, hadRules: true }),
    );
    await recordKey(alias, enrolledKey(keyName, mode, horizonDays));
    info(`renewed: one-time knocks for ${alias} now run through ${isoDate(mode.lastDay)}`);
  });
}
