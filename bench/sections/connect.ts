// Row 1: `ssh knocked true` through pingknock, the shell recipe, a minimal Node proxy and no proxy,
// with the packets of each run sniffed on the client's link for row 3.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Lab } from '../../src/lab/lab.js';
import { atExit } from '../cleanup.js';
import { MINIMAL_PROXY, NODE, SNIFF } from '../config.js';
import { checked, log, sleep, tick, timedSync, timeInto } from '../measure.js';
import { Samples } from '../stats.js';
import { onClient, type Context } from './context.js';
import { knockPhases, type KnockResult, type Window } from './knock.js';

export interface ConnectResult {
  readonly pk: Samples;
  readonly recipe: Samples;
  readonly direct: Samples;
  readonly minimal: Samples;
}

interface Variant {
  readonly key: keyof ConnectResult;
  readonly args: readonly string[];
  /** Closes the port (the knocked variants) or opens it (direct), outside the timed part. */
  readonly before: () => void;
}

/** bench/sniff.py on the client's veth, writing to `out`, once it says it is ready. */
async function startSniffer(lab: Lab, link: string, out: string): Promise<ChildProcess> {
  const fd = openSync(out, 'w');
  const args = [lab.client.ipv4, lab.server.ipv4, String(lab.port)];
  const sniffer = spawn('ip', onClient(lab, ['/usr/bin/python3', '-u', SNIFF, link, ...args]), {
    stdio: ['ignore', fd, 'inherit'],
  });
  closeSync(fd);
  atExit(() => void sniffer.kill('SIGKILL'));
  for (let i = 0; !readFileSync(out, 'utf8').includes('ready'); i += 1) {
    if (i > 100 || sniffer.exitCode !== null) throw new Error('the packet sniffer (bench/sniff.py) did not start');
    await sleep(50);
  }
  return sniffer;
}

function variants(ctx: Context): Variant[] {
  const { lab, hex } = ctx;
  const recipe = `ProxyCommand=sh -c 'ping -c1 -W1 -p ${hex} %h >/dev/null && exec nc %h %p'`;
  const minimal = `ProxyCommand=${NODE} ${MINIMAL_PROXY} ${ctx.secretFile} %h %p`;
  const ssh = (...args: string[]): string[] => onClient(lab, ['ssh', '-F', lab.sshConfig, ...args]);
  const knockByHand = (): void => void checked('ip', onClient(lab, ['ping', '-c1', '-W1', '-p', hex, lab.server.ipv4]));
  const closed = (): void => lab.forgetKnocks();
  return [
    { key: 'pk', args: ssh('knocked', 'true'), before: closed },
    { key: 'recipe', args: ssh('-o', recipe, 'knocked', 'true'), before: closed },
    { key: 'direct', args: ssh('direct', 'true'), before: knockByHand },
    { key: 'minimal', args: ssh('-o', minimal, 'knocked', 'true'), before: closed },
  ];
}

/** 1 + 3. Connect time (pingknock, shell recipe, direct) with the knock latency sniffed on the wire. */
export async function benchConnect(ctx: Context): Promise<{ connect: ConnectResult; knock: KnockResult }> {
  const { lab } = ctx;
  const sniffOut = join(ctx.work, 'sniff.txt');
  const clientLink = `pk${lab.id}c`;
  const sniffer = await startSniffer(lab, clientLink, sniffOut);
  const connect: ConnectResult = {
    pk: new Samples('ssh via pingknock proxy'),
    recipe: new Samples('ssh via sh -c ping && exec nc'),
    direct: new Samples('ssh direct, port open'),
    minimal: new Samples('ssh via a minimal Node proxy'),
  };
  const all = variants(ctx);
  const windows: Window[] = [];
  log(`connect: ${ctx.config.n} rounds of ${all.length} variants, round-robin, knock sniffed on ${clientLink}`);
  for (let round = -1; round < ctx.config.n; round += 1) {
    for (const v of all) {
      await tick();
      v.before();
      if (round < 0) {
        timedSync('ip', v.args, { env: lab.env }); // warm-up: host key, page cache; fails loudly
        continue;
      }
      const run = timeInto(connect[v.key], 'ip', v.args, { env: lab.env });
      if (run !== undefined) windows.push({ key: v.key, fromNs: run.fromNs, toNs: run.toNs });
    }
  }
  await sleep(200);
  sniffer.kill('SIGTERM');
  await new Promise<void>((resolve) => (sniffer.exitCode !== null ? resolve() : sniffer.once('exit', () => resolve())));
  return { connect, knock: knockPhases(readFileSync(sniffOut, 'utf8'), windows) };
}
