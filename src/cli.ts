import { readFileSync } from 'node:fs';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { PingknockError } from './core/errors.js';
import { exitOnSignals, reportFailure } from './edge/report.js';
import * as demo from './commands/demo.js';
import * as doctor from './commands/doctor.js';
import * as enroll from './commands/enroll.js';
import * as keys from './commands/keys.js';
import * as knock from './commands/knock.js';
import * as pattern from './commands/pattern.js';
import * as proxy from './commands/proxy.js';
import * as renew from './commands/renew.js';
import * as revoke from './commands/revoke.js';
import * as rotate from './commands/rotate.js';
import * as rules from './commands/rules.js';
import * as secret from './commands/secret.js';
import * as setup from './commands/setup.js';
import * as unenroll from './commands/unenroll.js';

function version(): string {
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return manifest.version;
}

async function main(): Promise<void> {
  exitOnSignals();
  const cli = yargs(hideBin(process.argv))
    .scriptName('pingknock')
    .usage('$0 <command> [options]\n\nKnock with a ping that carries a secret, then ssh.')
    .command(proxy)
    .command(knock)
    .command(pattern)
    .command(secret)
    .command(rules)
    .command(setup)
    .command(enroll)
    .command(unenroll)
    .command(keys)
    .command(renew)
    .command(rotate)
    .command(revoke)
    .command(doctor)
    .command(demo)
    .example(
      '$0 setup myserver --hostname myserver.example.org',
      'once: a secret and the ssh config for `ssh myserver`',
    )
    .example('$0 rules --name myserver > pingknock.nft', "the server's rules; there: nft -f pingknock.nft")
    .example('ssh myserver', 'from then on, ssh knocks through `pingknock proxy`')
    .demandCommand(1, 'say which command: pingknock --help lists them')
    .recommendCommands()
    .strict()
    .help()
    .alias('h', 'help')
    .version(version())
    // Validation failures become usage errors; errors thrown by handlers pass through unchanged.
    .fail((message: string | undefined, error: Error | undefined) => {
      // yargs drops whatever follows "--", so a host there would go missing without a word.
      const afterDashes = hideBin(process.argv).includes('--')
        ? '; nothing after "--" is read, and a host never starts with "-"'
        : '';
      throw (
        error ?? new PingknockError('usage', `${message ?? 'invalid arguments'}${afterDashes} (see: pingknock --help)`)
      );
    })
    .epilogue(
      'Exit codes: 0 ok, 2 usage, 3 secret, 4 resolve, 5 no reply, 6 connect, 7 connection lost, 8 ping, ' +
        '9 root needed, 10 file, 11 lab, 12 firewall, 13 server, 14 unreachable, 15 not proven (doctor), ' +
        '16 one-time knocks ended. See README.md.',
    )
    .wrap(Math.min(100, process.stderr.columns ?? 100));
  try {
    await cli.parseAsync();
  } catch (error) {
    reportFailure(error);
  }
}

await main();
