import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { PingknockError } from '../core/errors.js';
import { checkedHorizonDays, DEFAULT_HORIZON_DAYS, rollingKey, staticKey, type RuleKey } from '../core/rules/model.js';
import { slotAt, STATIC_MODE, type KnockMode } from '../core/rolling.js';
import { SECRET_RANDOM_BYTES, secretFromRandomBytes, type Secret } from '../core/secret.js';
import { exists, writeNewFile } from '../edge/files.js';
import { readSecretFile, secretDirectory, secretPathFor } from '../edge/secret-source.js';
import { enrolledKey } from './enroll-plan.js';
import { info } from './info.js';
import { changeKeys } from './key-change.js';
import {
  ownKeyEntries,
  recordKey,
  requireRegistry,
  withAliasSession,
  type AliasSession,
  type SessionRequest,
} from './key-session.js';
import { withKnockMode } from './knock-mode.js';

/**
 * `pingknock rotate`: a new secret for the alias, without a moment in which its knock fails. The
 * new key goes on the server beside the old one (same name), and a real knocked login with the
 * new secret proves it; then a second change retires the old entry, proven the same way. The old
 * secret file is kept aside until the end, and put back should anything fail.
 */
export async function runRotate(request: SessionRequest): Promise<void> {
  await withAliasSession(request, async (session) => {
    const { alias, keyName } = session;
    const registry = requireRegistry(session);
    const own = ownKeyEntries(session, registry);
    const secretPath = secretPathFor(alias);
    readSecretFile(secretPath);
    const secret = secretFromRandomBytes(randomBytes(SECRET_RANDOM_BYTES));
    const rolling = own.some((key) => key.kind === 'rolling');
    const horizonDays = checkedHorizonDays(session.record?.server?.key?.horizonDays ?? DEFAULT_HORIZON_DAYS);
    const today = slotAt(Date.now() / 1000).day;
    const fresh = rolling ? rollingKey(keyName, secret, today, horizonDays) : staticKey(keyName, secret);
    const mode: KnockMode = rolling ? { kind: 'rolling', lastDay: today + horizonDays - 1 } : STATIC_MODE;
    await withSecretAside(secretPath, alias, secret, () =>
      withKnockMode(alias, session.configPath, { from: session.mode, to: mode }, () =>
        retire(session, [...registry.keys, fresh], fresh, { alias, secret, mode }),
      ),
    );
    await recordKey(alias, enrolledKey(keyName, mode, horizonDays));
    info(`rotated: ${alias} knocks with a new secret, and the old one opens nothing`);
  });
}

/** The two changes: the new key beside the old, proven; then the old entries gone, proven again. */
async function retire(
  session: AliasSession,
  both: readonly RuleKey[],
  fresh: RuleKey,
  prover: { readonly alias: string; readonly secret: Secret; readonly mode: KnockMode },
): Promise<void> {
  const registry = requireRegistry(session);
  const added = await changeKeys(session, { ...registry, keys: both, prover, hadRules: true });
  info(`the new secret knocks: retiring the old one of ${session.keyName}`);
  const keys = both.filter((key) => key.name !== session.keyName || key === fresh);
  await changeKeys({ ...session, registry: added }, { ...registry, keys, prover, hadRules: true });
}

/**
 * Runs `action` with the new secret in the alias's file, where its ProxyCommand reads it, and the
 * old one aside in ~/.ssh/pingknock/.rotating/; put back should `action` fail, removed once it is done.
 */
async function withSecretAside<T>(
  secretPath: string,
  alias: string,
  secret: Secret,
  action: () => Promise<T>,
): Promise<T> {
  const aside = join(secretDirectory(), '.rotating', alias);
  if (await exists(aside)) {
    throw new PingknockError(
      'io',
      `${aside} holds a secret of ${alias} from a rotate that did not finish: ` +
        `see which of it and ${secretPath} gets in (ssh ${alias}), keep that one in ${secretPath}, ` +
        `and remove ${aside}`,
    );
  }
  try {
    await fs.mkdir(join(secretDirectory(), '.rotating'), { recursive: true, mode: 0o700 });
    await fs.rename(secretPath, aside);
  } catch (error) {
    throw new PingknockError(
      'io',
      `cannot move ${secretPath} aside to ${aside} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  try {
    await writeNewFile(secretPath, `${secret}\n`, 0o600);
    const result = await action();
    await fs.rm(aside, { force: true });
    return result;
  } catch (error) {
    await fs
      .rename(aside, secretPath)
      .catch((undo: unknown) =>
        info(`could not put the old secret back from ${aside} (${(undo as Error).message}): move it back by hand`),
      );
    throw error;
  }
}
