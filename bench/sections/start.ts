// Row 2: pingknock's own start against `node -e 0`, with a floor and a breakdown of the start.
import { spawnSync } from 'node:child_process';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Lab } from '../../src/lab/lab.js';
import { start } from '../../test/support/spawned.js';
import { atExit } from '../cleanup.js';
import { startClosingServer } from '../closing-server.js';
import { BIN, MIB, MINIMAL_PROXY, NODE, ROOT } from '../config.js';
import { checked, log, tick, timedSync, timeInto } from '../measure.js';
import { Samples } from '../stats.js';
import { onClient, type Context } from './context.js';

/**
 * The single-executable candidate: the proxy bundle (dist/proxy-main.cjs) compiled by `bun build
 * --compile --bytecode` (without --bytecode bun parses the bundle at each start, which took about
 * as long as Node's whole start here), timed beside the Node launcher. Measured only where a bun
 * is found (BENCH_BUN, or `bun` on the PATH); bun is no dependency of pingknock.
 */
export interface BunCandidate {
  readonly version: string;
  readonly mib: number;
  /** An executable compiled from an empty script: bun's own start, as `node -e 0` is Node's. */
  readonly boot: Samples;
  readonly pk: Samples;
  readonly parse: Samples;
  /** `ssh knocked true` through it in the lab: undefined when it logged in, else why not. */
  readonly loginError: string | undefined;
}

export interface StartResult {
  readonly pk: Samples;
  readonly node: Samples;
  readonly minimal: Samples;
  readonly knockOnly: Samples;
  readonly parse: Samples;
  readonly pingV: Samples;
  readonly ping: Samples;
  readonly esm: Samples;
  readonly yargs: Samples;
  readonly cliVersion: Samples;
  /** The candidate, or why it was not measured. */
  readonly bun: BunCandidate | string;
}

interface Variant {
  readonly s: Samples;
  readonly file: string;
  readonly args: readonly string[];
  readonly status?: number;
  /** The row is checked on it: the warm-up must run it (an info variant that fails shows in the end). */
  readonly checked?: boolean;
}

function samples(bun: BunCandidate | string): StartResult {
  return {
    bun,
    pk: new Samples('pingknock proxy 127.0.0.1'),
    node: new Samples('node -e 0'),
    minimal: new Samples('minimal Node proxy'),
    knockOnly: new Samples('minimal Node proxy, knock only'),
    parse: new Samples('pingknock proxy, port 0 (load+parse, exit 2)'),
    pingV: new Samples('ping -V'),
    ping: new Samples('ping -c1 -p HEX 127.0.0.1'),
    esm: new Samples("node --input-type=module -e ''"),
    yargs: new Samples("import 'yargs'"),
    cliVersion: new Samples('pingknock --version (whole CLI)'),
  };
}

function variants(ctx: Context, port: number, s: StartResult): Variant[] {
  const { hex, secretFile } = ctx;
  const proxy = (to: number): string[] => ['proxy', '--secret-file', secretFile, '127.0.0.1', String(to)];
  return [
    { s: s.pk, file: BIN, args: proxy(port), checked: true },
    { s: s.node, file: NODE, args: ['-e', '0'], checked: true },
    { s: s.minimal, file: NODE, args: [MINIMAL_PROXY, secretFile, '127.0.0.1', String(port)], checked: true },
    { s: s.knockOnly, file: NODE, args: [MINIMAL_PROXY, secretFile, '127.0.0.1'], checked: true },
    // Breakdown (information only): what the pieces of the proxy's start cost on their own.
    { s: s.parse, file: BIN, args: proxy(0), status: 2 },
    { s: s.pingV, file: 'ping', args: ['-V'] },
    { s: s.ping, file: 'ping', args: ['-4', '-n', '-q', '-c', '1', '-i', '0.2', '-w', '3', '-p', hex, '127.0.0.1'] },
    { s: s.esm, file: NODE, args: ['--input-type=module', '-e', ''] },
    { s: s.yargs, file: NODE, args: ['--input-type=module', '-e', "import 'yargs'"] },
    { s: s.cliVersion, file: BIN, args: ['--version'] },
  ];
}

function bunVariants(ctx: Context, port: number, bun: BunCandidate, files: BunFiles): Variant[] {
  const proxy = (to: number): string[] => ['proxy', '--secret-file', ctx.secretFile, '127.0.0.1', String(to)];
  return [
    { s: bun.boot, file: files.empty, args: [] },
    { s: bun.pk, file: files.proxy, args: proxy(port) },
    { s: bun.parse, file: files.proxy, args: proxy(0), status: 2 },
  ];
}

interface BunFiles {
  readonly proxy: string;
  readonly empty: string;
}

const LOGIN_LIMIT_MS = 15_000;

/**
 * `ssh knocked` through the candidate: undefined once it logged in, else why not. A session that
 * hangs is killed with everything below ssh, the candidate too, so nothing of it runs on beside
 * what is measured next.
 */
async function loginThrough(lab: Lab, proxy: string): Promise<string | undefined> {
  lab.forgetKnocks();
  const proxyCommand = `ProxyCommand=${proxy} proxy --name knocked %h %p`;
  const login = start(
    'ip',
    onClient(lab, ['ssh', '-F', lab.sshConfig, '-o', proxyCommand, 'knocked', 'echo in']),
    lab.env,
  );
  login.child.stdin.end();
  try {
    const done = await login.finish(LOGIN_LIMIT_MS);
    if (done.code === 0 && done.stdout === 'in\n') return undefined;
    return `ssh exited ${done.code}: ${done.stderr.trim().slice(0, 200)}`;
  } catch {
    return `no login within ${LOGIN_LIMIT_MS / 1000} s (killed)`;
  }
}

/** Compiles the candidate and tries one login through it; a string says why there is none. */
async function buildBunCandidate(ctx: Context): Promise<{ candidate: BunCandidate; files: BunFiles } | string> {
  const bun = ctx.config.bun;
  if (bun === undefined) return 'not measured: no bun here (BENCH_BUN=PATH, or bun on the PATH; npm install bun)';
  const files = { proxy: join(ctx.work, 'pingknock-bun'), empty: join(ctx.work, 'empty-bun') };
  const emptyScript = join(ctx.work, 'empty.js');
  writeFileSync(emptyScript, '');
  for (const [from, to] of [
    [join(ROOT, 'dist', 'proxy-main.cjs'), files.proxy],
    [emptyScript, files.empty],
  ] as const) {
    const built = spawnSync(bun, ['build', '--compile', '--bytecode', from, '--outfile', to], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    if (built.status !== 0) return `not measured: bun build failed: ${(built.stderr || built.stdout).trim()}`;
  }
  return {
    candidate: {
      version: checked(bun, ['--version']).trim(),
      mib: statSync(files.proxy).size / MIB,
      boot: new Samples('bun executable of an empty script'),
      pk: new Samples('bun executable: proxy 127.0.0.1'),
      parse: new Samples('bun executable: proxy, port 0 (load+parse, exit 2)'),
      loginError: await loginThrough(ctx.lab, files.proxy),
    },
    files,
  };
}

/**
 * 2. pingknock's own start vs `node -e 0`, on the host loopback, both spawned the same way: with
 * pipes for stdin (at EOF) and stdout, as ssh runs a ProxyCommand.
 */
export async function benchStart(ctx: Context): Promise<StartResult> {
  const server = await startClosingServer(atExit);
  const bun = await buildBunCandidate(ctx);
  if (typeof bun === 'string') log(`start: bun candidate ${bun}`);
  const result = samples(typeof bun === 'string' ? bun : bun.candidate);
  const all = [
    ...variants(ctx, server.port, result),
    ...(typeof bun === 'string' ? [] : bunVariants(ctx, server.port, bun.candidate, bun.files)),
  ];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: `${join(ROOT, 'bin')}:${process.env.PATH ?? '/usr/bin:/bin'}`,
  };
  delete env.PINGKNOCK_SECRET;
  log(`start: ${ctx.config.n} rounds of ${all.length} variants, round-robin`);
  for (let round = -1; round < ctx.config.n; round += 1) {
    for (const v of all) {
      await tick();
      const options = { cwd: ROOT, env, status: v.status ?? 0, pipes: true };
      if (round < 0) {
        // Warm-up (page cache). The checked rows must work; an info row that fails shows in the end.
        try {
          timedSync(v.file, v.args, options);
        } catch (error) {
          if (v.checked === true) throw error;
          log(`warning: ${(error as Error).message}`);
        }
        continue;
      }
      timeInto(v.s, v.file, v.args, options);
    }
  }
  server.stop();
  return result;
}
