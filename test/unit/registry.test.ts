import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { applyScript, confirmScript, restoreScript, SCRIPT_EXIT } from '../../src/core/rules/apply.js';
import { rollingKey, staticKey } from '../../src/core/rules/model.js';
import {
  keyMatchesSecret,
  keyTable,
  parseRegistry,
  registryHash,
  serializeRegistry,
  withKey,
  withoutKey,
  type KeyRegistry,
} from '../../src/core/rules/registry.js';
import {
  NO_REGISTRY_EXIT,
  REGISTRY_CHANGED_EXIT,
  registryCommitStep,
  registryPath,
  registryReadScript,
  registryWriteScript,
} from '../../src/core/rules/registry-scripts.js';
import { UNSAFE_EXIT } from '../../src/core/rules/trusted.js';
import { parseSecret } from '../../src/core/secret.js';

const ALICE = parseSecret('ABCDEFGHIJKLMNOP', 'test');
const BOB = parseSecret('bcdefghijklmnopq', 'test');
/** 2025-03-01 */
const DAY = 20148;
const alice = staticKey('alice@laptop', ALICE);
const bob = rollingKey('bob@desk', BOB, DAY, 2);
const registry: KeyRegistry = { backend: 'nftables', port: 22, windowSeconds: 60, keys: [alice, bob] };

describe('the key list', () => {
  it('reads back what it writes, one line of JSON', () => {
    const text = serializeRegistry(registry);
    expect(text.endsWith('\n')).toBe(true);
    expect(text.trimEnd()).not.toContain('\n');
    expect(parseRegistry(text, 'here')).toEqual(registry);
  });

  it.each<[string, unknown]>([
    ['not JSON', '{'],
    ['another version', { ...JSON.parse(serializeRegistry(registry)), version: 2 }],
    ['no backend', { ...JSON.parse(serializeRegistry(registry)), backend: 'pf' }],
    ['a port as text', { ...JSON.parse(serializeRegistry(registry)), port: '22' }],
    ['a window of 0', { ...JSON.parse(serializeRegistry(registry)), windowSeconds: 0 }],
    ['no keys', { ...JSON.parse(serializeRegistry(registry)), keys: [] }],
    ['a key name with a quote', { ...JSON.parse(serializeRegistry(registry)), keys: [{ ...alice, name: 'a"b' }] }],
    [
      'a pattern in capitals',
      { ...JSON.parse(serializeRegistry(registry)), keys: [{ ...alice, patternHex: alice.patternHex.toUpperCase() }] },
    ],
  ])('refuses one with %s, naming the file (exit 13)', (_, value) => {
    const text = typeof value === 'string' ? value : JSON.stringify(value);
    expect(() => parseRegistry(text, 'srv:/etc/pingknock.keys.json')).toThrowError(
      expect.objectContaining({
        exitCode: 13,
        message: expect.stringMatching(/^srv:\/etc\/pingknock\.keys\.json is not a key list pingknock wrote/),
      }),
    );
  });

  it('hashes the bytes as sha256sum does, and no file as none', () => {
    const bytes = Buffer.from(serializeRegistry(registry));
    expect(registryHash(bytes)).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(registryHash(undefined)).toBe('none');
  });

  it('replaces every entry of a name in the place of the first, adds a new name last, removes by name', () => {
    const carol = staticKey('carol@x', BOB);
    const aliceAgain = staticKey('alice@laptop', BOB);
    expect(withKey([alice, bob], carol)).toEqual([alice, bob, carol]);
    expect(withKey([alice, bob, aliceAgain], staticKey('alice@laptop', ALICE))).toEqual([alice, bob]);
    expect(withKey([bob, alice, aliceAgain], aliceAgain)).toEqual([bob, aliceAgain]);
    expect(withoutKey([alice, bob, aliceAgain], 'alice@laptop')).toEqual([bob]);
  });

  it("tells a key made from a secret from one made from another's", () => {
    expect(keyMatchesSecret(alice, ALICE)).toBe(true);
    expect(keyMatchesSecret(alice, BOB)).toBe(false);
    expect(keyMatchesSecret(bob, BOB)).toBe(true);
    expect(keyMatchesSecret(bob, ALICE)).toBe(false);
  });

  it('lists name, kind and the last day, marking the alias own key', () => {
    expect(keyTable([alice, bob], 'bob@desk')).toBe(
      'NAME          KIND      UNTIL (UTC)\n' +
        'alice@laptop  static    -\n' +
        'bob@desk      one-time  2025-03-02 (from 2025-03-01)  this alias\n',
    );
  });
});

const sandboxes: string[] = [];
afterEach(() => {
  for (const dir of sandboxes.splice(0)) {
    // The rollback sleeper an apply started leads its own process group.
    const pidFile = join(dir, 'state', 'rollback.pid');
    if (existsSync(pidFile)) {
      try {
        process.kill(-Number(readFileSync(pidFile, 'utf8')), 'SIGKILL');
      } catch {
        // gone already
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A persist folder and a state folder, and a stand-in nft that logs what it is asked. */
function makeSandbox() {
  const dir = mkdtempSync(join(tmpdir(), 'pingknock-registry-'));
  sandboxes.push(dir);
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'nft'), `#!/bin/sh\nprintf 'nft %s\\n' "$*" >>'${dir}/log'\nexit 0\n`);
  chmodSync(join(bin, 'nft'), 0o755);
  const persistDir = join(dir, 'etc');
  mkdirSync(persistDir, { mode: 0o755 });
  const env = { ...process.env, PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}` };
  return {
    dir,
    persistDir,
    stateDir: join(dir, 'state'),
    registry: registryPath(persistDir),
    log: () => (existsSync(join(dir, 'log')) ? readFileSync(join(dir, 'log'), 'utf8') : ''),
    run: (script: string) => {
      const result = spawnSync('sh', ['-s'], { input: script, env, timeout: 20_000 });
      return { status: result.status, stdout: result.stdout, stderr: result.stderr.toString() };
    },
  };
}

const text = serializeRegistry(registry);
const next = serializeRegistry({ ...registry, keys: [bob] });

describe('registryReadScript, run for real', () => {
  it('prints the key list byte for byte, and exits NO_REGISTRY_EXIT without one', () => {
    const box = makeSandbox();
    expect(box.run(registryReadScript(box.persistDir)).status).toBe(NO_REGISTRY_EXIT);
    writeFileSync(box.registry, text, { mode: 0o600 });
    const read = box.run(registryReadScript(box.persistDir));
    expect(read.status).toBe(0);
    expect(read.stdout.equals(Buffer.from(text))).toBe(true);
  });

  it('refuses a link at its name, and reads nothing through it', () => {
    const box = makeSandbox();
    writeFileSync(join(box.dir, 'elsewhere'), text);
    symlinkSync(join(box.dir, 'elsewhere'), box.registry);
    const read = box.run(registryReadScript(box.persistDir));
    expect(read.status).toBe(UNSAFE_EXIT);
    expect(read.stderr).toBe(`refusing ${box.registry}: it is a symbolic link\n`);
    expect(read.stdout.length).toBe(0);
  });
});

describe('the key list replaced only when it is still the one read', () => {
  const commit = (box: ReturnType<typeof makeSandbox>, expected: string, content: string | undefined) =>
    box.run(`set -eu\numask 077\n${registryCommitStep(box.persistDir, expected, content)}`);

  it('writes a new one (0600) over none, replaces it while its hash holds, and removes it', () => {
    const box = makeSandbox();
    expect(commit(box, registryHash(undefined), text).status).toBe(0);
    expect(readFileSync(box.registry, 'utf8')).toBe(text);
    expect(statSync(box.registry).mode & 0o777).toBe(0o600);
    expect(commit(box, registryHash(Buffer.from(text)), next).status).toBe(0);
    expect(readFileSync(box.registry, 'utf8')).toBe(next);
    expect(commit(box, registryHash(Buffer.from(next)), undefined).status).toBe(0);
    expect(existsSync(box.registry)).toBe(false);
  });

  it('changes nothing and exits REGISTRY_CHANGED_EXIT when it changed since it was read', () => {
    const box = makeSandbox();
    writeFileSync(box.registry, next, { mode: 0o600 });
    const stale = commit(box, registryHash(Buffer.from(text)), serializeRegistry({ ...registry, keys: [alice] }));
    expect(stale.status).toBe(REGISTRY_CHANGED_EXIT);
    expect(stale.stderr).toBe(`the key list ${box.registry} changed since it was read\n`);
    expect(readFileSync(box.registry, 'utf8')).toBe(next);
    // One appeared where none was read: refused the same way.
    expect(commit(box, registryHash(undefined), text).status).toBe(REGISTRY_CHANGED_EXIT);
    expect(readFileSync(box.registry, 'utf8')).toBe(next);
  });

  it('puts one back as a script of its own, checking its folder first', () => {
    const box = makeSandbox();
    writeFileSync(box.registry, next, { mode: 0o600 });
    expect(box.run(registryWriteScript(box.persistDir, registryHash(Buffer.from(next)), text)).status).toBe(0);
    expect(readFileSync(box.registry, 'utf8')).toBe(text);
    chmodSync(box.persistDir, 0o777);
    const refused = box.run(registryWriteScript(box.persistDir, registryHash(Buffer.from(text)), next));
    expect(refused.status).toBe(UNSAFE_EXIT);
    expect(readFileSync(box.registry, 'utf8')).toBe(text);
  });
});

describe('the confirm that commits the key list', () => {
  const rules = 'table inet pingknock {}\n';

  function applied() {
    const box = makeSandbox();
    const apply = box.run(applyScript({ backend: 'nftables', rules, stateDir: box.stateDir, rollbackSeconds: 30 }));
    expect(apply.status, apply.stderr).toBe(0);
    return box;
  }

  it('disarms the rollback and then writes the key list', () => {
    const box = applied();
    const result = box.run(confirmScript(box.stateDir, registryCommitStep(box.persistDir, 'none', text)));
    expect(result.status, result.stderr).toBe(0);
    expect(readFileSync(box.registry, 'utf8')).toBe(text);
    expect(existsSync(join(box.stateDir, 'armed'))).toBe(false);
    expect(box.log()).not.toContain('restore.nft');
  });

  it('with a changed key list: restores the rules at once, keeps that list, and exits REGISTRY_CHANGED_EXIT', () => {
    const box = applied();
    writeFileSync(box.registry, next, { mode: 0o600 });
    const result = box.run(
      confirmScript(box.stateDir, registryCommitStep(box.persistDir, registryHash(Buffer.from(text)), text)),
    );
    expect(result.status).toBe(REGISTRY_CHANGED_EXIT);
    expect(result.stderr).toBe(
      `the key list ${box.registry} changed since it was read\nso the previous rules are back\n`,
    );
    expect(readFileSync(box.registry, 'utf8')).toBe(next);
    expect(existsSync(join(box.stateDir, 'armed'))).toBe(false);
    expect(box.log().trimEnd().split('\n').at(-1)).toBe(`nft -f ${box.stateDir}/restore.nft`);
    // Nothing is pending any more: a second confirm has nothing to do.
    expect(box.run(confirmScript(box.stateDir)).status).toBe(SCRIPT_EXIT.nothingToConfirm);
  });

  it('restores the saved rules after the confirm (a persistence that failed), and without any changes nothing', () => {
    const box = applied();
    expect(box.run(confirmScript(box.stateDir, registryCommitStep(box.persistDir, 'none', text))).status).toBe(0);
    const restored = box.run(restoreScript(box.stateDir));
    expect(restored.status, restored.stderr).toBe(0);
    expect(box.log().trimEnd().split('\n').at(-1)).toBe(`nft -f ${box.stateDir}/restore.nft`);
    const empty = makeSandbox();
    const nothing = empty.run(restoreScript(empty.stateDir));
    expect(nothing.status).toBe(SCRIPT_EXIT.nothingToConfirm);
    expect(nothing.stderr).toBe(`no saved rules in ${empty.stateDir} to restore\n`);
    expect(empty.log()).toBe('');
  });

  it('commits nothing when the rollback fired already', () => {
    const box = applied();
    rmSync(join(box.stateDir, 'armed'));
    const result = box.run(confirmScript(box.stateDir, registryCommitStep(box.persistDir, 'none', text)));
    expect(result.status).toBe(SCRIPT_EXIT.nothingToConfirm);
    expect(existsSync(box.registry)).toBe(false);
  });
});
