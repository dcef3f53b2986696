import { describe, expect, it } from 'vitest';
import { readModel } from '../../src/core/ssh-config/model.js';
import {
  applyEdits,
  commentOut,
  insertAfterLine,
  lineRangeRemoval,
  removeMark,
  REPLACED_MARK,
  shiftBefore,
} from '../../src/core/ssh-config/text-edit.js';

/** The text step alone: edits at offsets of the original, every other byte kept. */

const linesOf = (text: string) => readModel(text).lines;

describe('text edits of a config', () => {
  it("insert after a line with the file's own line ending", () => {
    const text = 'Host a\r\n  User u\r\n';
    expect(applyEdits(text, [insertAfterLine(text, linesOf(text), 0, ['  Port 1'])])).toBe(
      'Host a\r\n  Port 1\r\n  User u\r\n',
    );
  });

  it('keep a missing final newline missing', () => {
    const text = 'Host a\n  User u';
    expect(applyEdits(text, [insertAfterLine(text, linesOf(text), 1, ['  Port 1'])])).toBe(
      'Host a\n  User u\n  Port 1',
    );
  });

  it('comment a line out after its indentation, and take the mark away again', () => {
    const text = 'Host a\n\tUser u\n';
    const marked = applyEdits(text, [commentOut(text, linesOf(text), 1)]);
    expect(marked).toBe(`Host a\n\t${REPLACED_MARK}User u\n`);
    expect(applyEdits(marked, [removeMark(linesOf(marked), 1, '\t')])).toBe(text);
  });

  it('remove lines that end the file without a line ending together with the line ending before them', () => {
    const text = 'Host a\n  User u\nHost b\n  Port 1';
    expect(applyEdits(text, [lineRangeRemoval(linesOf(text), 2, 4)])).toBe('Host a\n  User u');
    expect(applyEdits(text, [lineRangeRemoval(linesOf(text), 0, 2)])).toBe('Host b\n  Port 1');
  });

  it(
    'apply edits in offset order, whatever their order in the list, ' +
      'and tell how far earlier ones moved a later one',
    () => {
      const later = { start: 4, end: 4, text: 'XY' };
      const earlier = { start: 1, end: 2, text: '' };
      expect(applyEdits('abcdef', [later, earlier])).toBe('acdXYef');
      expect(shiftBefore([later, earlier], later)).toBe(-1);
    },
  );
});
