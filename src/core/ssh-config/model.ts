import { LineType, parse, type Line } from 'ssh-config';

/**
 * An ssh config as setup edits it: ssh-config parses, and the model keeps where each directive
 * stands in the original text, because edits are made to that text, never to the package's
 * tree: its `toString()` is not byte-exact (it drops trailing whitespace, collapses spaces,
 * re-quotes).
 */

/** A line of the original config: 1-based number and its text without the line ending. */
export interface SourceLine {
  readonly number: number;
  readonly text: string;
}

export interface PhysicalLine {
  readonly start: number;
  /** End of the content; the line ending follows. */
  readonly end: number;
  readonly eol: '' | '\n' | '\r\n';
}

/** `line` is the 0-based index of its physical line; `keyword` is in lower case. */
export interface Directive {
  readonly keyword: string;
  readonly values: readonly string[];
  readonly line: number;
}

export interface Section {
  readonly kind: 'host' | 'match';
  readonly patterns: readonly string[];
  readonly headerLine: number;
  readonly directives: Directive[];
}

export interface ConfigModel {
  readonly lines: readonly PhysicalLine[];
  readonly global: readonly Directive[];
  readonly sections: readonly Section[];
}

/** The text is not what ssh would read the way the parser did: no edit is safe. */
export class Unparseable extends Error {}

/** Physical lines: split at LF, a CR before it belongs to the line ending. */
function physicalLines(text: string): PhysicalLine[] {
  const lines: PhysicalLine[] = [];
  let start = 0;
  while (start < text.length) {
    const newline = text.indexOf('\n', start);
    if (newline === -1) {
      lines.push({ start, end: text.length, eol: '' });
      break;
    }
    const crlf = newline > start && text[newline - 1] === '\r';
    lines.push({ start, end: crlf ? newline - 1 : newline, eol: crlf ? '\r\n' : '\n' });
    start = newline + 1;
  }
  return lines;
}

/**
 * Parses with ssh-config and maps every node back to its offset in the original text. The
 * package keeps the whitespace around each node (`before`, `after`), so walking the nodes in
 * order must reproduce the text exactly; where it does not, the package saw something other
 * than ssh will, and the file is not edited.
 */
export function readModel(text: string): ConfigModel {
  const stray = /\r(?!\n)/.exec(text);
  if (stray !== null) {
    throw new Unparseable(`line ${lineNumberAt(text, stray.index)} has a carriage return that does not end the line`);
  }
  let parsed;
  try {
    parsed = parse(text);
  } catch (error) {
    throw new Unparseable(
      `the ssh-config parser refused it (${error instanceof Error ? error.message : String(error)})`,
    );
  }
  const lines = physicalLines(text);
  const lineStarts = lines.map((line) => line.start);
  const lineOf = (offset: number): number => {
    let low = 0;
    let high = lineStarts.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if ((lineStarts[middle] ?? 0) <= offset) low = middle;
      else high = middle - 1;
    }
    return low;
  };
  const nodes: { node: Line; section: number }[] = [];
  parsed.forEach((node, index) => {
    nodes.push({ node, section: 'config' in node ? index : -1 });
    if ('config' in node) for (const child of node.config) nodes.push({ node: child, section: index });
  });

  const global: Directive[] = [];
  const sectionsByIndex = new Map<number, Section>();
  let position = 0;
  const expect = (part: string, what: string): void => {
    if (text.slice(position, position + part.length) !== part) {
      throw new Unparseable(
        `line ${lineNumberAt(text, position)} is not what the ssh-config parser read there (${what})`,
      );
    }
    position += part.length;
  };
  nodes.forEach(({ node, section }, index) => {
    expect(node.before, 'leading space');
    const start = position;
    const lineEnd = endOfLine(text, start);
    const next = nodes[index + 1]?.node;
    let end = lineEnd;
    if (node.type === LineType.EMPTY) {
      end = start;
    } else if (node.after === '' && next?.type === LineType.COMMENT && next.before === '') {
      // A comment after a value on the same line: the parser cut the directive at its '#'.
      end = lineEnd - next.content.length;
    }
    if (end < start) throw new Unparseable(`line ${lineNumberAt(text, start)} could not be located`);
    position = end;
    if (node.type === LineType.COMMENT) {
      if (text[start] !== '#' || text.slice(start, end) !== node.content) {
        throw new Unparseable(`line ${lineNumberAt(text, start)} is not the comment the ssh-config parser read`);
      }
    } else if (node.type === LineType.DIRECTIVE) {
      if (!/^[A-Za-z][A-Za-z0-9]*$/.test(node.param) || !text.startsWith(node.param, start)) {
        throw new Unparseable(`line ${lineNumberAt(text, start)} does not start with a keyword the way ssh reads it`);
      }
      const keyword = node.param.toLowerCase();
      const parts = typeof node.value === 'string' ? [node.value] : node.value.map((part) => part.val);
      // For ssh a word starting with '#' starts a comment; the parser keeps one that comes first.
      const comment = parts.findIndex((part) => part.startsWith('#'));
      const values = keyword === 'host' && comment !== -1 ? parts.slice(0, comment) : parts;
      const line = lineOf(start);
      if ('config' in node) {
        sectionsByIndex.set(section, {
          kind: keyword === 'host' ? 'host' : 'match',
          patterns: values,
          headerLine: line,
          directives: [],
        });
      } else if (section === -1) {
        global.push({ keyword, values, line });
      } else {
        sectionsByIndex.get(section)?.directives.push({ keyword, values, line });
      }
    }
    expect(node.after, 'line ending');
  });
  if (position !== text.length) {
    throw new Unparseable(`line ${lineNumberAt(text, position)} was skipped by the ssh-config parser`);
  }
  return { lines, global, sections: [...sectionsByIndex.values()] };
}

function endOfLine(text: string, from: number): number {
  const match = /[\r\n]/.exec(text.slice(from));
  return match === null ? text.length : from + match.index;
}

export function lineNumberAt(text: string, offset: number): number {
  let count = 1;
  for (let index = text.indexOf('\n'); index !== -1 && index < offset; index = text.indexOf('\n', index + 1))
    count += 1;
  return count;
}

/** The text of a physical line without its line ending; '' past the end. */
export function lineContent(text: string, lines: readonly PhysicalLine[], index: number): string {
  const line = lines[index];
  return line === undefined ? '' : text.slice(line.start, line.end);
}

export function sourceLineAt(text: string, lines: readonly PhysicalLine[], index: number): SourceLine {
  return { number: index + 1, text: lineContent(text, lines, index) };
}
