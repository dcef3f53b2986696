import { PingknockError } from '../core/errors.js';
import { parseIsoTime, rollingPatternHex, slotAt } from '../core/rolling.js';
import { secretToHex } from '../core/secret.js';
import { printable } from '../core/target.js';
import { loadSecret } from '../edge/secret-source.js';

/** `pingknock pattern` as given on its command line. */
export interface PatternRequest {
  readonly alias: string;
  /** ISO-8601 with its zone; now when absent. */
  readonly at?: string | undefined;
  readonly secretFile?: string | undefined;
  /** The secret's own pattern, which static rules match, instead of the one-time pattern. */
  readonly static: boolean;
}

/**
 * The 32 hex digits `ping -p` takes to knock ALIAS: the one-time pattern of the 256-second slot
 * of now (or `--at`), or the static one. The secret is read the way the proxy reads it.
 */
export async function runPattern(request: PatternRequest): Promise<string> {
  const unixSeconds = request.at === undefined ? Date.now() / 1000 : atOption(request.at);
  const secret = await loadSecret({
    secretFile: request.secretFile,
    name: request.alias,
    env: process.env,
    stdin: () => process.stdin,
  });
  return request.static ? secretToHex(secret) : rollingPatternHex(secret, slotAt(unixSeconds));
}

function atOption(text: string): number {
  const unixSeconds = parseIsoTime(text);
  if (unixSeconds === undefined) {
    throw new PingknockError(
      'usage',
      `--at takes an ISO-8601 time with its zone, such as 2025-03-01T12:00:00Z or 2025-03-01T13:00+01:00, ` +
        `got "${printable(text)}"`,
    );
  }
  return unixSeconds;
}
