import { PingknockError } from '../errors.js';
import { printable } from '../target.js';

/** Validation of the names setup writes into an ssh config and gives its files. */

// An ssh Host pattern and the name of a secret file at once, so no glob, quote, space or option.
const ALIAS_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;
const USER_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9._@-]*$/;
const MAX_NAME_LENGTH = 253;

export function parseAlias(input: string): string {
  if (input.startsWith('-')) {
    throw new PingknockError('usage', `alias "${printable(input)}" starts with "-"; an ssh host alias never does`);
  }
  if (input.length === 0 || input.length > MAX_NAME_LENGTH || !ALIAS_PATTERN.test(input)) {
    throw new PingknockError(
      'usage',
      `alias "${printable(input)}" is not a plain ssh host name: ` +
        "use letters, digits, '.', '_' and '-' (no patterns or spaces)",
    );
  }
  return input;
}

export function parseSshUser(input: string): string {
  if (input.length === 0 || input.length > MAX_NAME_LENGTH || !USER_PATTERN.test(input)) {
    throw new PingknockError('usage', `user "${printable(input)}" is not a valid user name`);
  }
  return input;
}
