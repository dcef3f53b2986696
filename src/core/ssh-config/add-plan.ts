import { parseHost, parsePort } from '../target.js';
import { hostMatches, isOwnBlock } from './matching.js';
import type { ConfigModel, Directive, Section } from './model.js';
import { parseAlias, parseSshUser } from './names.js';
import { pingknockProxyForm, proxyCommandFor } from './proxy-command.js';

/**
 * What `pingknock setup` changes in an ssh config, decided on the model alone, before any text
 * is touched: which lines to add, which of the host's own lines `force` comments out, or why
 * there is no safe edit.
 */

export interface SshConfigEditRequest {
  readonly alias: string;
  readonly hostName?: string | undefined;
  readonly port?: number | undefined;
  readonly user?: string | undefined;
  readonly force: boolean;
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

export type AdditionPlan =
  | { readonly kind: 'unchanged' }
  | {
      readonly kind: 'refused';
      /** conflict: `force` would resolve it; shadowed: an earlier line wins for the alias. */
      readonly reason: 'conflict' | 'shadowed';
      readonly directives: readonly Directive[];
    }
  | {
      readonly kind: 'edit';
      /** The alias's own Host block, which gets the lines; undefined: they go to a new block. */
      readonly target: Section | undefined;
      /** The lines to add, unindented, in the order they are written. */
      readonly add: readonly string[];
      /** Lines of the host's own block that are commented out, in file order. */
      readonly comment: readonly Directive[];
      /** Lines elsewhere that applied to the alias and that the added ProxyCommand now overrides (`force`). */
      readonly overridden: readonly Directive[];
    };

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

/** The request must be checked already (checkedEditRequest): its values are written as they are. */
export function planAddition(model: ConfigModel, request: SshConfigEditRequest): AdditionPlan {
  const { alias } = request;
  const wants = wantsFor(request);
  const target = model.sections.find((section) => isOwnBlock(section, alias));
  // The added lines go to the end of the host's own block, or a new block before the first
  // section: either way after the global lines only, which is where ssh's first match matters.
  const insertionLine =
    target === undefined ? (model.sections[0]?.headerLine ?? model.lines.length) : target.headerLine;
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

  if (shadows.length > 0) return { kind: 'refused', reason: 'shadowed', directives: shadows };
  const blocking = [...usersOwn, ...overridden].sort((a, b) => a.line - b.line);
  if (blocking.length > 0 && !request.force) return { kind: 'refused', reason: 'conflict', directives: blocking };
  toComment.sort((a, b) => a.line - b.line);
  if (toAdd.length === 0 && toComment.length === 0) return { kind: 'unchanged' };
  return { kind: 'edit', target, add: toAdd, comment: toComment, overridden };
}

/** What the request asks for, in the order the lines of a new block get them. */
function wantsFor(request: SshConfigEditRequest): Want[] {
  const { hostName, port, user } = request;
  const wants: Want[] = [];
  if (hostName !== undefined) {
    wants.push({
      group: 'hostname',
      line: `HostName ${hostName}`,
      satisfiedBy: (d) => d.values[0]?.toLowerCase() === hostName.toLowerCase(),
    });
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
    satisfiedBy: (d) =>
      d.keyword === 'proxycommand' && pingknockProxyForm(d.values.join(' '), request.alias) === 'current',
    outdated: (d) => d.keyword === 'proxycommand' && pingknockProxyForm(d.values.join(' '), request.alias) === 'legacy',
  });
  return wants;
}
