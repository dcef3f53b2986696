/**
 * Making applied rules survive a reboot the server's own way, and undoing that: scripts for
 * `pingknock enroll` and `unenroll`, which run them over ssh after the rules are proven (or
 * removed).
 */

import type { Family } from '../layout.js';
import { hereDocument, ifBlock, shellQuote } from '../shell.js';
import { XT_TOOLS, xtTool } from './iptables.js';
import type { EnrollBackend } from './detect.js';
import { backendFamilies } from './render.js';
import { replaceStep, TRUST_FUNCTIONS } from './trusted.js';
import { REGISTRY_FILE } from './registry.js';

/** Where a server keeps its firewall's boot configuration. */
export const DEFAULT_PERSIST_DIR = '/etc';

export interface PersistRequest {
  readonly backend: EnrollBackend;
  /** Where the boot-time configuration lives: /etc on a server; elsewhere only in tests. */
  readonly persistDir: string;
  /** The iptables variant the rules were applied with (iptables backend). */
  readonly tool?: string | undefined;
  /** The families the iptables rules cover, each saved to its own boot file: else both. */
  readonly families?: readonly Family[] | undefined;
}

export const NFT_PERSIST_FILE = 'pingknock.nft';
export const NFT_BOOT_CONFIG = 'nftables.conf';

/** The line that makes the nftables service load pingknock's file at boot, in both spellings. */
export function nftIncludeLines(persistDir: string): { readonly plain: string; readonly afterAddedBreak: string } {
  const include = `include "${persistDir}/${NFT_PERSIST_FILE}"`;
  return {
    plain: `${include}  # added by pingknock enroll; pingknock unenroll removes this line`,
    // Said on the line itself, so that unenroll knows to take the line break away as well.
    afterAddedBreak:
      `${include}  # added by pingknock enroll with the line break above; ` + 'pingknock unenroll removes both',
  };
}

function persistPrologue(request: PersistRequest): string {
  const { plain, afterAddedBreak } = nftIncludeLines(request.persistDir);
  return `set -eu
umask 077
persist=${shellQuote(request.persistDir)}
${XT_TOOLS.ipv4.variable}=${shellQuote(xtTool('ipv4', request.tool))}
${XT_TOOLS.ipv6.variable}=${shellQuote(xtTool('ipv6', request.tool))}
file="$persist/${NFT_PERSIST_FILE}"
conf="$persist/${NFT_BOOT_CONFIG}"
registry="$persist/${REGISTRY_FILE}"
line=${shellQuote(plain)}
linenl=${shellQuote(afterAddedBreak)}
${TRUST_FUNCTIONS}trusted_dir 'the persist folder' "$persist"
unlinked "$registry"
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
 * netfilter-persistent loads it at boot (PERSIST/iptables/rules.v4 and rules.v6), or what to
 * install when it is missing; ufw: nothing, its before.rules already is its boot configuration.
 */
export function persistScript(request: PersistRequest & { readonly rules: string }): string {
  const prologue = persistPrologue(request);
  switch (request.backend) {
    case 'nftables': {
      const addInclude = `${replaceStep(
        '"$conf"',
        `cp -p "$conf" "$new"
# A file without a final line break gets one first, and the line says so.
if [ -n "$(tail -c 1 "$conf")" ]; then printf '\\n%s\\n' "$linenl"; else printf '%s\\n' "$line"; fi >>"$new"
`,
      )}echo "$conf now includes $file: the rules load at boot"\n`;
      const include = ifBlock(
        [['grep -qxF -e "$line" -e "$linenl" "$conf"', 'echo "$conf includes $file: the rules load at boot"\n']],
        addInclude,
      );
      const serviceNote = ifBlock([
        [
          'command -v systemctl >/dev/null 2>&1 && [ "$(systemctl is-enabled nftables 2>/dev/null || :)" != enabled ]',
          'echo "but the nftables service, which loads $conf at boot, is not enabled: systemctl enable nftables"\n',
        ],
      ]);
      const noConf =
        'echo "wrote $file, but there is no $conf to load it at boot: ' +
        'include it from the ruleset the server loads at boot"\n';
      const write = replaceStep('"$file"', hereDocument('cat >"$new"', request.rules, 'PINGKNOCK_RULES'));
      return `${prologue}${write}${ifBlock([['[ ! -f "$conf" ]', noConf]], include + serviceNote)}`;
    }
    case 'iptables':
      return `${prologue}${saveForNetfilterPersistent(
        request,
        'saved the ruleset to $saved, which netfilter-persistent loads at boot',
        'echo "the rules last until the next reboot: ' +
          'to keep them, install iptables-persistent and run: netfilter-persistent save"\n',
      )}`;
    case 'ufw':
      return `${prologue}echo "ufw keeps the rules across reboots: they are in its before.rules"\n`;
  }
}

/**
 * Undoes `persistScript`, to be run after the rules are removed: nftables: the include line
 * (and the line break it added) out of nftables.conf, every other byte kept, and pingknock.nft
 * deleted; iptables: the ruleset, now without pingknock's rules, saved again; ufw: nothing. The
 * server's key list goes too: no key is left.
 */
export function unpersistScript(request: PersistRequest): string {
  const forgetKeys = ifBlock([['[ -f "$registry" ]', 'rm -f "$registry"\necho "removed the key list $registry"\n']]);
  return `${persistPrologue(request)}${unpersistSteps(request)}${forgetKeys}`;
}

function unpersistSteps(request: PersistRequest): string {
  switch (request.backend) {
    case 'nftables': {
      const takeOut = ifBlock(
        [
          [
            '[ "$(tail -n 1 "$conf")" = "$linenl" ]',
            `# Still the last line: take it and the line break added before it away (the command
# substitution drops exactly the trailing line breaks, and the file had none before).
printf '%s' "$(sed '$d' "$conf")" >"$new"
`,
          ],
        ],
        'grep -vxF -e "$line" -e "$linenl" "$conf" >"$new" || [ $? -eq 1 ]\n',
      );
      const replaced = replaceStep('"$conf"', `cp -p "$conf" "$new"\n${takeOut}`);
      const uninclude = `${replaced}echo "took the include of $file out of $conf"\n`;
      const included = '[ -f "$conf" ] && grep -qxF -e "$line" -e "$linenl" "$conf"';
      return `${ifBlock([[included, uninclude]])}${ifBlock([
        ['[ -f "$file" ]', 'rm -f "$file"\necho "removed $file"\n'],
      ])}`;
    }
    case 'iptables':
      return saveForNetfilterPersistent(request, "saved the ruleset without pingknock's rules to $saved");
    case 'ufw':
      return '';
  }
}

/** netfilter-persistent's boot file for each family, in PERSIST/iptables. */
const NETFILTER_PERSISTENT_FILES: Readonly<Record<Family, string>> = { ipv4: 'rules.v4', ipv6: 'rules.v6' };

/**
 * Saves the whole ruleset of each family for netfilter-persistent when it is installed, saying
 * `said` (about `$saved`) for each; `otherwise` runs when it is not.
 */
function saveForNetfilterPersistent(request: PersistRequest, said: string, otherwise?: string): string {
  const saves = (request.families ?? backendFamilies('iptables', undefined)).map((family) => {
    const write = `if [ -f "$saved" ]; then cp -p "$saved" "$new"; fi\n"$${XT_TOOLS[family].variable}-save" >"$new"\n`;
    return `saved="$persist/iptables/${NETFILTER_PERSISTENT_FILES[family]}"
${replaceStep('"$saved"', write)}echo "${said}"
`;
  });
  const save = `mkdir -p "$persist/iptables"
# Every table, as netfilter-persistent saves it: its rules.v4 and rules.v6 replace them all at boot.
${saves.join('')}`;
  return ifBlock([['command -v netfilter-persistent >/dev/null 2>&1', save]], otherwise);
}
