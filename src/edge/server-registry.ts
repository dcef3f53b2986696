import { PingknockError } from '../core/errors.js';
import { parseRegistry, registryHash, type KeyRegistry } from '../core/rules/registry.js';
import { NO_REGISTRY_EXIT, registryPath, registryReadScript } from '../core/rules/registry-scripts.js';
import { UNSAFE_EXIT } from '../core/rules/trusted.js';
import { refusedOn } from '../core/remote-ssh.js';
import { lastLines } from '../core/target.js';
import type { RemoteServer } from './remote.js';

/** The server's key list as read, with the hash its replacement is compared against. */
export interface RegistryState {
  readonly path: string;
  /** undefined: the server has none (never enrolled, or enrolled by a pingknock that knew one key). */
  readonly registry: KeyRegistry | undefined;
  /** The file's bytes, to put back should what follows its replacement fail. */
  readonly bytes: Buffer | undefined;
  readonly hash: string;
}

export async function readRegistry(server: RemoteServer, persistDir: string): Promise<RegistryState> {
  const path = registryPath(persistDir);
  const result = await server.script(registryReadScript(persistDir), 'master');
  if (result.code === NO_REGISTRY_EXIT)
    return { path, registry: undefined, bytes: undefined, hash: registryHash(undefined) };
  if (result.code === UNSAFE_EXIT) {
    throw refusedOn(server.alias, result.stderr);
  }
  if (result.code !== 0) {
    throw new PingknockError(
      'server',
      `cannot read the key list ${path} on ${server.alias}: ${lastLines(result.stderr) || `exit ${result.code}`}`,
    );
  }
  return {
    path,
    registry: parseRegistry(result.stdout.toString('utf8'), `${server.alias}:${path}`),
    bytes: result.stdout,
    hash: registryHash(result.stdout),
  };
}
