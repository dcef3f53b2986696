import { parseHost, parsePort } from '../target.js';
import { hostMatches, isOwnBlock } from './matching.js';
import type { ConfigModel, Directive, Section } from './model.js';
import { parseAlias, parseSshUser } from './names.js';
import type { KnockMode } from '../rolling.js';
import { checkedJumpConfig, parseJump, type JumpProxy } from '../jump.js';
import { readPingknockProxy, proxyCommandFor, sameMode, type PingknockProxy } from './proxy-command.js';

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
  /** How the host knocks; undefined keeps pingknock's line as it is (a new one knocks static). */
  readonly mode?: KnockMode | undefined;
  /**
   * Whether ssh takes the connected socket from the proxy: `ProxyUseFdpass yes` and the proxy's
   * `--fdpass`. true or false rewrites pingknock's own line to match; undefined keeps it as it is,
   * and a new one passes the socket when `sshPassesFds` says the local ssh can take it, unless a
   * ProxyUseFdpass of the user's already applies to the host (then it decides).
   */
  readonly fdpass?: boolean | undefined;
  /** The local ssh can take a socket from its ProxyCommand (OpenSSH 6.5 or later): see `fdpass`. */
  readonly sshPassesFds?: boolean | undefined;
  /**
   * The config being edited, unless it is ssh's default: a host reached through ProxyJump gets a
   * ProxyCommand that knocks from the jump host, which reaches it with this config (ssh -F).
   */
  readonly jumpConfig?: string | undefined;
  /**
   * The ProxyJump route ssh takes for the alias from an included file or a Match block (ssh -G),
   * which this file's own lines do not show: the host is knocked from that jump host too.
   */
  readonly inheritedJump?: string | undefined;
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
    mode: unchecked.mode,
    fdpass: unchecked.fdpass,
    sshPassesFds: unchecked.sshPassesFds,
    jumpConfig: unchecked.jumpConfig,
    inheritedJump: unchecked.inheritedJump === undefined ? undefined : parseJump(unchecked.inheritedJump).text,
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
type Group = 'proxy' | 'fdpass' | 'hostname' | 'port' | 'user';

const GROUP_OF: Readonly<Record<string, Group>> = {
  proxycommand: 'proxy',
  proxyjump: 'proxy',
  proxyusefdpass: 'fdpass',
  hostname: 'hostname',
  port: 'port',
  user: 'user',
};

const passesFds = (directive: Directive): boolean => directive.values[0]?.toLowerCase() === 'yes';

interface Want {
  readonly group: Group;
  readonly line: string;
  readonly satisfiedBy: (directive: Directive) => boolean;
  /** A line of pingknock's of another form or mode: setup replaces it in the host's own block without --force. */
  readonly outdated?: (directive: Directive) => boolean;
  /**
   * The user's ProxyJump that the added line goes through as well (it knocks from that jump host):
   * replaced, in the host's own block or for this host alone, without --force.
   */
  readonly keepsRoute?: (directive: Directive) => boolean;
  /**
   * An earlier pingknock's line that still works with OpenSSH as asked: left alone in blocks
   * other hosts use.
   */
  readonly stillServes?: (directive: Directive) => boolean;
}

/** The request must be checked already (checkedEditRequest): its values are written as they are. */
export function planAddition(model: ConfigModel, request: SshConfigEditRequest): AdditionPlan {
  const { alias } = request;
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
  const firstOf = (group: Group): Directive | undefined =>
    applicable.find(({ directive }) => GROUP_OF[directive.keyword] === group)?.directive;
  const wants = wantsFor(request, firstOf);

  const toAdd: string[] = [];
  // Lines of the host's own block that differ from what is asked: commented out with --force.
  const toComment: Directive[] = [];
  // Those of them that are the user's own lines, not an earlier pingknock's: only --force replaces them.
  const usersOwn: Directive[] = [];
  const shadows: Directive[] = [];
  const overridden: Directive[] = [];
  // Those that only --force overrides.
  const overriddenOwn: Directive[] = [];
  for (const want of wants) {
    const inGroup = applicable.filter(({ directive }) => GROUP_OF[directive.keyword] === want.group);
    const first = inGroup[0];
    if (first === undefined) {
      toAdd.push(want.line);
      continue;
    }
    if (target === undefined || first.section !== target) {
      const serves = want.satisfiedBy(first.directive) || want.stillServes?.(first.directive) === true;
      if (first.directive.line < insertionLine) {
        if (!serves) shadows.push(first.directive);
        continue;
      }
      if (serves) continue;
      // A later block's value applies to the alias today; the added line takes its place for it.
      if (want.group === 'proxy') overridden.push(first.directive);
      if (want.group === 'proxy' && want.keepsRoute?.(first.directive) !== true) overriddenOwn.push(first.directive);
      toAdd.push(want.line);
      continue;
    }
    if (want.satisfiedBy(first.directive)) continue;
    const inBlock = target.directives.filter((directive) => GROUP_OF[directive.keyword] === want.group);
    const replaced = inBlock.filter((directive) => !want.satisfiedBy(directive));
    toComment.push(...replaced);
    usersOwn.push(
      ...replaced.filter((directive) => want.outdated?.(directive) !== true && want.keepsRoute?.(directive) !== true),
    );
    if (!inBlock.some((directive) => want.satisfiedBy(directive))) toAdd.push(want.line);
  }

  // A relaying ProxyCommand with ProxyUseFdpass yes fails in ssh: asked not to pass the socket,
  // the host's own `ProxyUseFdpass yes` goes too (one elsewhere is for ssh -G to report).
  if (request.fdpass === false && target !== undefined)
    toComment.push(...target.directives.filter((d) => d.keyword === 'proxyusefdpass' && passesFds(d)));

  if (shadows.length > 0) return { kind: 'refused', reason: 'shadowed', directives: shadows };
  const blocking = [...usersOwn, ...overriddenOwn].sort((a, b) => a.line - b.line);
  if (blocking.length > 0 && !request.force) return { kind: 'refused', reason: 'conflict', directives: blocking };
  toComment.sort((a, b) => a.line - b.line);
  if (toAdd.length === 0 && toComment.length === 0) return { kind: 'unchanged' };
  return { kind: 'edit', target, add: toAdd, comment: toComment, overridden };
}

/**
 * What the request asks for, in the order the lines of a new block get them. `firstOf` gives the
 * line ssh would take for a group today, from wherever it applies to the alias.
 */
function wantsFor(request: SshConfigEditRequest, firstOf: (group: Group) => Directive | undefined): Want[] {
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
  const { alias, mode } = request;
  const pingknocks = (d: Directive) =>
    d.keyword === 'proxycommand' ? readPingknockProxy(d.values.join(' '), alias) : undefined;
  const knocksAsAsked = (d: Directive, form: 'current' | 'legacy'): boolean => {
    const found = pingknocks(d);
    return (
      found?.form === form &&
      (mode === undefined || sameMode(found.mode, mode)) &&
      (form === 'legacy' || request.fdpass === undefined || found.fdpass === request.fdpass) &&
      (form === 'legacy' ? jump === undefined : sameJump(found.jump, jump))
    );
  };
  const inPlace = firstOf('proxy');
  const current = inPlace === undefined ? undefined : pingknocks(inPlace);
  const jump = jumpOf(inPlace, current, request);
  const userFdpass = firstOf('fdpass');
  // A line of pingknock's in place keeps its way unless asked (an earlier setup's %n line relays);
  // where there is none, the new one takes the socket where ssh can, unless the user's
  // ProxyUseFdpass already says no for this host.
  const fdpassNew =
    current === undefined && request.sshPassesFds === true && (userFdpass === undefined || passesFds(userFdpass));
  const fdpass = request.fdpass ?? (current?.form === 'current' ? current.fdpass : fdpassNew);
  wants.push({
    group: 'proxy',
    line: `ProxyCommand ${proxyCommandFor(alias, mode, { fdpass, jump })}`,
    satisfiedBy: (d) => knocksAsAsked(d, 'current'),
    keepsRoute: (d) => jump !== undefined && d.keyword === 'proxyjump' && d.values[0] === jump.route.text,
    outdated: (d) => pingknocks(d) !== undefined && !knocksAsAsked(d, 'current'),
    stillServes: (d) => request.fdpass !== true && knocksAsAsked(d, 'legacy'),
  });
  if (jump === undefined && (request.fdpass === true || (request.fdpass === undefined && fdpassNew))) {
    wants.push({ group: 'fdpass', line: 'ProxyUseFdpass yes', satisfiedBy: passesFds });
  }
  return wants;
}

/**
 * The jump host a host is knocked from: the one of the ProxyJump ssh takes for it today (from this
 * file, else from an include or a Match block), or of pingknock's line in place that knocks from
 * one. The knock must leave from there: the host may be reachable from nowhere else.
 */
function jumpOf(
  inPlace: Directive | undefined,
  current: PingknockProxy | undefined,
  request: SshConfigEditRequest,
): JumpProxy | undefined {
  const { jumpConfig, inheritedJump } = request;
  const route =
    inPlace?.keyword === 'proxyjump' && inPlace.values[0]?.toLowerCase() !== 'none'
      ? parseJump(inPlace.values[0] ?? '')
      : (current?.jump?.route ??
        (inPlace === undefined && inheritedJump !== undefined ? parseJump(inheritedJump) : undefined));
  return route === undefined
    ? undefined
    : { route, config: jumpConfig === undefined ? undefined : checkedJumpConfig(jumpConfig) };
}

function sameJump(a: JumpProxy | undefined, b: JumpProxy | undefined): boolean {
  return a === undefined || b === undefined ? a === b : a.route.text === b.route.text && a.config === b.config;
}
