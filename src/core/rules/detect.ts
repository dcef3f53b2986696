/**
 * Which firewall a server uses, and which backends hold pingknock's rules there: scripts for
 * `pingknock enroll` and `unenroll`, which run them over ssh.
 */

import { ifBlock, shellQuote } from '../shell.js';
import { NFT_TABLE } from './nftables.js';
import { XT_CHAINS } from './iptables.js';
import type { Backend } from './render.js';
import { UFW_TARGETS } from './ufw.js';

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
${ifBlock(
  [
    [`command -v ufw >/dev/null 2>&1 && LC_ALL=C ufw status 2>/dev/null | grep -q '^Status: active'`, 'echo ufw\n'],
    ['command -v nft >/dev/null 2>&1 && nft list ruleset >/dev/null 2>&1', 'echo nftables\n'],
    ['command -v iptables >/dev/null 2>&1 && iptables -w -n -L INPUT >/dev/null 2>&1', 'echo iptables\n'],
  ],
  `echo "found no firewall tool that works here: nft, iptables or an active ufw" >&2\nexit ${NO_FIREWALL_EXIT}\n`,
)}`;
}

/**
 * Prints, one a line, each backend that may hold pingknock's rules on the server: nftables when
 * its table is there, iptables when its chain is (for IPv4 or IPv6; a missing program is no
 * chain), ufw when ufw's before.rules exists (whether the block is in it is decided from the
 * file's text, with the same code that removes it).
 */
export function installedBackendsScript(): string {
  return `set -eu
if command -v nft >/dev/null 2>&1 && nft list table inet ${NFT_TABLE} >/dev/null 2>&1; then echo nftables; fi
if iptables -w -n -L ${XT_CHAINS.knock} >/dev/null 2>&1 || ip6tables -w -n -L ${XT_CHAINS.knock} >/dev/null 2>&1; then echo iptables; fi
if command -v ufw >/dev/null 2>&1 && [ -f ${shellQuote(UFW_TARGETS.ipv4.file)} ]; then echo ufw; fi
`;
}
