import { formatSeconds } from '../core/duration.js';
import { ExitCode, PingknockError, type ExitCodeName } from '../core/errors.js';
import { jumpRoute, knockingHop, type JumpProxy } from '../core/jump.js';
import { remoteKnockCommand, remoteKnockFailure } from '../core/jump-knock.js';
import { remotePingknockCommand, type RemotePingknock } from '../core/remote-pingknock.js';
import { knockPatterns, type KnockMode } from '../core/rolling.js';
import type { Secret } from '../core/secret.js';
import { JumpMaster, type PortAnswer } from '../edge/bastion.js';
import type { Checklist, Failure } from './checklist.js';
import { knockVerdict, OPEN_BEFORE_TIMEOUT_MS, type KnockFacts } from './knock-proof.js';

/**
 * Doctor's knock for a host knocked from a jump host: checked from there, as the knock and the
 * connection are made, over one kept connection to it. The port must not greet a connection
 * from the jump host before the knock and must greet one after it.
 */

/** What doctor checks through a jump host: the one ssh's ProxyCommand knocks from. */
export type JumpKnock =
  /** pingknock's --jump line: the pattern computed here, sent by the jump host's ping. */
  | { readonly kind: 'jump'; readonly jump: JumpProxy; readonly patternHex: string; readonly deadlineMs: number }
  /** A ProxyCommand that runs pingknock on the jump host (`ssh HOST pingknock proxy ...`), its secret there. */
  | { readonly kind: 'remote'; readonly found: RemotePingknock; readonly waitMs: number };

export interface JumpKnockRequest {
  readonly knock: JumpKnock;
  readonly host: string;
  readonly port: number;
  readonly openBeforeMs: number;
  readonly connectTimeoutMs: number;
}

export type JumpKnockSource =
  { readonly kind: 'jump'; readonly jump: JumpProxy } | { readonly kind: 'remote'; readonly found: RemotePingknock };

/**
 * The name, knock and port lines of a host knocked from a jump host: the name is resolved there,
 * and the knock and the port are checked from there.
 */
export async function checkThroughJumpHost(
  checks: Checklist,
  check: {
    readonly through: JumpKnockSource;
    readonly host: string;
    /** Undefined when the knock cannot be made: no secret, or one-time knocks that ended. */
    readonly secret: Secret | undefined;
    readonly mode: KnockMode;
    readonly now: number;
    readonly deadlineMs: number;
    readonly connectTimeoutMs: number;
    readonly port: number;
  },
): Promise<void> {
  const { through, host, secret } = check;
  const knock: JumpKnock | undefined =
    through.kind === 'remote'
      ? { kind: 'remote', found: through.found, waitMs: check.deadlineMs + check.connectTimeoutMs + REMOTE_START_MS }
      : secret === undefined
        ? undefined
        : {
            kind: 'jump',
            jump: through.jump,
            patternHex: knockPatterns(secret, check.mode, check.now).first,
            deadlineMs: check.deadlineMs,
          };
  const bastion = through.kind === 'jump' ? knockingHop(through.jump.route).host : through.found.route.destination;
  checks.skip('name', `${host} is resolved on ${bastion}, which the knock leaves from`);
  if (knock === undefined) {
    checks.skip('knock', 'needs the secret and one-time knocks that last: fix the lines above first');
    checks.finish();
    return;
  }
  const facts = await jumpKnockFacts({
    knock,
    host,
    port: check.port,
    openBeforeMs: OPEN_BEFORE_TIMEOUT_MS,
    connectTimeoutMs: check.connectTimeoutMs,
  });
  for (const line of knockVerdict(facts)) checks.add(line);
  checks.finish();
}

/** What pingknock on a jump host may take to start, beyond its knock and connection. */
const REMOTE_START_MS = 5000;

/** The jump host as messages name it. */
function jumpHostOf(knock: JumpKnock): string {
  return knock.kind === 'jump' ? knockingHop(knock.jump.route).host : knock.found.route.destination;
}

/** Doctor's knock facts, checked from the jump host; a login there that fails is the knock's failure. */
export async function jumpKnockFacts(request: JumpKnockRequest): Promise<KnockFacts> {
  const { knock, host, port } = request;
  const bastion = jumpHostOf(knock);
  const facts = { address: `${host} (from ${bastion})`, where: `${host}:${port} (from ${bastion})` };
  let session: JumpMaster;
  try {
    session = await JumpMaster.open(knock.kind === 'jump' ? jumpRoute(knock.jump) : knock.found.route);
  } catch (error) {
    return { ...facts, openBefore: false, knock: { answered: false, failure: failureOf(error) } };
  }
  try {
    const before = await session.firstByte(host, port, request.openBeforeMs);
    const started = performance.now();
    if (knock.kind === 'remote') {
      // The ProxyCommand itself, run there: it knocks, connects and relays the port's greeting.
      const through = await session.firstOutput(remotePingknockCommand(knock.found, host, port), knock.waitMs);
      const ms = performance.now() - started;
      return {
        ...facts,
        openBefore: before.kind === 'answered',
        knock:
          through.kind === 'answered'
            ? { answered: true, ms, after: 'open' }
            : { answered: false, failure: remoteFailure(through, bastion, knock.waitMs) },
      };
    }
    const remote = { host, patternHex: knock.patternHex, deadlineMs: knock.deadlineMs };
    const failure = remoteKnockFailure(await session.run(remoteKnockCommand(remote)), knock.jump, remote);
    const ms = performance.now() - started;
    if (failure !== undefined) {
      return {
        ...facts,
        openBefore: before.kind === 'answered',
        knock: { answered: false, failure: failureOf(failure) },
      };
    }
    const after = await session.firstByte(host, port, request.connectTimeoutMs);
    return {
      ...facts,
      openBefore: before.kind === 'answered',
      knock: { answered: true, ms, after: portFailure(after, facts.where, request.connectTimeoutMs) ?? 'open' },
    };
  } finally {
    await session.close();
  }
}

/** Why the port did not greet the connection after the knock; undefined when it did. */
function portFailure(answer: PortAnswer, where: string, ms: number): Failure | undefined {
  switch (answer.kind) {
    case 'answered':
      return undefined;
    case 'silent':
      return {
        message:
          `${where} did not answer within ${formatSeconds(ms)}; the knock got a reply, so the host is up: ` +
          "the server's rules may not match this client (secret, port, or ping layout; see `pingknock rules`)",
        kind: 'connectFailed',
      };
    case 'failed':
      return { message: `${where}: ${answer.said}`, kind: 'connectFailed' };
  }
}

/** A hand-written ProxyCommand that gave no greeting: ssh passes on the remote pingknock's exit code and message. */
function remoteFailure(answer: PortAnswer, bastion: string, ms: number): Failure {
  if (answer.kind !== 'failed') {
    return {
      message: `the ProxyCommand run on ${bastion} relayed nothing from the port within ${formatSeconds(ms)}`,
      kind: 'connectFailed',
    };
  }
  const kind = (Object.keys(ExitCode) as ExitCodeName[]).find((name) => ExitCode[name] === answer.code);
  return {
    message: `pingknock on ${bastion} says: ${answer.said.replace(/\s*\n\s*/g, '; ')}`,
    kind: answer.code === 255 ? 'server' : kind === undefined || kind === 'ok' ? 'connectFailed' : kind,
  };
}

function failureOf(error: unknown): Failure {
  if (!(error instanceof PingknockError)) return { message: String(error), kind: 'server' };
  const kind = (Object.keys(ExitCode) as ExitCodeName[]).find((name) => ExitCode[name] === error.exitCode);
  return { message: error.message, kind: kind ?? 'server' };
}
