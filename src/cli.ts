import { readFileSync } from 'node:fs';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { ExitCode, PingknockError } from './core/errors.js';
import * as demo from './commands/demo.js';
import * as knock from './commands/knock.js';
import * as proxy from './commands/proxy.js';
import * as rules from './commands/rules.js';
import * as secret from './commands/secret.js';

const SIGNAL_NUMBERS = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const;

function version(): string {
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return manifest.version;
}

function report(message: string): void {
  process.stderr.write(`pingknock: ${message}\n`);
}

async function main(): Promise<void> {
  // Exiting on a signal runs the 'exit' listeners, which stop a running ping and remove a lab.
  for (const [signal, number] of Object.entries(SIGNAL_NUMBERS)) {
    process.once(signal, () => process.exit(128 + number));
  }
  const cli = yargs(hideBin(process.argv))
    .scriptName('pingknock')
    .usage('$0 <command> [options]\n\nKnock with a ping that carries a secret, then ssh.')
    .command(proxy)
    .command(knock)
    .command(secret)
    .command(rules)
    .command(demo)
    .demandCommand(1, 'say which command: pingknock --help lists them')
    .recommendCommands()
    .strict()
    .help()
    .alias('h', 'help')
    .version(version())
    // Validation failures become usage errors; errors thrown by handlers pass through unchanged.
    .fail((message: string | undefined, error: Error | undefined) => {
      throw error ?? new PingknockError('usage', `${message ?? 'invalid arguments'} (see: pingknock --help)`);
    })
    .epilogue('Exit codes: 0 ok, 2 usage, 3 secret, 4 resolve, 5 no reply, 6 connect, 7 connection lost, 8 ping, 9 root needed, 10 file, 11 lab. See README.md.')
    .wrap(Math.min(100, process.stderr.columns ?? 100));
  try {
    await cli.parseAsync();
  } catch (error) {
    if (error instanceof PingknockError) {
      report(error.message);
      process.exitCode = error.exitCode;
    } else if (error instanceof Error && error.name === 'YError') {
      report(`${error.message} (see: pingknock --help)`);
      process.exitCode = ExitCode.usage;
    } else {
      report(`unexpected error: ${error instanceof Error ? error.message : String(error)}`);
      process.exitCode = ExitCode.internal;
    }
  }
}

await main();
