import { randomBytes } from 'node:crypto';
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LAB_HOSTS, type Lab } from '../../src/lab/lab.js';
import { listServerRules } from '../support/lab-server.js';
import { secretToHex } from '../../src/core/secret.js';
import { ExitCode } from '../../src/core/errors.js';
import { FIREWALLS, newSecret, nftRules, protectedLab, rotated, sha256File } from './fixture.js';

const PROXY = 'pingknock proxy --name %n %h %p';

describe.each(FIREWALLS)('through the knock, server firewall %s', (firewall) => {
  const secret = newSecret();
  let lab: Lab;

  beforeAll(async () => {
    lab = await protectedLab(firewall, secret);
  });
  afterAll(() => lab?.destroy());

  const expectClosed = async (): Promise<void> => {
    const result = await lab.ssh([LAB_HOSTS.direct, 'true'], { timeoutMs: 20_000 });
    expect(result.code, result.stderr).toBe(255);
    expect(result.stderr).toMatch(/timed out/);
  };

  it('refuses ssh without a knock', async () => {
    lab.forgetKnocks();
    await expectClosed();
  });

  it('runs a command over ssh -o ProxyCommand=pingknock proxy', async () => {
    lab.forgetKnocks();
    const result = await lab.ssh(['-o', `ProxyCommand=${PROXY}`, LAB_HOSTS.knocked, 'echo knocked-in'], {
      timeoutMs: 20_000,
    });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout.toString()).toBe('knocked-in\n');
  });

  it("starts the server's sessions in an empty home, so no host dotfiles run in them", async () => {
    lab.forgetKnocks();
    const result = await lab.ssh([LAB_HOSTS.knocked, 'cd && ls -A'], { timeoutMs: 20_000 });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.toString()).toBe('');
  });

  it('logs in over IPv6', async () => {
    lab.forgetKnocks();
    const result = await lab.ssh([LAB_HOSTS.knocked6, 'echo $SSH_CONNECTION'], { timeoutMs: 20_000 });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.toString()).toContain(lab.server.ipv6);
  });

  it('keeps the port closed for a wrong secret, and says the rules may not match', async () => {
    lab.forgetKnocks();
    const wrong = join(lab.dir, 'wrong-secret');
    writeFileSync(wrong, `${newSecret()}\n`, { mode: 0o600 });
    const proxy = await lab.onClient(
      'pingknock',
      ['proxy', '--secret-file', wrong, '--connect-timeout', '2', lab.server.ipv4, '22'],
      {
        timeoutMs: 20_000,
      },
    );
    expect(proxy.code).toBe(ExitCode.connectFailed);
    expect(proxy.stdout.length).toBe(0);
    expect(proxy.stderr).toMatch(
      /^pingknock: .*did not answer.*rules may not match.*list of knocked addresses is full/,
    );
    const ssh = await lab.ssh(
      [
        '-o',
        `ProxyCommand=pingknock proxy --secret-file ${wrong} --connect-timeout 2 %h %p`,
        LAB_HOSTS.knocked,
        'true',
      ],
      {
        timeoutMs: 20_000,
      },
    );
    expect(ssh.code).toBe(255);
    await expectClosed();
  });

  it('does not open for any rotation of the secret sent with plain ping -p', async () => {
    lab.forgetKnocks();
    for (const by of [1, 4, 8, 15]) {
      const ping = await lab.onClient('ping', ['-c1', '-W2', '-p', secretToHex(rotated(secret, by)), lab.server.ipv4]);
      expect(ping.code, ping.stderr).toBe(0);
    }
    await expectClosed();
  });

  it('opens for the right secret sent with plain ping -p (the manual fallback)', async () => {
    lab.forgetKnocks();
    const ping = await lab.onClient('ping', ['-c1', '-W2', '-p', secretToHex(secret), lab.server.ipv4]);
    expect(ping.code, ping.stderr).toBe(0);
    const result = await lab.ssh([LAB_HOSTS.direct, 'echo open'], { timeoutMs: 20_000 });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.toString()).toBe('open\n');
  });

  it('writes nothing but the server bytes to stdout: they start with the SSH banner', async () => {
    const result = await lab.onClient('pingknock', ['proxy', '--name', LAB_HOSTS.knocked, lab.server.ipv4, '22'], {
      timeoutMs: 20_000,
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toBe('');
    expect(result.stdout.toString('latin1')).toMatch(/^SSH-2\.0-OpenSSH\S*( [^\r\n]*)?\r\n/);
  });

  it('moves files byte-exact with scp and rsync through the proxy', async () => {
    const source = join(lab.dir, 'payload.bin');
    writeFileSync(source, randomBytes(3 * 1024 * 1024 + 17));
    const viaScp = join(lab.dir, 'via-scp.bin');
    const viaRsync = join(lab.dir, 'via-rsync.bin');
    const scp = await lab.onClient('scp', ['-q', '-F', lab.sshConfig, source, `${LAB_HOSTS.knocked}:${viaScp}`], {
      timeoutMs: 60_000,
    });
    expect(scp.code, scp.stderr).toBe(0);
    const rsync = await lab.onClient(
      'rsync',
      ['-a', '-e', `ssh -F ${lab.sshConfig}`, source, `${LAB_HOSTS.knocked}:${viaRsync}`],
      {
        timeoutMs: 60_000,
      },
    );
    expect(rsync.code, rsync.stderr).toBe(0);
    const expected = await sha256File(source);
    expect(await sha256File(viaScp)).toBe(expected);
    expect(await sha256File(viaRsync)).toBe(expected);
  });

  it("carries 64 MiB through ssh host 'cat > f' with the same sha256", async () => {
    const payload = randomBytes(64 * 1024 * 1024);
    const target = join(lab.dir, 'big.bin');
    const result = await lab.ssh([LAB_HOSTS.knocked, `cat > ${target}`], { input: payload, timeoutMs: 120_000 });
    expect(result.code, result.stderr).toBe(0);
    expect(await sha256File(target)).toBe(await sha256File(writeTemp(lab, payload)));
  });

  it('closes the port again when the window expires', async () => {
    lab.loadServerRules(nftRules(secret, 2));
    try {
      const ping = await lab.onClient('ping', ['-c1', '-W2', '-p', secretToHex(secret), lab.server.ipv4]);
      expect(ping.code, ping.stderr).toBe(0);
      const inWindow = await lab.ssh([LAB_HOSTS.direct, 'true'], { timeoutMs: 20_000 });
      expect(inWindow.code, inWindow.stderr).toBe(0);
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      await expectClosed();
    } finally {
      lab.loadServerRules(nftRules(secret));
    }
  });

  it('gives the same ruleset when the rules are loaded twice', () => {
    const once = listServerRules(lab);
    lab.loadServerRules(nftRules(secret));
    expect(listServerRules(lab)).toBe(once);
    expect(once.match(/table inet pingknock/g)).toHaveLength(1);
  });
});

function writeTemp(lab: Lab, data: Buffer): string {
  const path = join(lab.dir, 'expected.bin');
  writeFileSync(path, data);
  expect(readFileSync(path).length).toBe(data.length);
  return path;
}
