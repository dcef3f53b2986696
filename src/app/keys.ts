import { PingknockError } from '../core/errors.js';
import { checkedKeyName } from '../core/rules/model.js';
import { keyNames, keyTable, withoutKey } from '../core/rules/registry.js';
import { info } from './info.js';
import { changeKeys } from './key-change.js';
import { proverFor, requireRegistry, withAliasSession, type SessionRequest } from './key-session.js';

/** `pingknock keys`: the server's keys, as a table for stdout. */
export async function runKeys(request: SessionRequest): Promise<string> {
  return withAliasSession(request, (session) => {
    const registry = requireRegistry(session);
    info(
      `${session.alias}'s ${registry.backend} rules guard port ${registry.port}, ` +
        `a knock opening it for ${registry.windowSeconds} s`,
    );
    return Promise.resolve(keyTable(registry.keys, session.keyName));
  });
}

export interface RevokeRequest extends SessionRequest {
  /** The key to take off the server: another's, never the alias's own. */
  readonly revoked: string;
}

/**
 * `pingknock revoke`: another key off the server, whose rules for the rest are applied and
 * proven as by enroll (the alias's own knock, or --via's, still gets in).
 */
export async function runRevoke(request: RevokeRequest): Promise<void> {
  const revoked = checkedKeyName(request.revoked);
  await withAliasSession(request, async (session) => {
    const { alias } = session;
    if (revoked === session.keyName) {
      throw new PingknockError(
        'usage',
        `${revoked} is ${alias}'s own key: pingknock unenroll ${alias} takes it off the server`,
      );
    }
    const registry = requireRegistry(session);
    const keys = withoutKey(registry.keys, revoked);
    if (keys.length === registry.keys.length) {
      throw new PingknockError('usage', `${alias} has no key named ${revoked}; its keys: ${keyNames(registry.keys)}`);
    }
    const prover = await proverFor(session.target.via ?? alias, session.target.configFile);
    await changeKeys(session, { ...registry, keys, prover, hadRules: true });
    info(`revoked ${revoked} on ${alias}: its knocks open nothing now; ${keyNames(keys)} still get in`);
  });
}
