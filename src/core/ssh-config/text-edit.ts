import { lineContent, type ConfigModel, type PhysicalLine, type Section } from './model.js';

/**
 * Text edits to the original config: insertions and deletions at offsets, so every byte not
 * edited stays as it was, line endings and a missing final newline included.
 */

/** Put in front of a line that `--force` disables, so the user still sees what was there. */
export const REPLACED_MARK = '# replaced by pingknock setup: ';
const DEFAULT_INDENT = '    ';

/** Replaces [start, end) of the original text; start = end inserts. */
export interface TextEdit {
  readonly start: number;
  readonly end: number;
  readonly text: string;
}

export function leadingIndent(line: string): string {
  return /^[ \t]*/.exec(line)?.[0] ?? '';
}

/** The indentation the block already uses, else the file's, else four spaces. */
export function indentOf(text: string, model: ConfigModel, section: Section | undefined): string {
  const indentAt = (line: number): string => leadingIndent(lineContent(text, model.lines, line));
  const first = section?.directives[0];
  if (first !== undefined) return indentAt(first.line);
  for (const other of model.sections) {
    const indent = other.directives.map((directive) => indentAt(directive.line)).find((candidate) => candidate !== '');
    if (indent !== undefined) return indent;
  }
  return DEFAULT_INDENT;
}

/** The file's own line ending, as near the edit as possible. */
function eolNear(lines: readonly PhysicalLine[], index: number): '\n' | '\r\n' {
  const here = lines[index]?.eol;
  if (here === '\n' || here === '\r\n') return here;
  const any = lines.find((line) => line.eol !== '')?.eol;
  return any === '\r\n' ? '\r\n' : '\n';
}

export function insertAfterLine(
  text: string,
  lines: readonly PhysicalLine[],
  index: number,
  added: readonly string[],
): TextEdit {
  const line = lines[index];
  const eol = eolNear(lines, index);
  if (line === undefined)
    return { start: text.length, end: text.length, text: added.map((part) => part + eol).join('') };
  if (line.eol === '') {
    // The file ends without a line ending: keep it that way after the added lines.
    return { start: text.length, end: text.length, text: added.map((part) => eol + part).join('') };
  }
  const at = line.end + line.eol.length;
  return { start: at, end: at, text: added.map((part) => part + eol).join('') };
}

export function newBlockInsertion(
  text: string,
  model: ConfigModel,
  block: readonly string[],
): { added: string[]; insertion: TextEdit } {
  const { lines } = model;
  const isBlank = (index: number): boolean => {
    const line = lines[index];
    return line !== undefined && text.slice(line.start, line.end).trim() === '';
  };
  const isComment = (index: number): boolean => {
    const line = lines[index];
    return line !== undefined && text.slice(line.start, line.end).trimStart().startsWith('#');
  };
  const first = model.sections[0];
  if (first === undefined) {
    const last = lines.length - 1;
    const separator = last >= 0 && !isBlank(last) ? [''] : [];
    const added = [...separator, ...block];
    return { added, insertion: insertAfterLine(text, lines, last, added) };
  }
  // Comments right above the first section describe it: the new block goes above them.
  let at = first.headerLine;
  while (at > 0 && isComment(at - 1)) at -= 1;
  const eol = eolNear(lines, at);
  const separator = at > 0 && !isBlank(at - 1) ? [''] : [];
  const added = [...separator, ...block, ''];
  const offset = lines[at]?.start ?? text.length;
  return { added, insertion: { start: offset, end: offset, text: added.map((part) => part + eol).join('') } };
}

export function commentOut(text: string, lines: readonly PhysicalLine[], index: number): TextEdit {
  const line = lines[index];
  if (line === undefined) throw new RangeError(`no line ${index}`);
  const at = line.start + leadingIndent(lineContent(text, lines, index)).length;
  return { start: at, end: at, text: REPLACED_MARK };
}

export function applyEdits(text: string, edits: readonly TextEdit[]): string {
  let result = '';
  let position = 0;
  for (const edit of [...edits].sort((a, b) => a.start - b.start)) {
    result += text.slice(position, edit.start) + edit.text;
    position = edit.end;
  }
  return result + text.slice(position);
}

/** How far earlier edits moved an edit's start. */
export function shiftBefore(edits: readonly TextEdit[], edit: TextEdit): number {
  return edits
    .filter((other) => other !== edit && other.start <= edit.start)
    .reduce((sum, other) => sum + other.text.length - (other.end - other.start), 0);
}

/** Takes commentOut's mark away again from a line that has it after `indent`. */
export function removeMark(lines: readonly PhysicalLine[], index: number, indent: string): TextEdit {
  const start = (lines[index]?.start ?? 0) + indent.length;
  return { start, end: start + REPLACED_MARK.length, text: '' };
}

/**
 * Deletes physical lines [from, to) with their line endings. When they end the file without a
 * line ending, the line before them gives up its own: the file ends as it did before they came.
 */
export function lineRangeRemoval(lines: readonly PhysicalLine[], from: number, to: number): TextEdit {
  const first = lines[from];
  const last = lines[to - 1];
  if (first === undefined || last === undefined) throw new RangeError(`no lines ${from}..${to}`);
  const before = lines[from - 1];
  const start = last.eol === '' && before !== undefined ? before.end : first.start;
  return { start, end: last.end + last.eol.length, text: '' };
}
