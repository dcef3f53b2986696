/**
 * Applying rules safely, as POSIX sh that needs nothing but the firewall's own tools, so the same
 * text runs here (`pingknock rules --apply`) or on a server reached over ssh. The previous state
 * is saved first; with a rollback time, a detached sleeper restores it unless `confirmScript`
 * disarms it in time, so a rule that locks the user out undoes itself. The sleeper runs in its
 * own session, so it survives the ssh session (or terminal) that armed it.
 */

import { PingknockError } from '../errors.js';
import type { Family } from '../layout.js';
import { hereDocument, ifBlock, indent, shellQuote } from '../shell.js';
import { XT_TOOLS } from './iptables.js';
import { backendSteps, ufwChecks, xtPrograms, type BackendRequest } from './backend-steps.js';
import { TRUST_FUNCTIONS, UNSAFE_EXIT } from './trusted.js';

/** A folder on the server, as the scripts take it: absolute, and nothing a shell would read twice. */
export const SERVER_PATH = /^\/[A-Za-z0-9._/-]*$/;

export function checkedServerPath(option: string, path: string): string {
  if (!SERVER_PATH.test(path))
    throw new PingknockError('usage', `--${option} must be an absolute path of letters, digits and . _ - /`);
  // One spelling per folder: the confirm knows the sleeper by the state folder it was given.
  if (
    path !== '/' &&
    path
      .split('/')
      .slice(1)
      .some((part) => part === '' || part === '.' || part === '..')
  ) {
    throw new PingknockError(
      'usage',
      `--${option} must name its folder plainly: no . or .. parts, no double or trailing /`,
    );
  }
  return path;
}

/**
 * The rollback of the commands that change a server over ssh (enroll, renew, rotate, revoke,
 * unenroll): long enough to prove the rules from the client, and no longer than an hour.
 */
export const REMOTE_ROLLBACK_SECONDS = { min: 15, max: 3600, default: 120 } as const;

/** Where an apply keeps the previous rules for its rollback, and `--confirm` finds the sleeper. */
export const DEFAULT_STATE_DIR = '/run/pingknock';

export interface ApplyRequest extends BackendRequest {
  /** The rendered rules (for ufw: only shown, the files are what is applied). */
  readonly rules: string;
  readonly stateDir: string;
  /** 0: no rollback. */
  readonly rollbackSeconds: number;
}

/** Exit codes of the scripts, mapped to messages by the caller. */
export const SCRIPT_EXIT = { applyFailed: 20, rollbackPending: 21, nothingToConfirm: 22, unsafe: UNSAFE_EXIT } as const;

/** The rollback sleeper's name on its command line, before its seconds and the state folder. */
const SLEEPER = 'pingknock-rollback';

function prologue(stateDir: string, programs: Record<Family, string> = { ipv4: '', ipv6: '' }): string {
  return `set -eu
umask 077
state=${shellQuote(stateDir)}
${XT_TOOLS.ipv4.variable}=${shellQuote(programs.ipv4)}
${XT_TOOLS.ipv6.variable}=${shellQuote(programs.ipv6)}
${TRUST_FUNCTIONS}trusted_dir 'the state folder' "$state" make
# What an apply leaves in the state folder (a backend's saved rules are restore*, ufw's files ufw.*).
state_files() { "$@" "$state"/rules "$state"/apply "$state"/restore* "$state"/ufw.* \
"$state"/armed "$state"/rollback.pid "$state"/commit; }
state_files unlinked
# Pending while armed, with rollback.pid naming the sleeper an apply started for this folder (its
# last arguments). Anything else there is refused, never signalled: kill -- -1 ends every process.
pending() {
	[ -f "$state/armed" ] && [ -f "$state/rollback.pid" ] || return 1
	pid=$(cat "$state/rollback.pid")
	case $pid in ''|*[!0-9]*|0*|1) refuse "refusing $state/rollback.pid: it holds no process id above 1" ;; esac
	[ -d "/proc/$pid" ] || return 1
	[ "$(tr '\\0' '\\n' <"/proc/$pid/cmdline" 2>/dev/null | tail -n 3 | sed 2d)" = "${SLEEPER}
$state" ] || \
refuse "refusing $state/rollback.pid: process $pid is not pingknock's rollback for $state, so it is not signalled"
}
`;
}

/**
 * Writes a step as its own script in the state folder, carrying the variables it needs, so the
 * detached rollback can run it later and `sh -e` can stop it at the first failing command.
 */
function stateScript(name: string, body: string): string {
  const { ipv4, ipv6 } = XT_TOOLS;
  const variables =
    `printf "state='%s'\\n${ipv4.variable}='%s'\\n${ipv6.variable}='%s'\\n" ` +
    `"$state" "$${ipv4.variable}" "$${ipv6.variable}"\n`;
  const printBody = hereDocument('cat', body, `PINGKNOCK_${name.toUpperCase()}`);
  return `{\n${indent(`${variables}${printBody}`)}} >"$state/${name}"\n`;
}

export function applyScript(request: ApplyRequest): string {
  const steps = backendSteps(request);
  const arm =
    request.rollbackSeconds > 0
      ? `: >"$state/armed"
if command -v setsid >/dev/null 2>&1; then detach=setsid; else detach=nohup; fi
# Whoever unlinks armed first, this sleeper or a confirm, decides: never both.
$detach sh -c 'sleep "$1"; if rm "$2/armed" 2>/dev/null; then sh "$2/restore"; fi' \
${SLEEPER} ${request.rollbackSeconds} "$state" </dev/null >/dev/null 2>&1 &
echo $! >"$state/rollback.pid"
`
      : 'rm -f "$state/armed"\n';
  const refusePending = `echo "a rollback from an earlier apply is pending: \
confirm it first (pingknock rules --confirm)" >&2
exit ${SCRIPT_EXIT.rollbackPending}
`;
  const undo = `rm -f "$state/armed"
sh "$state/restore"
echo "applying failed; the previous rules are back" >&2
exit ${SCRIPT_EXIT.applyFailed}
`;
  return `${prologue(request.stateDir, xtPrograms(request))}${ufwChecks(request.ufwFiles)}\
${ifBlock([['pending', refusePending]])}\
# Made anew, not written into: a name's old file (or a hard link) goes, its content is not replaced.
state_files rm -f --
${hereDocument('cat >"$state/rules"', request.rules, 'PINGKNOCK_RULES')}\
${steps.save}${stateScript('restore', steps.restore)}${stateScript('apply', steps.apply)}${arm}\
${ifBlock([['! sh -e "$state/apply"', undo]])}`;
}

/**
 * Stops a pending rollback's sleeper (or exits nothingToConfirm when none is pending, or when the
 * sleeper fired meanwhile). `before` runs once the rollback is known to be pending, first.
 */
function disarm(stateDir: string, before = ''): string {
  const nothingPending = `echo "no rollback is pending" >&2\nexit ${SCRIPT_EXIT.nothingToConfirm}\n`;
  return `${prologue(stateDir)}${ifBlock([['! pending', nothingPending]])}${before}\
${ifBlock([['! rm "$state/armed" 2>/dev/null', nothingPending]])}\
# The sleeper leads its own process group when setsid made it: end the sleep along with it.
kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || :
`;
}

/**
 * Disarms a pending rollback, keeping the applied rules. Then `commit` (whole lines, run by
 * `sh -e` with `$state` set): what must change only along with the rules, such as the server's
 * key list. Should it fail, the rules saved before the apply are restored at once, and the
 * script exits with the commit's status.
 */
export function confirmScript(stateDir: string, commit?: string): string {
  if (commit === undefined) return disarm(stateDir);
  const undo = `sh "$state/restore"
echo "so the previous rules are back" >&2
exit "$status"
`;
  return `${disarm(stateDir, stateScript('commit', commit))}status=0
sh -e "$state/commit" || status=$?
${ifBlock([['[ "$status" -ne 0 ]', undo]])}`;
}

/**
 * Restores the rules saved before the last apply, whether or not its rollback is pending: for a
 * caller that finds, after the confirm, that the rules cannot stay (they could not be kept across
 * a reboot).
 */
export function restoreScript(stateDir: string): string {
  const missing = `echo "no saved rules in $state to restore" >&2\nexit ${SCRIPT_EXIT.nothingToConfirm}\n`;
  return `${prologue(stateDir)}${ifBlock([['[ ! -f "$state/restore" ]', missing]])}\
rm -f "$state/armed"
sh "$state/restore"
`;
}

/**
 * The rollback, now: disarms the pending sleeper and restores the saved state at once, for a
 * caller that found out the applied rules do not work and need not wait for the sleeper. Like
 * the confirm, it exits nothingToConfirm when no rollback is pending (it fired already, or was
 * confirmed): then it changes nothing.
 */
export function rollbackNowScript(stateDir: string): string {
  return `${disarm(stateDir)}sh "$state/restore"
`;
}

/** Takes away what pingknock added for this backend, and nothing else. */
export function removeScript(request: Omit<ApplyRequest, 'rollbackSeconds' | 'rules'>): string {
  return `${prologue(request.stateDir, xtPrograms(request))}${ufwChecks(request.ufwFiles)}\
${backendSteps(request).remove}`;
}
