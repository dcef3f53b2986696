import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { applyScript, rollbackNowScript, SCRIPT_EXIT } from '../../src/core/rules/apply.js';
import {
  detectBackendScript,
  ENROLL_BACKENDS,
  installedBackendsScript,
  NO_FIREWALL_EXIT,
} from '../../src/core/rules/detect.js';
import { nftIncludeLines, persistScript, unpersistScript } from '../../src/core/rules/persist.js';
import { buildRuleModel } from '../../src/core/rules/model.js';
import { renderNftables } from '../../src/core/rules/nftables.js';
import { UFW_TARGETS } from '../../src/core/rules/ufw.js';
import { parseSecret } from '../../src/core/secret.js';

/**
 * The server-side scripts `pingknock enroll` and `unenroll` send over ssh, as text (`sh -n`) and
 * run for real by `sh` against stand-in firewall tools. PATH holds only the stand-ins and links
 * to the few ordinary tools the scripts use, so no real nft, iptables, ufw or systemctl is seen.
 */

const rules = renderNftables(
  buildRuleModel({ secret: parseSecret('ABCDEFGHIJKLMNOP', 'test'), port: 22, windowSeconds: 60 }),
);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const UTILITIES = [
  'sh',
  'cat',
  'grep',
  'tail',
  'sed',
  'mv',
  'cp',
  'rm',
  'mkdir',
  'mktemp',
  'ls',
  'id',
  'tr',
  'sleep',
  'setsid',
  'nohup',
  'printf',
  'echo',
];

/** One stand-in for every firewall tool, steered by flag files in the sandbox; each logs "name args". */
const STAND_IN = `#!/bin/sh
name=\${0##*/}
base=\${SANDBOX:?}
call="$name\${*:+ $*}"
printf '%s\\n' "$call" >>"$base/log"
has() { [ -f "$base/$1" ]; }
case "$call" in
'ufw status') if has ufw-active; then echo 'Status: active'; else echo 'Status: inactive'; fi ;;
'nft list ruleset') has nft-ok || exit 1 ;;
'nft list table inet pingknock') has nft-table || exit 1 ;;
'nft -f '*) : ;;
'iptables -w -n -L INPUT') has ipt-ok || exit 1 ;;
'iptables -w -n -L knock') has ipt-knock || exit 1 ;;
'ip6tables -w -n -L knock') has ip6t-knock || exit 1 ;;
*-save) printf '*filter\\n:INPUT ACCEPT [0:0]\\n-A INPUT -j knock\\nCOMMIT\\n' ;;
'systemctl is-enabled nftables') if has nft-service-enabled; then echo enabled; else echo disabled; exit 1; fi ;;
*) : ;;
esac
`;

interface Sandbox {
  readonly dir: string;
  readonly stateDir: string;
  readonly persistDir: string;
  flag(name: string): void;
  /** Makes a stand-in for `name` (every firewall tool starts out missing). */
  tool(...names: string[]): void;
  log(): string[];
  run(script: string): { status: number | null; stdout: string; stderr: string };
}

const sandboxes: string[] = [];

function makeSandbox(): Sandbox {
  const dir = mkdtempSync(join(tmpdir(), 'pingknock-enroll-'));
  sandboxes.push(dir);
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  for (const name of UTILITIES) {
    const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).stdout.trim();
    // printf and echo may be shell builtins only; the rest must be real programs.
    if (found.startsWith('/')) symlinkSync(found, join(bin, name));
  }
  const persistDir = join(dir, 'etc');
  mkdirSync(persistDir);
  const env = { PATH: bin, SANDBOX: dir, LC_ALL: 'C' };
  return {
    dir,
    stateDir: join(dir, 'state'),
    persistDir,
    flag: (name) => writeFileSync(join(dir, name), ''),
    tool: (...names) => {
      for (const name of names) {
        writeFileSync(join(bin, name), STAND_IN);
        chmodSync(join(bin, name), 0o755);
      }
    },
    log: () =>
      existsSync(join(dir, 'log'))
        ? readFileSync(join(dir, 'log'), 'utf8')
            .split('\n')
            .filter((line) => line !== '')
        : [],
    run: (script) => {
      const result = spawnSync(join(bin, 'sh'), ['-s'], { input: script, env, encoding: 'utf8', timeout: 20_000 });
      return { status: result.status, stdout: result.stdout, stderr: result.stderr };
    },
  };
}

/** pids of processes whose command line matches `pattern`. */
function pgrep(pattern: string): number[] {
  return spawnSync('pgrep', ['-f', pattern], { encoding: 'utf8' })
    .stdout.split('\n')
    .filter((line) => line !== '')
    .map(Number);
}

afterEach(() => {
  for (const dir of sandboxes.splice(0)) {
    for (const pid of pgrep(`pingknock-rollback [0-9]+ ${dir}/`)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
});

function shSyntax(script: string): { status: number | null; stderr: string } {
  const result = spawnSync('sh', ['-n'], { input: script, encoding: 'utf8' });
  return { status: result.status, stderr: result.stderr };
}

describe('the enroll scripts as text', () => {
  it.each(ENROLL_BACKENDS)('are all scripts sh -n accepts (%s)', (backend) => {
    const request = { backend, persistDir: '/etc' };
    for (const script of [
      detectBackendScript(),
      installedBackendsScript(),
      rollbackNowScript('/run/pingknock'),
      persistScript({ ...request, rules }),
      unpersistScript(request),
    ]) {
      expect(shSyntax(script)).toEqual({ status: 0, stderr: '' });
    }
  });

  it('single-quote the folders they are given', () => {
    expect(persistScript({ backend: 'nftables', persistDir: "/e t'c", rules })).toContain(`\npersist='/e t'\\''c'\n`);
    expect(rollbackNowScript('/run/p k')).toContain("\nstate='/run/p k'\n");
  });

  it("name the include line as pingknock's own, in both spellings", () => {
    const lines = nftIncludeLines('/etc');
    expect(lines.plain).toBe(
      'include "/etc/pingknock.nft"  # added by pingknock enroll; pingknock unenroll removes this line',
    );
    expect(lines.afterAddedBreak.startsWith('include "/etc/pingknock.nft"  # ')).toBe(true);
    expect(lines.afterAddedBreak).not.toBe(lines.plain);
  });
});

describe('detectBackendScript against stand-in tools', () => {
  it('says ufw when ufw is active, even with nft and iptables usable', () => {
    const box = makeSandbox();
    box.tool('ufw', 'nft', 'iptables');
    box.flag('ufw-active');
    box.flag('nft-ok');
    box.flag('ipt-ok');
    expect(box.run(detectBackendScript())).toEqual({ status: 0, stdout: 'ufw\n', stderr: '' });
  });

  it('says nftables when ufw is there but inactive and nft can read the ruleset', () => {
    const box = makeSandbox();
    box.tool('ufw', 'nft', 'iptables');
    box.flag('nft-ok');
    box.flag('ipt-ok');
    expect(box.run(detectBackendScript())).toEqual({ status: 0, stdout: 'nftables\n', stderr: '' });
  });

  it('says iptables when nft is missing or cannot read the ruleset', () => {
    const box = makeSandbox();
    box.tool('iptables');
    box.flag('ipt-ok');
    expect(box.run(detectBackendScript()).stdout).toBe('iptables\n');
    box.tool('nft');
    expect(box.run(detectBackendScript()).stdout).toBe('iptables\n');
  });

  it('exits NO_FIREWALL_EXIT, saying why, when nothing works', () => {
    const box = makeSandbox();
    box.tool('ufw', 'nft', 'iptables');
    expect(box.run(detectBackendScript())).toEqual({
      status: NO_FIREWALL_EXIT,
      stdout: '',
      stderr: 'found no firewall tool that works here: nft, iptables or an active ufw\n',
    });
  });
});

describe('installedBackendsScript against stand-in tools', () => {
  it('lists the nftables table and the iptables chain only when they are there', () => {
    const box = makeSandbox();
    box.tool('nft', 'iptables');
    expect(box.run(installedBackendsScript())).toEqual({ status: 0, stdout: '', stderr: '' });
    box.flag('nft-table');
    expect(box.run(installedBackendsScript()).stdout).toBe('nftables\n');
    box.flag('ipt-knock');
    expect(box.run(installedBackendsScript()).stdout).toBe('nftables\niptables\n');
  });

  it('lists iptables when only ip6tables holds the chain, and when iptables is missing', () => {
    const box = makeSandbox();
    box.tool('ip6tables');
    expect(box.run(installedBackendsScript())).toEqual({ status: 0, stdout: '', stderr: '' });
    box.flag('ip6t-knock');
    expect(box.run(installedBackendsScript())).toEqual({ status: 0, stdout: 'iptables\n', stderr: '' });
  });

  it('lists ufw where ufw and its before.rules are (the block itself is checked by the caller)', () => {
    const box = makeSandbox();
    box.tool('ufw');
    expect(box.run(installedBackendsScript()).stdout).toBe(existsSync(UFW_TARGETS.ipv4.file) ? 'ufw\n' : '');
  });
});

describe('rollbackNowScript against a stand-in nft', () => {
  it('restores at once and disarms the sleeper, which then restores nothing', async () => {
    const box = makeSandbox();
    box.tool('nft');
    const state = box.stateDir;
    expect(box.run(applyScript({ backend: 'nftables', rules, stateDir: state, rollbackSeconds: 2 })).status).toBe(0);
    expect(pgrep(`pingknock-rollback 2 ${state}`)).toHaveLength(1);

    const now = box.run(rollbackNowScript(state));
    expect(now).toEqual({ status: 0, stdout: '', stderr: '' });
    expect(box.log()).toEqual([
      'nft list table inet pingknock',
      `nft -f ${state}/rules`,
      `nft -f ${state}/restore.nft`,
    ]);
    expect(existsSync(join(state, 'armed'))).toBe(false);
    for (let waited = 0; waited < 2_000 && pgrep(`pingknock-rollback 2 ${state}`).length > 0; waited += 50)
      await sleep(50);
    expect(pgrep(`pingknock-rollback 2 ${state}`)).toEqual([]);

    await sleep(2_500);
    expect(box.log().filter((line) => line.endsWith('restore.nft'))).toHaveLength(1);
  });

  it('changes nothing and exits nothingToConfirm when no rollback is pending', () => {
    const box = makeSandbox();
    box.tool('nft');
    expect(
      box.run(applyScript({ backend: 'nftables', rules, stateDir: box.stateDir, rollbackSeconds: 0 })).status,
    ).toBe(0);
    const now = box.run(rollbackNowScript(box.stateDir));
    expect(now).toEqual({ status: SCRIPT_EXIT.nothingToConfirm, stdout: '', stderr: 'no rollback is pending\n' });
    expect(box.log().some((line) => line.endsWith('restore.nft'))).toBe(false);
  });
});

describe('persistScript and unpersistScript for nftables, run for real', () => {
  const DEBIAN_CONF = '#!/usr/sbin/nft -f\n\nflush ruleset\n\ntable inet filter {\n}\n';

  function withConf(box: Sandbox, content: string): string {
    const conf = join(box.persistDir, 'nftables.conf');
    writeFileSync(conf, content);
    chmodSync(conf, 0o755);
    return conf;
  }

  it('writes pingknock.nft (0600) and one include line, once; unenroll gives the file back byte for byte', () => {
    const box = makeSandbox();
    box.tool('systemctl');
    const conf = withConf(box, DEBIAN_CONF);
    const file = join(box.persistDir, 'pingknock.nft');
    const { plain } = nftIncludeLines(box.persistDir);

    const first = box.run(persistScript({ backend: 'nftables', persistDir: box.persistDir, rules }));
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toBe(
      `${conf} now includes ${file}: the rules load at boot\n` +
        `but the nftables service, which loads ${conf} at boot, is not enabled: systemctl enable nftables\n`,
    );
    expect(readFileSync(file, 'utf8')).toBe(rules);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(conf, 'utf8')).toBe(`${DEBIAN_CONF}${plain}\n`);
    expect(statSync(conf).mode & 0o777).toBe(0o755);

    box.flag('nft-service-enabled');
    const again = box.run(persistScript({ backend: 'nftables', persistDir: box.persistDir, rules }));
    expect(again.stdout).toBe(`${conf} includes ${file}: the rules load at boot\n`);
    expect(readFileSync(conf, 'utf8')).toBe(`${DEBIAN_CONF}${plain}\n`);

    const undo = box.run(unpersistScript({ backend: 'nftables', persistDir: box.persistDir }));
    expect(undo).toEqual({
      status: 0,
      stdout: `took the include of ${file} out of ${conf}\nremoved ${file}\n`,
      stderr: '',
    });
    expect(readFileSync(conf, 'utf8')).toBe(DEBIAN_CONF);
    expect(statSync(conf).mode & 0o777).toBe(0o755);
    expect(existsSync(file)).toBe(false);
    expect(readdirSync(box.persistDir)).toEqual(['nftables.conf']);
  });

  it('adds a line break to a file without one, says so on the line, and takes both away again', () => {
    const box = makeSandbox();
    const original = DEBIAN_CONF.trimEnd();
    const conf = withConf(box, original);
    const { afterAddedBreak } = nftIncludeLines(box.persistDir);
    expect(box.run(persistScript({ backend: 'nftables', persistDir: box.persistDir, rules })).status).toBe(0);
    expect(readFileSync(conf, 'utf8')).toBe(`${original}\n${afterAddedBreak}\n`);
    expect(box.run(unpersistScript({ backend: 'nftables', persistDir: box.persistDir })).status).toBe(0);
    expect(readFileSync(conf, 'utf8')).toBe(original);
  });

  it('takes only its own line out when lines were added after it', () => {
    const box = makeSandbox();
    const conf = withConf(box, DEBIAN_CONF);
    const { plain } = nftIncludeLines(box.persistDir);
    expect(box.run(persistScript({ backend: 'nftables', persistDir: box.persistDir, rules })).status).toBe(0);
    writeFileSync(conf, `${readFileSync(conf, 'utf8')}include "/etc/mine.nft"\n`);
    expect(box.run(unpersistScript({ backend: 'nftables', persistDir: box.persistDir })).status).toBe(0);
    expect(readFileSync(conf, 'utf8')).toBe(`${DEBIAN_CONF}include "/etc/mine.nft"\n`);
    expect(readFileSync(conf, 'utf8')).not.toContain(plain);
  });

  it('writes the file but says what to do when there is no nftables.conf', () => {
    const box = makeSandbox();
    const file = join(box.persistDir, 'pingknock.nft');
    const result = box.run(persistScript({ backend: 'nftables', persistDir: box.persistDir, rules }));
    expect(result.status).toBe(0);
    expect(result.stdout).toBe(
      `wrote ${file}, but there is no ${box.persistDir}/nftables.conf to load it at boot: ` +
        `include it from the ruleset the server loads at boot\n`,
    );
    expect(readdirSync(box.persistDir)).toEqual(['pingknock.nft']);
    expect(box.run(unpersistScript({ backend: 'nftables', persistDir: box.persistDir })).stdout).toBe(
      `removed ${file}\n`,
    );
    expect(readdirSync(box.persistDir)).toEqual([]);
  });

  it('writes rules holding its delimiter and shell syntax byte for byte', () => {
    const box = makeSandbox();
    const tricky = `${rules}PINGKNOCK_RULES\n$(touch '${box.dir}/pwned') \`x\` 'q'\n`;
    expect(box.run(persistScript({ backend: 'nftables', persistDir: box.persistDir, rules: tricky })).status).toBe(0);
    expect(readFileSync(join(box.persistDir, 'pingknock.nft'), 'utf8')).toBe(tricky);
    expect(existsSync(join(box.dir, 'pwned'))).toBe(false);
  });
});

describe('persistScript and unpersistScript for iptables and ufw, run for real', () => {
  it(
    'saves every table of both families where netfilter-persistent loads them, ' + 'keeping the mode of the file there',
    () => {
      const box = makeSandbox();
      box.tool('iptables-save', 'ip6tables-save', 'netfilter-persistent');
      const saved = join(box.persistDir, 'iptables', 'rules.v4');
      const saved6 = join(box.persistDir, 'iptables', 'rules.v6');
      mkdirSync(join(box.persistDir, 'iptables'));
      writeFileSync(saved, 'old\n');
      chmodSync(saved, 0o640);
      const result = box.run(persistScript({ backend: 'iptables', persistDir: box.persistDir, rules: 'unused' }));
      expect(result).toEqual({
        status: 0,
        stdout:
          `saved the ruleset to ${saved}, which netfilter-persistent loads at boot\n` +
          `saved the ruleset to ${saved6}, which netfilter-persistent loads at boot\n`,
        stderr: '',
      });
      for (const file of [saved, saved6])
        expect(readFileSync(file, 'utf8')).toBe('*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j knock\nCOMMIT\n');
      expect(statSync(saved).mode & 0o777).toBe(0o640);
      // Without -t: rules.v4 (rules.v6) replaces every table at boot, so every table is saved.
      expect(box.log()).toEqual(['iptables-save', 'ip6tables-save']);

      const undo = box.run(unpersistScript({ backend: 'iptables', persistDir: box.persistDir }));
      expect(undo.stdout).toBe(
        `saved the ruleset without pingknock's rules to ${saved}\n` +
          `saved the ruleset without pingknock's rules to ${saved6}\n`,
      );
      expect(box.log()).toEqual(['iptables-save', 'ip6tables-save', 'iptables-save', 'ip6tables-save']);
    },
  );

  it('saves with the iptables variant the rules were applied with, for each family', () => {
    const box = makeSandbox();
    box.tool('iptables-legacy-save', 'ip6tables-legacy-save', 'netfilter-persistent');
    expect(
      box.run(
        persistScript({ backend: 'iptables', persistDir: box.persistDir, rules: 'unused', tool: 'iptables-legacy' }),
      ).status,
    ).toBe(0);
    expect(box.log()).toEqual(['iptables-legacy-save', 'ip6tables-legacy-save']);
  });

  it('saves only IPv4 on a server without IPv6', () => {
    const box = makeSandbox();
    box.tool('iptables-save', 'netfilter-persistent');
    const result = box.run(
      persistScript({ backend: 'iptables', persistDir: box.persistDir, rules: 'unused', families: ['ipv4'] }),
    );
    expect(result.status, result.stderr).toBe(0);
    expect(readdirSync(join(box.persistDir, 'iptables'))).toEqual(['rules.v4']);
    expect(box.log()).toEqual(['iptables-save']);
  });

  it('says what to install when netfilter-persistent is missing, and writes nothing', () => {
    const box = makeSandbox();
    box.tool('iptables-save');
    const result = box.run(persistScript({ backend: 'iptables', persistDir: box.persistDir, rules: 'unused' }));
    expect(result).toEqual({
      status: 0,
      stdout:
        'the rules last until the next reboot: ' +
        'to keep them, install iptables-persistent and run: netfilter-persistent save\n',
      stderr: '',
    });
    expect(box.run(unpersistScript({ backend: 'iptables', persistDir: box.persistDir }))).toEqual({
      status: 0,
      stdout: '',
      stderr: '',
    });
    expect(readdirSync(box.persistDir)).toEqual([]);
    expect(box.log()).toEqual([]);
  });

  it('leaves ufw alone: its before.rules already is its boot configuration', () => {
    const box = makeSandbox();
    box.tool('ufw');
    expect(box.run(persistScript({ backend: 'ufw', persistDir: box.persistDir, rules: 'unused' }))).toEqual({
      status: 0,
      stdout: 'ufw keeps the rules across reboots: they are in its before.rules\n',
      stderr: '',
    });
    expect(box.run(unpersistScript({ backend: 'ufw', persistDir: box.persistDir }))).toEqual({
      status: 0,
      stdout: '',
      stderr: '',
    });
    expect(box.log()).toEqual([]);
    expect(readdirSync(box.persistDir)).toEqual([]);
  });
});
