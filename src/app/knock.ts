import { PingknockError } from '../core/errors.js';
import { knockingHop } from '../core/jump.js';
import {
  horizonEndedMessage,
  horizonState,
  horizonWarning,
  knockPatterns,
  slotAt,
  STATIC_MODE,
  type KnockMode,
} from '../core/rolling.js';
import { parseAlias } from '../core/ssh-config/names.js';
import { readPingknockProxy } from '../core/ssh-config/proxy-command.js';
import { parseHost } from '../core/target.js';
import type { Secret } from '../core/secret.js';
import { loadSecret, type SecretSource } from '../edge/secret-source.js';
import { resolveHost, type ResolvedHost } from '../edge/resolve.js';
import { sendKnock, type KnockRequest as PingRequest } from '../edge/ping.js';
import { createProgress, type Progress } from '../edge/progress.js';
import { sshAliasView, type AliasView } from '../edge/ssh.js';
import { info } from './info.js';

export interface KnockPlan {
  readonly host: string;
  readonly secret: SecretSource;
  /** The secret itself, or the one-time pattern of the slot `unixSeconds` falls in. */
  readonly mode: KnockMode;
  readonly unixSeconds: number;
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
 * The knock alone: validate, load the secret, resolve once, knock with the mode's pattern until
 * the echo reply. Returns the address that answered. The proxy's second try, the next slot's
 * pattern, is for a port that stayed closed after the reply; with no port to try, the reply is
 * all there is to go by.
 */
export async function knock(plan: KnockPlan): Promise<ResolvedHost> {
  const target = await prepareKnock(plan.host, plan.secret);
  const { first } = knockPatterns(target.secret, plan.mode, plan.unixSeconds);
  await knockWith(target, first, plan.deadlineMs, plan.progress);
  return target.address;
}

export interface KnockRequest {
  readonly host: string;
  readonly secretFile: string | undefined;
  readonly name: string | undefined;
  readonly deadlineMs: number;
  readonly verbose: boolean;
  /** --rolling-until or --static; undefined: as ssh knocks the alias (NAME, else HOST), from its ProxyCommand. */
  readonly mode: KnockMode | undefined;
  /** The ssh config that ProxyCommand is read from (ssh -F); undefined: the files ssh reads. */
  readonly config: string | undefined;
}

/** The address that answered, and the knock it answered. */
export interface KnockAnswer {
  readonly address: ResolvedHost;
  readonly mode: KnockMode;
}

/**
 * `pingknock knock`: the knock alone, with the spinner or steps on stderr, the way the host's
 * rules expect it: a host enrolled with one-time knocks answers a static knock's echo request all
 * the same, but opens nothing, so the mode comes from what ssh would run for the alias.
 */
export async function runKnock(request: KnockRequest): Promise<KnockAnswer> {
  // A host that is none is refused as such, before ssh is asked about it.
  parseHost(request.host);
  const alias = request.name ?? request.host;
  const ssh =
    request.mode === undefined || request.name === undefined
      ? await sshView(alias, request.config, request.verbose)
      : undefined;
  const mode = request.mode ?? proxyCommandMode(alias, ssh?.proxyCommand, request.config);
  // Without --name, HOST is the alias: knocked where ssh connects for it, its HostName.
  const host = request.name === undefined ? (ssh?.hostName ?? request.host) : request.host;
  // Read once: the horizon and the pattern are judged at the same moment.
  const unixSeconds = Date.now() / 1000;
  checkHorizon(mode, alias, unixSeconds);
  const progress = await createProgress({ stderr: process.stderr, env: process.env, verbose: request.verbose });
  try {
    const address = await knock({
      host,
      secret: { secretFile: request.secretFile, name: alias, env: process.env, stdin: () => process.stdin },
      mode,
      unixSeconds,
      deadlineMs: request.deadlineMs,
      progress,
    });
    return { address, mode };
  } finally {
    progress.stop();
  }
}

/**
 * `name` as `ssh -G` reads the config. Without a config named, a name no alias can have (an IPv6
 * address) and an ssh that cannot say give undefined: the name is knocked as given, statically,
 * as every knock was before there were modes; a config named must be read.
 */
async function sshView(name: string, config: string | undefined, verbose: boolean): Promise<AliasView | undefined> {
  if (config === undefined && !isAlias(name)) return undefined;
  const answer = await sshAliasView(name, config);
  if (answer.kind === 'ok') return answer.view;
  if (config !== undefined) throw new PingknockError('io', `cannot read how ssh reaches ${name}: ${answer.why}`);
  if (verbose) info(`ssh cannot say how it reaches ${name}, so the knock is static: ${answer.why}`);
  return undefined;
}

function isAlias(name: string): boolean {
  try {
    parseAlias(name);
    return true;
  } catch {
    return false;
  }
}

/**
 * The knock mode of `alias`'s ProxyCommand (ssh -G's value, undefined when it has none; `config`
 * as ssh -F named it): static unless it is pingknock's line for that alias. A line that knocks
 * from a jump host is refused: a knock from here would open the server to this machine, which
 * the session never comes from.
 */
export function proxyCommandMode(alias: string, proxyCommand: string | undefined, config?: string): KnockMode {
  const found = proxyCommand === undefined ? undefined : readPingknockProxy(proxyCommand, alias);
  if (found?.jump !== undefined) {
    const [ssh, doctor] =
      config === undefined
        ? [`ssh ${alias}`, `pingknock doctor ${alias}`]
        : [`ssh -F ${config} ${alias}`, `pingknock doctor ${alias} --config ${config}`];
    throw new PingknockError(
      'usage',
      `ssh ${alias} knocks from the jump host ${knockingHop(found.jump.route).host} (its ProxyCommand has --jump): ` +
        'the knock must leave from there, and one from here would open the server to this machine instead; ' +
        `run ${ssh}, or ${doctor} to check that knock (--static or --rolling-until DATE knock from here all the same)`,
    );
  }
  return found?.mode ?? STATIC_MODE;
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
