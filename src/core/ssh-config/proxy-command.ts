import { checkedJumpConfig, jumpProxyWords, parseJump, type JumpProxy } from '../jump.js';
import { isoDate, parseIsoDate, STATIC_MODE, type KnockMode } from '../rolling.js';

/** pingknock's ProxyCommand: the one setup writes, how to recognise it, and whether ssh uses it. */

/**
 * Whether the ssh that printed `ssh -V` can take the connected socket from its ProxyCommand
 * (ProxyUseFdpass): OpenSSH 6.5 or later. OpenSSH for Windows, whose ProxyCommand talks through
 * pipes only, and other clients cannot.
 */
export function sshPassesFds(versionOutput: string): boolean {
  const version = /^OpenSSH_(\d+)\.(\d+)/.exec(versionOutput.trim());
  if (version === null) return false;
  const [major, minor] = [Number(version[1]), Number(version[2])];
  return major > 6 || (major === 6 && minor >= 5);
}

/**
 * The ProxyCommand setup writes names the alias itself: only OpenSSH expands `%n`, and paramiko
 * (so Fabric, and Ansible's paramiko connection) passes it on literally. A host with one-time
 * knocks carries the last day of its server's patterns, so the proxy knows the mode and when to
 * warn, and the user remembers neither. `--fdpass` goes with `ProxyUseFdpass yes`, a line of its
 * own: ssh then takes the connected socket from the proxy; a client that hands the proxy pipes
 * (paramiko) gets the relay from the same line.
 */
export function proxyCommandFor(
  alias: string,
  mode: KnockMode = STATIC_MODE,
  options: { readonly fdpass?: boolean | undefined; readonly jump?: JumpProxy | undefined } = {},
): string {
  if (options.jump !== undefined) {
    // ssh -W carries the session from the jump host: there is no socket to pass.
    return `pingknock proxy --name ${alias} ${jumpProxyWords(options.jump)}${rollingPart(mode)} %h %p`;
  }
  return `pingknock proxy --name ${alias}${rollingPart(mode)}${options.fdpass === true ? FDPASS_PART : ''} %h %p`;
}

const FDPASS_PART = ' --fdpass';

function rollingPart(mode: KnockMode): string {
  return mode.kind === 'rolling' ? ` --rolling-until ${isoDate(mode.lastDay)}` : '';
}

/**
 * Which of pingknock's ProxyCommands a value is (the program given by any path), and how it
 * knocks: `current` names the alias and says the mode, `legacy` is the `--name %n` that earlier
 * setups wrote, which works with OpenSSH only. Only the forms setup writes count, so a line a
 * user changed is never taken for pingknock's.
 */
export interface PingknockProxy {
  readonly form: 'current' | 'legacy';
  /** A legacy line knocks with the secret itself. */
  readonly mode: KnockMode;
  /** The line says --fdpass (a current line only): it passes ssh the socket when ssh asks for it. */
  readonly fdpass: boolean;
  /** A current line with --jump: the knock leaves from that jump host (core/jump-knock.ts). */
  readonly jump?: JumpProxy | undefined;
}

export function readPingknockProxy(value: string, alias: string): PingknockProxy | undefined {
  // ssh keeps the rest of the line, an inline `# comment` too; the shell that runs it ignores it.
  const words = value.trim().split(/\s+/);
  const comment = words.findIndex((word) => word.startsWith('#'));
  const [program, ...rest] = comment === -1 ? words : words.slice(0, comment);
  if (program === undefined || !(program === 'pingknock' || program.endsWith('/pingknock'))) return undefined;
  const args = rest.join(' ');
  if (args === 'proxy --name %n %h %p') return { form: 'legacy', mode: STATIC_MODE, fdpass: false };
  const jumped = /^proxy --name (\S+) --jump (\S+)(?: --config (\S+))?(?: --rolling-until (\S+))? %h %p$/.exec(args);
  if (jumped !== null) return jumped[1] === alias ? readJumpForm(jumped[2] ?? '', jumped[3], jumped[4]) : undefined;
  const current = /^proxy --name (\S+)(?: --rolling-until (\S+))?( --fdpass)? %h %p$/.exec(args);
  if (current?.[1] !== alias) return undefined;
  const [, , date, fdpass] = current;
  if (date === undefined) return { form: 'current', mode: STATIC_MODE, fdpass: fdpass !== undefined };
  const lastDay = parseIsoDate(date);
  return lastDay === undefined
    ? undefined
    : { form: 'current', mode: { kind: 'rolling', lastDay }, fdpass: fdpass !== undefined };
}

/** The jump form's route, config and date as its line has them; undefined when one of them is not valid. */
function readJumpForm(route: string, config: string | undefined, date: string | undefined): PingknockProxy | undefined {
  const lastDay = date === undefined ? undefined : parseIsoDate(date);
  if (date !== undefined && lastDay === undefined) return undefined;
  let jump: JumpProxy;
  try {
    jump = { route: parseJump(route), config: config === undefined ? undefined : checkedJumpConfig(config) };
  } catch {
    return undefined;
  }
  const mode: KnockMode = lastDay === undefined ? STATIC_MODE : { kind: 'rolling', lastDay };
  return { form: 'current', mode, fdpass: false, jump };
}

export function pingknockProxyForm(value: string, alias: string): 'current' | 'legacy' | undefined {
  return readPingknockProxy(value, alias)?.form;
}

export function sameMode(a: KnockMode, b: KnockMode): boolean {
  return a.kind === 'rolling' && b.kind === 'rolling' ? a.lastDay === b.lastDay : a.kind === b.kind;
}

/**
 * A config line (or a ProxyCommand value) holding pingknock's current ProxyCommand for `alias`,
 * with one-time knocks through `lastDay`: the date replaced, or put in on a static line, every
 * other byte as it was. Undefined when the line holds no such ProxyCommand. For renewals, which
 * move the horizon, and for turning a host's knocks one-time. A `--fdpass` after it stays.
 */
export function withRollingUntil(line: string, alias: string, lastDay: number): string | undefined {
  const name = alias.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const found = new RegExp(
    `^(.*?(?:^|[\\s=])(?:\\S*/)?pingknock\\s+proxy\\s+--name\\s+${name}` +
      '(?:\\s+--jump\\s+\\S+(?:\\s+--config\\s+\\S+)?)?)' +
      '(?:\\s+--rolling-until\\s+(\\S+))?((?:\\s+--fdpass)?\\s+%h\\s+%p(?:\\s*|\\s+#.*))$',
    's',
  ).exec(line);
  if (found === null) return undefined;
  const [, head = '', date, tail = ''] = found;
  if (date !== undefined && parseIsoDate(date) === undefined) return undefined;
  return `${head} --rolling-until ${isoDate(lastDay)}${tail}`;
}

export interface EffectiveWish {
  readonly hostName?: string | undefined;
  readonly port?: number | undefined;
  readonly user?: string | undefined;
  /** Undefined: either mode will do. */
  readonly mode?: KnockMode | undefined;
  /** true: ssh takes the socket from the proxy; false: the ProxyCommand relays; undefined: either will do. */
  readonly fdpass?: boolean | undefined;
}

/**
 * What in ssh's effective options for the alias (`ssh -G`, option names in lower case) differs
 * from pingknock's ProxyCommand and the requested values; empty when all is as asked. ssh with
 * ProxyUseFdpass yes takes nothing but a socket from its ProxyCommand: one without --fdpass relays
 * the stream instead, and ssh fails ("proxy dialer did not pass back a connection").
 */
export function effectiveMismatches(
  effective: ReadonlyMap<string, string>,
  alias: string,
  wish: EffectiveWish = {},
): string[] {
  const mismatches: string[] = [];
  const jump = effective.get('proxyjump');
  const proxy = effective.get('proxycommand');
  if (jump !== undefined && jump !== 'none') mismatches.push(`ProxyJump ${jump}`);
  if (proxy === undefined) {
    if (jump === undefined || jump === 'none') mismatches.push('no ProxyCommand');
  } else {
    const found = readPingknockProxy(proxy, alias);
    if (
      found === undefined ||
      (wish.mode !== undefined && !sameMode(found.mode, wish.mode)) ||
      (wish.fdpass !== undefined && found.fdpass !== wish.fdpass)
    )
      mismatches.push(`ProxyCommand ${proxy}`);
    const passes = effective.get('proxyusefdpass') === 'yes';
    if (found !== undefined && passes && !found.fdpass)
      mismatches.push('fd passing (ProxyUseFdpass yes) with a ProxyCommand that relays (no --fdpass)');
    if (found?.fdpass === true && wish.fdpass === true && !passes) mismatches.push('no fd passing (ProxyUseFdpass no)');
  }
  const hostName = effective.get('hostname');
  if (wish.hostName !== undefined && hostName?.toLowerCase() !== wish.hostName.toLowerCase())
    mismatches.push(`HostName ${hostName ?? '(none)'}`);
  const port = effective.get('port');
  if (wish.port !== undefined && Number(port) !== wish.port) mismatches.push(`Port ${port ?? '(none)'}`);
  const user = effective.get('user');
  if (wish.user !== undefined && user !== wish.user) mismatches.push(`User ${user ?? '(none)'}`);
  return mismatches;
}
