import type { ArgumentsCamelCase, Argv } from 'yargs';
import { checkedServerPath, DEFAULT_STATE_DIR } from '../core/rules/apply.js';
import { ENROLL_BACKEND_CHOICES } from '../core/rules/detect.js';
import { DEFAULT_PERSIST_DIR } from '../core/rules/persist.js';
import { DEFAULT_WINDOW_SECONDS } from '../core/rules/model.js';
import { withSetupOptions } from './setup.js';

export const command = 'enroll <alias>';
export const describe =
  'Protect a server in one command: setup here, then its firewall over ssh, proven before it is kept';

const DEFAULT_ROLLBACK_SECONDS = 120;

export function builder(yargs: Argv) {
  return withSetupOptions(yargs)
    .option('backend', {
      choices: ENROLL_BACKEND_CHOICES,
      default: 'auto' as const,
      describe: "the server's firewall; auto: an active ufw, else nftables, else iptables",
    })
    .option('window', {
      type: 'number',
      default: DEFAULT_WINDOW_SECONDS,
      describe: 'seconds a knock keeps the port open for its sender',
      requiresArg: true,
    })
    .option('rollback', {
      type: 'number',
      default: DEFAULT_ROLLBACK_SECONDS,
      describe: 'seconds after which the server restores its previous rules unless the new ones were proven',
      requiresArg: true,
    })
    .option('state-dir', {
      type: 'string',
      default: DEFAULT_STATE_DIR,
      describe: 'on the server: where the previous rules are kept for the rollback',
      requiresArg: true,
    })
    .option('persist-dir', {
      type: 'string',
      default: DEFAULT_PERSIST_DIR,
      describe: "on the server: the folder with the firewall's boot configuration",
      requiresArg: true,
    })
    .example(
      '$0 enroll myserver --hostname myserver.example.org',
      'secret, ssh config, firewall rules: proven, then kept',
    )
    .example(
      '$0 enroll web --hostname 203.0.113.7 --user deploy --yes --backend ufw',
      'from a script, for a server with ufw (deploy needs sudo without a password)',
    );
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
  });
}
