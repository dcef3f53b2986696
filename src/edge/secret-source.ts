import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { PingknockError } from '../core/errors.js';
import type { Secret } from '../core/secret.js';
import { parseSecret } from '../core/secret.js';
import { printable } from '../core/target.js';

export const SECRET_ENV = 'PINGKNOCK_SECRET';
/** A secret is 17 bytes at most with its newline; reading more than this only wastes time. */
const READ_LIMIT = 4096;

export interface SecretSource {
  /** `--secret-file`; `-` reads standard input. */
  readonly secretFile?: string | undefined;
  /** `--name` (the ssh host alias), else the host: picks `~/.ssh/pingknock/<name>`. */
  readonly name?: string | undefined;
  readonly env: NodeJS.ProcessEnv;
  /** Standard input, asked for only when `-` names it; absent where it carries something else. */
  readonly stdin?: (() => Readable) | undefined;
}

export function secretDirectory(): string {
  return join(homedir(), '.ssh', 'pingknock');
}

/** Where the secret for an ssh host name lives. The name becomes a file name, so it is checked. */
export function secretPathFor(name: string): string {
  if (name === '%n') {
    throw new PingknockError(
      'usage',
      'the name is a literal "%n": this client does not expand ssh\'s %n ' +
        "(paramiko, Fabric and Ansible's paramiko connection do not); " +
        'write the alias itself in the ProxyCommand: pingknock setup ALIAS does',
    );
  }
  if (!/^[A-Za-z0-9_@+:-][A-Za-z0-9._@+:-]*$/.test(name)) {
    throw new PingknockError('usage', `name "${printable(name)}" cannot name a secret file`);
  }
  return join(secretDirectory(), name);
}

/** One way in for the secret: `--secret-file`, else $PINGKNOCK_SECRET, else the file for the name. */
export async function loadSecret(source: SecretSource): Promise<Secret> {
  if (source.secretFile === '-') {
    if (source.stdin === undefined) throw new PingknockError('usage', 'standard input cannot carry the secret here');
    return parseSecret(await readLimited(source.stdin()), 'standard input');
  }
  if (source.secretFile !== undefined) {
    return readSecretFile(source.secretFile);
  }
  const fromEnv = source.env[SECRET_ENV];
  if (fromEnv !== undefined && fromEnv !== '') {
    return parseSecret(fromEnv, SECRET_ENV);
  }
  if (source.name === undefined) {
    throw new PingknockError(
      'secret',
      'no secret given: pass --secret-file FILE or --name NAME, or set PINGKNOCK_SECRET',
    );
  }
  return readSecretFile(secretPathFor(source.name));
}

/**
 * Reads a secret file the way ssh reads a private key: it must be private to its owner.
 * Synchronous on purpose: reading 17 bytes does not need Node's thread pool, whose start-up
 * costs the proxy ~5 ms before every connection.
 */
export function readSecretFile(path: string): Secret {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw fileError(path, error);
  }
  try {
    const stats = fstatSync(fd);
    if (stats.isDirectory()) {
      throw new PingknockError('secret', `secret file ${path} is a directory`);
    }
    if (!stats.isFile()) {
      throw new PingknockError('secret', `secret file ${path} is not a regular file`);
    }
    if ((stats.mode & 0o077) !== 0) {
      const mode = (stats.mode & 0o777).toString(8).padStart(4, '0');
      throw new PingknockError(
        'secret',
        `secret file ${path} has permissions ${mode}, readable by others; run: chmod 600 '${path}'`,
      );
    }
    const buffer = Buffer.alloc(READ_LIMIT);
    const bytesRead = readSync(fd, buffer, 0, READ_LIMIT, 0);
    return parseSecret(buffer.subarray(0, bytesRead), path);
  } finally {
    closeSync(fd);
  }
}

function fileError(path: string, error: unknown): PingknockError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') {
    return new PingknockError(
      'secret',
      `no secret file ${path}; create one with: pingknock secret new --out '${path}' (or pass --secret-file)`,
    );
  }
  if (code === 'EACCES') {
    return new PingknockError('secret', `secret file ${path} cannot be read: permission denied`);
  }
  return new PingknockError('secret', `secret file ${path} cannot be read (${code ?? 'unknown error'})`);
}

async function readLimited(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    chunks.push(buffer);
    size += buffer.length;
    if (size > READ_LIMIT) break;
  }
  return Buffer.concat(chunks).subarray(0, READ_LIMIT);
}
