import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/core/errors.js';
import { pingknock, recordingPing, ROOT } from '../support/cli.js';

/**
 * Bad input, as ssh or a user can hand it to pingknock: each row must end with a clear one-line
 * message on stderr, its own exit code, nothing on stdout, no stack trace, no secret, and no
 * `ping` run. The README's exit code table documents the codes asserted here.
 */

/** A valid, distinctive secret: rows that are not about the secret use it, so only the row's fault is wrong. */
const GOOD = 'Zq7vXw2LmGp9RtYb';

interface Context {
  readonly home: string;
  /** Where the row's secret file is (or is not, or is a folder). */
  readonly secretFile: string;
}

type SecretFileSetup =
  | { readonly kind: 'file'; readonly content: string | Buffer; readonly mode?: number }
  | { readonly kind: 'directory' }
  | { readonly kind: 'missing' };

interface Row {
  readonly name: string;
  readonly argv: (context: Context) => readonly string[];
  /** The secret file at `context.secretFile`; a valid 0600 file when not given. */
  readonly secretFile?: SecretFileSetup;
  /** Extra environment; PINGKNOCK_SECRET is unset unless given here. */
  readonly env?: Readonly<Record<string, string>>;
  /** Looks a name up: run offline (CliOptions.offline), so the query stays on this machine. */
  readonly offline?: true;
  /** `fake-ping`: a recording `ping` first on PATH (the default). `no-ping`: PATH holds only `node`. */
  readonly path?: 'fake-ping' | 'no-ping';
  readonly exit: number;
  readonly stderr: RegExp;
}

const proxy =
  (...rest: string[]) =>
  (context: Context) => ['proxy', '--secret-file', context.secretFile, ...rest];
const knock =
  (...rest: string[]) =>
  (context: Context) => ['knock', '--secret-file', context.secretFile, ...rest];
const secretFile = (content: string | Buffer, mode = 0o600): SecretFileSetup => ({ kind: 'file', content, mode });

const ROWS: readonly Row[] = [
  // Hosts: never an option, never a shell word, never empty.
  {
    name: 'host -oProxyCommand=x after --',
    argv: proxy('--', '-oProxyCommand=x', '22'),
    exit: ExitCode.usage,
    stderr: /host "-oProxyCommand=x" starts with "-"/,
  },
  {
    name: 'host -oProxyCommand=x bracketed',
    argv: proxy('[-oProxyCommand=x]', '22'),
    exit: ExitCode.usage,
    stderr: /starts with "-"/,
  },
  {
    name: 'host -oProxyCommand=x without --',
    argv: proxy('-oProxyCommand=x', '22'),
    exit: ExitCode.usage,
    stderr: /unknown (option|argument)/i,
  },
  {
    name: 'knock host -oProxyCommand=x after --',
    argv: knock('--', '-oProxyCommand=x'),
    exit: ExitCode.usage,
    stderr: /nothing after "--" is read, and a host never starts with "-"/,
  },
  {
    name: 'knock host -oProxyCommand=x bracketed',
    argv: knock('[-oProxyCommand=x]'),
    exit: ExitCode.usage,
    stderr: /starts with "-"/,
  },
  { name: 'host "-" after --', argv: proxy('--', '-', '22'), exit: ExitCode.usage, stderr: /starts with "-"/ },
  { name: 'empty host', argv: proxy('', '22'), exit: ExitCode.usage, stderr: /host is empty/ },
  { name: 'empty bracketed host', argv: proxy('[]', '22'), exit: ExitCode.usage, stderr: /host is empty/ },
  {
    name: 'host with a space',
    argv: proxy('my host', '22'),
    exit: ExitCode.usage,
    stderr: /host "my host" is not a valid host name/,
  },
  { name: 'host with a semicolon', argv: proxy('a;b', '22'), exit: ExitCode.usage, stderr: /not a valid host name/ },
  {
    name: 'host with $(command)',
    argv: (c) => ['proxy', '--secret-file', c.secretFile, `$(touch ${join(c.home, 'pwned')})`, '22'],
    exit: ExitCode.usage,
    stderr: /not a valid host name/,
  },
  {
    name: 'host with backquotes',
    argv: (c) => ['proxy', '--secret-file', c.secretFile, `\`touch ${join(c.home, 'pwned')}\``, '22'],
    exit: ExitCode.usage,
    stderr: /not a valid host name/,
  },
  {
    name: 'host with a pipe and &&',
    argv: proxy('a|b&&c', '22'),
    exit: ExitCode.usage,
    stderr: /not a valid host name/,
  },
  {
    name: 'host with a newline',
    argv: proxy('good.example\n-oProxyCommand=x', '22'),
    exit: ExitCode.usage,
    stderr: /not a valid host name/,
  },
  {
    name: 'unresolvable name',
    argv: proxy('no-such-host.invalid', '22'),
    offline: true,
    exit: ExitCode.resolve,
    stderr: /cannot resolve host "no-such-host\.invalid"/,
  },
  {
    name: 'knock an unresolvable name',
    argv: knock('no-such-host.invalid'),
    offline: true,
    exit: ExitCode.resolve,
    stderr: /cannot resolve host "no-such-host\.invalid"/,
  },
  // Ports: numbers from 1 to 65535 only.
  { name: 'port 0', argv: proxy('127.0.0.1', '0'), exit: ExitCode.usage, stderr: /port 0 is out of range 1-65535/ },
  {
    name: 'port 70000',
    argv: proxy('127.0.0.1', '70000'),
    exit: ExitCode.usage,
    stderr: /port 70000 is out of range 1-65535/,
  },
  {
    name: 'port ssh',
    argv: proxy('127.0.0.1', 'ssh'),
    exit: ExitCode.usage,
    stderr: /port "ssh" is not a number from 1 to 65535/,
  },
  // Options.
  {
    name: 'an unknown option',
    argv: proxy('--bogus', '127.0.0.1', '22'),
    exit: ExitCode.usage,
    stderr: /unknown (option|argument).*bogus/i,
  },
  // A client that does not expand ssh's %n (paramiko, Fabric) hands it over literally.
  {
    name: 'literal %n as the name',
    argv: () => ['proxy', '--name', '%n', '192.0.2.1', '22'],
    exit: ExitCode.usage,
    stderr: /literal "%n": this client does not expand ssh's %n .*pingknock setup ALIAS/,
  },
  {
    name: 'a name that cannot be a file name',
    argv: () => ['proxy', '--name', '../x', '192.0.2.1', '22'],
    exit: ExitCode.usage,
    stderr: /name "\.\.\/x" cannot name a secret file/,
  },
  // Secrets: missing, too open, malformed; never echoed.
  {
    name: 'missing secret file',
    argv: proxy('127.0.0.1', '22'),
    secretFile: { kind: 'missing' },
    exit: ExitCode.secret,
    stderr: /no secret file .*secret\.key/,
  },
  {
    name: 'no secret at all',
    argv: () => ['proxy', '127.0.0.1', '22'],
    exit: ExitCode.secret,
    stderr: /no secret file .*\.ssh\/pingknock\/127\.0\.0\.1/,
  },
  {
    name: 'secret file mode 0644',
    argv: proxy('127.0.0.1', '22'),
    secretFile: secretFile(`${GOOD}\n`, 0o644),
    exit: ExitCode.secret,
    stderr: /permissions 0644.*chmod 600/,
  },
  {
    name: 'secret of 15 characters',
    argv: proxy('127.0.0.1', '22'),
    secretFile: secretFile('Wd3kQ9zTxL2vNc8\n'),
    exit: ExitCode.secret,
    stderr: /has 15 characters; a secret has exactly 16/,
  },
  {
    name: 'secret of 17 characters',
    argv: proxy('127.0.0.1', '22'),
    secretFile: secretFile('Wd3kQ9zTxL2vNc8Hy\n'),
    exit: ExitCode.secret,
    stderr: /has 17 characters; a secret has exactly 16/,
  },
  {
    name: 'secret with a symbol outside the alphabet',
    argv: proxy('127.0.0.1', '22'),
    secretFile: secretFile('Wd3kQ9zTxL2v+c8H\n'),
    exit: ExitCode.secret,
    stderr: /outside A-Z a-z 0-9 - _/,
  },
  {
    name: 'secret file that is a directory',
    argv: proxy('127.0.0.1', '22'),
    secretFile: { kind: 'directory' },
    exit: ExitCode.secret,
    stderr: /is a directory/,
  },
  {
    name: 'secret file with non-UTF-8 bytes',
    argv: proxy('127.0.0.1', '22'),
    secretFile: secretFile(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('WdkQzTxLvNcHyR')])),
    exit: ExitCode.secret,
    stderr: /outside A-Z a-z 0-9 - _/,
  },
  {
    name: 'PINGKNOCK_SECRET of 15 characters',
    argv: () => ['proxy', '127.0.0.1', '22'],
    env: { PINGKNOCK_SECRET: 'Wd3kQ9zTxL2vNc8' },
    exit: ExitCode.secret,
    stderr: /PINGKNOCK_SECRET has 15 characters/,
  },
  {
    name: 'PINGKNOCK_SECRET with a symbol',
    argv: () => ['proxy', '127.0.0.1', '22'],
    env: { PINGKNOCK_SECRET: 'Wd3kQ9zTxL2v c8H' },
    exit: ExitCode.secret,
    stderr: /PINGKNOCK_SECRET contains a character outside/,
  },
  // The system: no ping to knock with.
  {
    name: 'missing ping binary',
    argv: proxy('127.0.0.1', '22'),
    path: 'no-ping',
    exit: ExitCode.pingUnavailable,
    stderr: /ping not found.*iputils-ping/,
  },
  {
    name: 'knock with a missing ping binary',
    argv: knock('127.0.0.1'),
    path: 'no-ping',
    exit: ExitCode.pingUnavailable,
    stderr: /ping not found.*iputils-ping/,
  },
];

let home: string;
let fakeBin: string;
let noPingBin: string;
let pingLog: string;

beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'pingknock-bad-input-'));
  // A `ping` that only records its arguments: no row may get as far as running it.
  ({ bin: fakeBin, log: pingLog } = recordingPing(home));
  // A PATH with node and nothing else: no ping, no shell.
  noPingBin = join(home, 'no-ping-bin');
  mkdirSync(noPingBin);
  symlinkSync(process.execPath, join(noPingBin, 'node'));
});

afterEach(() => {
  rmSync(home, { recursive: true, force: true });
});

function prepareSecretFile(path: string, setup: SecretFileSetup): void {
  switch (setup.kind) {
    case 'file':
      writeFileSync(path, setup.content, { mode: setup.mode ?? 0o600 });
      chmodSync(path, setup.mode ?? 0o600);
      return;
    case 'directory':
      mkdirSync(path, { mode: 0o700 });
      return;
    case 'missing':
      return;
  }
}

/** The secret text a row handed over (file or environment), for the leak check. */
function secretsOf(row: Row): string[] {
  const setup = row.secretFile ?? secretFile(`${GOOD}\n`);
  const secrets: string[] = [];
  if (setup.kind === 'file') {
    const text = Buffer.from(setup.content).toString('latin1').replace(/\n$/, '');
    // Only the printable part: the non-UTF-8 row's 0xff 0xfe are not text anyone could leak as such.
    secrets.push(text.replace(/[^\x20-\x7e]/g, ''));
  }
  if (row.env?.PINGKNOCK_SECRET !== undefined) secrets.push(row.env.PINGKNOCK_SECRET);
  return secrets;
}

/** Neither the secret nor any 6-character piece of it, nor its hex (the ping pattern) or any 12-digit piece of that. */
function expectNoLeak(output: string, secret: string): void {
  const hex = Buffer.from(secret, 'latin1').toString('hex');
  const lower = output.toLowerCase();
  for (let start = 0; start + 6 <= secret.length; start++) {
    expect(output, 'a piece of the secret leaked').not.toContain(secret.slice(start, start + 6));
  }
  for (let start = 0; start + 12 <= hex.length; start += 2) {
    expect(lower, 'a piece of the secret in hex leaked').not.toContain(hex.slice(start, start + 12));
  }
}

describe('bad input: a message, an exit code, nothing on stdout, no ping', () => {
  it('covers every exit class the issue lists', () => {
    expect(new Set(ROWS.map((row) => row.exit))).toEqual(
      new Set([ExitCode.usage, ExitCode.secret, ExitCode.resolve, ExitCode.pingUnavailable]),
    );
  });

  it('the README documents every exit code', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    for (const code of Object.values(ExitCode)) {
      expect(readme, `exit code ${code}`).toMatch(new RegExp(`^\\| ${code} \\| \\S`, 'm'));
    }
  });

  it.each(ROWS)('$name -> exit $exit', (row) => {
    const context: Context = { home, secretFile: join(home, 'secret.key') };
    prepareSecretFile(context.secretFile, row.secretFile ?? secretFile(`${GOOD}\n`));
    const path = row.path === 'no-ping' ? noPingBin : `${fakeBin}:${process.env.PATH ?? '/usr/bin:/bin'}`;
    // No terminal anywhere: no spinner may write to stderr.
    const result = pingknock(row.argv(context), {
      home,
      env: { PATH: path, TERM: undefined, ...row.env },
      offline: row.offline === true,
    });

    expect({ exit: result.status, stdout: result.stdout }).toEqual({ exit: row.exit, stdout: '' });
    // One line, ours, no stack trace.
    expect(result.stderr).toMatch(/^pingknock: \S[^\n]*\n$/);
    expect(result.stderr).not.toMatch(/^\s+at /m);
    expect(result.stderr).toMatch(row.stderr);
    for (const secret of secretsOf(row)) expectNoLeak(result.stdout + result.stderr, secret);
    // Nothing ran: not ping (whatever its arguments), not a command smuggled into the host.
    const pingArgv = existsSync(pingLog) ? readFileSync(pingLog, 'utf8') : undefined;
    expect(pingArgv, 'ping was started').toBeUndefined();
    expect(existsSync(join(home, 'pwned')), 'a command in the host ran').toBe(false);
  });
});
