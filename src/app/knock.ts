import { PingknockError } from '../core/errors.js';
import { horizonEndedMessage, horizonState, horizonWarning, slotAt, type KnockMode } from '../core/rolling.js';
import { parseHost } from '../core/target.js';
import { secretToHex, type Secret } from '../core/secret.js';
import { loadSecret, type SecretSource } from '../edge/secret-source.js';
import { resolveHost, type ResolvedHost } from '../edge/resolve.js';
import { sendKnock, type KnockRequest as PingRequest } from '../edge/ping.js';
import { createProgress, type Progress } from '../edge/progress.js';
import { info } from './info.js';

export interface KnockPlan {
  readonly host: string;
  readonly secret: SecretSource;
  readonly deadlineMs: number;
  readonly progress: Progress;
}

/** A host checked and resolved once, with its secret: what every knock at it needs. */
export interface KnockTarget {
  readonly host: string;
  readonly address: ResolvedHost;
  readonly secret: Secret;
}

/** Validates the host, loads the secret and resolves the host once, for the knocks and the connection to share. */
export async function prepareKnock(host: string, secret: SecretSource): Promise<KnockTarget> {
  const checked = parseHost(host);
  const loaded = await loadSecret(secret);
  return { host: checked, address: await resolveHost(checked), secret: loaded };
}

/** What a knock tells while it runs, and how to stop it: see KnockRequest in edge/ping.ts. */
export type KnockHooks = Pick<PingRequest, 'onSent' | 'signal'>;

/** One knock with `patternHex`, resent until the echo reply or the deadline. */
export async function knockWith(
  target: KnockTarget,
  patternHex: string,
  deadlineMs: number,
  progress: Progress,
  hooks: KnockHooks = {},
): Promise<void> {
  const { host, address } = target;
  progress.step(`knocking ${host}${host === address.address ? '' : ` (${address.address})`}`);
  await sendKnock({ target: address, patternHex, deadlineMs, ...hooks });
}

/**
 * The path `knock` and the proxy share: validate, load the secret, resolve once, knock with the
 * secret until the echo reply. Returns the address that answered, for the connection to use.
 */
export async function knock(plan: KnockPlan): Promise<ResolvedHost> {
  const target = await prepareKnock(plan.host, plan.secret);
  await knockWith(target, secretToHex(target.secret), plan.deadlineMs, plan.progress);
  return target.address;
}

export interface KnockRequest {
  readonly host: string;
  readonly secretFile: string | undefined;
  readonly name: string | undefined;
  readonly deadlineMs: number;
  readonly verbose: boolean;
}

/** `pingknock knock`: the knock alone, with the spinner or steps on stderr. Returns the address that answered. */
export async function runKnock(request: KnockRequest): Promise<ResolvedHost> {
  const progress = await createProgress({ stderr: process.stderr, env: process.env, verbose: request.verbose });
  try {
    return await knock({
      host: request.host,
      secret: {
        secretFile: request.secretFile,
        name: request.name ?? request.host,
        env: process.env,
        stdin: () => process.stdin,
      },
      deadlineMs: request.deadlineMs,
      progress,
    });
  } finally {
    progress.stop();
  }
}

/**
 * One-time knocks end with the server's horizon: warn a week ahead, once per connection, and
 * after it fail without knocking, saying what to run. Only stderr: stdout is ssh's stream.
 */
export function checkHorizon(mode: KnockMode, alias: string, unixSeconds: number): void {
  if (mode.kind === 'static') return;
  const state = horizonState(slotAt(unixSeconds).day, mode.lastDay);
  if (state === 'ended') throw new PingknockError('horizonEnded', horizonEndedMessage(alias, mode.lastDay));
  if (state === 'ending') info(horizonWarning(alias, mode.lastDay));
}
