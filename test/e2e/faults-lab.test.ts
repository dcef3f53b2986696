import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/core/errors.js';
import { run } from '../../src/edge/exec.js';
import { LAB_HOSTS, type Lab } from '../../src/lab/lab.js';
import { BIN } from '../support/cli.js';
import { ONE_LINE_MESSAGE, proxyEnv, stream } from '../support/faults.js';
import { expectAllGoneAfterKill, proxyAndParent, underReaper, type ReaperMode } from '../support/reaper.js';
import {
  argvOf,
  descendantsOf,
  killStarted,
  processInfo,
  proxyBelow,
  start,
  waitFor,
  type Started,
} from '../support/spawned.js';
import { newSecret, protectedLab } from './fixture.js';

/**
 * Faults where the server's firewall matters, in a namespace lab behind the rules: ssh killed
 * while the proxy knocks, lossy knocks, a silent server, a dropped or closed port, and a server
 * killed mid-transfer.
 */

// Whatever a test started is killed with all it started when the test is over, passed or not.
afterEach(killStarted);

describe('in a namespace lab behind the rules', () => {
  const secret = newSecret();
  let lab: Lab;
  let secretFile: string;

  beforeAll(async () => {
    lab = await protectedLab('bare', secret);
    secretFile = join(lab.home, '.ssh', 'pingknock', LAB_HOSTS.knocked);
  });
  afterAll(() => lab?.destroy());

  const deleteServerTable = async (name: string): Promise<void> => {
    const result = await lab.onServer('nft', ['delete', 'table', 'inet', name]);
    expect(result.code, result.stderr).toBe(0);
  };

  /** pingknock proxy in the client namespace, as ssh would start it there. */
  const labProxy = (args: readonly string[]): Started =>
    start(
      'ip',
      ['netns', 'exec', lab.client.netns, process.execPath, BIN, 'proxy', ...args],
      proxyEnv(lab.home, lab.env),
    );

  describe('ssh killed while the proxy still knocks: proxy and ping gone within 2 s, nothing left', () => {
    const cases: { signal: NodeJS.Signals }[] = [{ signal: 'SIGKILL' }, { signal: 'SIGTERM' }, { signal: 'SIGHUP' }];
    it.each(cases)('$signal', async ({ signal }) => {
      const mode: ReaperMode = 'parent-owns-pipes';
      // An address on the client's own link that nobody has: the knock never gets an answer.
      const silent = '10.201.0.99';
      const command = [process.execPath, BIN, 'proxy', '--secret-file', secretFile, '--deadline', '10', silent, '22'];
      const reaper = underReaper(mode, command, proxyEnv(lab.home, lab.env), lab.client.netns);
      const { proxyPid, parent } = await proxyAndParent(reaper);
      const ping = await waitFor(
        'the knocking ping',
        () =>
          descendantsOf(proxyPid).find(
            (info) => info.ppid === proxyPid && info.comm === 'ping' && argvOf(info.pid).includes('-p'),
          )?.pid,
      );
      await expectAllGoneAfterKill(parent, signal, [proxyPid, ping], reaper);
    });
  });

  it(
    'knock loss: 30 % of echo requests dropped, ' + '20 ssh runs in a row all get in with the default deadline',
    async () => {
      lab.loadServerRules(
        [
          'table inet lossy {',
          '\tchain input {',
          '\t\ttype filter hook input priority filter - 20; policy accept;',
          '\t\ticmp type echo-request counter',
          '\t\ticmp type echo-request numgen random mod 10 < 3 counter drop',
          '\t}',
          '}',
          '',
        ].join('\n'),
      );
      try {
        const times: number[] = [];
        for (let attempt = 1; attempt <= 20; attempt++) {
          // Each run must open the port with its own knock.
          lab.forgetKnocks();
          const result = await lab.ssh([LAB_HOSTS.knocked, 'echo in'], { timeoutMs: 30_000 });
          expect(result.code, `run ${attempt}: ${result.stderr}`).toBe(0);
          expect(result.stdout.toString()).toBe('in\n');
          times.push(result.ms);
        }
        const listing = (await lab.onServer('nft', ['list', 'table', 'inet', 'lossy'])).stdout.toString();
        const [seen = 0, dropped = 0] = [...listing.matchAll(/counter packets (\d+)/g)].map((match) =>
          Number(match[1]),
        );
        // Every knock passed the lossy chain.
        expect(seen).toBeGreaterThanOrEqual(20);
        console.log(
          `knock loss: ${dropped} of ${seen} echo requests dropped; ` +
            `ssh runs ${Math.round(Math.min(...times))}-${Math.round(Math.max(...times))} ms, ` +
            `mean ${Math.round(times.reduce((a, b) => a + b, 0) / times.length)} ms`,
        );
      } finally {
        await deleteServerTable('lossy');
      }
    },
    120_000,
  );

  it(
    'server silent (pings and port dropped): ' + 'the proxy gives up within its deadline + 1 s, and ssh reports it',
    async () => {
      lab.loadServerRules(
        [
          'table inet silent {',
          '\tchain input {',
          '\t\ttype filter hook input priority filter - 20; policy accept;',
          '\t\ticmp type echo-request drop',
          '\t\ttcp dport 22 drop',
          '\t}',
          '}',
          '',
        ].join('\n'),
      );
      try {
        lab.forgetKnocks();
        const proxy = labProxy(['--verbose', '--name', LAB_HOSTS.knocked, lab.server.ipv4, '22']);
        const result = await proxy.done;
        expect(result.code, result.stderr).toBe(ExitCode.noReply);
        expect(result.stdout.length).toBe(0);
        // Measured from the start of the knock, so node's start-up on a busy machine does not count.
        const knocking = proxy.lines.find(
          (line) => line.stream === 'stderr' && /^pingknock: knocking 10\.201\.0\.1$/.test(line.text),
        );
        expect(knocking, result.stderr).toBeDefined();
        const knockMs = result.exitedAt - (knocking?.at ?? 0);
        expect(knockMs).toBeLessThan(3_000 + 1_000);
        expect(result.ms).toBeLessThan(3_000 + 3_000);
        expect(result.stderr).toMatch(/^(pingknock: [^\n]+\n)+$/);
        expect(result.stderr).toMatch(/\npingknock: no echo reply from 10\.201\.0\.1 within 3 s[^\n]*\n$/);
        expect(result.stderr).not.toMatch(/^\s+at /m);

        const ssh = await lab.ssh([LAB_HOSTS.knocked, 'true'], { timeoutMs: 20_000 });
        expect(ssh.code).toBe(255);
        expect(ssh.stderr).toMatch(/^pingknock: no echo reply from 10\.201\.0\.1 within 3 s/);
        expect(ssh.stderr.match(/pingknock:/g)).toHaveLength(1);
        expect(ssh.ms).toBeLessThan(3_000 + 3_000);
        console.log(
          `server silent: the proxy gave up ${Math.round(knockMs)} ms after it began to knock ` +
            `(deadline 3 s; ${Math.round(result.ms)} ms in all); ssh exited 255 after ${Math.round(ssh.ms)} ms`,
        );
      } finally {
        await deleteServerTable('silent');
      }
    },
  );

  it('reply received but the port dropped (no knock accepted): exit 6 within the connect timeout + 1 s', async () => {
    lab.forgetKnocks();
    const wrong = join(lab.dir, 'faults-wrong-secret');
    writeFileSync(wrong, `${newSecret()}\n`, { mode: 0o600 });
    const proxy = labProxy(['--verbose', '--secret-file', wrong, '--connect-timeout', '2', lab.server.ipv4, '22']);
    const result = await proxy.done;
    expect(result.code, result.stderr).toBe(ExitCode.connectFailed);
    expect(result.stdout.length).toBe(0);
    // Measured from the knock's answer: the connection attempt alone.
    const connecting = proxy.lines.find(
      (line) => line.stream === 'stderr' && /^pingknock: connecting to port 22$/.test(line.text),
    );
    expect(connecting, result.stderr).toBeDefined();
    const connectMs = result.exitedAt - (connecting?.at ?? 0);
    expect(connectMs).toBeLessThan(2_000 + 1_000);
    expect(connectMs).toBeGreaterThan(1_900);
    expect(result.stderr).toMatch(/^(pingknock: [^\n]+\n)+$/);
    expect(result.stderr).toMatch(
      /\npingknock: 10\.201\.0\.1:22 did not answer within 2 s.*rules may not match[^\n]*\n$/,
    );
    console.log(
      `port dropped: the proxy gave up ${Math.round(connectMs)} ms after the knock was answered ` +
        `(connect timeout 2 s; ${Math.round(result.ms)} ms in all)`,
    );
  });

  it('reply received but the port closed: exit 6, refused, at once', async () => {
    const proxy = await lab.onClient('pingknock', ['proxy', '--name', LAB_HOSTS.knocked, lab.server.ipv4, '2222'], {
      timeoutMs: 20_000,
    });
    expect(proxy.code, proxy.stderr).toBe(ExitCode.connectFailed);
    expect(proxy.stdout.length).toBe(0);
    expect(proxy.stderr).toMatch(ONE_LINE_MESSAGE);
    expect(proxy.stderr).toMatch(/10\.201\.0\.1:2222 refused the connection/);
    expect(proxy.ms).toBeLessThan(3_000);
  });

  it('server killed mid-transfer: ssh exits non-zero within 3 s, the proxy is gone', async () => {
    const ssh = underReaper(
      'run',
      ['ssh', '-F', lab.sshConfig, LAB_HOSTS.knocked, 'cat > /dev/null'],
      lab.env,
      lab.client.netns,
    );
    const reaperPid = ssh.child.pid ?? 0;
    let sshExitedAt: number | undefined;
    ssh.child.stderr.on('data', () => {
      if (sshExitedAt === undefined && /^reaper: first child exited/m.test(ssh.stderr()))
        sshExitedAt = performance.now();
    });
    let reaperExited = false;
    void ssh.done.then(() => {
      reaperExited = true;
    });
    let flowing = false;
    const chunk = randomBytes(256 * 1024);
    const writing = stream(
      ssh.child.stdin,
      chunk,
      () => reaperExited,
      (total) => {
        // Accepted by the pipe with backpressure: ssh, the proxy and sshd are moving data.
        if (total >= 16 * 1024 * 1024) flowing = true;
      },
    );
    const proxyPid = (await waitFor('the proxy', () => proxyBelow(reaperPid))).pid;
    await waitFor('16 MiB to flow, or ssh to end', () => flowing || reaperExited, 30_000);
    expect(reaperExited, `ssh ended before the server was killed: ${ssh.stderr()}`).toBe(false);

    // Everything in the server namespace but the lab's listening sshd (the test process started it).
    const pids = (await run('ip', ['netns', 'pids', lab.server.netns])).stdout
      .toString()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
    const sessions = pids.filter((pid) => processInfo(pid)?.ppid !== process.pid);
    expect(sessions.length).toBeGreaterThan(0);
    const killedAt = performance.now();
    for (const pid of sessions) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    const gone = await waitFor('ssh and the proxy to be gone', () => reaperExited, 3_000).then(
      () => true,
      () => false,
    );
    expect(gone, `still running 3 s after the server was killed: ${ssh.stderr()}`).toBe(true);
    const result = await ssh.done;
    await writing;
    const goneMs = performance.now() - killedAt;
    expect(sshExitedAt, `ssh did not exit: ${result.stderr}`).toBeDefined();
    expect((sshExitedAt ?? Infinity) - killedAt).toBeLessThan(3_000);
    expect(goneMs).toBeLessThan(3_000);
    // ssh's exit code (the reaper passes it on): ssh itself reports the lost connection with 255.
    expect(result.code, result.stderr).not.toBe(0);
    expect(result.stderr).toMatch(/^reaper: first child exited 255$/m);
    // ...and says so, as does the proxy when it saw the reset.
    expect(result.stderr.replace(/^reaper: .*$/m, '').trim()).not.toBe('');
    expect(processInfo(proxyPid)).toBeUndefined();
    console.log(
      `server killed: ssh exited ${Math.round((sshExitedAt ?? 0) - killedAt)} ms after the kill; ` +
        `stderr: ${JSON.stringify(result.stderr.trim())}`,
    );
  }, 90_000);
});
