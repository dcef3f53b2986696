import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './cli.js';

/** Every Node major pingknock supports: what relies on a Node internal is proven on each. */
export const SUPPORTED_NODE_MAJORS = [20, 22, 24] as const;

export interface NodeBinary {
  readonly major: number;
  readonly path: string;
  /** As `node --version` says it: v22.23.5. */
  readonly version: string;
}

/**
 * A node of each supported major: this one for its own major, and for each other the release
 * `./install.sh --lab` keeps in .test-node/MAJOR/node. Throws when one is missing or is not what
 * its place says: a test must fail, not quietly cover fewer releases.
 */
export function supportedNodes(): NodeBinary[] {
  const ownMajor = Number(process.versions.node.split('.')[0]);
  return SUPPORTED_NODE_MAJORS.map((major) => {
    const path = major === ownMajor ? process.execPath : join(ROOT, '.test-node', String(major), 'node');
    const result = spawnSync(path, ['--version'], { encoding: 'utf8' });
    const version = result.stdout?.trim() ?? '';
    if (result.status !== 0 || !version.startsWith(`v${major}.`)) {
      throw new Error(
        `no Node ${major} at ${path} (${result.error?.message ?? (version || result.stderr.trim())}): ` +
          'run ./install.sh --lab, which fetches every supported major this machine lacks',
      );
    }
    return { major, path, version };
  });
}
