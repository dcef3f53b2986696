import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isoDate, rollingPatternHex, slotAt, SLOT_SECONDS } from '../../src/core/rolling.js';
import { buildRuleModel, rollingKey } from '../../src/core/rules/model.js';
import { renderNftables } from '../../src/core/rules/nftables.js';
import { parseSecret, secretToHex, type Secret } from '../../src/core/secret.js';
import { REPLACED_MARK } from '../../src/core/ssh-config/text-edit.js';
import { runChecked } from '../../src/edge/exec.js';
import { BastionLab } from '../support/bastion-lab.js';
import { ROOT } from '../support/cli.js';
import { killStarted } from '../support/spawned.js';
import { expectCopiedByteExact, newSecret, nftRules, startOnTerminal } from './fixture.js';

/**
 * A host behind a bastion (`ProxyJump bastion`), protected by the knock: setup keeps the route and
 * has the knock sent from the bastion by the bastion's own ping, with no pingknock and no secret
 * there. ssh, scp and rsync then reach the inner server with the config setup wrote, the inner
 * server sees the knock come from the bastion, and unenroll gives the config back byte for byte.
 */

const ALIAS = 'inner';
const today = (): number => slotAt(Date.now() / 1000).day;
const readSecret = (lab: BastionLab): Secret =>
  parseSecret(readFileSync(join(lab.home, '.ssh', 'pingknock', ALIAS)), 'the secret setup made');

async function setupInner(lab: BastionLab, config: string, extra: readonly string[]): Promise<string> {
  const setup = await lab.onClient('pingknock', ['setup', ALIAS, '--config', config, '--yes', ...extra], {
    timeoutMs: 30_000,
  });
  if (setup.code !== 0) throw new Error(`pingknock setup failed (${setup.code}): ${setup.stderr}`);
  return setup.stderr;
}

/**
 * `pingknock unenroll inner` (setup only was run: no record, the rules loaded by hand): it succeeds,
 * the inner server keeps no table of pingknock's, and the config is `original` again, byte for byte.
 */
async function expectUnenrolled(lab: BastionLab, config: string, original: string): Promise<void> {
  lab.inner.forgetKnocks();
  const state = join(lab.inner.dir, 'state');
  const persist = join(lab.inner.dir, 'persist');
  mkdirSync(persist, { mode: 0o700 });
  const result = await lab.onClient(
    'pingknock',
    ['unenroll', ALIAS, '--config', config, '--state-dir', state, '--persist-dir', persist],
    { timeoutMs: 90_000 },
  );
  expect(result.code, result.stderr).toBe(0);
  expect(readFileSync(config, 'utf8')).toBe(original);
  const tables = runChecked('ip', ['netns', 'exec', lab.inner.server.netns, 'nft', 'list', 'tables']);
  expect(tables).not.toMatch(/pingknock/);
}

/** ssh from the client with `config`: a fresh connection (no master of the user's), within 30 s. */
function ssh(lab: BastionLab, config: string, args: readonly string[]) {
  return lab.onClient('ssh', ['-F', config, '-o', 'ControlPath=none', ...args], { timeoutMs: 30_000 });
}

describe('a host behind a plain bastion, set up with one-time knocks', () => {
  let lab: BastionLab;
  let config: string;
  let original: string;
  let setupSaid: string;
  let secret: Secret;
  const lastDay = today() + 30;
  /** Files the bastion wrote to since this suite started are newer than this one. */
  let marker: string;
  const startedAt = Date.now() / 1000;

  beforeAll(async () => {
    lab = await BastionLab.create();
    marker = join(lab.front.dir, 'started');
    writeFileSync(marker, '');
    config = join(lab.front.dir, 'user_ssh_config');
    original = lab.configFor({ knocked: false });
    writeFileSync(config, original, { mode: 0o600 });
    setupSaid = await setupInner(lab, config, ['--rolling-until', isoDate(lastDay)]);
    secret = readSecret(lab);
    lab.inner.loadServerRules(rollingRules(secret));
  });

  /** The inner server's rules for one-time knocks with `key`, yesterday (a run across midnight) to the last day. */
  function rollingRules(key: Secret): string {
    const days = lastDay - today() + 2;
    return renderNftables(
      buildRuleModel({ keys: [rollingKey('client', key, today() - 1, days)], port: 22, windowSeconds: 60 }),
    );
  }
  afterEach(() => killStarted());
  afterAll(() => {
    killStarted();
    lab?.destroy();
  });

  it('setup kept the route: the ProxyJump marked as replaced, a ProxyCommand that knocks from the bastion', () => {
    const proxy =
      `ProxyCommand pingknock proxy --name ${ALIAS} --jump bastion --config ${config} ` +
      `--rolling-until ${isoDate(lastDay)} %h %p`;
    const expected = original
      .replace('    ProxyJump bastion\n', `    ${REPLACED_MARK}ProxyJump bastion\n`)
      .replace(/(    LogLevel ERROR\n)(\n?)$/, `$1    ${proxy}\n$2`);
    expect(readFileSync(config, 'utf8')).toBe(expected);
    expect(setupSaid).toMatch(/goes through bastion \(ProxyJump\): the knock is sent from bastion by its own ping/);
  });

  it('the inner server is out of the client reach, and closed through the bastion without a knock', async () => {
    const direct = await ssh(lab, config, ['-o', 'ProxyCommand=none', ALIAS, 'true']);
    expect(direct.code).toBe(255);
    expect(direct.stderr).toMatch(/Network is unreachable/);
    lab.inner.forgetKnocks();
    const unknocked = await ssh(lab, config, ['-o', 'ProxyJump=bastion', '-o', 'ConnectTimeout=3', ALIAS, 'true']);
    expect(unknocked.code).toBe(255);
    expect(unknocked.stderr).toMatch(/timed out/);
  });

  it('ssh inner gets in, the knock and the session both coming from the bastion', async () => {
    lab.inner.forgetKnocks();
    const result = await ssh(lab, config, [ALIAS, 'echo "in as $(id -un) from ${SSH_CONNECTION%% *}"']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout.toString()).toBe(`in as root from ${lab.bastionInner}\n`);
    expect(lab.knockedOnInner()).toContain(lab.bastionInner);
  });

  it('scp and rsync move files byte-exact through the knock', async () => {
    const work = join(lab.front.dir, 'files');
    mkdirSync(work);
    await expectCopiedByteExact(
      {
        onClient: (file, args, options) => lab.onClient(file, args, options),
        forgetKnocks: () => lab.inner.forgetKnocks(),
      },
      config,
      ALIAS,
      work,
    );
  });

  it('works typed on a terminal too: ssh and scp under a real pseudo-terminal', async () => {
    lab.inner.forgetKnocks();
    const typed = await startOnTerminal(
      lab.front,
      `ssh -F ${config} ${ALIAS} 'echo on-the-terminal' && scp -q -F ${config} ${config} ${ALIAS}:${config}.copy`,
    ).finish(30_000);
    expect(typed.code, typed.stdout).toBe(0);
    expect(typed.stdout).toContain('on-the-terminal');
    expect(typed.stdout).not.toContain('pingknock:');
    expect(readFileSync(`${config}.copy`, 'utf8')).toBe(readFileSync(config, 'utf8'));
  });

  it('the bastion pinged with one-time patterns, not the secret, and holds no pingknock and no secret', async () => {
    const knocks = lab.pings().filter((ping) => ping.args.includes(' -p '));
    expect(knocks.length).toBeGreaterThan(0);
    const hex = secretToHex(secret);
    // The pattern of every slot this suite ran in.
    const patterns = new Set<string>();
    for (let at = startedAt - SLOT_SECONDS; at < Date.now() / 1000 + SLOT_SECONDS; at += SLOT_SECONDS / 2)
      patterns.add(rollingPatternHex(secret, slotAt(at)));
    for (const { from, args } of knocks) {
      expect(args).not.toContain(hex);
      expect(args).not.toContain(secret);
      expect(patterns.has(/-p ([0-9a-f]{32})/.exec(args)?.[1] ?? ''), args).toBe(true);
      expect(args.endsWith(`-- ${lab.innerAddress}`), args).toBe(true);
      expect(from).toBe(lab.front.client.ipv4);
    }
    // No pingknock runs there: none at all, or (the lab shares the test machine's files) the one
    // installed on the machine, which fails for the bastion's sessions as a missing command does.
    const version = await ssh(lab, config, ['bastion', 'pingknock --version']);
    expect(version.code, version.stderr.toString()).toBe(127);
    // Every file the bastion can see in its home and temporary folders that changed since the suite
    // started; the control file, which holds the secret's hex, shows that the search finds what is there.
    const control = join(lab.front.dir, 'control');
    writeFileSync(control, `say ${hex} once\n`);
    const search = await lab.onBastion('sh', [
      '-c',
      'find /root /tmp /var/tmp /dev/shm -type f -newer "$1" -size -20M -exec grep -lF -e "$2" -e "$3" {} + ' +
        '2>/dev/null; echo searched',
      'sh',
      marker,
      secret,
      hex,
    ]);
    expect(search.stdout.toString()).toBe(`${control}\nsearched\n`);
  });

  it('doctor checks the knock from the bastion: closed before, open after', async () => {
    lab.inner.forgetKnocks();
    const result = await lab.onClient('pingknock', ['doctor', ALIAS, '--config', config], { timeoutMs: 60_000 });
    const lines = result.stdout.toString().trim().split('\n');
    expect(result.code, result.stdout.toString() + result.stderr).toBe(0);
    expect(lines.map((line) => line.split(':')[0])).toEqual([
      'ok    ping',
      'ok    pingknock',
      'ok    secret',
      'ok    ssh config',
      'ok    horizon',
      'skip  name',
      'ok    knock',
      'ok    port',
    ]);
    expect(lines[3]).toMatch(/it knocks from bastion and goes through it \(ssh -W\)$/);
    expect(lines.at(-1)).toBe(
      `ok    port: ${lab.innerAddress}:22 (from bastion) did not accept a connection before the knock ` +
        'and did after it: the knock opened it',
    );
  });

  it('doctor says when the port stays closed after the knock from the bastion: the rules do not match', async () => {
    lab.inner.loadServerRules(rollingRules(newSecret()));
    try {
      lab.inner.forgetKnocks();
      const result = await lab.onClient('pingknock', ['doctor', ALIAS, '--config', config, '--connect-timeout', '2'], {
        timeoutMs: 60_000,
      });
      expect(result.code).toBe(6);
      const [knock, port] = result.stdout.toString().trim().split('\n').slice(-2);
      expect(knock).toMatch(/^ok    knock: 10\.203\.0\.2 \(from bastion\) answered /);
      expect(port).toMatch(
        /^FAIL  port: 10\.203\.0\.2:22 \(from bastion\) did not answer within 2 s.*rules may not match/,
      );
    } finally {
      lab.inner.loadServerRules(rollingRules(secret));
    }
  });

  it('the proxy says what went wrong from the bastion: no way there, or no route from there', async () => {
    const proxy = (jump: string, host: string) =>
      lab.onClient('pingknock', ['proxy', '--name', ALIAS, '--jump', jump, '--config', config, host, '22'], {
        timeoutMs: 30_000,
      });
    const noBastion = await proxy('nosuch.invalid', lab.innerAddress);
    expect(noBastion.code).toBe(13);
    expect(noBastion.stderr).toMatch(
      /^pingknock: cannot reach the jump host nosuch\.invalid over ssh to knock from it: /,
    );
    const noRoute = await proxy('bastion', '10.204.0.1');
    expect(noRoute.code).toBe(14);
    // In ping's own words, which name it as it was started.
    expect(noRoute.stderr).toMatch(
      /^pingknock: 10\.204\.0\.1 is unreachable from bastion \(\S*ping: connect: Network is unreachable\)\n$/,
    );
    expect(noRoute.stdout.length).toBe(0);
  });

  it('doctor proves a hand-written ProxyCommand that runs pingknock on the bastion, and does not fail it', async () => {
    // The old way: pingknock and a copy of the secret on the bastion (in its own home, for this test alone).
    const onBastion = '/root/.ssh/pingknock';
    const placed = await lab.onBastion('sh', [
      '-c',
      'mkdir -p -m 700 "$1" && umask 077 && printf "%s\\n" "$2" >"$1/inner"',
      'sh',
      onBastion,
      secret,
    ]);
    expect(placed.code, placed.stderr).toBe(0);
    const byHand = join(lab.front.dir, 'by_hand_config');
    const remote = `${join(ROOT, 'dist', 'bin', 'pingknock')} proxy --name inner --rolling-until ${isoDate(lastDay)}`;
    writeFileSync(
      byHand,
      [
        'Host by-hand',
        `    HostName ${lab.innerAddress}`,
        `    ProxyCommand ssh -F ${byHand} bastion ${remote} %h %p`,
        ...lab.inner.sshClientOptions().map((line) => `    ${line}`),
        lab.configFor({ knocked: false }),
      ].join('\n'),
      { mode: 0o600 },
    );
    try {
      lab.inner.forgetKnocks();
      const result = await lab.onClient('pingknock', ['doctor', 'by-hand', '--config', byHand], { timeoutMs: 60_000 });
      const lines = result.stdout.toString().trim().split('\n');
      expect(result.code, result.stdout.toString() + result.stderr).toBe(0);
      expect(lines.map((line) => line.split(':')[0])).toEqual([
        'ok    ping',
        'ok    pingknock',
        'skip  secret',
        'ok    ssh config',
        'skip  name',
        'ok    knock',
        'ok    port',
      ]);
      expect(lines[3]).toMatch(/: pingknock on bastion knocks, with its own copy of the secret$/);
      expect(lines.at(-1)).toMatch(/did not accept a connection before the knock and did after it/);
    } finally {
      await lab.onBastion('rm', ['-r', onBastion]);
    }
  });

  it('changes nothing when setup runs again', async () => {
    const before = readFileSync(config);
    const again = await setupInner(lab, config, []);
    expect(again).toMatch(/nothing changed/);
    expect(readFileSync(config).equals(before)).toBe(true);
  });

  it('unenroll takes the rules off the inner server and gives the config back byte for byte', async () => {
    await expectUnenrolled(lab, config, original);
    const back = await ssh(lab, config, [ALIAS, 'echo through the plain ProxyJump']);
    expect(back.code, back.stderr).toBe(0);
  });
});

describe('a host whose ProxyJump comes from a Match block', () => {
  let lab: BastionLab;
  let config: string;
  let original: string;
  let setupSaid: string;

  beforeAll(async () => {
    lab = await BastionLab.create();
    config = join(lab.front.dir, 'user_ssh_config');
    // The route is not in the host's own block: only ssh -G tells setup of it.
    original = `${lab.configFor({ knocked: false }, [])}Match host ${lab.innerAddress}\n    ProxyJump bastion\n`;
    writeFileSync(config, original, { mode: 0o600 });
    setupSaid = await setupInner(lab, config, ['--static']);
    lab.inner.loadServerRules(nftRules(readSecret(lab)));
  });
  afterAll(() => lab?.destroy());

  it('setup knocks from the bastion, with a line in the host block that comes before the Match block', () => {
    const proxy = `ProxyCommand pingknock proxy --name ${ALIAS} --jump bastion --config ${config} %h %p`;
    expect(readFileSync(config, 'utf8')).toBe(
      original.replace(/(    LogLevel ERROR\n)(Match host )/, `$1    ${proxy}\n$2`),
    );
    expect(setupSaid).toMatch(/goes through bastion \(ProxyJump\): the knock is sent from bastion by its own ping/);
  });

  it('ssh inner gets in, the knock and the session both coming from the bastion', async () => {
    lab.inner.forgetKnocks();
    const result = await ssh(lab, config, [ALIAS, 'echo "${SSH_CONNECTION%% *}"']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.toString()).toBe(`${lab.bastionInner}\n`);
    expect(lab.knockedOnInner()).toContain(lab.bastionInner);
  });

  it('unenroll gives the config back byte for byte, and the Match block carries ssh again', async () => {
    await expectUnenrolled(lab, config, original);
    const back = await ssh(lab, config, [ALIAS, 'echo through the Match block']);
    expect(back.code, back.stderr).toBe(0);
  });
});

describe('a host behind a bastion that is knock-protected itself, set up with static knocks', () => {
  let lab: BastionLab;
  let config: string;
  const bastionSecret = newSecret();

  beforeAll(async () => {
    lab = await BastionLab.create({ bastionSecret });
    config = join(lab.front.dir, 'user_ssh_config');
    writeFileSync(config, lab.configFor({ knocked: true }), { mode: 0o600 });
    await setupInner(lab, config, ['--static']);
    lab.inner.loadServerRules(nftRules(readSecret(lab)));
  });
  afterAll(() => lab?.destroy());

  it('the bastion opens only to its own knock', async () => {
    lab.front.forgetKnocks();
    const result = await ssh(lab, config, ['-o', 'ProxyCommand=none', '-o', 'ConnectTimeout=3', 'bastion', 'true']);
    expect(result.code).toBe(255);
    expect(result.stderr).toMatch(/timed out/);
  });

  it('ssh inner knocks at the bastion, then has the bastion knock at the inner server', async () => {
    lab.front.forgetKnocks();
    lab.inner.forgetKnocks();
    const result = await ssh(lab, config, [ALIAS, 'echo "${SSH_CONNECTION%% *}"']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.toString()).toBe(`${lab.bastionInner}\n`);
    expect(lab.knockedOnInner()).toContain(lab.bastionInner);
  });

  it('doctor proves the inner knock through the protected bastion', async () => {
    lab.front.forgetKnocks();
    lab.inner.forgetKnocks();
    const result = await lab.onClient('pingknock', ['doctor', ALIAS, '--config', config], { timeoutMs: 60_000 });
    expect(result.code, result.stdout.toString() + result.stderr).toBe(0);
    expect(result.stdout.toString()).toMatch(/^ok    knock: 10\.203\.0\.2 \(from bastion\) answered the knock in /m);
  });
});

describe('two hops (ProxyJump bastion,again): the knock leaves from the last one', () => {
  let lab: BastionLab;
  let config: string;

  beforeAll(async () => {
    lab = await BastionLab.create();
    config = join(lab.front.dir, 'user_ssh_config');
    // The second hop is the bastion again, reached from itself: the path runs through two ssh hops.
    const again = [
      'Host again',
      '    HostName 127.0.0.1',
      ...lab.front.sshClientOptions().map((line) => `    ${line}`),
    ];
    writeFileSync(config, `${lab.configFor({ knocked: false }, ['ProxyJump bastion,again'])}${again.join('\n')}\n`, {
      mode: 0o600,
    });
    await setupInner(lab, config, ['--static']);
    lab.inner.loadServerRules(nftRules(readSecret(lab)));
  });
  afterAll(() => lab?.destroy());

  it('ssh inner gets in through both hops, the last one knocking', async () => {
    expect(readFileSync(config, 'utf8')).toContain(`--jump bastion,again --config ${config} %h %p`);
    lab.inner.forgetKnocks();
    const result = await ssh(lab, config, [ALIAS, 'echo "${SSH_CONNECTION%% *}"']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.toString()).toBe(`${lab.bastionInner}\n`);
    // From the second hop: the bastion, in a session that came from itself, not from the client.
    const knocks = lab.pings().filter((ping) => ping.args.includes(' -p '));
    expect(knocks.map((ping) => ping.from)).toEqual(['127.0.0.1']);
  });
});

describe('enroll through a bastion, then unenroll', () => {
  let lab: BastionLab;
  let config: string;
  let original: string;
  let dirs: string[];

  beforeAll(async () => {
    lab = await BastionLab.create();
    config = join(lab.front.dir, 'user_ssh_config');
    original = lab.configFor({ knocked: false });
    writeFileSync(config, original, { mode: 0o600 });
    // The inner server shares the host's /run and /etc in the lab: its state and boot files go to its own folders.
    dirs = ['--state-dir', join(lab.inner.dir, 'state'), '--persist-dir', join(lab.inner.dir, 'persist')];
    mkdirSync(join(lab.inner.dir, 'persist'), { mode: 0o700 });
  });
  afterAll(() => lab?.destroy());

  it('enrolls: logs in around the knock through the bastion, proves the rules through it', async () => {
    const result = await lab.onClient('pingknock', ['enroll', ALIAS, '--config', config, '--yes', ...dirs], {
      timeoutMs: 180_000,
    });
    expect(result.code, result.stderr).toBe(0);
    expect(readFileSync(config, 'utf8')).toMatch(
      new RegExp(
        `ProxyCommand pingknock proxy --name ${ALIAS} --jump bastion --config \\S+ --rolling-until \\S+ %h %p`,
      ),
    );
    lab.inner.forgetKnocks();
    const unknocked = await ssh(lab, config, ['-o', 'ProxyJump=bastion', '-o', 'ConnectTimeout=3', ALIAS, 'true']);
    expect(unknocked.code).toBe(255);
    expect(unknocked.stderr).toMatch(/timed out/);
    const knocked = await ssh(lab, config, [ALIAS, 'echo "${SSH_CONNECTION%% *}"']);
    expect(knocked.code, knocked.stderr).toBe(0);
    expect(knocked.stdout.toString()).toBe(`${lab.bastionInner}\n`);
  });

  it('unenrolls: the rules off the inner server, the config as it was, byte for byte', async () => {
    const result = await lab.onClient('pingknock', ['unenroll', ALIAS, '--config', config], { timeoutMs: 120_000 });
    expect(result.code, result.stderr).toBe(0);
    expect(readFileSync(config, 'utf8')).toBe(original);
    const tables = runChecked('ip', ['netns', 'exec', lab.inner.server.netns, 'nft', 'list', 'tables']);
    expect(tables).not.toMatch(/pingknock/);
  });
});
