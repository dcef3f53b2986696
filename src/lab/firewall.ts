import { NFT_SETS, NFT_TABLE } from '../core/rules/nftables.js';
import { RECENT_LISTS } from '../core/rules/xtables.js';
import { runChecked } from '../edge/exec.js';

/** The server's firewall: the one it may have before pingknock's, loading rules, forgetting knocks. */

/** `bare`: nothing but pingknock's table. `existing`: a host firewall with policy drop already in place. */
export type ServerFirewall = 'bare' | 'existing';

/** A host firewall as many servers have it: policy drop, ssh, pings and established traffic allowed. */
export const EXISTING_FIREWALL = `table inet host {
\tchain input {
\t\ttype filter hook input priority filter; policy drop;
\t\tct state established,related accept
\t\tiif lo accept
\t\ttcp dport 22 accept
\t\ticmp type echo-request accept
\t\ticmpv6 type { echo-request, nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert } accept
\t}
}
`;

/** Loads an `nft -f` ruleset in `netns`. */
export function loadRules(netns: string, ruleset: string): void {
  runChecked('ip', ['netns', 'exec', netns, 'nft', '-f', '-'], ruleset);
}

/** Forgets every knock seen in `netns` (nftables sets, xt_recent lists), so the port is closed again. */
export function forgetKnocks(netns: string): void {
  const sets = Object.values(NFT_SETS).map((set) => `nft flush set inet ${NFT_TABLE} ${set}`);
  const lists = Object.values(RECENT_LISTS).map((list) => `/proc/net/xt_recent/${list}`);
  const script = [
    `if nft list table inet ${NFT_TABLE} >/dev/null 2>&1; then ${sets.join('; ')}; fi`,
    `for list in ${lists.join(' ')}; do if [ -e "$list" ]; then echo / >"$list"; fi; done`,
  ].join('\n');
  runChecked('ip', ['netns', 'exec', netns, 'sh', '-c', script]);
}
