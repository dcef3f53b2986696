import type { ArgumentsCamelCase, Argv } from 'yargs';
import { newSecret } from '../app/secret.js';

export const command = 'secret <action>';
export const describe = 'Make knock secrets';

const newCommand = {
  command: 'new',
  describe: 'Make a secret: 16 random characters from A-Z a-z 0-9 - _ (96 bits)',
  builder: (yargs: Argv) =>
    yargs
      .option('out', {
        type: 'string',
        describe: 'write it to this file (mode 0600, never over an existing file) instead of stdout',
        requiresArg: true,
      })
      .example('$0 secret new --out ~/.ssh/pingknock/myserver', 'the secret for `ssh myserver`'),
  handler: async (argv: ArgumentsCamelCase<{ out?: string | undefined }>): Promise<void> => {
    process.stdout.write(await newSecret(argv.out));
  },
};

export function builder(yargs: Argv) {
  return yargs
    .command(newCommand)
    .demandCommand(1, 'say what to do: pingknock secret new')
    .example('$0 secret new --out ~/.ssh/pingknock/myserver', 'a new secret, stored like an ssh key');
}

export function handler(): void {
  // The subcommand's handler does the work; yargs needs one here to accept `secret new`.
}
