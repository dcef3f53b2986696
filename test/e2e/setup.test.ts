import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab } from '../../src/lab/lab.js';
import { parseSecret, secretToHex } from '../../src/core/secret.js';
import { proxyCommandFor } from '../../src/core/ssh-config/proxy-command.js';
import { STATIC_MODE } from '../../src/core/rolling.js';
import { expectCopiedByteExact, newSecret, nftRules } from './fixture.js';

const ALIAS = 'target';

/**
 * A user's own ssh config in the lab's client namespace, set up by `pingknock setup`: the secret
 * is made by setup, so the server's rules are loaded afterwards, from that secret. Then plain
 * ssh, scp and rsync with that config must get in through the knock, and nothing else.
 */
describe('pingknock setup in a lab, then plain ssh, scp and rsync', () => {
  let lab: Lab;
  let config: string;
  let original: string;
  let setupStdout: string;

  beforeAll(async () => {
    // The lab's own secret is for its own hosts; setup makes the one for ALIAS.
    lab = await Lab.create({ secret: newSecret(), serverFirewall: 'existing' });
    config = join(lab.dir, 'user_ssh_config');
    original = [
      '# my ssh config',
      'Host plain',
      `    HostName ${lab.server.ipv4}`,
      '    ConnectTimeout 3',
      '',
      'Host *',
      ...lab.sshClientOptions().map((line) => `    ${line}`),
      '',
    ].join('\n');
    writeFileSync(config, original, { mode: 0o644 });

    const setup = await lab.onClient(
      'pingknock',
      ['setup', ALIAS, '--hostname', lab.server.ipv4, '--config', config, '--yes'],
      { timeoutMs: 30_000 },
    );
    if (setup.code !== 0) throw new Error(`pingknock setup failed (${setup.code}): ${setup.stderr}`);
    setupStdout = setup.stdout.toString();
    const secret = parseSecret(readFileSync(join(lab.home, '.ssh', 'pingknock', ALIAS)), 'the secret setup made');
    lab.loadServerRules(nftRules(secret));
  });
  afterAll(() => lab?.destroy());

  it('added only the Host block, before the catch-all defaults, and kept the mode', () => {
    // The comment right above `Host plain` belongs to it, so the new block goes above both.
    expect(readFileSync(config, 'utf8')).toBe(
      `Host ${ALIAS}\n    HostName ${lab.server.ipv4}\n` +
        // This machine's OpenSSH takes the socket from the proxy.
        `    ProxyCommand ${proxyCommandFor(ALIAS, STATIC_MODE, { fdpass: true })}\n` +
        `    ProxyUseFdpass yes\n\n${original}`,
    );
    expect(statSync(config).mode & 0o777).toBe(0o644);
    expect(readFileSync(`${config}.pingknock-backup`, 'utf8')).toBe(original);
  });

  it('keeps the port closed without a knock', async () => {
    lab.forgetKnocks();
    const result = await lab.onClient('ssh', ['-F', config, 'plain', 'true'], { timeoutMs: 20_000 });
    expect(result.code, result.stderr).toBe(255);
    expect(result.stderr).toMatch(/timed out/);
  });

  it('lets plain `ssh -F config ALIAS` in through the knock', async () => {
    lab.forgetKnocks();
    const result = await lab.onClient('ssh', ['-F', config, ALIAS, 'echo "in as $(id -un)"'], { timeoutMs: 20_000 });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout.toString()).toBe('in as root\n');
  });

  it('moves files byte-exact with scp and rsync', async () => {
    const work = join(lab.dir, 'setup-files');
    mkdirSync(work);
    await expectCopiedByteExact(lab, config, ALIAS, work);
  });

  it('printed a manual fallback that works: the ping it shows, then ssh without the ProxyCommand', async () => {
    lab.forgetKnocks();
    const secret = parseSecret(readFileSync(join(lab.home, '.ssh', 'pingknock', ALIAS)), 'secret');
    expect(setupStdout).not.toContain(secretToHex(secret));
    const pingLine = setupStdout.split('\n').find((line) => line.trim().startsWith('ping '));
    expect(pingLine?.trim()).toBe(`ping -c 1 -p "$(pingknock pattern --static ${ALIAS})" ${lab.server.ipv4}`);
    const sshLine = setupStdout.split('\n').find((line) => line.includes('ProxyCommand=none'));
    expect(sshLine?.trim()).toBe(`ssh -F ${config} -o ProxyCommand=none ${ALIAS}`);
    // As the user pastes it into a shell, which fills in the pattern.
    const knocked = await lab.onClient('sh', ['-c', `${(pingLine ?? '').trim()} -W 2`], { timeoutMs: 10_000 });
    expect(knocked.code, knocked.stderr).toBe(0);
    const [ssh, ...sshArgs] = (sshLine ?? '').trim().split(' ');
    const result = await lab.onClient(ssh ?? 'ssh', [...sshArgs, 'echo by-hand'], { timeoutMs: 20_000 });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.toString()).toBe('by-hand\n');
  });

  it('changes nothing when run again', async () => {
    const before = readFileSync(config);
    const again = await lab.onClient(
      'pingknock',
      ['setup', ALIAS, '--hostname', lab.server.ipv4, '--config', config, '--yes'],
      { timeoutMs: 30_000 },
    );
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/nothing changed/);
    expect(readFileSync(config).equals(before)).toBe(true);
  });

  it('doctor finds everything in order, down to a live knock and the open port', async () => {
    lab.forgetKnocks();
    const result = await lab.onClient('pingknock', ['doctor', ALIAS, '--config', config], { timeoutMs: 30_000 });
    expect(result.code, result.stdout.toString() + result.stderr).toBe(0);
    const lines = result.stdout.toString().trim().split('\n');
    expect(lines.map((line) => line.split(':')[0])).toEqual([
      'ok    ping',
      'ok    pingknock',
      'ok    secret',
      'ok    ssh config',
      'ok    name',
      'ok    knock',
      'ok    port',
    ]);
    expect(lines.at(-1)).toBe(
      `ok    port: ${lab.server.ipv4}:22 did not accept a connection before the knock and did after it: ` +
        'the knock opened it',
    );
  });

  it('doctor says when the port stays closed after the knock: the rules do not match', async () => {
    lab.loadServerRules(nftRules(newSecret()));
    try {
      lab.forgetKnocks();
      const result = await lab.onClient('pingknock', ['doctor', ALIAS, '--config', config, '--connect-timeout', '2'], {
        timeoutMs: 30_000,
      });
      expect(result.code).toBe(6);
      expect(result.stdout.toString()).toMatch(
        /^ok    knock: .*\nFAIL  port: .*did not answer within 2 s.*rules may not match/m,
      );
    } finally {
      lab.loadServerRules(nftRules(parseSecret(readFileSync(join(lab.home, '.ssh', 'pingknock', ALIAS)), 'secret')));
    }
  });
});
