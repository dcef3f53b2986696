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
  /**
   * Payload bytes (offset, 4 long) that this ping always sends as zero. For iputils they are the
   * high half of the little-endian tv_usec in its timestamp. Requiring them tells the layouts
   * apart: BSD ping, which repeats the pattern every 16 bytes from byte 8, would otherwise put
   * a secret rotated by 8 at iputils' offset 16, and that rotation would be let in.
   */
  readonly zeroWordOffset?: number;
}

/** The pings whose `-p` carries a 16-byte pattern. BusyBox's takes one byte, Windows' none. */
export type KnockingPing = 'iputils' | 'bsd';
export type PingFlavour = KnockingPing | 'busybox' | 'unknown';

export const PING_LAYOUTS: Readonly<Record<KnockingPing, PingLayout>> = {
  iputils: { name: 'iputils', patternOffset: 16, zeroWordOffset: 12 },
  bsd: { name: 'bsd', patternOffset: 8 },
};

export const PATTERN_BYTES = 16;
export const ICMP_HEADER_BYTES = 8;
/** IPv4 without options; IPv6 without extension headers. */
export const IP_HEADER_BYTES = { ipv4: 20, ipv6: 40 } as const;

export type Family = keyof typeof IP_HEADER_BYTES;

/** Byte offset of a payload byte from the ICMP header (where nft's `@th` and u32's `@` start). */
export function transportByteOffset(payloadOffset: number): number {
  return ICMP_HEADER_BYTES + payloadOffset;
}
