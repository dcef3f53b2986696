import { isIP, isIPv4 } from 'node:net';
import { PingknockError } from './errors.js';

// Letters, digits, dots, dashes and underscores for names and IPv4; IPv6 literals may add a zone
// (fe80::1%eth0). Everything else (spaces, quotes, shell metacharacters, options) is refused up front.
const NAME_PATTERN = /^[A-Za-z0-9._-]+$/;
const ZONE_PATTERN = /^[A-Za-z0-9._-]+$/;
const MAX_HOST_LENGTH = 253;

/** Validates a host as ssh's %h gives it; the result is never mistaken for a command-line option. */
export function parseHost(input: string): string {
  const host = input.startsWith('[') && input.endsWith(']') ? input.slice(1, -1) : input;
  if (host.length === 0) {
    throw new PingknockError('usage', 'host is empty');
  }
  if (host.startsWith('-')) {
    throw new PingknockError('usage', `host "${printable(host)}" starts with "-"; a host name never does`);
  }
  if (host.includes(':') || host.includes('%')) {
    const [address = '', zone, ...rest] = host.split('%');
    const zoneOk = zone === undefined || (ZONE_PATTERN.test(zone) && rest.length === 0);
    if (isIP(address) !== 6 || !zoneOk) {
      throw new PingknockError('usage', `host "${printable(host)}" is not a valid IPv6 address`);
    }
    return host;
  }
  if (host.length > MAX_HOST_LENGTH || !NAME_PATTERN.test(host)) {
    throw new PingknockError('usage', `host "${printable(host)}" is not a valid host name or address`);
  }
  return host;
}

/**
 * 4 or 6 when the host is an address (IPv6 with or without a zone), 0 for a name: isIP's verdict
 * on the host without its zone. Only what may be IPv6 meets Node's IPv6 pattern, because a name
 * meets it in lookup() anyway and in Node 20 that large regex costs ~12 ms to compile on first
 * use and ~3 ms more on a second: time every ssh connection by name would wait for.
 */
export function literalFamily(host: string): 0 | 4 | 6 {
  if (host.includes(':') || host.includes('%')) {
    const family = isIP(host.split('%')[0] ?? '');
    return family === 4 || family === 6 ? family : 0;
  }
  return isIPv4(host) ? 4 : 0;
}

/** Ports are numbers only: a service name would be looked up differently by ssh and by us. */
export function parsePort(input: string | number): number {
  const text = String(input);
  if (!/^[0-9]{1,5}$/.test(text)) {
    throw new PingknockError('usage', `port "${printable(text)}" is not a number from 1 to 65535`);
  }
  const port = Number(text);
  if (port < 1 || port > 65535) {
    throw new PingknockError('usage', `port ${port} is out of range 1-65535`);
  }
  return port;
}

/**
 * Shows user input safely in a one-line message: anything but printable ASCII becomes a \u{…}
 * escape, so no control, C1, line-separator or bidi character can reach the terminal; longer
 * than `width` characters, it is cut there.
 */
export function printable(text: string, width = 80): string {
  const shown = [...text].slice(0, width).map((character) => {
    const code = character.codePointAt(0) ?? 0;
    return code >= 0x20 && code <= 0x7e ? character : `\\u{${code.toString(16)}}`;
  });
  return shown.join('') + ([...text].length > width ? '...' : '');
}

/** The end of a program's complaint, on one line: what the user needs to see of it. */
export function lastLines(text: string, count = 3, width?: number): string {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .slice(-count)
    .map((line) => printable(line, width))
    .join('; ');
}
