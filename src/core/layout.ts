/**
 * Where a ping client puts the 16-byte `-p` pattern inside the ICMP echo payload.
 * Linux iputils writes a 16-byte timestamp first, so full copies of the pattern start at payload
 * bytes 16 and 32 (with the default 56-byte payload). Rules match the first full copy at its
 * exact offset: accepting it anywhere in a range would also accept rotated secrets, which
 * costs entropy.
 */
export interface PingLayout {
  readonly name: PingFlavour;
  /** Byte offset in the ICMP echo payload (after the 8-byte ICMP header) of the first full copy. */
  readonly patternOffset: number;
}

export type PingFlavour = 'iputils';

export const PING_LAYOUTS: Readonly<Record<PingFlavour, PingLayout>> = {
  iputils: { name: 'iputils', patternOffset: 16 },
};

export const PATTERN_BYTES = 16;
export const ICMP_HEADER_BYTES = 8;

export type Family = 'ipv4' | 'ipv6';

/** Bit offset of the pattern for nftables' `@th` base, which starts at the ICMP header. */
export function transportBitOffset(layout: PingLayout): number {
  return (ICMP_HEADER_BYTES + layout.patternOffset) * 8;
}
