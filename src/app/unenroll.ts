import { promises as fs } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { PingknockError } from '../core/errors.js';
import { DEFAULT_STATE_DIR, removeScript, SCRIPT_EXIT } from '../core/rules/apply.js';
import {
  ENROLL_BACKENDS,
  installedBackendsScript,
  type EnrollBackend,
  type EnrollBackendChoice,
} from '../core/rules/detect.js';
import { DEFAULT_PERSIST_DIR, persistCheckScript, unpersistScript } from '../core/rules/persist.js';
import { removeUfwBlock, withoutUfwBlocks } from '../core/rules/ufw.js';
import { parseAlias } from '../core/ssh-config/names.js';
import { removeSetupAddition } from '../core/ssh-config/remove.js';
import { readSnapshot, replaceFile } from '../edge/files.js';
import { secretPathFor } from '../edge/secret-source.js';
import { readRecord, removeRecord, type EnrollmentRecord } from '../edge/enroll-record.js';
import { lastLines } from '../edge/exec.js';
import { RemoteServer } from '../edge/remote.js';
import { info } from './info.js';
import { readUfwFiles, refusedOn, serverFamilies } from './enroll.js';

export interface UnenrollRequest {
  readonly alias: string;
  /** `--config` as given: the ssh config to take pingknock's lines out of (and ssh -F). */
  readonly config?: string | undefined;
  readonly backend: EnrollBackendChoice;
  /** As given; else what enroll used, else the defaults. */
  readonly stateDir?: string | undefined;
  readonly persistDir?: string | undefined;
  readonly purge: boolean;
}

/**
 * `pingknock unenroll`: through the knock (the port is protected), takes pingknock's rules and
 * their boot persistence off the server; then, the server open again, the lines enroll's setup
 * added out of the ssh config. The secret stays unless `purge`.
 */
export async function runUnenroll(request: UnenrollRequest): Promise<void> {
  const alias = parseAlias(request.alias);
  const configPath = resolve(request.config ?? join(homedir(), '.ssh', 'config'));
  const record = await readRecord(alias);
  const stateDir = request.stateDir ?? record?.server?.stateDir ?? DEFAULT_STATE_DIR;
  const persistDir = request.persistDir ?? record?.server?.persistDir ?? DEFAULT_PERSIST_DIR;

  const server = await RemoteServer.open(
    { alias, configFile: request.config === undefined ? undefined : configPath },
    { knock: true },
  );
  try {
    info(`logged in to ${alias} through the knock`);
    const backends =
      request.backend !== 'auto'
        ? [request.backend]
        : record?.server !== undefined
          ? [record.server.backend]
          : await installedBackends(server);
    if (backends.length === 0) info(`found none of pingknock's rules on ${alias}`);
    for (const backend of backends) await removeFromServer(server, backend, stateDir, persistDir);
  } finally {
    await server.close();
  }

  await removeConfigLines(alias, configPath, record);
  if (request.purge) {
    const secretPath = secretPathFor(alias);
    await fs.rm(secretPath, { force: true });
    info(`removed the secret ${secretPath}`);
  }
  await removeRecord(alias);
  info(`${alias} is unenrolled: pingknock's rules are off the server, and ssh ${alias} no longer knocks`);
}

/** Which backends hold pingknock's rules: as the server says, ufw only when its file really has the block. */
async function installedBackends(server: RemoteServer): Promise<EnrollBackend[]> {
  const result = await server.script(installedBackendsScript(), 'master');
  if (result.code !== 0)
    throw new PingknockError(
      'server',
      `cannot look for pingknock's rules on ${server.alias}: ${lastLines(result.stderr) || `exit ${result.code}`}`,
    );
  const found = result.stdout
    .toString()
    .split('\n')
    .filter((line): line is EnrollBackend => (ENROLL_BACKENDS as readonly string[]).includes(line));
  const backends: EnrollBackend[] = [];
  for (const backend of found) {
    if (backend === 'ufw') {
      const files = await readUfwFiles(server, ['ipv4', 'ipv6']);
      if (!Object.values(files).some((text) => removeUfwBlock(text) !== text)) continue;
    }
    backends.push(backend);
  }
  return backends;
}

async function removeFromServer(
  server: RemoteServer,
  backend: EnrollBackend,
  stateDir: string,
  persistDir: string,
): Promise<void> {
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
      `removing pingknock's ${backend} rules from ${server.alias} failed: ${lastLines(result.stderr) || `exit ${result.code}`}`,
    );
  }
  info(`removed pingknock's ${backend} rules from ${server.alias}`);
  for (const line of result.stdout
    .toString()
    .split('\n')
    .filter((text) => text !== ''))
    info(line);
}

/** Takes out what enroll's setup added, byte-exact; without a record of it, only pingknock's ProxyCommand. */
async function removeConfigLines(
  alias: string,
  configPath: string,
  record: EnrollmentRecord | undefined,
): Promise<void> {
  const recorded = record?.config === configPath ? record : undefined;
  if (recorded !== undefined && recorded.configAddition === null) {
    info(`${configPath} had pingknock's lines for ${alias} before enroll; left as it is`);
    return;
  }
  const snapshot = await readSnapshot(configPath);
  if (snapshot.content === undefined) {
    info(`there is no ${configPath}; nothing to take out`);
    return;
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
    return;
  }
  await replaceFile(snapshot, Buffer.from(removal.text, 'latin1'), 0o600);
  if (recorded === undefined)
    info(`no record of what enroll added to ${configPath}: took out only pingknock's ProxyCommand for ${alias}`);
  for (const line of removal.removed)
    info(`took out of ${configPath} line ${line.number}: ${line.text.trim() === '' ? '(blank)' : line.text.trim()}`);
  for (const line of removal.restored) info(`took the replaced-by mark off line ${line.number}: ${line.text.trim()}`);
}
