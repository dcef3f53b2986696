import { PingknockError } from '../core/errors.js';
import type { Family } from '../core/layout.js';
import { restoreScript } from '../core/rules/apply.js';
import type { EnrollBackend } from '../core/rules/detect.js';
import { buildRuleModel, type RuleKey } from '../core/rules/model.js';
import { unpersistScript } from '../core/rules/persist.js';
import { registryHash, serializeRegistry } from '../core/rules/registry.js';
import { registryCommitStep, registryWriteScript } from '../core/rules/registry-scripts.js';
import { renderRules } from '../core/rules/render.js';
import { UFW_TARGETS, withUfwBlocks, type UfwFiles } from '../core/rules/ufw.js';
import type { SshTarget } from '../core/remote-ssh.js';
import type { RemoteServer } from '../edge/remote.js';
import type { RegistryState } from '../edge/server-registry.js';
import { otherFamilies, type Prover } from './proofs.js';
import { ServerChange } from './server-change.js';

/**
 * One change of a server's keys, for every command that makes one (enroll, renew, rotate, revoke,
 * unenroll): the rules for ALL the keys rendered here, applied with a rollback armed, proven from
 * here, confirmed, the key list replaced only then and only if no other change came first, and
 * the rules kept across reboots.
 */

/** A server logged in to, with what its change needs to know. */
export interface KeySession {
  readonly server: RemoteServer;
  readonly target: SshTarget;
  /** Where ssh connects for the alias, for the proofs over the other family. */
  readonly host: string;
  readonly stateDir: string;
  readonly persistDir: string;
  readonly rollbackSeconds: number;
  /** The key list as read at the start: replaced only if still the same. */
  readonly registry: RegistryState;
}

export interface KeyChange {
  readonly backend: EnrollBackend;
  readonly port: number;
  readonly windowSeconds: number;
  /** The whole new list: at least one. */
  readonly keys: readonly RuleKey[];
  /** Whose knocked login proves the rules; undefined when the key that got in is the one going. */
  readonly prover: Prover | undefined;
  /** The server had pingknock's rules but no key list (an earlier pingknock's): not a fresh server. */
  readonly hadRules: boolean;
}

/** Makes the change; returns the key list as it is on the server now. */
export async function changeKeys(session: KeySession, change: KeyChange): Promise<RegistryState> {
  const { server, stateDir, persistDir, rollbackSeconds, registry } = session;
  const { backend, port, windowSeconds, keys, prover } = change;
  const ipv6 = await server.ipv6();
  const families = serverFamilies(backend, ipv6.enabled);
  const model = buildRuleModel({ keys, port, windowSeconds, families });
  const rules = renderRules(backend, model);
  // For ufw the block goes into the server's own before(6).rules, every other byte kept.
  let ufwFiles: UfwFiles = {};
  if (backend === 'ufw') {
    try {
      ufwFiles = withUfwBlocks(await readUfwFiles(server, families), model);
    } catch (error) {
      if (error instanceof PingknockError) throw error;
      throw new PingknockError('firewall', `${server.alias}: ${(error as Error).message}`);
    }
  }
  const next = serializeRegistry({ backend, port, windowSeconds, keys });
  const nextHash = registryHash(Buffer.from(next));
  // Known before the rules go in: whatever fails after them is rolled back.
  const others = await otherFamilies(session.target, session.host, ipv6.addresses);
  const steps = new ServerChange(server, { backend, families, stateDir, persistDir, rollbackSeconds });
  await steps.checkPersistFolder();
  await steps.apply(rules, ufwFiles);
  await steps.prove(others, prover, registryCommitStep(persistDir, registry.hash, next));
  const fresh = registry.registry === undefined && !change.hadRules;
  await steps.persist(rules, {
    script:
      restoreScript(stateDir) +
      (fresh
        ? unpersistScript({ backend, persistDir, families })
        : registryWriteScript(persistDir, nextHash, registry.bytes?.toString('utf8'))),
    said: fresh ? 'so they were taken out again' : `so ${server.alias} has its previous rules and key list again`,
  });
  return {
    path: registry.path,
    registry: { backend, port, windowSeconds, keys },
    bytes: Buffer.from(next),
    hash: nextHash,
  };
}

/**
 * The families to guard on a server: both, so that sshd is open over neither. iptables needs a
 * program per family, ip6tables only where the kernel has IPv6 (it fails where it has not).
 */
export function serverFamilies(backend: EnrollBackend, ipv6Enabled: boolean): Family[] {
  return backend === 'iptables' && !ipv6Enabled ? ['ipv4'] : ['ipv4', 'ipv6'];
}

/** ufw's before(6).rules on the server, by path; a family whose file is missing has none (ufw without IPv6). */
export async function readUfwFiles(server: RemoteServer, families: readonly Family[]): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const family of families) {
    const { file } = UFW_TARGETS[family];
    try {
      files[file] = await server.readFile(file);
    } catch (error) {
      // IPv4's file is what ufw cannot do without; IPv6's is there only where ufw does IPv6.
      if (family === 'ipv4') throw error;
    }
  }
  return files;
}
