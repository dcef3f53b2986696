import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { hereDocument, ifBlock, indent, shellQuote, writeExactly } from '../../src/core/shell.js';

function sh(script: string): { status: number | null; stdout: string } {
  const result = spawnSync('sh', ['-eu'], { input: script, encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout };
}

const AWKWARD = ["it's", 'tab\there', '$HOME `id` \\n', 'DATA', 'DATA_', ''];

describe('the sh builders', () => {
  it.each(AWKWARD)('quotes %j as one word', (text) => {
    expect(sh(`printf '%s' ${shellQuote(text)}`).stdout).toBe(text);
  });

  it('gives a here-document a delimiter no content line equals, and expands nothing in it', () => {
    const content = AWKWARD.join('\n');
    expect(hereDocument('cat', content, 'DATA')).toContain("<<'DATA__'\n");
    expect(sh(hereDocument('cat', content, 'DATA')).stdout).toBe(content);
    expect(sh(hereDocument('cat', 'no final break', 'DATA')).stdout).toBe('no final break\n');
  });

  it('expands the content when asked', () => {
    expect(sh(`x=1\n${hereDocument('cat', '$x', 'DATA', 'expand')}`).stdout).toBe('1\n');
  });

  it.each(['a\nb\n', 'a\nb', 'no break', '', '\n\n'])('writes %j byte for byte', (content) => {
    expect(sh(`f=$(mktemp)\n${writeExactly('"$f"', content, 'DATA')}cat "$f"\nrm -f "$f"\n`).stdout).toBe(content);
  });

  it('indents a block but not its here-documents, which sh reads verbatim', () => {
    const block = `echo a\n${hereDocument('cat', 'x\n\ty\n', 'DATA')}echo b\n`;
    expect(indent(block)).toBe(`\techo a\n\tcat <<'DATA'\nx\n\ty\nDATA\n\techo b\n`);
    expect(sh(`{\n${indent(block)}}\n`).stdout).toBe('a\nx\n\ty\nb\n');
  });

  it('closes an if with its elifs and else', () => {
    const block = ifBlock(
      [
        ['[ "$1" = a ]', 'echo one\n'],
        ['[ "$1" = b ]', 'echo two\n'],
      ],
      'echo other\n',
    );
    expect(block).toBe(
      'if [ "$1" = a ]; then\n\techo one\nelif [ "$1" = b ]; then\n\techo two\nelse\n\techo other\nfi\n',
    );
    for (const [word, said] of [
      ['a', 'one'],
      ['b', 'two'],
      ['c', 'other'],
    ]) {
      expect(sh(`set -- ${word}\n${block}`).stdout).toBe(`${said}\n`);
    }
    expect(ifBlock([['false', 'echo no\n']])).toBe('if false; then\n\techo no\nfi\n');
  });
});
