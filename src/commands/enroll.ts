import type { ArgumentsCamelCase, Argv } from 'yargs';
import { checkedServerPath, DEFAULT_STATE_DIR } from '../core/rules/apply.js';
import { ENROLL_BACKEND_CHOICES } from '../core/rules/detect.js';
import { DEFAULT_PERSIST_DIR } from '../core/rules/persist.js';
import { DEFAULT_HORIZON_DAYS, MAX_HORIZON_DAYS } from '../core/rules/model.js';
import { ROLLBACK_OPTION, VIA_OPTION, WINDOW_OPTION } from './options.js';
import { withSetupOptions } from './setup.js';

export const command = 'enroll <alias>';
export const describe =
  'Protect a server in one command: setup here, then its firewall over ssh, proven before it is kept';

export function builder(yargs: Argv) {
  return withSetupOptions(yargs)
    .option('backend', {
      choices: ENROLL_BACKEND_CHOICES,
      default: 'auto' as const,
      describe:
        "the server's firewall; auto: the one its keys are in, else an active ufw, else nftables, else iptables",
    })
    .option('key-name', {
      type: 'string',
      describe:
        "this client's key on the server, which enroll adds or replaces (A-Z a-z 0-9 . _ @ -; default user@host)",
      requiresArg: true,
    })
    .option('static', {
      type: 'boolean',
      default: false,
      describe: 'knock with the secret itself, not one-time patterns (what iptables and ufw always do)',
    })
    .option('horizon', {
      type: 'number',
      describe:
        `days of one-time patterns from today, UTC (1-${MAX_HORIZON_DAYS}; ${DEFAULT_HORIZON_DAYS}); ` +
        'pingknock renew loads more',
      requiresArg: true,
    })
    .option('via', VIA_OPTION)
    .option('window', WINDOW_OPTION)
    .option('rollback', ROLLBACK_OPTION)
    .option('state-dir', {
      type: 'string',
      default: DEFAULT_STATE_DIR,
      describe: 'on the server: where the previous rules are kept for the rollback',
      requiresArg: true,
    })
    .option('persist-dir', {
      type: 'string',
      default: DEFAULT_PERSIST_DIR,
      describe: "on the server: the folder with the firewall's boot configuration, and pingknock's key list",
      requiresArg: true,
    })
    .example(
      '$0 enroll myserver --hostname myserver.example.org',
      'secret, ssh config, firewall rules: proven, then kept',
    )
    .example(
      '$0 enroll web --hostname 203.0.113.7 --user deploy --yes --backend ufw',
      'from a script, for a server with ufw (deploy needs sudo without a password)',
    )
    .example('$0 enroll laptop-web --hostname 203.0.113.7 --via web', 'a second alias for a server enrolled as web');
}

type Args = ArgumentsCamelCase<Awaited<ReturnType<typeof builder>['argv']>>;

export async function handler(argv: Args): Promise<void> {
  // Loaded here: cli.ts loads every command module on each run, the proxy's too.
  const { runEnroll } = await import('../app/enroll.js');
  await runEnroll({
    setup: argv,
    backend: argv.backend,
    windowSeconds: argv.window,
    rollbackSeconds: argv.rollback,
    stateDir: checkedServerPath('state-dir', argv.stateDir),
    persistDir: checkedServerPath('persist-dir', argv.persistDir),
    keyName: argv.keyName,
    static: argv.static,
    horizonDays: argv.horizon,
    via: argv.via,
  });
}
