import type { Argv } from 'yargs';
import { KNOCK_OPTIONS, rollingUntilOption, SECRET_OPTIONS } from '../core/proxy-arguments.js';
import { STATIC_MODE, type KnockMode } from '../core/rolling.js';
import { checkedServerPath, REMOTE_ROLLBACK_SECONDS } from '../core/rules/apply.js';
import { DEFAULT_WINDOW_SECONDS } from '../core/rules/model.js';
import type { SessionRequest } from '../app/key-session.js';

// The option definitions themselves live in src/core/proxy-arguments.ts, where the proxy's fast
// path reads them too; these give them to yargs.

export function withSecretOptions<T>(yargs: Argv<T>) {
  return yargs.options(SECRET_OPTIONS);
}

export function withKnockOptions<T>(yargs: Argv<T>) {
  return yargs.options(KNOCK_OPTIONS);
}

/**
 * `--rolling-until DATE` and `--static`, one or neither, for the commands that choose how an alias
 * knocks (setup, knock); each says what the choice means for it.
 */
export function withKnockModeOptions<T>(yargs: Argv<T>, describe: { rollingUntil: string; static: string }) {
  return yargs
    .option('rolling-until', { type: 'string', describe: describe.rollingUntil, requiresArg: true })
    .option('static', { type: 'boolean', describe: describe.static })
    .conflicts('rolling-until', 'static');
}

/** The mode `--rolling-until` or `--static` chose; undefined when neither was given. */
export function knockModeOf(argv: {
  rollingUntil?: string | undefined;
  static?: boolean | undefined;
}): KnockMode | undefined {
  if (argv.rollingUntil !== undefined) return rollingUntilOption(argv.rollingUntil);
  return argv.static === true ? STATIC_MODE : undefined;
}

/** `--window`, for rules and for enroll. */
export const WINDOW_OPTION = {
  type: 'number',
  default: DEFAULT_WINDOW_SECONDS,
  describe: 'seconds a knock keeps the port open for its sender',
  requiresArg: true,
} as const;

/** `--rollback` of the commands that change a server's rules over ssh. */
export const ROLLBACK_OPTION = {
  type: 'number',
  default: REMOTE_ROLLBACK_SECONDS.default,
  describe: 'seconds after which the server restores its previous rules unless the new ones were proven',
  requiresArg: true,
} as const;

/** `--via`: for enroll, and for every command that logs in to an enrolled alias's server. */
export const VIA_OPTION = {
  type: 'string',
  describe: "log in knocking as this other alias of the same server (when ALIAS's own knock cannot get in)",
  requiresArg: true,
} as const;

/** What renew, rotate, revoke, keys and unenroll share: the alias, and how to reach and find its server's keys. */
export function withServerOptions<T>(yargs: Argv<T>) {
  return yargs
    .positional('alias', { type: 'string', demandOption: true, describe: 'the name you give ssh (ssh ALIAS)' })
    .option('config', {
      type: 'string',
      describe: 'ssh config file enroll edited (default ~/.ssh/config)',
      requiresArg: true,
    })
    .option('via', VIA_OPTION)
    .option('key-name', {
      type: 'string',
      describe: "ALIAS's key on the server (default: as enroll recorded it, else user@host)",
      requiresArg: true,
    })
    .option('state-dir', { type: 'string', describe: 'on the server: the state folder enroll used', requiresArg: true })
    .option('persist-dir', {
      type: 'string',
      describe: 'on the server: the boot configuration folder enroll used (the key list is there)',
      requiresArg: true,
    });
}

interface ServerArgs {
  readonly alias: string;
  readonly config?: string | undefined;
  readonly via?: string | undefined;
  readonly keyName?: string | undefined;
  readonly stateDir?: string | undefined;
  readonly persistDir?: string | undefined;
  readonly rollback?: number | undefined;
}

export function sessionRequest(argv: ServerArgs): SessionRequest {
  return {
    alias: argv.alias,
    config: argv.config,
    via: argv.via,
    keyName: argv.keyName,
    stateDir: argv.stateDir === undefined ? undefined : checkedServerPath('state-dir', argv.stateDir),
    persistDir: argv.persistDir === undefined ? undefined : checkedServerPath('persist-dir', argv.persistDir),
    rollbackSeconds: argv.rollback,
  };
}
