#!/usr/bin/env node
// pingknock benchmarks: `sudo npm run bench` (root: it builds the namespace lab).
//
// Builds the lab from dist/ (run `npm run build` first), measures, and prints one table of medians,
// each next to a baseline measured in the same run, with PASS/FAIL against the targets of the issue
// "pingknock adds as little as physics and Node allow". Exit code: 0 all rows pass, 1 a row fails,
// 2 the bench itself could not run. See bench/README.md for what each row measures.
//
// Environment:
//   BENCH_N          repeats for start-up and connect time (default 25)
//   BENCH_N_XFER     repeats for scp/rsync throughput (default 7)
//   BENCH_SIZE_MIB   size of the big transfer (default 1024)
//   BENCH_SMALL_MIB  size of the small transfer, for "flat with transfer size" (default 64)
//   BENCH_PARALLEL   parallel sessions for the memory row (default 32)
//   BENCH_SECTIONS   comma list of start,connect,xfer,parallel (default all)
//   BENCH_BASIS      wall (default) or cpu: what rows 1 and 2 are checked on. CPU time (user+sys of
//                    the whole process tree) is the steadier figure on a machine others are loading.
//   BENCH_JSON       also write every sample and the table to this file

import { spawn, spawnSync } from 'node:child_process';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { availableParallelism, loadavg, release } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'dist', 'bin', 'pingknock'); // the command install.sh puts on the PATH
const MINIMAL_PROXY = join(ROOT, 'bench', 'minimal-proxy.cjs');
const NODE = process.execPath;
const MIB = 1024 * 1024;

const intEnv = (name, fallback) => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer`);
  return value;
};
const N = intEnv('BENCH_N', 25);
const N_XFER = intEnv('BENCH_N_XFER', 7);
const SIZE_MIB = intEnv('BENCH_SIZE_MIB', 1024);
const SMALL_MIB = intEnv('BENCH_SMALL_MIB', 64);
const PARALLEL = intEnv('BENCH_PARALLEL', 32);
const BASIS = process.env.BENCH_BASIS ?? 'wall';
if (!['wall', 'cpu'].includes(BASIS)) throw new Error('BENCH_BASIS must be wall or cpu');
const SECTIONS = new Set((process.env.BENCH_SECTIONS ?? 'start,connect,xfer,parallel').split(',').map((s) => s.trim()));

// Targets from the issue.
const START_LIMIT = 1.15; // pingknock's own start <= 1.15x `node -e 0`
const CONNECT_NODE_FACTOR = 1.1; // connect <= shell recipe + 1.1x `node -e 0`
const THROUGHPUT_LIMIT = 0.97; // >= 0.97x nc
const RSS_LIMIT_MIB = 64; // peak RSS <= 64 MiB
const FLAT_SLACK_MIB = 8; // "flat": peak at the big size <= peak at the small size + this
const KNOCK_SLACK_MS = 10; // knock latency <= the shell recipe's + this (no sleeps, no extra round trip)

// ---------------------------------------------------------------------------------------------
// Small helpers

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
/** Lets the event loop run between synchronous runs, so a SIGINT/SIGTERM handler gets its turn. */
const tick = () => new Promise((resolve) => setImmediate(resolve));

function quantile(values, q) {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  // Nearest rank: the median of an even count is the mean of the middle two.
  if (q === 0.5) {
    const mid = sorted.length / 2;
    return Number.isInteger(mid) ? (sorted[mid - 1] + sorted[mid]) / 2 : sorted[Math.floor(mid)];
  }
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}
const median = (values) => quantile(values, 0.5);
const p90 = (values) => quantile(values, 0.9);

function log(text) {
  process.stderr.write(`bench: ${text}\n`);
}

function checked(file, args, options = {}) {
  const result = spawnSync(file, args, { encoding: 'utf8', ...options });
  if (result.error) throw new Error(`${file} could not run: ${result.error.message}`);
  if (result.status !== 0)
    throw new Error(`${file} ${args.join(' ')} failed (${result.status}): ${(result.stderr ?? '').trim()}`);
  return result.stdout ?? '';
}

/** One variant's samples and the failed runs (their stderr), kept apart so a failure is visible. */
class Samples {
  constructor(name) {
    this.name = name;
    this.values = []; // the measure: wall ms, MB/s, ...
    this.cpu = []; // CPU ms of the whole process tree, where measured
    this.rssKib = []; // largest peak RSS in the tree, where measured
    this.failures = [];
  }
  add(value, extra = {}) {
    this.values.push(value);
    if (extra.cpu !== undefined) this.cpu.push(extra.cpu);
    if (extra.rssKib !== undefined) this.rssKib.push(extra.rssKib);
  }
  fail(message) {
    this.failures.push(message);
  }
  get median() {
    return median(this.values);
  }
  get p90() {
    return p90(this.values);
  }
  get cpuMedian() {
    return median(this.cpu);
  }
}

const TIMED = join(ROOT, 'bench', 'timed.py');

/**
 * Runs a program to its end with nothing else going on in this process, through bench/timed.py:
 * wall ms (fork to exit), CPU ms and peak RSS of its whole process tree. Throws on an unexpected status.
 * `pipes`: stdin and stdout are pipes, as ssh gives its ProxyCommand, not /dev/null.
 */
function timedSync(file, args, { status = 0, pipes = false, ...options } = {}) {
  const result = spawnSync('/usr/bin/python3', ['-S', '-E', TIMED, ...(pipes ? ['--pipes'] : []), file, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
    ...options,
  });
  if (result.error) throw new Error(`timed.py could not run: ${result.error.message}`);
  const fields = (result.stdout ?? '').trim().split(' ');
  const [code, wall, cpu, rssKib] = fields.slice(0, 4).map(Number);
  if (result.status !== 0 || code !== status) {
    throw new Error(`${[file, ...args].join(' ')} exited ${code}: ${(result.stderr ?? '').trim().slice(0, 400)}`);
  }
  // When it started and ended on the wall clock, as the packet sniffer's kernel timestamps are.
  return { wall, cpu, rssKib, fromNs: BigInt(fields[4]), toNs: BigInt(fields[5]) };
}

/** Times one run into `samples`; returns the run's measures, or undefined when it failed. */
function timeInto(samples, file, args, options) {
  try {
    const run = timedSync(file, args, options);
    samples.add(run.wall, { cpu: run.cpu, rssKib: run.rssKib });
    return run;
  } catch (error) {
    samples.fail(error.message);
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Process memory: VmHWM (peak resident set) of the relay processes below a process we started.

function children(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** [pid, parent] for every process below `pid`. */
function descendants(pid) {
  const out = [];
  const stack = [pid];
  while (stack.length > 0) {
    const parent = stack.pop();
    for (const child of children(parent)) {
      out.push([child, parent]);
      stack.push(child);
    }
  }
  return out;
}

function cmdline(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** User + system CPU ms a process has used so far. */
function cpuMs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK; // utime, stime
  } catch {
    return undefined;
  }
}

function statusKib(pid, field) {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

const base = (path) => path.slice(path.lastIndexOf('/') + 1);

/**
 * Which relay a process is, from its command line, when its parent is ssh (the ProxyCommand is
 * ssh's child: sh execs the command, env execs node, all in one pid): nc, pingknock, or undefined
 * (the shell before its exec, or ssh's own fork before that).
 */
function relayKind(argv, parentArgv) {
  if (parentArgv.length === 0 || base(parentArgv[0]) !== 'ssh') return undefined;
  if (argv.length === 0 || base(argv[0]) === 'ssh') return undefined;
  if (/^nc(\.openbsd)?$/.test(base(argv[0]))) return 'nc';
  if (argv.includes('proxy')) return 'pingknock';
  return undefined;
}

/**
 * Samples the relays below `roots()` every `everyMs` until stopped. VmHWM only grows, so the last
 * reading of each process is its peak; sampling often enough catches the last growth before exit.
 */
function memorySampler(roots, everyMs = 20) {
  const peaks = new Map(); // pid -> { kind, hwmKib }
  let concurrentRssKib = 0;
  const sample = () => {
    let rssNow = 0;
    const relaysNow = new Set();
    for (const root of roots()) {
      for (const [pid, parent] of descendants(root)) {
        // A relay's own child is not a relay: between fork and exec (the proxy spawning ping)
        // it still shows the proxy's command line.
        if (relaysNow.has(parent)) continue;
        const kind = relayKind(cmdline(pid), cmdline(parent));
        if (kind === undefined) continue;
        relaysNow.add(pid);
        const hwm = statusKib(pid, 'VmHWM');
        const rss = statusKib(pid, 'VmRSS');
        const cpu = cpuMs(pid);
        const known = peaks.get(pid);
        if (hwm !== undefined)
          peaks.set(pid, {
            kind,
            hwmKib: Math.max(hwm, known?.hwmKib ?? 0),
            cpuMs: Math.max(cpu ?? 0, known?.cpuMs ?? 0),
          });
        if (rss !== undefined) rssNow += rss;
      }
    }
    concurrentRssKib = Math.max(concurrentRssKib, rssNow);
  };
  const timer = setInterval(sample, everyMs);
  return {
    stop() {
      clearInterval(timer);
      sample();
      const relays = [...peaks.values()];
      return {
        relays,
        maxHwmMib: Math.max(0, ...relays.map((r) => r.hwmKib)) / 1024,
        concurrentRssMib: concurrentRssKib / 1024,
        // Sampled: the last 20 ms of a relay's life may be missing.
        relayCpuMs: relays.reduce((sum, r) => sum + r.cpuMs, 0),
      };
    },
  };
}

/** Runs a program asynchronously (so the sampler runs), returning wall ms and the relays' peaks. */
function timedAsync(file, args, options = {}) {
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(file, args, { stdio: ['ignore', 'ignore', 'pipe'], ...options });
    const sampler = memorySampler(() => (child.pid === undefined ? [] : [child.pid]));
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (text) => {
      stderr += text;
    });
    child.on('error', (error) => {
      resolve({ ms: Number.NaN, memory: sampler.stop(), error: `${file} could not run: ${error.message}` });
    });
    child.on('close', (code, signal) => {
      const ms = performance.now() - started;
      const memory = sampler.stop();
      const error =
        code === 0
          ? undefined
          : `${[file, ...args].join(' ')} exited ${code ?? signal}: ${stderr.trim().slice(0, 400)}`;
      resolve({ ms, memory, error });
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Machine, build, cleanup

function machine() {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? 'unknown';
  return {
    date: new Date().toISOString(),
    nproc: availableParallelism(),
    model,
    kernel: release(),
    node: process.version,
    ssh: spawnSync('ssh', ['-V'], { encoding: 'utf8' }).stderr.trim(),
    loadavg: loadavg()
      .map((v) => v.toFixed(2))
      .join(' '),
  };
}

function newestMtime(dir, ext) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith(ext)) continue;
    newest = Math.max(newest, statSync(join(entry.parentPath ?? entry.path, entry.name)).mtimeMs);
  }
  return newest;
}

/** A short fingerprint of dist/, so a results file says which build it measured. */
function distFingerprint() {
  const hash = createHash('sha256');
  const files = readdirSync(join(ROOT, 'dist'), { recursive: true })
    .filter((f) => String(f).endsWith('.js'))
    .sort();
  for (const file of files) hash.update(String(file)).update(readFileSync(join(ROOT, 'dist', String(file))));
  return hash.digest('hex').slice(0, 12);
}

const cleanups = [];
process.on('exit', () => {
  for (const cleanup of cleanups.reverse()) {
    try {
      cleanup();
    } catch {
      // Best effort at exit.
    }
  }
});
// Exiting runs the 'exit' listeners: ours above and the Lab's, which removes the namespaces.
process.once('SIGINT', () => process.exit(130));
process.once('SIGTERM', () => process.exit(143));
process.once('SIGHUP', () => process.exit(129));

/** 1 GiB of incompressible bytes fast: AES-CTR of zeros (urandom would take ~5-8 s here). */
function writeRandomFile(path, mib) {
  const cipher = createCipheriv('aes-128-ctr', randomBytes(16), randomBytes(16));
  const zeros = Buffer.alloc(MIB);
  const fd = openSync(path, 'w');
  try {
    for (let i = 0; i < mib; i += 1) writeSync(fd, cipher.update(zeros));
  } finally {
    closeSync(fd);
  }
}

// ---------------------------------------------------------------------------------------------
// Sections

/**
 * 2. pingknock's own start vs `node -e 0`, on the host loopback, both spawned the same way: with
 * pipes for stdin (at EOF) and stdout, as ssh runs a ProxyCommand.
 */
async function benchStart(ctx) {
  const server = spawn(
    NODE,
    [
      '-e',
      "const s=require('net').createServer(c=>{c.on('error',()=>{});c.end()});s.listen(0,'127.0.0.1',()=>console.log(s.address().port))",
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  cleanups.push(() => server.kill('SIGKILL'));
  const port = await new Promise((resolve, reject) => {
    server.stdout.setEncoding('utf8').once('data', (text) => resolve(Number(text.trim())));
    server.once('exit', (code) => reject(new Error(`local TCP server exited (${code})`)));
  });
  const hex = ctx.hex;
  const variants = [
    {
      key: 'pk',
      s: new Samples('pingknock proxy 127.0.0.1'),
      file: BIN,
      args: ['proxy', '--secret-file', ctx.secretFile, '127.0.0.1', String(port)],
    },
    { key: 'node', s: new Samples('node -e 0'), file: NODE, args: ['-e', '0'] },
    {
      key: 'minimal',
      s: new Samples('minimal Node proxy'),
      file: NODE,
      args: [MINIMAL_PROXY, ctx.secretFile, '127.0.0.1', String(port)],
    },
    {
      key: 'knockOnly',
      s: new Samples('minimal Node proxy, knock only'),
      file: NODE,
      args: [MINIMAL_PROXY, ctx.secretFile, '127.0.0.1'],
    },
    // Breakdown (information only): what the pieces of the proxy's start cost on their own.
    {
      key: 'parse',
      s: new Samples('pingknock proxy, port 0 (load+parse, exit 2)'),
      file: BIN,
      args: ['proxy', '--secret-file', ctx.secretFile, '127.0.0.1', '0'],
      status: 2,
    },
    { key: 'pingV', s: new Samples('ping -V'), file: 'ping', args: ['-V'] },
    {
      key: 'ping',
      s: new Samples('ping -c1 -p HEX 127.0.0.1'),
      file: 'ping',
      args: ['-4', '-n', '-q', '-c', '1', '-i', '0.2', '-w', '3', '-p', hex, '127.0.0.1'],
    },
    {
      key: 'esm',
      s: new Samples("node --input-type=module -e ''"),
      file: NODE,
      args: ['--input-type=module', '-e', ''],
    },
    {
      key: 'yargs',
      s: new Samples("import 'yargs'"),
      file: NODE,
      args: ['--input-type=module', '-e', "import 'yargs'"],
    },
    { key: 'cliVersion', s: new Samples('pingknock --version (whole CLI)'), file: BIN, args: ['--version'] },
  ];
  const env = { ...process.env, PATH: `${join(ROOT, 'bin')}:${process.env.PATH ?? '/usr/bin:/bin'}` };
  delete env.PINGKNOCK_SECRET;
  log(`start: ${N} rounds of ${variants.length} variants, round-robin`);
  for (let round = -1; round < N; round += 1) {
    for (const v of variants) {
      await tick();
      const options = { cwd: ROOT, env, status: v.status ?? 0, pipes: true };
      if (round < 0) {
        // Warm-up (page cache). The checked rows must work; an info row that fails shows in the end.
        try {
          timedSync(v.file, v.args, options);
        } catch (error) {
          if (v.key === 'pk' || v.key === 'node' || v.key === 'minimal' || v.key === 'knockOnly') throw error;
          log(`warning: ${error.message}`);
        }
        continue;
      }
      timeInto(v.s, v.file, v.args, options);
    }
  }
  server.kill('SIGKILL');
  return Object.fromEntries(variants.map((v) => [v.key, v.s]));
}

/** 1 + 3. Connect time (pingknock, shell recipe, direct) with the knock latency sniffed on the wire. */
async function benchConnect(ctx) {
  const { lab, hex } = ctx;
  const sniffOut = join(ctx.work, 'sniff.txt');
  const sniffFd = openSync(sniffOut, 'w');
  const clientLink = `pk${lab.id}c`;
  const sniffer = spawn(
    'ip',
    [
      'netns',
      'exec',
      lab.client.netns,
      '/usr/bin/python3',
      '-u',
      join(ROOT, 'bench', 'sniff.py'),
      clientLink,
      lab.client.ipv4,
      lab.server.ipv4,
      String(lab.port),
    ],
    {
      stdio: ['ignore', sniffFd, 'inherit'],
    },
  );
  closeSync(sniffFd);
  cleanups.push(() => sniffer.kill('SIGKILL'));
  for (let i = 0; !readFileSync(sniffOut, 'utf8').includes('ready'); i += 1) {
    if (i > 100 || sniffer.exitCode !== null) throw new Error('the packet sniffer (bench/sniff.py) did not start');
    await sleep(50);
  }

  const recipe = `ProxyCommand=sh -c 'ping -c1 -W1 -p ${hex} %h >/dev/null && exec nc %h %p'`;
  const onClient = (args) => ['netns', 'exec', lab.client.netns, ...args];
  const ssh = (...args) => onClient(['ssh', '-F', lab.sshConfig, ...args]);
  const knockByHand = () => checked('ip', onClient(['ping', '-c1', '-W1', '-p', hex, lab.server.ipv4]));
  const variants = [
    {
      key: 'pk',
      s: new Samples('ssh via pingknock proxy'),
      args: ssh('knocked', 'true'),
      before: () => lab.forgetKnocks(),
    },
    {
      key: 'recipe',
      s: new Samples('ssh via sh -c ping && exec nc'),
      args: ssh('-o', recipe, 'knocked', 'true'),
      before: () => lab.forgetKnocks(),
    },
    { key: 'direct', s: new Samples('ssh direct, port open'), args: ssh('direct', 'true'), before: knockByHand },
    {
      key: 'minimal',
      s: new Samples('ssh via a minimal Node proxy'),
      args: ssh('-o', `ProxyCommand=${NODE} ${MINIMAL_PROXY} ${ctx.secretFile} %h %p`, 'knocked', 'true'),
      before: () => lab.forgetKnocks(),
    },
  ];
  const windows = []; // { key, fromNs, toNs }
  log(`connect: ${N} rounds of ${variants.length} variants, round-robin, knock sniffed on ${clientLink}`);
  for (let round = -1; round < N; round += 1) {
    for (const v of variants) {
      await tick();
      v.before();
      if (round < 0) {
        timedSync('ip', v.args, { env: lab.env }); // warm-up: host key, page cache; fails loudly
        continue;
      }
      const run = timeInto(v.s, 'ip', v.args, { env: lab.env });
      if (run !== undefined) windows.push({ key: v.key, fromNs: run.fromNs, toNs: run.toNs });
    }
  }
  await sleep(200);
  sniffer.kill('SIGTERM');
  await new Promise((resolve) => (sniffer.exitCode !== null ? resolve() : sniffer.once('exit', resolve)));

  // Each packet belongs to the run whose [start, end] holds its kernel timestamp.
  const events = readFileSync(sniffOut, 'utf8')
    .split('\n')
    .map((line) => line.split(' '))
    .filter((parts) => parts.length === 2 && /^\d+$/.test(parts[0]))
    .map(([ns, kind]) => ({ ns: BigInt(ns), kind }));
  const phases = (who) => ({
    total: new Samples(`${who}: echo request -> SYN`),
    rtt: new Samples(`${who}: request -> reply`),
    react: new Samples(`${who}: reply -> SYN`),
    toReq: new Samples(`${who}: ssh started -> echo request`),
    toSyn: new Samples(`${who}: ssh started -> SYN`),
    synToExit: new Samples(`${who}: SYN -> ssh exited`),
    resends: 0,
  });
  const knock = { pk: phases('pingknock'), recipe: phases('recipe'), direct: phases('direct') };
  const ms = (from, to) => Number(to - from) / 1e6;
  for (const w of windows) {
    const target = knock[w.key];
    if (target === undefined) continue; // the minimal proxy's runs count for row 1 only
    const inside = events.filter((e) => e.ns >= w.fromNs && e.ns <= w.toNs);
    const first = (kind) => inside.find((e) => e.kind === kind)?.ns;
    const req = first('req');
    const rep = first('rep');
    const syn = first('syn');
    // Where a connect's time goes: before the first SYN (start-up and knock), after it (ssh's session).
    if (syn !== undefined) {
      target.toSyn.add(ms(w.fromNs, syn));
      target.synToExit.add(ms(syn, w.toNs));
    }
    if (w.key === 'direct') continue; // its knock came before the timed run
    if (req === undefined || rep === undefined || syn === undefined) {
      target.total.fail(
        `run without a complete req/rep/syn sequence (${inside.map((e) => e.kind).join(',') || 'no packets'})`,
      );
      continue;
    }
    target.resends += inside.filter((e) => e.kind === 'req').length - 1;
    target.total.add(ms(req, syn));
    target.rtt.add(ms(req, rep));
    target.react.add(ms(rep, syn));
    target.toReq.add(ms(w.fromNs, req));
  }
  return { connect: Object.fromEntries(variants.map((v) => [v.key, v.s])), knock };
}

/** Peak RSS of a Node that does nothing, for scale: what any Node relay starts from. */
async function idleNodeHwmMib() {
  const child = spawn(NODE, ['-e', "console.log('up'); setTimeout(() => {}, 5000)"], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  await new Promise((resolve) => child.stdout.once('data', resolve));
  await sleep(200);
  const hwm = statusKib(child.pid, 'VmHWM');
  child.kill('SIGKILL');
  return (hwm ?? Number.NaN) / 1024;
}

/**
 * 4 + 5. scp and rsync of the big file through pingknock vs nc, with the relays' peak RSS.
 * Throughput counts the data phase: each variant's wall time minus the median wall time of the same
 * command copying an empty file (connect, knock, auth, session set-up), measured in the same rounds.
 * The raw figure (whole command) is reported too.
 */
async function benchTransfer(ctx) {
  const { lab, hex } = ctx;
  const big = join(ctx.work, `data-${SIZE_MIB}M`);
  const small = join(ctx.work, `data-${SMALL_MIB}M`);
  const empty = join(ctx.work, 'data-0');
  log(`transfer: writing ${SIZE_MIB} MiB and ${SMALL_MIB} MiB of random data to ${ctx.work}`);
  writeRandomFile(big, SIZE_MIB);
  writeRandomFile(small, SMALL_MIB);
  writeFileSync(empty, '');
  const dest = join(ctx.work, 'dest'); // on tmpfs: the server writes it, no disk in the way
  const bytes = SIZE_MIB * MIB;
  const nc = 'ProxyCommand=nc %h %p';
  const onClient = (args) => ['netns', 'exec', lab.client.netns, ...args];
  const knockByHand = () => checked('ip', onClient(['ping', '-c1', '-W1', '-p', hex, lab.server.ipv4]));
  const removeDest = () => rmSync(dest, { force: true });
  const scp = (extra, file) => onClient(['scp', '-q', '-F', lab.sshConfig, ...extra, file, `knocked:${dest}`]);
  const rsync = (extra, file) => onClient(['rsync', '-e', `ssh -F ${lab.sshConfig}${extra}`, file, `knocked:${dest}`]);
  const kinds = [
    {
      key: 'scpPk',
      label: 'scp via pingknock',
      args: (f) => scp([], f),
      before: () => (removeDest(), lab.forgetKnocks()),
    },
    { key: 'scpNc', label: 'scp via nc', args: (f) => scp(['-o', nc], f), before: () => (removeDest(), knockByHand()) },
    {
      key: 'rsyncPk',
      label: 'rsync via pingknock',
      args: (f) => rsync('', f),
      before: () => (removeDest(), lab.forgetKnocks()),
    },
    {
      key: 'rsyncNc',
      label: 'rsync via nc',
      args: (f) => rsync(` -o "${nc}"`, f),
      before: () => (removeDest(), knockByHand()),
    },
  ];
  const variants = Object.fromEntries(
    kinds.map((k) => [
      k.key,
      {
        ...k,
        wall: new Samples(`${k.label}, ${SIZE_MIB} MiB`),
        emptyWall: new Samples(`${k.label}, empty file`),
        hwm: [],
      },
    ]),
  );
  const emptyRounds = Math.max(N_XFER, 5);
  log(
    `transfer: ${N_XFER} rounds of ${kinds.length} variants (+ ${emptyRounds} rounds with an empty file), round-robin`,
  );
  for (let round = 0; round < Math.max(N_XFER, emptyRounds); round += 1) {
    for (const v of Object.values(variants)) {
      for (const [file, samples, wanted] of [
        [big, v.wall, round < N_XFER],
        [empty, v.emptyWall, round < emptyRounds],
      ]) {
        if (!wanted) continue;
        v.before();
        const result = await timedAsync('ip', v.args(file), { env: lab.env });
        if (result.error !== undefined) {
          samples.fail(result.error);
          continue;
        }
        samples.add(result.ms, { cpu: result.memory.relayCpuMs });
        if (file === big) v.hwm.push(result.memory.maxHwmMib);
      }
    }
    removeDest();
  }
  for (const v of Object.values(variants)) {
    // MB/s of the data phase, per run: the run's wall time minus the median set-up time.
    v.net = new Samples(`${v.label}, data phase`);
    v.raw = new Samples(`${v.label}, whole command`);
    for (const ms of v.wall.values) {
      v.net.add(bytes / 1e6 / ((ms - v.emptyWall.median) / 1000));
      v.raw.add(bytes / 1e6 / (ms / 1000));
    }
    v.net.failures.push(...v.wall.failures, ...v.emptyWall.failures);
  }
  // The same relay, a transfer 1/16th the size: peak RSS must not grow with the volume.
  const smallHwm = [];
  const smallRuns = new Samples(`scp ${SMALL_MIB} MiB via pingknock`);
  for (let i = 0; i < N_XFER; i += 1) {
    removeDest();
    lab.forgetKnocks();
    const result = await timedAsync('ip', scp([], small), { env: lab.env });
    if (result.error !== undefined) smallRuns.fail(result.error);
    else {
      smallRuns.add(result.ms);
      smallHwm.push(result.memory.maxHwmMib);
    }
  }
  rmSync(big, { force: true });
  rmSync(small, { force: true });
  removeDest();
  return { ...variants, small: { s: smallRuns, hwm: smallHwm }, idleNodeMib: await idleNodeHwmMib() };
}

/** 5b. 32 parallel `ssh knocked` sessions: the largest proxy's peak RSS. */
async function benchParallel(ctx) {
  const { lab } = ctx;
  log(`parallel: ${PARALLEL} sessions of ssh knocked 'sleep 1' at once`);
  lab.forgetKnocks();
  const started = performance.now();
  const children = [];
  const sampler = memorySampler(() => children.map((c) => c.pid).filter((pid) => pid !== undefined), 50);
  const results = await Promise.all(
    Array.from(
      { length: PARALLEL },
      () =>
        new Promise((resolve) => {
          const child = spawn(
            'ip',
            ['netns', 'exec', lab.client.netns, 'ssh', '-F', lab.sshConfig, 'knocked', 'sleep 1'],
            { env: lab.env, stdio: ['ignore', 'ignore', 'pipe'] },
          );
          children.push(child);
          let stderr = '';
          child.stderr.setEncoding('utf8').on('data', (t) => (stderr += t));
          child.on('close', (code) => resolve({ code, stderr }));
          child.on('error', (error) => resolve({ code: -1, stderr: error.message }));
        }),
    ),
  );
  const memory = sampler.stop();
  const failed = results.filter((r) => r.code !== 0);
  return {
    wallMs: performance.now() - started,
    relays: memory.relays.filter((r) => r.kind === 'pingknock').length,
    maxHwmMib: memory.maxHwmMib,
    concurrentRssMib: memory.concurrentRssMib,
    failed: failed.length,
    firstError: failed[0]?.stderr.trim(),
  };
}

// ---------------------------------------------------------------------------------------------
// Table

/** The measure rows 1 and 2 are checked on: wall time (default) or CPU time (BENCH_BASIS=cpu). */
const pick = (s) => (BASIS === 'cpu' ? s.cpuMedian : s.median);
const show = (s) => (BASIS === 'cpu' ? `${s.cpuMedian.toFixed(1)} ms CPU (wall ${s.median.toFixed(1)})` : fmtMs(s));
const signedMs = (ms) => `${ms >= 0 ? '+' : ''}${ms.toFixed(1)} ms`;
const fmtMs = (s) => `${s.median.toFixed(1)} ms (p90 ${s.p90.toFixed(1)})`;
const fmtRate = (s) => `${s.median.toFixed(0)} MB/s (min ${Math.min(...s.values).toFixed(0)})`;

function printTable(rows, info) {
  const head = ['row', 'value (median)', 'baseline (same run)', 'ratio / limit', 'result'];
  const body = rows.map((r) => [r.row, r.value, r.baseline, r.limit, r.result]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells) => cells.map((c, i) => c.padEnd(widths[i])).join(' | ');
  const out = [];
  out.push(`pingknock bench  ${info.date}`);
  out.push(`machine: ${info.nproc} CPUs, ${info.model}, Linux ${info.kernel}, node ${info.node}, ${info.ssh}`);
  out.push(
    `load average at start: ${info.loadavg}; at end: ${loadavg()
      .map((v) => v.toFixed(2))
      .join(' ')}`,
  );
  if (info.unset) out.push(`environment: ${info.unset} unset for every run (Node would parse it at each start)`);
  const distNow = distFingerprint();
  const changed =
    distNow === info.dist ? '' : `  WARNING: dist/ changed during the run (now ${distNow}): the rows mix two builds`;
  out.push(`dist ${info.dist}${info.stale ? '  WARNING: src/ is newer than dist/: run npm run build' : ''}${changed}`);
  out.push(
    `N=${N}, N_XFER=${N_XFER}, ${SIZE_MIB} MiB / ${SMALL_MIB} MiB, ${PARALLEL} parallel, rows 1-2 checked on ${BASIS} time`,
  );
  out.push('');
  out.push(line(head));
  out.push(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const b of body) out.push(line(b));
  process.stdout.write(`${out.join('\n')}\n`);
}

function verdict(ok, samplesList) {
  const failures = samplesList.flatMap((s) => s.failures);
  if (failures.length > 0) return `FAIL (${failures.length} runs failed)`;
  return ok ? 'PASS' : 'FAIL';
}

// ---------------------------------------------------------------------------------------------

async function main() {
  if (process.getuid?.() !== 0) {
    process.stderr.write('bench: needs root (network namespaces, nft, sshd): sudo npm run bench\n');
    process.exit(2);
  }
  for (const file of [
    'dist/lab/lab.js',
    'dist/core/rules/model.js',
    'dist/core/rules/nftables.js',
    'dist/core/secret.js',
    'dist/cli.js',
  ]) {
    if (!existsSync(join(ROOT, file))) {
      process.stderr.write(`bench: ${file} is missing: run npm run build first\n`);
      process.exit(2);
    }
  }
  const info = {
    ...machine(),
    dist: distFingerprint(),
    stale: newestMtime(join(ROOT, 'src'), '.ts') > newestMtime(join(ROOT, 'dist'), '.js'),
  };
  if (info.stale) log('WARNING: src/ is newer than dist/; measuring dist/ as it is (run npm run build)');
  const { Lab } = await import('../dist/lab/lab.js');
  const { buildRuleModel } = await import('../dist/core/rules/model.js');
  const { renderNftables } = await import('../dist/core/rules/nftables.js');
  const { secretFromRandomBytes, SECRET_RANDOM_BYTES } = await import('../dist/core/secret.js');

  // The lab's ssh and proxies inherit this environment: the secret must come from the lab's files.
  delete process.env.PINGKNOCK_SECRET;
  // Node parses this CA file at every start, before any script runs (~35 ms on the VM of
  // RESULTS.md): it would inflate `node -e 0` and every proxy alike. A fresh machine has none.
  if (process.env.NODE_EXTRA_CA_CERTS !== undefined) {
    info.unset = 'NODE_EXTRA_CA_CERTS';
    delete process.env.NODE_EXTRA_CA_CERTS;
  }
  const secret = secretFromRandomBytes(randomBytes(SECRET_RANDOM_BYTES));
  const hex = Buffer.from(secret, 'ascii').toString('hex');
  const work = mkdtempSync('/dev/shm/pingknock-bench-');
  cleanups.push(() => rmSync(work, { recursive: true, force: true }));
  const secretFile = join(work, 'secret');
  writeFileSync(secretFile, `${secret}\n`, { mode: 0o600 });

  log('building the lab (bare server + pingknock nftables rules)');
  const lab = await Lab.create({ secret, serverFirewall: 'bare' });
  lab.loadServerRules(renderNftables(buildRuleModel({ secret, port: lab.port, windowSeconds: 60 })));
  const ctx = { lab, hex, work, secretFile };
  const results = {};
  if (SECTIONS.has('start')) results.start = await benchStart(ctx);
  if (SECTIONS.has('connect')) Object.assign(results, await benchConnect(ctx));
  if (SECTIONS.has('xfer')) results.xfer = await benchTransfer(ctx);
  if (SECTIONS.has('parallel')) results.parallel = await benchParallel(ctx);
  lab.destroy();

  const rows = [];
  const info2 = (row, value, baseline = '', limit = '') => rows.push({ row, value, baseline, limit, result: 'info' });
  const nodeMs = results.start === undefined ? undefined : pick(results.start.node);

  if (results.start) {
    const { pk, node } = results.start;
    const ratio = pick(pk) / pick(node);
    rows.push({
      row: `2. own start: pingknock proxy to 127.0.0.1${BASIS === 'cpu' ? ' (CPU)' : ''}`,
      value: show(pk),
      baseline: `node -e 0: ${show(node)}`,
      limit: `${ratio.toFixed(2)}x <= ${START_LIMIT}x (gap ${(pick(pk) - START_LIMIT * pick(node)).toFixed(1)} ms)`,
      result: verdict(ratio <= START_LIMIT, [pk, node]),
    });
    const s = results.start;
    const cpuRatio = pk.cpuMedian / node.cpuMedian;
    info2(
      '   CPU time (user+sys, ping included)',
      `${pk.cpuMedian.toFixed(1)} ms`,
      `node -e 0: ${node.cpuMedian.toFixed(1)} ms`,
      `${cpuRatio.toFixed(2)}x; peak RSS ${(median(pk.rssKib) / 1024).toFixed(1)} vs ${(median(node.rssKib) / 1024).toFixed(1)} MiB`,
    );
    const signed = (ms) => `${ms >= 0 ? '+' : ''}${ms.toFixed(1)}`;
    const over = (x, base = node, what = 'node -e 0') =>
      `${signed(x.median - base.median)} ms wall, ${signed(x.cpuMedian - base.cpuMedian)} ms CPU over ${what}`;
    info2(
      '   floor: minimal Node proxy, same knock',
      fmtMs(s.minimal),
      '',
      `${(pick(s.minimal) / pick(node)).toFixed(2)}x node -e 0; pingknock ${signed(pick(pk) - pick(s.minimal))} ms over it`,
    );
    info2(
      '   floor, knock only: spawn ping, wait for it',
      fmtMs(s.knockOnly),
      '',
      `${(pick(s.knockOnly) / pick(node)).toFixed(2)}x node -e 0: what any Node proxy pays before connecting`,
    );
    info2('   proxy load+parse only (port 0, exit 2)', fmtMs(s.parse), '', over(s.parse));
    info2('   ping -V (cost of one trivial spawn)', fmtMs(s.pingV));
    info2('   ping -c1 -p HEX 127.0.0.1 (the knock)', fmtMs(s.ping));
    info2("   node --input-type=module -e ''", fmtMs(s.esm), '', over(s.esm));
    info2("   import 'yargs'", fmtMs(s.yargs), '', over(s.yargs, s.esm, "ESM -e ''"));
    info2('   pingknock --version (whole CLI)', fmtMs(s.cliVersion), '', over(s.cliVersion));
  }
  if (results.connect) {
    const { pk, recipe, direct } = results.connect;
    const limitMs = nodeMs === undefined ? Number.NaN : pick(recipe) + CONNECT_NODE_FACTOR * nodeMs;
    rows.push({
      row: `1. connect: ssh knocked true via pingknock${BASIS === 'cpu' ? ' (CPU)' : ''}`,
      value: show(pk),
      baseline: `shell recipe: ${show(recipe)}`,
      limit: `<= ${limitMs.toFixed(1)} ms = recipe + ${CONNECT_NODE_FACTOR}x node -e 0 (gap ${(pick(pk) - limitMs).toFixed(1)} ms)`,
      result: verdict(pick(pk) <= limitMs, [pk, recipe]),
    });
    info2(
      '   direct ssh, port open (no proxy)',
      fmtMs(direct),
      '',
      `pingknock ${signedMs(pk.median - direct.median)}, recipe ${signedMs(recipe.median - direct.median)}`,
    );
    const minimal = results.connect.minimal;
    info2(
      '   floor: ssh via a minimal Node proxy',
      fmtMs(minimal),
      '',
      `recipe + ${((pick(minimal) - pick(recipe)) / nodeMs).toFixed(2)}x node -e 0; pingknock ${signedMs(pick(pk) - pick(minimal))} over it`,
    );
    const nodeCpu = results.start?.node.cpuMedian ?? Number.NaN;
    const cpuLimit = recipe.cpuMedian + CONNECT_NODE_FACTOR * nodeCpu;
    info2(
      '   CPU time of ssh + proxy (whole tree)',
      `${pk.cpuMedian.toFixed(1)} ms`,
      `recipe ${recipe.cpuMedian.toFixed(1)}, direct ${direct.cpuMedian.toFixed(1)} ms`,
      `recipe + 1.1x node CPU = ${cpuLimit.toFixed(1)} ms (gap ${(pk.cpuMedian - cpuLimit).toFixed(1)})`,
    );
  }
  if (results.knock) {
    const { pk, recipe } = results.knock;
    const limitMs = recipe.total.median + KNOCK_SLACK_MS;
    rows.push({
      row: '3. knock: echo request -> first SYN (wire)',
      value: fmtMs(pk.total),
      baseline: `shell recipe: ${fmtMs(recipe.total)}`,
      limit: `<= recipe + ${KNOCK_SLACK_MS} ms = ${limitMs.toFixed(2)} ms; resends ${pk.resends}`,
      result: verdict(pk.total.median <= limitMs, [pk.total, recipe.total]),
    });
    info2('   request -> reply (round trip)', fmtMs(pk.rtt), `recipe: ${fmtMs(recipe.rtt)}`);
    info2('   reply -> SYN (reaction)', fmtMs(pk.react), `recipe: ${fmtMs(recipe.react)}`);
    // Row 1 split at the wire: before the knock (start-up), before the SYN, after the SYN (session).
    const direct = results.knock.direct;
    info2(
      '   connect: ssh started -> echo request',
      fmtMs(pk.toReq),
      `recipe: ${fmtMs(recipe.toReq)}`,
      signedMs(pk.toReq.median - recipe.toReq.median),
    );
    info2(
      '   connect: ssh started -> first SYN',
      fmtMs(pk.toSyn),
      `recipe: ${fmtMs(recipe.toSyn)}; direct: ${direct.toSyn.median.toFixed(1)} ms`,
      signedMs(pk.toSyn.median - recipe.toSyn.median),
    );
    info2(
      '   connect: first SYN -> ssh exited',
      fmtMs(pk.synToExit),
      `recipe: ${fmtMs(recipe.synToExit)}; direct: ${direct.synToExit.median.toFixed(1)} ms`,
      signedMs(pk.synToExit.median - recipe.synToExit.median),
    );
  }
  if (results.xfer) {
    const x = results.xfer;
    for (const [pk, nc, name] of [
      [x.scpPk, x.scpNc, 'scp'],
      [x.rsyncPk, x.rsyncNc, 'rsync'],
    ]) {
      const ratio = pk.net.median / nc.net.median;
      rows.push({
        row: `4. throughput: ${name} ${SIZE_MIB} MiB via pingknock`,
        value: fmtRate(pk.net),
        baseline: `nc: ${fmtRate(nc.net)}`,
        // Cut, not rounded, so 0.9696 never shows as a failing "0.970x".
        limit: `${(Math.floor(ratio * 1000) / 1000).toFixed(3)}x >= ${THROUGHPUT_LIMIT}x`,
        result: verdict(ratio >= THROUGHPUT_LIMIT, [pk.net, nc.net]),
      });
      info2(
        `   whole command incl. set-up`,
        fmtRate(pk.raw),
        `nc: ${fmtRate(nc.raw)}`,
        `${(pk.raw.median / nc.raw.median).toFixed(3)}x; set-up ${pk.emptyWall.median.toFixed(0)} vs ${nc.emptyWall.median.toFixed(0)} ms`,
      );
      // The relay's CPU during the data phase: minus what it used in the empty-file runs (its start).
      const perGib = (v) => ((median(v.wall.cpu) - median(v.emptyWall.cpu)) / SIZE_MIB) * 1024;
      info2(
        `   relay CPU per GiB (sampled /proc)`,
        `${perGib(pk).toFixed(0)} ms`,
        `nc: ${perGib(nc).toFixed(0)} ms`,
        `${(perGib(pk) / perGib(nc)).toFixed(2)}x`,
      );
    }
    const bigHwm = Math.max(...x.scpPk.hwm, ...x.rsyncPk.hwm);
    const ncHwm = Math.max(...x.scpNc.hwm, ...x.rsyncNc.hwm);
    const smallHwm = Math.max(...x.small.hwm);
    rows.push({
      row: `5. peak RSS of the proxy, ${SIZE_MIB} MiB scp+rsync`,
      value: `${bigHwm.toFixed(1)} MiB`,
      baseline: `nc ${ncHwm.toFixed(1)} MiB; idle node ${x.idleNodeMib.toFixed(1)} MiB`,
      limit: `<= ${RSS_LIMIT_MIB} MiB`,
      result: verdict(bigHwm <= RSS_LIMIT_MIB && bigHwm > 0, [x.scpPk.wall, x.rsyncPk.wall]),
    });
    rows.push({
      row: `5. peak RSS flat: ${SIZE_MIB} MiB vs ${SMALL_MIB} MiB scp`,
      value: `${bigHwm.toFixed(1)} MiB`,
      baseline: `${SMALL_MIB} MiB: ${smallHwm.toFixed(1)} MiB`,
      limit: `<= small + ${FLAT_SLACK_MIB} MiB (+${(bigHwm - smallHwm).toFixed(1)} MiB)`,
      result: verdict(bigHwm <= smallHwm + FLAT_SLACK_MIB && smallHwm > 0, [x.small.s]),
    });
  }
  if (results.parallel) {
    const p = results.parallel;
    rows.push({
      row: `5. peak RSS, ${PARALLEL} parallel sessions (max proxy)`,
      value: `${p.maxHwmMib.toFixed(1)} MiB`,
      baseline: `${p.relays} proxies seen, sum ${p.concurrentRssMib.toFixed(0)} MiB at once`,
      limit: `<= ${RSS_LIMIT_MIB} MiB`,
      result:
        p.failed > 0
          ? `FAIL (${p.failed} sessions failed)`
          : p.maxHwmMib <= RSS_LIMIT_MIB && p.relays > 0
            ? 'PASS'
            : 'FAIL',
    });
  }

  printTable(rows, info);
  const failures = Object.values(results)
    .flatMap((section) => Object.values(section ?? {}))
    .flatMap((v) => [v, v?.s, v?.total, v?.wall, v?.emptyWall].filter((s) => s instanceof Samples))
    .filter((s) => s.failures.length > 0);
  for (const s of failures)
    process.stdout.write(`\nfailed runs of "${s.name}":\n  ${s.failures.slice(0, 3).join('\n  ')}\n`);
  if (results.parallel?.firstError) process.stdout.write(`\nparallel session error: ${results.parallel.firstError}\n`);

  if (process.env.BENCH_JSON) {
    const plain = JSON.parse(
      JSON.stringify(results, (key, value) =>
        value instanceof Samples
          ? { name: value.name, values: value.values, cpu: value.cpu, rssKib: value.rssKib, failures: value.failures }
          : value,
      ),
    );
    writeFileSync(process.env.BENCH_JSON, `${JSON.stringify({ info, rows, results: plain }, null, 2)}\n`);
  }
  process.exitCode = rows.some((r) => r.result.startsWith('FAIL')) ? 1 : 0;
}

main().catch((error) => {
  process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(2);
});
