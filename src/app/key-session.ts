import { homedir, hostname, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { wholeSeconds } from '../core/duration.js';
import { PingknockError } from '../core/errors.js';
import { DEFAULT_STATE_DIR, REMOTE_ROLLBACK_SECONDS } from '../core/rules/apply.js';
import { checkedKeyName, defaultKeyName, type RuleKey } from '../core/rules/model.js';
import { DEFAULT_PERSIST_DIR } from '../core/rules/persist.js';
import { keyNames, type KeyRegistry } from '../core/rules/registry.js';
import { horizonState, isoDate, slotAt, STATIC_MODE, type KnockMode } from '../core/rolling.js';
import { parseAlias } from '../core/ssh-config/names.js';
import { readRecord, writeRecord, type EnrolledKey, type EnrollmentRecord } from '../edge/enroll-record.js';
import type { SshTarget } from '../core/remote-ssh.js';
import { RemoteServer } from '../edge/remote.js';
import { readSecretFile, secretPathFor } from '../edge/secret-source.js';
import { readRegistry } from '../edge/server-registry.js';
import { sshAliasView } from '../edge/ssh.js';
import { info } from './info.js';
import type { KeySession } from './key-change.js';
import type { Prover } from './proofs.js';

/**
 * Logging in to an enrolled alias's server for a change of its keys (renew, rotate, revoke,
 * keys, unenroll): through the knock, the alias's own or, with --via, another alias's of the same
 * server, and reading the server's key list.
 */

export function checkedRollback(seconds: number = REMOTE_ROLLBACK_SECONDS.default): number {
  const { min, max } = REMOTE_ROLLBACK_SECONDS;
  return wholeSeconds('rollback', seconds, min, max, ': long enough to prove the rules');
}

/** The command line every such command shares. */
export interface SessionRequest {
  readonly alias: string;
  /** `--config` as given: the ssh config (ssh -F) and the one whose ProxyCommand is rewritten. */
  readonly config?: string | undefined;
  /** `--via OTHER_ALIAS`: log in knocking as that alias. */
  readonly via?: string | undefined;
  /** As given; else what enroll used, else the defaults. */
  readonly stateDir?: string | undefined;
  readonly persistDir?: string | undefined;
  /** Unless given, REMOTE_ROLLBACK_SECONDS' default (`keys` changes nothing). */
  readonly rollbackSeconds?: number | undefined;
  /** `--key-name`: this alias's key, when enroll's record does not say (or says otherwise). */
  readonly keyName?: string | undefined;
}

export interface AliasSession extends KeySession {
  readonly alias: string;
  readonly configPath: string;
  readonly record: EnrollmentRecord | undefined;
  /** The alias's own key's name on the server. */
  readonly keyName: string;
  /** How ssh knocks the alias now, as its ProxyCommand says. */
  readonly mode: KnockMode;
}

/** The alias as ssh sees it: where it connects and how its ProxyCommand knocks. */
export async function aliasView(
  alias: string,
  configFile: string | undefined,
): Promise<{ readonly host: string; readonly mode: KnockMode }> {
  const answer = await sshAliasView(alias, configFile);
  if (answer.kind !== 'ok') return { host: alias, mode: STATIC_MODE };
  return { host: answer.view.hostName ?? alias, mode: answer.view.pingknock?.mode ?? STATIC_MODE };
}

/** The alias whose knock proves new rules: its secret, as its ProxyCommand reads it, and its mode. */
export async function proverFor(alias: string, configFile: string | undefined): Promise<Prover> {
  const secret = readSecretFile(secretPathFor(alias));
  return { alias, secret, mode: (await aliasView(alias, configFile)).mode };
}

export function ownKeyName(given: string | undefined, record: EnrollmentRecord | undefined): string {
  return checkedKeyName(given ?? record?.server?.key?.name ?? defaultKeyName(userInfo().username, hostname()));
}

export async function withAliasSession<T>(
  request: SessionRequest,
  use: (session: AliasSession) => Promise<T>,
): Promise<T> {
  const alias = parseAlias(request.alias);
  const via = request.via === undefined ? undefined : parseAlias(request.via);
  const rollbackSeconds = checkedRollback(request.rollbackSeconds);
  const configPath = resolve(request.config ?? join(homedir(), '.ssh', 'config'));
  const configFile = request.config === undefined ? undefined : configPath;
  const record = await readRecord(alias);
  const keyName = ownKeyName(request.keyName, record);
  const { host, mode } = await aliasView(alias, configFile);
  if (via === undefined || via === alias) refuseEndedHorizon(alias, mode);
  const target: SshTarget = { alias, configFile, via };
  const server = await RemoteServer.open(target, { knock: true });
  try {
    info(`logged in to ${alias} through the knock${via === undefined || via === alias ? '' : ` of ${via}`}`);
    const persistDir = request.persistDir ?? record?.server?.persistDir ?? DEFAULT_PERSIST_DIR;
    return await use({
      server,
      target,
      host,
      stateDir: request.stateDir ?? record?.server?.stateDir ?? DEFAULT_STATE_DIR,
      persistDir,
      rollbackSeconds,
      registry: await readRegistry(server, persistDir),
      alias,
      configPath,
      record,
      keyName,
      mode,
    });
  } finally {
    await server.close();
  }
}

/**
 * After its last day the alias's ProxyCommand exits without knocking, and a login through it would
 * fail with nothing but ssh's own words: say instead which way in is left.
 */
function refuseEndedHorizon(alias: string, mode: KnockMode): void {
  if (mode.kind !== 'rolling' || horizonState(slotAt(Date.now() / 1000).day, mode.lastDay) !== 'ended') return;
  throw new PingknockError(
    'horizonEnded',
    `one-time knocks for ${alias} ended on ${isoDate(mode.lastDay)}, so its own knock cannot log in: ` +
      `run pingknock renew ${alias} --via OTHER_ALIAS (another alias of this server whose knocks still work), ` +
      'or give this command that --via',
  );
}

/** The key list, which every command but enroll needs to be there. */
export function requireRegistry(session: AliasSession): KeyRegistry {
  const { registry } = session.registry;
  if (registry !== undefined) return registry;
  throw new PingknockError(
    'server',
    `${session.alias} has no key list (${session.registry.path}): it was not enrolled, or by a pingknock ` +
      `that knew one key per server; enroll it again first (pingknock enroll ${session.alias} --via ${session.alias})`,
  );
}

/** The entries of the session's own key (several while a rotation holds old and new); refuses when there are none. */
export function ownKeyEntries(session: AliasSession, registry: KeyRegistry): RuleKey[] {
  const own = registry.keys.filter((key) => key.name === session.keyName);
  if (own.length === 0) {
    throw new PingknockError(
      'usage',
      `${session.alias} has no key named ${session.keyName} (its keys: ${keyNames(registry.keys)}); ` +
        'pass the name with --key-name, or enroll again',
    );
  }
  return own;
}

/** Keeps what enroll's record says of the alias's key up to date (a record there is: else nothing to keep). */
export async function recordKey(alias: string, key: EnrolledKey): Promise<void> {
  const record = await readRecord(alias);
  if (record?.server === undefined) return;
  await writeRecord(alias, { ...record, server: { ...record.server, key } });
}
