/**
 * What the nftables ruleset's parts share (nftables.ts, nftables-once.ts): each family's sets,
 * chain and match syntax, the dynamic sets, and where a layout's pattern sits in the ICMP header.
 */
import { FLOOD_LIMITS } from './model.js';
import type { Family } from '../layout.js';
import { PATTERN_BYTES, transportByteOffset, type PingLayout } from '../layout.js';

/** The sets of knocked source addresses, one per family. */
export const NFT_SETS: Readonly<Record<Family, string>> = { ipv4: 'knocked4', ipv6: 'knocked6' };

/** What nftables admits at most at once per family: its default set size, made explicit. */
export const NFT_SET_CAPACITY = 65535;

export interface FamilySyntax {
  readonly set: string;
  readonly rateSet: string;
  /** Knockers remembered in the last refreshAfterSeconds: answered without a refresh. */
  readonly freshSet: string;
  readonly chain: string;
  readonly type: string;
  readonly echo: string;
  /** The source as it is remembered: an IPv6 knocker by its /64. */
  readonly source: string;
  readonly sourceType: string;
  readonly family: Family;
  readonly suffix: string;
}

export const FAMILY_SYNTAX: Readonly<Record<Family, FamilySyntax>> = {
  ipv4: {
    set: NFT_SETS.ipv4,
    rateSet: 'knockrate4',
    freshSet: 'fresh4',
    chain: 'knock4',
    type: 'ipv4_addr',
    echo: 'icmp type echo-request',
    source: 'ip saddr',
    sourceType: 'ip saddr',
    family: 'ipv4',
    suffix: '4',
  },
  ipv6: {
    set: NFT_SETS.ipv6,
    rateSet: 'knockrate6',
    freshSet: 'fresh6',
    chain: 'knock6',
    type: 'ipv6_addr',
    echo: 'icmpv6 type echo-request',
    source: `ip6 saddr & ${FLOOD_LIMITS.ipv6Prefix.mask}`,
    sourceType: 'ip6 saddr',
    family: 'ipv6',
    suffix: '6',
  },
};

export function dynamicSet(name: string, key: string, timeoutSeconds: number): string {
  return (
    `\tset ${name} {\n\t\t${key}\n\t\tsize ${NFT_SET_CAPACITY}\n` +
    `\t\tflags dynamic,timeout\n\t\ttimeout ${timeoutSeconds}s\n\t}\n\n`
  );
}

/** nft matches raw bits from the ICMP header (`@th`), so the same test serves IPv4 and IPv6. */
export function payload(layout: PingLayout): string {
  return `@th,${transportByteOffset(layout.patternOffset) * 8},${PATTERN_BYTES * 8}`;
}

export function zeroTest(layout: PingLayout): string {
  return layout.zeroWordOffset === undefined ? '' : `@th,${transportByteOffset(layout.zeroWordOffset) * 8},32 0x0 `;
}
