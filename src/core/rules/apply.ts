import { PingknockError } from '../errors.js';
import { NFT_TABLE } from './nftables.js';
import { IPTABLES_REMOVAL, XT_CHAINS } from './iptables.js';
import { UFW_TARGETS } from './ufw.js';

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

/** A folder on the server, as the scripts take it: absolute, and nothing a shell would read twice. */
export const SERVER_PATH = /^\/[A-Za-z0-9._/-]*$/;

export function checkedServerPath(option: string, path: string): string {
  if (!SERVER_PATH.test(path)) throw new PingknockError('usage', `--${option} must be an absolute path of letters, digits and . _ - /`);
  return path;
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

/** Stops a pending rollback's sleeper (or exits nothingToConfirm when none is pending). */
function disarm(stateDir: string): string {
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

/** Disarms a pending rollback, keeping the applied rules. */
export function confirmScript(stateDir: string): string {
  return disarm(stateDir);
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
  return `${prologue(request.stateDir, iptablesTool(request.backend, request.tool))}${backendSteps(request.backend, request.ufwFiles ?? {}).remove}\n`;
}

// ---- For `pingknock enroll` / `unenroll`, which run these on a server over ssh ----

/** Exit code of `detectBackendScript` when the server has no firewall tool that works. */
export const NO_FIREWALL_EXIT = 23;

/** The backends `pingknock enroll` sets up: one per kind of server firewall. */
export const ENROLL_BACKENDS = ['nftables', 'iptables', 'ufw'] as const satisfies readonly Backend[];
export type EnrollBackend = (typeof ENROLL_BACKENDS)[number];

/**
 * Prints the firewall the server uses. An active ufw comes first: it drives iptables or nftables
 * itself, and rules added beside it would be lost on its next reload. Else nft when it can read
 * the ruleset (present and permitted), else iptables. `LC_ALL=C` keeps ufw's status in English.
 */
export function detectBackendScript(): string {
  return `set -eu
if command -v ufw >/dev/null 2>&1 && LC_ALL=C ufw status 2>/dev/null | grep -q '^Status: active'; then
	echo ufw
elif command -v nft >/dev/null 2>&1 && nft list ruleset >/dev/null 2>&1; then
	echo nftables
elif command -v iptables >/dev/null 2>&1 && iptables -w -n -L INPUT >/dev/null 2>&1; then
	echo iptables
else
	echo "found no firewall tool that works here: nft, iptables or an active ufw" >&2
	exit ${NO_FIREWALL_EXIT}
fi
`;
}

/**
 * Prints, one a line, each backend that may hold pingknock's rules on the server: nftables when
 * its table is there, iptables when its chain is, ufw when ufw's before.rules exists (whether
 * the block is in it is decided from the file's text, with the same code that removes it).
 */
export function installedBackendsScript(): string {
  return `set -eu
if command -v nft >/dev/null 2>&1 && nft list table inet ${NFT_TABLE} >/dev/null 2>&1; then echo nftables; fi
if command -v iptables >/dev/null 2>&1 && iptables -w -n -L ${XT_CHAINS.knock} >/dev/null 2>&1; then echo iptables; fi
if command -v ufw >/dev/null 2>&1 && [ -f ${shellQuote(UFW_TARGETS.ipv4.file)} ]; then echo ufw; fi
`;
}

/** Where a server keeps its firewall's boot configuration. */
export const DEFAULT_PERSIST_DIR = '/etc';

export interface PersistRequest {
  readonly backend: EnrollBackend;
  /** Where the boot-time configuration lives: /etc on a server; elsewhere only in tests. */
  readonly persistDir: string;
  /** The iptables program the rules were applied with (iptables backend). */
  readonly tool?: string | undefined;
}

/** The line that makes the nftables service load pingknock's file at boot, in both spellings. */
export function nftIncludeLines(persistDir: string): { readonly plain: string; readonly afterAddedBreak: string } {
  const include = `include "${persistDir}/${NFT_PERSIST_FILE}"`;
  return {
    plain: `${include}  # added by pingknock enroll; pingknock unenroll removes this line`,
    // Said on the line itself, so that unenroll knows to take the line break away as well.
    afterAddedBreak: `${include}  # added by pingknock enroll with the line break above; pingknock unenroll removes both`,
  };
}

export const NFT_PERSIST_FILE = 'pingknock.nft';
export const NFT_BOOT_CONFIG = 'nftables.conf';

function persistPrologue(request: PersistRequest): string {
  const { plain, afterAddedBreak } = nftIncludeLines(request.persistDir);
  return `set -eu
umask 077
persist=${shellQuote(request.persistDir)}
ipt=${shellQuote(request.tool ?? 'iptables')}
file="$persist/${NFT_PERSIST_FILE}"
conf="$persist/${NFT_BOOT_CONFIG}"
line=${shellQuote(plain)}
linenl=${shellQuote(afterAddedBreak)}
saved="$persist/iptables/rules.v4"
`;
}

/**
 * Makes applied rules survive a reboot the server's own way, saying on stdout what it did:
 * nftables: the rules in PERSIST/pingknock.nft, included from PERSIST/nftables.conf (one line,
 * added once, marked as pingknock's); iptables: the whole ruleset saved where
 * netfilter-persistent loads it at boot (PERSIST/iptables/rules.v4), or what to install when it
 * is missing; ufw: nothing, its before.rules already is its boot configuration.
 */
export function persistScript(request: PersistRequest & { readonly rules: string }): string {
  const prologue = persistPrologue(request);
  switch (request.backend) {
    case 'nftables': {
      const delimiter = uniqueDelimiter(request.rules, 'PINGKNOCK_RULES');
      return `${prologue}cat >"$file.pingknock-new" <<'${delimiter}'
${request.rules.endsWith('\n') ? request.rules : `${request.rules}\n`}${delimiter}
mv -f "$file.pingknock-new" "$file"
if [ ! -f "$conf" ]; then
	echo "wrote $file, but there is no $conf to load it at boot: include it from the ruleset the server loads at boot"
else
	if grep -qxF -e "$line" -e "$linenl" "$conf"; then
		echo "$conf includes $file: the rules load at boot"
	else
		cp -p "$conf" "$conf.pingknock-new"
		# A file without a final line break gets one first, and the line says so.
		if [ -n "$(tail -c 1 "$conf")" ]; then printf '\\n%s\\n' "$linenl"; else printf '%s\\n' "$line"; fi >>"$conf.pingknock-new"
		mv -f "$conf.pingknock-new" "$conf"
		echo "$conf now includes $file: the rules load at boot"
	fi
	if command -v systemctl >/dev/null 2>&1 && [ "$(systemctl is-enabled nftables 2>/dev/null || :)" != enabled ]; then
		echo "but the nftables service, which loads $conf at boot, is not enabled: systemctl enable nftables"
	fi
fi
`;
    }
    case 'iptables':
      return `${prologue}${saveForNetfilterPersistent('saved the ruleset to $saved, which netfilter-persistent loads at boot')}else
	echo "the rules last until the next reboot: to keep them, install iptables-persistent and run: netfilter-persistent save"
fi
`;
    case 'ufw':
      return `${prologue}echo "ufw keeps the rules across reboots: they are in its before.rules"
`;
  }
}

/**
 * Undoes `persistScript`, to be run after the rules are removed: nftables: the include line
 * (and the line break it added) out of nftables.conf, every other byte kept, and pingknock.nft
 * deleted; iptables: the ruleset, now without pingknock's rules, saved again; ufw: nothing.
 */
export function unpersistScript(request: PersistRequest): string {
  const prologue = persistPrologue(request);
  switch (request.backend) {
    case 'nftables':
      return `${prologue}if [ -f "$conf" ] && grep -qxF -e "$line" -e "$linenl" "$conf"; then
	cp -p "$conf" "$conf.pingknock-new"
	if [ "$(tail -n 1 "$conf")" = "$linenl" ]; then
		# Still the last line: take it and the line break added before it away (the command
		# substitution drops exactly the trailing line breaks, and the file had none before).
		printf '%s' "$(sed '$d' "$conf")" >"$conf.pingknock-new"
	else
		grep -vxF -e "$line" -e "$linenl" "$conf" >"$conf.pingknock-new" || [ $? -eq 1 ]
	fi
	mv -f "$conf.pingknock-new" "$conf"
	echo "took the include of $file out of $conf"
fi
if [ -f "$file" ]; then
	rm -f "$file"
	echo "removed $file"
fi
`;
    case 'iptables':
      return `${prologue}${saveForNetfilterPersistent("saved the ruleset without pingknock's rules to $saved")}fi
`;
    case 'ufw':
      return `${prologue}:
`;
  }
}

/** The opening `if` branch (closed by the caller) that saves the whole ruleset for netfilter-persistent. */
function saveForNetfilterPersistent(said: string): string {
  return `if command -v netfilter-persistent >/dev/null 2>&1; then
	mkdir -p "$persist/iptables"
	# Every table, as netfilter-persistent saves it: rules.v4 replaces them all at boot.
	if [ -f "$saved" ]; then cp -p "$saved" "$saved.pingknock-new"; fi
	"$ipt-save" >"$saved.pingknock-new"
	mv -f "$saved.pingknock-new" "$saved"
	echo "${said}"
`;
}
