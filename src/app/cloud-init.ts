import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { PingknockError } from '../core/errors.js';
import { renderCloudInit } from '../core/rules/cloud-init.js';
import type { KnockRuleModel } from '../core/rules/model.js';
import type { Backend } from '../core/rules/render.js';
import { UFW_TARGETS, withUfwBlocks, type UfwFiles } from '../core/rules/ufw.js';

export interface CloudInitSnippetRequest {
  readonly backend: Backend;
  readonly model: KnockRuleModel;
  readonly rules: string;
  readonly tool: string | undefined;
  readonly stateDir: string;
  readonly rollbackSeconds: number;
  /** ufw: a folder holding copies of the machine's before.rules and before6.rules. */
  readonly ufwDir: string | undefined;
}

/** `pingknock rules --cloud-init`: the snippet, for stdout. */
export async function cloudInitSnippet(request: CloudInitSnippetRequest): Promise<string> {
  const { backend, ufwDir } = request;
  if (ufwDir !== undefined && backend !== 'ufw') throw new PingknockError('usage', '--ufw-dir goes with --backend ufw');
  let ufwFiles: UfwFiles = {};
  if (backend === 'ufw') {
    // The block goes into the machine's own files, every other byte kept: they are not here.
    if (ufwDir === undefined) {
      throw new PingknockError(
        'usage',
        "--cloud-init --backend ufw edits the machine's before.rules and before6.rules: " +
          'give a folder with copies of them (from its /etc/ufw) with --ufw-dir',
      );
    }
    try {
      ufwFiles = withUfwBlocks(await readCopies(ufwDir, request.model), request.model);
    } catch (error) {
      if (error instanceof PingknockError) throw error;
      throw new PingknockError('firewall', (error as Error).message);
    }
  }
  return renderCloudInit({ ...request, ufwFiles });
}

/** The copies in `dir`, keyed by the path they stand for on the machine. */
async function readCopies(dir: string, model: KnockRuleModel): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const family of model.families) {
    const { file } = UFW_TARGETS[family];
    const copy = join(dir, basename(file));
    try {
      files[file] = await readFile(copy, 'utf8');
    } catch (error) {
      throw new PingknockError(
        'io',
        `cannot read ${copy} (${(error as NodeJS.ErrnoException).code ?? 'error'}), the copy of ${file}`,
      );
    }
  }
  return files;
}
