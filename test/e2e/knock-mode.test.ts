import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/core/errors.js';
import { isoDate, slotAt } from '../../src/core/rolling.js';
import { buildRuleModel, rollingKey } from '../../src/core/rules/model.js';
import { renderNftables } from '../../src/core/rules/nftables.js';
import { knockModeEdit } from '../../src/core/ssh-config/knock-mode.js';
import { Lab, LAB_HOSTS } from '../../src/lab/lab.js';
import { newSecret } from './fixture.js';

/**
 * `pingknock knock` against a server whose nftables rules hold one-time patterns only, in the lab:
 * for an alias setup wrote with one-time knocks it sends the pattern of the moment, and a plain
 * connection (no ProxyCommand) gets in within the window; `--static` gets its echo reply and opens
 * nothing; once the alias's last day has passed it fails with exit 16 before knocking. The last
 * day is moved by rewriting the ProxyCommand as renew does, the way horizon-end.test.ts fakes it.
 */

const today = (): number => slotAt(Date.now() / 1000).day;
const ALIAS = 'rolled';

describe('pingknock knock, as the rules of the host expect', () => {
  const secret = newSecret();
  let lab: Lab;
  /** The user's ssh config, which setup writes the alias into. */
  let config: string;

  beforeAll(async () => {
    lab = await Lab.create({ secret, serverFirewall: 'bare' });
    // Yesterday to tomorrow: a run across midnight finds its patterns too.
    lab.loadServerRules(
      renderNftables(
        buildRuleModel({ keys: [rollingKey('lab-client', secret, today() - 1, 3)], port: 22, windowSeconds: 60 }),
      ),
    );
    config = join(lab.dir, 'user_ssh_config');
    // The lab's key and known hosts for every host, as a user's config has them; setup adds the alias.
    writeFileSync(config, ['Host *', ...lab.sshClientOptions().map((line) => `    ${line}`), ''].join('\n'), {
      mode: 0o600,
    });
    const setup = await lab.onClient(
      'pingknock',
      [
        'setup',
        ALIAS,
        '--config',
        config,
        '--hostname',
        lab.server.ipv4,
        '--secret-file',
        join(lab.home, '.ssh', 'pingknock', LAB_HOSTS.knocked),
        '--rolling-until',
        isoDate(today() + 60),
        '--yes',
      ],
      { timeoutMs: 30_000 },
    );
    expect(setup.code, setup.stderr).toBe(0);
  });
  afterAll(() => lab?.destroy());

  const knock = (...args: string[]) => lab.onClient('pingknock', ['knock', ...args], { timeoutMs: 20_000 });
  /** ssh to the alias with no ProxyCommand: a plain connection, which only an open port lets in. */
  const plainSsh = (connectTimeout: number) =>
    lab.onClient(
      'ssh',
      ['-F', config, '-o', 'ProxyCommand=none', '-o', `ConnectTimeout=${connectTimeout}`, ALIAS, 'echo in'],
      { timeoutMs: 20_000 },
    );

  async function expectOpen(): Promise<void> {
    const ssh = await plainSsh(5);
    expect(ssh.code, ssh.stderr).toBe(0);
    expect(ssh.stdout.toString()).toBe('in\n');
  }

  async function expectClosed(): Promise<void> {
    const ssh = await plainSsh(2);
    expect(ssh.code, ssh.stderr).toBe(255);
    expect(ssh.stderr).toMatch(/timed out/);
  }

  /** Moves the alias's last day in its ProxyCommand, as renew writes it. */
  function setLastDay(lastDay: number): void {
    const edit = knockModeEdit(readFileSync(config, 'latin1'), ALIAS, { kind: 'rolling', lastDay });
    if (edit.kind !== 'changed') throw new Error(`cannot move ${ALIAS}'s last day: ${JSON.stringify(edit)}`);
    writeFileSync(config, edit.text, 'latin1');
  }

  it("knocks the alias's HostName with its one-time pattern, and a plain connection gets in", async () => {
    expect(readFileSync(config, 'utf8')).toContain(
      `ProxyCommand pingknock proxy --name ${ALIAS} --rolling-until ${isoDate(today() + 60)}`,
    );
    lab.forgetKnocks();
    await expectClosed();
    const result = await knock('--config', config, ALIAS);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.length).toBe(0);
    expect(result.stderr).toBe(`pingknock: ${lab.server.ipv4} answered the one-time knock\n`);
    await expectOpen();
  });

  it('knocks one-time with --rolling-until, whatever the config', async () => {
    lab.forgetKnocks();
    const result = await knock('--rolling-until', isoDate(today() + 60), '--name', ALIAS, lab.server.ipv4);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toBe(`pingknock: ${lab.server.ipv4} answered the one-time knock\n`);
    await expectOpen();
  });

  it('gets an echo reply with --static, and the port stays closed', async () => {
    lab.forgetKnocks();
    const result = await knock('--static', '--name', ALIAS, lab.server.ipv4);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toBe(`pingknock: ${lab.server.ipv4} answered the knock\n`);
    await expectClosed();
  });

  it('shows the spinner on a terminal, clears it, then says which knock was answered', async () => {
    lab.forgetKnocks();
    const env = { ...lab.env };
    delete env.CI;
    const inner = `stty cols 80 rows 24; exec pingknock knock --config ${config} --name ${ALIAS} ${lab.server.ipv4}`;
    // script(1) gives the knock a terminal and copies what it shows to its own stdout.
    const result = await lab.onClient('script', ['-qec', inner, '/dev/null'], { env, timeoutMs: 20_000 });
    expect(result.code, result.stderr).toBe(0);
    const terminal = result.stdout.toString('latin1');
    expect(terminal).toContain(`knocking ${lab.server.ipv4}`);
    // ora's clear (the cursor to column 1, the line erased), then the one line and nothing else.
    const clear = '\u001b[1G\u001b[0K';
    const cleared = terminal.lastIndexOf(clear);
    expect(cleared, terminal).toBeGreaterThan(terminal.indexOf('knocking'));
    expect(terminal.slice(cleared)).toBe(`${clear}pingknock: ${lab.server.ipv4} answered the one-time knock\r\n`);
    await expectOpen();
  });

  it('warns in the last week of one-time knocks, and knocks', async () => {
    const lastDay = today() + 2;
    setLastDay(lastDay);
    lab.forgetKnocks();
    const result = await knock('--config', config, '--name', ALIAS, lab.server.ipv4);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toBe(
      `pingknock: one-time knocks for ${ALIAS} end on ${isoDate(lastDay)}: run pingknock renew ${ALIAS}\n` +
        `pingknock: ${lab.server.ipv4} answered the one-time knock\n`,
    );
    await expectOpen();
  });

  it('fails with exit 16 once the last day has passed, and sends no knock', async () => {
    // The server's rules still hold today's patterns: a knock sent all the same would open the port.
    const lastDay = today() - 1;
    setLastDay(lastDay);
    lab.forgetKnocks();
    const result = await knock('--config', config, '--name', ALIAS, lab.server.ipv4);
    expect(result.code, result.stderr).toBe(ExitCode.horizonEnded);
    expect(result.stdout.length).toBe(0);
    expect(result.stderr).toMatch(
      new RegExp(
        `^pingknock: one-time knocks for ${ALIAS} ended on ${isoDate(lastDay)}: .*` +
          `Run pingknock renew ${ALIAS} --via OTHER_ALIAS .*\n$`,
      ),
    );
    await expectClosed();
  });
});
