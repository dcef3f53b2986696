import type { ArgumentsCamelCase, Argv } from 'yargs';
import { runPattern } from '../app/pattern.js';

export const command = 'pattern <alias>';
export const describe = 'Print the pattern a knock sends now (32 hex digits for ping -p), and nothing else';

export function builder(yargs: Argv) {
  return yargs
    .positional('alias', {
      type: 'string',
      demandOption: true,
      describe: 'the ssh alias whose secret is ~/.ssh/pingknock/ALIAS',
    })
    .option('at', {
      type: 'string',
      describe: 'the pattern for this moment instead of now: ISO-8601 with its zone (2025-03-01T12:00:00Z)',
      requiresArg: true,
    })
    .option('secret-file', {
      type: 'string',
      describe: 'file holding the secret (- reads standard input)',
      requiresArg: true,
    })
    .option('static', {
      type: 'boolean',
      describe: 'the static pattern (the secret itself), for servers without one-time knocks',
    })
    .conflicts('static', 'at')
    .example('ping -c1 -p "$(pingknock pattern web)" web.example.org', 'knock by hand, then ssh within the window')
    .example('$0 pattern web --at 2025-03-01T12:00:00Z', 'the pattern valid at that moment')
    .epilogue(
      'One-time patterns change every 256 s of the UTC day; the README shows the same computation with openssl.',
    );
}

type Args = ArgumentsCamelCase<Awaited<ReturnType<typeof builder>['argv']>>;

export async function handler(argv: Args): Promise<void> {
  process.stdout.write(`${await runPattern({ ...argv, static: argv.static === true })}\n`);
}
