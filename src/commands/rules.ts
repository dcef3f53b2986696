import type { ArgumentsCamelCase, Argv } from 'yargs';
import { parsePort } from '../core/target.js';
import { buildRuleModel, DEFAULT_WINDOW_SECONDS } from '../core/rules/model.js';
import { renderNftables } from '../core/rules/nftables.js';
import type { Family } from '../core/layout.js';
import { loadSecret } from '../edge/secret-source.js';
import { withSecretOptions } from './options.js';

export const command = 'rules';
export const describe = "Print the server's firewall rules for a secret";

const FAMILIES: Readonly<Record<'ipv4' | 'ipv6' | 'both', readonly Family[]>> = {
  ipv4: ['ipv4'],
  ipv6: ['ipv6'],
  both: ['ipv4', 'ipv6'],
};

export function builder(yargs: Argv) {
  return withSecretOptions(yargs)
    .option('backend', { choices: ['nftables'] as const, default: 'nftables' as const, describe: 'firewall to write rules for' })
    .option('port', { type: 'string', default: '22', describe: 'TCP port to protect', requiresArg: true })
    .option('window', {
      type: 'number',
      default: DEFAULT_WINDOW_SECONDS,
      describe: 'seconds a knock keeps the port open for its sender',
      requiresArg: true,
    })
    .option('family', { choices: ['ipv4', 'ipv6', 'both'] as const, default: 'both' as const, describe: 'IP versions to knock over' })
    .example('$0 rules --secret-file ~/.ssh/pingknock/myserver > pingknock.nft', 'then on the server: nft -f pingknock.nft')
    .example('$0 rules --name myserver --port 2222 --window 30', 'sshd on port 2222, 30 s to connect after a knock');
}

type Args = ArgumentsCamelCase<Awaited<ReturnType<typeof builder>['argv']>>;

export async function handler(argv: Args): Promise<void> {
  const model = buildRuleModel({
    secret: await loadSecret({ secretFile: argv.secretFile, name: argv.name, env: process.env, stdin: process.stdin }),
    port: parsePort(argv.port),
    windowSeconds: argv.window,
    families: FAMILIES[argv.family],
  });
  process.stdout.write(renderNftables(model));
}
