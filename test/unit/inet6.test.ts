import { describe, expect, it } from 'vitest';
import { globalIpv6Addresses, shortIpv6 } from '../../src/core/inet6.js';

describe('shortIpv6', () => {
  it.each([
    ['fd70006b000000000000000000000001', 'fd70:6b::1'],
    ['00000000000000000000000000000001', '::1'],
    ['00000000000000000000000000000000', '::'],
    ['fe800000000000000000000000000000', 'fe80::'],
    ['20010db8000000010000000000000001', '2001:db8:0:1::1'],
    ['20010db8000000000001000000000001', '2001:db8::1:0:0:1'],
    ['20010DB8AAAABBBBCCCCDDDDEEEEFFFF', '2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff'],
    ['20010db8000100010001000100010001', '2001:db8:1:1:1:1:1:1'],
  ])('writes %s as %s', (hex, short) => {
    expect(shortIpv6(hex)).toBe(short);
  });
});

describe('globalIpv6Addresses', () => {
  // As the lab's server has it: loopback, a link-local address, and its ULA (nodad, permanent).
  const LAB = `00000000000000000000000000000001 01 80 10 80       lo
fe800000000000000c64a1fffe2b3c4d 02 40 20 80 pkab1s
fd70006b000000000000000000000001 02 40 00 82 pkab1s
`;

  it('keeps only global (and ULA) addresses', () => {
    expect(globalIpv6Addresses(LAB)).toEqual(['fd70:6b::1']);
  });

  it('leaves out tentative, failed and deprecated addresses, and puts temporary ones last', () => {
    const text = `20010db8000000000000000000000011 02 40 00 01 eth0
20010db8000000000000000000000022 02 40 00 40 eth0
20010db8000000000000000000000033 02 40 00 08 eth0
20010db8000000000000000000000044 02 40 00 20 eth0
20010db8000000000000000000000055 02 40 00 80 eth0
`;
    expect(globalIpv6Addresses(text)).toEqual(['2001:db8::55', '2001:db8::11']);
  });

  it('finds none in an empty file or in lines it cannot read', () => {
    expect(globalIpv6Addresses('')).toEqual([]);
    expect(globalIpv6Addresses('garbage\nfd70 02 40 00 80 eth0\n')).toEqual([]);
  });
});
