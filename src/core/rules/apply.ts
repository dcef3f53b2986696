import { posix } from 'node:path';
import { PingknockError } from '../errors.js';
import { NFT_TABLE } from './nftables.js';
import { XT_CHAINS, XT_TOOLS, xtRemoval, xtRestoreOwn, xtSaveOwn, xtTool } from './iptables.js';
import { UFW_TARGETS } from './ufw.js';
import { replaceStep, TRUST_FUNCTIONS, UNSAFE_EXIT } from './trusted.js';

/**
 * Applying rules safely, as POSIX sh that needs nothing but the firewall's own tools, so the same
 * text runs here (`pingknock rules --apply`) or on a server reached over ssh. The previous state
 * is saved first; with a rollback time, a detached sleeper restores it unless `confirmScript`
 * disarms it in time, so a rule that locks the user out undoes itself. The sleeper runs in its
 * own session, so it survives the ssh session (or terminal) that armed it.
 */

import type { Family } from '../layout.js';
import { backendFamilies, type Backend } from './render.js';

/** How one backend saves, restores, applies and removes; `$state`, `$ipt` and `$ip6t` are set by the script. */
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

function backendSteps(request: BackendRequest): BackendSteps {
  const { backend, ufwFiles = {} } = request;
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
    case 'ip6tables': {
      const families = xtFamilies(request);
      const saved = (family: Family): string => `"$state/restore.${XT_TOOLS[family].tool}"`;
      return {
        save: families.map((family) => xtSaveOwn(family, saved(family))).join('\n'),
        restore: families.map((family) => xtRestoreOwn(family, saved(family))).join('\n'),
        apply: `${families.map((family) => `${XT_TOOLS[family].env}="$${XT_TOOLS[family].variable}"`).join(' ')} sh "$state/rules" load`,
        remove: families.map(xtRemoval).join('\n'),
      };
    }
    case 'ufw': {
      const paths = Object.keys(ufwFiles);
      const writes = Object.entries(ufwFiles).map(([path, content], index) => writeFileStep(path, content, index));
      return {
        save: paths.map((path, index) => `cp -p ${shellQuote(path)} "$state/ufw.${index}"`).join('\n'),
        restore: `${paths.map((path, index) => replaceStep(shellQuote(path), `cp -p "$state/ufw.${index}" "$new"`)).join('\n')}\nufw reload >/dev/null`,
        apply: `${writes.join('\n')}\nufw reload >/dev/null`,
        remove: `${writes.join('\n')}\nufw reload >/dev/null`,
      };
    }
  }
}

/** Replaces a file atomically, keeping its owner and mode (cp -p onto the fresh copy, then written). */
function writeFileStep(path: string, content: string, index: number): string {
  const delimiter = uniqueDelimiter(content, `PINGKNOCK_FILE_${index}`);
  // A here-document always ends in a newline; a file without a final one is written through
  // printf, whose command substitution drops exactly that newline.
  const write = content.endsWith('\n')
    ? `cat >"$new" <<'${delimiter}'\n${content}${delimiter}`
    : `printf '%s' "$(cat <<'${delimiter}'\n${content}\n${delimiter}\n)" >"$new"`;
  return replaceStep(shellQuote(path), `cp -p ${shellQuote(path)} "$new"\n${write}`);
}

/** A folder on the server, as the scripts take it: absolute, and nothing a shell would read twice. */
export const SERVER_PATH = /^\/[A-Za-z0-9._/-]*$/;

export function checkedServerPath(option: string, path: string): string {
  if (!SERVER_PATH.test(path)) throw new PingknockError('usage', `--${option} must be an absolute path of letters, digits and . _ - /`);
  // One spelling per folder: the confirm knows the sleeper by the state folder it was given.
  if (path !== '/' && path.split('/').slice(1).some((part) => part === '' || part === '.' || part === '..')) {
    throw new PingknockError('usage', `--${option} must name its folder plainly: no . or .. parts, no double or trailing /`);
  }
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

/** What pingknock changes, for one backend. */
interface BackendRequest {
  readonly backend: Backend;
  /** For ufw: each file with pingknock's block in place (or taken out, for remove). */
  readonly ufwFiles?: UfwFiles;
  /** The variant of the iptables backends: iptables, iptables-legacy, iptables-nft (ip6tables-... likewise). */
  readonly tool?: string | undefined;
  /** The iptables backends' families (each its own program): else the backend's own, iptables both. */
  readonly families?: readonly Family[] | undefined;
}

export interface ApplyRequest extends BackendRequest {
  /** The rendered rules (for ufw: only shown, the files are what is applied). */
  readonly rules: string;
  readonly stateDir: string;
  /** 0: no rollback. */
  readonly rollbackSeconds: number;
}

/** Exit codes of the scripts, mapped to messages by the caller. */
export const SCRIPT_EXIT = { applyFailed: 20, rollbackPending: 21, nothingToConfirm: 22, unsafe: UNSAFE_EXIT } as const;

function xtFamilies(request: BackendRequest): readonly Family[] {
  return request.families ?? backendFamilies(request.backend, undefined);
}

/** Each family's iptables program for the scripts' `$ipt` and `$ip6t`: '' where the request has none. */
function xtPrograms(request: BackendRequest): Record<Family, string> {
  const covered = request.backend === 'iptables' || request.backend === 'ip6tables' ? xtFamilies(request) : [];
  const program = (family: Family): string => (covered.includes(family) ? xtTool(family, request.tool) : '');
  return { ipv4: program('ipv4'), ipv6: program('ipv6') };
}

/** ufw's files are written as root too: their folders are checked, and links at their names refused. */
function ufwChecks(ufwFiles: UfwFiles = {}): string {
  const paths = Object.keys(ufwFiles);
  if (paths.length === 0) return '';
  const folders = [...new Set(paths.map((path) => posix.dirname(path)))];
  return `${folders.map((folder) => `trusted_dir "ufw's folder" ${shellQuote(folder)}\n`).join('')}unlinked ${paths.map(shellQuote).join(' ')}\n`;
}

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
state_files() { "$@" "$state"/rules "$state"/apply "$state"/restore* "$state"/ufw.* "$state"/armed "$state"/rollback.pid; }
state_files unlinked
# Pending while armed, with rollback.pid naming the sleeper an apply started for this folder (its
# last arguments). Anything else there is refused, never signalled: kill -- -1 ends every process.
pending() {
	[ -f "$state/armed" ] && [ -f "$state/rollback.pid" ] || return 1
	pid=$(cat "$state/rollback.pid")
	case $pid in ''|*[!0-9]*|0*|1) refuse "refusing $state/rollback.pid: it holds no process id above 1" ;; esac
	[ -d "/proc/$pid" ] || return 1
	[ "$(tr '\\0' '\\n' <"/proc/$pid/cmdline" 2>/dev/null | tail -n 3 | sed 2d)" = "${SLEEPER}
$state" ] || refuse "refusing $state/rollback.pid: process $pid is not pingknock's rollback for $state, so it is not signalled"
}
`;
}

/**
 * Writes a step as its own script in the state folder, carrying the variables it needs, so the
 * detached rollback can run it later and `sh -e` can stop it at the first failing command.
 */
function stateScript(name: string, body: string): string {
  const delimiter = uniqueDelimiter(body, `PINGKNOCK_${name.toUpperCase()}`);
  return `{
	printf "state='%s'\\n${XT_TOOLS.ipv4.variable}='%s'\\n${XT_TOOLS.ipv6.variable}='%s'\\n" "$state" "$${XT_TOOLS.ipv4.variable}" "$${XT_TOOLS.ipv6.variable}"
	cat <<'${delimiter}'
${body}
${delimiter}
} >"$state/${name}"
`;
}

export function applyScript(request: ApplyRequest): string {
  const steps = backendSteps(request);
  const delimiter = uniqueDelimiter(request.rules, 'PINGKNOCK_RULES');
  const arm =
    request.rollbackSeconds > 0
      ? `: >"$state/armed"
if command -v setsid >/dev/null 2>&1; then detach=setsid; else detach=nohup; fi
$detach sh -c 'sleep "$1"; if [ -f "$2/armed" ]; then rm -f "$2/armed"; sh "$2/restore"; fi' ${SLEEPER} ${request.rollbackSeconds} "$state" </dev/null >/dev/null 2>&1 &
echo $! >"$state/rollback.pid"
`
      : 'rm -f "$state/armed"\n';
  return `${prologue(request.stateDir, xtPrograms(request))}${ufwChecks(request.ufwFiles)}if pending; then
	echo "a rollback from an earlier apply is pending: confirm it first (pingknock rules --confirm)" >&2
	exit ${SCRIPT_EXIT.rollbackPending}
fi
# Made anew, not written into: a name's old file (or a hard link) goes, its content is not replaced.
state_files rm -f --
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
  return `${prologue(stateDir)}if ! pending; then
	echo "no rollback is pending" >&2
	exit ${SCRIPT_EXIT.nothingToConfirm}
fi
rm -f "$state/armed"
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
  return `${prologue(request.stateDir, xtPrograms(request))}${ufwChecks(request.ufwFiles)}${backendSteps(request).remove}\n`;
}

// ---- For `pingknock enroll` / `unenroll`, which run these on a server over ssh ----

/** Exit code of `detectBackendScript` when the server has no firewall tool that works. */
export const NO_FIREWALL_EXIT = 23;

/** The backends `pingknock enroll` sets up: one per kind of server firewall. */
export const ENROLL_BACKENDS = ['nftables', 'iptables', 'ufw'] as const satisfies readonly Backend[];
export type EnrollBackend = (typeof ENROLL_BACKENDS)[number];
/** `auto`: enroll asks the server (an active ufw, else nftables, else iptables); unenroll takes what enroll used. */
export const ENROLL_BACKEND_CHOICES = ['auto', ...ENROLL_BACKENDS] as const;
export type EnrollBackendChoice = (typeof ENROLL_BACKEND_CHOICES)[number];

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
 * its table is there, iptables when its chain is (for IPv4 or IPv6; a missing program is no chain), ufw when ufw's before.rules exists (whether
 * the block is in it is decided from the file's text, with the same code that removes it).
 */
export function installedBackendsScript(): string {
  return `set -eu
if command -v nft >/dev/null 2>&1 && nft list table inet ${NFT_TABLE} >/dev/null 2>&1; then echo nftables; fi
if iptables -w -n -L ${XT_CHAINS.knock} >/dev/null 2>&1 || ip6tables -w -n -L ${XT_CHAINS.knock} >/dev/null 2>&1; then echo iptables; fi
if command -v ufw >/dev/null 2>&1 && [ -f ${shellQuote(UFW_TARGETS.ipv4.file)} ]; then echo ufw; fi
`;
}

/** Where a server keeps its firewall's boot configuration. */
export const DEFAULT_PERSIST_DIR = '/etc';
/** Where an apply keeps the previous rules for its rollback, and `--confirm` finds the sleeper. */
export const DEFAULT_STATE_DIR = '/run/pingknock';

export interface PersistRequest {
  readonly backend: EnrollBackend;
  /** Where the boot-time configuration lives: /etc on a server; elsewhere only in tests. */
  readonly persistDir: string;
  /** The iptables variant the rules were applied with (iptables backend). */
  readonly tool?: string | undefined;
  /** The families the iptables rules cover, each saved to its own boot file: else both. */
  readonly families?: readonly Family[] | undefined;
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
${XT_TOOLS.ipv4.variable}=${shellQuote(xtTool('ipv4', request.tool))}
${XT_TOOLS.ipv6.variable}=${shellQuote(xtTool('ipv6', request.tool))}
file="$persist/${NFT_PERSIST_FILE}"
conf="$persist/${NFT_BOOT_CONFIG}"
line=${shellQuote(plain)}
linenl=${shellQuote(afterAddedBreak)}
${TRUST_FUNCTIONS}trusted_dir 'the persist folder' "$persist"
${PERSIST_CHECKS[request.backend]}`;
}

/** What each backend's persistence writes, beyond the persist folder itself. */
const PERSIST_CHECKS: Readonly<Record<EnrollBackend, string>> = {
  nftables: 'unlinked "$file" "$conf"\n',
  // rules.v* : netfilter-persistent's file for each family.
  iptables: `trusted_dir 'the persist folder' "$persist/iptables"\nunlinked "$persist"/iptables/rules.v*\n`,
  ufw: '',
};

/**
 * The persist scripts' checks alone, for enroll and unenroll to run before the firewall changes:
 * a folder refused then (exit UNSAFE_EXIT) has changed nothing.
 */
export function persistCheckScript(request: PersistRequest): string {
  return persistPrologue(request);
}

/**
 * Makes applied rules survive a reboot the server's own way, saying on stdout what it did:
 * nftables: the rules in PERSIST/pingknock.nft, included from PERSIST/nftables.conf (one line,
 * added once, marked as pingknock's); iptables: the whole ruleset saved where
 * netfilter-persistent loads it at boot (PERSIST/iptables/rules.v4 and rules.v6), or what to install when it
 * is missing; ufw: nothing, its before.rules already is its boot configuration.
 */
export function persistScript(request: PersistRequest & { readonly rules: string }): string {
  const prologue = persistPrologue(request);
  switch (request.backend) {
    case 'nftables': {
      const delimiter = uniqueDelimiter(request.rules, 'PINGKNOCK_RULES');
      return `${prologue}${replaceStep('"$file"', `cat >"$new" <<'${delimiter}'\n${request.rules.endsWith('\n') ? request.rules : `${request.rules}\n`}${delimiter}`)}
if [ ! -f "$conf" ]; then
	echo "wrote $file, but there is no $conf to load it at boot: include it from the ruleset the server loads at boot"
else
	if grep -qxF -e "$line" -e "$linenl" "$conf"; then
		echo "$conf includes $file: the rules load at boot"
	else
		${replaceStep(
      '"$conf"',
      `cp -p "$conf" "$new"
# A file without a final line break gets one first, and the line says so.
if [ -n "$(tail -c 1 "$conf")" ]; then printf '\\n%s\\n' "$linenl"; else printf '%s\\n' "$line"; fi >>"$new"`,
    ).replaceAll('\n', '\n\t\t')}
		echo "$conf now includes $file: the rules load at boot"
	fi
	if command -v systemctl >/dev/null 2>&1 && [ "$(systemctl is-enabled nftables 2>/dev/null || :)" != enabled ]; then
		echo "but the nftables service, which loads $conf at boot, is not enabled: systemctl enable nftables"
	fi
fi
`;
    }
    case 'iptables':
      return `${prologue}${saveForNetfilterPersistent(request, 'saved the ruleset to $saved, which netfilter-persistent loads at boot')}else
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
	${replaceStep(
    '"$conf"',
    `cp -p "$conf" "$new"
if [ "$(tail -n 1 "$conf")" = "$linenl" ]; then
	# Still the last line: take it and the line break added before it away (the command
	# substitution drops exactly the trailing line breaks, and the file had none before).
	printf '%s' "$(sed '$d' "$conf")" >"$new"
else
	grep -vxF -e "$line" -e "$linenl" "$conf" >"$new" || [ $? -eq 1 ]
fi`,
  ).replaceAll('\n', '\n\t')}
	echo "took the include of $file out of $conf"
fi
if [ -f "$file" ]; then
	rm -f "$file"
	echo "removed $file"
fi
`;
    case 'iptables':
      return `${prologue}${saveForNetfilterPersistent(request, "saved the ruleset without pingknock's rules to $saved")}fi
`;
    case 'ufw':
      return `${prologue}:
`;
  }
}

/** netfilter-persistent's boot file for each family, in PERSIST/iptables. */
const NETFILTER_PERSISTENT_FILES: Readonly<Record<Family, string>> = { ipv4: 'rules.v4', ipv6: 'rules.v6' };

/**
 * The opening `if` branch (closed by the caller) that saves the whole ruleset of each family for
 * netfilter-persistent, saying `said` (about `$saved`) for each.
 */
function saveForNetfilterPersistent(request: PersistRequest, said: string): string {
  const saves = (request.families ?? backendFamilies('iptables', undefined)).map(
    (family) => `saved="$persist/iptables/${NETFILTER_PERSISTENT_FILES[family]}"
${replaceStep('"$saved"', `if [ -f "$saved" ]; then cp -p "$saved" "$new"; fi
"$${XT_TOOLS[family].variable}-save" >"$new"`)}
echo "${said}"`,
  );
  return `if command -v netfilter-persistent >/dev/null 2>&1; then
	mkdir -p "$persist/iptables"
	# Every table, as netfilter-persistent saves it: its rules.v4 and rules.v6 replace them all at boot.
	${saves.join('\n').replaceAll('\n', '\n\t')}
`;
}
