import { lookup } from 'node:dns/promises';
import { PingknockError } from '../core/errors.js';
import { literalFamily } from '../core/target.js';

export interface ResolvedHost {
  readonly address: string;
  readonly family: 4 | 6;
}

/**
 * Resolves once, the way ssh does (getaddrinfo: /etc/hosts, then DNS). The knock and the TCP
 * connection both use this one address, so a round-robin name cannot split them.
 */
export async function resolveHost(host: string): Promise<ResolvedHost> {
  const [first] = await resolveAll(host);
  if (first === undefined) throw new PingknockError('resolve', `cannot resolve host "${host}" (no address)`);
  return first;
}

/** Every address the name has, in getaddrinfo's order: the first is the one resolveHost picks. */
export async function resolveAll(host: string): Promise<ResolvedHost[]> {
  const literal = literalFamily(host);
  if (literal !== 0) {
    return [{ address: host, family: literal }];
  }
  try {
    return (await lookup(host, { all: true })).map(({ address, family }) => ({
      address,
      family: family === 6 ? 6 : 4,
    }));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new PingknockError('resolve', `cannot resolve host "${host}" (${code})`);
  }
}
