import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/core/errors.js';
import { knockVerdict, type KnockFacts } from '../../src/app/knock-proof.js';
import { proxyCommandFor } from '../../src/core/ssh-config/proxy-command.js';

const PROXY_COMMAND = proxyCommandFor('box');
import { run } from '../../src/edge/exec.js';
import { BIN, ROOT } from '../support/cli.js';

const SECRET = 'Abcdefgh12345678';
const HEX = Buffer.from(SECRET).toString('hex');

let dir: string;
let home: string;
let fakeBin: string;
let pingLog: string;
let config: string;
let server: Server | undefined;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pingknock-doctor-'));
  home = join(dir, 'home');
  fakeBin = join(dir, 'bin');
  pingLog = join(dir, 'ping.log');
  config = join(dir, 'ssh_config');
  mkdirSync(home);
  mkdirSync(fakeBin);
  fakePing('ping from iputils 20221126');
});

afterEach(async () => {
  await new Promise((resolve) => (server === undefined ? resolve(undefined) : server.close(resolve)));
  server = undefined;
  rmSync(dir, { recursive: true, force: true });
});

/** A `ping` that says what it is for -V, records a knock's arguments, and gets a reply for it. */
function fakePing(version: string, knockExit = 0): void {
  writeFileSync(
    join(fakeBin, 'ping'),
    `#!/bin/sh\nif [ "$1" = -V ]; then echo '${version}'; exit 0; fi\necho "$@" >> '${pingLog}'\nexit ${knockExit}\n`,
    { mode: 0o755 },
  );
}

/**
 * A `ping` whose knock opens `port`, as the server's rules would: the port refuses connections
 * until the knock, then a listener takes one connection and goes.
 */
function fakePingOpening(port: number): void {
  const listener = join(dir, 'listener.cjs');
  const ready = join(dir, 'listening');
  writeFileSync(
    listener,
    `const server = require('node:net').createServer((socket) => { socket.end(); server.close(); });\n` +
      `server.listen(${port}, '127.0.0.1', () => require('node:fs').writeFileSync(${JSON.stringify(ready)}, ''));\n` +
      'setTimeout(() => process.exit(0), 10000).unref();\n',
  );
  writeFileSync(
    join(fakeBin, 'ping'),
    `#!/bin/sh\nif [ "$1" = -V ]; then echo 'ping from iputils 20221126'; exit 0; fi\necho "$@" >> '${pingLog}'\n` +
      // Not holding ping's pipes, or doctor would wait for the listener to end.
      `'${process.execPath}' '${listener}' </dev/null >/dev/null 2>&1 &\n` +
      `while [ ! -e '${ready}' ]; do sleep 0.05; done\n`,
    { mode: 0o755 },
  );
}

/** A port nothing listens on (for now). */
async function freePort(): Promise<number> {
  const port = await listen();
  await new Promise((resolve) => server?.close(resolve));
  server = undefined;
  return port;
}

function writeSecret(mode = 0o600): void {
  mkdirSync(join(home, '.ssh', 'pingknock'), { recursive: true, mode: 0o700 });
  const path = join(home, '.ssh', 'pingknock', 'box');
  writeFileSync(path, `${SECRET}\n`);
  chmodSync(path, mode);
}

function writeConfig(port: number, proxy = `ProxyCommand ${PROXY_COMMAND}`): void {
  writeFileSync(config, `Host box\n    HostName 127.0.0.1\n    Port ${port}\n    ${proxy}\n`);
}

async function listen(): Promise<number> {
  const listening = createServer((socket) => socket.end());
  server = listening;
  await new Promise<void>((resolve) => listening.listen(0, '127.0.0.1', resolve));
  const address = listening.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** doctor as a user runs it; async, so this process can serve the port doctor connects to. */
async function doctor(args: readonly string[], env: Readonly<Record<string, string>> = {}) {
  const fullEnv: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: home,
    PATH: `${fakeBin}:${join(ROOT, 'bin')}:${process.env.PATH ?? ''}`,
    ...env,
  };
  if (env.PINGKNOCK_SECRET === undefined) delete fullEnv.PINGKNOCK_SECRET;
  const result = await run(process.execPath, [BIN, 'doctor', ...args], { env: fullEnv, timeoutMs: 30_000 });
  const stdout = result.stdout.toString();
  expect(`${stdout}${result.stderr}`).not.toContain(SECRET);
  expect(`${stdout}${result.stderr}`).not.toContain(HEX);
  return { code: result.code, lines: stdout.split('\n').filter(Boolean), stderr: result.stderr };
}

describe('pingknock doctor', () => {
  it('without an alias checks the local ping and that ssh can find pingknock', async () => {
    const result = await doctor([]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.lines).toEqual([
      'ok    ping: ping from iputils 20221126 (iputils): puts the -p pattern where the rules look for it',
      `ok    pingknock: ${join(ROOT, 'bin', 'pingknock')} is on PATH for ssh's ProxyCommand`,
    ]);
  });

  it('says what to install when the ping cannot knock', async () => {
    fakePing('BusyBox v1.36.1 (2023-07-27) multi-call binary.');
    const result = await doctor([]);
    expect(result.code).toBe(ExitCode.pingUnavailable);
    expect(result.lines[0]).toMatch(/^FAIL  ping: BusyBox .*install iputils ping/);
    expect(result.stderr).toBe('pingknock: 1 of 2 checks failed\n');
  });

  it('checks everything for an alias, one line each, ending with a knock that opens the port', async () => {
    writeSecret();
    const port = await freePort();
    fakePingOpening(port);
    writeConfig(port);
    const result = await doctor(['box', '--config', config]);
    expect(result.code, result.lines.join('\n') + result.stderr).toBe(0);
    expect(result.lines).toEqual([
      expect.stringMatching(/^ok    ping: /),
      expect.stringMatching(/^ok    pingknock: /),
      `ok    secret: ${join(home, '.ssh', 'pingknock', 'box')}, mode 0600, well-formed`,
      `ok    ssh config: ssh -F ${config} box goes to 127.0.0.1 port ${port} through ProxyCommand ${PROXY_COMMAND}`,
      'ok    name: 127.0.0.1 is an address',
      expect.stringMatching(/^ok    knock: 127\.0\.0\.1 answered the knock in [\d.]+ m?s$/),
      `ok    port: 127.0.0.1:${port} did not accept a connection before the knock ` +
        `and did after it: the knock opened it`,
    ]);
    // The knock carried the secret as the ping pattern, to the address ssh will use.
    expect(readFileSync(pingLog, 'utf8')).toMatch(new RegExp(`-p ${HEX} .*127\\.0\\.0\\.1$`, 'm'));
  });

  it(
    'says which checks fail and what to do, skips the knock they make impossible, ' +
      'and exits like the first failure',
    async () => {
      writeConfig(22, 'User me');
      const result = await doctor(['box', '--config', config]);
      expect(result.code).toBe(ExitCode.secret);
      expect(result.lines.slice(2)).toEqual([
        expect.stringMatching(/^FAIL  secret: no secret file .*box; create one with: pingknock secret new --out/),
        `FAIL  ssh config: ssh -F ${config} box uses no ProxyCommand, so it does not knock; ` +
          `run: pingknock setup box --config ${config}`,
        'ok    name: 127.0.0.1 is an address',
        'skip  knock: needs a ping that can knock, the secret and the address: fix the lines above first',
      ]);
      expect(result.stderr).toBe('pingknock: 2 of 5 checks failed\n');
    },
  );

  it('refuses a secret others can read, with the chmod to run', async () => {
    writeSecret(0o644);
    writeConfig(await listen());
    const result = await doctor(['box', '--config', config]);
    expect(result.code).toBe(ExitCode.secret);
    expect(result.lines[2]).toMatch(/^FAIL  secret: .* has permissions 0644, readable by others; run: chmod 600 /);
  });

  it('does not call the knock proven when the port accepted connections before it', async () => {
    writeSecret();
    const port = await listen();
    writeConfig(port);
    const result = await doctor(['box', '--config', config]);
    expect(result.code, result.lines.join('\n')).toBe(ExitCode.unproven);
    expect(result.lines.slice(-2)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^WARN  knock: 127\\.0\\.0\\.1 answered the knock in [\\d.]+ m?s, ` +
            `but 127\\.0\\.0\\.1:${port} already accepted connections before this knock ` +
            `\\(an earlier knock's window still open, or the port is not protected\\), so this secret is not proven; ` +
            'wait for the window to close \\(60 s by default\\) and run doctor again$',
        ),
      ),
      `ok    port: 127.0.0.1:${port} accepts connections (it did before the knock too)`,
    ]);
    expect(result.stderr).toBe('pingknock: 1 of 7 checks not proven\n');
  });

  it('takes the secret from PINGKNOCK_SECRET first, as proxy does', async () => {
    const port = await freePort();
    fakePingOpening(port);
    writeConfig(port);
    const result = await doctor(['box', '--config', config], { PINGKNOCK_SECRET: SECRET });
    expect(result.code, result.lines.join('\n')).toBe(0);
    expect(result.lines[2]).toBe('ok    secret: from PINGKNOCK_SECRET (it takes precedence over the file)');
  });

  it('reports an unanswered knock and a closed port', async () => {
    writeSecret();
    writeConfig(await listen());
    fakePing('ping from iputils 20221126', 1);
    const silent = await doctor(['box', '--config', config, '--deadline', '1']);
    expect(silent.code).toBe(ExitCode.noReply);
    expect(silent.lines.slice(-2)).toEqual([
      expect.stringMatching(/^FAIL  knock: no echo reply from 127\.0\.0\.1/),
      'skip  port: needs an answered knock',
    ]);

    fakePing('ping from iputils 20221126', 0);
    const port = await listen();
    await new Promise((resolve) => server?.close(resolve));
    server = undefined;
    writeConfig(port);
    const closed = await doctor(['box', '--config', config, '--connect-timeout', '2']);
    expect(closed.code).toBe(ExitCode.connectFailed);
    expect(closed.lines.at(-1)).toMatch(new RegExp(`^FAIL  port: 127\\.0\\.0\\.1:${port} refused the connection`));
  });

  it('reports a config ssh cannot read', async () => {
    writeSecret();
    writeFileSync(config, 'Host box\n    Bogus yes\n');
    const result = await doctor(['box', '--config', config]);
    expect(result.code).toBe(ExitCode.usage);
    expect(result.lines[3]).toMatch(/^FAIL  ssh config: ssh -G: .*line 2: Bad configuration option: bogus/);
  });
});

describe('knockVerdict: only a port closed before the knock and open after it proves the secret', () => {
  const refused = { message: '10.0.0.1:22 refused the connection; the knock worked', kind: 'connectFailed' } as const;
  const facts = (openBefore: boolean, knock: KnockFacts['knock']): KnockFacts => ({
    address: '10.0.0.1',
    where: '10.0.0.1:22',
    openBefore,
    knock,
  });
  const answered = (after: 'open' | typeof refused): KnockFacts['knock'] => ({ answered: true, ms: 120, after });

  it('closed before, open after: ok, and says that is the proof', () => {
    expect(knockVerdict(facts(false, answered('open')))).toEqual([
      { status: 'ok', name: 'knock', detail: '10.0.0.1 answered the knock in 0.1 s' },
      {
        status: 'ok',
        name: 'port',
        detail: '10.0.0.1:22 did not accept a connection before the knock and did after it: the knock opened it',
      },
    ]);
  });

  it('open before: the knock is not proven, whatever the port does after it', () => {
    const [knock, port] = knockVerdict(facts(true, answered('open')));
    expect(knock).toMatchObject({ status: 'WARN', name: 'knock', kind: 'unproven' });
    expect(knock?.detail).toMatch(
      /^10\.0\.0\.1 answered the knock in 0\.1 s, but 10\.0\.0\.1:22 already accepted connections before this knock /,
    );
    expect(knock?.detail).toMatch(
      /so this secret is not proven; wait for the window to close \(60 s by default\) and run doctor again$/,
    );
    expect(port).toEqual({
      status: 'ok',
      name: 'port',
      detail: '10.0.0.1:22 accepts connections (it did before the knock too)',
    });
    expect(knockVerdict(facts(true, answered(refused)))).toEqual([
      knock,
      { status: 'FAIL', name: 'port', detail: refused.message, kind: 'connectFailed' },
    ]);
  });

  it('closed before and after: the port fails with its own reason', () => {
    expect(knockVerdict(facts(false, answered(refused)))).toEqual([
      { status: 'ok', name: 'knock', detail: '10.0.0.1 answered the knock in 0.1 s' },
      { status: 'FAIL', name: 'port', detail: refused.message, kind: 'connectFailed' },
    ]);
  });

  it.each([false, true])('no answer (open before: %s): the knock fails and the port is not judged', (openBefore) => {
    const failure = { message: 'no echo reply from 10.0.0.1 within 3 s', kind: 'noReply' } as const;
    expect(knockVerdict(facts(openBefore, { answered: false, failure }))).toEqual([
      { status: 'FAIL', name: 'knock', detail: failure.message, kind: 'noReply' },
      { status: 'skip', name: 'port', detail: 'needs an answered knock' },
    ]);
  });
});
