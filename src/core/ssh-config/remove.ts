import type { SshConfigAddition } from './add.js';
import { isOwnBlock } from './matching.js';
import { lineContent, readModel, sourceLineAt, Unparseable, type ConfigModel, type SourceLine } from './model.js';
import { parseAlias } from './names.js';
import { readPingknockProxy } from './proxy-command.js';
import { applyEdits, leadingIndent, lineRangeRemoval, REPLACED_MARK, removeMark, type TextEdit } from './text-edit.js';

export type SshConfigRemoval =
  | { readonly kind: 'unchanged' }
  | {
      readonly kind: 'changed';
      readonly text: string;
      /** The lines taken out, numbered as in the text before. */
      readonly removed: readonly SourceLine[];
      /** The lines whose replaced-by-pingknock mark was taken away, as they read now. */
      readonly restored: readonly SourceLine[];
    }
  | { readonly kind: 'refused'; readonly message: string };

/**
 * The inverse of setup's edit (`pingknock unenroll`): takes out exactly the lines `addition` says
 * setup added to the alias's own Host block (the block itself, when setup made it, with the blank
 * separators it added) and the marks in front of the lines it replaced; every other byte stays,
 * line endings and a missing final newline included. Lines added since are never taken out: a
 * block setup made that has gained other lines, or added lines that were changed, are refused.
 * Without a record, only pingknock's ProxyCommand lines in the alias's own block are taken out, with
 * the `ProxyUseFdpass yes` of a block whose line says --fdpass; the ProxyJump a line knocking from a
 * jump host replaced (marked so by setup) gets its mark taken off.
 */
export function removeSetupAddition(
  original: string,
  aliasInput: string,
  addition: SshConfigAddition | undefined,
): SshConfigRemoval {
  const alias = parseAlias(aliasInput);
  let model: ConfigModel;
  try {
    model = readModel(original);
  } catch (error) {
    if (!(error instanceof Unparseable)) throw error;
    return { kind: 'refused', message: `cannot be edited safely: ${error.message}` };
  }
  const { lines } = model;
  const content = (index: number): string => lineContent(original, lines, index);
  const sourceLine = (index: number): SourceLine => sourceLineAt(original, lines, index);
  const own = model.sections
    .map((section, index) => ({ section, end: model.sections[index + 1]?.headerLine ?? lines.length }))
    .filter(({ section }) => isOwnBlock(section, alias));
  const proxies = own.flatMap(({ section }) =>
    section.directives.flatMap((directive) => {
      const found =
        directive.keyword === 'proxycommand' ? readPingknockProxy(directive.values.join(' '), alias) : undefined;
      return found === undefined ? [] : [{ section, line: directive.line, fdpass: found.fdpass, jump: found.jump }];
    }),
  );
  const pingknockLines = proxies.map(({ line }) => line);
  // The `ProxyUseFdpass yes` that setup adds with a --fdpass line has no use without that line.
  const fdpassLines = own
    .filter(({ section }) => proxies.some((proxy) => proxy.section === section && proxy.fdpass))
    .flatMap(({ section }) => section.directives)
    .filter((directive) => directive.keyword === 'proxyusefdpass' && directive.values[0]?.toLowerCase() === 'yes')
    .map((directive) => directive.line);

  if (addition === undefined) {
    if (pingknockLines.length === 0) return { kind: 'unchanged' };
    const taken = [...pingknockLines, ...fdpassLines].sort((a, b) => a - b);
    // Neighbouring lines go as one range, so no two removals overlap at a line ending.
    const ranges: { from: number; to: number }[] = [];
    for (const line of taken) {
      const previous = ranges[ranges.length - 1];
      if (previous !== undefined && previous.to === line) previous.to = line + 1;
      else ranges.push({ from: line, to: line + 1 });
    }
    const edits = ranges.map(({ from, to }) => lineRangeRemoval(lines, from, to));
    // A line that knocks from a jump host took the place of the ProxyJump setup marked as replaced: it comes back.
    const restored: SourceLine[] = [];
    for (const { section, jump } of proxies) {
      const end = own.find((block) => block.section === section)?.end ?? lines.length;
      for (let index = section.headerLine + 1; jump !== undefined && index < end; index += 1) {
        const text = content(index);
        const indent = leadingIndent(text);
        const rest = text.slice(indent.length);
        const route = /^ProxyJump(?:\s*=\s*|\s+)(\S+)/i.exec(rest.slice(REPLACED_MARK.length))?.[1];
        if (!rest.startsWith(REPLACED_MARK) || route !== jump.route.text) continue;
        edits.push(removeMark(lines, index, indent));
        restored.push({ number: index + 1, text: indent + rest.slice(REPLACED_MARK.length) });
        break;
      }
    }
    return {
      kind: 'changed',
      text: applyEdits(original, edits),
      removed: taken.map(sourceLine),
      restored,
    };
  }

  const leading = addition.added[0] === '' ? 1 : 0;
  const trailing = addition.added.length > leading && addition.added[addition.added.length - 1] === '' ? 1 : 0;
  const core = addition.added.slice(leading, addition.added.length - trailing);
  const coreAt = (start: number): boolean =>
    core.every((text, offset) => start + offset < lines.length && content(start + offset) === text);
  let found: { start: number; end: number } | undefined;
  for (const { section, end } of own) {
    if (addition.newBlock) {
      if (!coreAt(section.headerLine)) continue;
      const coreEnd = section.headerLine + core.length;
      // Lines the user added to the block since would end up in the block above: leave it all.
      if (section.directives.some((directive) => directive.line >= coreEnd)) {
        return {
          kind: 'refused',
          message:
            `the Host ${alias} block pingknock setup made (line ${section.headerLine + 1}) has lines of yours now; ` +
            'take its ProxyCommand line out by hand',
        };
      }
      found = { start: section.headerLine, end: coreEnd };
    } else {
      for (let start = section.headerLine + 1; start + core.length <= end && found === undefined; start += 1) {
        if (coreAt(start)) found = { start, end: start + core.length };
      }
    }
    if (found !== undefined) break;
  }
  if (found === undefined) {
    if (pingknockLines.length === 0) return { kind: 'unchanged' };
    const where = pingknockLines.map((line) => `line ${line + 1}`).join(' and ');
    return {
      kind: 'refused',
      message:
        `the lines pingknock setup added for ${alias} were changed since; ` +
        `take its ProxyCommand (${where}) out by hand`,
    };
  }
  // The blank separators setup added, if they are still there.
  if (leading === 1 && found.start > 0 && content(found.start - 1) === '') found = { ...found, start: found.start - 1 };
  if (trailing === 1 && found.end < lines.length && content(found.end) === '') found = { ...found, end: found.end + 1 };
  const edits: TextEdit[] = [lineRangeRemoval(lines, found.start, found.end)];
  const removed = Array.from({ length: found.end - found.start }, (_, offset) => sourceLine(found.start + offset));

  const restored: SourceLine[] = [];
  const used = new Set<number>();
  for (const text of addition.replaced) {
    const indent = leadingIndent(text);
    const marked = `${indent}${REPLACED_MARK}${text.slice(indent.length)}`;
    for (const { section, end } of own) {
      let index = section.headerLine + 1;
      while (
        index < end &&
        (used.has(index) || (index >= found.start && index < found.end) || content(index) !== marked)
      )
        index += 1;
      if (index >= end) continue;
      used.add(index);
      edits.push(removeMark(lines, index, indent));
      restored.push({ number: index + 1, text });
      break;
    }
  }
  return { kind: 'changed', text: applyEdits(original, edits), removed, restored };
}
