import { PingknockError } from './errors.js';
import { parseAlias } from './ssh-config/names.js';
import { lastLines } from './target.js';

/**
 * ssh's command lines to a server for `pingknock enroll` and `unenroll`, and what their results
 * mean, without I/O (edge/remote.ts runs them). ssh always gets an argument array with the alias,
 * validated, after `--`; scripts go to the remote `sh -s` on stdin, so nothing but fixed words
 * reaches the remote shell.
 */

export interface SshTarget {
  readonly alias: string;
  /** `--config FILE`: ssh reads this file instead of its default ones (ssh -F). */
  readonly configFile?: string | undefined;
  /**
   * `--via OTHER_ALIAS`: another alias of the same server, whose connection (and knock) the kept
   * connection uses; the proofs still connect as `alias`, as its user's ssh will.
   */
  readonly via?: string | undefined;
  /**
   * The jump host the alias's ProxyCommand knocks from (`pingknock proxy --jump`), as a ProxyJump
   * route: connections around the knock go through it, not straight to a server that may be
   * reachable from there alone. RemoteServer.open reads it from ssh -G when not given.
   */
  readonly jump?: string | undefined;
}

export type SshConnection =
  /** Opens the control master; `knock: false` goes around the config's ProxyCommand. */
  | { readonly kind: 'open-master'; readonly controlPath: string; readonly logFile: string; readonly knock: boolean }
  /** A session over the master. Should the master be gone, ssh connects anew, directly. */
  | { readonly kind: 'master'; readonly controlPath: string }
  /** Asks the master whether it is up (ssh -O check). */
  | { readonly kind: 'check'; readonly controlPath: string }
  /** A fresh connection through the config's ProxyCommand, as `ssh ALIAS` makes it (`as` another alias). */
  | { readonly kind: 'knocked'; readonly as?: string | undefined }
  /** A fresh connection without a knock, as anyone else would make it: to the alias, or `at` one of its addresses. */
  | { readonly kind: 'unknocked'; readonly at?: ServerAddress | undefined };

/** One address of the server, to connect to instead of the alias's HostName. */
export interface ServerAddress {
  readonly address: string;
  /**
   * The name the server's host key is known by (ssh -G's hostkeyalias, else its hostname), so the
   * address needs no entry of its own.
   */
  readonly hostKeyAlias: string;
}

/** How long the no-knock proof waits for the port before calling it closed. */
export const UNKNOCKED_CONNECT_TIMEOUT_SECONDS = 5;
/**
 * Options for every connection that runs something: no terminal, and none of the user's
 * RemoteCommand or forwardings, which would clash with a command or hold ports.
 */
export const SSH_SESSION_OPTIONS = ['-T', '-o', 'RemoteCommand=none', '-o', 'ClearAllForwardings=yes'] as const;
/** A fresh connection must not ride on a master the user's config keeps (ControlMaster auto). */
const NO_MULTIPLEXING = ['-o', 'ControlMaster=no', '-o', 'ControlPath=none'] as const;

export function sshArgs(target: SshTarget, connection: SshConnection, command: readonly string[] = []): string[] {
  const alias = parseAlias(aliasFor(target, connection));
  const config = target.configFile === undefined ? [] : ['-F', target.configFile];
  // Around the knock: no ProxyCommand, but the jump host's route when the knock leaves from one.
  const around = target.jump === undefined ? 'ProxyCommand=none' : `ProxyJump=${target.jump}`;
  return [...config, ...connectionOptions(connection, around), '--', alias, ...command];
}

function aliasFor(target: SshTarget, connection: SshConnection): string {
  switch (connection.kind) {
    case 'open-master':
    case 'master':
    case 'check':
      return target.via ?? target.alias;
    case 'knocked':
      return connection.as ?? target.alias;
    case 'unknocked':
      return target.alias;
  }
}

function connectionOptions(connection: SshConnection, around: string): readonly string[] {
  switch (connection.kind) {
    case 'open-master':
      return [
        '-o',
        'ControlMaster=yes',
        '-o',
        `ControlPath=${connection.controlPath}`,
        // It ends when pingknock closes it, not on its own and not with the first session.
        '-o',
        'ControlPersist=no',
        ...(connection.knock ? [] : ['-o', around]),
        '-o',
        'ConnectTimeout=15',
        '-o',
        'RemoteCommand=none',
        '-o',
        'ClearAllForwardings=yes',
        '-E',
        connection.logFile,
        '-N',
      ];
    case 'master':
      return [
        '-o',
        'ControlMaster=no',
        '-o',
        `ControlPath=${connection.controlPath}`,
        '-o',
        'ProxyCommand=none',
        '-o',
        'ConnectTimeout=5',
        ...SSH_SESSION_OPTIONS,
      ];
    case 'check':
      return ['-o', `ControlPath=${connection.controlPath}`, '-O', 'check'];
    case 'knocked':
      return [...NO_MULTIPLEXING, ...SSH_SESSION_OPTIONS];
    case 'unknocked':
      return [
        ...NO_MULTIPLEXING,
        ...(connection.at === undefined
          ? []
          : ['-o', `HostName=${connection.at.address}`, '-o', `HostKeyAlias=${connection.at.hostKeyAlias}`]),
        '-o',
        around,
        '-o',
        `ConnectTimeout=${UNKNOCKED_CONNECT_TIMEOUT_SECONDS}`,
        '-o',
        'BatchMode=yes',
        ...SSH_SESSION_OPTIONS,
      ];
  }
}

export type ProbeOutcome =
  | { readonly kind: 'closed' }
  | { readonly kind: 'open'; readonly detail: string }
  /** No way there from here (no route, or no such family here): says nothing about the rules. */
  | { readonly kind: 'unreachable'; readonly detail: string };

/**
 * Reads the no-knock proof: only a connection that timed out met the rules' drop. A login, a
 * refused login (the port answered) or a refused connection (something else is wrong) is not
 * the closed port the rules promise.
 */
export function probeOutcome(result: { readonly code: number | null; readonly stderr: string }): ProbeOutcome {
  if (result.code === 255 && /timed out/i.test(result.stderr)) return { kind: 'closed' };
  const detail = result.code === 0 ? 'it logged in' : lastLines(result.stderr) || `ssh exited with ${result.code}`;
  if (
    result.code === 255 &&
    /Network is unreachable|No route to host|Address family not supported/i.test(result.stderr)
  )
    return { kind: 'unreachable', detail };
  return { kind: 'open', detail };
}

/** Wide enough for a refusal's line, whose paths are only of use whole. */
const REFUSAL_WIDTH = 1000;

/** A server's script refused a folder or file as unsafe to write in as root (exit UNSAFE_EXIT). */
export function refusedOn(alias: string, stderr: string): PingknockError {
  return new PingknockError('io', `${alias}: ${lastLines(stderr, 1, REFUSAL_WIDTH)}; nothing was changed there`);
}
