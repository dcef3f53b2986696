import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  applyScript,
  checkedServerPath,
  confirmScript,
  removeScript,
  rollbackNowScript,
  SCRIPT_EXIT,
} from '../../src/core/rules/apply.js';
import { persistCheckScript, persistScript, unpersistScript } from '../../src/core/rules/persist.js';
import { buildRuleModel } from '../../src/core/rules/model.js';
import { renderNftables } from '../../src/core/rules/nftables.js';
import { parseSecret } from '../../src/core/secret.js';

/**
 * The folders and files the generated scripts refuse to write in or through (issue 16): run for
 * real by sh against stand-in firewall tools, in folders of the user running the tests (which
 * the scripts trust like root's). Folders owned by another user, and rollback.pid values that
 * would signal every process (1, 01, 0), are in test/e2e/hostile-folders.test.ts, as root, where
 * such a mistake is contained in namespaces.
 */

const rules = renderNftables(
  buildRuleModel({ secret: parseSecret('ABCDEFGHIJKLMNOP', 'test'), port: 22, windowSeconds: 60 }),
);
const PRECIOUS = 'precious, and not to be overwritten\n';
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Box {
  readonly dir: string;
  readonly stateDir: string;
  /** A file that a planted link points at: it must keep its content. */
  readonly victim: string;
  /** Every stand-in tool call, "name args", one a line. */
  log(): string;
  run(script: string): { status: number | null; stderr: string };
}

const boxes: string[] = [];
const children: ChildProcess[] = [];

/** A private folder with stand-ins for nft, ufw, iptables-save and netfilter-persistent first on PATH. */
function makeBox(): Box {
  const dir = mkdtempSync(join(tmpdir(), 'pingknock-trust-'));
  boxes.push(dir);
  mkdirSync(join(dir, 'bin'));
  for (const name of ['nft', 'ufw', 'iptables-save', 'netfilter-persistent']) {
    writeFileSync(join(dir, 'bin', name), `#!/bin/sh\nprintf '%s\\n' "\${0##*/} $*" >>'${dir}/log'\n`, { mode: 0o755 });
  }
  const victim = join(dir, 'victim');
  writeFileSync(victim, PRECIOUS);
  const env = { ...process.env, PATH: `${join(dir, 'bin')}:${process.env.PATH ?? '/usr/bin:/bin'}` };
  return {
    dir,
    stateDir: join(dir, 'state'),
    victim,
    log: () => (existsSync(join(dir, 'log')) ? readFileSync(join(dir, 'log'), 'utf8') : ''),
    run: (script) => {
      const result = spawnSync('sh', ['-s'], { input: script, env, encoding: 'utf8', timeout: 20_000 });
      return { status: result.status, stderr: result.stderr };
    },
  };
}

afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  for (const dir of boxes.splice(0)) {
    for (const pid of spawnSync('pgrep', ['-f', `pingknock-rollback [0-9]+ ${dir}/`], { encoding: 'utf8' })
      .stdout.split('\n')
      .filter(Boolean)) {
      try {
        process.kill(-Number(pid), 'SIGKILL');
      } catch {
        // gone already
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
});

const apply = (box: Box, stateDir = box.stateDir, rollbackSeconds = 0) =>
  box.run(applyScript({ backend: 'nftables', rules, stateDir, rollbackSeconds }));

/** Refused: the unsafe exit with exactly this one line, and no firewall tool ran. */
function expectRefused(box: Box, result: { status: number | null; stderr: string }, message: string): void {
  expect(result).toEqual({ status: SCRIPT_EXIT.unsafe, stderr: `${message}\n` });
  expect(box.log()).toBe('');
}

function folder(path: string, mode = 0o700): string {
  mkdirSync(path);
  chmodSync(path, mode);
  return path;
}

describe('the state folder', () => {
  it.each([
    ['is', ''],
    ['is under', '/state'],
  ])('is refused when it %s a symbolic link, and nothing is made where that points', (_, below) => {
    const box = makeBox();
    const real = folder(join(box.dir, 'real'));
    const link = join(box.dir, 'link');
    symlinkSync(real, link);
    expectRefused(
      box,
      apply(box, `${link}${below}`),
      `refusing the state folder ${link}${below}: ${link} is a symbolic link`,
    );
    expect(readdirSync(real)).toEqual([]);
  });

  it.each(['770', '757', '777', '775'])(
    'is refused when a folder above it may be written by its group or others (mode %s)',
    (mode) => {
      const box = makeBox();
      const open = folder(join(box.dir, 'open'), Number.parseInt(mode, 8));
      folder(join(open, 'state'));
      expectRefused(
        box,
        apply(box, join(open, 'state')),
        `refusing the state folder ${open}/state: ${open} may be written by its group or others`,
      );
      expect(readdirSync(join(open, 'state'))).toEqual([]);
    },
  );

  it('may sit in a sticky folder everyone writes in, like /tmp, but may not be one', () => {
    const box = makeBox();
    const sticky = folder(join(box.dir, 'tmp'), 0o1777);
    expectRefused(
      box,
      apply(box, sticky),
      `refusing the state folder ${sticky}: ${sticky} may be written by its group or others`,
    );
    expect(readdirSync(sticky)).toEqual([]);
    expect(apply(box, join(sticky, 'state'))).toEqual({ status: 0, stderr: '' });
    expect(statSync(join(sticky, 'state')).mode & 0o7777).toBe(0o700);
  });

  it('is refused when it may be written by others itself, even only its group', () => {
    const box = makeBox();
    const state = folder(box.stateDir, 0o730);
    expectRefused(
      box,
      apply(box),
      `refusing the state folder ${state}: ${state} may be written by its group or others`,
    );
  });

  it('is made when missing, each missing folder on the way 0700', () => {
    const box = makeBox();
    const deep = join(box.dir, 'a', 'b', 'c');
    expect(apply(box, deep)).toEqual({ status: 0, stderr: '' });
    for (const path of [join(box.dir, 'a'), join(box.dir, 'a', 'b'), deep])
      expect(statSync(path).mode & 0o7777, path).toBe(0o700);
    expect(readFileSync(join(deep, 'rules'), 'utf8')).toBe(rules);
  });

  it('is refused when it is not an absolute path: the walk from / would check another folder', () => {
    const box = makeBox();
    expectRefused(box, apply(box, 'state'), 'refusing the state folder state: it is not an absolute path');
  });

  it('is refused when it is a file', () => {
    const box = makeBox();
    writeFileSync(box.stateDir, '');
    expectRefused(box, apply(box), `refusing the state folder ${box.stateDir}: ${box.stateDir} is not a folder`);
  });
});

describe('the files in the state folder', () => {
  it.each(['rules', 'apply', 'restore', 'restore.nft', 'ufw.0', 'armed', 'rollback.pid', 'commit'])(
    'a symbolic link planted at %s is refused by apply, confirm, rollback-now and remove, and never followed',
    (name) => {
      const box = makeBox();
      const state = folder(box.stateDir);
      symlinkSync(box.victim, join(state, name));
      const message = `refusing ${state}/${name}: it is a symbolic link`;
      expectRefused(box, apply(box, state, 30), message);
      for (const script of [
        confirmScript(state),
        rollbackNowScript(state),
        removeScript({ backend: 'nftables', stateDir: state }),
      ]) {
        expectRefused(box, box.run(script), message);
      }
      expect(readFileSync(box.victim, 'utf8')).toBe(PRECIOUS);
      expect(readdirSync(state)).toEqual([name]);
    },
  );

  it('a folder planted at a file name is refused', () => {
    const box = makeBox();
    folder(join(folder(box.stateDir), 'restore.nft'));
    expectRefused(box, apply(box), `refusing ${box.stateDir}/restore.nft: it is not a plain file`);
  });

  it('are made anew: a hard link found at a name keeps its content', () => {
    const box = makeBox();
    const state = folder(box.stateDir);
    linkSync(box.victim, join(state, 'rules'));
    linkSync(box.victim, join(state, 'restore.nft'));
    expect(apply(box)).toEqual({ status: 0, stderr: '' });
    expect(readFileSync(box.victim, 'utf8')).toBe(PRECIOUS);
    expect(readFileSync(join(state, 'rules'), 'utf8')).toBe(rules);
    expect(statSync(box.victim).nlink).toBe(1);
  });
});

describe('rollback.pid', () => {
  /** A state folder armed with this rollback.pid, as a hostile or stale one would be. */
  function armed(box: Box, pid: string): string {
    const state = folder(box.stateDir);
    writeFileSync(join(state, 'armed'), '');
    writeFileSync(join(state, 'rollback.pid'), pid);
    return state;
  }

  /** A process that is no rollback sleeper, to be left alone. */
  function bystander(): ChildProcess {
    const child = spawn('sleep', ['60'], { stdio: 'ignore' });
    children.push(child);
    return child;
  }

  async function expectAlive(child: ChildProcess): Promise<void> {
    await sleep(200);
    expect(child.exitCode).toBeNull();
    expect(child.signalCode).toBeNull();
  }

  it.each(['abc', '-1', '', '12 34', '5\n6'])(
    'holding %j is refused by confirm and apply, and nothing is signalled',
    async (pid) => {
      const box = makeBox();
      const witness = bystander();
      const state = armed(box, pid);
      const message = `refusing ${state}/rollback.pid: it holds no process id above 1`;
      expectRefused(box, box.run(confirmScript(state)), message);
      expectRefused(box, apply(box), message);
      expect(existsSync(join(state, 'armed'))).toBe(true);
      await expectAlive(witness);
    },
  );

  it(
    'naming a process that is not the sleeper is refused by confirm, rollback-now and apply, ' +
      'and that process lives on',
    async () => {
      const box = makeBox();
      const other = bystander();
      const state = armed(box, `${other.pid}\n`);
      const message =
        `refusing ${state}/rollback.pid: ` +
        `process ${other.pid} is not pingknock's rollback for ${state}, so it is not signalled`;
      for (const script of [confirmScript(state), rollbackNowScript(state)])
        expectRefused(box, box.run(script), message);
      expectRefused(box, apply(box), message);
      await expectAlive(other);
    },
  );

  it(
    "naming another state folder's sleeper is refused; that sleeper stays armed, " + 'and its own folder confirms it',
    () => {
      const box = makeBox();
      const mine = join(box.dir, 'mine');
      expect(apply(box, mine, 30)).toEqual({ status: 0, stderr: '' });
      const pid = readFileSync(join(mine, 'rollback.pid'), 'utf8').trim();
      const state = armed(box, pid);
      expect(box.run(confirmScript(state))).toEqual({
        status: SCRIPT_EXIT.unsafe,
        stderr:
          `refusing ${state}/rollback.pid: ` +
          `process ${pid} is not pingknock's rollback for ${state}, so it is not signalled\n`,
      });
      expect(existsSync(join(mine, 'armed'))).toBe(true);
      expect(existsSync(`/proc/${pid}`)).toBe(true);
      expect(box.run(confirmScript(mine))).toEqual({ status: 0, stderr: '' });
    },
  );

  it('naming a process that is gone counts as nothing pending', () => {
    const box = makeBox();
    const state = armed(box, '999999999');
    expect(box.run(confirmScript(state))).toEqual({
      status: SCRIPT_EXIT.nothingToConfirm,
      stderr: 'no rollback is pending\n',
    });
  });
});

describe("ufw's files", () => {
  function ufwFolder(box: Box, mode = 0o755): { folder: string; file: string } {
    const dir = folder(join(box.dir, 'ufw'), mode);
    return { folder: dir, file: join(dir, 'before.rules') };
  }

  it('a symbolic link at before.rules is refused by apply and remove, and never followed', () => {
    const box = makeBox();
    const { file } = ufwFolder(box);
    symlinkSync(box.victim, file);
    const request = { backend: 'ufw' as const, ufwFiles: { [file]: '*filter\nCOMMIT\n' }, stateDir: box.stateDir };
    expectRefused(
      box,
      box.run(applyScript({ ...request, rules: 'shown only', rollbackSeconds: 0 })),
      `refusing ${file}: it is a symbolic link`,
    );
    expectRefused(box, box.run(removeScript(request)), `refusing ${file}: it is a symbolic link`);
    expect(readFileSync(box.victim, 'utf8')).toBe(PRECIOUS);
  });

  it('a folder of them that others may write in is refused', () => {
    const box = makeBox();
    const { folder: dir, file } = ufwFolder(box, 0o777);
    writeFileSync(file, PRECIOUS);
    const result = box.run(
      applyScript({
        backend: 'ufw',
        rules: 'shown only',
        ufwFiles: { [file]: '*filter\nCOMMIT\n' },
        stateDir: box.stateDir,
        rollbackSeconds: 0,
      }),
    );
    expectRefused(box, result, `refusing ufw's folder ${dir}: ${dir} may be written by its group or others`);
    expect(readFileSync(file, 'utf8')).toBe(PRECIOUS);
  });

  it('are replaced, not written into: a hard link at before.rules keeps its content, the new file its mode', () => {
    const box = makeBox();
    const { folder: dir, file } = ufwFolder(box);
    chmodSync(box.victim, 0o640);
    linkSync(box.victim, file);
    const result = box.run(
      applyScript({
        backend: 'ufw',
        rules: 'shown only',
        ufwFiles: { [file]: '*filter\nCOMMIT\n' },
        stateDir: box.stateDir,
        rollbackSeconds: 0,
      }),
    );
    expect(result).toEqual({ status: 0, stderr: '' });
    expect(readFileSync(file, 'utf8')).toBe('*filter\nCOMMIT\n');
    expect(statSync(file).mode & 0o777).toBe(0o640);
    expect(readFileSync(box.victim, 'utf8')).toBe(PRECIOUS);
    expect(readdirSync(dir)).toEqual(['before.rules']);
  });
});

describe('the persist folder', () => {
  const nftPersist = (persistDir: string) => persistScript({ backend: 'nftables', persistDir, rules });

  it.each([
    [
      'may be written by others',
      (box: Box) => folder(join(box.dir, 'etc'), 0o777),
      (dir: string) => `${dir} may be written by its group or others`,
    ],
    [
      'is a symbolic link',
      (box: Box) => {
        symlinkSync(folder(join(box.dir, 'real-etc')), join(box.dir, 'etc'));
        return join(box.dir, 'etc');
      },
      (dir: string) => `${dir} is a symbolic link`,
    ],
  ])('is refused by persist, unpersist and the check alone when it %s, and nothing is written', (_, make, why) => {
    const box = makeBox();
    const dir = make(box);
    const message = `refusing the persist folder ${dir}: ${why(dir)}`;
    for (const backend of ['nftables', 'iptables', 'ufw'] as const) {
      for (const script of [
        persistScript({ backend, persistDir: dir, rules }),
        unpersistScript({ backend, persistDir: dir }),
        persistCheckScript({ backend, persistDir: dir }),
      ]) {
        expectRefused(box, box.run(script), message);
      }
    }
    expect(readdirSync(dir)).toEqual([]);
  });

  it.each(['pingknock.nft', 'nftables.conf'])(
    'a symbolic link planted at %s is refused, and never followed',
    (name) => {
      const box = makeBox();
      const dir = folder(join(box.dir, 'etc'), 0o755);
      symlinkSync(box.victim, join(dir, name));
      for (const script of [nftPersist(dir), unpersistScript({ backend: 'nftables', persistDir: dir })]) {
        expectRefused(box, box.run(script), `refusing ${dir}/${name}: it is a symbolic link`);
      }
      expect(readFileSync(box.victim, 'utf8')).toBe(PRECIOUS);
      expect(readdirSync(dir)).toEqual([name]);
    },
  );

  it('a symbolic link at iptables/rules.v4, or an iptables folder others may write in, is refused', () => {
    const box = makeBox();
    const dir = folder(join(box.dir, 'etc'), 0o755);
    const iptables = folder(join(dir, 'iptables'), 0o755);
    symlinkSync(box.victim, join(iptables, 'rules.v4'));
    expectRefused(
      box,
      box.run(persistScript({ backend: 'iptables', persistDir: dir, rules })),
      `refusing ${iptables}/rules.v4: it is a symbolic link`,
    );
    chmodSync(iptables, 0o777);
    expectRefused(
      box,
      box.run(persistScript({ backend: 'iptables', persistDir: dir, rules })),
      `refusing the persist folder ${iptables}: ${iptables} may be written by its group or others`,
    );
    expect(readFileSync(box.victim, 'utf8')).toBe(PRECIOUS);
  });

  it(
    'files are replaced, not written into: hard links at their names keep their content, ' +
      'and no temporary file is left',
    () => {
      const box = makeBox();
      const dir = folder(join(box.dir, 'etc'), 0o755);
      linkSync(box.victim, join(dir, 'pingknock.nft'));
      linkSync(box.victim, join(dir, 'nftables.conf'));
      expect(box.run(nftPersist(dir)).status).toBe(0);
      expect(readFileSync(join(dir, 'pingknock.nft'), 'utf8')).toBe(rules);
      expect(readFileSync(join(dir, 'nftables.conf'), 'utf8')).toMatch(new RegExp(`^${PRECIOUS}include `));
      expect(readFileSync(box.victim, 'utf8')).toBe(PRECIOUS);
      expect(readdirSync(dir).sort()).toEqual(['nftables.conf', 'pingknock.nft']);
    },
  );

  it('the check alone passes a good folder, saying and changing nothing', () => {
    const box = makeBox();
    const dir = folder(join(box.dir, 'etc'), 0o755);
    for (const backend of ['nftables', 'iptables', 'ufw'] as const) {
      expect(box.run(persistCheckScript({ backend, persistDir: dir }))).toEqual({ status: 0, stderr: '' });
    }
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('checkedServerPath', () => {
  it.each(['/', '/run/pingknock', '/var/lib/pk-state.d'])('takes %s', (path) => {
    expect(checkedServerPath('state-dir', path)).toBe(path);
  });

  it.each(['/run//pingknock', '/run/pingknock/', '/run/./pingknock', '/tmp/x/../pingknock', '/..'])(
    'refuses %s: one spelling per folder',
    (path) => {
      expect(() => checkedServerPath('state-dir', path)).toThrow(
        '--state-dir must name its folder plainly: no . or .. parts, no double or trailing /',
      );
    },
  );
});
