import { readFile } from 'node:fs/promises';
import { hostname, userInfo } from 'node:os';
import { PingknockError } from '../core/errors.js';
import { wholeSeconds } from '../core/duration.js';
import { lastLines, parsePort } from '../core/target.js';
import type { Family } from '../core/layout.js';
import {
  buildRuleModel,
  checkedHorizonDays,
  DEFAULT_HORIZON_DAYS,
  checkedKeyName,
  defaultKeyName,
  rollingKey,
  staticKey,
} from '../core/rules/model.js';
import { OLD_NFT_EXIT, rollingProbeScript } from '../core/rules/detect.js';
import { slotAt } from '../core/rolling.js';
import { backendFamilies, renderRules, type Backend, type FamilyChoice } from '../core/rules/render.js';
import { UFW_TARGETS, withoutUfwBlocks, withUfwBlocks, type UfwFiles } from '../core/rules/ufw.js';
import { applyScript, checkedServerPath, confirmScript, removeScript, SCRIPT_EXIT } from '../core/rules/apply.js';
import { loadSecret } from '../edge/secret-source.js';
import { runScript } from '../edge/exec.js';
import { cloudInitSnippet } from './cloud-init.js';
import { info } from './info.js';

const MAX_ROLLBACK_SECONDS = 86_400;

/** `pingknock rules` as given on its command line. */
export interface RulesRequest {
  readonly backend: Backend;
  readonly family: FamilyChoice | undefined;
  readonly port: string;
  readonly window: number;
  readonly apply: boolean | undefined;
  readonly rollback: number;
  readonly confirm: boolean | undefined;
  readonly remove: boolean | undefined;
  readonly tool: string | undefined;
  readonly stateDir: string;
  readonly secretFile: string | undefined;
  readonly name: string | undefined;
  /** One-time patterns (nftables only) for `horizon` days from today, UTC. */
  readonly rolling: boolean | undefined;
  readonly horizon: number | undefined;
  readonly keyName: string | undefined;
  /** Print the rules as a cloud-init snippet that applies them on a new machine's first boot. */
  readonly cloudInit?: boolean | undefined;
  readonly ufwDir?: string | undefined;
}

/**
 * `pingknock rules`: print the rules, or apply, confirm or remove them on this machine. Returns
 * what goes to stdout: the rules when they are only printed, else nothing.
 */
export async function runRules(request: RulesRequest): Promise<string> {
  const backend = request.backend;
  const families = backendFamilies(backend, request.family);
  const stateDir = checkedServerPath('state-dir', request.stateDir);
  const tool = checkedTool(backend, request.tool);
  if (request.rollback !== 0 && request.apply !== true && request.cloudInit !== true) {
    throw new PingknockError('usage', '--rollback goes with --apply or --cloud-init');
  }
  if (request.horizon !== undefined && request.rolling !== true) {
    throw new PingknockError('usage', '--horizon goes with --rolling');
  }
  const keyName = checkedKeyName(request.keyName ?? defaultKeyName(userInfo().username, hostname()));
  const horizon = checkedHorizonDays(request.horizon ?? DEFAULT_HORIZON_DAYS);
  if (request.confirm || request.remove || request.apply) requireRoot();

  if (request.confirm) {
    await runChecked(confirmScript(stateDir));
    info('confirmed; the applied rules stay');
    return '';
  }
  if (request.remove) {
    const ufwFiles = backend === 'ufw' ? withoutUfwBlocks(await readUfwFiles(families)) : {};
    await runChecked(removeScript({ backend, tool, families, stateDir, ufwFiles }));
    info(`removed pingknock's ${backend} rules`);
    return '';
  }

  const secret = await loadSecret({
    secretFile: request.secretFile,
    name: request.name,
    env: process.env,
    stdin: () => process.stdin,
  });
  const key =
    request.rolling === true
      ? rollingKey(keyName, secret, slotAt(Date.now() / 1000).day, horizon)
      : staticKey(keyName, secret);
  const model = buildRuleModel({
    keys: [key],
    port: parsePort(request.port),
    windowSeconds: request.window,
    families,
  });
  const rules = renderRules(backend, model);
  if (request.cloudInit === true) {
    return cloudInitSnippet({
      backend,
      model,
      rules,
      tool,
      stateDir,
      ufwDir: request.ufwDir,
      rollbackSeconds: checkedRollback(request.rollback),
    });
  }
  if (request.apply !== true) return rules;
  const rollbackSeconds = checkedRollback(request.rollback);
  if (key.kind === 'rolling') await probeRolling();
  let ufwFiles: UfwFiles = {};
  if (backend === 'ufw') {
    const originals = await readUfwFiles(families);
    try {
      ufwFiles = withUfwBlocks(originals, model);
    } catch (error) {
      throw new PingknockError('firewall', (error as Error).message);
    }
  }
  await runChecked(applyScript({ backend, rules, ufwFiles, tool, families, stateDir, rollbackSeconds }));
  info(
    rollbackSeconds > 0
      ? `applied the ${backend} rules; they are rolled back in ${rollbackSeconds} s ` +
          'unless you run: pingknock rules --confirm'
      : `applied the ${backend} rules`,
  );
  return '';
}

/** Fails before anything changes when this machine's nft cannot load one-time knocks. */
async function probeRolling(): Promise<void> {
  const { code, stderr } = await runScript(rollingProbeScript());
  if (code === OLD_NFT_EXIT) {
    throw new PingknockError('firewall', lastLines(stderr, 1, Number.POSITIVE_INFINITY));
  }
  if (code !== 0) {
    throw new PingknockError(
      'firewall',
      `nft cannot check a ruleset here (${lastLines(stderr, 3)}); one-time knocks need nftables 1.0.4 or later`,
    );
  }
}

function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new PingknockError('privilege', 'changing the firewall needs root: run it with sudo');
  }
}

async function runChecked(script: string): Promise<void> {
  const { code, stderr } = await runScript(script);
  if (code === 0) return;
  // Refusals name whole paths: no line is cut short.
  const detail = lastLines(stderr, 3, Number.POSITIVE_INFINITY);
  // unsafe: a folder or file on the way was refused, so nothing could be written (io).
  const kind =
    code === SCRIPT_EXIT.nothingToConfirm || code === SCRIPT_EXIT.rollbackPending
      ? 'usage'
      : code === SCRIPT_EXIT.unsafe
        ? 'io'
        : 'firewall';
  throw new PingknockError(kind, detail === '' ? `the firewall change failed (exit ${code})` : detail);
}

/** This machine's before(6).rules for `families`, path -> text. */
async function readUfwFiles(families: readonly Family[]): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const family of families) {
    const { file } = UFW_TARGETS[family];
    try {
      files[file] = await readFile(file, 'utf8');
    } catch (error) {
      throw new PingknockError(
        'firewall',
        `cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'}): is ufw installed?`,
      );
    }
  }
  return files;
}

function checkedTool(backend: Backend, tool: string | undefined): string | undefined {
  if (backend !== 'iptables' && backend !== 'ip6tables') {
    if (tool !== undefined) throw new PingknockError('usage', '--tool goes with --backend iptables or ip6tables');
    return undefined;
  }
  const chosen = tool ?? backend;
  if (!new RegExp(`^${backend}(-legacy|-nft)?$`).test(chosen)) {
    throw new PingknockError('usage', `--tool for ${backend} is one of ${backend}, ${backend}-legacy, ${backend}-nft`);
  }
  return chosen;
}

function checkedRollback(seconds: number): number {
  return wholeSeconds('rollback', seconds, 0, MAX_ROLLBACK_SECONDS);
}
