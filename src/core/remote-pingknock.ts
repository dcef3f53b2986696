import type { SshRoute } from './jump.js';
import { parseHost } from './target.js';

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
