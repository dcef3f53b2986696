import type { Section } from './model.js';

/** Which Host blocks apply to an alias, the way ssh decides it. */

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
    .map((character) =>
      character === '*' ? '[^]*' : character === '?' ? '[^]' : character.replace(/[\\^$.|+()[\]{}]/g, '\\$&'),
    )
    .join('');
  return new RegExp(`^${source}$`, 'u').test(text);
}

/** The block that is the alias's alone (`Host alias`, no other pattern): the only one setup adds to or takes from. */
export function isOwnBlock(section: Section, alias: string): boolean {
  return section.kind === 'host' && section.patterns.length === 1 && section.patterns[0] === alias;
}
