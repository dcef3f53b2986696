import { formatSeconds } from './duration.js';
import { PingknockError } from './errors.js';
import { KNOCK_INTERVAL_SECONDS, unreachableReason } from './ping-command.js';
import { shellQuote } from './shell.js';
import { parseSshUser } from './ssh-config/names.js';
import { parseHost, parsePort, printable } from './target.js';

/**
 * Knocking through a jump host (ssh's ProxyJump): the knock leaves from the last hop, sent by
 * that host's own `ping` over ssh, and the session is carried by `ssh -W` through it, as
 * ProxyJump carries it. Neither pingknock nor the secret is ever on the jump host: it gets the
 * pattern of the knock alone. Here what is decided without I/O: the route, the ssh command lines,
 * the remote command and what its exit means.
 */

/** One hop as ProxyJump writes it: `[user@]host[:port]`, or `ssh://[user@]host[:port]`. */
export interface JumpHop {
  /** As written, for `ssh -J`. */
  readonly text: string;
  readonly user: string | undefined;
  readonly host: string;
  readonly port: number | undefined;
}

/** A ProxyJump value: its hops in order; the last one knocks. */
export interface JumpRoute {
  readonly text: string;
  readonly hops: readonly [JumpHop, ...JumpHop[]];
}

/** The jump host a ProxyCommand knocks from, and the ssh config it is reached with (ssh -F), if not ssh's own. */
export interface JumpProxy {
  readonly route: JumpRoute;
  readonly config: string | undefined;
}

/**
 * Reads a ProxyJump value, refusing what ssh would not read as hops, and whatever a shell or ssh's
 * %-expansion would change once the route is written into a ProxyCommand.
 */
export function parseJump(text: string): JumpRoute {
  if (text.toLowerCase() === 'none') {
    throw new PingknockError('usage', 'ProxyJump none names no jump host');
  }
  if (!/^[A-Za-z0-9._@:,[\]/-]+$/.test(text)) {
    throw new PingknockError(
      'usage',
      `jump host "${printable(text)}" is not a ProxyJump route: [user@]host[:port], hops joined by commas`,
    );
  }
  const hops = text.split(',').map(parseHop);
  const [first, ...others] = hops;
  if (first === undefined) throw new PingknockError('usage', 'the jump route is empty');
  return { text, hops: [first, ...others] };
}

function parseHop(text: string): JumpHop {
  const bad = (why: string): PingknockError =>
    new PingknockError('usage', `jump host "${printable(text)}" ${why} (ProxyJump: [user@]host[:port])`);
  const rest = text.startsWith('ssh://') ? text.slice('ssh://'.length) : text;
  if (rest.includes('/')) throw bad('has a path');
  const at = rest.lastIndexOf('@');
  const user = at === -1 ? undefined : rest.slice(0, at);
  const place = rest.slice(at + 1);
  let host: string;
  let port: string | undefined;
  if (place.startsWith('[')) {
    const close = place.indexOf(']');
    if (close === -1) throw bad('opens a [ it does not close');
    host = place.slice(1, close);
    const after = place.slice(close + 1);
    if (after !== '' && !after.startsWith(':')) throw bad('has something after its ]');
    port = after === '' ? undefined : after.slice(1);
  } else {
    const parts = place.split(':');
    if (parts.length > 2) throw bad('is an IPv6 address without [ ]');
    [host = '', port] = parts;
  }
  try {
    return {
      text,
      user: user === undefined ? undefined : parseSshUser(user),
      host: parseHost(host),
      port: port === undefined ? undefined : parsePort(port),
    };
  } catch (error) {
    if (error instanceof PingknockError) throw bad(`is not valid: ${error.message}`);
    throw error;
  }
}

/** The host that knocks, as messages name it. */
export function knockingHop(route: JumpRoute): JumpHop {
  return route.hops[route.hops.length - 1] ?? route.hops[0];
}

/**
 * A path written into a ProxyCommand, which sh reads after ssh expanded its %-tokens: only what
 * neither of them changes. Absolute, since ssh runs the ProxyCommand wherever it was started.
 */
export function checkedJumpConfig(path: string): string {
  if (!/^\/[A-Za-z0-9._/+=,@:-]*$/.test(path)) {
    throw new PingknockError(
      'usage',
      `the ssh config path "${printable(path)}" cannot be written into a ProxyCommand as it is ` +
        '(a space, quote, % or other character sh or ssh would change): use a plainer path, or ~/.ssh/config',
    );
  }
  return path;
}

/** What goes after `pingknock proxy --name ALIAS` in the ProxyCommand of a host knocked from a jump host. */
export function jumpProxyWords(jump: JumpProxy): string {
  return `--jump ${jump.route.text}${jump.config === undefined ? '' : ` --config ${jump.config}`}`;
}

/** How ssh reaches a host: its options, then its destination (after `--`). */
export interface SshRoute {
  readonly options: readonly string[];
  readonly destination: string;
}

/**
 * The knocking hop as ProxyJump itself reaches it: `-l` and `-p` of the last hop, the earlier
 * hops as `-J`, the config as `-F`.
 */
export function jumpRoute(jump: JumpProxy): SshRoute {
  const { hops } = jump.route;
  const last = knockingHop(jump.route);
  const earlier = hops
    .slice(0, -1)
    .map((hop) => hop.text)
    .join(',');
  return {
    options: [
      ...(jump.config === undefined ? [] : ['-F', jump.config]),
      ...(last.user === undefined ? [] : ['-l', last.user]),
      ...(last.port === undefined ? [] : ['-p', String(last.port)]),
      ...(earlier === '' ? [] : ['-J', earlier]),
    ],
    destination: last.host,
  };
}

/** ssh along `route` with `options` added, running `command` there if given. */
export function routeArgs(route: SshRoute, options: readonly string[], command?: string): string[] {
  return [...route.options, ...options, '--', route.destination, ...(command === undefined ? [] : [command])];
}

/** Exit status of the remote command when the jump host's ping cannot knock (missing, or not iputils). */
export const REMOTE_PING_UNFIT = 126;

export interface RemoteKnock {
  /** ssh's %h for the protected host: as the jump host will resolve it. */
  readonly host: string;
  readonly patternHex: string;
  readonly deadlineMs: number;
}

/**
 * The command the jump host's shell runs: its own iputils ping, resent every interval until the
 * first reply or the deadline (as the local knock), or exit REMOTE_PING_UNFIT when its ping is
 * not iputils (BusyBox's `-p` takes one byte: its knock would be answered and open nothing).
 * Every word is quoted for that shell; ssh hands the remote side one string.
 */
export function remoteKnockCommand(knock: RemoteKnock): string {
  const host = parseHost(knock.host);
  if (!/^[0-9a-f]{32}$/.test(knock.patternHex)) throw new Error('a knock pattern is 32 hex digits');
  const seconds = Math.max(1, Math.ceil(knock.deadlineMs / 1000));
  const ping = ['ping', '-n', '-c', '1', '-i', String(KNOCK_INTERVAL_SECONDS), '-w', String(seconds)];
  const words = [...ping, '-p', knock.patternHex, '--', host].map(shellQuote).join(' ');
  return (
    `case "$(ping -V 2>&1)" in *iputils*) ;; *) echo 'ping here is not iputils ping' >&2; ` +
    `exit ${REMOTE_PING_UNFIT};; esac; exec ${words}`
  );
}

/** No terminal, none of the user's RemoteCommand or forwardings for the jump host: they would clash with a command. */
export const JUMP_SESSION_OPTIONS = ['-T', '-o', 'RemoteCommand=none', '-o', 'ClearAllForwardings=yes'] as const;

/** ssh to the knocking hop with `options`, running `command` there if given. */
export function jumpSshArgs(jump: JumpProxy, options: readonly string[], command?: string): string[] {
  return routeArgs(jumpRoute(jump), options, command);
}

/** The knock, run on the knocking hop. ssh's stdin must be the null device: the proxy's is the ssh stream. */
export function knockSshArgs(jump: JumpProxy, knock: RemoteKnock): string[] {
  return jumpSshArgs(jump, JUMP_SESSION_OPTIONS, remoteKnockCommand(knock));
}

/** `ssh -W`, as ProxyJump runs it: carries the session to HOST:PORT through the knocking hop. */
export function carrySshArgs(jump: JumpProxy, host: string, port: number): string[] {
  return jumpSshArgs(jump, ['-W', `[${parseHost(host)}]:${port}`]);
}

export interface RemoteKnockResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

const NAME_ERROR = /Name or service not known|Temporary failure in name resolution|No address associated|unknown host/i;

/**
 * What the knock from the jump host came to: undefined when answered, else the failure as the
 * local knock would name it. ping's output echoes the pattern: only lines naming a failure are
 * quoted, the pattern in them replaced.
 */
export function remoteKnockFailure(
  result: RemoteKnockResult,
  jump: JumpProxy,
  knock: RemoteKnock,
): PingknockError | undefined {
  if (result.code === 0) return undefined;
  const bastion = knockingHop(jump.route).host;
  const hide = (text: string): string => text.replaceAll(knock.patternHex, '<pattern>');
  const stdout = hide(result.stdout);
  const stderr = hide(result.stderr);
  const lines = stderr
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  const said = lines.slice(-3).map((line) => printable(line, 200));
  if (result.code === 255 || result.code === null) {
    return new PingknockError(
      'server',
      `cannot reach the jump host ${bastion} over ssh to knock from it: ${said.join('; ') || `exit ${result.code}`}`,
    );
  }
  if (result.code === REMOTE_PING_UNFIT || result.code === 127) {
    return new PingknockError(
      'pingUnavailable',
      `the jump host ${bastion} cannot knock: its ping is missing or not iputils ping ` +
        `(${said.join('; ') || `exit ${result.code}`}); install iputils ping there (Debian/Ubuntu: ` +
        'apt-get install iputils-ping; Alpine: apk add iputils)',
    );
  }
  const unreachable = unreachableReason(stdout, stderr);
  if (unreachable !== undefined) {
    return new PingknockError('unreachable', `${knock.host} is unreachable from ${bastion} (${unreachable})`);
  }
  const nameError = lines.find((line) => NAME_ERROR.test(line));
  if (nameError !== undefined) {
    return new PingknockError('resolve', `${bastion} cannot resolve ${knock.host}: ${printable(nameError, 200)}`);
  }
  if (result.code === 2 && said.length > 0) {
    return new PingknockError('noReply', `the knock from ${bastion} to ${knock.host} failed: ${said.join('; ')}`);
  }
  return new PingknockError(
    'noReply',
    `no echo reply from ${knock.host} to the knock from ${bastion} within ${formatSeconds(knock.deadlineMs)}: ` +
      "host down, ICMP blocked on the way, or the server's rules drop the knock",
  );
}

/**
 * A ProxyCommand written by hand that runs pingknock on another host, with the secret kept there:
 * `ssh [OPTIONS] HOST pingknock proxy ... %h %p`. Doctor proves it through that host rather than
 * calling it a config that does not knock.
 */
export interface RemotePingknock {
  /** ssh's way to the host pingknock runs on. */
  readonly route: SshRoute;
  /** The remote command's words, `%h` and `%p` still in them. */
  readonly remote: readonly string[];
}

/** ssh's options that take a value, and those that take none, as a hand-written ProxyCommand may give them. */
const SSH_VALUE_OPTIONS = new Set('bcEFiJlmopS');
const SSH_FLAGS = new Set('46AaCkKnqTtxYy');

export function readRemotePingknock(value: string): RemotePingknock | undefined {
  const words = value.trim().split(/\s+/);
  const comment = words.findIndex((word) => word.startsWith('#'));
  const [program, ...rest] = comment === -1 ? words : words.slice(0, comment);
  // Only plain words: what a shell would change is not read.
  if (program === undefined || !(program === 'ssh' || program.endsWith('/ssh'))) return undefined;
  if (rest.some((word) => !/^[A-Za-z0-9._@:,[\]/%=+-]+$/.test(word))) return undefined;
  const options: string[] = [];
  let at = 0;
  for (; at < rest.length; at += 1) {
    const word = rest[at] ?? '';
    if (word === '--') {
      at += 1;
      break;
    }
    if (!word.startsWith('-')) break;
    const letters = word.slice(1);
    const first = letters[0] ?? '';
    if (SSH_VALUE_OPTIONS.has(first)) {
      if (letters.length > 1) options.push(word);
      else {
        const given = rest[at + 1];
        if (given === undefined) return undefined;
        options.push(word, given);
        at += 1;
      }
    } else if (letters !== '' && [...letters].every((letter) => SSH_FLAGS.has(letter))) {
      options.push(word);
    } else {
      return undefined;
    }
  }
  const [destination, pingknock, command, ...remote] = rest.slice(at);
  if (destination === undefined || destination.startsWith('-') || destination.includes('%')) return undefined;
  if (pingknock === undefined || !(pingknock === 'pingknock' || pingknock.endsWith('/pingknock'))) return undefined;
  if (command !== 'proxy' || remote.slice(-2).join(' ') !== '%h %p') return undefined;
  if (remote.slice(0, -2).some((word) => word.includes('%'))) return undefined;
  return { route: { options, destination }, remote: [pingknock, command, ...remote] };
}

/** The remote command of a hand-written ProxyCommand for one connection: %h and %p given, as ssh would. */
export function remotePingknockCommand(found: RemotePingknock, host: string, port: number): string {
  const checked = parseHost(host);
  return found.remote.map((word) => (word === '%h' ? checked : word === '%p' ? String(port) : word)).join(' ');
}
