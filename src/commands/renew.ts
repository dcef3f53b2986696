import type { ArgumentsCamelCase, Argv } from 'yargs';
import { DEFAULT_HORIZON_DAYS, MAX_HORIZON_DAYS } from '../core/rules/model.js';
import { ROLLBACK_OPTION, sessionRequest, withServerOptions } from './options.js';

export const command = 'renew <alias>';
export const describe = "Load an alias's one-time patterns for a new horizon from today, before the old one ends";

export function builder(yargs: Argv) {
  return withServerOptions(yargs)
    .option('horizon', {
      type: 'number',
      describe: `days from today, UTC (1-${MAX_HORIZON_DAYS}; default: as enroll had it, else ${DEFAULT_HORIZON_DAYS})`,
      requiresArg: true,
    })
    .option('rollback', ROLLBACK_OPTION)
    .example('$0 renew myserver', 'the same horizon again, from today')
    .example('$0 renew myserver --via other', "when myserver's patterns ended already");
}

type Args = ArgumentsCamelCase<Awaited<ReturnType<typeof builder>['argv']>>;

export async function handler(argv: Args): Promise<void> {
  // Loaded here: cli.ts loads every command module on each run, the proxy's too.
  const { runRenew } = await import('../app/renew.js');
  await runRenew({ ...sessionRequest(argv), horizonDays: argv.horizon });
}
