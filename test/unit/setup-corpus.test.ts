import {
  chmodSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { STATIC_MODE } from '../../src/core/rolling.js';
import { proxyCommandFor } from '../../src/core/ssh-config/proxy-command.js';
import { pingknock, ROOT } from '../support/cli.js';
import { insertedLines, option, sshG } from '../support/config-diff.js';

/**
 * `pingknock setup` on real-world-shaped configs, through the real CLI. For each: the file after
 * setup is the original with exactly the expected lines inserted; a second run leaves it
 * byte-identical; the mode is kept; the backup is the original; ssh reads the result as meant,
 * and every other host in the file gets from ssh exactly what it got before.
 */

const FIXTURES = join(ROOT, 'test', 'fixtures', 'ssh-config');
/** Stands for the alias's ProxyCommand line, and the ProxyUseFdpass line with it, in `expected`. */
const PROXY_LINE = 'ProxyCommand for the alias';
/** What setup writes for the alias: this machine's OpenSSH takes the socket from the proxy (ProxyUseFdpass). */
const proxyCommand = (alias: string): string => proxyCommandFor(alias, STATIC_MODE, { fdpass: true });
const proxyLines = (alias: string): string[] => [`ProxyCommand ${proxyCommand(alias)}`, 'ProxyUseFdpass yes'];
const MODES = [0o600, 0o644, 0o640] as const;

interface CorpusCase {
  readonly name: string;
  /** A fixture file; or undefined for a config the test makes itself (see `prepare`). */
  readonly fixture?: string;
  readonly alias: string;
  readonly options?: readonly string[];
  /** The non-blank lines setup must insert, trimmed, in order. */
  readonly expected: readonly string[];
  /** Make the config at `path` another way than copying a fixture; returns the original content, undefined if none. */
  readonly prepare?: (path: string, dir: string) => Buffer | undefined;
}

const CORPUS: readonly CorpusCase[] = [
  {
    name: 'a personal config, defaults last',
    fixture: 'personal-laptop.conf',
    alias: 'vault',
    options: ['--hostname', '10.0.0.9', '--port', '2200', '--user', 'ann'],
    expected: ['Host vault', 'HostName 10.0.0.9', 'Port 2200', 'User ann', PROXY_LINE],
  },
  {
    name: 'CRLF line endings (Windows OpenSSH)',
    fixture: 'windows-crlf.conf',
    alias: 'devbox',
    expected: [PROXY_LINE],
  },
  {
    name: 'tabs, double spaces, trailing whitespace',
    fixture: 'tabs-trailing-space.conf',
    alias: 'backup',
    options: ['--user', 'root'],
    expected: [PROXY_LINE],
  },
  {
    name: 'Host=x and Key = Value forms',
    fixture: 'key-equals-value.conf',
    alias: 'gitea',
    options: ['--port', '2222'],
    expected: [PROXY_LINE],
  },
  {
    // The later block already gives the alias this HostName, so it is not written twice.
    name: 'quoted values and a quoted Host pattern',
    fixture: 'quoted-values.conf',
    alias: 'worklaptop',
    options: ['--hostname', '10.1.2.3'],
    expected: ['Host worklaptop', PROXY_LINE],
  },
  {
    name: 'Match exec and Match originalhost first',
    fixture: 'match-exec-vpn.conf',
    alias: 'app.internal.example.com',
    expected: ['Host app.internal.example.com', PROXY_LINE],
  },
  { name: 'Include with globs at the top', fixture: 'include-globs.conf', alias: 'scratch', expected: [PROXY_LINE] },
  {
    name: 'no newline at the end, the host block last',
    fixture: 'no-trailing-newline.conf',
    alias: 'pi',
    options: ['--hostname', 'raspberrypi.local'],
    expected: [PROXY_LINE],
  },
  {
    name: 'an existing Host block gets what it lacks',
    fixture: 'existing-host-block.conf',
    alias: 'vps',
    options: ['--hostname', '198.51.100.23', '--user', 'deploy', '--port', '22'],
    expected: ['Port 22', PROXY_LINE],
  },
  {
    name: 'IgnoreUnknown and macOS-only options',
    fixture: 'github-macos.conf',
    alias: 'homelab',
    options: ['--hostname', '10.0.0.2'],
    expected: ['Host homelab', 'HostName 10.0.0.2', PROXY_LINE],
  },
  {
    name: 'jump hosts for other names',
    fixture: 'jump-hosts.conf',
    alias: 'monitor',
    options: ['--hostname', '10.9.0.1', '--user', 'ops'],
    expected: ['Host monitor', 'HostName 10.9.0.1', 'User ops', PROXY_LINE],
  },
  {
    name: 'global options right above the first Host',
    fixture: 'globals-at-top.conf',
    alias: 'router',
    options: ['--hostname', '192.168.0.1', '--user', 'admin'],
    expected: ['Host router', 'HostName 192.168.0.1', 'User admin', PROXY_LINE],
  },
  { name: 'only global options', fixture: 'only-globals.conf', alias: 'box1', expected: ['Host box1', PROXY_LINE] },
  {
    name: 'only comments',
    fixture: 'comments-only.conf',
    alias: 'box2',
    options: ['--hostname', 'box2.example.org'],
    expected: ['Host box2', 'HostName box2.example.org', PROXY_LINE],
  },
  {
    name: 'the alias is one of several patterns',
    fixture: 'multi-pattern.conf',
    alias: 'web2',
    options: ['--user', 'deploy'],
    expected: ['Host web2', 'User deploy', PROXY_LINE],
  },
  {
    name: "another host's quoted ProxyCommand (AWS SSM)",
    fixture: 'aws-ssm.conf',
    alias: 'jenkins',
    expected: [PROXY_LINE],
  },
  {
    name: 'a generated config (VS Code / Vagrant)',
    fixture: 'vscode-remote.conf',
    alias: 'devcontainer-host',
    expected: [PROXY_LINE],
  },
  {
    name: 'inline comments and whitespace-only lines',
    fixture: 'inline-comments-blank-lines.conf',
    alias: 'media',
    expected: [PROXY_LINE],
  },
  {
    name: 'an empty file',
    alias: 'e1',
    options: ['--hostname', 'e1.example.org'],
    expected: ['Host e1', 'HostName e1.example.org', PROXY_LINE],
    prepare: (path) => {
      writeFileSync(path, '');
      return Buffer.alloc(0);
    },
  },
  {
    name: 'a symlink to the config, which stays a symlink',
    alias: 'devbox',
    expected: [PROXY_LINE],
    prepare: (path, dir) => {
      mkdirSync(join(dir, 'dotfiles'));
      const target = join(dir, 'dotfiles', 'ssh_config');
      copyFileSync(join(FIXTURES, 'windows-crlf.conf'), target);
      symlinkSync('dotfiles/ssh_config', path);
      return readFileSync(target);
    },
  },
];

const scratch = mkdtempSync(join(tmpdir(), 'pingknock-corpus-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Host names the file mentions literally, for checking that their effective config does not move. */
function literalHosts(text: string): string[] {
  const names = [...text.matchAll(/^[ \t]*host[ \t=]+(.*)$/gim)].flatMap((match) => (match[1] ?? '').split(/[ \t]+/));
  return [...new Set(names.filter((name) => /^[A-Za-z0-9._-]+$/.test(name)))];
}

describe('every fixture is used', () => {
  it('has at least 15 configs, each in the corpus', () => {
    const files = readdirSync(FIXTURES).filter((file) => file.endsWith('.conf'));
    expect(files.length).toBeGreaterThanOrEqual(15);
    expect(new Set(CORPUS.flatMap((entry) => (entry.fixture === undefined ? [] : [entry.fixture])))).toEqual(
      new Set(files),
    );
  });
});

describe.each(CORPUS.map((entry, index) => ({ ...entry, mode: MODES[index % MODES.length] ?? 0o600 })))(
  'setup on $name',
  (entry) => {
    it(
      `inserts exactly the lines for ${entry.alias}, keeps every other byte and mode 0${entry.mode.toString(8)}, ` +
        `backs up the original, and changes nothing the second time`,
      async () => {
        const dir = mkdtempSync(join(scratch, 'case-'));
        const home = join(dir, 'home');
        mkdirSync(home);
        const config = join(dir, 'config');
        const original = entry.prepare?.(config, dir) ?? copyFixture(entry.fixture ?? '', config);
        const target = lstatSync(config).isSymbolicLink() ? join(dir, readlinkSync(config)) : config;
        chmodSync(target, entry.mode);
        const args = ['setup', entry.alias, ...(entry.options ?? []), '--config', config, '--yes'];

        const first = pingknock(args, { home });
        expect(first.stderr).toMatch(/^(pingknock: [^\n]*\n)+$/);
        expect(first.status, first.stderr).toBe(0);
        const after = readFileSync(target);
        const originalText = original.toString('latin1');
        const afterText = after.toString('latin1');
        const expected = entry.expected.flatMap((line) => (line === PROXY_LINE ? proxyLines(entry.alias) : [line]));
        const allowed = new Set(expected);
        expect(insertedLines(originalText, afterText, allowed), `only ${expected.join(' / ')} inserted`).toEqual(
          expected,
        );
        if (originalText.includes('\r\n')) expect(afterText.replaceAll('\r\n', '')).not.toContain('\n');
        expect(statSync(target).mode & 0o777).toBe(entry.mode);
        if (target !== config) expect(lstatSync(config).isSymbolicLink()).toBe(true);

        const backup = `${target}.pingknock-backup`;
        expect(readFileSync(backup).equals(original), 'backup is the original').toBe(true);
        expect(statSync(backup).mode & 0o777).toBe(entry.mode);
        expect(first.stderr).toContain(`the original is kept in ${backup}`);

        const secretPath = join(home, '.ssh', 'pingknock', entry.alias);
        const secret = readFileSync(secretPath, 'utf8');
        expect(secret).toMatch(/^[A-Za-z0-9_-]{16}\n$/);
        expect(statSync(secretPath).mode & 0o777).toBe(0o600);
        expect(statSync(join(home, '.ssh', 'pingknock')).mode & 0o777).toBe(0o700);
        expect(first.stdout).not.toContain(Buffer.from(secret.trim()).toString('hex'));
        expect(first.stderr).not.toContain(secret.trim());

        const second = pingknock(args, { home });
        expect(second.status, second.stderr).toBe(0);
        expect(second.stderr).toMatch(/nothing changed/);
        expect(readFileSync(target).equals(after), 'second run is byte-identical').toBe(true);
        expect(readFileSync(secretPath, 'utf8')).toBe(secret);
        expect(readFileSync(backup).equals(original)).toBe(true);

        const hosts = [
          entry.alias,
          ...literalHosts(originalText).filter((host) => host !== entry.alias),
          'unrelated.example.net',
        ];
        const [sshBefore, sshAfter] = await Promise.all([sshG(original, hosts), sshG(after, hosts)]);
        expect(option(sshAfter.get(entry.alias), 'proxycommand')).toBe(proxyCommand(entry.alias));
        expect(option(sshAfter.get(entry.alias), 'proxyusefdpass')).toBe('yes');
        for (const host of hosts.slice(1)) expect(sshAfter.get(host), `ssh -G ${host}`).toBe(sshBefore.get(host));
      },
    );
  },
);

describe('setup on a config that does not exist yet', () => {
  it('creates it with mode 0600, its folder 0700, and no backup', () => {
    const dir = mkdtempSync(join(scratch, 'missing-'));
    const home = join(dir, 'home');
    mkdirSync(home);
    const config = join(home, '.ssh', 'config');
    const args = ['setup', 'm1', '--config', config, '--yes'];
    const first = pingknock(args, { home });
    expect(first.status, first.stderr).toBe(0);
    const created = readFileSync(config, 'utf8');
    expect(created).toBe(`Host m1\n    ${proxyLines('m1').join('\n    ')}\n`);
    expect(statSync(config).mode & 0o777).toBe(0o600);
    expect(statSync(join(home, '.ssh')).mode & 0o777).toBe(0o700);
    expect(existsSync(`${config}.pingknock-backup`)).toBe(false);
    const second = pingknock(args, { home });
    expect(second.status, second.stderr).toBe(0);
    expect(readFileSync(config, 'utf8')).toBe(created);
  });

  it('is ~/.ssh/config when no --config is given', () => {
    const home = mkdtempSync(join(scratch, 'default-'));
    const result = pingknock(['setup', 'd1', '--hostname', '192.0.2.1', '--yes'], { home });
    expect(result.status, result.stderr).toBe(0);
    expect(readFileSync(join(home, '.ssh', 'config'), 'utf8')).toBe(
      `Host d1\n    HostName 192.0.2.1\n    ${proxyLines('d1').join('\n    ')}\n`,
    );
    // The config is ssh's default, so the printed commands need no -F.
    expect(result.stdout).toContain("scp pingknock.nft d1: && ssh d1 'sudo nft -f pingknock.nft'");
  });
});

describe('the backup', () => {
  it('is made before the first edit only: a later edit for another host keeps the very first original', () => {
    const dir = mkdtempSync(join(scratch, 'backup-'));
    const home = join(dir, 'home');
    mkdirSync(home);
    const config = join(dir, 'config');
    const original = copyFixture('personal-laptop.conf', config);
    expect(pingknock(['setup', 'one', '--config', config, '--yes'], { home }).status).toBe(0);
    const afterFirst = readFileSync(config);
    const second = pingknock(['setup', 'two', '--config', config, '--yes'], { home });
    expect(second.status, second.stderr).toBe(0);
    expect(second.stderr).not.toContain('the original is kept');
    expect(readFileSync(`${config}.pingknock-backup`).equals(original)).toBe(true);
    expect(readFileSync(config).length).toBeGreaterThan(afterFirst.length);
  });
});

function copyFixture(fixture: string, path: string): Buffer {
  copyFileSync(join(FIXTURES, fixture), path);
  return readFileSync(path);
}
