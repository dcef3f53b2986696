import { promises as fs } from 'node:fs';
import { PingknockError } from '../core/errors.js';
import { removeScript, SCRIPT_EXIT } from '../core/rules/apply.js';
import type { EnrollBackend, EnrollBackendChoice } from '../core/rules/detect.js';
import { persistCheckScript, unpersistScript } from '../core/rules/persist.js';
import { keyNames, withoutKey } from '../core/rules/registry.js';
import { withoutUfwBlocks } from '../core/rules/ufw.js';
import { STATIC_MODE } from '../core/rolling.js';
import { removeSetupAddition } from '../core/ssh-config/remove.js';
import { readSnapshot, replaceFile } from '../edge/files.js';
import { secretPathFor } from '../edge/secret-source.js';
import { removeRecord, type EnrollmentRecord } from '../edge/enroll-record.js';
import { refusedOn } from '../core/remote-ssh.js';
import { lastLines } from '../core/target.js';
import { installedBackends } from './enroll-plan.js';
import { writeKnockMode } from './knock-mode.js';
import { info } from './info.js';
import { changeKeys, readUfwFiles, serverFamilies } from './key-change.js';
import { proverFor, withAliasSession, type AliasSession, type SessionRequest } from './key-session.js';

export interface UnenrollRequest extends SessionRequest {
  /** The firewall to take the rules out of; auto: the key list's, else enroll's, else each one holding them. */
  readonly backend: EnrollBackendChoice;
  readonly purge: boolean;
}

/**
 * `pingknock unenroll`: through the knock (the port is protected), takes this alias's key off the
 * server: the others' keys stay, their rules applied and proven as by enroll; with no key left,
 * pingknock's rules and their boot persistence go altogether. Then, the lines enroll's setup
 * added come out of the ssh config. The secret stays unless `purge`.
 */
export async function runUnenroll(request: UnenrollRequest): Promise<void> {
  const { alias, configPath, record, left } = await withAliasSession(request, async (session) => ({
    ...session,
    left: await removeFromServer(session, request),
  }));
  const stillKnocks = await removeConfigLines(alias, configPath, record);
  if (request.purge) {
    const secretPath = secretPathFor(alias);
    await fs.rm(secretPath, { force: true });
    info(`removed the secret ${secretPath}`);
  }
  await removeRecord(alias);
  const client = stillKnocks ? `ssh ${alias} keeps the lines it had before enroll` : `ssh ${alias} no longer knocks`;
  info(
    left.length === 0
      ? `${alias} is unenrolled: pingknock's rules are off the server, and ${client}`
      : `${alias} is unenrolled: its key is off the server, which keeps ${left.join(', ')}; ${client}`,
  );
}

/** Takes the alias's key off the server; returns the keys left there. */
async function removeFromServer(session: AliasSession, request: UnenrollRequest): Promise<readonly string[]> {
  const { server, record, alias, keyName } = session;
  const registry = session.registry.registry;
  if (registry !== undefined) {
    const left = withoutKey(registry.keys, keyName);
    if (left.length === registry.keys.length) {
      info(`${alias} has no key named ${keyName} (its keys: ${keyNames(registry.keys)}); its rules stay as they are`);
      return left.map((key) => key.name);
    }
    if (left.length > 0) {
      // The proof's knocked login needs a key that stays: another alias's, with --via.
      const via = session.target.via;
      await changeKeys(session, {
        ...registry,
        keys: left,
        prover: via === undefined || via === alias ? undefined : await proverFor(via, session.target.configFile),
        hadRules: true,
      });
      info(`took the key ${keyName} off ${alias}`);
      return left.map((key) => key.name);
    }
  }
  const backends =
    request.backend !== 'auto'
      ? [request.backend]
      : registry !== undefined
        ? [registry.backend]
        : record?.server !== undefined
          ? [record.server.backend]
          : await installedBackends(server);
  if (backends.length === 0) info(`found none of pingknock's rules on ${alias}`);
  for (const backend of backends) await removeRules(session, backend);
  return [];
}

async function removeRules(session: AliasSession, backend: EnrollBackend): Promise<void> {
  const { server, stateDir, persistDir } = session;
  const ufwFiles = backend === 'ufw' ? withoutUfwBlocks(await readUfwFiles(server, ['ipv4', 'ipv6'])) : {};
  // The rules first: for iptables, the boot copy is then saved without them. Before both, the
  // persist folder's checks: refused after the rules went, it would leave their boot copy behind.
  const families = serverFamilies(backend, (await server.ipv6()).enabled);
  const persist = { backend, persistDir, families };
  const result = await server.script(
    persistCheckScript(persist) + removeScript({ backend, families, stateDir, ufwFiles }) + unpersistScript(persist),
    'master',
  );
  if (result.code === SCRIPT_EXIT.unsafe) throw refusedOn(server.alias, result.stderr);
  if (result.code !== 0) {
    throw new PingknockError(
      'firewall',
      `removing pingknock's ${backend} rules from ${server.alias} failed: ` +
        (lastLines(result.stderr) || `exit ${result.code}`),
    );
  }
  info(`removed pingknock's ${backend} rules from ${server.alias}`);
  for (const line of result.stdout
    .toString()
    .split('\n')
    .filter((text) => text !== ''))
    info(line);
}

/**
 * Takes out what enroll's setup added, byte-exact; without a record of it, only pingknock's
 * ProxyCommand. Lines that were there before enroll stay, with static knocks again: enroll may have
 * made them one-time, and their end date would fail every ssh to the alias once it passed, long
 * after the rules that needed them are gone. Returns whether the alias still goes through pingknock.
 */
async function removeConfigLines(
  alias: string,
  configPath: string,
  record: EnrollmentRecord | undefined,
): Promise<boolean> {
  const recorded = record?.config === configPath ? record : undefined;
  if (recorded !== undefined && recorded.configAddition === null) {
    info(`${configPath} had pingknock's lines for ${alias} before enroll; they stay`);
    // The server is done with by now: a config that cannot be edited is told of, not a failure.
    await writeKnockMode(alias, configPath, STATIC_MODE).catch((error: unknown) =>
      info(`left ${alias}'s ProxyCommand as it is (${(error as Error).message}): remove a --rolling-until by hand`),
    );
    return true;
  }
  const snapshot = await readSnapshot(configPath);
  if (snapshot.content === undefined) {
    info(`there is no ${configPath}; nothing to take out`);
    return false;
  }
  // latin1 maps each byte to one character and back, as setup reads it.
  const removal = removeSetupAddition(
    snapshot.content.toString('latin1'),
    alias,
    recorded?.configAddition ?? undefined,
  );
  if (removal.kind === 'refused') throw new PingknockError('io', `${configPath}: ${removal.message}`);
  if (removal.kind === 'unchanged') {
    info(`${configPath} has no lines of pingknock's for ${alias}`);
    return false;
  }
  await replaceFile(snapshot, Buffer.from(removal.text, 'latin1'), 0o600);
  if (recorded === undefined)
    info(`no record of what enroll added to ${configPath}: took out only pingknock's ProxyCommand for ${alias}`);
  for (const line of removal.removed)
    info(`took out of ${configPath} line ${line.number}: ${line.text.trim() === '' ? '(blank)' : line.text.trim()}`);
  for (const line of removal.restored) info(`took the replaced-by mark off line ${line.number}: ${line.text.trim()}`);
  return false;
}
