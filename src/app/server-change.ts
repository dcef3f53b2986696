import { PingknockError } from '../core/errors.js';
import type { Family } from '../core/layout.js';
import { applyScript, confirmScript, rollbackNowScript, SCRIPT_EXIT } from '../core/rules/apply.js';
import { forgetKnocksStep } from '../core/rules/backend-steps.js';
import type { EnrollBackend } from '../core/rules/detect.js';
import { persistCheckScript, persistScript } from '../core/rules/persist.js';
import { REGISTRY_CHANGED_EXIT } from '../core/rules/registry-scripts.js';
import type { UfwFiles } from '../core/rules/ufw.js';
import { refusedOn } from '../core/remote-ssh.js';
import { lastLines } from '../core/target.js';
import type { RemoteServer, Route } from '../edge/remote.js';
import { info } from './info.js';
import { proveClosed, type OtherFamily, type Prover } from './proofs.js';

/** Printed by the knocked session before the confirm: seeing it proves the knocked login. */
export const LOGGED_IN_MARK = 'pingknock: logged in through the knock';

/** How a server's firewall is changed: the same for every command that changes its keys. */
export interface ChangeSettings {
  readonly backend: EnrollBackend;
  readonly families: readonly Family[];
  readonly stateDir: string;
  readonly persistDir: string;
  readonly rollbackSeconds: number;
}

/** What takes a failed persistence back to the state before the change, and what to say when it did. */
export interface PersistUndo {
  readonly script: string;
  readonly said: string;
}

/**
 * The steps that change a server's rules, each undoing its change when it fails: apply with a
 * rollback armed, prove from the client, confirm (and only then commit what goes with the rules,
 * the key list), persist. Whatever fails after the apply is rolled back at once over the
 * connection kept open from before.
 */
export class ServerChange {
  private appliedAt = 0;
  /** How the proof got in: persistence follows that way, which needs no kept connection. */
  private route: Route = 'master';

  constructor(
    private readonly server: RemoteServer,
    private readonly settings: ChangeSettings,
  ) {}

  private get alias(): string {
    return this.server.alias;
  }

  /** Before the rules: a persist folder refused after them would leave them applied but not kept. */
  async checkPersistFolder(): Promise<void> {
    const { backend, persistDir } = this.settings;
    const result = await this.server.script(persistCheckScript({ backend, persistDir }), 'master');
    if (result.code === SCRIPT_EXIT.unsafe) throw refusedOn(this.alias, result.stderr);
    if (result.code !== 0) {
      throw new PingknockError(
        'server',
        `cannot check ${persistDir} on ${this.alias}: ${lastLines(result.stderr) || `exit ${result.code}`}`,
      );
    }
  }

  async apply(rules: string, ufwFiles: UfwFiles): Promise<void> {
    const { backend, families, stateDir, rollbackSeconds } = this.settings;
    this.appliedAt = Date.now();
    const result = await this.server.script(
      applyScript({ backend, families, rules, ufwFiles, stateDir, rollbackSeconds }) + forgetKnocksStep(backend),
      'master',
    );
    if (result.code === 0) {
      info(
        `applied the ${backend} rules on ${this.alias}; ` +
          `unless they are proven within ${rollbackSeconds} s, the previous rules come back by themselves`,
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
        `${this.alias} has a rollback pending from an earlier apply ` +
          '(a change of its rules still running, or one cut off less than its rollback time ago); ' +
          'nothing was changed: wait for it, then run this again',
      );
    }
    // The connection broke, or the script could not run: whatever got applied goes back.
    await this.rollBackNow(
      `applying the rules on ${this.alias} did not finish (${detail})`,
      'so nothing had been applied',
    );
  }

  /**
   * Proof 1 for every family; with a prover, proof 2: its knock opens the other families, and a
   * new connection through its ProxyCommand logs in and confirms, last, so the rules stay only if
   * no family is open to everyone and a knock gets in. Without one (the key that knocked is being
   * removed), the kept connection confirms. The confirm then runs `commit`; a commit that fails
   * restores the previous rules on the spot.
   */
  async prove(others: readonly OtherFamily[], prover: Prover | undefined, commit: string): Promise<void> {
    const disproved = (reason: string): Promise<never> => this.rollBackNow(reason, this.firedOrConfirmed());
    await proveClosed(this.server, others, prover, disproved);
    const confirm = confirmScript(this.settings.stateDir, commit);
    const route: Route =
      prover === undefined ? 'master' : prover.alias === this.alias ? 'knocked' : { knockedAs: prover.alias };
    const result = await this.server.script(`echo '${LOGGED_IN_MARK}'\n${confirm}`, route);
    this.route = route;
    const loggedIn = result.stdout.toString().includes(LOGGED_IN_MARK);
    const as = prover === undefined || prover.alias === this.alias ? '' : ` as ${prover.alias}`;
    if (loggedIn && result.code === 0) {
      info(
        prover === undefined
          ? 'confirmed over the kept connection: the keys left cannot be proven from here (--via proves one)'
          : `proof 2: a new connection through pingknock proxy${as} logs in; it cancelled the rollback`,
      );
      return;
    }
    const detail = lastLines(result.stderr) || `exit ${result.code}`;
    if (loggedIn && result.code === SCRIPT_EXIT.nothingToConfirm) {
      throw new PingknockError(
        'firewall',
        'the knocked login worked, but the rollback had fired already, ' +
          `so ${this.alias} has its previous rules again; ` +
          `run this again with a longer --rollback (it was ${this.settings.rollbackSeconds} s)`,
      );
    }
    if (loggedIn && result.code === REGISTRY_CHANGED_EXIT) {
      throw new PingknockError(
        'firewall',
        `the key list on ${this.alias} changed since it was read (another change of its keys came first), ` +
          'so its rules went back to what they were before this one: run this again',
      );
    }
    if (loggedIn) {
      // Failed before the disarm, the rollback is still pending; after it, the script restored the rules itself.
      await this.rollBackNow(
        `the knocked login worked, but confirming the rules and keeping the key list on ${this.alias} ` +
          `failed (${detail})`,
        '(the confirm had disarmed it, and put the previous rules back itself)',
      );
    }
    await this.rollBackNow(
      `a new connection through the knock${as} did not log in (${detail}): ` +
        "pings may be dropped before pingknock's rules see them",
      this.firedOrConfirmed(),
    );
  }

  /** Boot persistence, the way the proof got in; should it fail, `undo` takes the rules back (confirmed by now). */
  async persist(rules: string, undo: PersistUndo): Promise<void> {
    const { backend, persistDir, families } = this.settings;
    const result = await this.server.script(persistScript({ backend, persistDir, families, rules }), this.route);
    if (result.code === 0) {
      for (const line of result.stdout
        .toString()
        .split('\n')
        .filter((text) => text !== ''))
        info(line);
      return;
    }
    const detail = lastLines(result.stderr) || `exit ${result.code}`;
    const undone = await this.server.script(undo.script, 'master');
    if (undone.code === 0) {
      throw new PingknockError(
        'firewall',
        `making the rules persistent on ${this.alias} failed (${detail}), ${undo.said}`,
      );
    }
    throw new PingknockError(
      'firewall',
      `making the rules persistent on ${this.alias} failed (${detail}), ` +
        `and taking them back failed too (${lastLines(undone.stderr) || `exit ${undone.code}`}): ` +
        `they are active until the next reboot; run this again, or pingknock unenroll ${this.alias}`,
    );
  }

  private firedOrConfirmed(): string {
    return (
      '(it fired already, or the confirm got through): ' +
      `check with ssh ${this.alias}, or run pingknock unenroll ${this.alias}`
    );
  }

  /** Runs the saved restore now, over the connection kept from before the rules; never returns. */
  private async rollBackNow(reason: string, whenNothingPending: string): Promise<never> {
    const result = await this.server.script(rollbackNowScript(this.settings.stateDir), 'master', 30_000);
    if (result.code === 0) {
      throw new PingknockError(
        'firewall',
        `${reason}; rolled back at once: ${this.alias} has its previous rules again`,
      );
    }
    if (result.code === SCRIPT_EXIT.nothingToConfirm) {
      throw new PingknockError('firewall', `${reason}; no rollback was pending ${whenNothingPending}`);
    }
    const left = Math.max(0, Math.ceil(this.settings.rollbackSeconds - (Date.now() - this.appliedAt) / 1000));
    throw new PingknockError(
      'firewall',
      `${reason}; rolling back at once failed (${lastLines(result.stderr) || `exit ${result.code}`}): ` +
        `the rollback restores ${this.alias}'s previous rules by itself within ${left} s`,
    );
  }
}
