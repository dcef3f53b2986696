import { LineType, parse, type Line } from 'ssh-config';
import { PingknockError } from './errors.js';
import { parseHost, parsePort, printable } from './target.js';

/**
 * The edit `pingknock setup` makes to an ssh config, as a pure text transform. ssh-config parses
 * and locates; the edit itself is a text insertion into the original, because the package's
 * `toString()` is not byte-exact (it drops trailing whitespace, collapses spaces, re-quotes).
 * Every original byte is kept, in order; with `force`, conflicting lines in the host's own
 * block are commented out (their text kept after the `#`).
 */

/**
 * The ProxyCommand setup writes names the alias itself: only OpenSSH expands `%n`, and paramiko
 * (so Fabric, and Ansible's paramiko connection) passes it on literally.
 */
export function proxyCommandFor(alias: string): string {
  return `pingknock proxy --name ${alias} %h %p`;
}
/** Put in front of a line that `--force` disables, so the user still sees what was there. */
export const REPLACED_MARK = '# replaced by pingknock setup: ';
const DEFAULT_INDENT = '    ';

// An ssh Host pattern and the name of a secret file at once, so no glob, quote, space or option.
const ALIAS_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;
const USER_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9._@-]*$/;
const MAX_NAME_LENGTH = 253;

export function parseAlias(input: string): string {
  if (input.startsWith('-')) {
    throw new PingknockError('usage', `alias "${printable(input)}" starts with "-"; an ssh host alias never does`);
  }
  if (input.length === 0 || input.length > MAX_NAME_LENGTH || !ALIAS_PATTERN.test(input)) {
    throw new PingknockError(
      'usage',
      `alias "${printable(input)}" is not a plain ssh host name: use letters, digits, '.', '_' and '-' (no patterns or spaces)`,
    );
  }
  return input;
}

export function parseSshUser(input: string): string {
  if (input.length === 0 || input.length > MAX_NAME_LENGTH || !USER_PATTERN.test(input)) {
    throw new PingknockError('usage', `user "${printable(input)}" is not a valid user name`);
  }
  return input;
}

export interface SshConfigEditRequest {
  readonly alias: string;
  readonly hostName?: string | undefined;
  readonly port?: number | undefined;
  readonly user?: string | undefined;
  readonly force: boolean;
}

/** A line of the original config: 1-based number and its text without the line ending. */
export interface SourceLine {
  readonly number: number;
  readonly text: string;
}

export type SshConfigEdit =
  | {
      readonly kind: 'unchanged';
    }
  | {
      readonly kind: 'changed';
      readonly text: string;
      /** The lines pingknock added, without line endings; blank separator lines included. */
      readonly added: readonly string[];
      /** 1-based number, in the new text, of the first added line. */
      readonly addedAt: number;
      readonly newBlock: boolean;
      /** Lines in the host's own block that `force` commented out. */
      readonly replaced: readonly SourceLine[];
      /** Lines elsewhere that applied to the alias and that the added ProxyCommand now overrides (`force`). */
      readonly overridden: readonly SourceLine[];
    }
  | {
      readonly kind: 'refused';
      readonly reason: SshConfigRefusal;
      readonly message: string;
      readonly lines: readonly SourceLine[];
    };

/** conflict: `force` would resolve it; shadowed: an earlier line wins for the alias; unparseable: no safe edit. */
export type SshConfigRefusal = 'conflict' | 'shadowed' | 'unparseable';

interface PhysicalLine {
  readonly start: number;
  /** End of the content; the line ending follows. */
  readonly end: number;
  readonly eol: '' | '\n' | '\r\n';
}

interface Directive {
  readonly keyword: string;
  readonly values: readonly string[];
  readonly line: number;
}

interface Section {
  readonly kind: 'host' | 'match';
  readonly patterns: readonly string[];
  readonly headerLine: number;
  readonly directives: Directive[];
}

interface ConfigModel {
  readonly lines: readonly PhysicalLine[];
  readonly global: readonly Directive[];
  readonly sections: readonly Section[];
}

class Unparseable extends Error {}

/** Option groups pingknock sets. ProxyCommand and ProxyJump are one group: ssh takes whichever comes first. */
type Group = 'proxy' | 'hostname' | 'port' | 'user';

const GROUP_OF: Readonly<Record<string, Group>> = {
  proxycommand: 'proxy',
  proxyjump: 'proxy',
  hostname: 'hostname',
  port: 'port',
  user: 'user',
};

interface Want {
  readonly group: Group;
  readonly line: string;
  readonly satisfiedBy: (directive: Directive) => boolean;
  /**
   * A line of an earlier pingknock that still works with OpenSSH: setup replaces it in the host's
   * own block without --force, and leaves it alone in blocks other hosts use.
   */
  readonly outdated?: (directive: Directive) => boolean;
}

/** A request as the command line gives it: the port may still be text. */
export interface UncheckedEditRequest extends Omit<SshConfigEditRequest, 'port'> {
  readonly port?: string | number | undefined;
}

/** Validates every value that would be written into the config: a newline in one would add directives. */
export function checkedEditRequest(unchecked: UncheckedEditRequest): SshConfigEditRequest {
  return {
    alias: parseAlias(unchecked.alias),
    hostName: unchecked.hostName === undefined ? undefined : parseHost(unchecked.hostName),
    port: unchecked.port === undefined ? undefined : parsePort(unchecked.port),
    user: unchecked.user === undefined ? undefined : parseSshUser(unchecked.user),
    force: unchecked.force,
  };
}

export function editSshConfig(original: string, unchecked: SshConfigEditRequest): SshConfigEdit {
  // Whatever is written into the config is checked here too, whoever built the request.
  const request = checkedEditRequest(unchecked);
  const { alias } = request;
  let model: ConfigModel;
  try {
    model = readModel(original);
  } catch (error) {
    if (!(error instanceof Unparseable)) throw error;
    return { kind: 'refused', reason: 'unparseable', message: `cannot be edited safely: ${error.message}; check it with: ssh -G ${alias}`, lines: [] };
  }
  const lineText = (index: number): SourceLine => {
    const line = model.lines[index];
    return { number: index + 1, text: line === undefined ? '' : original.slice(line.start, line.end) };
  };
  const wants = wantsFor(request);
  const target = model.sections.find((section) => section.kind === 'host' && section.patterns.length === 1 && section.patterns[0] === alias);
  // The added lines go to the end of the host's own block, or a new block before the first
  // section: either way after the global lines only, which is where ssh's first match matters.
  const insertionLine = target === undefined ? model.sections[0]?.headerLine ?? model.lines.length : target.headerLine;
  const applicable = [
    ...model.global.map((directive) => ({ directive, section: undefined })),
    ...model.sections
      .filter((section) => section.kind === 'host' && hostMatches(section.patterns, alias))
      .flatMap((section) => section.directives.map((directive) => ({ directive, section }))),
  ].sort((a, b) => a.directive.line - b.directive.line);

  const toAdd: string[] = [];
  // Lines of the host's own block that differ from what is asked: commented out with --force.
  const toComment: Directive[] = [];
  // Those of them that are the user's own lines, not an earlier pingknock's: only --force replaces them.
  const usersOwn: Directive[] = [];
  const shadows: Directive[] = [];
  const overridden: Directive[] = [];
  for (const want of wants) {
    const inGroup = applicable.filter(({ directive }) => GROUP_OF[directive.keyword] === want.group);
    const first = inGroup[0];
    if (first === undefined) {
      toAdd.push(want.line);
      continue;
    }
    if (target === undefined || first.section !== target) {
      const serves = want.satisfiedBy(first.directive) || want.outdated?.(first.directive) === true;
      if (first.directive.line < insertionLine) {
        if (!serves) shadows.push(first.directive);
        continue;
      }
      if (serves) continue;
      // A later block's value applies to the alias today; the added line takes its place for it.
      if (want.group === 'proxy') overridden.push(first.directive);
      toAdd.push(want.line);
      continue;
    }
    if (want.satisfiedBy(first.directive)) continue;
    const inBlock = target.directives.filter((directive) => GROUP_OF[directive.keyword] === want.group);
    const replaced = inBlock.filter((directive) => !want.satisfiedBy(directive));
    toComment.push(...replaced);
    usersOwn.push(...replaced.filter((directive) => want.outdated?.(directive) !== true));
    if (!inBlock.some((directive) => want.satisfiedBy(directive))) toAdd.push(want.line);
  }

  if (shadows.length > 0) {
    const lines = shadows.map((directive) => lineText(directive.line));
    return {
      kind: 'refused',
      reason: 'shadowed',
      message:
        `ssh uses the first value it finds, and ${describeLines(lines)} comes first for ${alias}, so the line for ${alias} would have no effect; ` +
        `move the ${alias} entry above it or change that line (pingknock does not edit lines other hosts use)`,
      lines,
    };
  }
  const blocking = [...usersOwn, ...overridden].sort((a, b) => a.line - b.line);
  if (blocking.length > 0 && !request.force) {
    const lines = blocking.map((directive) => lineText(directive.line));
    return {
      kind: 'refused',
      reason: 'conflict',
      message: `${alias} already has ${describeLines(lines)}; pass --force to have pingknock's lines take ${lines.length === 1 ? 'its' : 'their'} place for ${alias} (the original is kept in a backup)`,
      lines,
    };
  }
  toComment.sort((a, b) => a.line - b.line);
  if (toAdd.length === 0 && toComment.length === 0) {
    return { kind: 'unchanged' };
  }

  const edits: TextEdit[] = toComment.map((directive) => commentOut(original, model.lines, directive.line));
  let added: string[];
  let insertion: TextEdit;
  if (target !== undefined) {
    const anchor = Math.max(target.headerLine, ...target.directives.map((directive) => directive.line));
    const indent = indentOf(original, model, target);
    added = toAdd.map((line) => `${indent}${line}`);
    insertion = insertAfterLine(original, model.lines, anchor, added);
  } else {
    const indent = indentOf(original, model, undefined);
    const block = [`Host ${alias}`, ...toAdd.map((line) => `${indent}${line}`)];
    ({ added, insertion } = newBlockInsertion(original, model, block));
  }
  edits.push(insertion);
  const text = applyEdits(original, edits);
  const addedAt = lineNumberAt(text, insertion.start + shiftBefore(edits, insertion) + insertion.text.search(/[^\r\n]/));
  return {
    kind: 'changed',
    text,
    added,
    addedAt,
    newBlock: target === undefined,
    replaced: toComment.map((directive) => lineText(directive.line)),
    overridden: overridden.map((directive) => lineText(directive.line)),
  };
}

/**
 * Which of pingknock's ProxyCommands a value is (the program given by any path): `current` names
 * the alias, `legacy` is the `--name %n` that earlier setups wrote, which works with OpenSSH only.
 */
export function pingknockProxyForm(value: string, alias: string): 'current' | 'legacy' | undefined {
  // ssh keeps the rest of the line, an inline `# comment` too; the shell that runs it ignores it.
  const words = value.trim().split(/\s+/);
  const comment = words.findIndex((word) => word.startsWith('#'));
  const [program, ...rest] = comment === -1 ? words : words.slice(0, comment);
  if (program === undefined || !(program === 'pingknock' || program.endsWith('/pingknock'))) return undefined;
  const matches = (name: string): boolean => rest.join(' ') === `proxy --name ${name} %h %p`;
  return matches(alias) ? 'current' : matches('%n') ? 'legacy' : undefined;
}

/** ssh's Host matching: any positive pattern matches and no negated one does; case-sensitive. */
export function hostMatches(patterns: readonly string[], host: string): boolean {
  let matched = false;
  for (const pattern of patterns) {
    const negated = pattern.startsWith('!');
    if (globMatches(negated ? pattern.slice(1) : pattern, host)) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

/** ssh's `*` (any run, also empty) and `?` (exactly one character). ssh-config's own glob lets `?` match nothing. */
export function globMatches(pattern: string, text: string): boolean {
  const source = [...pattern]
    .map((character) => (character === '*' ? '[^]*' : character === '?' ? '[^]' : character.replace(/[\\^$.|+()[\]{}]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`, 'u').test(text);
}

/** What the request asks for, in the order the lines of a new block get them. */
function wantsFor(request: SshConfigEditRequest): Want[] {
  const { hostName, port, user } = request;
  const wants: Want[] = [];
  if (hostName !== undefined) {
    wants.push({ group: 'hostname', line: `HostName ${hostName}`, satisfiedBy: (d) => d.values[0]?.toLowerCase() === hostName.toLowerCase() });
  }
  if (port !== undefined) {
    wants.push({ group: 'port', line: `Port ${port}`, satisfiedBy: (d) => Number(d.values[0]) === port });
  }
  if (user !== undefined) {
    wants.push({ group: 'user', line: `User ${user}`, satisfiedBy: (d) => d.values[0] === user });
  }
  wants.push({
    group: 'proxy',
    line: `ProxyCommand ${proxyCommandFor(request.alias)}`,
    satisfiedBy: (d) => d.keyword === 'proxycommand' && pingknockProxyForm(d.values.join(' '), request.alias) === 'current',
    outdated: (d) => d.keyword === 'proxycommand' && pingknockProxyForm(d.values.join(' '), request.alias) === 'legacy',
  });
  return wants;
}

function describeLines(lines: readonly SourceLine[]): string {
  return lines.map((line) => `line ${line.number} "${printable(line.text.trim())}"`).join(' and ');
}

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
function readModel(text: string): ConfigModel {
  const stray = /\r(?!\n)/.exec(text);
  if (stray !== null) {
    throw new Unparseable(`line ${lineNumberAt(text, stray.index)} has a carriage return that does not end the line`);
  }
  let parsed;
  try {
    parsed = parse(text);
  } catch (error) {
    throw new Unparseable(`the ssh-config parser refused it (${error instanceof Error ? error.message : String(error)})`);
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
      throw new Unparseable(`line ${lineNumberAt(text, position)} is not what the ssh-config parser read there (${what})`);
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
        sectionsByIndex.set(section, { kind: keyword === 'host' ? 'host' : 'match', patterns: values, headerLine: line, directives: [] });
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

function lineNumberAt(text: string, offset: number): number {
  let count = 1;
  for (let index = text.indexOf('\n'); index !== -1 && index < offset; index = text.indexOf('\n', index + 1)) count += 1;
  return count;
}

/** The indentation the block already uses, else the file's, else four spaces. */
function indentOf(text: string, model: ConfigModel, section: Section | undefined): string {
  const indentAt = (line: number): string => {
    const physical = model.lines[line];
    return physical === undefined ? '' : (/^[ \t]*/.exec(text.slice(physical.start, physical.end))?.[0] ?? '');
  };
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

interface TextEdit {
  readonly start: number;
  readonly end: number;
  readonly text: string;
}

function insertAfterLine(text: string, lines: readonly PhysicalLine[], index: number, added: readonly string[]): TextEdit {
  const line = lines[index];
  const eol = eolNear(lines, index);
  if (line === undefined) return { start: text.length, end: text.length, text: added.map((part) => part + eol).join('') };
  if (line.eol === '') {
    // The file ends without a line ending: keep it that way after the added lines.
    return { start: text.length, end: text.length, text: added.map((part) => eol + part).join('') };
  }
  const at = line.end + line.eol.length;
  return { start: at, end: at, text: added.map((part) => part + eol).join('') };
}

function newBlockInsertion(text: string, model: ConfigModel, block: readonly string[]): { added: string[]; insertion: TextEdit } {
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

function commentOut(text: string, lines: readonly PhysicalLine[], index: number): TextEdit {
  const line = lines[index];
  if (line === undefined) throw new RangeError(`no line ${index}`);
  const content = text.slice(line.start, line.end);
  const indent = /^[ \t]*/.exec(content)?.[0] ?? '';
  const at = line.start + indent.length;
  return { start: at, end: at, text: REPLACED_MARK };
}

function applyEdits(text: string, edits: readonly TextEdit[]): string {
  let result = '';
  let position = 0;
  for (const edit of [...edits].sort((a, b) => a.start - b.start)) {
    result += text.slice(position, edit.start) + edit.text;
    position = edit.end;
  }
  return result + text.slice(position);
}

/** How far earlier edits moved an edit's start. */
function shiftBefore(edits: readonly TextEdit[], edit: TextEdit): number {
  return edits.filter((other) => other !== edit && other.start <= edit.start).reduce((sum, other) => sum + other.text.length - (other.end - other.start), 0);
}

export interface EffectiveWish {
  readonly hostName?: string | undefined;
  readonly port?: number | undefined;
  readonly user?: string | undefined;
}

/**
 * What in ssh's effective options for the alias (`ssh -G`, option names in lower case) differs
 * from pingknock's ProxyCommand and the requested values; empty when all is as asked.
 */
export function effectiveMismatches(effective: ReadonlyMap<string, string>, alias: string, wish: EffectiveWish = {}): string[] {
  const mismatches: string[] = [];
  const jump = effective.get('proxyjump');
  const proxy = effective.get('proxycommand');
  if (jump !== undefined && jump !== 'none') mismatches.push(`ProxyJump ${jump}`);
  if (proxy === undefined) {
    if (jump === undefined || jump === 'none') mismatches.push('no ProxyCommand');
  } else if (pingknockProxyForm(proxy, alias) === undefined) {
    mismatches.push(`ProxyCommand ${proxy}`);
  }
  const hostName = effective.get('hostname');
  if (wish.hostName !== undefined && hostName?.toLowerCase() !== wish.hostName.toLowerCase()) mismatches.push(`HostName ${hostName ?? '(none)'}`);
  const port = effective.get('port');
  if (wish.port !== undefined && Number(port) !== wish.port) mismatches.push(`Port ${port ?? '(none)'}`);
  const user = effective.get('user');
  if (wish.user !== undefined && user !== wish.user) mismatches.push(`User ${user ?? '(none)'}`);
  return mismatches;
}

/**
 * What `pingknock setup` added to a config, as its edit reported it: enough to take exactly that
 * out again. Which lines were added cannot be told from the file alone: a `HostName` in the
 * host's block may be the user's or setup's, so `pingknock enroll` keeps this record.
 */
export interface SshConfigAddition {
  readonly newBlock: boolean;
  /** The added lines without line endings, blank separator lines included. */
  readonly added: readonly string[];
  /** The original text of each line `force` commented out. */
  readonly replaced: readonly string[];
}

export function additionOf(edit: Extract<SshConfigEdit, { kind: 'changed' }>): SshConfigAddition {
  return { newBlock: edit.newBlock, added: [...edit.added], replaced: edit.replaced.map((line) => line.text) };
}

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
 * Without a record, only pingknock's ProxyCommand lines in the alias's own block are taken out.
 */
export function removeSetupAddition(original: string, aliasInput: string, addition: SshConfigAddition | undefined): SshConfigRemoval {
  const alias = parseAlias(aliasInput);
  let model: ConfigModel;
  try {
    model = readModel(original);
  } catch (error) {
    if (!(error instanceof Unparseable)) throw error;
    return { kind: 'refused', message: `cannot be edited safely: ${error.message}` };
  }
  const { lines } = model;
  const content = (index: number): string => {
    const line = lines[index];
    return line === undefined ? '' : original.slice(line.start, line.end);
  };
  const sourceLine = (index: number): SourceLine => ({ number: index + 1, text: content(index) });
  const own = model.sections
    .map((section, index) => ({ section, end: model.sections[index + 1]?.headerLine ?? lines.length }))
    .filter(({ section }) => section.kind === 'host' && section.patterns.length === 1 && section.patterns[0] === alias);
  const pingknockLines = own.flatMap(({ section }) =>
    section.directives.filter((directive) => directive.keyword === 'proxycommand' && pingknockProxyForm(directive.values.join(' '), alias) !== undefined).map((directive) => directive.line),
  );

  if (addition === undefined) {
    if (pingknockLines.length === 0) return { kind: 'unchanged' };
    // Neighbouring lines go as one range, so no two removals overlap at a line ending.
    const ranges: { from: number; to: number }[] = [];
    for (const line of [...pingknockLines].sort((a, b) => a - b)) {
      const previous = ranges[ranges.length - 1];
      if (previous !== undefined && previous.to === line) previous.to = line + 1;
      else ranges.push({ from: line, to: line + 1 });
    }
    const edits = ranges.map(({ from, to }) => lineRangeRemoval(lines, from, to));
    return { kind: 'changed', text: applyEdits(original, edits), removed: pingknockLines.map(sourceLine), restored: [] };
  }

  const leading = addition.added[0] === '' ? 1 : 0;
  const trailing = addition.added.length > leading && addition.added[addition.added.length - 1] === '' ? 1 : 0;
  const core = addition.added.slice(leading, addition.added.length - trailing);
  const coreAt = (start: number): boolean => core.every((text, offset) => start + offset < lines.length && content(start + offset) === text);
  let found: { start: number; end: number } | undefined;
  for (const { section, end } of own) {
    if (addition.newBlock) {
      if (!coreAt(section.headerLine)) continue;
      const coreEnd = section.headerLine + core.length;
      // Lines the user added to the block since would end up in the block above: leave it all.
      if (section.directives.some((directive) => directive.line >= coreEnd)) {
        return {
          kind: 'refused',
          message: `the Host ${alias} block pingknock setup made (line ${section.headerLine + 1}) has lines of yours now; take its ProxyCommand line out by hand`,
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
    return { kind: 'refused', message: `the lines pingknock setup added for ${alias} were changed since; take its ProxyCommand (${where}) out by hand` };
  }
  // The blank separators setup added, if they are still there.
  if (leading === 1 && found.start > 0 && content(found.start - 1) === '') found = { ...found, start: found.start - 1 };
  if (trailing === 1 && found.end < lines.length && content(found.end) === '') found = { ...found, end: found.end + 1 };
  const edits: TextEdit[] = [lineRangeRemoval(lines, found.start, found.end)];
  const removed = Array.from({ length: found.end - found.start }, (_, offset) => sourceLine(found.start + offset));

  const restored: SourceLine[] = [];
  const used = new Set<number>();
  for (const text of addition.replaced) {
    const indent = /^[ \t]*/.exec(text)?.[0] ?? '';
    const marked = `${indent}${REPLACED_MARK}${text.slice(indent.length)}`;
    for (const { section, end } of own) {
      let index = section.headerLine + 1;
      while (index < end && (used.has(index) || (index >= found.start && index < found.end) || content(index) !== marked)) index += 1;
      if (index >= end) continue;
      used.add(index);
      const start = (lines[index]?.start ?? 0) + indent.length;
      edits.push({ start, end: start + REPLACED_MARK.length, text: '' });
      restored.push({ number: index + 1, text });
      break;
    }
  }
  return { kind: 'changed', text: applyEdits(original, edits), removed, restored };
}

/**
 * Deletes physical lines [from, to) with their line endings. When they end the file without a
 * line ending, the line before them gives up its own: the file ends as it did before they came.
 */
function lineRangeRemoval(lines: readonly PhysicalLine[], from: number, to: number): TextEdit {
  const first = lines[from];
  const last = lines[to - 1];
  if (first === undefined || last === undefined) throw new RangeError(`no lines ${from}..${to}`);
  const before = lines[from - 1];
  const start = last.eol === '' && before !== undefined ? before.end : first.start;
  return { start, end: last.end + last.eol.length, text: '' };
}
