import { printable } from '../target.js';
import { checkedEditRequest, planAddition, type SshConfigEditRequest } from './add-plan.js';
import {
  lineNumberAt,
  readModel,
  sourceLineAt,
  Unparseable,
  type ConfigModel,
  type Directive,
  type SourceLine,
} from './model.js';
import {
  applyEdits,
  commentOut,
  indentOf,
  insertAfterLine,
  newBlockInsertion,
  shiftBefore,
  type TextEdit,
} from './text-edit.js';

/**
 * The edit `pingknock setup` makes to an ssh config, as a pure text transform: add-plan decides
 * it on the parsed model, and it is applied as insertions into the original text. Every original
 * byte is kept, in order; with `force`, conflicting lines in the host's own block are commented
 * out (their text kept after the `#`).
 */

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

export function editSshConfig(original: string, unchecked: SshConfigEditRequest): SshConfigEdit {
  // Whatever is written into the config is checked here too, whoever built the request.
  const request = checkedEditRequest(unchecked);
  const { alias } = request;
  let model: ConfigModel;
  try {
    model = readModel(original);
  } catch (error) {
    if (!(error instanceof Unparseable)) throw error;
    return {
      kind: 'refused',
      reason: 'unparseable',
      message: `cannot be edited safely: ${error.message}; check it with: ssh -G ${alias}`,
      lines: [],
    };
  }
  const sourceLines = (directives: readonly Directive[]): SourceLine[] =>
    directives.map((directive) => sourceLineAt(original, model.lines, directive.line));
  const plan = planAddition(model, request);
  if (plan.kind === 'unchanged') return plan;
  if (plan.kind === 'refused') {
    const lines = sourceLines(plan.directives);
    const message =
      plan.reason === 'shadowed'
        ? `ssh uses the first value it finds, and ${describeLines(lines)} comes first for ${alias}, ` +
          `so the line for ${alias} would have no effect; ` +
          `move the ${alias} entry above it or change that line (pingknock does not edit lines other hosts use)`
        : `${alias} already has ${describeLines(lines)}; ` +
          `pass --force to have pingknock's lines take ${lines.length === 1 ? 'its' : 'their'} place for ${alias} ` +
          '(the original is kept in a backup)';
    return { kind: 'refused', reason: plan.reason, message, lines };
  }

  const { target } = plan;
  const edits: TextEdit[] = plan.comment.map((directive) => commentOut(original, model.lines, directive.line));
  let added: string[];
  let insertion: TextEdit;
  if (target !== undefined) {
    const anchor = Math.max(target.headerLine, ...target.directives.map((directive) => directive.line));
    const indent = indentOf(original, model, target);
    added = plan.add.map((line) => `${indent}${line}`);
    insertion = insertAfterLine(original, model.lines, anchor, added);
  } else {
    const indent = indentOf(original, model, undefined);
    const block = [`Host ${alias}`, ...plan.add.map((line) => `${indent}${line}`)];
    ({ added, insertion } = newBlockInsertion(original, model, block));
  }
  edits.push(insertion);
  const text = applyEdits(original, edits);
  const addedAt = lineNumberAt(
    text,
    insertion.start + shiftBefore(edits, insertion) + insertion.text.search(/[^\r\n]/),
  );
  return {
    kind: 'changed',
    text,
    added,
    addedAt,
    newBlock: target === undefined,
    replaced: sourceLines(plan.comment),
    overridden: sourceLines(plan.overridden),
  };
}

function describeLines(lines: readonly SourceLine[]): string {
  return lines.map((line) => `line ${line.number} "${printable(line.text.trim())}"`).join(' and ');
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
