import { PingknockError } from './errors.js';
import { parseSshUser } from './ssh-config/names.js';
import { parseHost, parsePort, printable } from './target.js';

/**
 * Knocking through a jump host (ssh's ProxyJump): the route. The knock leaves from the last hop
 * (jump-knock.ts) and the session is carried by `ssh -W` through it, as ProxyJump carries it.
 * Here, without I/O: the ProxyJump value read as hops, the path of the config written into a
 * ProxyCommand, and ssh's way to the knocking hop.
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

/** ssh to the knocking hop with `options`, running `command` there if given. */
export function jumpSshArgs(jump: JumpProxy, options: readonly string[], command?: string): string[] {
  return routeArgs(jumpRoute(jump), options, command);
}
