import { parseArgs, type ParseArgsConfig } from 'node:util';
import { PingknockError } from './errors.js';
import { parseJump, type JumpProxy } from './jump.js';
import { parseIsoDate, STATIC_MODE, type KnockMode } from './rolling.js';
import { parsePort, printable } from './target.js';

/**
 * Option definitions as plain data, so that yargs (for every command and for --help) and the
 * proxy's own start-up path (node:util parseArgs, which loads in a fraction of yargs' time) read
 * the same definitions.
 */
export interface OptionSpec {
  readonly type: 'string' | 'number' | 'boolean';
  readonly describe: string;
  readonly default?: number | boolean;
  readonly requiresArg?: boolean;
}

/** Options every command that needs the secret accepts, in the order they are consulted. */
export const SECRET_OPTIONS = {
  'secret-file': { type: 'string', describe: 'file holding the secret (- reads standard input)', requiresArg: true },
  name: {
    type: 'string',
    describe: 'ssh host alias whose secret is ~/.ssh/pingknock/NAME; defaults to the host',
    requiresArg: true,
  },
} as const satisfies Record<string, OptionSpec>;

/** How long a knock and then the connection may take: the proxy's waits, which doctor repeats. */
export const WAIT_OPTIONS = {
  deadline: {
    type: 'number',
    default: 3,
    describe: 'seconds to keep knocking until an echo reply comes',
    requiresArg: true,
  },
  'connect-timeout': {
    type: 'number',
    default: 5,
    describe: 'seconds to wait for the port once the knock was answered',
    requiresArg: true,
  },
} as const satisfies Record<string, OptionSpec>;

export const KNOCK_OPTIONS = {
  ...SECRET_OPTIONS,
  deadline: WAIT_OPTIONS.deadline,
  verbose: { type: 'boolean', default: false, describe: 'report each step on stderr' },
} as const satisfies Record<string, OptionSpec>;

export const PROXY_OPTIONS = {
  ...KNOCK_OPTIONS,
  'secret-file': {
    ...SECRET_OPTIONS['secret-file'],
    describe: 'file holding the secret (not -: standard input is the ssh stream)',
  },
  'connect-timeout': WAIT_OPTIONS['connect-timeout'],
  'rolling-until': {
    type: 'string',
    describe:
      "knock with one-time patterns, which the server's rules hold through this UTC day (YYYY-MM-DD); setup writes it",
    requiresArg: true,
  },
  fdpass: {
    type: 'boolean',
    default: false,
    describe:
      'hand ssh the connected socket and exit (ssh -o ProxyUseFdpass=yes); ' +
      'relays as without it when standard output is not such a socket',
  },
  jump: {
    type: 'string',
    describe:
      'knock from this jump host with its own ping, over ssh, then go through it with ssh -W ' +
      '(ProxyJump syntax: [user@]host[:port], hops joined by commas; the last one knocks); setup writes it',
    requiresArg: true,
  },
  config: {
    type: 'string',
    describe: 'with --jump: the ssh config the jump host is reached with (ssh -F); setup writes it',
    requiresArg: true,
  },
} as const satisfies Record<string, OptionSpec>;

const MAX_SECONDS = 3600;

/**
 * Seconds from the command line as milliseconds, refusing what no clock can wait for. The proxy
 * turns its text into a number with Number(), as yargs does for a number option, so every
 * command reads the same text as the same seconds.
 */
export function secondsOption(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0 || value > MAX_SECONDS) {
    throw new PingknockError('usage', `--${name} must be a number of seconds above 0 and at most ${MAX_SECONDS}`);
  }
  return Math.round(value * 1000);
}

/** `--rolling-until DATE` as the knock mode it records: one-time patterns through that UTC day. */
export function rollingUntilOption(text: string): KnockMode {
  const lastDay = parseIsoDate(text);
  if (lastDay === undefined) {
    throw new PingknockError(
      'usage',
      `--rolling-until takes the last UTC day of one-time knocks as YYYY-MM-DD, got "${printable(text)}"`,
    );
  }
  return { kind: 'rolling', lastDay };
}

/** What `pingknock proxy` was asked to do, all of it checked but the host. */
export interface ProxyRequest {
  /** As given: knock() checks it, and without --name the secret's file is named after it. */
  readonly host: string;
  readonly port: number;
  readonly secretFile: string | undefined;
  readonly name: string | undefined;
  readonly deadlineMs: number;
  readonly connectTimeoutMs: number;
  readonly verbose: boolean;
  /** Static unless --rolling-until is given. */
  readonly mode: KnockMode;
  /** --fdpass: pass the socket to ssh when it asked for one (ProxyUseFdpass), relay otherwise. */
  readonly fdpass: boolean;
  /** --jump (and --config): knock from that jump host and go through it; undefined: knock from here. */
  readonly jump: JumpProxy | undefined;
}

const PARSE_OPTIONS: NonNullable<ParseArgsConfig['options']> = Object.fromEntries(
  Object.entries(PROXY_OPTIONS).map(([name, spec]) => [name, { type: spec.type === 'boolean' ? 'boolean' : 'string' }]),
);

/**
 * The proxy's arguments (what follows the word `proxy`), for both of its starts: the launcher's
 * fast path and the full command line. Options are spelled as PROXY_OPTIONS names them (no
 * camelCase twins), `--opt VALUE` or `--opt=VALUE`, and `--no-verbose`; an option given twice
 * counts with its last value, as both starts read it before they shared this parser; `--` ends
 * the options; then exactly HOST and PORT.
 */
export function parseProxyArguments(args: readonly string[]): ProxyRequest {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      options: PARSE_OPTIONS,
      allowPositionals: true,
      allowNegative: true,
      strict: true,
    });
  } catch (error) {
    throw new PingknockError('usage', `${(error as Error).message} (see: pingknock proxy --help)`);
  }
  const { values, positionals } = parsed;
  const [host, port, ...extra] = positionals;
  if (host === undefined || port === undefined || extra.length > 0) {
    throw new PingknockError(
      'usage',
      `proxy takes HOST and PORT, got ${positionals.length} arguments (see: pingknock proxy --help)`,
    );
  }
  const text = (name: keyof typeof PROXY_OPTIONS): string | undefined => {
    const value = values[name];
    return typeof value === 'string' ? value : undefined;
  };
  const seconds = (name: keyof typeof WAIT_OPTIONS): number =>
    secondsOption(name, Number(text(name) ?? PROXY_OPTIONS[name].default));
  const secretFile = text('secret-file');
  const rollingUntil = text('rolling-until');
  if (secretFile === '-') {
    throw new PingknockError('usage', 'proxy cannot read the secret from standard input: that is the ssh stream');
  }
  const jump = text('jump');
  const config = text('config');
  if (jump === undefined && config !== undefined) {
    throw new PingknockError('usage', '--config goes with --jump: it is the ssh config the jump host is reached with');
  }
  if (jump !== undefined && values.fdpass === true) {
    throw new PingknockError('usage', '--fdpass cannot go with --jump: ssh -W carries the session, not a socket');
  }
  return {
    host,
    port: parsePort(port),
    secretFile,
    name: text('name'),
    deadlineMs: seconds('deadline'),
    connectTimeoutMs: seconds('connect-timeout'),
    verbose: values.verbose === true,
    mode: rollingUntil === undefined ? STATIC_MODE : rollingUntilOption(rollingUntil),
    fdpass: values.fdpass === true,
    jump: jump === undefined ? undefined : { route: parseJump(jump), config },
  };
}

/**
 * Whether the proxy's arguments ask for the help or the version, which yargs gives. The launcher
 * sends every command line with --help, -h or --version anywhere to the full command line, which
 * then runs the proxy unless one of them comes before `--`.
 */
export function asksForHelp(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).some(
    (arg) => arg === '--help' || arg === '-h' || arg === '--version',
  );
}
