import type { ArgumentsCamelCase, Argv } from 'yargs';
import { runDoctor } from '../app/doctor.js';
import { WAIT_OPTIONS } from '../core/proxy-arguments.js';

export const command = 'doctor [alias]';
export const describe =
  'Check what a knock needs: the local ping, the secret, the ssh config, the name, and a live knock';

export function builder(yargs: Argv) {
  return yargs
    .positional('alias', { type: 'string', describe: 'the ssh host alias to check end to end (knocks it)' })
    .option('config', {
      type: 'string',
      describe: 'ssh config file (as ssh -F); default: what ssh reads',
      requiresArg: true,
    })
    .options(WAIT_OPTIONS)
    .example('$0 doctor', 'is the local ping one that can knock?')
    .example(
      '$0 doctor myserver',
      'everything `ssh myserver` needs, ending with a real knock and a connection to the port',
    );
}

type Args = ArgumentsCamelCase<Awaited<ReturnType<typeof builder>['argv']>>;

export async function handler(argv: Args): Promise<void> {
  await runDoctor(argv);
}
