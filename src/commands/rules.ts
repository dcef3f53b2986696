import { readFile } from 'node:fs/promises';
import type { ArgumentsCamelCase, Argv } from 'yargs';
import { PingknockError } from '../core/errors.js';
import { parsePort } from '../core/target.js';
import type { Family } from '../core/layout.js';
import { buildRuleModel, DEFAULT_WINDOW_SECONDS } from '../core/rules/model.js';
import { BACKENDS, FAMILY_CHOICES, backendFamilies, renderRules, type Backend } from '../core/rules/render.js';
import { insertUfwBlock, removeUfwBlock, renderUfwBlock, UFW_TARGETS } from '../core/rules/ufw.js';
import { applyScript, checkedServerPath, confirmScript, removeScript, SCRIPT_EXIT, type UfwFiles } from '../core/rules/apply.js';
import { loadSecret } from '../edge/secret-source.js';
import { runScript } from '../edge/shell.js';
import { withSecretOptions } from './options.js';

export const command = 'rules';
export const describe = "Print (or apply, safely) the server's firewall rules for a secret";

export const DEFAULT_STATE_DIR = '/run/pingknock';
const MAX_ROLLBACK_SECONDS = 86_400;

export function builder(yargs: Argv) {
  return withSecretOptions(yargs)
    .option('backend', { choices: BACKENDS, default: 'nftables' as Backend, describe: 'firewall to write rules for' })
    .option('family', { choices: FAMILY_CHOICES, describe: 'IP versions to knock over (both by default; ip6tables: IPv6 only)' })
    .option('port', { type: 'string', default: '22', describe: 'TCP port to protect', requiresArg: true })
    .option('window', { type: 'number', default: DEFAULT_WINDOW_SECONDS, describe: 'seconds a knock keeps the port open for its sender', requiresArg: true })
    .option('apply', { type: 'boolean', describe: 'load the rules on this machine (root)' })
    .option('rollback', {
      type: 'number',
      default: 0,
      describe: 'with --apply: restore the previous rules after this many seconds unless --confirm',
      requiresArg: true,
    })
    .option('confirm', { type: 'boolean', describe: 'keep the applied rules: cancel the pending rollback (root)' })
    .option('remove', { type: 'boolean', describe: 'take away everything pingknock added, and nothing else (root)' })
    .option('tool', {
      type: 'string',
      describe: 'iptables program for --apply/--remove: iptables, iptables-legacy, iptables-nft (ip6tables-… likewise; IPv6 uses the same variant of ip6tables)',
      requiresArg: true,
    })
    .option('state-dir', { type: 'string', default: DEFAULT_STATE_DIR, describe: 'where --apply keeps the previous rules for a rollback', requiresArg: true })
    .conflicts('apply', ['confirm', 'remove'])
    .conflicts('confirm', 'remove')
    .example('$0 rules --name myserver > pingknock.nft', 'then on the server: nft -f pingknock.nft')
    .example('$0 rules --backend iptables --secret-file key > knock.sh', 'then on the server: sh knock.sh')
    .example('sudo $0 rules --name me --apply --rollback 120', 'apply here; unless confirmed within 120 s, the old rules come back')
    .example('sudo $0 rules --confirm', 'keep the rules applied with --rollback');
}

type Args = ArgumentsCamelCase<Awaited<ReturnType<typeof builder>['argv']>>;

export async function handler(argv: Args): Promise<void> {
  const backend = argv.backend;
  const families = backendFamilies(backend, argv.family);
  const stateDir = checkedServerPath('state-dir', argv.stateDir);
  const tool = checkedTool(backend, argv.tool);
  if (argv.rollback !== 0 && argv.apply !== true) {
    throw new PingknockError('usage', '--rollback goes with --apply');
  }
  if (argv.confirm || argv.remove || argv.apply) requireRoot();

  if (argv.confirm) {
    await runChecked(confirmScript(stateDir));
    process.stderr.write('pingknock: confirmed; the applied rules stay\n');
    return;
  }
  if (argv.remove) {
    const ufwFiles = backend === 'ufw' ? await editUfwFiles(families, (text) => removeUfwBlock(text)) : {};
    await runChecked(removeScript({ backend, tool, families, stateDir, ufwFiles }));
    process.stderr.write(`pingknock: removed pingknock's ${backend} rules\n`);
    return;
  }

  const model = buildRuleModel({
    secret: await loadSecret({ secretFile: argv.secretFile, name: argv.name, env: process.env, stdin: () => process.stdin }),
    port: parsePort(argv.port),
    windowSeconds: argv.window,
    families,
  });
  const rules = renderRules(backend, model);
  if (argv.apply !== true) {
    process.stdout.write(rules);
    return;
  }
  const rollbackSeconds = checkedRollback(argv.rollback);
  const ufwFiles =
    backend === 'ufw' ? await editUfwFiles(families, (text, family) => insertUfwBlock(text, renderUfwBlock(model, family), family)) : {};
  await runChecked(applyScript({ backend, rules, ufwFiles, tool, families, stateDir, rollbackSeconds }));
  process.stderr.write(
    rollbackSeconds > 0
      ? `pingknock: applied the ${backend} rules; they are rolled back in ${rollbackSeconds} s unless you run: pingknock rules --confirm\n`
      : `pingknock: applied the ${backend} rules\n`,
  );
}

function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new PingknockError('privilege', 'changing the firewall needs root: run it with sudo');
  }
}

async function runChecked(script: string): Promise<void> {
  const { code, stderr } = await runScript(script);
  if (code === 0) return;
  const detail = stderr.trim().split('\n').slice(-3).join('; ');
  // unsafe: a folder or file on the way was refused, so nothing could be written (io).
  const kind = code === SCRIPT_EXIT.nothingToConfirm || code === SCRIPT_EXIT.rollbackPending ? 'usage' : code === SCRIPT_EXIT.unsafe ? 'io' : 'firewall';
  throw new PingknockError(kind, detail === '' ? `the firewall change failed (exit ${code})` : detail);
}

async function editUfwFiles(families: readonly Family[], edit: (text: string, family: Family) => string): Promise<UfwFiles> {
  const files: Record<string, string> = {};
  for (const family of families) {
    const { file } = UFW_TARGETS[family];
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      throw new PingknockError('firewall', `cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'}): is ufw installed?`);
    }
    try {
      files[file] = edit(text, family);
    } catch (error) {
      throw new PingknockError('firewall', (error as Error).message);
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
  if (!Number.isInteger(seconds) || seconds < 0 || seconds > MAX_ROLLBACK_SECONDS) {
    throw new PingknockError('usage', `--rollback must be whole seconds from 0 to ${MAX_ROLLBACK_SECONDS}`);
  }
  return seconds;
}
