import { createHash } from 'node:crypto';
import { PingknockError } from '../errors.js';
import { parsePort } from '../target.js';
import { isoDate, rollingPatternHex } from '../rolling.js';
import { secretToHex, type Secret } from '../secret.js';
import { wholeSeconds } from '../duration.js';
import { checkedRuleKeys, MAX_WINDOW_SECONDS, rollingUntil, type RuleKey } from './model.js';
import { ENROLL_BACKENDS, type EnrollBackend } from './detect.js';

/**
 * The server's list of the keys its rules admit, kept beside its boot configuration so that each
 * client that changes one key (enroll, renew, rotate, revoke, unenroll) renders the rules for all
 * of them: without it, the last enroll would replace everyone else's key. It holds what the rules
 * hold (rolling keys as their derived patterns, never a secret) and the settings they share.
 */
export interface KeyRegistry {
  readonly backend: EnrollBackend;
  readonly port: number;
  readonly windowSeconds: number;
  readonly keys: readonly RuleKey[];
}

export const REGISTRY_FILE = 'pingknock.keys.json';
const VERSION = 1;

/** The registry's file text: one line of JSON, as the server keeps it. */
export function serializeRegistry(registry: KeyRegistry): string {
  const { backend, port, windowSeconds, keys } = registry;
  return `${JSON.stringify({ version: VERSION, backend, port, windowSeconds, keys })}\n`;
}

/**
 * The registry from its file, every field checked (it becomes firewall rules); `where` names the
 * file in the message when it is not one pingknock wrote.
 */
export function parseRegistry(text: string, where: string): KeyRegistry {
  const refuse = (why: string): PingknockError =>
    new PingknockError('server', `${where} is not a key list pingknock wrote (${why}): fix it, or remove it`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw refuse('not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw refuse('not an object');
  const { version, backend, port, windowSeconds, keys } = value as Record<string, unknown>;
  if (version !== VERSION) throw refuse(`version ${JSON.stringify(version)}`);
  if (!(ENROLL_BACKENDS as readonly unknown[]).includes(backend)) throw refuse('no backend');
  if (typeof port !== 'number' || typeof windowSeconds !== 'number') throw refuse('no port or window');
  try {
    return {
      backend: backend as EnrollBackend,
      port: parsePort(port),
      windowSeconds: wholeSeconds('window', windowSeconds, 1, MAX_WINDOW_SECONDS),
      keys: checkedRuleKeys(keys),
    };
  } catch (error) {
    throw refuse((error as Error).message);
  }
}

/** What the compare-and-swap compares: SHA-256 of the file's bytes as `sha256sum` prints it, `none` for no file. */
export function registryHash(bytes: Uint8Array | undefined): string {
  return bytes === undefined ? 'none' : createHash('sha256').update(bytes).digest('hex');
}

/** `keys` with every entry named as `key` replaced by it, in the first one's place (else added last). */
export function withKey(keys: readonly RuleKey[], key: RuleKey): RuleKey[] {
  const at = keys.findIndex((each) => each.name === key.name);
  const others = keys.filter((each) => each.name !== key.name);
  return at === -1 ? [...others, key] : [...others.slice(0, at), key, ...others.slice(at)];
}

export function withoutKey(keys: readonly RuleKey[], name: string): RuleKey[] {
  return keys.filter((each) => each.name !== name);
}

/** Whether `key` was made from `secret`: its pattern, or its first slot's. */
export function keyMatchesSecret(key: RuleKey, secret: Secret): boolean {
  if (key.kind === 'static') return key.patternHex === secretToHex(secret);
  return key.patterns[0]?.[0] === rollingPatternHex(secret, { day: key.firstDay, slot: 0 });
}

export function keyNames(keys: readonly RuleKey[]): string {
  return [...new Set(keys.map((key) => key.name))].join(', ');
}

/** `pingknock keys`' table: name, kind and the last day of a rolling key's patterns, `own` marked. */
export function keyTable(keys: readonly RuleKey[], own: string | undefined): string {
  const rows = [
    ['NAME', 'KIND', 'UNTIL (UTC)', ''],
    ...keys.map((key) => [
      key.name,
      key.kind === 'rolling' ? 'one-time' : 'static',
      key.kind === 'rolling' ? `${rollingUntil(key)} (from ${isoDate(key.firstDay)})` : '-',
      key.name === own ? 'this alias' : '',
    ]),
  ];
  const widths = [0, 1, 2].map((column) => Math.max(...rows.map((row) => (row[column] ?? '').length)));
  return rows
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .map((line) => `${line}\n`)
    .join('');
}
