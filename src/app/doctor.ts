import { promises as fs } from 'node:fs';
import { ExitCode, PingknockError, type ExitCodeName } from '../core/errors.js';
import { DEFAULT_WINDOW_SECONDS } from '../core/rules/model.js';
import {
  horizonEndedMessage,
  horizonState,
  horizonWarning,
  isoDate,
  knockPatterns,
  slotAt,
  STATIC_MODE,
  type KnockMode,
} from '../core/rolling.js';
import type { Secret } from '../core/secret.js';
import { parseHost } from '../core/target.js';
import { formatSeconds } from '../core/duration.js';
import { secondsOption } from '../core/proxy-arguments.js';
import { findCommand } from '../edge/exec.js';
import { detectPing, knockLayoutProblem, sendKnock } from '../edge/ping.js';
import { resolveHost, type ResolvedHost } from '../edge/resolve.js';
import { loadSecret, SECRET_ENV, secretPathFor } from '../edge/secret-source.js';
import { connectTcp } from '../edge/tcp.js';
import { knockingHop, readRemotePingknock, type JumpProxy, type RemotePingknock } from '../core/jump.js';
import { jumpKnockFacts, type JumpKnock } from './jump-doctor.js';
import { loadSshConfigModules } from './setup.js';

/**
 * One of doctor's lines. WARN: the check ran and nothing failed, yet what it is there to prove is
 * not proven, so doctor must not exit 0 on it.
 */
export type CheckLine =
  | { readonly status: 'ok' | 'skip'; readonly name: string; readonly detail: string }
  | { readonly status: 'FAIL' | 'WARN'; readonly name: string; readonly detail: string; readonly kind: ExitCodeName };

/** A step that failed: its message, and the exit class of the command that would have failed. */
export interface Failure {
  readonly message: string;
  readonly kind: ExitCodeName;
}

/** One check, one line on stdout: ok, or what is wrong and what to do. */
class Checklist {
  private readonly problems: Extract<CheckLine, { kind: ExitCodeName }>[] = [];
  private count = 0;

  ok(name: string, detail: string): void {
    this.add({ status: 'ok', name, detail });
  }

  fail(name: string, detail: string, kind: ExitCodeName): void {
    this.add({ status: 'FAIL', name, detail, kind });
  }

  failWith(name: string, error: unknown, fallback: ExitCodeName): void {
    const { message, kind } = failureOf(error, fallback);
    this.fail(name, message, kind);
  }

  skip(name: string, detail: string): void {
    this.add({ status: 'skip', name, detail });
  }

  add(line: CheckLine): void {
    if (line.status === 'FAIL' || line.status === 'WARN') this.problems.push(line);
    this.count += line.status === 'skip' ? 0 : 1;
    process.stdout.write(`${line.status.padEnd(4)}  ${line.name}: ${line.detail}\n`);
  }

  finish(): void {
    const [first] = this.problems;
    if (first === undefined) return;
    const failed = this.problems.filter((line) => line.status === 'FAIL').length;
    const unproven = this.problems.length - failed;
    const also = unproven > 0 ? `, ${unproven} not proven` : '';
    const said =
      failed > 0 ? `${failed} of ${this.count} checks failed${also}` : `${unproven} of ${this.count} checks not proven`;
    throw new PingknockError(first.kind, said);
  }
}

/**
 * How long doctor waits, before knocking, to see whether the port is open already. A protected
 * port drops the SYN and a dropped SYN gets no answer at all, so on every protected server the
 * wait is spent in full (measured in the lab: 1.00 s of a 1 s wait, 3.01 s of 3 s). An open port
 * answers within one round trip: 3 ms in the lab, under 0.3 s across continents, about 0.6 s over
 * a geostationary satellite. Linux resends an unanswered SYN after 1 s, so this sends it once: a
 * lost SYN or a slower path makes an open port look closed, and the knock would then pass for
 * proven; waiting for the resend would make every run on a protected server pay for that rare case.
 */
const OPEN_BEFORE_TIMEOUT_MS = 1000;

/** `pingknock doctor` as given on its command line. */
export interface DoctorRequest {
  readonly alias: string | undefined;
  readonly config: string | undefined;
  readonly deadline: number;
  readonly connectTimeout: number;
}

/** `pingknock doctor`: one line per check on stdout as it is made; throws with the first problem's exit class. */
export async function runDoctor(request: DoctorRequest): Promise<void> {
  const { effectiveMismatches, effectiveSshConfig, parseAlias, readPingknockProxy } = await loadSshConfigModules();
  const alias = request.alias === undefined ? undefined : parseAlias(request.alias);
  const deadlineMs = secondsOption('deadline', request.deadline);
  const connectTimeoutMs = secondsOption('connect-timeout', request.connectTimeout);
  const checks = new Checklist();

  let pingReady = false;
  try {
    const ping = await detectPing();
    const problem = knockLayoutProblem(ping);
    if (problem === undefined) {
      checks.ok('ping', `${ping.description} (${ping.flavour}): puts the -p pattern where the rules look for it`);
      pingReady = true;
    } else {
      checks.fail('ping', `${ping.description}: ${problem}`, 'pingUnavailable');
    }
  } catch (error) {
    checks.failWith('ping', error, 'pingUnavailable');
  }

  const program = findCommand('pingknock');
  if (program === undefined) {
    checks.fail(
      'pingknock',
      'not on PATH, where ssh looks for the ProxyCommand; run ./install.sh (or link bin/pingknock into a PATH folder)',
      'usage',
    );
  } else {
    checks.ok('pingknock', `${program} is on PATH for ssh's ProxyCommand`);
  }

  if (alias === undefined) {
    checks.finish();
    return;
  }

  const answer = await effectiveSshConfig(
    alias,
    request.config === undefined ? { kind: 'default' } : { kind: 'file', path: request.config },
  );
  // A ProxyCommand that runs pingknock on a jump host knocks with the secret kept there, not here.
  const remote = answer.kind === 'ok' ? readRemotePingknock(answer.config.get('proxycommand') ?? '') : undefined;
  let secret: Secret | undefined;
  if (remote !== undefined) {
    checks.skip('secret', `kept on ${remote.route.destination}, where the ProxyCommand runs pingknock`);
  } else {
    try {
      secret = await loadSecret({ name: alias, env: process.env });
      checks.ok('secret', await describeSecretSource(alias));
    } catch (error) {
      checks.failWith('secret', error, 'secret');
    }
  }

  let host = alias;
  let port = 22;
  let mode: KnockMode = STATIC_MODE;
  let jump: JumpProxy | undefined;
  const sshCommand = `ssh${request.config === undefined ? '' : ` -F ${request.config}`} ${alias}`;
  if (answer.kind === 'ok') {
    host = answer.config.get('hostname') ?? alias;
    port = Number(answer.config.get('port') ?? 22);
    const mismatches = effectiveMismatches(answer.config, alias);
    const setup = `pingknock setup ${alias}${request.config === undefined ? '' : ` --config ${request.config}`}`;
    if (mismatches.length === 0) {
      const proxy = answer.config.get('proxycommand') ?? '';
      const found = readPingknockProxy(proxy, alias);
      mode = found?.mode ?? STATIC_MODE;
      jump = found?.jump;
      const legacy =
        found?.form === 'legacy'
          ? `; only OpenSSH expands its %n, so Fabric and paramiko cannot use it: ${setup} writes the alias instead`
          : '';
      const passes = answer.config.get('proxyusefdpass') === 'yes';
      const way =
        found?.fdpass === true
          ? passes
            ? '; ssh takes the connected socket from it (ProxyUseFdpass yes): no pingknock runs during the session'
            : '; it relays the session, as ProxyUseFdpass is not yes'
          : '';
      const from =
        jump === undefined ? '' : `; it knocks from ${knockingHop(jump.route).host} and goes through it (ssh -W)`;
      checks.ok(
        'ssh config',
        `${sshCommand} goes to ${host} port ${port} through ProxyCommand ${proxy}${legacy}${way}${from}`,
      );
    } else if (remote !== undefined) {
      checks.ok(
        'ssh config',
        `${sshCommand} goes to ${host} port ${port} through ProxyCommand ${answer.config.get('proxycommand') ?? ''}: ` +
          `pingknock on ${remote.route.destination} knocks, with its own copy of the secret`,
      );
    } else {
      checks.fail(
        'ssh config',
        `${sshCommand} uses ${mismatches.join(' and ')}, so it does not knock; run: ${setup}`,
        'usage',
      );
    }
  } else {
    checks.fail('ssh config', answer.kind === 'failed' ? `ssh -G: ${answer.message}` : answer.reason, 'usage');
  }

  // Read once: the horizon and the knock's pattern are judged at the same moment.
  const now = Date.now() / 1000;
  const horizonOpen = mode.kind === 'static' || checkHorizon(checks, alias, mode.lastDay, now);

  const through: JumpKnockSource | undefined =
    jump !== undefined ? { kind: 'jump', jump } : remote === undefined ? undefined : { kind: 'remote', found: remote };
  if (through !== undefined) {
    await checkThroughJumpHost(checks, {
      through,
      host,
      port,
      secret: horizonOpen ? secret : undefined,
      mode,
      now,
      deadlineMs,
      connectTimeoutMs,
    });
    return;
  }

  let target: ResolvedHost | undefined;
  try {
    target = await resolveHost(parseHost(host));
    checks.ok('name', target.address === host ? `${host} is an address` : `${host} resolves to ${target.address}`);
  } catch (error) {
    checks.failWith('name', error, 'resolve');
  }

  if (!pingReady || secret === undefined || target === undefined || !horizonOpen) {
    const needs = horizonOpen ? 'the secret and the address' : 'the secret, the address and one-time knocks that last';
    checks.skip('knock', `needs a ping that can knock, ${needs}: fix the lines above first`);
    checks.finish();
    return;
  }
  // A port already open to this client (an earlier knock's window, or no rules) would make any
  // secret look right: only a port closed before the knock and open after it proves the secret.
  const closedBefore = await connectFailure(target, port, OPEN_BEFORE_TIMEOUT_MS);
  const started = performance.now();
  let knock: KnockFacts['knock'];
  try {
    await sendKnock({ target, patternHex: knockPatterns(secret, mode, now).first, deadlineMs });
    const ms = performance.now() - started;
    knock = { answered: true, ms, after: (await connectFailure(target, port, connectTimeoutMs)) ?? 'open' };
  } catch (error) {
    knock = { answered: false, failure: failureOf(error, 'noReply') };
  }
  const where = `${target.family === 6 ? `[${target.address}]` : target.address}:${port}`;
  for (const line of knockVerdict({ address: target.address, where, openBefore: closedBefore === undefined, knock }))
    checks.add(line);
  checks.finish();
}

type JumpKnockSource =
  { readonly kind: 'jump'; readonly jump: JumpProxy } | { readonly kind: 'remote'; readonly found: RemotePingknock };

/**
 * The name, knock and port lines of a host knocked from a jump host: the name is resolved there,
 * and the knock and the port are checked from there (jump-doctor.ts).
 */
async function checkThroughJumpHost(
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

/** The horizon line of a host with one-time knocks: whether its server's patterns still last. */
function checkHorizon(checks: Checklist, alias: string, lastDay: number, unixSeconds: number): boolean {
  const today = slotAt(unixSeconds).day;
  switch (horizonState(today, lastDay)) {
    case 'ended':
      checks.fail('horizon', horizonEndedMessage(alias, lastDay), 'horizonEnded');
      return false;
    case 'ending':
      checks.ok('horizon', horizonWarning(alias, lastDay));
      return true;
    case 'open':
      checks.ok('horizon', `one-time knocks through ${isoDate(lastDay)} (UTC), ${lastDay - today} days after today`);
      return true;
  }
}

/** Connects and closes at once: why the port did not accept the connection, undefined when it did. */
async function connectFailure(target: ResolvedHost, port: number, timeoutMs: number): Promise<Failure | undefined> {
  try {
    (await connectTcp(target, port, timeoutMs)).destroy();
    return undefined;
  } catch (error) {
    return failureOf(error, 'connectFailed');
  }
}

export interface KnockFacts {
  readonly address: string;
  /** The port as shown: `ADDRESS:PORT`, `[ADDRESS]:PORT`. */
  readonly where: string;
  /** The port accepted a connection before the knock was sent. */
  readonly openBefore: boolean;
  readonly knock:
    | { readonly answered: false; readonly failure: Failure }
    | { readonly answered: true; readonly ms: number; readonly after: 'open' | Failure };
}

/** The knock and port lines: ok only when the port was closed before the knock and open after it. */
export function knockVerdict(facts: KnockFacts): CheckLine[] {
  const { address, where, openBefore, knock } = facts;
  if (!knock.answered) {
    return [
      { status: 'FAIL', name: 'knock', detail: knock.failure.message, kind: knock.failure.kind },
      { status: 'skip', name: 'port', detail: 'needs an answered knock' },
    ];
  }
  const answered = `${address} answered the knock in ${formatSeconds(knock.ms)}`;
  const port: CheckLine =
    knock.after !== 'open'
      ? { status: 'FAIL', name: 'port', detail: knock.after.message, kind: knock.after.kind }
      : openBefore
        ? { status: 'ok', name: 'port', detail: `${where} accepts connections (it did before the knock too)` }
        : {
            status: 'ok',
            name: 'port',
            detail: `${where} did not accept a connection before the knock and did after it: the knock opened it`,
          };
  if (!openBefore) return [{ status: 'ok', name: 'knock', detail: answered }, port];
  const unproven =
    `${answered}, but ${where} already accepted connections before this knock ` +
    "(an earlier knock's window still open, or the port is not protected), " +
    `so this secret is not proven; wait for the window to close (${DEFAULT_WINDOW_SECONDS} s by default) ` +
    'and run doctor again';
  return [{ status: 'WARN', name: 'knock', detail: unproven, kind: 'unproven' }, port];
}

/** Where the secret came from, the way `proxy --name ALIAS` looks for it. */
async function describeSecretSource(alias: string): Promise<string> {
  const fromEnv = process.env[SECRET_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return `from ${SECRET_ENV} (it takes precedence over the file)`;
  const path = secretPathFor(alias);
  const mode = (await fs.stat(path)).mode & 0o777;
  return `${path}, mode ${mode.toString(8).padStart(4, '0')}, well-formed`;
}

/** An error's message and failure class, so doctor exits like the command that would have failed. */
function failureOf(error: unknown, fallback: ExitCodeName): Failure {
  if (!(error instanceof PingknockError))
    return { message: error instanceof Error ? error.message : String(error), kind: fallback };
  const kind = (Object.keys(ExitCode) as ExitCodeName[]).find((name) => ExitCode[name] === error.exitCode);
  return { message: error.message, kind: kind ?? fallback };
}
