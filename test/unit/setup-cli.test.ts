import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/core/errors.js';
import { STATIC_MODE } from '../../src/core/rolling.js';
import { proxyCommandFor } from '../../src/core/ssh-config/proxy-command.js';
import { REPLACED_MARK } from '../../src/core/ssh-config/text-edit.js';
import { BIN, pingknock, ROOT } from '../support/cli.js';

const FIXTURES = join(ROOT, 'test', 'fixtures', 'ssh-config');
/**
 * The lines setup writes for a new host, as indented in these configs: this machine's OpenSSH takes
 * the socket from the proxy (ProxyUseFdpass).
 */
const proxyLine = (alias: string): string =>
  `ProxyCommand ${proxyCommandFor(alias, STATIC_MODE, { fdpass: true })}\n    ProxyUseFdpass yes`;
const SECRET = 'Abcdefgh12345678';

let dir: string;
let home: string;
let config: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pingknock-setup-'));
  home = join(dir, 'home');
  mkdirSync(home);
  config = join(dir, 'config');
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const setup = (args: readonly string[], input?: string) =>
  pingknock(['setup', ...args, '--config', config], input === undefined ? { home } : { home, input });
const secretPath = (alias: string) => join(home, '.ssh', 'pingknock', alias);

function useFixture(name: string): Buffer {
  copyFileSync(join(FIXTURES, name), config);
  return readFileSync(config);
}

/** A refusal leaves everything as it was: the config, no backup, no secret. */
function expectRefused(
  result: ReturnType<typeof setup>,
  original: Buffer,
  alias: string,
  code: number = ExitCode.usage,
): void {
  expect(result.status, result.stderr).toBe(code);
  expect(result.stdout).toBe('');
  expect(result.stderr).toMatch(/^pingknock: \S[^]*\n$/);
  expect(readFileSync(config).equals(original)).toBe(true);
  expect(existsSync(`${config}.pingknock-backup`)).toBe(false);
  expect(existsSync(secretPath(alias))).toBe(false);
}

describe('a host that already has another proxy', () => {
  it('knocks from the jump host a later block gives it (ProxyJump), overriding that line for this host only', () => {
    const original = useFixture('jump-hosts.conf');
    const result = setup(['prod-web', '--yes']);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toContain('overrides line 7 for this host only (other hosts keep it): ProxyJump bastion');
    expect(result.stderr).toContain(
      'ssh prod-web goes through bastion (ProxyJump): the knock is sent from bastion by its own ping, ' +
        'with no pingknock and no secret there',
    );
    const line = `ProxyCommand pingknock proxy --name prod-web --jump bastion --config ${config} %h %p`;
    const text = readFileSync(config, 'utf8');
    expect(text).toBe(`Host prod-web\n    ${line}\n\n${original.toString()}`);
    expect(readFileSync(`${config}.pingknock-backup`).equals(original)).toBe(true);
    // The knock by hand goes from the bastion too, and so does the login around the ProxyCommand.
    expect(result.stdout).toMatch(
      new RegExp(
        `^  ssh -F ${config} -- bastion ping -c 1 -p "\\$\\(pingknock pattern --static prod-web\\)" prod-web$`,
        'm',
      ),
    );
    expect(result.stdout).toContain(`  ssh -F ${config} -o ProxyJump=bastion prod-web\n`);
    expect(setup(['prod-web', '--yes']).stderr).toMatch(/nothing changed/);
    expect(readFileSync(config, 'utf8')).toBe(text);
  });

  it('knocks from the jump host a Match block gives it, with a line in its own block that comes first', () => {
    const original = 'Host inner\n    HostName 10.9.9.9\n\nMatch host 10.9.9.9\n    ProxyJump bastion\n';
    writeFileSync(config, original, { mode: 0o600 });
    const result = setup(['inner', '--yes']);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toContain('ssh inner goes through bastion (ProxyJump): the knock is sent from bastion');
    const line = `ProxyCommand pingknock proxy --name inner --jump bastion --config ${config} %h %p`;
    const text = readFileSync(config, 'utf8');
    // The Match block stays as it was: for this host the line before it wins, other hosts keep it.
    expect(text).toBe(original.replace('10.9.9.9\n\n', `10.9.9.9\n    ${line}\n\n`));
    expect(setup(['inner', '--yes']).stderr).toMatch(/nothing changed/);
    expect(readFileSync(config, 'utf8')).toBe(text);
  });

  it('is refused when its own block has another ProxyCommand; --force comments that line out and says so', () => {
    const original = useFixture('quoted-values.conf');
    const refused = setup(['legacy', '--yes']);
    expectRefused(refused, original, 'legacy');
    expect(refused.stderr).toMatch(/line 8 "ProxyCommand ssh -W .*%h:%p.* gateway\.example\.org"/);

    const forced = setup(['legacy', '--yes', '--force']);
    expect(forced.status, forced.stderr).toBe(0);
    expect(forced.stderr).toContain(
      'replaced line 8 (now commented out): ProxyCommand ssh -W "%h:%p" gateway.example.org',
    );
    const lines = readFileSync(config, 'utf8').split('\n');
    expect(lines[7]).toBe(`    ${REPLACED_MARK}ProxyCommand ssh -W "%h:%p" gateway.example.org`);
    expect(lines.slice(9, 11).join('\n')).toBe(`    ${proxyLine('legacy')}`);
  });

  it(
    'is refused when an earlier block wins for it, even with --force: ' +
      'pingknock does not edit lines other hosts use',
    () => {
      writeFileSync(config, 'Host *.corp\n    ProxyJump gw\n\nHost app.corp\n    User me\n');
      const original = readFileSync(config);
      for (const extra of [[], ['--force']]) {
        const result = setup(['app.corp', '--yes', ...extra]);
        expectRefused(result, original, 'app.corp');
        expect(result.stderr).toContain('line 2 "ProxyJump gw" comes first for app.corp');
      }
    },
  );

  it('is refused when an included file before its block gives it one, which only ssh -G can see', () => {
    const included = join(dir, 'included');
    mkdirSync(included);
    writeFileSync(join(included, 'work.conf'), 'Host inc-target\n    ProxyJump jumper\n');
    writeFileSync(config, `Include ${included}/*.conf\n\nHost other\n    User x\n`);
    const original = readFileSync(config);
    const refused = setup(['inc-target', '--yes']);
    expectRefused(refused, original, 'inc-target');
    // The Include comes before any Host block, so no place in this file can win over it: not the
    // line that knocks from jumper, nor, with --force, any other.
    expect(refused.stderr).toContain(
      'ssh -G inc-target would still use ProxyJump jumper: an earlier line, an included file or a Match block',
    );
    const forced = setup(['inc-target', '--yes', '--force']);
    expectRefused(forced, original, 'inc-target');
    expect(forced.stderr).toContain('would still use ProxyJump jumper');
    expect(forced.stderr).toContain('nothing was written');
  });

  it("is refused when a Match block that applies comes before the host's block, even with --force", () => {
    writeFileSync(config, 'Match exec "true"\n    ProxyJump jumper\n\nHost m\n    User me\n');
    const original = readFileSync(config);
    expectRefused(setup(['m', '--yes']), original, 'm');
    const forced = setup(['m', '--yes', '--force']);
    expectRefused(forced, original, 'm');
    expect(forced.stderr).toContain('would still use ProxyJump jumper');
  });

  it('puts a new block above such a Match block, where it does win, knocking from its jump host', () => {
    writeFileSync(config, 'Match exec "true"\n    ProxyJump jumper\n');
    const result = setup(['m', '--yes']);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toContain(
      "ssh m used ProxyJump jumper until now (ssh -G); pingknock's ProxyCommand takes its place",
    );
    expect(result.stderr).toContain('ssh m goes through jumper (ProxyJump): the knock is sent from jumper');
    const line = `ProxyCommand pingknock proxy --name m --jump jumper --config ${config} %h %p`;
    expect(readFileSync(config, 'utf8')).toBe(`Host m\n    ${line}\n\nMatch exec "true"\n    ProxyJump jumper\n`);
  });
});

describe('configs pingknock will not touch', () => {
  it.each([
    ['ssh-config cannot parse it', 'Match host\n', ExitCode.io, /cannot be edited safely/],
    [
      'ssh refuses it as it is',
      'Host a\n    NoSuchOption yes\n',
      ExitCode.io,
      /ssh cannot read .* as it is: .*line 2: Bad configuration option: nosuchoption/i,
    ],
    ['it is a folder', undefined, ExitCode.io, /is not a regular file/],
  ])('%s', (_name, text, code, message) => {
    if (text === undefined) mkdirSync(config);
    else writeFileSync(config, text);
    const result = setup(['box', '--yes']);
    expect(result.status, result.stderr).toBe(code);
    expect(result.stderr).toMatch(message);
    expect(existsSync(secretPath('box'))).toBe(false);
    if (text !== undefined) expect(readFileSync(config, 'utf8')).toBe(text);
  });

  it.each([
    [['-oProxyCommand=touch /tmp/x'], /Not enough non-option arguments|Unknown argument/],
    [['--', '-oProxyCommand=x'], /Not enough non-option arguments|starts with "-"/],
    [['web*'], /not a plain ssh host name/],
    [['box', '--hostname', 'a b'], /not a valid host name/],
    [['box', '--user', 'a\nProxyCommand x'], /not a valid user name/],
    [['box', '--port', '70000'], /out of range/],
  ])('refuses %j as usage', (args, message) => {
    writeFileSync(config, '');
    const result = setup([...args, '--yes']);
    expect(result.status, result.stderr).toBe(ExitCode.usage);
    expect(result.stderr).toMatch(message);
    expect(readFileSync(config, 'utf8')).toBe('');
  });
});

describe('the secret', () => {
  it('is kept when one exists, and a badly kept one stops setup before the config is touched', () => {
    mkdirSync(join(home, '.ssh', 'pingknock'), { recursive: true, mode: 0o700 });
    writeFileSync(secretPath('box'), `${SECRET}\n`, { mode: 0o600 });
    const kept = setup(['box', '--yes']);
    expect(kept.status, kept.stderr).toBe(0);
    expect(kept.stderr).toContain('using the existing secret');
    expect(readFileSync(secretPath('box'), 'utf8')).toBe(`${SECRET}\n`);
    expect(kept.stdout).toContain('ping -c 1 -p "$(pingknock pattern --static box)" box');
    expect(kept.stdout).not.toContain(Buffer.from(SECRET).toString('hex'));

    writeFileSync(secretPath('open'), `${SECRET}\n`);
    chmodSync(secretPath('open'), 0o644);
    const before = readFileSync(config);
    const refused = setup(['open', '--yes']);
    expect(refused.status).toBe(ExitCode.secret);
    expect(refused.stderr).toContain('chmod 600');
    expect(readFileSync(config).equals(before)).toBe(true);
  });

  it('comes from --secret-file when given, and is never put over a different one', () => {
    const given = join(dir, 'given.key');
    writeFileSync(given, `${SECRET}\n`, { mode: 0o600 });
    const first = setup(['box', '--secret-file', given, '--yes']);
    expect(first.status, first.stderr).toBe(0);
    expect(readFileSync(secretPath('box'), 'utf8')).toBe(`${SECRET}\n`);
    expect(first.stderr).toContain(`pingknock: installed the secret from ${given} as ${secretPath('box')}\n`);
    expect(first.stderr).not.toContain('new secret');

    const same = setup(['box', '--secret-file', given, '--yes']);
    expect(same.status, same.stderr).toBe(0);
    expect(same.stderr).toContain(`pingknock: kept ${secretPath('box')}: it already holds the secret from ${given}\n`);
    expect(same.stderr).not.toMatch(/new secret|installed/);

    const other = join(dir, 'other.key');
    writeFileSync(other, 'Zyxwvuts98765432\n', { mode: 0o600 });
    const clash = setup(['box', '--secret-file', other, '--yes']);
    expect(clash.status).toBe(ExitCode.secret);
    expect(clash.stderr).toContain('already holds a different secret; not overwriting it');
    expect(readFileSync(secretPath('box'), 'utf8')).toBe(`${SECRET}\n`);
    expect(`${clash.stdout}${clash.stderr}`).not.toContain('Zyxwvuts');
  });

  it('from standard input is installed as such', () => {
    const result = setup(['box', '--secret-file', '-', '--yes'], `${SECRET}\n`);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toContain(`pingknock: installed the secret from standard input as ${secretPath('box')}\n`);
    expect(readFileSync(secretPath('box'), 'utf8')).toBe(`${SECRET}\n`);
  });

  it('reaches stdout only as the knock pattern, and stderr not at all', () => {
    const result = setup(['box', '--hostname', '192.0.2.10', '--port', '2200', '--yes']);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toContain(`pingknock: wrote a new secret to ${secretPath('box')}\n`);
    const secret = readFileSync(secretPath('box'), 'utf8').trim();
    const hex = Buffer.from(secret).toString('hex');
    expect(result.stderr).not.toContain(secret);
    expect(result.stderr).not.toContain(hex);
    expect(result.stdout).not.toContain(secret);
    expect(result.stdout).not.toContain(hex);
    expect(result.stdout).toBe(
      [
        'Next, protect box (192.0.2.10): make its firewall rules here ' +
          'and load them there, from a session you keep open',
        'until a new login works:',
        '  pingknock rules --secret-file ~/.ssh/pingknock/box --port 2200 > pingknock.nft',
        `  scp -F ${config} pingknock.nft box: && ssh -F ${config} box 'sudo nft -f pingknock.nft'`,
        'To knock by hand and connect within 60 s:',
        '  ping -c 1 -p "$(pingknock pattern --static box)" 192.0.2.10',
        `  ssh -F ${config} -o ProxyCommand=none box`,
        'Without pingknock at hand, the README (Quick start) turns the secret file into the pattern with od.',
        '',
      ].join('\n'),
    );
  });
});

describe('asking', () => {
  it('never happens without a terminal, even without --yes', () => {
    const result = setup(['box']);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).not.toContain('[Y/n]');
    expect(readFileSync(config, 'utf8')).toContain(proxyLine('box'));
  });

  // script(1) runs the command with $SHELL; `exec` makes setup the terminal's only foreground
  // process, so Ctrl-C reaches setup alone and script's exit status is setup's, whatever the shell.
  const terminalEnv = () => ({ ...process.env, HOME: home, SHELL: '/bin/sh' });

  /** setup on a terminal (script(1) gives it one), answering `answer`. */
  function onTerminal(extra: string, answer: string): { status: number | null; output: string } {
    const command = `exec ${process.execPath} ${BIN} setup box --config ${config}${extra}`;
    const result = spawnSync('script', ['-qec', command, '/dev/null'], {
      env: terminalEnv(),
      input: answer,
      encoding: 'utf8',
      timeout: 30_000,
    });
    if (result.error !== undefined) throw result.error;
    return { status: result.status, output: result.stdout };
  }

  it('shows the lines on a terminal and writes nothing when the answer is no', () => {
    writeFileSync(config, 'Host web\n    User www\n');
    const result = onTerminal('', 'n\n');
    expect(result.status, result.output).toBe(0);
    expect(result.output).toContain('Host box');
    expect(result.output).toContain('[Y/n]');
    expect(result.output).toContain('unchanged');
    expect(readFileSync(config, 'utf8')).toBe('Host web\n    User www\n');
    expect(existsSync(secretPath('box'))).toBe(false);
  });

  /** setup on a terminal; `key` is typed once the question is on screen. */
  async function keyAtQuestion(key: string): Promise<{ status: number | null; output: string }> {
    const command = `exec ${process.execPath} ${BIN} setup box --config ${config}`;
    const child = spawn('script', ['-qec', command, '/dev/null'], {
      env: terminalEnv(),
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    let output = '';
    let typed = false;
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      output += text;
      if (!typed && output.includes('[Y/n]')) {
        typed = true;
        child.stdin.write(key);
      }
    });
    const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
    return { status, output };
  }

  it('stops on Ctrl-C at the question with exit 130, having written nothing', async () => {
    writeFileSync(config, 'Host web\n    User www\n');
    const result = await keyAtQuestion('\u0003');
    expect(result.status, result.output).toBe(130);
    expect(readFileSync(config, 'utf8')).toBe('Host web\n    User www\n');
    expect(existsSync(secretPath('box'))).toBe(false);
  });

  it('takes the end of input (Ctrl-D) at the question as a no', async () => {
    writeFileSync(config, 'Host web\n    User www\n');
    const result = await keyAtQuestion('\u0004');
    expect(result.status, result.output).toBe(0);
    expect(result.output).toMatch(/left .* unchanged/);
    expect(readFileSync(config, 'utf8')).toBe('Host web\n    User www\n');
  });

  it('writes them when the answer is yes, and --yes does not ask', () => {
    writeFileSync(config, '');
    expect(onTerminal('', 'y\n').status).toBe(0);
    expect(readFileSync(config, 'utf8')).toContain(proxyLine('box'));
    writeFileSync(config, '');
    const unasked = onTerminal(' --yes', '');
    expect(unasked.status, unasked.output).toBe(0);
    expect(unasked.output).not.toContain('[Y/n]');
    expect(readFileSync(config, 'utf8')).toContain(proxyLine('box'));
  });
});
