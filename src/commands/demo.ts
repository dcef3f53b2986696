import type { ArgumentsCamelCase, Argv } from 'yargs';
import { runDemo } from '../lab/demo.js';

export const command = 'demo';
export const describe = 'Show the whole thing in a throw-away lab of two network namespaces (root)';

export function builder(yargs: Argv) {
  return yargs
    .option('firewall', {
      choices: ['bare', 'existing'] as const,
      default: 'bare' as const,
      describe: "the server's own firewall: none, or policy drop allowing ssh, pings and established traffic",
    })
    .example(
      '$0 demo',
      'build the lab, show ssh refused without a knock and working with one, remove the lab (not root: through sudo)',
    );
}

type Args = ArgumentsCamelCase<Awaited<ReturnType<typeof builder>['argv']>>;

export async function handler(argv: Args): Promise<void> {
  await runDemo(argv.firewall);
}
