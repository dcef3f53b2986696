import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { shellQuote } from '../../src/core/shell.js';
import { Lab, LAB_HOSTS } from '../../src/lab/lab.js';
import { ROOT } from '../support/cli.js';
import { supportedNodes, type NodeBinary } from '../support/nodes.js';
import { descendantsOf, killStarted, processInfo, type Started } from '../support/spawned.js';
import { newSecret, startSsh } from './fixture.js';

/**
 * src/edge/fdpass.ts against real OpenSSH, on every supported Node major: ssh -o ProxyUseFdpass
 * runs test/support/fdpass-driver.mjs, which connects to the lab's sshd (no firewall rules, so no
 * knock) and hands ssh the socket, or says why not and relays.
 */

const DRIVER = join(ROOT, 'test', 'support', 'fdpass-driver.mjs');
// Resolved while the suite is collected: a missing release fails the file, it never shrinks the list.
const NODES = supportedNodes();
const PAYLOAD = randomBytes(1024 * 1024 + 7);
/** The remote command: a line once the session runs, then every byte of its input back. */
const ECHO = 'echo ready; exec cat';

afterEach(killStarted);

let lab: Lab;
beforeAll(async () => {
  lab = await Lab.create({ secret: newSecret(), serverFirewall: 'bare' });
});
afterAll(() => lab?.destroy());

function sshThroughDriver(node: readonly string[], fdpass: 'yes' | 'no'): Started {
  const proxyCommand = `${[...node, DRIVER].map(shellQuote).join(' ')} %h %p`;
  return startSsh(lab, [
    '-o',
    `ProxyUseFdpass=${fdpass}`,
    '-o',
    `ProxyCommand=${proxyCommand}`,
    LAB_HOSTS.direct,
    ECHO,
  ]);
}

/** The driver's process id, from the line it starts with. */
async function driverPid(run: Started): Promise<number> {
  const line = await run.line('stderr', /^fdpass-driver: started pid=\d+ /, 20_000);
  return Number(/pid=(\d+)/.exec(line.text)?.[1]);
}

/** Once the session runs: what runs below ssh then. Then the payload through it, and ssh's exit. */
async function echoSession(
  run: Started,
): Promise<{ driver: number; below: number[]; driverAlive: boolean; stderr: string[] }> {
  const driver = await driverPid(run);
  await run.line('stdout', /^ready$/, 20_000);
  const below = descendantsOf(run.child.pid ?? 0).map((info) => info.pid);
  const driverAlive = processInfo(driver) !== undefined;
  run.child.stdin.end(PAYLOAD);
  const result = await run.finish(30_000);
  expect(result.code, result.stderr).toBe(0);
  const echoed = Buffer.from(result.stdout, 'latin1');
  expect(echoed.length).toBe('ready\n'.length + PAYLOAD.length);
  expect(echoed.equals(Buffer.concat([Buffer.from('ready\n'), PAYLOAD]))).toBe(true);
  return { driver, below, driverAlive, stderr: result.stderr.split('\n').filter(Boolean) };
}

/** The permission model denies process.binding: a real Node without the mechanism. */
function withoutInternals(node: NodeBinary): string[] {
  return [node.path, node.major === 20 ? '--experimental-permission' : '--permission', '--allow-fs-read=*'];
}

describe.each(NODES)('fd passing on Node $version', (node) => {
  it('ProxyUseFdpass=yes: ssh logs in on the passed socket, the stream is intact, and the driver is gone', async () => {
    // Any deprecation warning (process.binding's included) would end the driver with an error.
    const session = await echoSession(
      sshThroughDriver([node.path, '--pending-deprecation', '--throw-deprecation'], 'yes'),
    );
    // ssh waits for the ProxyCommand's exit before it starts: nothing of the driver outlives that.
    expect(session.driverAlive).toBe(false);
    expect(session.below).toEqual([]);
    // Nothing else on stderr: no warning from Node, no complaint from ssh.
    expect(session.stderr).toEqual([
      expect.stringMatching(new RegExp(`^fdpass-driver: started pid=\\d+ node=${node.version} .* available=true$`)),
      expect.stringMatching(/^fdpass-driver: passed connected=[\d.]+ passed=[\d.]+$/),
    ]);
  });

  it('ProxyUseFdpass=no: a pipe on fd 1 is refused before a byte, and the relay carries the stream', async () => {
    const session = await echoSession(sshThroughDriver([node.path], 'no'));
    // The relaying driver is the session's way to the server: it is alive, below ssh.
    expect(session.driverAlive).toBe(true);
    expect(session.below).toEqual([session.driver]);
    expect(session.stderr).toEqual([
      expect.stringMatching(/^fdpass-driver: started /),
      'fdpass-driver: refused not-a-socket: standard output is a pipe, not a UNIX socket ' +
        '(ssh gives one only with ProxyUseFdpass yes)',
    ]);
  });

  it('a Node without the internals says so, and the relay carries the stream', async () => {
    const session = await echoSession(sshThroughDriver(withoutInternals(node), 'no'));
    expect(session.stderr).toContainEqual(expect.stringMatching(/^fdpass-driver: started .* available=false$/));
    expect(session.stderr).toContain(
      `fdpass-driver: refused unavailable: this Node (${node.version}) cannot pass a socket to ssh`,
    );
  });

  it('a TCP socket on fd 1 is refused: its reader gets the relayed stream, not a byte more', async () => {
    const banner = 'SSH-2.0-upstream\r\n';
    const upstream = await listening(
      createServer((socket) => {
        socket.on('error', () => undefined);
        socket.end(banner);
      }),
    );
    let received = Buffer.alloc(0);
    let readerDone: Promise<unknown> = Promise.resolve();
    const reader = await listening(
      createServer((socket) => {
        socket.on('data', (chunk: Buffer) => (received = Buffer.concat([received, chunk])));
        readerDone = once(socket, 'end');
      }),
    );
    try {
      const out = connect((reader.address() as AddressInfo).port, '127.0.0.1');
      await once(out, 'connect');
      const port = String((upstream.address() as AddressInfo).port);
      const child = spawn(node.path, [DRIVER, '127.0.0.1', port], { stdio: ['ignore', out, 'pipe'] });
      // The driver has its own copy of the socket now.
      out.destroy();
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const [code] = (await once(child, 'close')) as [number | null];
      clearTimeout(timer);
      await readerDone;
      expect(code, stderr).toBe(0);
      expect(stderr).toContain(
        'fdpass-driver: refused not-a-socket: standard output is a TCP socket, not a UNIX socket',
      );
      expect(received.toString('latin1')).toBe(banner);
    } finally {
      upstream.close();
      reader.close();
    }
  });
});

async function listening(server: Server): Promise<Server> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}
