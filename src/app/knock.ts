import { parseHost } from '../core/target.js';
import { secretToHex } from '../core/secret.js';
import { loadSecret, type SecretSource } from '../edge/secret-source.js';
import { resolveHost, type ResolvedHost } from '../edge/resolve.js';
import { sendKnock } from '../edge/ping.js';
import { createProgress, type Progress } from '../edge/progress.js';

export interface KnockPlan {
  readonly host: string;
  readonly secret: SecretSource;
  readonly deadlineMs: number;
  readonly progress: Progress;
}

/**
 * The path `knock` and `proxy` share: validate, load the secret, resolve once, knock until the
 * echo reply. Returns the address that answered, for the connection to use.
 */
export async function knock(plan: KnockPlan): Promise<ResolvedHost> {
  const host = parseHost(plan.host);
  const secret = await loadSecret(plan.secret);
  const target = await resolveHost(host);
  plan.progress.step(`knocking ${host}${host === target.address ? '' : ` (${target.address})`}`);
  await sendKnock({ target, patternHex: secretToHex(secret), deadlineMs: plan.deadlineMs });
  return target;
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
