import { isIP } from 'node:net';
import { PingknockError } from './errors.js';

// Letters, digits, dots, dashes and underscores for names; colons and a zone (%eth0) for IPv6
// literals. Everything else (spaces, quotes, shell metacharacters, options) is refused up front.
const HOST_PATTERN = /^[A-Za-z0-9._:%-]+$/;
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
  if (host.length > MAX_HOST_LENGTH || !HOST_PATTERN.test(host)) {
    throw new PingknockError('usage', `host "${printable(host)}" is not a valid host name or address`);
  }
  if (host.includes(':') && isIP(host.split('%')[0] ?? '') !== 6) {
    throw new PingknockError('usage', `host "${printable(host)}" is not a valid IPv6 address`);
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

/** Shows user input safely in a one-line message: control characters become escapes. */
export function printable(text: string): string {
  const shown = JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
  return shown.slice(1, -1);
}
