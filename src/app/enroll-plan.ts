import { PingknockError } from '../core/errors.js';
import {
  detectBackendScript,
  ENROLL_BACKENDS,
  installedBackendsScript,
  NO_FIREWALL_EXIT,
  OLD_NFT_EXIT,
  rollingProbeScript,
  type EnrollBackend,
  type EnrollBackendChoice,
} from '../core/rules/detect.js';
import { rollingKey, staticKey, type RuleKey } from '../core/rules/model.js';
import { keyMatchesSecret, keyNames, withKey } from '../core/rules/registry.js';
import { removeUfwBlock } from '../core/rules/ufw.js';
import { isoDate, slotAt, STATIC_MODE, type KnockMode } from '../core/rolling.js';
import type { Secret } from '../core/secret.js';
import type { EnrolledKey } from '../edge/enroll-record.js';
import { lastLines } from '../core/target.js';
import type { RemoteServer } from '../edge/remote.js';
import type { RegistryState } from '../edge/server-registry.js';
import { info } from './info.js';
import { readUfwFiles } from './key-change.js';

/** What enroll does on a server it has logged in to, decided before anything there changes. */
export interface EnrollmentPlan {
  readonly backend: EnrollBackend;
  /** How ssh knocks the alias from now on. */
  readonly mode: KnockMode;
  /** The server's whole new key list: the others' keys kept, this client's added or replaced. */
  readonly keys: readonly RuleKey[];
  /** pingknock's rules are there, from a pingknock that kept no key list. */
  readonly hadRules: boolean;
}

export interface EnrollmentWish {
  readonly backend: EnrollBackendChoice;
  readonly static: boolean;
  readonly keyName: string;
  /** --key-name was given: a key of that name is replaced whatever secret it holds. */
  readonly keyNameGiven: boolean;
  /** The name this alias's last enroll gave its key. */
  readonly recordedName: string | undefined;
  readonly secret: Secret;
  readonly port: number;
  readonly horizonDays: number;
  /** --horizon was given: one-time knocks were asked for, and no static ones will do instead. */
  readonly horizonGiven: boolean;
}

export async function planEnrollment(
  server: RemoteServer,
  state: RegistryState,
  wish: EnrollmentWish,
): Promise<EnrollmentPlan> {
  const alias = server.alias;
  const { registry } = state;
  if (registry !== undefined && wish.backend !== 'auto' && wish.backend !== registry.backend) {
    throw new PingknockError(
      'usage',
      `the keys of ${alias} (${keyNames(registry.keys)}) are in its ${registry.backend} rules: ` +
        `--backend ${wish.backend} would leave those behind; leave --backend out`,
    );
  }
  const backend = wish.backend !== 'auto' ? wish.backend : (registry?.backend ?? (await detectBackend(server)));
  const why = wish.backend !== 'auto' ? ' (--backend)' : registry === undefined ? '' : ' (its key list says so)';
  info(`${alias} uses ${backend}${why}`);
  if (registry !== undefined && registry.port !== wish.port) {
    throw new PingknockError(
      'usage',
      `${alias} connects to port ${wish.port}, but the rules there guard port ${registry.port} ` +
        `(keys ${keyNames(registry.keys)}): give ${alias} that port (--port ${registry.port})`,
    );
  }
  const hadRules = registry === undefined && (await installedBackends(server)).length > 0;
  if (hadRules) {
    info(
      `${alias} has pingknock's rules but no key list: an earlier pingknock enrolled it with one key, ` +
        `which ${wish.keyName} replaces`,
    );
  }
  const taken = registry?.keys.filter((key) => key.name === wish.keyName) ?? [];
  if (
    !wish.keyNameGiven &&
    wish.recordedName !== wish.keyName &&
    taken.some((key) => !keyMatchesSecret(key, wish.secret))
  ) {
    throw new PingknockError(
      'usage',
      `${alias} already has a key named ${wish.keyName} with another secret (another alias of this machine's?); ` +
        'replacing it would lock that one out: give this one a name of its own with --key-name NAME ' +
        `(or --key-name ${wish.keyName} to replace it)`,
    );
  }
  const rolling = await oneTimeKnocks(server, backend, wish);
  const today = slotAt(Date.now() / 1000).day;
  const key = rolling
    ? rollingKey(wish.keyName, wish.secret, today, wish.horizonDays)
    : staticKey(wish.keyName, wish.secret);
  const mode: KnockMode = rolling ? { kind: 'rolling', lastDay: today + wish.horizonDays - 1 } : STATIC_MODE;
  const others = registry?.keys.filter((each) => each.name !== wish.keyName) ?? [];
  info(
    `${taken.length === 0 ? 'adds' : 'replaces'} the key ${wish.keyName} (${
      rolling ? `one-time knocks through ${isoDate(today + wish.horizonDays - 1)}` : 'static knocks'
    })${others.length === 0 ? '' : `; keeps ${keyNames(others)}`}`,
  );
  return { backend, mode, keys: withKey(hadRules ? [] : (registry?.keys ?? []), key), hadRules };
}

/** What enroll's record keeps of this alias's key. */
export function enrolledKey(name: string, mode: KnockMode, horizonDays: number): EnrolledKey {
  return mode.kind === 'rolling'
    ? { name, kind: 'rolling', horizonDays, until: isoDate(mode.lastDay) }
    : { name, kind: 'static' };
}

/**
 * One-time knocks where nftables can hold them: its nft checked first (`nft -c`), and a server's
 * nft too old for them enrolled with static knocks, saying so (unless --horizon asked for them).
 * iptables and ufw match a pattern with xt_string and remember addresses with xt_recent: no
 * pattern can be used only once there.
 */
async function oneTimeKnocks(server: RemoteServer, backend: EnrollBackend, wish: EnrollmentWish): Promise<boolean> {
  if (wish.static) return false;
  if (backend !== 'nftables') {
    if (wish.horizonGiven) {
      throw new PingknockError(
        'usage',
        `--horizon is for one-time knocks, which only nftables can hold; ${server.alias} uses ${backend}`,
      );
    }
    info(
      `${backend} cannot refuse a replayed knock (xt_recent remembers addresses, not patterns): ` +
        'static knocks, which anyone who sees one can replay; nftables has one-time knocks',
    );
    return false;
  }
  const result = await server.script(rollingProbeScript(), 'master');
  if (result.code === 0) return true;
  if (result.code === OLD_NFT_EXIT) {
    const why = `${server.alias}: ${lastLines(result.stderr, 1, Number.POSITIVE_INFINITY)}`;
    if (wish.horizonGiven) throw new PingknockError('firewall', why);
    info(`${why}; enrolling with static knocks`);
    return false;
  }
  throw new PingknockError(
    'server',
    `nft on ${server.alias} cannot check a ruleset (${lastLines(result.stderr) || `exit ${result.code}`})`,
  );
}

async function detectBackend(server: RemoteServer): Promise<EnrollBackend> {
  const result = await server.script(detectBackendScript(), 'master');
  const found = result.stdout.toString().trim();
  if (result.code === 0 && (ENROLL_BACKENDS as readonly string[]).includes(found)) return found as EnrollBackend;
  const why =
    result.code === NO_FIREWALL_EXIT
      ? lastLines(result.stderr)
      : `the check failed: ${lastLines(result.stderr) || `exit ${result.code}`}`;
  throw new PingknockError(
    'server',
    `cannot tell which firewall ${server.alias} uses (${why}); install nftables there, or pass --backend`,
  );
}

/** Which backends hold pingknock's rules: as the server says, ufw only when its file really has the block. */
export async function installedBackends(server: RemoteServer): Promise<EnrollBackend[]> {
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
