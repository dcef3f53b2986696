import { ExitCode, PingknockError } from '../core/errors.js';
import type { Family } from '../core/layout.js';
import { secretToHex, type Secret } from '../core/secret.js';
import { applyScript, confirmScript, removeScript, rollbackNowScript, SCRIPT_EXIT } from '../core/rules/apply.js';
import {
  detectBackendScript,
  ENROLL_BACKENDS,
  NO_FIREWALL_EXIT,
  type EnrollBackend,
  type EnrollBackendChoice,
} from '../core/rules/detect.js';
import { persistCheckScript, persistScript, unpersistScript } from '../core/rules/persist.js';
import { buildRuleModel, MAX_WINDOW_SECONDS } from '../core/rules/model.js';
import { renderRules } from '../core/rules/render.js';
import { UFW_TARGETS, withUfwBlocks, type UfwFiles } from '../core/rules/ufw.js';
import { sendKnock } from '../edge/ping.js';
import { resolveAll } from '../edge/resolve.js';
import { effectiveSshConfig } from '../edge/ssh.js';
import { readRecord, writeRecord, type EnrollmentRecord } from '../edge/enroll-record.js';
import { lastLines } from '../edge/exec.js';
import { RemoteServer, type ServerAddress, type SshTarget } from '../edge/remote.js';
import { info } from './info.js';
import { runSetup, type SetupRequest } from './setup.js';

export const MIN_ROLLBACK_SECONDS = 15;
export const MAX_ROLLBACK_SECONDS = 3600;

export interface EnrollRequest {
  readonly setup: SetupRequest;
  readonly backend: EnrollBackendChoice;
  readonly windowSeconds: number;
  readonly rollbackSeconds: number;
  readonly stateDir: string;
  readonly persistDir: string;
}

/** Printed by the knocked session before the confirm: seeing it proves the knocked login. */
export const LOGGED_IN_MARK = 'pingknock: logged in through the knock';

/**
 * `pingknock enroll`: setup on the client, then on the server, over ssh: apply the rules with a
 * rollback armed, prove them from the client (no knock: timed out; through the knock: logged
 * in, and that very session confirms), and only then make them persistent. Whatever fails after
 * the rules are applied is rolled back at once over the connection kept open from before.
 */
export async function runEnroll(request: EnrollRequest): Promise<void> {
  // Checked before setup writes anything (buildRuleModel checks the window again, later).
  checkSeconds(
    'rollback',
    request.rollbackSeconds,
    MIN_ROLLBACK_SECONDS,
    MAX_ROLLBACK_SECONDS,
    ': long enough to prove the rules',
  );
  checkSeconds('window', request.windowSeconds, 1, MAX_WINDOW_SECONDS, '');
  const setup = await runSetup(request.setup);
  if (!setup.written) {
    info('nothing was changed, here or on the server');
    return;
  }
  // Before the server is touched: unenroll must find what setup added even if what follows fails.
  const earlier = await readRecord(setup.alias);
  const sameConfig = earlier?.config === setup.configPath;
  const record: EnrollmentRecord = {
    config: setup.configPath,
    configAddition: setup.addition ?? (sameConfig ? (earlier?.configAddition ?? null) : null),
    ...(sameConfig && earlier?.server !== undefined ? { server: earlier.server } : {}),
  };
  await writeRecord(setup.alias, record);

  const target: SshTarget = {
    alias: setup.alias,
    configFile: request.setup.config === undefined ? undefined : setup.configPath,
  };
  // The port is still open: this login needs no knock, and as an established connection it
  // outlives the rules, for the rollback at once should anything fail.
  const server = await RemoteServer.open(target, { knock: false }).catch((error: unknown) => {
    if (error instanceof PingknockError && /timed out/i.test(error.message)) {
      // Most likely the port is protected already: by an earlier enroll, or rules loaded by hand.
      throw new PingknockError(
        'server',
        `${error.message}; if pingknock's rules already guard ${setup.alias}, run pingknock unenroll ${setup.alias} first`,
      );
    }
    throw error;
  });
  try {
    info(`logged in to ${setup.alias} without a knock; this connection stays open until the rules are proven`);
    const backend = request.backend === 'auto' ? await detectBackend(server) : request.backend;
    info(`${setup.alias} uses ${backend}${request.backend === 'auto' ? '' : ' (--backend)'}`);
    const ipv6 = await server.ipv6();
    const families = serverFamilies(backend, ipv6.enabled);
    const model = buildRuleModel({
      secret: setup.secret,
      port: setup.port,
      windowSeconds: request.windowSeconds,
      families,
    });
    const rules = renderRules(backend, model);
    // For ufw the block goes into the server's own before(6).rules, every other byte kept.
    const ufwOriginals = backend === 'ufw' ? await readUfwFiles(server, families) : {};
    let ufwFiles: UfwFiles;
    try {
      ufwFiles = withUfwBlocks(ufwOriginals, model);
    } catch (error) {
      throw new PingknockError('firewall', `${server.alias}: ${(error as Error).message}`);
    }

    // Known before the rules go in: whatever fails after them is rolled back.
    const others = await otherFamilies(target, setup.host, ipv6.addresses);
    const steps = new Enrolling(server, request, backend, families);
    await steps.checkPersistFolder();
    await steps.apply(rules, ufwFiles);
    await steps.prove(others, setup.secret);
    await steps.persist(rules, ufwOriginals);
    await writeRecord(setup.alias, {
      ...record,
      server: { backend, stateDir: request.stateDir, persistDir: request.persistDir },
    });
  } finally {
    await server.close();
  }
  info(
    `${setup.alias} is enrolled: port ${setup.port} opens only to a knock, and ssh ${setup.alias} knocks first (pingknock unenroll ${setup.alias} undoes it)`,
  );
}

function checkSeconds(option: string, seconds: number, min: number, max: number, why: string): void {
  if (!Number.isInteger(seconds) || seconds < min || seconds > max) {
    throw new PingknockError('usage', `--${option} must be whole seconds from ${min} to ${max}${why}`);
  }
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

/**
 * The families to guard on a server: both, so that sshd is open over neither. iptables needs a
 * program per family, ip6tables only where the kernel has IPv6 (it fails where it has not).
 */
export function serverFamilies(backend: EnrollBackend, ipv6Enabled: boolean): Family[] {
  return backend === 'iptables' && !ipv6Enabled ? ['ipv4'] : ['ipv4', 'ipv6'];
}

const FAMILY_NAMES: Readonly<Record<Family, string>> = { ipv4: 'IPv4', ipv6: 'IPv6' };

/** How long a proof's own knock waits for its echo reply: as long as the proxy's, by default. */
const KNOCK_DEADLINE_MS = 3_000;

/** An address of the server in a family the alias does not connect over. */
interface OtherFamily {
  readonly family: Family;
  readonly at: ServerAddress;
}

/**
 * For each family the alias does not connect over, one address to prove the rules on as well: as
 * the alias's host name resolves here, else for IPv6 the server's first global address, which
 * anyone may find and knock on just the same.
 */
async function otherFamilies(target: SshTarget, host: string, serverIpv6: readonly string[]): Promise<OtherFamily[]> {
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

/** Wide enough for a refusal's line, whose paths are only of use whole. */
const REFUSAL_WIDTH = 1000;

/** A server's script refused a folder or file as unsafe to write in as root (exit SCRIPT_EXIT.unsafe). */
export function refusedOn(alias: string, stderr: string): PingknockError {
  return new PingknockError('io', `${alias}: ${lastLines(stderr, 1, REFUSAL_WIDTH)}; nothing was changed there`);
}

/** The steps after the rules are known, each undoing the server's change when it fails. */
class Enrolling {
  private appliedAt = 0;

  constructor(
    private readonly server: RemoteServer,
    private readonly request: EnrollRequest,
    private readonly backend: EnrollBackend,
    private readonly families: readonly Family[],
  ) {}

  private get alias(): string {
    return this.server.alias;
  }

  /** Before the rules: a persist folder refused after them would leave them applied but not kept. */
  async checkPersistFolder(): Promise<void> {
    const result = await this.server.script(
      persistCheckScript({ backend: this.backend, persistDir: this.request.persistDir }),
      'master',
    );
    if (result.code === SCRIPT_EXIT.unsafe) throw refusedOn(this.alias, result.stderr);
    if (result.code !== 0) {
      throw new PingknockError(
        'server',
        `cannot check ${this.request.persistDir} on ${this.alias}: ${lastLines(result.stderr) || `exit ${result.code}`}`,
      );
    }
  }

  async apply(rules: string, ufwFiles: UfwFiles): Promise<void> {
    const { stateDir, rollbackSeconds } = this.request;
    this.appliedAt = Date.now();
    const result = await this.server.script(
      applyScript({ backend: this.backend, families: this.families, rules, ufwFiles, stateDir, rollbackSeconds }),
      'master',
    );
    if (result.code === 0) {
      info(
        `applied the ${this.backend} rules on ${this.alias}; unless they are proven within ${rollbackSeconds} s, the previous rules come back by themselves`,
      );
      return;
    }
    if (result.code === SCRIPT_EXIT.unsafe) throw refusedOn(this.alias, result.stderr);
    const detail = lastLines(result.stderr) || `exit ${result.code}`;
    if (result.code === SCRIPT_EXIT.applyFailed) {
      throw new PingknockError(
        'firewall',
        `applying the rules on ${this.alias} failed, and its previous rules are back: ${detail}`,
      );
    }
    if (result.code === SCRIPT_EXIT.rollbackPending) {
      throw new PingknockError(
        'firewall',
        `${this.alias} has a rollback pending from an earlier apply (an enroll still running, or one cut off less than its rollback time ago); nothing was changed: wait for it, then run enroll again`,
      );
    }
    // The connection broke, or the script could not run: whatever got applied goes back.
    await this.rollBackNow(
      `applying the rules on ${this.alias} did not finish (${detail})`,
      'so nothing had been applied',
    );
  }

  /**
   * Both proofs, for the alias and for an address in each of the `others` families: closed without
   * a knock, open after one. The alias's knocked session confirms, last, so the rules stay only if
   * no family is open to everyone and a knock gets in.
   */
  async prove(others: readonly OtherFamily[], secret: Secret): Promise<void> {
    const [unknocked, othersUnknocked] = await Promise.all([
      this.server.probeUnknocked(),
      Promise.all(others.map(async (other) => ({ other, outcome: await this.server.probeUnknocked(other.at) }))),
    ]);
    if (unknocked.kind !== 'closed') {
      await this.rollBackNow(
        `the port still answers a connection without a knock (${unknocked.detail}): the rules do not protect ${this.alias}`,
        this.firedOrConfirmed(),
      );
    }
    const reachable: OtherFamily[] = [];
    for (const { other, outcome } of othersUnknocked) {
      const over = `over ${FAMILY_NAMES[other.family]} (${other.at.address})`;
      if (outcome.kind === 'open') {
        await this.rollBackNow(
          `${over} the port still answers a connection without a knock (${outcome.detail}): the rules do not protect ${this.alias} over ${FAMILY_NAMES[other.family]}`,
          this.firedOrConfirmed(),
        );
      }
      if (outcome.kind === 'unreachable')
        info(`${over}: not proven, as it cannot be reached from here (${outcome.detail})`);
      else reachable.push(other);
    }
    info(
      `proof 1: a new connection without a knock times out${reachable.map(({ family, at }) => `, also over ${FAMILY_NAMES[family]} at ${at.address}`).join('')}`,
    );
    for (const other of reachable) await this.proveKnockOpens(other, secret);

    const knocked = await this.server.script(
      `echo '${LOGGED_IN_MARK}'\n${confirmScript(this.request.stateDir)}`,
      'knocked',
    );
    const loggedIn = knocked.stdout.toString().includes(LOGGED_IN_MARK);
    if (loggedIn && knocked.code === 0) {
      info('proof 2: a new connection through pingknock proxy logs in; it cancelled the rollback');
      return;
    }
    if (loggedIn && knocked.code === SCRIPT_EXIT.nothingToConfirm) {
      throw new PingknockError(
        'firewall',
        `the knocked login worked, but the rollback had fired already, so ${this.alias} has its previous rules again; run enroll again with a longer --rollback (it was ${this.request.rollbackSeconds} s)`,
      );
    }
    const detail = lastLines(knocked.stderr) || `exit ${knocked.code}`;
    await this.rollBackNow(
      loggedIn
        ? `the knocked login worked, but cancelling the rollback failed (${detail})`
        : `a new connection through the knock did not log in (${detail}): pings may be dropped before pingknock's rules see them`,
      this.firedOrConfirmed(),
    );
  }

  /** Proof 2 for another family: after a knock to its address, a new connection there gets an answer. */
  private async proveKnockOpens(other: OtherFamily, secret: Secret): Promise<void> {
    const over = `over ${FAMILY_NAMES[other.family]} (${other.at.address})`;
    try {
      await sendKnock({
        target: { address: other.at.address, family: other.family === 'ipv6' ? 6 : 4 },
        patternHex: secretToHex(secret),
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
      return this.rollBackNow(`${over} the knock failed (${(error as Error).message})`, this.firedOrConfirmed());
    }
    const outcome = await this.server.probeUnknocked(other.at);
    if (outcome.kind === 'closed') {
      return this.rollBackNow(
        `${over} the knock was answered, but a new connection after it timed out: the rules do not let a knock in`,
        this.firedOrConfirmed(),
      );
    }
    info(
      outcome.kind === 'open'
        ? `proof 2 ${over}: after a knock, a new connection gets an answer`
        : `${over}: not proven, as the connection after the knock cannot be made from here (${outcome.detail})`,
    );
  }

  /** Boot persistence over a knocked connection; should it fail, the rules go again (they are confirmed by now). */
  async persist(rules: string, ufwOriginals: UfwFiles): Promise<void> {
    const request = { backend: this.backend, persistDir: this.request.persistDir, families: this.families };
    const result = await this.server.script(persistScript({ ...request, rules }), 'knocked');
    if (result.code === 0) {
      for (const line of result.stdout
        .toString()
        .split('\n')
        .filter((text) => text !== ''))
        info(line);
      return;
    }
    const detail = lastLines(result.stderr) || `exit ${result.code}`;
    // Back to the state before: for ufw, the files as they were; else take pingknock's rules out.
    const undo = await this.server.script(
      removeScript({
        backend: this.backend,
        families: this.families,
        stateDir: this.request.stateDir,
        ufwFiles: ufwOriginals,
      }) + unpersistScript(request),
      'master',
    );
    if (undo.code === 0) {
      throw new PingknockError(
        'firewall',
        `making the rules persistent on ${this.alias} failed (${detail}), so they were taken out again`,
      );
    }
    throw new PingknockError(
      'firewall',
      `making the rules persistent on ${this.alias} failed (${detail}), and taking them out again failed too (${lastLines(undo.stderr) || `exit ${undo.code}`}): they are active until the next reboot; pingknock unenroll ${this.alias} removes them`,
    );
  }

  private firedOrConfirmed(): string {
    return `(it fired already, or the confirm got through): check with ssh ${this.alias}, or run pingknock unenroll ${this.alias}`;
  }

  /** Runs the saved restore now, over the connection kept from before the rules; never returns. */
  private async rollBackNow(reason: string, whenNothingPending: string): Promise<never> {
    const result = await this.server.script(rollbackNowScript(this.request.stateDir), 'master', 30_000);
    if (result.code === 0) {
      throw new PingknockError(
        'firewall',
        `${reason}; rolled back at once: ${this.alias} has its previous rules again`,
      );
    }
    if (result.code === SCRIPT_EXIT.nothingToConfirm) {
      throw new PingknockError('firewall', `${reason}; no rollback was pending ${whenNothingPending}`);
    }
    const left = Math.max(0, Math.ceil(this.request.rollbackSeconds - (Date.now() - this.appliedAt) / 1000));
    throw new PingknockError(
      'firewall',
      `${reason}; rolling back at once failed (${lastLines(result.stderr) || `exit ${result.code}`}): the rollback restores ${this.alias}'s previous rules by itself within ${left} s`,
    );
  }
}
