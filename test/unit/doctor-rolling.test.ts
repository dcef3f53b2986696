import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/core/errors.js';
import { isoDate, rollingPatternHex, slotAt } from '../../src/core/rolling.js';
import { parseSecret } from '../../src/core/secret.js';
import { proxyCommandFor } from '../../src/core/ssh-config/proxy-command.js';
import { run } from '../../src/edge/exec.js';
import { BIN, ROOT } from '../support/cli.js';

const SECRET = 'Abcdefgh12345678';

let dir: string;
let home: string;
let fakeBin: string;
let pingLog: string;
let config: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pingknock-doctor-rolling-'));
  home = join(dir, 'home');
  fakeBin = join(dir, 'bin');
  pingLog = join(dir, 'ping.log');
  config = join(dir, 'ssh_config');
  mkdirSync(join(home, '.ssh', 'pingknock'), { recursive: true, mode: 0o700 });
  writeFileSync(join(home, '.ssh', 'pingknock', 'box'), `${SECRET}\n`, { mode: 0o600 });
  mkdirSync(fakeBin);
  // Says what it is for -V; records a knock's arguments and gets its reply.
  writeFileSync(
    join(fakeBin, 'ping'),
    `#!/bin/sh\nif [ "$1" = -V ]; then echo 'ping from iputils 20221126'; exit 0; fi\necho "$@" >> '${pingLog}'\n`,
    { mode: 0o755 },
  );
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const today = (): number => slotAt(Date.now() / 1000).day;

/** A port that refuses connections: doctor's port line fails, the knock line is what these tests read. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

async function doctor(lastDay: number) {
  const port = await closedPort();
  const proxy = proxyCommandFor('box', { kind: 'rolling', lastDay });
  writeFileSync(config, `Host box\n    HostName 127.0.0.1\n    Port ${port}\n    ProxyCommand ${proxy}\n`);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: home,
    PATH: `${fakeBin}:${join(ROOT, 'bin')}:${process.env.PATH ?? ''}`,
  };
  delete env.PINGKNOCK_SECRET;
  const result = await run(process.execPath, [BIN, 'doctor', 'box', '--config', config], { env, timeoutMs: 30_000 });
  return { code: result.code, lines: result.stdout.toString().split('\n').filter(Boolean), stderr: result.stderr };
}

describe('pingknock doctor for a host with one-time knocks', () => {
  it("shows the horizon and knocks with the slot's pattern, not the secret", async () => {
    const lastDay = today() + 20;
    const before = rollingPatternHex(parseSecret(SECRET, 'test'), slotAt(Date.now() / 1000));
    const result = await doctor(lastDay);
    const after = rollingPatternHex(parseSecret(SECRET, 'test'), slotAt(Date.now() / 1000));
    expect(result.lines).toContain(
      `ok    horizon: one-time knocks through ${isoDate(lastDay)} (UTC), 20 days after today`,
    );
    expect(result.lines).toContainEqual(expect.stringMatching(/^ok    knock: 127\.0\.0\.1 answered the knock/));
    expect(result.code).toBe(ExitCode.connectFailed);
    const sent = /-p ([0-9a-f]{32}) /.exec(readFileSync(pingLog, 'utf8'))?.[1];
    expect([before, after]).toContain(sent);
    expect(sent).not.toBe(Buffer.from(SECRET).toString('hex'));
  });

  it('warns in the last week, and still knocks', async () => {
    const lastDay = today() + 7;
    const result = await doctor(lastDay);
    expect(result.lines).toContain(
      `ok    horizon: one-time knocks for box end on ${isoDate(lastDay)}: run pingknock renew box`,
    );
    expect(existsSync(pingLog)).toBe(true);
  });

  it('fails with exit 16 once they ended, saying what to run, and does not knock', async () => {
    const lastDay = today() - 1;
    const result = await doctor(lastDay);
    expect(result.code).toBe(ExitCode.horizonEnded);
    expect(result.lines).toContainEqual(
      expect.stringMatching(
        new RegExp(`^FAIL  horizon: one-time knocks for box ended on ${isoDate(lastDay)}: .*pingknock renew box --via`),
      ),
    );
    expect(result.lines.at(-1)).toBe(
      'skip  knock: needs a ping that can knock, the secret, the address and one-time knocks that last: ' +
        'fix the lines above first',
    );
    expect(existsSync(pingLog)).toBe(false);
  });
});
