import { parseHost } from './core/target.js';
import { secretToHex } from './core/secret.js';
import { loadSecret, type SecretSource } from './edge/secret-source.js';
import { resolveHost, type ResolvedHost } from './edge/resolve.js';
import { sendKnock } from './edge/ping.js';
import type { Progress } from './edge/progress.js';

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
