// What the bench takes from the build it measures: the lab, pingknock's rules and its secrets come
// from dist/ like the proxy being timed, so that the rules the lab loads are the proxy's own even
// when src/ has moved on since the build. Their types come from the sources.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as RuleModel from '../src/core/rules/model.js';
import type * as Nftables from '../src/core/rules/nftables.js';
import type * as Secrets from '../src/core/secret.js';
import type * as LabModule from '../src/lab/lab.js';
import { ROOT } from './config.js';

/** The files of dist/ the bench needs: these modules, and the CLI it times. */
export const BUILT = ['lab/lab.js', 'core/rules/model.js', 'core/rules/nftables.js', 'core/secret.js', 'cli.js'].map(
  (file) => join('dist', file),
);

const load = async (file: string): Promise<unknown> => import(pathToFileURL(join(ROOT, 'dist', file)).href);

export async function loadBuilt(): Promise<{
  Lab: typeof LabModule.Lab;
  buildRuleModel: typeof RuleModel.buildRuleModel;
  renderNftables: typeof Nftables.renderNftables;
  secretFromRandomBytes: typeof Secrets.secretFromRandomBytes;
  SECRET_RANDOM_BYTES: number;
}> {
  const lab = (await load('lab/lab.js')) as typeof LabModule;
  const model = (await load('core/rules/model.js')) as typeof RuleModel;
  const nftables = (await load('core/rules/nftables.js')) as typeof Nftables;
  const secrets = (await load('core/secret.js')) as typeof Secrets;
  return {
    Lab: lab.Lab,
    buildRuleModel: model.buildRuleModel,
    renderNftables: nftables.renderNftables,
    secretFromRandomBytes: secrets.secretFromRandomBytes,
    SECRET_RANDOM_BYTES: secrets.SECRET_RANDOM_BYTES,
  };
}
