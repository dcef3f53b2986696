import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/core/errors.js';
import { isoDate, slotAt, type Slot } from '../../src/core/rolling.js';
import { buildRuleModel, rollingKey } from '../../src/core/rules/model.js';
import { renderNftables } from '../../src/core/rules/nftables.js';
import { secretToHex } from '../../src/core/secret.js';
import { runChecked } from '../../src/edge/exec.js';
import { Lab, LAB_HOSTS } from '../../src/lab/lab.js';
import { newSecret } from './fixture.js';

/**
 * The proxy with one-time knocks against the server's rolling nftables rules, in the lab: ssh
 * gets in with the ProxyCommand setup writes for such a host; a second client with the same secret,
 * knocking in the same slot from another address, gets in with the next slot's pattern; a
 * proxy whose rules ended fails at once with exit 16 and what to run.
 */

const today = (): number => slotAt(Date.now() / 1000).day;
const rollingProxy = (lastDay: number, extra = ''): string =>
  `ProxyCommand=pingknock proxy --name ${LAB_HOSTS.knocked} --rolling-until ${isoDate(lastDay)}${extra} %h %p`;
const sameSlot = (a: Slot, b: Slot): boolean => a.day === b.day && a.slot === b.slot;

describe('one-time knocks through the proxy', () => {
  const secret = newSecret();
  /** Far enough ahead that the proxy does not warn. */
  const farAhead = today() + 60;
  let lab: Lab;
  let rules: string;
  /** The second client: another address of the client namespace, used for one more address of the server. */
  let second: { readonly source: string; readonly server: string };

  beforeAll(async () => {
    lab = await Lab.create({ secret, serverFirewall: 'bare' });
    // Yesterday to tomorrow: a run across midnight finds its patterns too.
    rules = renderNftables(
      buildRuleModel({ keys: [rollingKey('lab-client', secret, today() - 1, 3)], port: 22, windowSeconds: 60 }),
    );
    lab.loadServerRules(rules);
    second = {
      source: lab.client.ipv4.replace(/\.\d+$/, '.3'),
      server: lab.server.ipv4.replace(/\.\d+$/, '.11'),
    };
    const devTowards = (netns: string, address: string): string => {
      const [route] = JSON.parse(runChecked('ip', ['-n', netns, '-j', 'route', 'get', address])) as { dev: string }[];
      if (route === undefined) throw new Error(`no route from ${netns} to ${address}`);
      return route.dev;
    };
    const clientLink = devTowards(lab.client.netns, lab.server.ipv4);
    const serverLink = devTowards(lab.server.netns, lab.client.ipv4);
    runChecked('ip', ['-n', lab.client.netns, 'addr', 'add', `${second.source}/24`, 'dev', clientLink]);
    runChecked('ip', ['-n', lab.server.netns, 'addr', 'add', `${second.server}/24`, 'dev', serverLink]);
    // What the client sends to the server's second address leaves from its second address.
    runChecked('ip', [
      '-n',
      lab.client.netns,
      'route',
      'add',
      `${second.server}/32`,
      'dev',
      clientLink,
      'src',
      second.source,
    ]);
  });
  afterAll(() => lab?.destroy());

  it('opens nothing for the static secret', async () => {
    lab.forgetKnocks();
    const ping = await lab.onClient('ping', ['-c1', '-W2', '-p', secretToHex(secret), lab.server.ipv4]);
    expect(ping.code, ping.stderr).toBe(0);
    const direct = await lab.ssh([LAB_HOSTS.direct, 'true'], { timeoutMs: 20_000 });
    expect(direct.code, direct.stderr).toBe(255);
    expect(direct.stderr).toMatch(/timed out/);
  });

  it('lets ssh in with the rolling ProxyCommand, saying nothing', async () => {
    lab.forgetKnocks();
    const result = await lab.ssh(['-o', rollingProxy(farAhead), LAB_HOSTS.knocked, 'echo one-time'], {
      timeoutMs: 20_000,
    });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout.toString()).toBe('one-time\n');
  });

  it('warns once on stderr in the last week, and still gets in', async () => {
    lab.forgetKnocks();
    const lastDay = today() + 2;
    const result = await lab.ssh(['-o', rollingProxy(lastDay), LAB_HOSTS.knocked, 'echo still-in'], {
      timeoutMs: 20_000,
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.toString()).toBe('still-in\n');
    const alias = LAB_HOSTS.knocked;
    expect(result.stderr).toBe(
      `pingknock: one-time knocks for ${alias} end on ${isoDate(lastDay)}: run pingknock renew ${alias}\n`,
    );
  });

  it('lets a second client with the same secret in within the same slot, with the next pattern', async () => {
    // Both must knock within one slot for the second to find the first's pattern spent; a run that
    // straddles a slot's end proves nothing and runs again (the next one lies well within a slot).
    for (let run = 0; run < 2; run += 1) {
      lab.loadServerRules(rules);
      const before = slotAt(Date.now() / 1000);
      const first = await lab.ssh(['-o', rollingProxy(farAhead), LAB_HOSTS.knocked, 'echo $SSH_CONNECTION'], {
        timeoutMs: 20_000,
      });
      const other = await lab.ssh(
        [
          '-o',
          `HostName=${second.server}`,
          '-o',
          rollingProxy(farAhead, ' --verbose'),
          LAB_HOSTS.knocked,
          'echo $SSH_CONNECTION',
        ],
        { timeoutMs: 30_000 },
      );
      const after = slotAt(Date.now() / 1000);
      expect(first.code, first.stderr).toBe(0);
      expect(first.stdout.toString()).toMatch(new RegExp(`^${lab.client.ipv4} `));
      expect(other.code, other.stderr).toBe(0);
      expect(other.stdout.toString()).toMatch(new RegExp(`^${second.source} \\d+ ${second.server} 22\n$`));
      if (!sameSlot(before, after)) continue;
      expect(other.stderr).toMatch(
        /^pingknock: port 22 stayed closed after the knock: knocking with the next pattern$/m,
      );
      expect(other.stderr.match(/^pingknock: knocking /gm)).toHaveLength(2);
      return;
    }
    throw new Error('two runs in a row straddled a slot boundary');
  });

  it('fails after a second knock when the port stays closed, and says why', async () => {
    lab.forgetKnocks();
    const wrong = join(lab.dir, 'other-secret');
    writeFileSync(wrong, `${newSecret()}\n`, { mode: 0o600 });
    const started = performance.now();
    const result = await lab.onClient(
      'pingknock',
      [
        'proxy',
        '--secret-file',
        wrong,
        '--rolling-until',
        isoDate(farAhead),
        '--connect-timeout',
        '2',
        lab.server.ipv4,
        '22',
      ],
      { timeoutMs: 20_000 },
    );
    expect(result.code).toBe(ExitCode.connectFailed);
    expect(result.stdout.length).toBe(0);
    expect(result.stderr).toMatch(
      new RegExp(
        `^pingknock: the knock was answered but ${lab.server.ipv4.replaceAll('.', '\\.')}:22 stayed closed, ` +
          'also after a second knock with the next pattern: someone may be replaying your knocks .*' +
          "or the server's rules do not match this client .*\n$",
      ),
    );
    // The second knock came after the first attempt's wait, and its own attempt had the full timeout.
    expect(performance.now() - started).toBeGreaterThan(3000);
  });

  it('fails at once, without knocking, once the last day has passed: exit 16 and what to run', async () => {
    const lastDay = today() - 1;
    const proxy = await lab.onClient(
      'pingknock',
      ['proxy', '--name', LAB_HOSTS.knocked, '--rolling-until', isoDate(lastDay), lab.server.ipv4, '22'],
      { timeoutMs: 20_000 },
    );
    expect(proxy.code).toBe(ExitCode.horizonEnded);
    expect(proxy.stdout.length).toBe(0);
    expect(proxy.stderr).toMatch(
      new RegExp(
        `^pingknock: one-time knocks for ${LAB_HOSTS.knocked} ended on ${isoDate(lastDay)}: .*` +
          `pingknock renew ${LAB_HOSTS.knocked} --via OTHER_ALIAS.*\n$`,
      ),
    );
    const ssh = await lab.ssh(['-o', rollingProxy(lastDay), LAB_HOSTS.knocked, 'true'], { timeoutMs: 20_000 });
    expect(ssh.code).toBe(255);
    expect(ssh.stderr).toContain(`one-time knocks for ${LAB_HOSTS.knocked} ended on ${isoDate(lastDay)}`);
  });
});
