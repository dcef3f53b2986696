import { NFT_TABLE } from './nftables.js';
import { IPTABLES_REMOVAL } from './iptables.js';

/**
 * Applying rules safely, as POSIX sh that needs nothing but the firewall's own tools, so the same
 * text runs here (`pingknock rules --apply`) or on a server reached over ssh. The previous state
 * is saved first; with a rollback time, a detached sleeper restores it unless `confirmScript`
 * disarms it in time, so a rule that locks the user out undoes itself. The sleeper runs in its
 * own session, so it survives the ssh session (or terminal) that armed it.
 */

import type { Backend } from './render.js';

/** How one backend saves, restores, applies and removes; `$state` and `$ipt` are set by the script. */
interface BackendSteps {
  readonly save: string;
  readonly restore: string;
  readonly apply: string;
  readonly remove: string;
}

export interface UfwFiles {
  /** File path -> its full content with pingknock's block in place (or taken out, for remove). */
  readonly [path: string]: string;
}

function backendSteps(backend: Backend, ufwFiles: UfwFiles): BackendSteps {
  switch (backend) {
    case 'nftables':
      return {
        // Re-creating the table from its listing restores it exactly; when there was none,
        // the declare-and-delete pair alone removes what was applied.
        save: `{ printf 'table inet ${NFT_TABLE}\\ndelete table inet ${NFT_TABLE}\\n'; nft list table inet ${NFT_TABLE} 2>/dev/null || :; } >"$state/restore.nft"`,
        restore: 'nft -f "$state/restore.nft"',
        apply: 'nft -f "$state/rules"',
        remove: `if nft list table inet ${NFT_TABLE} >/dev/null 2>&1; then nft delete table inet ${NFT_TABLE}; fi`,
      };
    case 'iptables':
    case 'ip6tables':
      return {
        save: '"$ipt-save" -t filter >"$state/restore.rules"',
        restore: '"$ipt-restore" -w <"$state/restore.rules"',
        apply: 'IPTABLES="$ipt" sh "$state/rules" load',
        remove: IPTABLES_REMOVAL,
      };
    case 'ufw': {
      const paths = Object.keys(ufwFiles);
      const writes = Object.entries(ufwFiles).map(([path, content], index) => writeFileStep(path, content, index));
      return {
        save: paths.map((path, index) => `cp -p ${shellQuote(path)} "$state/ufw.${index}"`).join('\n'),
        restore: `${paths.map((path, index) => `cp -p "$state/ufw.${index}" ${shellQuote(path)}`).join('\n')}\nufw reload >/dev/null`,
        apply: `${writes.join('\n')}\nufw reload >/dev/null`,
        remove: `${writes.join('\n')}\nufw reload >/dev/null`,
      };
    }
  }
}

/** Replaces a file atomically, keeping its owner and mode (cp -p onto a temporary copy, then mv). */
function writeFileStep(path: string, content: string, index: number): string {
  const delimiter = uniqueDelimiter(content, `PINGKNOCK_FILE_${index}`);
  const next = shellQuote(`${path}.pingknock-new`);
  // A here-document always ends in a newline; a file without a final one is written through
  // printf, whose command substitution drops exactly that newline.
  const write = content.endsWith('\n')
    ? `cat >${next} <<'${delimiter}'\n${content}${delimiter}`
    : `printf '%s' "$(cat <<'${delimiter}'\n${content}\n${delimiter}\n)" >${next}`;
  return `cp -p ${shellQuote(path)} ${next}\n${write}\nmv -f ${next} ${shellQuote(path)}`;
}

/** One word for sh, whatever it contains. */
export function shellQuote(text: string): string {
  return `'${text.replaceAll("'", "'\\''")}'`;
}

function uniqueDelimiter(content: string, base: string): string {
  let delimiter = base;
  while (content.split('\n').includes(delimiter)) delimiter += '_';
  return delimiter;
}

export interface ApplyRequest {
  readonly backend: Backend;
  /** The rendered rules (for ufw: only shown, the files below are what is applied). */
  readonly rules: string;
  readonly ufwFiles?: UfwFiles;
  /** iptables, iptables-legacy, iptables-nft, ip6tables, ... (iptables backends only). */
  readonly tool?: string | undefined;
  readonly stateDir: string;
  /** 0: no rollback. */
  readonly rollbackSeconds: number;
}

/** Exit codes of the scripts, mapped to messages by the caller. */
export const SCRIPT_EXIT = { applyFailed: 20, rollbackPending: 21, nothingToConfirm: 22 } as const;

/** The iptables program: as asked, else the backend's own name. */
function iptablesTool(backend: Backend, tool: string | undefined): string {
  return tool ?? (backend === 'iptables' || backend === 'ip6tables' ? backend : '');
}

function prologue(stateDir: string, tool: string): string {
  return `set -eu
umask 077
state=${shellQuote(stateDir)}
ipt=${shellQuote(tool)}
mkdir -p "$state"
pending() { [ -f "$state/armed" ] && [ -f "$state/rollback.pid" ] && kill -0 "$(cat "$state/rollback.pid")" 2>/dev/null; }
`;
}

/**
 * Writes a step as its own script in the state folder, carrying the variables it needs, so the
 * detached rollback can run it later and `sh -e` can stop it at the first failing command.
 */
function stateScript(name: string, body: string): string {
  const delimiter = uniqueDelimiter(body, `PINGKNOCK_${name.toUpperCase()}`);
  return `{
	printf "state='%s'\\nipt='%s'\\n" "$state" "$ipt"
	cat <<'${delimiter}'
${body}
${delimiter}
} >"$state/${name}"
`;
}

export function applyScript(request: ApplyRequest): string {
  const steps = backendSteps(request.backend, request.ufwFiles ?? {});
  const delimiter = uniqueDelimiter(request.rules, 'PINGKNOCK_RULES');
  const arm =
    request.rollbackSeconds > 0
      ? `: >"$state/armed"
if command -v setsid >/dev/null 2>&1; then detach=setsid; else detach=nohup; fi
$detach sh -c 'sleep "$1"; if [ -f "$2/armed" ]; then rm -f "$2/armed"; sh "$2/restore"; fi' pingknock-rollback ${request.rollbackSeconds} "$state" </dev/null >/dev/null 2>&1 &
echo $! >"$state/rollback.pid"
`
      : 'rm -f "$state/armed"\n';
  return `${prologue(request.stateDir, iptablesTool(request.backend, request.tool))}if pending; then
	echo "a rollback from an earlier apply is pending: confirm it first (pingknock rules --confirm)" >&2
	exit ${SCRIPT_EXIT.rollbackPending}
fi
cat >"$state/rules" <<'${delimiter}'
${request.rules.endsWith('\n') ? request.rules : `${request.rules}\n`}${delimiter}
${steps.save}
${stateScript('restore', steps.restore)}${stateScript('apply', steps.apply)}${arm}if ! sh -e "$state/apply"; then
	rm -f "$state/armed"
	sh "$state/restore"
	echo "applying failed; the previous rules are back" >&2
	exit ${SCRIPT_EXIT.applyFailed}
fi
`;
}

/** Disarms a pending rollback, keeping the applied rules. */
export function confirmScript(stateDir: string): string {
  return `${prologue(stateDir, '')}if ! pending; then
	echo "no rollback is pending" >&2
	exit ${SCRIPT_EXIT.nothingToConfirm}
fi
rm -f "$state/armed"
pid=$(cat "$state/rollback.pid")
# The sleeper leads its own process group when setsid made it: end the sleep along with it.
kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || :
`;
}

/** Takes away what pingknock added for this backend, and nothing else. */
export function removeScript(request: Omit<ApplyRequest, 'rollbackSeconds' | 'rules'>): string {
  return `${prologue(request.stateDir, iptablesTool(request.backend, request.tool))}${backendSteps(request.backend, request.ufwFiles ?? {}).remove}\n`;
}
