import { promises as fs } from 'node:fs';
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
import { secondsOption } from '../core/proxy-arguments.js';
import { findCommand } from '../edge/exec.js';
import { detectPing, knockLayoutProblem, sendKnock } from '../edge/ping.js';
import { resolveHost, type ResolvedHost } from '../edge/resolve.js';
import { loadSecret, SECRET_ENV, secretPathFor } from '../edge/secret-source.js';
import { knockingHop, type JumpProxy } from '../core/jump.js';
import { readRemotePingknock } from '../core/remote-pingknock.js';
import { Checklist, failureOf } from './checklist.js';
import { checkThroughJumpHost, type JumpKnockSource } from './jump-doctor.js';
import { connectFailure, knockVerdict, OPEN_BEFORE_TIMEOUT_MS, type KnockFacts } from './knock-proof.js';
import { loadSshConfigModules } from './ssh-config-modules.js';

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

/** Where the secret came from, the way `proxy --name ALIAS` looks for it. */
async function describeSecretSource(alias: string): Promise<string> {
  const fromEnv = process.env[SECRET_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return `from ${SECRET_ENV} (it takes precedence over the file)`;
  const path = secretPathFor(alias);
  const mode = (await fs.stat(path)).mode & 0o777;
  return `${path}, mode ${mode.toString(8).padStart(4, '0')}, well-formed`;
}
