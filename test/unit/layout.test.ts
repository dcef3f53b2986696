import { describe, expect, it } from 'vitest';
import {
  ICMP_HEADER_BYTES,
  IP_HEADER_BYTES,
  PATTERN_BYTES,
  PING_LAYOUTS,
  transportByteOffset,
} from '../../src/core/layout.js';

describe('PING_LAYOUTS', () => {
  it('puts the iputils pattern after its 16-byte timestamp, whose bytes 12-15 are zero', () => {
    expect(PING_LAYOUTS.iputils).toEqual({ name: 'iputils', patternOffset: 16, zeroWordOffset: 12 });
  });

  it('puts the BSD pattern after its 8-byte timestamp', () => {
    expect(PING_LAYOUTS.bsd).toEqual({ name: 'bsd', patternOffset: 8 });
  });

  it('matches a 16-byte (128-bit) pattern behind an 8-byte ICMP header', () => {
    expect(PATTERN_BYTES * 8).toBe(128);
    expect(ICMP_HEADER_BYTES).toBe(8);
    expect(IP_HEADER_BYTES).toEqual({ ipv4: 20, ipv6: 40 });
  });
});

describe('transportByteOffset', () => {
  it('gives nft @th bit offset 192 for the iputils pattern and 160 for its zero word', () => {
    expect(transportByteOffset(PING_LAYOUTS.iputils.patternOffset) * 8).toBe(192);
    expect(transportByteOffset(PING_LAYOUTS.iputils.zeroWordOffset ?? Number.NaN) * 8).toBe(160);
  });

  it('gives nft @th bit offset 128 for the BSD pattern', () => {
    expect(transportByteOffset(PING_LAYOUTS.bsd.patternOffset) * 8).toBe(128);
  });

  it('adds the ICMP header to any payload offset', () => {
    expect(transportByteOffset(0)).toBe(8);
    expect(transportByteOffset(32)).toBe(40);
  });
});
