import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LAB_HOSTS, type Lab } from '../../src/lab/lab.js';
import { killStarted, sleep, start, type Finished, type Started } from '../support/spawned.js';
import { stockSshdLimits } from '../support/lab-server.js';
import {
  newSecret,
  openPort,
  protectedLab,
  serverConnectionsIdle,
  silentListener,
  sshdSessions,
  startOnTerminal,
  startSsh,
} from './fixture.js';

/**
 * The server closes first: ssh must end, non-zero, within CLOSE_TO_EXIT_MS of the close, through
 * `pingknock proxy` (the lab's `knocked`) about as fast as without it (`direct`, after a knock).
 * ssh gives its ProxyCommand pipes, and a pipe cannot be half-closed: a proxy that passes the
 * server's EOF on with shutdown() leaves ssh waiting for ever. Times are taken just before the
 * close is done and at ssh's exit; a hang fails after HANG_MS.
 */

const CLOSE_TO_EXIT_MS = 1_000;
/** How much later than direct ssh, after the same close, ssh through the proxy may end. */
const PROXY_SLACK_MS = 500;
const HANG_MS = 15_000;
const ROUTES = [
  { route: 'proxy', alias: LAB_HOSTS.knocked },
  { route: 'direct', alias: LAB_HOSTS.direct },
] as const;
type Route = (typeof ROUTES)[number]['route'];

/** ssh's end after the close at `closedAt`: non-zero, by itself (no signal), in time. Gives the delay. */
async function endsAfterClose(ssh: Started, closedAt: number): Promise<number> {
  const result = await ssh.finish(closedAt - ssh.startedAt + HANG_MS);
  expect(result.signal, result.stderr).toBeNull();
  expect(result.code, result.stderr).not.toBe(0);
  const delay = result.exitedAt - closedAt;
  expect(delay, `ssh ended ${Math.round(delay)} ms after the close: ${result.stderr}`).toBeLessThan(CLOSE_TO_EXIT_MS);
  return delay;
}

/** Runs one case through the proxy, then direct, and compares them; `one` gives ssh's delay after the close. */
async function bothRoutes(
  label: string,
  lab: Lab,
  one: (alias: string, route: Route) => Promise<number>,
): Promise<void> {
  const delays = new Map<Route, number>();
  for (const { route, alias } of ROUTES) {
    // Port 22 is open only to a client that knocked: direct ssh knocks first, as by hand.
    if (route === 'direct') await openPort(lab);
    delays.set(route, await one(alias, route));
  }
  const [proxy = NaN, direct = NaN] = [delays.get('proxy'), delays.get('direct')];
  console.log(
    `server closes, ${label}: ssh ended ${Math.round(proxy)} ms after the close through the proxy, ` +
      `${Math.round(direct)} ms direct`,
  );
  expect(proxy, 'through the proxy, next to direct').toBeLessThan(direct + PROXY_SLACK_MS);
}

describe('the server closes first: ssh ends at once, through the proxy as directly', () => {
  let lab: Lab;
  beforeAll(async () => {
    // sshd's own MaxStartups 10:30:100, for the burst.
    lab = await protectedLab('bare', newSecret(), { features: [stockSshdLimits] });
  });
  afterEach(() => killStarted());
  afterAll(() => {
    killStarted();
    lab?.destroy();
  });

  /** A port that takes the connection and, once ssh's banner came, ends it before any banner of its own. */
  const silentPortCase =
    (port: number, how: 'close' | 'reset', run: (alias: string) => Started) => async (alias: string) => {
      const listener = await silentListener(lab, port);
      try {
        const ssh = run(alias);
        await listener.greeted(1, 20_000);
        return await endsAfterClose(ssh, listener.end(how));
      } finally {
        listener.stop();
      }
    };

  it('(a) a port that accepts and closes (FIN) before any banner', async () => {
    await bothRoutes(
      '(a) closed before the banner',
      lab,
      silentPortCase(2200, 'close', (alias) => startSsh(lab, ['-p', '2200', alias, 'true'])),
    );
  });

  it('(a) the same, typed on a terminal', async () => {
    const run = (alias: string): Started => startOnTerminal(lab, `ssh -F ${lab.sshConfig} -p 2201 ${alias} true`);
    await bothRoutes('(a) closed before the banner, on a terminal', lab, silentPortCase(2201, 'close', run));
  });

  it('(b) the session killed mid-session (its sshd processes, SIGKILL)', async () => {
    await bothRoutes('(b) session killed', lab, async (alias) => {
      const ssh = startSsh(lab, [alias, 'echo ready; exec sleep 60']);
      await ssh.line('stdout', /^ready$/, 20_000);
      // An idle session, as one left open: nothing in flight, so the kill closes it with a FIN.
      await serverConnectionsIdle(lab, 22);
      const sessions = await sshdSessions(lab);
      expect(sessions.map((info) => info.comm)).toContain('sleep');
      // Stopped first, so that no part of the session can report the end of another to ssh.
      for (const { pid } of sessions) process.kill(pid, 'SIGSTOP');
      const killedAt = performance.now();
      for (const { pid } of sessions) process.kill(pid, 'SIGKILL');
      return endsAfterClose(ssh, killedAt);
    });
  });

  it('(c) the server resets the connection before any banner (SO_LINGER 0)', async () => {
    await bothRoutes(
      '(c) reset before the banner',
      lab,
      silentPortCase(2202, 'reset', (alias) => startSsh(lab, ['-p', '2202', alias, 'true'])),
    );
  });

  it('(c) the server resets the connection mid-session (nft reject with tcp reset)', async () => {
    await bothRoutes('(c) reset mid-session', lab, async (alias) => {
      const ssh = startSsh(lab, [alias, 'echo ready; exec sleep 60']);
      await ssh.line('stdout', /^ready$/, 20_000);
      // From now on the server answers every packet of the connection with a reset; ssh's next one draws it.
      const resetFrom = performance.now();
      lab.loadServerRules(
        'table inet pkreset {\n' +
          '\tchain input {\n' +
          '\t\ttype filter hook input priority filter - 20;\n' +
          '\t\ttcp dport 22 reject with tcp reset\n' +
          '\t}\n' +
          '}\n',
      );
      try {
        ssh.child.stdin.write('poke\n');
        return await endsAfterClose(ssh, resetFrom);
      } finally {
        await lab.onServer('nft', ['delete', 'table', 'inet', 'pkreset']);
      }
    });
  });

  it('(d) sshd not running: nothing listens on the port, the connection is refused', async () => {
    // As a stopped sshd, to the client; the lab's own sshd serves the other cases. The refusal comes
    // at the connection attempt: timed from ssh's (-v) and the proxy's (--verbose) line saying it connects.
    const proxy = ['-o', `ProxyCommand=pingknock proxy --verbose --name ${LAB_HOSTS.knocked} %h %p`];
    await bothRoutes('(d) refused', lab, async (alias, route) => {
      const direct = route === 'direct';
      const ssh = startSsh(lab, [...(direct ? ['-v'] : proxy), '-p', '2299', alias, 'true']);
      const connecting = await ssh.line(
        'stderr',
        direct ? /^debug1: Connecting to .* port 2299\.$/ : /^pingknock: connecting to port 2299$/,
        20_000,
      );
      const delay = await endsAfterClose(ssh, connecting.at);
      expect(ssh.stderr()).toMatch(/refused/i);
      return delay;
    });
  });

  it(
    '(e) 20 connections at once against sshd with MaxStartups 10:30:100: ' +
      'the dropped ones fail at once, none hangs',
    async () => {
      await openPort(lab);
      // Unauthenticated connections that hold startup slots (sshd waits LoginGraceTime for their banner).
      const holders = start(
        'ip',
        ['netns', 'exec', lab.client.netns, process.execPath, '-e', HOLDERS, lab.server.ipv4, '22', '15'],
        lab.env,
      );
      await holders.line('stdout', /^held 15$/, 20_000);
      const worst = new Map<Route, number>();
      for (const { route, alias } of ROUTES) {
        if (route === 'direct') await openPort(lab);
        const burst = await burstOf20(lab, alias);
        const dropped = burst.results.filter((result) => result.code !== 0);
        for (const result of burst.results) {
          if (result.code === 0) expect(result.stdout).toBe('in\n');
          else expect(result.code, result.stderr).toBe(255);
        }
        expect(dropped.length, 'none was dropped: MaxStartups never struck').toBeGreaterThan(0);
        expect(burst.drops.length, lab.serverLog().slice(-2000)).toBe(dropped.length);
        // Drops and failures in order of time: the kth failure within CLOSE_TO_EXIT_MS of the kth drop.
        const exits = dropped.map((result) => result.exitedAt).sort((a, b) => a - b);
        const delays = burst.drops.map((droppedAt, index) => (exits[index] ?? Infinity) - droppedAt);
        worst.set(route, Math.max(...delays));
        console.log(
          `server closes, (e) burst ${route}: ${dropped.length} of 20 dropped (MaxStartups), ` +
            `each failed at most ${Math.round(Math.max(...delays))} ms after its drop; ` +
            `all 20 done in ${Math.round(burst.ms)} ms`,
        );
        expect(Math.max(...delays), `${route}: ${dropped.map((result) => result.stderr).join('')}`).toBeLessThan(
          CLOSE_TO_EXIT_MS,
        );
      }
      expect(worst.get('proxy') ?? Infinity).toBeLessThan((worst.get('direct') ?? 0) + PROXY_SLACK_MS);
      holders.child.stdin.end();
    },
    90_000,
  );
});

/**
 * Holds COUNT connections to HOST:PORT that never send their banner, one after another: a
 * connection sshd drops (it says "Exceeded MaxStartups") is replaced. Says `held COUNT`.
 */
const HOLDERS = String.raw`
const net = require('node:net');
const [host, port, count] = process.argv.slice(1);
let held = 0;
const open = () => {
  const socket = net.connect(Number(port), host);
  let answered = false;
  socket.on('error', () => {});
  socket.once('data', (chunk) => {
    answered = true;
    if (chunk.toString('latin1').startsWith('SSH-')) {
      held += 1;
      if (held === Number(count)) return void process.stdout.write('held ' + held + '\n');
    } else {
      socket.destroy();
    }
    open();
  });
  socket.on('close', () => { if (!answered) open(); });
};
open();
process.stdin.on('data', () => {}).on('end', () => process.exit(0));
`;

/** 20 ssh at once; the sshd log's MaxStartups drops of the client during it, each timed as it appeared. */
async function burstOf20(lab: Lab, alias: string): Promise<{ results: Finished[]; drops: number[]; ms: number }> {
  const logFrom = lab.serverLog().length;
  const startedAt = performance.now();
  const runs = Array.from({ length: 20 }, () => startSsh(lab, [alias, 'echo in']));
  const seen = new Map<string, number>();
  const collectDrops = (): void => {
    for (const line of lab.serverLog().slice(logFrom).split('\n')) {
      if (/drop connection #\d+ from \[10\.201\.0\.2\]:\d+ .*past MaxStartups/.test(line) && !seen.has(line))
        seen.set(line, performance.now());
    }
  };
  const done = Promise.all(runs.map((run) => run.finish(20_000)));
  let finished = false;
  const stop = (): void => {
    finished = true;
  };
  done.then(stop, stop);
  while (!finished) {
    collectDrops();
    await sleep(5);
  }
  const results = await done;
  collectDrops();
  return { results, drops: [...seen.values()].sort((a, b) => a - b), ms: performance.now() - startedAt };
}
