import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { PingknockError } from '../core/errors.js';
import { SERVER_PATH } from '../core/rules/apply.js';
import { ENROLL_BACKENDS, type EnrollBackend } from '../core/rules/detect.js';
import { KEY_NAME_PATTERN, MAX_HORIZON_DAYS } from '../core/rules/model.js';
import { parseIsoDate } from '../core/rolling.js';
import type { SshConfigAddition } from '../core/ssh-config/add.js';
import { parseAlias } from '../core/ssh-config/names.js';
import { secretDirectory } from './secret-source.js';

/**
 * What `pingknock enroll` did, kept on the client so that `unenroll` undoes exactly that: the
 * lines setup added to which ssh config (which cannot be told from the file alone), and how the
 * server was set up. One JSON file per alias in `~/.ssh/pingknock/.enrolled/`: a folder name no
 * alias (and so no secret file) can have, since aliases never start with a dot.
 */
export interface EnrollmentRecord {
  /** The ssh config setup edited, as an absolute path. */
  readonly config: string;
  /** What setup added to it; null when enroll found it already set up and added nothing. */
  readonly configAddition: SshConfigAddition | null;
  /** Set once the server's rules are applied, proven and kept. */
  readonly server?: EnrolledServer;
}

export interface EnrolledServer {
  readonly backend: EnrollBackend;
  readonly stateDir: string;
  readonly persistDir: string;
  /** This alias's key on the server; missing in records of a pingknock that knew one key per server. */
  readonly key?: EnrolledKey;
}

export interface EnrolledKey {
  readonly name: string;
  readonly kind: 'static' | 'rolling';
  /** Rolling: the days of patterns each renewal loads from its day on, and the last of them (YYYY-MM-DD, UTC). */
  readonly horizonDays?: number;
  readonly until?: string;
}

const VERSION = 1;

export function recordPath(alias: string): string {
  return join(secretDirectory(), '.enrolled', `${parseAlias(alias)}.json`);
}

export async function readRecord(alias: string): Promise<EnrollmentRecord | undefined> {
  const path = recordPath(alias);
  let text: string;
  try {
    text = await fs.readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new PingknockError('io', `cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const record = parseRecord(text);
  if (record === undefined)
    throw new PingknockError('io', `${path} is not a record pingknock enroll wrote; remove it to go on without it`);
  return record;
}

/** Replaces the record atomically (a private temporary file renamed over it). */
export async function writeRecord(alias: string, record: EnrollmentRecord): Promise<void> {
  const path = recordPath(alias);
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await fs.mkdir(join(secretDirectory(), '.enrolled'), { recursive: true, mode: 0o700 });
    await fs.writeFile(temporary, `${JSON.stringify({ version: VERSION, ...record }, null, 2)}\n`, {
      mode: 0o600,
      flag: 'wx',
    });
    await fs.rename(temporary, path);
  } catch (error) {
    await fs.rm(temporary, { force: true });
    throw new PingknockError('io', `cannot write ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

export async function removeRecord(alias: string): Promise<void> {
  await fs.rm(recordPath(alias), { force: true });
}

/** The record from its JSON, or undefined when it is not one (checked field by field: it steers edits). */
export function parseRecord(text: string): EnrollmentRecord | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (
    !isObject(value) ||
    value.version !== VERSION ||
    typeof value.config !== 'string' ||
    !value.config.startsWith('/')
  )
    return undefined;
  const addition = value.configAddition;
  if (addition !== null && !isAddition(addition)) return undefined;
  const server = value.server;
  if (server !== undefined && !isServer(server)) return undefined;
  return {
    config: value.config,
    configAddition: addition,
    ...(server === undefined ? {} : { server }),
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isStrings(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string' && !/[\r\n]/.test(item));
}

function isAddition(value: unknown): value is SshConfigAddition {
  return isObject(value) && typeof value.newBlock === 'boolean' && isStrings(value.added) && isStrings(value.replaced);
}

function isServer(value: unknown): value is EnrolledServer {
  return (
    isObject(value) &&
    (ENROLL_BACKENDS as readonly unknown[]).includes(value.backend) &&
    typeof value.stateDir === 'string' &&
    SERVER_PATH.test(value.stateDir) &&
    typeof value.persistDir === 'string' &&
    SERVER_PATH.test(value.persistDir) &&
    (value.key === undefined || isKey(value.key))
  );
}

function isKey(value: unknown): value is EnrolledKey {
  if (!isObject(value) || typeof value.name !== 'string' || !KEY_NAME_PATTERN.test(value.name)) return false;
  if (value.kind === 'static') return value.horizonDays === undefined && value.until === undefined;
  return (
    value.kind === 'rolling' &&
    Number.isInteger(value.horizonDays) &&
    (value.horizonDays as number) >= 1 &&
    (value.horizonDays as number) <= MAX_HORIZON_DAYS &&
    typeof value.until === 'string' &&
    parseIsoDate(value.until) !== undefined
  );
}
