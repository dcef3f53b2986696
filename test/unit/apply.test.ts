import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { applyScript, confirmScript, removeScript, SCRIPT_EXIT } from '../../src/core/rules/apply.js';
import { buildRuleModel } from '../../src/core/rules/model.js';
import { BACKENDS, backendFamilies, renderRules, type Backend } from '../../src/core/rules/render.js';
import type { Family } from '../../src/core/layout.js';
import {
  insertUfwBlock,
  removeUfwBlock,
  renderUfwBlock,
  UFW_TARGETS,
  type UfwFiles,
} from '../../src/core/rules/ufw.js';
import { parseSecret } from '../../src/core/secret.js';

const secret = parseSecret('ABCDEFGHIJKLMNOP', 'test');
const model = buildRuleModel({ secret, port: 22, windowSeconds: 60 });
const TOOLS: Readonly<Record<Backend, string | undefined>> = {
  nftables: undefined,
  iptables: 'iptables',
  ip6tables: 'ip6tables',
  ufw: undefined,
};

function rulesFor(backend: Backend): string {
  return renderRules(
    backend,
    buildRuleModel({ secret, port: 22, windowSeconds: 60, families: backendFamilies(backend, undefined) }),
  );
}

function shSyntax(script: string): { status: number | null; stderr: string } {
  const result = spawnSync('sh', ['-n'], { input: script, encoding: 'utf8' });
  return { status: result.status, stderr: result.stderr };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** pids of processes whose command line matches `pattern` (pgrep -f: an extended regex). */
function pgrep(...args: string[]): number[] {
  const result = spawnSync('pgrep', args, { encoding: 'utf8' });
  return result.stdout
    .split('\n')
    .filter((line) => line !== '')
    .map(Number);
}

describe('the scripts as text', () => {
  const ufwFiles: UfwFiles = {
    '/etc/ufw/before.rules': '*filter\nCOMMIT\n',
    '/etc/ufw/before6.rules': '*filter\nCOMMIT\n',
  };

  it.each(BACKENDS)(
    'generates apply (no rollback, rollback 30), confirm and remove scripts that sh -n accepts (%s)',
    (backend) => {
      const request = { backend, rules: rulesFor(backend), tool: TOOLS[backend], stateDir: '/run/pingknock', ufwFiles };
      for (const rollbackSeconds of [0, 30]) {
        expect(shSyntax(applyScript({ ...request, rollbackSeconds }))).toEqual({ status: 0, stderr: '' });
      }
      expect(shSyntax(confirmScript('/run/pingknock'))).toEqual({ status: 0, stderr: '' });
      expect(shSyntax(removeScript(request))).toEqual({ status: 0, stderr: '' });
    },
  );

  it.each(BACKENDS)('arms a sleeper only with a rollback time (%s)', (backend) => {
    const request = { backend, rules: rulesFor(backend), tool: TOOLS[backend], stateDir: '/run/pingknock', ufwFiles };
    const none = applyScript({ ...request, rollbackSeconds: 0 });
    expect(none).not.toMatch(/ pingknock-rollback \d+ "\$state" /);
    expect(none).not.toContain('setsid');
    expect(none).toContain('rm -f "$state/armed"\n');
    const thirty = applyScript({ ...request, rollbackSeconds: 30 });
    expect(thirty).toContain(' pingknock-rollback 30 "$state" ');
    expect(thirty).toContain(': >"$state/armed"\n');
  });

  it('picks a rules delimiter that no rules line equals', () => {
    const rules = `${rulesFor('nftables')}PINGKNOCK_RULES\nPINGKNOCK_RULES_\n# end\n`;
    const script = applyScript({ backend: 'nftables', rules, stateDir: '/run/pingknock', rollbackSeconds: 0 });
    const match = /cat >"\$state\/rules" <<'([A-Z_]+)'\n/.exec(script);
    expect(match?.[1]).toBe('PINGKNOCK_RULES__');
    expect(rules.split('\n')).not.toContain(match?.[1]);
    expect(script).toContain(`\n# end\nPINGKNOCK_RULES__\n`);
    expect(shSyntax(script)).toEqual({ status: 0, stderr: '' });
  });

  it('single-quotes the state folder and the tool', () => {
    const script = applyScript({
      backend: 'iptables',
      rules: rulesFor('iptables'),
      tool: 'iptables-nft',
      stateDir: '/var/lib/pk state',
      rollbackSeconds: 0,
    });
    expect(script).toContain("\nstate='/var/lib/pk state'\n");
    // One variant for both families: iptables-nft goes with ip6tables-nft.
    expect(script).toContain("\nipt='iptables-nft'\nip6t='ip6tables-nft'\n");
    expect(confirmScript('/run/pk')).toContain("\nstate='/run/pk'\n");
    expect(removeScript({ backend: 'ip6tables', tool: 'ip6tables-legacy', stateDir: '/run/pk' })).toContain(
      "\nipt=''\nip6t='ip6tables-legacy'\n",
    );
    expect(removeScript({ backend: 'iptables', families: ['ipv4'], stateDir: '/run/pk' })).toContain(
      "\nipt='iptables'\nip6t=''\n",
    );
    expect(removeScript({ backend: 'nftables', stateDir: '/run/pk' })).toContain("\nipt=''\nip6t=''\n");
  });

  it('starts every script with set -eu and umask 077', () => {
    for (const script of [
      applyScript({ backend: 'nftables', rules: 'x', stateDir: '/s', rollbackSeconds: 0 }),
      confirmScript('/s'),
      removeScript({ backend: 'ufw', stateDir: '/s', ufwFiles }),
    ]) {
      expect(script.startsWith("set -eu\numask 077\nstate='/s'\n")).toBe(true);
    }
  });

  it('keeps the script exit codes', () => {
    expect(SCRIPT_EXIT).toEqual({ applyFailed: 20, rollbackPending: 21, nothingToConfirm: 22, unsafe: 24 });
  });
});

/**
 * A temp folder with fake firewall tools first on PATH. Each fake appends "name argv" to `log`
 * (and a restore's stdin, each line prefixed "| "). `fail-apply` in the folder makes the apply
 * step fail: `nft -f .../rules`, `*-restore --noflush`, or `ufw reload` while a file holds the block.
 */
interface Sandbox {
  readonly dir: string;
  readonly stateDir: string;
  readonly env: NodeJS.ProcessEnv;
  log(): string;
  run(script: string): { status: number | null; stderr: string };
}

const sandboxes: string[] = [];

function makeSandbox(): Sandbox {
  const dir = mkdtempSync(join(tmpdir(), 'pingknock-apply-'));
  sandboxes.push(dir);
  const bin = join(dir, 'bin');
  const logFile = join(dir, 'log');
  mkdirSync(bin);
  const fake = `#!/bin/sh
name=\${0##*/}
base='${dir}'
printf '%s\\n' "$name $*" >>"$base/log"
failing() { [ -f "$base/fail-apply" ]; }
case "$name" in
nft)
	case "$*" in
	'list table inet pingknock') [ -f "$base/nft-table" ] && cat "$base/nft-table" || exit 1 ;;
	'-f '*/rules) failing && exit 1 ;;
	esac
	;;
*-restore)
	sed 's/^/| /' >>"$base/log"
	case "$*" in *--noflush*) failing && exit 1 ;; esac
	;;
*-save)
	printf '# saved by %s\\n*filter\\n:INPUT ACCEPT [0:0]\\n' "$name"
	if [ -f "$base/saved-own" ]; then cat "$base/saved-own"; fi
	printf 'COMMIT\\n'
	;;
ufw)
	if failing && grep -q 'BEGIN pingknock' "$base"/*.rules; then exit 1; fi
	;;
*)
	# iptables/ip6tables: no jump, no chains yet (-C, -D, -L fail); anything else succeeds.
	case "$*" in *' -C '*|*' -D '*|*' -L '*) exit 1 ;; esac
	;;
esac
exit 0
`;
  // Every variant of every program: none of the real ones may run here.
  const xtables = ['iptables', 'ip6tables'].flatMap((family) =>
    ['', '-legacy', '-nft'].flatMap((variant) => ['', '-save', '-restore'].map((step) => `${family}${variant}${step}`)),
  );
  for (const name of ['nft', 'ufw', ...xtables]) {
    writeFileSync(join(bin, name), fake);
    chmodSync(join(bin, name), 0o755);
  }
  const env = { ...process.env, PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}` };
  return {
    dir,
    stateDir: join(dir, 'state'),
    env,
    log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
    run: (script) => {
      const result = spawnSync('sh', ['-s'], { input: script, env, encoding: 'utf8', timeout: 20_000 });
      return { status: result.status, stderr: result.stderr };
    },
  };
}

/** Kills any sleeper a test left behind: they are recognised by the sandbox path on their command line. */
function killSleepers(dir: string): void {
  for (const pid of pgrep('-f', `pingknock-rollback [0-9]+ ${dir}/`)) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

afterEach(() => {
  for (const dir of sandboxes.splice(0)) {
    killSleepers(dir);
    rmSync(dir, { recursive: true, force: true });
  }
});

async function waitFor(condition: () => boolean, ms: number): Promise<boolean> {
  for (const start = Date.now(); Date.now() - start < ms; await sleep(50)) {
    if (condition()) return true;
  }
  return condition();
}

function logLines(box: Sandbox): string[] {
  return box
    .log()
    .split('\n')
    .filter((line) => line !== '');
}

const NFT_TABLE_LISTING =
  'table inet pingknock {\n\tchain input {\n\t\ttype filter hook input priority filter - 10; policy accept;\n\t}\n}\n';

describe('applyScript run for real against fake tools: nftables', () => {
  it('saves before applying, keeps rules/restore/apply in the state folder, and rolls back after 1 s', async () => {
    const box = makeSandbox();
    writeFileSync(join(box.dir, 'nft-table'), NFT_TABLE_LISTING);
    const rules = rulesFor('nftables');
    const result = box.run(applyScript({ backend: 'nftables', rules, stateDir: box.stateDir, rollbackSeconds: 1 }));
    expect(result).toEqual({ status: 0, stderr: '' });

    const state = box.stateDir;
    expect(logLines(box).slice(0, 2)).toEqual(['nft list table inet pingknock', `nft -f ${state}/rules`]);
    expect(readFileSync(join(state, 'rules'), 'utf8')).toBe(rules);
    expect(readFileSync(join(state, 'restore.nft'), 'utf8')).toBe(
      `table inet pingknock\ndelete table inet pingknock\n${NFT_TABLE_LISTING}`,
    );
    expect(readFileSync(join(state, 'restore'), 'utf8')).toBe(
      `state='${state}'\nipt=''\nip6t=''\nTZ=UTC0 nft -f "$state/restore.nft"\n`,
    );
    expect(readFileSync(join(state, 'apply'), 'utf8')).toBe(
      `state='${state}'\nipt=''\nip6t=''\nnft -f "$state/rules"\n`,
    );
    expect(existsSync(join(state, 'armed'))).toBe(true);
    expect(Number(readFileSync(join(state, 'rollback.pid'), 'utf8'))).toBeGreaterThan(1);
    // umask 077: the saved ruleset is for root's eyes only.
    expect(statSync(state).mode & 0o777).toBe(0o700);
    expect(statSync(join(state, 'restore.nft')).mode & 0o777).toBe(0o600);

    expect(await waitFor(() => box.log().includes(`nft -f ${state}/restore.nft`), 5_000)).toBe(true);
    expect(logLines(box)).toEqual([
      'nft list table inet pingknock',
      `nft -f ${state}/rules`,
      `nft -f ${state}/restore.nft`,
    ]);
    expect(existsSync(join(state, 'armed'))).toBe(false);
  });

  it('saves a declare-and-delete pair alone when there was no table', () => {
    const box = makeSandbox();
    const result = box.run(
      applyScript({ backend: 'nftables', rules: rulesFor('nftables'), stateDir: box.stateDir, rollbackSeconds: 0 }),
    );
    expect(result.status).toBe(0);
    expect(readFileSync(join(box.stateDir, 'restore.nft'), 'utf8')).toBe(
      'table inet pingknock\ndelete table inet pingknock\n',
    );
    expect(existsSync(join(box.stateDir, 'armed'))).toBe(false);
    expect(existsSync(join(box.stateDir, 'rollback.pid'))).toBe(false);
    expect(logLines(box)).toEqual(['nft list table inet pingknock', `nft -f ${box.stateDir}/rules`]);
  });

  it('confirm disarms the rollback: exit 0, the sleeper and its sleep are gone, restore never runs', async () => {
    const box = makeSandbox();
    const state = box.stateDir;
    expect(
      box.run(applyScript({ backend: 'nftables', rules: rulesFor('nftables'), stateDir: state, rollbackSeconds: 5 }))
        .status,
    ).toBe(0);
    const pid = Number(readFileSync(join(state, 'rollback.pid'), 'utf8'));
    expect(await waitFor(() => pgrep('-f', `pingknock-rollback 5 ${state}`).join() === String(pid), 2_000)).toBe(true);

    // While it is pending, a second apply is refused and changes nothing.
    const logBefore = box.log();
    const again = box.run(
      applyScript({ backend: 'nftables', rules: 'other rules\n', stateDir: state, rollbackSeconds: 5 }),
    );
    expect(again.status).toBe(SCRIPT_EXIT.rollbackPending);
    expect(again.stderr).toContain('a rollback from an earlier apply is pending');
    expect(box.log()).toBe(logBefore);
    expect(readFileSync(join(state, 'rules'), 'utf8')).toBe(rulesFor('nftables'));

    const confirm = box.run(confirmScript(state));
    expect(confirm).toEqual({ status: 0, stderr: '' });
    expect(existsSync(join(state, 'armed'))).toBe(false);
    expect(
      await waitFor(
        () => pgrep('-f', `pingknock-rollback 5 ${state}`).length === 0 && pgrep('-g', String(pid)).length === 0,
        2_000,
      ),
    ).toBe(true);

    await sleep(5_500);
    expect(box.log()).not.toContain('restore.nft');
    expect(logLines(box)).toEqual(['nft list table inet pingknock', `nft -f ${state}/rules`]);

    // Confirmed once, there is nothing left to confirm.
    const twice = box.run(confirmScript(state));
    expect(twice.status).toBe(SCRIPT_EXIT.nothingToConfirm);
  });

  it('confirm with nothing pending exits nothingToConfirm', () => {
    const box = makeSandbox();
    const result = box.run(confirmScript(box.stateDir));
    expect(result.status).toBe(SCRIPT_EXIT.nothingToConfirm);
    expect(result.stderr).toBe('no rollback is pending\n');
  });

  it('does not count a stale armed file (its sleeper is gone) as pending', () => {
    const box = makeSandbox();
    const state = box.stateDir;
    mkdirSync(state);
    writeFileSync(join(state, 'armed'), '');
    writeFileSync(join(state, 'rollback.pid'), '999999999\n');
    expect(box.run(confirmScript(state)).status).toBe(SCRIPT_EXIT.nothingToConfirm);
    expect(
      box.run(applyScript({ backend: 'nftables', rules: rulesFor('nftables'), stateDir: state, rollbackSeconds: 0 }))
        .status,
    ).toBe(0);
  });

  it('does not count an armed file without a rollback.pid as pending', () => {
    const box = makeSandbox();
    mkdirSync(box.stateDir);
    writeFileSync(join(box.stateDir, 'armed'), '');
    expect(
      box.run(
        applyScript({ backend: 'nftables', rules: rulesFor('nftables'), stateDir: box.stateDir, rollbackSeconds: 0 }),
      ).status,
    ).toBe(0);
  });

  it.each([0, 5])('restores and exits applyFailed when applying fails (rollback %i)', (rollbackSeconds) => {
    const box = makeSandbox();
    writeFileSync(join(box.dir, 'nft-table'), NFT_TABLE_LISTING);
    writeFileSync(join(box.dir, 'fail-apply'), '');
    const state = box.stateDir;
    const result = box.run(
      applyScript({ backend: 'nftables', rules: rulesFor('nftables'), stateDir: state, rollbackSeconds }),
    );
    expect(result.status).toBe(SCRIPT_EXIT.applyFailed);
    expect(result.stderr).toContain('applying failed; the previous rules are back');
    expect(logLines(box)).toEqual([
      'nft list table inet pingknock',
      `nft -f ${state}/rules`,
      `nft -f ${state}/restore.nft`,
    ]);
    expect(existsSync(join(state, 'armed'))).toBe(false);
    // Nothing is pending afterwards: a new apply is not refused.
    expect(box.run(confirmScript(state)).status).toBe(SCRIPT_EXIT.nothingToConfirm);
  });

  it('writes rules holding a PINGKNOCK_RULES line byte for byte', () => {
    const box = makeSandbox();
    const rules = `${rulesFor('nftables')}PINGKNOCK_RULES\nPINGKNOCK_RESTORE\nPINGKNOCK_APPLY\n'quoted' $HOME \`id\`\n`;
    expect(
      box.run(applyScript({ backend: 'nftables', rules, stateDir: box.stateDir, rollbackSeconds: 0 })).status,
    ).toBe(0);
    expect(readFileSync(join(box.stateDir, 'rules'), 'utf8')).toBe(rules);
  });

  it('removes the table only when it is there', () => {
    const box = makeSandbox();
    expect(box.run(removeScript({ backend: 'nftables', stateDir: box.stateDir })).status).toBe(0);
    expect(logLines(box)).toEqual(['nft list table inet pingknock']);
    writeFileSync(join(box.dir, 'nft-table'), NFT_TABLE_LISTING);
    expect(box.run(removeScript({ backend: 'nftables', stateDir: box.stateDir })).status).toBe(0);
    expect(logLines(box)).toEqual([
      'nft list table inet pingknock',
      'nft list table inet pingknock',
      'nft delete table inet pingknock',
    ]);
  });
});

/** pingknock's part of an earlier apply, as iptables-save prints it, around a rule of someone else's. */
const EARLIER = [
  ':knock - [0:0]',
  ':knock-ok - [0:0]',
  '-A INPUT -s 10.0.0.9/32 -j DROP',
  '-A INPUT -j knock',
  '-A knock -p icmp -j ACCEPT',
  '-A knock-ok -p tcp -m tcp --dport 22 -j ACCEPT',
];
const EARLIER_OWN = EARLIER.filter((line) => !line.includes('10.0.0.9'));

describe.each<[Backend, string | undefined, Family[], string[]]>([
  ['iptables', undefined, ['ipv4', 'ipv6'], ['iptables', 'ip6tables']],
  ['iptables', 'iptables-legacy', ['ipv4', 'ipv6'], ['iptables-legacy', 'ip6tables-legacy']],
  ['iptables', 'iptables-nft', ['ipv4'], ['iptables-nft']],
  ['ip6tables', 'ip6tables', ['ipv6'], ['ip6tables']],
])('applyScript run for real against fake tools: %s with tool %s for %j', (backend, tool, families, programs) => {
  const rules = renderRules(backend, buildRuleModel({ secret, port: 22, windowSeconds: 60, families }));
  /** Each family's restore input as the rules script feeds it on load, as the fake logs it. */
  const loaded = [...rules.matchAll(/^\*filter\n[^]*?^COMMIT$/gm)].map((block) =>
    block[0].split('\n').map((line) => `| ${line.replace('$jump', '-I INPUT 1 -j knock')}`),
  );
  const applied = [
    ...programs.map((program) => `${program}-save -t filter`),
    ...programs.flatMap((program, index) => [
      `${program} -w -C INPUT -j knock`,
      `${program}-restore -w --noflush`,
      ...(loaded[index] ?? []),
    ]),
  ];
  /** Each family's jump and chains taken away (the fake has none of them). */
  const removed = programs.flatMap((program) => [
    `${program} -w -D INPUT -j knock`,
    `${program} -w -n -L knock`,
    `${program} -w -n -L knock-ok`,
  ]);
  const request = { backend, rules, tool, families, rollbackSeconds: 1 };

  it('has a load for each family, and an apply step naming each program', () => {
    expect(loaded).toHaveLength(families.length);
    const box = makeSandbox();
    expect(box.run(applyScript({ ...request, stateDir: box.stateDir, rollbackSeconds: 0 })).status).toBe(0);
    const env = families.map((family) => (family === 'ipv6' ? 'IP6TABLES="$ip6t"' : 'IPTABLES="$ipt"')).join(' ');
    const variables =
      `ipt='${families.includes('ipv4') ? programs[0] : ''}'\n` +
      `ip6t='${families.includes('ipv6') ? programs.at(-1) : ''}'\n`;
    expect(readFileSync(join(box.stateDir, 'apply'), 'utf8')).toBe(
      `state='${box.stateDir}'\n${variables}${env} sh "$state/rules" load\n`,
    );
  });

  it(
    'saves only its own part of each filter table, loads with -restore --noflush, ' +
      'and rolls back after 1 s by taking its jump and chains away',
    async () => {
      const box = makeSandbox();
      const result = box.run(applyScript({ ...request, stateDir: box.stateDir }));
      expect(result).toEqual({ status: 0, stderr: '' });
      expect(logLines(box)).toEqual(applied);
      expect(readFileSync(join(box.stateDir, 'rules'), 'utf8')).toBe(rules);
      for (const family of families)
        expect(
          readFileSync(join(box.stateDir, `restore.${family === 'ipv6' ? 'ip6tables' : 'iptables'}`), 'utf8'),
        ).toBe('');

      expect(await waitFor(() => logLines(box).length >= applied.length + removed.length, 5_000)).toBe(true);
      expect(logLines(box)).toEqual([...applied, ...removed]);
    },
  );

  it(
    'rolls back to an earlier pingknock ruleset: its chains come back in one restore --noflush, ' +
      'its jump and the rule of someone else are left alone',
    async () => {
      const box = makeSandbox();
      writeFileSync(join(box.dir, 'saved-own'), `${EARLIER.join('\n')}\n`);
      expect(box.run(applyScript({ ...request, stateDir: box.stateDir })).status).toBe(0);
      for (const family of families) {
        expect(
          readFileSync(join(box.stateDir, `restore.${family === 'ipv6' ? 'ip6tables' : 'iptables'}`), 'utf8'),
        ).toBe(`${EARLIER_OWN.join('\n')}\n`);
      }
      const chains = EARLIER_OWN.filter((line) => line !== '-A INPUT -j knock');
      const restored = programs.flatMap((program) => [
        `${program}-restore -w --noflush`,
        ...['*filter', ...chains, 'COMMIT'].map((line) => `| ${line}`),
      ]);
      expect(await waitFor(() => logLines(box).length >= applied.length + restored.length, 5_000)).toBe(true);
      expect(logLines(box)).toEqual([...applied, ...restored]);
    },
  );

  it('restores and exits applyFailed when a restore --noflush fails', () => {
    const box = makeSandbox();
    writeFileSync(join(box.dir, 'fail-apply'), '');
    const result = box.run(applyScript({ ...request, stateDir: box.stateDir, rollbackSeconds: 0 }));
    expect(result.status).toBe(SCRIPT_EXIT.applyFailed);
    expect(logLines(box)).toEqual([...applied.slice(0, programs.length + 2 + (loaded[0]?.length ?? 0)), ...removed]);
  });

  it('removes with the chosen tool, touching only the jump and the pingknock chains', () => {
    const box = makeSandbox();
    expect(box.run(removeScript({ backend, tool, families, stateDir: box.stateDir })).status).toBe(0);
    expect(logLines(box)).toEqual(removed);
  });
});

describe('applyScript run for real against fake tools: ufw', () => {
  /** Copies of the stock files (mode 640) in the sandbox, and their contents with the block in. */
  function ufwSetup(box: Sandbox): {
    paths: Record<'ipv4' | 'ipv6', string>;
    originals: Record<string, string>;
    files: UfwFiles;
  } {
    const paths = { ipv4: join(box.dir, 'before.rules'), ipv6: join(box.dir, 'before6.rules') };
    const originals: Record<string, string> = {};
    const files: Record<string, string> = {};
    for (const family of ['ipv4', 'ipv6'] as const) {
      const text = readFileSync(UFW_TARGETS[family].file, 'utf8');
      writeFileSync(paths[family], text);
      chmodSync(paths[family], 0o640);
      originals[paths[family]] = text;
      files[paths[family]] = insertUfwBlock(text, renderUfwBlock(model, family), family);
    }
    return { paths, originals, files };
  }

  function contents(paths: Record<'ipv4' | 'ipv6', string>): Record<string, string> {
    return Object.fromEntries(Object.values(paths).map((path) => [path, readFileSync(path, 'utf8')]));
  }

  function modes(paths: Record<'ipv4' | 'ipv6', string>): number[] {
    return Object.values(paths).map((path) => statSync(path).mode & 0o777);
  }

  it('writes the files in place keeping their mode, reloads, and rolls back after 1 s', async () => {
    const box = makeSandbox();
    const { paths, originals, files } = ufwSetup(box);
    const result = box.run(
      applyScript({
        backend: 'ufw',
        rules: rulesFor('ufw'),
        ufwFiles: files,
        stateDir: box.stateDir,
        rollbackSeconds: 1,
      }),
    );
    expect(result).toEqual({ status: 0, stderr: '' });
    expect(contents(paths)).toEqual(files);
    expect(modes(paths)).toEqual([0o640, 0o640]);
    expect(readdirSync(box.dir).filter((name) => name.includes('pingknock-new'))).toEqual([]);
    expect(logLines(box)).toEqual(['ufw reload']);
    expect(readFileSync(join(box.stateDir, 'ufw.0'), 'utf8')).toBe(originals[paths.ipv4]);
    expect(readFileSync(join(box.stateDir, 'ufw.1'), 'utf8')).toBe(originals[paths.ipv6]);

    expect(await waitFor(() => logLines(box).length === 2, 5_000)).toBe(true);
    expect(logLines(box)).toEqual(['ufw reload', 'ufw reload']);
    expect(contents(paths)).toEqual(originals);
    expect(modes(paths)).toEqual([0o640, 0o640]);
  });

  it('restores the files and exits applyFailed when the reload fails', () => {
    const box = makeSandbox();
    const { paths, originals, files } = ufwSetup(box);
    writeFileSync(join(box.dir, 'fail-apply'), '');
    const result = box.run(
      applyScript({
        backend: 'ufw',
        rules: rulesFor('ufw'),
        ufwFiles: files,
        stateDir: box.stateDir,
        rollbackSeconds: 0,
      }),
    );
    expect(result.status).toBe(SCRIPT_EXIT.applyFailed);
    expect(contents(paths)).toEqual(originals);
    expect(modes(paths)).toEqual([0o640, 0o640]);
    expect(logLines(box)).toEqual(['ufw reload', 'ufw reload']);
  });

  it('writes file contents holding heredoc-delimiter lines and shell syntax byte for byte', () => {
    const box = makeSandbox();
    const { paths, files } = ufwSetup(box);
    const tricky =
      `${files[paths.ipv4] ?? ''}PINGKNOCK_FILE_0\nPINGKNOCK_APPLY\nPINGKNOCK_RESTORE\n` +
      `$(touch '${box.dir}/pwned') \`x\` 'q' "d"\n`;
    const ufwFiles = { [paths.ipv4]: tricky, [paths.ipv6]: files[paths.ipv6] ?? '' };
    expect(
      box.run(
        applyScript({ backend: 'ufw', rules: rulesFor('ufw'), ufwFiles, stateDir: box.stateDir, rollbackSeconds: 0 }),
      ).status,
    ).toBe(0);
    expect(contents(paths)).toEqual(ufwFiles);
    expect(existsSync(join(box.dir, 'pwned'))).toBe(false);
  });

  it('removes: writes the files with the block taken out and reloads', () => {
    const box = makeSandbox();
    const { paths, originals, files } = ufwSetup(box);
    for (const [path, text] of Object.entries(files)) writeFileSync(path, text);
    const removed = Object.fromEntries(Object.entries(files).map(([path, text]) => [path, removeUfwBlock(text)]));
    expect(box.run(removeScript({ backend: 'ufw', ufwFiles: removed, stateDir: box.stateDir })).status).toBe(0);
    expect(contents(paths)).toEqual(originals);
    expect(modes(paths)).toEqual([0o640, 0o640]);
    expect(logLines(box)).toEqual(['ufw reload']);
  });
});
