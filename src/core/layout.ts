/**
 * Where a ping client puts the 16-byte `-p` pattern inside the ICMP echo payload (after the
 * 8-byte ICMP header). Linux iputils writes a 16-byte timestamp first, so full copies of the
 * pattern start at payload bytes 16 and 32; BSD and macOS write an 8-byte timestamp, so copies
 * start at 8, 24 and 40. Rules match the first full copy of each layout at its exact offset:
 * accepting the pattern anywhere in a range would also accept rotated secrets, costing entropy.
 */
export interface PingLayout {
  readonly name: KnockingPing;
  /** Byte offset in the ICMP echo payload of the first full copy of the pattern. */
  readonly patternOffset: number;
}

/** The pings whose `-p` carries a 16-byte pattern. BusyBox's takes one byte, Windows' none. */
export type KnockingPing = 'iputils' | 'bsd';
export type PingFlavour = KnockingPing | 'busybox' | 'unknown';

export const PING_LAYOUTS: Readonly<Record<KnockingPing, PingLayout>> = {
  iputils: { name: 'iputils', patternOffset: 16 },
  bsd: { name: 'bsd', patternOffset: 8 },
};

export const PATTERN_BYTES = 16;
export const ICMP_HEADER_BYTES = 8;
/** IPv4 without options; IPv6 without extension headers. */
export const IP_HEADER_BYTES = { ipv4: 20, ipv6: 40 } as const;

export type Family = keyof typeof IP_HEADER_BYTES;

/** Bit offset of the pattern for nftables' `@th` base, which starts at the ICMP header. */
export function transportBitOffset(layout: PingLayout): number {
  return (ICMP_HEADER_BYTES + layout.patternOffset) * 8;
}

/** Byte offset of the pattern from the ICMP header (u32's `@` jumps there over any IPv4 options). */
export function transportByteOffset(layout: PingLayout): number {
  return ICMP_HEADER_BYTES + layout.patternOffset;
}

/** Byte offset of the pattern from the start of the IP header, as iptables' `string --from` counts. */
export function networkByteOffset(layout: PingLayout, family: Family): number {
  return IP_HEADER_BYTES[family] + transportByteOffset(layout);
}
