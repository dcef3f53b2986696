// Where pingknock proxy's start-up time goes: `sudo node dist/bench/phases.js [N]` (needs strace;
// `npm run bench` bundles it).
//
// Runs `pingknock proxy --secret-file F 127.0.0.1 PORT` against a local TCP server that closes at
// once (as row 2 of bench/run.ts does) and `node -e 0`, alternately, N times each (default 15),
// under `strace -f --seccomp-bpf -ttt` tracing only a handful of syscalls, and prints the median
// length of each phase between those syscalls. strace stops the process at each traced call, so
// every figure is a little high; compare phases with each other and with node -e 0's total.
// Information only: nothing here passes or fails.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startClosingServer } from './closing-server.js';
import { BIN, NODE, ROOT } from './config.js';
import { median } from './stats.js';

const N = Number(process.argv[2] ?? 15);
const TRACED = 'execve,clone,clone3,vfork,connect,sendto,recvmsg,exit_group,openat';

interface Event {
  readonly pid: number;
  readonly ms: number;
  readonly call: string;
}

type Mark =
  'nodeExec' | 'entry' | 'secret' | 'pingFork' | 'pingExec' | 'echo' | 'reply' | 'pingExit' | 'connect' | 'exit';

function trace(work: string, args: readonly string[]): Event[] {
  const out = join(work, 'trace.txt');
  const result = spawnSync('strace', ['-f', '--seccomp-bpf', '-ttt', '-e', `trace=${TRACED}`, '-o', out, ...args], {
    stdio: 'ignore',
    cwd: ROOT,
  });
  if (result.status !== 0) throw new Error(`${args.join(' ')} exited ${result.status}`);
  return readFileSync(out, 'utf8')
    .split('\n')
    .flatMap((line) => {
      const match = /^(\d+)\s+(\d+\.\d+)\s+(.*)$/.exec(line);
      return match ? [{ pid: Number(match[1]), ms: Number(match[2]) * 1000, call: match[3] ?? '' }] : [];
    });
}

/** The marks of one proxy run, in ms since its first execve. */
function proxyMarks(events: readonly Event[], secretFile: string, port: number): Record<Mark, number> {
  const main = events[0]?.pid;
  const t0 = events[0]?.ms ?? Number.NaN;
  const at = (predicate: (e: Event) => boolean): number => {
    const event = events.find(predicate);
    return event === undefined ? Number.NaN : event.ms - t0;
  };
  const pingExec = events.find((e) => e.pid !== main && /^execve\("[^"]*\/ping"/.test(e.call));
  const ping = pingExec?.pid;
  return {
    // The exec that succeeded: the first one for a launcher naming node's path, else env's.
    nodeExec: at((e) => e.pid === main && e.call.startsWith('execve(') && / = 0$/.test(e.call)),
    entry: at((e) => /^openat\(.*\/bin\/pingknock/.test(e.call)),
    secret: at((e) => e.call.includes(`"${secretFile}"`)),
    pingFork: at((e) => e.pid === main && /^clone3?\(/.test(e.call) && !e.call.includes('CLONE_THREAD')),
    pingExec: pingExec === undefined ? Number.NaN : pingExec.ms - t0,
    echo: at((e) => e.pid === ping && e.call.startsWith('sendto(')),
    reply: at((e) => e.pid === ping && e.call.startsWith('recvmsg(')),
    pingExit: at((e) => e.pid === ping && e.call.startsWith('exit_group(')),
    connect: at((e) => e.pid === main && e.call.startsWith('connect(') && e.call.includes(`htons(${port})`)),
    exit: at((e) => e.pid === main && e.call.startsWith('exit_group(')),
  };
}

/** ms from the first execve of `node -e 0` to its exit. */
function nodeTotal(events: readonly Event[]): number {
  const first = events[0];
  const exit = events.find((e) => e.pid === first?.pid && e.call.startsWith('exit_group('));
  return exit === undefined || first === undefined ? Number.NaN : exit.ms - first.ms;
}

async function main(): Promise<void> {
  if (spawnSync('strace', ['-V']).status !== 0) {
    process.stderr.write('phases: needs strace (apt-get install strace)\n');
    process.exit(2);
  }
  const work = mkdtempSync('/dev/shm/pingknock-phases-');
  process.on('exit', () => rmSync(work, { recursive: true, force: true }));
  process.once('SIGINT', () => process.exit(130));
  const secretFile = join(work, 'secret');
  writeFileSync(secretFile, 'AAAAAAAAAAAAAAAA\n', { mode: 0o600 });
  const { port, stop } = await startClosingServer((stopServer) => process.on('exit', stopServer));

  const proxyRuns: Record<Mark, number>[] = [];
  const nodeRuns: number[] = [];
  for (let i = -1; i < N; i += 1) {
    const proxy = trace(work, [BIN, 'proxy', '--secret-file', secretFile, '127.0.0.1', String(port)]);
    const node = trace(work, [NODE, '-e', '0']);
    if (i < 0) continue; // warm-up
    proxyRuns.push(proxyMarks(proxy, secretFile, port));
    nodeRuns.push(nodeTotal(node));
  }
  stop();

  const finite = (values: number[]): number => median(values.filter(Number.isFinite));
  const phase = (from: Mark | 'start', to: Mark): number =>
    finite(proxyRuns.map((m) => m[to] - (from === 'start' ? 0 : m[from])));
  const rows: [string, number][] = [
    ['launcher: exec to node (a /usr/bin/env hop, if any)', phase('start', 'nodeExec')],
    ['node boots, opens bin/pingknock', phase('nodeExec', 'entry')],
    ['launcher + bundle load, parse args, open secret', phase('entry', 'secret')],
    ['read secret, resolve, fork for ping', phase('secret', 'pingFork')],
    ['fork -> ping exec (in the child)', phase('pingFork', 'pingExec')],
    ['ping starts -> echo request sent', phase('pingExec', 'echo')],
    ['echo request -> reply (loopback)', phase('echo', 'reply')],
    ['reply -> ping exits', phase('reply', 'pingExit')],
    ['ping exits -> connect() (reaction)', phase('pingExit', 'connect')],
    ['connect -> relay both EOFs -> exit', phase('connect', 'exit')],
    ['total: proxy (first execve -> exit_group)', finite(proxyRuns.map((m) => m.exit))],
    ['total: node -e 0', finite(nodeRuns)],
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  process.stdout.write(`pingknock proxy start-up phases, medians of ${N} runs under strace (ms)\n`);
  for (const [label, ms] of rows) process.stdout.write(`${label.padEnd(width)}  ${ms.toFixed(1).padStart(7)}\n`);
}

await main();
