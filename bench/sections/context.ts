// What every section is given: the lab with pingknock's rules loaded, the secret, the settings.
import type { Lab, LabOptions } from '../../src/lab/lab.js';
import type { Config } from '../config.js';

export interface Context {
  readonly config: Config;
  readonly lab: Lab;
  /** The secret as ping's -p pattern. */
  readonly hex: string;
  /** The bench's own directory, on tmpfs. */
  readonly work: string;
  readonly secretFile: string;
  /**
   * Another lab like `lab` (same secret, same rules), for a section that needs other links: with
   * `forwarder`, frames between client and server pass through it. The caller destroys it.
   */
  readonly buildLab: (forwarder?: LabOptions['forwarder']) => Promise<Lab>;
}

/** `args` run in the lab's client namespace, through `ip`. */
export const onClient = (lab: Lab, args: readonly string[]): string[] => ['netns', 'exec', lab.client.netns, ...args];
