// pingknock benchmarks: `sudo npm run bench` (root: it builds the namespace lab).
//
// Builds the lab, measures dist/ (run `npm run build` first), and prints one table of medians,
// each next to a baseline measured in the same run, with PASS/FAIL against the targets of the issues
// "pingknock adds as little as physics and Node allow" and "out of the data path, and no round trip
// for the knock". Exit code: 0 all rows pass, 1 a row fails, 2 the bench itself could not run.
// bench/README.md says what each row measures and which BENCH_* variables change the repeats,
// sizes and sections.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Lab, LabOptions } from '../src/lab/lab.js';
import { BUILT, loadBuilt } from './built.js';
import { atExit, cleanUpAtExit } from './cleanup.js';
import { readConfig, ROOT, type Config } from './config.js';
import { distFingerprint, distIsStale, machine } from './machine.js';
import { log } from './measure.js';
import { measureRollingRuleset } from './rolling-ruleset.js';
import { rows as tableRows, type Results } from './report/rows.js';
import { printFailures, printTable, writeJson, type RunInfo } from './report/table.js';
import { benchConnect } from './sections/connect.js';
import type { Context } from './sections/context.js';
import { benchParallel } from './sections/parallel.js';
import { benchRtt } from './sections/rtt.js';
import { benchStart } from './sections/start.js';
import { benchTransfer } from './sections/transfer.js';

/** Exits 2 when the bench cannot run here. */
function checkReady(): void {
  if (process.getuid?.() !== 0) {
    process.stderr.write('bench: needs root (network namespaces, nft, sshd): sudo npm run bench\n');
    process.exit(2);
  }
  for (const file of BUILT) {
    if (!existsSync(join(ROOT, file))) {
      process.stderr.write(`bench: ${file} is missing: run npm run build first\n`);
      process.exit(2);
    }
  }
}

/**
 * Every run inherits this environment, so it is made that of a fresh machine; returns what the
 * table must say was removed. The secret must come from the lab's files. Node parses
 * NODE_EXTRA_CA_CERTS at every start, before any script runs (~35 ms on the VM of RESULTS.md):
 * it would inflate `node -e 0` and every proxy alike.
 */
function cleanEnvironment(): string | undefined {
  delete process.env.PINGKNOCK_SECRET;
  if (process.env.NODE_EXTRA_CA_CERTS === undefined) return undefined;
  delete process.env.NODE_EXTRA_CA_CERTS;
  return 'NODE_EXTRA_CA_CERTS';
}

async function measure(ctx: Context): Promise<Results> {
  const { sections } = ctx.config;
  const results: Results = {};
  if (sections.has('start')) results.start = await benchStart(ctx);
  if (sections.has('connect')) Object.assign(results, await benchConnect(ctx));
  if (sections.has('xfer')) results.xfer = await benchTransfer(ctx);
  if (sections.has('parallel')) results.parallel = await benchParallel(ctx);
  if (sections.has('rtt')) results.rtt = await benchRtt(ctx);
  if (sections.has('rolling')) {
    log('rolling: loading the static and the rolling rulesets in a namespace of their own');
    results.rolling = await measureRollingRuleset();
  }
  return results;
}

/** The lab with pingknock's nftables rules on a bare server, and the secret's files in `work`. */
async function setUp(config: Config): Promise<Context> {
  const { Lab, buildRuleModel, renderNftables, secretFromRandomBytes, SECRET_RANDOM_BYTES } = await loadBuilt();
  const secret = secretFromRandomBytes(randomBytes(SECRET_RANDOM_BYTES));
  const work = mkdtempSync('/dev/shm/pingknock-bench-');
  atExit(() => rmSync(work, { recursive: true, force: true }));
  const secretFile = join(work, 'secret');
  writeFileSync(secretFile, `${secret}\n`, { mode: 0o600 });
  const buildLab = async (forwarder?: LabOptions['forwarder']): Promise<Lab> => {
    const lab = await Lab.create({ secret, serverFirewall: 'bare', ...(forwarder ? { forwarder } : {}) });
    lab.loadServerRules(renderNftables(buildRuleModel({ secret, port: lab.port, windowSeconds: 60 })));
    return lab;
  };
  log('building the lab (bare server + pingknock nftables rules)');
  const lab = await buildLab();
  return { config, lab, hex: Buffer.from(secret, 'ascii').toString('hex'), work, secretFile, buildLab };
}

async function main(): Promise<void> {
  const config = readConfig(process.env);
  cleanUpAtExit();
  checkReady();
  const stale = distIsStale();
  if (stale) log('WARNING: src/ is newer than dist/; measuring dist/ as it is (run npm run build)');
  const unset = cleanEnvironment();
  const info: RunInfo = { ...machine(), dist: distFingerprint(), stale, ...(unset ? { unset } : {}) };
  const ctx = await setUp(config);
  const results = await measure(ctx);
  ctx.lab.destroy();
  const rows = tableRows(results, config);
  printTable(rows, info, config);
  printFailures(results);
  if (config.jsonFile !== undefined) writeJson(config.jsonFile, info, rows, results);
  process.exitCode = rows.some((r) => r.result.startsWith('FAIL')) ? 1 : 0;
}

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(2);
});
