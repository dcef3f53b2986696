import type { ArgumentsCamelCase, Argv } from 'yargs';
import { runRules } from '../app/rules.js';
import { DEFAULT_STATE_DIR } from '../core/rules/apply.js';
import { DEFAULT_HORIZON_DAYS, MAX_HORIZON_DAYS } from '../core/rules/model.js';
import { BACKENDS, FAMILY_CHOICES } from '../core/rules/render.js';
import { WINDOW_OPTION, withSecretOptions } from './options.js';

export const command = 'rules';
export const describe = "Print (or apply, safely) the server's firewall rules for a secret";

export function builder(yargs: Argv) {
  return withSecretOptions(yargs)
    .option('backend', { choices: BACKENDS, default: 'nftables' as const, describe: 'firewall to write rules for' })
    .option('family', {
      choices: FAMILY_CHOICES,
      describe: 'IP versions to knock over (both by default; ip6tables: IPv6 only)',
    })
    .option('port', { type: 'string', default: '22', describe: 'TCP port to protect', requiresArg: true })
    .option('window', WINDOW_OPTION)
    .option('rolling', {
      type: 'boolean',
      describe: 'one-time knocks: a new pattern every 256 s, each opening for one source only (nftables)',
    })
    .option('horizon', {
      type: 'number',
      describe: `--rolling: days of patterns from today, UTC (default ${DEFAULT_HORIZON_DAYS}, 1-${MAX_HORIZON_DAYS})`,
      requiresArg: true,
    })
    .option('key-name', {
      type: 'string',
      describe: "the key's name in the rules (A-Z a-z 0-9 . _ @ -, up to 64; default: user@host)",
      requiresArg: true,
    })
    .option('apply', { type: 'boolean', describe: 'load the rules on this machine (root)' })
    .option('rollback', {
      type: 'number',
      default: 0,
      describe: 'with --apply (or --cloud-init): restore the previous rules after this many seconds unless confirmed',
      requiresArg: true,
    })
    .option('confirm', { type: 'boolean', describe: 'keep the applied rules: cancel the pending rollback (root)' })
    .option('remove', { type: 'boolean', describe: 'take away everything pingknock added, and nothing else (root)' })
    .option('tool', {
      type: 'string',
      describe:
        'iptables program for --apply/--remove: iptables, iptables-legacy, iptables-nft ' +
        '(ip6tables-… likewise; IPv6 uses the same variant of ip6tables)',
      requiresArg: true,
    })
    .option('state-dir', {
      type: 'string',
      default: DEFAULT_STATE_DIR,
      describe: 'where --apply keeps the previous rules for a rollback',
      requiresArg: true,
    })
    .option('cloud-init', {
      type: 'boolean',
      describe:
        "print a #cloud-config snippet that applies the rules on a new machine's first boot " +
        '(and keeps them; with --rollback, only once its confirm.sh runs)',
    })
    .option('ufw-dir', {
      type: 'string',
      implies: 'cloud-init',
      describe: "--cloud-init --backend ufw: a folder with copies of the machine's before.rules and before6.rules",
      requiresArg: true,
    })
    .conflicts('cloud-init', ['apply', 'confirm', 'remove'])
    .conflicts('apply', ['confirm', 'remove'])
    .conflicts('confirm', 'remove')
    .example('$0 rules --name myserver > pingknock.nft', 'then on the server: nft -f pingknock.nft')
    .example('$0 rules --name myserver --rolling > pingknock.nft', 'one-time knocks for the next 30 days')
    .example('$0 rules --backend iptables --secret-file key > knock.sh', 'then on the server: sh knock.sh')
    .example(
      'sudo $0 rules --name me --apply --rollback 120',
      'apply here; unless confirmed within 120 s, the old rules come back',
    )
    .example('sudo $0 rules --confirm', 'keep the rules applied with --rollback')
    .example('$0 rules --secret-file key --cloud-init > user-data.yaml', 'a new machine born protected');
}

type Args = ArgumentsCamelCase<Awaited<ReturnType<typeof builder>['argv']>>;

export async function handler(argv: Args): Promise<void> {
  process.stdout.write(await runRules(argv));
}
