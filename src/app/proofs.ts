import { ExitCode, PingknockError } from '../core/errors.js';
import type { Family } from '../core/layout.js';
import { WAIT_OPTIONS } from '../core/proxy-arguments.js';
import { knockPatterns, type KnockMode } from '../core/rolling.js';
import type { Secret } from '../core/secret.js';
import { sendKnock } from '../edge/ping.js';
import { resolveAll } from '../edge/resolve.js';
import { effectiveSshConfig } from '../edge/ssh.js';
import type { ServerAddress, SshTarget } from '../core/remote-ssh.js';
import type { RemoteServer } from '../edge/remote.js';
import { info } from './info.js';

/**
 * What proves new rules from the client before they stay: no family of the server answers a new
 * connection without a knock, and after a knock, one does (the alias's own family by a knocked
 * login, in server-change.ts; the others here, at one of their addresses).
 */

export const FAMILY_NAMES: Readonly<Record<Family, string>> = { ipv4: 'IPv4', ipv6: 'IPv6' };

/** The alias whose knocked login proves the rules, with what it knocks with. */
export interface Prover {
  readonly alias: string;
  readonly secret: Secret;
  readonly mode: KnockMode;
}

/** An address of the server in a family the alias does not connect over. */
export interface OtherFamily {
  readonly family: Family;
  readonly at: ServerAddress;
}

/**
 * For each family the alias does not connect over, one address to prove the rules on as well: as
 * the alias's host name resolves here, else for IPv6 the server's first global address, which
 * anyone may find and knock on just the same.
 */
export async function otherFamilies(
  target: SshTarget,
  host: string,
  serverIpv6: readonly string[],
): Promise<OtherFamily[]> {
  const resolved = await resolveAll(host);
  const candidates = [...resolved, ...serverIpv6.map((address) => ({ address, family: 6 as const }))];
  const found = (['ipv4', 'ipv6'] as const).flatMap((family) => {
    const number = family === 'ipv6' ? 6 : 4;
    const candidate = candidates.find((each) => each.family === number);
    return candidate === undefined || resolved[0]?.family === number ? [] : [{ family, address: candidate.address }];
  });
  if (found.length === 0) return [];
  const hostKeyAlias = await hostKeyName(target, host);
  return found.map(({ family, address }) => ({ family, at: { address, hostKeyAlias } }));
}

/** The name ssh knows the server's host key by: an address connected to in its place needs no entry of its own. */
async function hostKeyName(target: SshTarget, host: string): Promise<string> {
  const answer = await effectiveSshConfig(
    target.alias,
    target.configFile === undefined ? { kind: 'default' } : { kind: 'file', path: target.configFile },
  );
  return (answer.kind === 'ok' ? answer.config.get('hostkeyalias') : undefined) ?? host;
}

/** Rolls the rules back at once, saying `reason`; never returns. */
export type Disproved = (reason: string) => Promise<never>;

/**
 * Proof 1, for the alias and an address in each of the `others` families: a new connection
 * without a knock times out. Then, with a prover, proof 2 for each other family: after a knock
 * there, a new connection gets an answer.
 */
export async function proveClosed(
  server: RemoteServer,
  others: readonly OtherFamily[],
  prover: Prover | undefined,
  disproved: Disproved,
): Promise<void> {
  const [unknocked, othersUnknocked] = await Promise.all([
    server.probeUnknocked(),
    Promise.all(others.map(async (other) => ({ other, outcome: await server.probeUnknocked(other.at) }))),
  ]);
  if (unknocked.kind !== 'closed') {
    await disproved(
      `the port still answers a connection without a knock (${unknocked.detail}): ` +
        `the rules do not protect ${server.alias}`,
    );
  }
  const reachable: OtherFamily[] = [];
  for (const { other, outcome } of othersUnknocked) {
    const over = `over ${FAMILY_NAMES[other.family]} (${other.at.address})`;
    if (outcome.kind === 'open') {
      await disproved(
        `${over} the port still answers a connection without a knock (${outcome.detail}): ` +
          `the rules do not protect ${server.alias} over ${FAMILY_NAMES[other.family]}`,
      );
    }
    if (outcome.kind === 'unreachable')
      info(`${over}: not proven, as it cannot be reached from here (${outcome.detail})`);
    else reachable.push(other);
  }
  const alsoOver = reachable.map(({ family, at }) => `, also over ${FAMILY_NAMES[family]} at ${at.address}`);
  info(`proof 1: a new connection without a knock times out${alsoOver.join('')}`);
  if (prover === undefined) return;
  for (const other of reachable) await proveKnockOpens(server, other, prover, disproved);
}

/** How long a proof's own knock waits for its echo reply: the proxy's default deadline. */
const KNOCK_DEADLINE_MS = WAIT_OPTIONS.deadline.default * 1000;

/**
 * A one-time pattern opens for one source only: here the next slot's (accepted now, for clock
 * skew), which leaves the current one to the knocked login from the alias's own family.
 */
function otherFamilyPattern(prover: Prover): string {
  const patterns = knockPatterns(prover.secret, prover.mode, Date.now() / 1000);
  return patterns.next ?? patterns.first;
}

/** Proof 2 for another family: after a knock to its address, a new connection there gets an answer. */
async function proveKnockOpens(
  server: RemoteServer,
  other: OtherFamily,
  prover: Prover,
  disproved: Disproved,
): Promise<void> {
  const over = `over ${FAMILY_NAMES[other.family]} (${other.at.address})`;
  try {
    await sendKnock({
      target: { address: other.at.address, family: other.family === 'ipv6' ? 6 : 4 },
      patternHex: otherFamilyPattern(prover),
      deadlineMs: KNOCK_DEADLINE_MS,
    });
  } catch (error) {
    if (
      error instanceof PingknockError &&
      (error.exitCode === ExitCode.noReply || error.exitCode === ExitCode.unreachable)
    ) {
      info(`${over}: not proven, as the knock got no echo reply here (${error.message})`);
      return;
    }
    return disproved(`${over} the knock failed (${(error as Error).message})`);
  }
  const outcome = await server.probeUnknocked(other.at);
  if (outcome.kind === 'closed') {
    return disproved(
      `${over} the knock was answered, but a new connection after it timed out: the rules do not let a knock in`,
    );
  }
  info(
    outcome.kind === 'open'
      ? `proof 2 ${over}: after a knock, a new connection gets an answer`
      : `${over}: not proven, as the connection after the knock cannot be made from here (${outcome.detail})`,
  );
}
