import { formatSeconds } from './duration.js';
import { PingknockError } from './errors.js';
import { jumpSshArgs, knockingHop, type JumpProxy } from './jump.js';
import { KNOCK_INTERVAL_SECONDS, unreachableReason } from './ping-command.js';
import { SSH_SESSION_OPTIONS } from './remote-ssh.js';
import { shellQuote } from './shell.js';
import { lastLines, parseHost, printable } from './target.js';

/**
 * The knock sent from a jump host, by that host's own `ping` over ssh, then the session carried
 * through it by `ssh -W`. Neither pingknock nor the secret is ever on the jump host: it gets the
 * pattern of the knock alone. Here what is decided without I/O: the remote command, the ssh
 * command lines and what the knock's exit means.
 */

/** Exit status of the remote command when the jump host's ping cannot knock (missing, or not iputils). */
export const REMOTE_PING_UNFIT = 126;

export interface RemoteKnock {
  /** ssh's %h for the protected host: as the jump host will resolve it. */
  readonly host: string;
  readonly patternHex: string;
  readonly deadlineMs: number;
}

/**
 * The command the jump host's shell runs: its own iputils ping, resent every interval until the
 * first reply or the deadline (as the local knock), or exit REMOTE_PING_UNFIT when its ping is
 * not iputils (BusyBox's `-p` takes one byte: its knock would be answered and open nothing).
 * Every word is quoted for that shell; ssh hands the remote side one string.
 */
export function remoteKnockCommand(knock: RemoteKnock): string {
  const host = parseHost(knock.host);
  if (!/^[0-9a-f]{32}$/.test(knock.patternHex)) throw new Error('a knock pattern is 32 hex digits');
  const seconds = Math.max(1, Math.ceil(knock.deadlineMs / 1000));
  const ping = ['ping', '-n', '-c', '1', '-i', String(KNOCK_INTERVAL_SECONDS), '-w', String(seconds)];
  const words = [...ping, '-p', knock.patternHex, '--', host].map(shellQuote).join(' ');
  return (
    `case "$(ping -V 2>&1)" in *iputils*) ;; *) echo 'ping here is not iputils ping' >&2; ` +
    `exit ${REMOTE_PING_UNFIT};; esac; exec ${words}`
  );
}

/** The knock, run on the knocking hop. ssh's stdin must be the null device: the proxy's is the ssh stream. */
export function knockSshArgs(jump: JumpProxy, knock: RemoteKnock): string[] {
  return jumpSshArgs(jump, SSH_SESSION_OPTIONS, remoteKnockCommand(knock));
}

/** `ssh -W`, as ProxyJump runs it: carries the session to HOST:PORT through the knocking hop. */
export function carrySshArgs(jump: JumpProxy, host: string, port: number): string[] {
  return jumpSshArgs(jump, ['-W', `[${parseHost(host)}]:${port}`]);
}

export interface RemoteKnockResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

const NAME_ERROR = /Name or service not known|Temporary failure in name resolution|No address associated|unknown host/i;

/**
 * What the knock from the jump host came to: undefined when answered, else the failure as the
 * local knock would name it. ping's output echoes the pattern: only lines naming a failure are
 * quoted, the pattern in them replaced.
 */
export function remoteKnockFailure(
  result: RemoteKnockResult,
  jump: JumpProxy,
  knock: RemoteKnock,
): PingknockError | undefined {
  if (result.code === 0) return undefined;
  const bastion = knockingHop(jump.route).host;
  const hide = (text: string): string => text.replaceAll(knock.patternHex, '<pattern>');
  const stdout = hide(result.stdout);
  const stderr = hide(result.stderr);
  const said = lastLines(stderr, 3, 200);
  if (result.code === 255 || result.code === null) {
    return new PingknockError(
      'server',
      `cannot reach the jump host ${bastion} over ssh to knock from it: ${said || `exit ${result.code}`}`,
    );
  }
  if (result.code === REMOTE_PING_UNFIT || result.code === 127) {
    return new PingknockError(
      'pingUnavailable',
      `the jump host ${bastion} cannot knock: its ping is missing or not iputils ping ` +
        `(${said || `exit ${result.code}`}); install iputils ping there (Debian/Ubuntu: ` +
        'apt-get install iputils-ping; Alpine: apk add iputils)',
    );
  }
  const unreachable = unreachableReason(stdout, stderr);
  if (unreachable !== undefined) {
    return new PingknockError('unreachable', `${knock.host} is unreachable from ${bastion} (${unreachable})`);
  }
  const nameError = stderr.split('\n').find((line) => NAME_ERROR.test(line));
  if (nameError !== undefined) {
    return new PingknockError(
      'resolve',
      `${bastion} cannot resolve ${knock.host}: ${printable(nameError.trim(), 200)}`,
    );
  }
  if (result.code === 2 && said !== '') {
    return new PingknockError('noReply', `the knock from ${bastion} to ${knock.host} failed: ${said}`);
  }
  return new PingknockError(
    'noReply',
    `no echo reply from ${knock.host} to the knock from ${bastion} within ${formatSeconds(knock.deadlineMs)}: ` +
      "host down, ICMP blocked on the way, or the server's rules drop the knock",
  );
}
