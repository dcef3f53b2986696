import { isIP } from 'node:net';
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
 * escape, so no control, C1, line-separator or bidi character can reach the terminal.
 */
export function printable(text: string): string {
  const shown = [...text].slice(0, 80).map((character) => {
    const code = character.codePointAt(0) ?? 0;
    return code >= 0x20 && code <= 0x7e ? character : `\\u{${code.toString(16)}}`;
  });
  return shown.join('') + ([...text].length > 80 ? '...' : '');
}
