import { hostname, userInfo } from 'node:os';
import { wholeSeconds } from '../core/duration.js';
import { PingknockError } from '../core/errors.js';
import type { EnrollBackendChoice } from '../core/rules/detect.js';
import {
  checkedHorizonDays,
  checkedKeyName,
  DEFAULT_HORIZON_DAYS,
  defaultKeyName,
  MAX_WINDOW_SECONDS,
} from '../core/rules/model.js';
import { parseAlias } from '../core/ssh-config/names.js';
import { readRecord, writeRecord, type EnrollmentRecord } from '../edge/enroll-record.js';
import type { SshTarget } from '../core/remote-ssh.js';
import { RemoteServer } from '../edge/remote.js';
import { readRegistry } from '../edge/server-registry.js';
import { info } from './info.js';
import { changeKeys } from './key-change.js';
import { checkedRollback } from './key-session.js';
import { withKnockMode } from './knock-mode.js';
import { enrolledKey, planEnrollment } from './enroll-plan.js';
import { runSetup, type SetupRequest } from './setup.js';

export interface EnrollRequest {
  readonly setup: SetupRequest;
  readonly backend: EnrollBackendChoice;
  readonly windowSeconds: number;
  readonly rollbackSeconds: number;
  readonly stateDir: string;
  readonly persistDir: string;
  /** `--key-name`; else user@clienthost. */
  readonly keyName?: string | undefined;
  /** `--static`: the secret itself, also where one-time knocks could be had. */
  readonly static: boolean;
  /** `--horizon`: days of one-time patterns from today. */
  readonly horizonDays?: number | undefined;
  /** `--via OTHER_ALIAS`: log in knocking as that alias, for a server whose port is protected already. */
  readonly via?: string | undefined;
}

/**
 * `pingknock enroll`: setup on the client, then on the server, over ssh: this client's key added
 * to (or replaced in) the server's key list, the others kept, and the rules for all of them
 * applied with a rollback armed, proven from the client (no knock: timed out; through the knock:
 * logged in, and that very session confirms), and only then the key list and the rules kept.
 * Whatever fails after the rules are applied is rolled back at once over the connection kept
 * open from before.
 */
export async function runEnroll(request: EnrollRequest): Promise<void> {
  // Checked before setup writes anything.
  const rollbackSeconds = checkedRollback(request.rollbackSeconds);
  const windowSeconds = wholeSeconds('window', request.windowSeconds, 1, MAX_WINDOW_SECONDS);
  const keyName = checkedKeyName(request.keyName ?? defaultKeyName(userInfo().username, hostname()));
  if (request.static && request.horizonDays !== undefined) {
    throw new PingknockError('usage', '--horizon goes with one-time knocks, not with --static');
  }
  const horizonDays = checkedHorizonDays(request.horizonDays ?? DEFAULT_HORIZON_DAYS);
  const via = request.via === undefined ? undefined : parseAlias(request.via);
  // The mode is known once the server's firewall is: setup keeps the ProxyCommand's as it is.
  const setup = await runSetup({ ...request.setup, mode: undefined });
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
    via,
  };
  const server = await logIn(target);
  try {
    const how = via === undefined ? 'without a knock' : `through the knock of ${via}`;
    info(`logged in to ${setup.alias} ${how}; this connection stays open until the rules are proven`);
    const registry = await readRegistry(server, request.persistDir);
    const plan = await planEnrollment(server, registry, {
      backend: request.backend,
      static: request.static,
      keyName,
      keyNameGiven: request.keyName !== undefined,
      recordedName: earlier?.server?.key?.name,
      secret: setup.secret,
      port: setup.port,
      horizonDays,
      horizonGiven: request.horizonDays !== undefined,
    });
    const session = {
      server,
      target,
      host: setup.host,
      stateDir: request.stateDir,
      persistDir: request.persistDir,
      rollbackSeconds,
      registry,
    };
    await withKnockMode(setup.alias, setup.configPath, { from: setup.mode, to: plan.mode }, () =>
      changeKeys(session, {
        backend: plan.backend,
        port: setup.port,
        windowSeconds,
        keys: plan.keys,
        prover: { alias: setup.alias, secret: setup.secret, mode: plan.mode },
        hadRules: plan.hadRules,
      }),
    );
    await writeRecord(setup.alias, {
      ...((await readRecord(setup.alias)) ?? record),
      server: {
        backend: plan.backend,
        stateDir: request.stateDir,
        persistDir: request.persistDir,
        key: enrolledKey(keyName, plan.mode, horizonDays),
      },
    });
  } finally {
    await server.close();
  }
  info(
    `${setup.alias} is enrolled: port ${setup.port} opens only to a knock, ` +
      `and ssh ${setup.alias} knocks first (pingknock unenroll ${setup.alias} undoes it)`,
  );
}

/**
 * The connection kept open until the rules are proven. Without --via the port is still open and
 * this login needs no knock; as an established connection it outlives the rules, for the
 * rollback at once should anything fail.
 */
async function logIn(target: SshTarget): Promise<RemoteServer> {
  const via = target.via;
  try {
    return await RemoteServer.open(target, { knock: via !== undefined });
  } catch (error) {
    if (via === undefined && error instanceof PingknockError && /timed out/i.test(error.message)) {
      // Most likely the port is protected already: by pingknock for another alias or machine, or by hand.
      throw new PingknockError(
        'server',
        `${error.message}; if ${target.alias}'s port opens only to a knock already, log in knocking as ` +
          `another alias of this server that gets in: pingknock enroll ${target.alias} --via OTHER_ALIAS ` +
          `(or --via ${target.alias}, when it was enrolled before)`,
      );
    }
    throw error;
  }
}
