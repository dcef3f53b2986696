// Row 6: connect time at real round trips: direct ssh, the shell recipe, pingknock relaying and
// pingknock handing ssh the socket (fd passing), each at every round-trip time of BENCH_RTTS, in a lab
// whose frames pass through a delay line. In the same rounds, on the host's loopback: pingknock's
// own start (knock included) in both modes, and `node -e 0`, which the targets are made of.
import { spawnSync } from 'node:child_process';
import type { Lab } from '../../src/lab/lab.js';
import { atExit } from '../cleanup.js';
import { startClosingServer } from '../closing-server.js';
import { BIN, DELAY_BRIDGE, NODE, ROOT } from '../config.js';
import { checked, log, tick, timedSync, timeInto, type TimedOptions } from '../measure.js';
import { median, Samples } from '../stats.js';
import { onClient, type Context } from './context.js';
import { benchSession, FDPASS_OPTIONS, type SessionResult } from './session.js';

/** Whether the proxy being measured has the fd-passing mode, and if not, why not. */
export interface FdpassSupport {
  readonly available: boolean;
  /** Its refusal, when it has none. */
  readonly why: string;
}

export interface RttConnects {
  readonly rttMs: number;
  /** ping's median round trip in that lab, as measured before the rounds. */
  readonly pingMs: number;
  readonly direct: Samples;
  readonly recipe: Samples;
  readonly relay: Samples;
  /** Undefined when the proxy has no fd-passing mode. */
  readonly fdpass: Samples | undefined;
}

/** Own start on the host's loopback: the proxy knocks 127.0.0.1, connects, hands over or relays, exits. */
export interface OwnStart {
  readonly node: Samples;
  readonly relay: Samples;
  readonly fdpass: Samples | undefined;
}

export interface RttResult {
  readonly support: FdpassSupport;
  readonly start: OwnStart;
  readonly connects: RttConnects[];
  /** The fd-passing session checks, when the proxy has the mode. */
  readonly session: SessionResult | undefined;
}

interface Variant {
  readonly samples: Samples;
  readonly file: string;
  readonly args: readonly string[];
  readonly options: TimedOptions;
  /** Outside the timed part: closes the port (the knocked variants) or opens it (direct). */
  readonly before?: () => void;
  /**
   * A warm-up failure stops the bench, except for the fd-passing variants: a mode that fails there
   * shows as failed runs and FAIL rows, and the other rows are still measured.
   */
  readonly loud: boolean;
}

/**
 * The installed proxy's answer to `--fdpass`: a proxy without the mode refuses the option as it
 * parses its arguments (exit 2), before it would knock. Port 0 stops a proxy that has it at the
 * same place, with a complaint about the port instead.
 */
function fdpassSupport(secretFile: string): FdpassSupport {
  const probe = spawnSync(BIN, ['proxy', '--fdpass', '--secret-file', secretFile, '127.0.0.1', '0'], {
    encoding: 'utf8',
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const refusal = probe.stderr.trim().split('\n')[0] ?? '';
  if (probe.status === 2 && /unknown option.*--fdpass/i.test(refusal)) {
    log(`rtt: fd passing not available: ${refusal}`);
    return { available: false, why: 'the installed proxy refuses --fdpass' };
  }
  return { available: true, why: '' };
}

/** ping's median round trip from the lab's client to its server, after one ping that may wait for ARP. */
function pingMs(lab: Lab): number {
  const ping = (count: string): string =>
    checked('ip', onClient(lab, ['ping', '-n', '-c', count, '-i', '0.2', '-W', '2', lab.server.ipv4]));
  ping('1');
  return median([...ping('5').matchAll(/time=([\d.]+) ms/g)].map((match) => Number(match[1])));
}

function connectVariants(ctx: Context, lab: Lab, connects: RttConnects): Variant[] {
  const { hex } = ctx;
  const recipe = `ProxyCommand=sh -c 'ping -c1 -W1 -p ${hex} %h >/dev/null && exec nc %h %p'`;
  const ssh = (...args: string[]): string[] => onClient(lab, ['ssh', '-F', lab.sshConfig, ...args]);
  const knockByHand = (): void => void checked('ip', onClient(lab, ['ping', '-c1', '-W1', '-p', hex, lab.server.ipv4]));
  const closed = (): void => lab.forgetKnocks();
  const options = { env: lab.env };
  const variants: Variant[] = [
    { samples: connects.direct, file: 'ip', args: ssh('direct', 'true'), options, before: knockByHand, loud: true },
    {
      samples: connects.recipe,
      file: 'ip',
      args: ssh('-o', recipe, 'knocked', 'true'),
      options,
      before: closed,
      loud: true,
    },
    { samples: connects.relay, file: 'ip', args: ssh('knocked', 'true'), options, before: closed, loud: true },
  ];
  if (connects.fdpass !== undefined) {
    const args = ssh(...FDPASS_OPTIONS, 'knocked', 'true');
    variants.push({ samples: connects.fdpass, file: 'ip', args, options, before: closed, loud: false });
  }
  return variants;
}

function startVariants(ctx: Context, port: number, start: OwnStart): Variant[] {
  const proxy = (...mode: string[]): string[] => [
    'proxy',
    ...mode,
    '--secret-file',
    ctx.secretFile,
    '127.0.0.1',
    String(port),
  ];
  const variants: Variant[] = [
    { samples: start.node, file: NODE, args: ['-e', '0'], options: { cwd: ROOT, pipes: true }, loud: true },
    { samples: start.relay, file: BIN, args: proxy(), options: { cwd: ROOT, pipes: true }, loud: true },
  ];
  if (start.fdpass !== undefined) {
    const options = { cwd: ROOT, fdpass: true };
    variants.push({ samples: start.fdpass, file: BIN, args: proxy('--fdpass'), options, loud: false });
  }
  return variants;
}

/** One untimed round (host key, page cache), then `rounds` timed ones, the variants round-robin. */
async function roundRobin(variants: readonly Variant[], rounds: number): Promise<void> {
  for (let round = -1; round < rounds; round += 1) {
    for (const v of variants) {
      await tick();
      v.before?.();
      if (round >= 0) {
        timeInto(v.samples, v.file, v.args, v.options);
        continue;
      }
      try {
        timedSync(v.file, v.args, v.options);
      } catch (error) {
        if (v.loud) throw error;
        log(`warning: warm-up of "${v.samples.name}" failed: ${(error as Error).message}`);
      }
    }
  }
}

function newConnects(rttMs: number, lab: Lab, fdpass: boolean): RttConnects {
  const at = `at RTT ${rttMs} ms`;
  return {
    rttMs,
    pingMs: pingMs(lab),
    direct: new Samples(`ssh direct, port open, ${at}`),
    recipe: new Samples(`ssh via sh -c ping && exec nc, ${at}`),
    relay: new Samples(`ssh via pingknock proxy (relay), ${at}`),
    fdpass: fdpass ? new Samples(`ssh via pingknock proxy --fdpass, ${at}`) : undefined,
  };
}

/**
 * 6. Connects at each round-trip time of BENCH_RTTS: 0 in the bench's own lab (one veth pair),
 * the others in a lab built for it whose frames pass through test/support/delay-bridge.py, half
 * the round trip each way. (test/support/latency-lab.ts builds the same lab from src/; the bench
 * builds it from dist/, as it does its own lab.) The own starts are timed in the first RTT's rounds.
 */
export async function benchRtt(ctx: Context): Promise<RttResult> {
  const { config } = ctx;
  const support = fdpassSupport(ctx.secretFile);
  const start: OwnStart = {
    node: new Samples('node -e 0'),
    relay: new Samples('pingknock proxy 127.0.0.1 (relay)'),
    fdpass: support.available ? new Samples('pingknock proxy --fdpass 127.0.0.1') : undefined,
  };
  const connects: RttConnects[] = [];
  const server = await startClosingServer(atExit);
  for (const [index, rttMs] of config.rtts.entries()) {
    const lab =
      rttMs === 0
        ? ctx.lab
        : await ctx.buildLab((middle) => ['python3', DELAY_BRIDGE, middle.client, middle.server, String(rttMs / 2)]);
    try {
      const at = newConnects(rttMs, lab, support.available);
      connects.push(at);
      const variants = connectVariants(ctx, lab, at);
      if (index === 0) variants.push(...startVariants(ctx, server.port, start));
      log(`rtt: ${config.nRtt} rounds of ${variants.length} variants at RTT ${rttMs} ms (ping: ${at.pingMs} ms)`);
      await roundRobin(variants, config.nRtt);
    } finally {
      if (lab !== ctx.lab) lab.destroy();
    }
  }
  server.stop();
  // The session checks need no delay: they look at processes and bytes, in the bench's own lab.
  const session = support.available ? await benchSession(ctx) : undefined;
  return { support, start, connects, session };
}
