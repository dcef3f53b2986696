/**
 * What each backend's scripts run to save, restore, apply and remove pingknock's rules, and the
 * checks and tool variables those steps rely on. `$state`, `$ipt` and `$ip6t` are set by the
 * script that runs them.
 */

import { posix } from 'node:path';
import type { Family } from '../layout.js';
import { shellQuote, writeExactly } from '../shell.js';
import { NFT_TABLE } from './nftables.js';
import { XT_TOOLS, xtRemoval, xtRestoreOwn, xtSaveOwn, xtTool } from './iptables.js';
import { RECENT_LISTS } from './xtables.js';
import { backendFamilies, type Backend } from './render.js';
import { replaceStep } from './trusted.js';
import type { UfwFiles } from './ufw.js';

/** Each a block of whole lines. */
interface BackendSteps {
  readonly save: string;
  readonly restore: string;
  readonly apply: string;
  readonly remove: string;
}

/** What pingknock changes, for one backend. */
export interface BackendRequest {
  readonly backend: Backend;
  /** For ufw: each file with pingknock's block in place (or taken out, for remove). */
  readonly ufwFiles?: UfwFiles;
  /** The variant of the iptables backends: iptables, iptables-legacy, iptables-nft (ip6tables-... likewise). */
  readonly tool?: string | undefined;
  /** The iptables backends' families (each its own program): else the backend's own, iptables both. */
  readonly families?: readonly Family[] | undefined;
}

export function backendSteps(request: BackendRequest): BackendSteps {
  const { backend, ufwFiles = {} } = request;
  switch (backend) {
    case 'nftables':
      return {
        // Re-creating the table from its listing restores it exactly; when there was none,
        // the declare-and-delete pair alone removes what was applied. In UTC both ways: nft lists
        // one-time keys' `meta hour` and `meta time` values in local time, and west of UTC it
        // lists hours it cannot read back.
        save:
          `{ printf 'table inet ${NFT_TABLE}\\ndelete table inet ${NFT_TABLE}\\n'; ` +
          `TZ=UTC0 nft list table inet ${NFT_TABLE} 2>/dev/null || :; } >"$state/restore.nft"\n`,
        restore: 'TZ=UTC0 nft -f "$state/restore.nft"\n',
        apply: 'nft -f "$state/rules"\n',
        remove: `if nft list table inet ${NFT_TABLE} >/dev/null 2>&1; then nft delete table inet ${NFT_TABLE}; fi\n`,
      };
    case 'iptables':
    case 'ip6tables': {
      const families = xtFamilies(request);
      const saved = (family: Family): string => `"$state/restore.${XT_TOOLS[family].tool}"`;
      const programs = families.map((family) => `${XT_TOOLS[family].env}="$${XT_TOOLS[family].variable}"`);
      return {
        save: families.map((family) => xtSaveOwn(family, saved(family))).join(''),
        restore: families.map((family) => xtRestoreOwn(family, saved(family))).join(''),
        apply: `${programs.join(' ')} sh "$state/rules" load\n`,
        remove: families.map(xtRemoval).join(''),
      };
    }
    case 'ufw': {
      const files = Object.entries(ufwFiles);
      // Applying and removing both put the edited texts in place; restoring, the copies saved.
      const edited = replaceUfwFiles(
        files.map(([path, content], index) => [
          path,
          `cp -p ${shellQuote(path)} "$new"\n${writeExactly('"$new"', content, `PINGKNOCK_FILE_${index}`)}`,
        ]),
      );
      return {
        save: files.map(([path], index) => `cp -p ${shellQuote(path)} "$state/ufw.${index}"\n`).join(''),
        restore: replaceUfwFiles(files.map(([path], index) => [path, `cp -p "$state/ufw.${index}" "$new"\n`])),
        apply: edited,
        remove: edited,
      };
    }
  }
}

/** Replaces each of ufw's files with what its fill writes ("$new", keeping owner and mode), then reloads ufw. */
function replaceUfwFiles(fills: readonly (readonly [path: string, fill: string])[]): string {
  return `${fills.map(([path, fill]) => replaceStep(shellQuote(path), fill)).join('')}ufw reload >/dev/null\n`;
}

function xtFamilies(request: BackendRequest): readonly Family[] {
  return request.families ?? backendFamilies(request.backend, undefined);
}

/** Each family's iptables program for the scripts' `$ipt` and `$ip6t`: '' where the request has none. */
export function xtPrograms(request: BackendRequest): Record<Family, string> {
  const covered = request.backend === 'iptables' || request.backend === 'ip6tables' ? xtFamilies(request) : [];
  const program = (family: Family): string => (covered.includes(family) ? xtTool(family, request.tool) : '');
  return { ipv4: program('ipv4'), ipv6: program('ipv6') };
}

/** ufw's files are written as root too: their folders are checked, and links at their names refused. */
export function ufwChecks(ufwFiles: UfwFiles = {}): string {
  const paths = Object.keys(ufwFiles);
  if (paths.length === 0) return '';
  const folders = [...new Set(paths.map((path) => posix.dirname(path)))];
  const trusted = folders.map((folder) => `trusted_dir "ufw's folder" ${shellQuote(folder)}\n`);
  return `${trusted.join('')}unlinked ${paths.map(shellQuote).join(' ')}\n`;
}

/**
 * Forgets every knock the applied rules remember, for the proof that follows: the knock that let
 * the client in a moment ago (through --via, or the last enroll) must not open the port to the
 * connection that has to time out. nftables forgets them as it loads its table anew; xt_recent
 * (iptables, ufw) keeps its lists across a reload, and is emptied here.
 */
export function forgetKnocksStep(backend: Backend): string {
  if (backend === 'nftables') return '';
  const lists = Object.values(RECENT_LISTS).map((list) => `/proc/net/xt_recent/${list}`);
  return `for list in ${lists.join(' ')}; do if [ -w "$list" ]; then echo / >"$list" || :; fi; done\n`;
}
