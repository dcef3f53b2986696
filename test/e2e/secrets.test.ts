import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/core/errors.js';
import { parseSecret, secretToHex } from '../../src/core/secret.js';
import { loadSecret, readSecretFile } from '../../src/edge/secret-source.js';
import type { RunResult } from '../../src/edge/exec.js';
import { LAB_HOSTS, type Lab } from '../../src/lab/lab.js';
import { protectedLab } from './fixture.js';

/**
 * The secret never leaks: not on stdout or stderr (plain or --verbose, on success or failure),
 * not in error messages or thrown errors. Distinctive secrets, so any piece of one is found.
 */

const SECRET = parseSecret('Qz7vXw9LmKp3RtYb', 'test');
/** A different valid secret: the wrong key for the lab's server. */
const OTHER = parseSecret('Hg4dNc8WsJf2ZuVe', 'test');

/** Neither the secret nor any 6-character piece of it, nor its hex (any case) or any 12-digit piece of that. */
function expectNoSecret(text: string, secret: string, where: string): void {
  const hex = Buffer.from(secret, 'latin1').toString('hex');
  const lower = text.toLowerCase();
  for (let start = 0; start + 6 <= secret.length; start++) {
    expect(text, `${where}: contains "${secret.slice(start, start + 6)}"`).not.toContain(
      secret.slice(start, start + 6),
    );
  }
  for (let start = 0; start + 12 <= hex.length; start += 2) {
    expect(lower, `${where}: contains the secret's hex`).not.toContain(hex.slice(start, start + 12));
  }
}

function expectClean(result: RunResult, where: string, secrets: readonly string[] = [SECRET, OTHER]): void {
  for (const secret of secrets) {
    expectNoSecret(result.stdout.toString('latin1'), secret, `${where}, stdout`);
    expectNoSecret(result.stderr, secret, `${where}, stderr`);
  }
  expect(result.stderr, `${where}: a stack trace`).not.toMatch(/^\s+at /m);
}

describe('secrets never leak', () => {
  let lab: Lab;
  let otherFile: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    lab = await protectedLab('bare', SECRET);
    otherFile = join(lab.dir, 'other-secret');
    writeFileSync(otherFile, `${OTHER}\n`, { mode: 0o600 });
    env = { ...lab.env };
    delete env.PINGKNOCK_SECRET;
  });
  afterAll(() => lab?.destroy());

  const pingknock = (args: readonly string[], extraEnv: Readonly<Record<string, string>> = {}): Promise<RunResult> =>
    lab.onClient('pingknock', args, { env: { ...env, ...extraEnv }, timeoutMs: 30_000 });

  /** A secret file in the lab holding `content`, mode 0600. */
  const secretFile = (name: string, content: string): string => {
    const path = join(lab.dir, name);
    writeFileSync(path, content, { mode: 0o600 });
    return path;
  };

  describe('on success', () => {
    it('proxy --verbose', async () => {
      lab.forgetKnocks();
      const result = await pingknock(['proxy', '--verbose', '--name', LAB_HOSTS.knocked, lab.server.ipv4, '22']);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout.toString('latin1')).toMatch(/^SSH-2\.0-/);
      expect(result.stderr).toMatch(/^pingknock: knocking /m);
      expectClean(result, 'proxy --verbose');
    });

    it('proxy --verbose with the secret in PINGKNOCK_SECRET', async () => {
      lab.forgetKnocks();
      const result = await pingknock(['proxy', '--verbose', lab.server.ipv4, '22'], { PINGKNOCK_SECRET: SECRET });
      expect(result.code, result.stderr).toBe(0);
      expectClean(result, 'proxy --verbose, PINGKNOCK_SECRET');
    });

    it('ssh -v through proxy --verbose', async () => {
      lab.forgetKnocks();
      const result = await lab.ssh(
        ['-v', '-o', 'ProxyCommand=pingknock proxy --verbose --name %n %h %p', LAB_HOSTS.knocked, 'echo in'],
        {
          timeoutMs: 30_000,
        },
      );
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout.toString()).toBe('in\n');
      expect(result.stderr).toMatch(/^pingknock: connecting to port 22/m);
      expectClean(result, 'ssh -v');
    });

    it('knock --verbose', async () => {
      const result = await pingknock(['knock', '--verbose', '--name', LAB_HOSTS.knocked, lab.server.ipv4]);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).toMatch(/answered the knock/);
      expectClean(result, 'knock --verbose');
    });

    it('secret new --out: the new secret stays in its file', async () => {
      const out = join(lab.dir, 'made', 'secret');
      const result = await pingknock(['secret', 'new', '--out', out]);
      expect(result.code, result.stderr).toBe(0);
      const made = readFileSync(out, 'utf8').trim();
      expect(made).toMatch(/^[A-Za-z0-9_-]{16}$/);
      expectClean(result, 'secret new --out', [made]);
    });

    it('doctor, knocking for real', async () => {
      lab.forgetKnocks();
      const result = await pingknock(['doctor', LAB_HOSTS.knocked, '--config', lab.sshConfig]);
      expect(result.stdout.toString()).toMatch(/knock/);
      expectClean(result, 'doctor');
    });

    it('rules: the pattern goes to stdout only (the server copy), never to stderr', async () => {
      const result = await pingknock(['rules', '--name', LAB_HOSTS.knocked]);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout.toString()).toContain(secretToHex(SECRET));
      for (const secret of [SECRET, OTHER]) expectNoSecret(result.stderr, secret, 'rules, stderr');
    });
  });

  describe('on failure', () => {
    it('knock with no reply', async () => {
      const result = await pingknock([
        'knock',
        '--verbose',
        '--deadline',
        '1',
        '--name',
        LAB_HOSTS.knocked,
        '10.201.0.99',
      ]);
      expect(result.code, result.stderr).toBe(ExitCode.noReply);
      expectClean(result, 'knock, no reply');
    });

    it('knock where ping itself fails (no route): its own words, without the pattern', async () => {
      const result = await pingknock([
        'knock',
        '--verbose',
        '--deadline',
        '1',
        '--name',
        LAB_HOSTS.knocked,
        '203.0.113.7',
      ]);
      expect(result.code, result.stderr).not.toBe(0);
      expect(result.stderr).toMatch(/^pingknock: /m);
      expectClean(result, 'knock, ping failed');
    });

    it('proxy: the port refused', async () => {
      const result = await pingknock(['proxy', '--verbose', '--name', LAB_HOSTS.knocked, lab.server.ipv4, '2222']);
      expect(result.code, result.stderr).toBe(ExitCode.connectFailed);
      expectClean(result, 'proxy, refused');
    });

    it('proxy: the port dropped (the wrong secret)', async () => {
      lab.forgetKnocks();
      const result = await pingknock([
        'proxy',
        '--verbose',
        '--secret-file',
        otherFile,
        '--connect-timeout',
        '1',
        lab.server.ipv4,
        '22',
      ]);
      expect(result.code, result.stderr).toBe(ExitCode.connectFailed);
      expectClean(result, 'proxy, wrong secret');
    });

    it('proxy: no reply', async () => {
      // Not .99 again: once the kernel has given up on an address's neighbour, ping says at once that it is
      // unreachable.
      const result = await pingknock([
        'proxy',
        '--verbose',
        '--deadline',
        '1',
        '--name',
        LAB_HOSTS.knocked,
        '10.201.0.98',
        '22',
      ]);
      expect(result.code, result.stderr).toBe(ExitCode.noReply);
      expectClean(result, 'proxy, no reply');
    });

    const malformed: readonly { name: string; text: string }[] = [
      { name: '15 characters', text: SECRET.slice(0, 15) },
      { name: '17 characters', text: `${SECRET}Z` },
      { name: 'a symbol outside the alphabet', text: `${SECRET.slice(0, 15)}!` },
      { name: 'a space inside', text: `${SECRET.slice(0, 8)} ${SECRET.slice(9)}` },
      { name: 'twice over', text: `${SECRET}${SECRET}` },
    ];

    describe.each(malformed)('a secret with $name', ({ name, text }) => {
      it.each([
        ['proxy', (file: string) => ['proxy', '--verbose', '--secret-file', file, lab.server.ipv4, '22']],
        ['knock', (file: string) => ['knock', '--verbose', '--secret-file', file, lab.server.ipv4]],
        ['rules', (file: string) => ['rules', '--secret-file', file]],
      ] as const)('in a file, for %s', async (_command, argv) => {
        const file = secretFile(`malformed-${name.replace(/\W+/g, '-')}`, `${text}\n`);
        const result = await pingknock(argv(file));
        expect(result.code, result.stderr).toBe(ExitCode.secret);
        expect(result.stdout.length).toBe(0);
        expectClean(result, `${name} in a file`, [text, SECRET]);
      });

      it('in PINGKNOCK_SECRET', async () => {
        const result = await pingknock(['proxy', '--verbose', lab.server.ipv4, '22'], { PINGKNOCK_SECRET: text });
        expect(result.code, result.stderr).toBe(ExitCode.secret);
        expectClean(result, `${name} in PINGKNOCK_SECRET`, [text, SECRET]);
      });
    });

    it('a secret file readable by others', async () => {
      const file = secretFile('too-open', `${SECRET}\n`);
      const chmod = await lab.onClient('chmod', ['644', file]);
      expect(chmod.code).toBe(0);
      const result = await pingknock(['proxy', '--secret-file', file, lab.server.ipv4, '22']);
      expect(result.code, result.stderr).toBe(ExitCode.secret);
      expectClean(result, 'a secret file readable by others');
    });

    it.each([
      ['an invalid --tool', ['--backend', 'iptables', '--tool', 'bogus']],
      ['--tool without an iptables backend', ['--tool', 'iptables']],
      ['--window 0', ['--window', '0']],
      ['--port 0', ['--port', '0']],
      ['--rollback with a fraction', ['--rollback', '1.5']],
    ])('rules --apply with %s', async (_name, extra) => {
      // In the lab's client namespace, with a private state folder: whatever happens stays there.
      const stateDir = join(lab.dir, 'rules-state');
      mkdirSync(stateDir, { recursive: true, mode: 0o700 });
      const result = await pingknock([
        'rules',
        '--secret-file',
        otherFile,
        '--apply',
        '--state-dir',
        stateDir,
        ...extra,
      ]);
      expect(result.code, result.stderr).toBe(ExitCode.usage);
      expect(result.stdout.length).toBe(0);
      expectClean(result, `rules --apply with ${_name}`);
    });
  });

  describe('thrown errors', () => {
    const bad = [
      SECRET.slice(0, 15),
      `${SECRET}Z`,
      `${SECRET.slice(0, 15)}!`,
      `${SECRET}${SECRET}`,
      `${SECRET.slice(0, 14)}\u00e9\u00e9`,
    ];

    it.each(bad)('parseSecret(%j) throws without the text, in message, stack or inspect', (text) => {
      let thrown: unknown;
      try {
        parseSecret(text, 'test input');
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(Error);
      const error = thrown as Error;
      for (const shown of [error.message, error.stack ?? '', inspect(error), JSON.stringify(error)]) {
        expectNoSecret(shown, text, 'parseSecret error');
      }
    });

    it('loadSecret and readSecretFile errors carry no secret', async () => {
      const errors: unknown[] = [];
      const tooOpen = secretFile('thrown-too-open', `${SECRET}\n`);
      await lab.onClient('chmod', ['644', tooOpen]);
      const tooLong = secretFile('thrown-too-long', `${SECRET}Z\n`);
      for (const attempt of [
        () => Promise.resolve().then(() => readSecretFile(tooOpen)),
        () => Promise.resolve().then(() => readSecretFile(tooLong)),
        () => loadSecret({ env: { PINGKNOCK_SECRET: `${SECRET}!` } }),
      ]) {
        await attempt().then(
          () => errors.push(new Error('no error')),
          (error: unknown) => errors.push(error),
        );
      }
      expect(errors).toHaveLength(3);
      for (const error of errors) {
        expect(error).toBeInstanceOf(Error);
        const shown = [(error as Error).message, (error as Error).stack ?? '', inspect(error)].join('\n');
        expect(shown).not.toContain('no error');
        expectNoSecret(shown, SECRET, 'a thrown secret error');
      }
    });
  });
});
