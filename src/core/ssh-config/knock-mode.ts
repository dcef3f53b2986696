import type { KnockMode } from '../rolling.js';
import { isOwnBlock } from './matching.js';
import { lineContent, readModel, Unparseable } from './model.js';
import { readPingknockProxy, sameMode, withRollingUntil } from './proxy-command.js';
import { applyEdits, type TextEdit } from './text-edit.js';

/**
 * The knock mode written into a host's ProxyCommand when the server's rules change it (enroll
 * picks one-time or static knocks, renew moves the last day): pingknock's ProxyCommand lines in
 * the alias's own Host blocks rewritten in place, every other byte kept.
 */
export type KnockModeEdit =
  | { readonly kind: 'unchanged' }
  | {
      readonly kind: 'changed';
      readonly text: string;
      /** Each rewritten line's content before and after (no line ending), for the records that quote it. */
      readonly lines: readonly { readonly before: string; readonly after: string }[];
    }
  /** No ProxyCommand of pingknock's in the alias's own block, or a text that cannot be edited safely. */
  | { readonly kind: 'refused'; readonly message: string };

export function knockModeEdit(original: string, alias: string, mode: KnockMode): KnockModeEdit {
  let model;
  try {
    model = readModel(original);
  } catch (error) {
    if (!(error instanceof Unparseable)) throw error;
    return { kind: 'refused', message: `cannot be edited safely: ${error.message}` };
  }
  const found = model.sections
    .filter((section) => isOwnBlock(section, alias))
    .flatMap((section) => section.directives)
    .filter((directive) => directive.keyword === 'proxycommand')
    .map((directive) => ({ directive, proxy: readPingknockProxy(directive.values.join(' '), alias) }))
    .filter(({ proxy }) => proxy?.form === 'current');
  if (found.length === 0) {
    return { kind: 'refused', message: `has no ProxyCommand of pingknock's in a Host ${alias} block` };
  }
  const edits: TextEdit[] = [];
  const lines: { before: string; after: string }[] = [];
  for (const { directive, proxy } of found) {
    if (proxy !== undefined && sameMode(proxy.mode, mode)) continue;
    const before = lineContent(original, model.lines, directive.line);
    const after = mode.kind === 'rolling' ? withRollingUntil(before, alias, mode.lastDay) : withoutRollingUntil(before);
    const line = model.lines[directive.line];
    if (after === undefined || line === undefined) {
      return {
        kind: 'refused',
        message: `line ${directive.line + 1} cannot be given the knock mode: ${before.trim()}`,
      };
    }
    edits.push({ start: line.start, end: line.end, text: after });
    lines.push({ before, after });
  }
  return edits.length === 0 ? { kind: 'unchanged' } : { kind: 'changed', text: applyEdits(original, edits), lines };
}

/** A line of pingknock's current ProxyCommand without its `--rolling-until DATE`: static knocks. */
function withoutRollingUntil(line: string): string {
  return line.replace(
    /(\bproxy\s+--name\s+\S+(?:\s+--jump\s+\S+(?:\s+--config\s+\S+)?)?)\s+--rolling-until\s+\S+/,
    '$1',
  );
}
