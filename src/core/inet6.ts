/**
 * A server's own IPv6 addresses, from its /proc/net/if_inet6: one line per address, "ADDRESS
 * IFINDEX PREFIXLEN SCOPE FLAGS NAME", the address as 32 hex digits, scope and flags in hex.
 */

const SCOPE_GLOBAL = 0x00;
/** IFA_F_TEMPORARY: a privacy address, which changes; a client knows the server by another. */
const TEMPORARY = 0x01;
/** IFA_F_DADFAILED, IFA_F_DEPRECATED, IFA_F_TENTATIVE: not (or no longer) an address to connect to. */
const UNUSABLE = 0x08 | 0x20 | 0x40;

/**
 * The global addresses (ULA included: Linux gives fc00::/7 global scope), usable ones only, the
 * stable ones before temporary ones, each in its short form.
 */
export function globalIpv6Addresses(ifInet6: string): string[] {
  const found: { address: string; temporary: boolean }[] = [];
  for (const line of ifInet6.split('\n')) {
    const [hex, , , scope, flags] = line.trim().split(/\s+/);
    if (hex === undefined || !/^[0-9a-f]{32}$/i.test(hex) || scope === undefined || flags === undefined) continue;
    const flagBits = Number.parseInt(flags, 16);
    if (Number.parseInt(scope, 16) !== SCOPE_GLOBAL || (flagBits & UNUSABLE) !== 0) continue;
    found.push({ address: shortIpv6(hex), temporary: (flagBits & TEMPORARY) !== 0 });
  }
  return [...found.filter((entry) => !entry.temporary), ...found.filter((entry) => entry.temporary)].map(
    (entry) => entry.address,
  );
}

/** 32 hex digits as an IPv6 address in its short form (RFC 5952): the longest run of zero groups as "::". */
export function shortIpv6(hex: string): string {
  const groups = (hex.toLowerCase().match(/.{4}/g) ?? []).map((group) => group.replace(/^0+(?=.)/, ''));
  let best = { at: -1, length: 1 };
  for (let at = 0; at < groups.length; at += 1) {
    let length = 0;
    while (groups[at + length] === '0') length += 1;
    if (length > best.length) best = { at, length };
  }
  if (best.at < 0) return groups.join(':');
  return `${groups.slice(0, best.at).join(':')}::${groups.slice(best.at + best.length).join(':')}`;
}
