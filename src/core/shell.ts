/**
 * Building POSIX sh text. Every builder returns whole lines, each ending in a line break, and
 * closes what it opens, so blocks are joined by concatenation and nested without a caller
 * finishing them.
 */

/** One word for sh, whatever it contains. */
export function shellQuote(text: string): string {
  return `'${text.replaceAll("'", "'\\''")}'`;
}

/** `base`, lengthened until no line of `content` equals it, so the content cannot end its here-document early. */
function delimiterFor(content: string, base: string): string {
  const lines = content.split('\n');
  let delimiter = base;
  while (lines.includes(delimiter)) delimiter += '_';
  return delimiter;
}

/**
 * `command` with `content` on its stdin. The delimiter is quoted, so sh expands nothing in the
 * content, unless `expand`: then `$` and backquotes in it are the script's own. A here-document
 * always ends in a line break: one is added to content without it.
 */
export function hereDocument(
  command: string,
  content: string,
  base: string,
  expand: 'expand' | 'literal' = 'literal',
): string {
  const delimiter = delimiterFor(content, base);
  const quoted = expand === 'expand' ? delimiter : `'${delimiter}'`;
  return `${command} <<${quoted}\n${content.endsWith('\n') || content === '' ? content : `${content}\n`}${delimiter}\n`;
}

/** Writes `content` to `target` (a word for sh) byte for byte, a missing final line break included. */
export function writeExactly(target: string, content: string, base: string): string {
  if (content.endsWith('\n') || content === '') return hereDocument(`cat >${target}`, content, base);
  // printf's command substitution drops exactly the line break the here-document added.
  return `printf '%s' "$(${hereDocument('cat', content, base)})" >${target}\n`;
}

/**
 * Indents a block one tab deeper, except the bodies and delimiters of its here-documents, which
 * sh reads verbatim.
 */
export function indent(block: string): string {
  let delimiter: string | undefined;
  return block.replace(/^.*$/gm, (line) => {
    if (delimiter !== undefined) {
      if (line === delimiter) delimiter = undefined;
      return line;
    }
    delimiter = /<<'?([A-Za-z0-9_]+)'?$/.exec(line)?.[1];
    return line === '' ? line : `\t${line}`;
  });
}

/** `if`, its `elif`s and `else` and the closing `fi`, as one block: branches are [condition, body] pairs. */
export function ifBlock(branches: readonly (readonly [condition: string, body: string])[], otherwise?: string): string {
  const opened = branches
    .map(([condition, body], index) => `${index === 0 ? 'if' : 'elif'} ${condition}; then\n${indent(body)}`)
    .join('');
  return `${opened}${otherwise === undefined ? '' : `else\n${indent(otherwise)}`}fi\n`;
}
