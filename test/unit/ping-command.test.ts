import { describe, expect, it } from 'vitest';
import type { PingFlavour } from '../../src/core/layout.js';
import {
  identifyPing,
  isKnockingPing,
  KNOCK_INTERVAL_SECONDS,
  knockCommand,
  knockProblem,
  platformPing,
  unreachableReason,
  type KnockCommandRequest,
} from '../../src/core/ping-command.js';

const HEX = '4142434445464748494a4b4c4d4e4f50';
const IPUTILS_V =
  'ping from iputils 20221126\nlibcap: yes, IDN: yes, NLS: no, error.h: yes, getrandom(): yes, __fpending(): yes\n';
const BUSYBOX_V =
  "ping: invalid option -- 'V'\nBusyBox v1.36.1 (2023-07-27 17:12:24 UTC) multi-call binary.\n" +
  '\nUsage: ping [OPTIONS] HOST\n';

function request(overrides: Partial<KnockCommandRequest>): KnockCommandRequest {
  return {
    ping: 'iputils',
    family: 'ipv4',
    address: '192.0.2.10',
    patternHex: HEX,
    deadlineMs: 3000,
    privileged: false,
    ...overrides,
  };
}

describe('identifyPing', () => {
  it.each<NodeJS.Platform>(['linux', 'darwin', 'freebsd'])('recognises iputils from ping -V on %s', (platform) => {
    expect(identifyPing(IPUTILS_V, platform)).toBe('iputils');
  });

  it('recognises the older iputils wording too', () => {
    expect(identifyPing('ping utility, iputils-s20161105\n', 'linux')).toBe('iputils');
  });

  it.each<NodeJS.Platform>(['linux', 'darwin'])('recognises BusyBox on %s', (platform) => {
    expect(identifyPing(BUSYBOX_V, platform)).toBe('busybox');
  });

  it.each<NodeJS.Platform>(['darwin', 'freebsd', 'openbsd', 'netbsd'])(
    'takes an unrecognised ping on %s for BSD ping',
    (platform) => {
      expect(identifyPing('ping: illegal option -- V\nusage: ping [-AaDdfnoQqRrv] ...\n', platform)).toBe('bsd');
      expect(identifyPing('', platform)).toBe('bsd');
    },
  );

  it.each<NodeJS.Platform>(['linux', 'win32', 'sunos', 'aix'])(
    'calls an unrecognised ping on %s unknown',
    (platform) => {
      expect(identifyPing('ping: invalid option -- V\n', platform)).toBe('unknown');
      expect(identifyPing('', platform)).toBe('unknown');
    },
  );
});

describe('platformPing', () => {
  it.each<[NodeJS.Platform, string]>([
    ['linux', 'iputils'],
    ['android', 'iputils'],
    ['darwin', 'bsd'],
    ['freebsd', 'bsd'],
    ['openbsd', 'bsd'],
    ['netbsd', 'bsd'],
  ])('expects the ping %s comes with: %s', (platform, ping) => {
    expect(platformPing(platform)).toBe(ping);
  });
});

describe('isKnockingPing', () => {
  it.each<[PingFlavour, boolean]>([
    ['iputils', true],
    ['bsd', true],
    ['busybox', false],
    ['unknown', false],
  ])('%s -> %s', (flavour, expected) => {
    expect(isKnockingPing(flavour)).toBe(expected);
  });
});

describe('knockProblem', () => {
  it('explains that BusyBox -p takes one byte, and to install iputils', () => {
    const message = knockProblem('busybox');
    expect(message).toMatch(/^BusyBox ping cannot send a knock/);
    expect(message).toContain('single byte');
    expect(message).toContain('install iputils ping');
    expect(message).toContain('apt-get install iputils-ping');
    expect(message).toContain('apk add iputils');
  });

  it('explains that an unknown ping puts the pattern who knows where, and to install iputils', () => {
    const message = knockProblem('unknown');
    expect(message).toContain('neither Linux iputils nor BSD/macOS ping');
    expect(message).toContain('install iputils ping');
    expect(message).toContain('apt-get install iputils-ping');
  });
});

describe('knockCommand: iputils', () => {
  it('gives exactly the reviewed arguments for IPv4 and a 3000 ms deadline', () => {
    expect(knockCommand(request({}))).toEqual({
      file: 'ping',
      args: ['-4', '-n', '-c', '1', '-i', '0.2', '-w', '3', '-p', HEX, '192.0.2.10'],
    });
  });

  it('uses -6 (and still plain ping) for IPv6', () => {
    expect(knockCommand(request({ family: 'ipv6', address: '2001:db8::10' }))).toEqual({
      file: 'ping',
      args: ['-6', '-n', '-c', '1', '-i', '0.2', '-w', '3', '-p', HEX, '2001:db8::10'],
    });
  });

  it.each([
    [2500, '3'],
    [2400, '3'],
    [3001, '4'],
    [1000, '1'],
    [999, '1'],
    [1, '1'],
    [0, '1'],
    [60_000, '60'],
  ])('rounds a %i ms deadline up to -w %s (at least 1)', (deadlineMs, seconds) => {
    const { args } = knockCommand(request({ deadlineMs }));
    expect(args[args.indexOf('-w') + 1]).toBe(seconds);
  });

  it('keeps the 0.2 s interval whether or not it runs privileged', () => {
    expect(KNOCK_INTERVAL_SECONDS).toBe(0.2);
    expect(knockCommand(request({ privileged: true }))).toEqual(knockCommand(request({ privileged: false })));
  });
});

describe('knockCommand: BSD', () => {
  it('exits on the first reply (-o), resending once a second unprivileged, for the whole deadline', () => {
    expect(knockCommand(request({ ping: 'bsd', privileged: false }))).toEqual({
      file: 'ping',
      args: ['-n', '-q', '-o', '-c', '3', '-i', '1', '-p', HEX, '192.0.2.10'],
    });
  });

  it('resends every 0.2 s when privileged, with the count to cover the deadline', () => {
    expect(knockCommand(request({ ping: 'bsd', privileged: true }))).toEqual({
      file: 'ping',
      args: ['-n', '-q', '-o', '-c', '15', '-i', '0.2', '-p', HEX, '192.0.2.10'],
    });
  });

  it('uses ping6 for IPv6 (BSD ping has no -6 everywhere)', () => {
    expect(knockCommand(request({ ping: 'bsd', family: 'ipv6', address: '2001:db8::10', privileged: true }))).toEqual({
      file: 'ping6',
      args: ['-n', '-q', '-o', '-c', '15', '-i', '0.2', '-p', HEX, '2001:db8::10'],
    });
  });

  it.each([
    [2500, false, '3'],
    [2500, true, '13'],
    [100, false, '1'],
    [100, true, '1'],
    [0, false, '1'],
    [10_000, true, '50'],
  ])('counts %i ms (privileged %s) as -c %s', (deadlineMs, privileged, count) => {
    const { args } = knockCommand(request({ ping: 'bsd', deadlineMs, privileged }));
    expect(args[args.indexOf('-c') + 1]).toBe(count);
  });
});

describe('knockCommand: the address', () => {
  it.each([
    ['iputils', 'ipv4', '192.0.2.10'],
    ['iputils', 'ipv6', 'fe80::1%eth0'],
    ['bsd', 'ipv4', '10.0.0.1'],
    ['bsd', 'ipv6', '::1'],
  ] as const)('is the last argument and appears once (%s, %s)', (ping, family, address) => {
    for (const privileged of [false, true]) {
      const { args } = knockCommand(request({ ping, family, address, privileged }));
      expect(args.at(-1)).toBe(address);
      expect(args.filter((arg) => arg === address)).toHaveLength(1);
      expect(args.at(-2)).toBe(HEX);
      expect(args.at(-3)).toBe('-p');
    }
  });
});

describe('unreachableReason', () => {
  // iputils 20221126's own output, with a router that has no route to 10.9.9.9 (PATTERN: the secret).
  const routerSaid = [
    `PATTERN: 0x${HEX}`,
    'PING 10.9.9.9 (10.9.9.9) 56(84) bytes of data.',
    'From 10.77.0.1 icmp_seq=1 Destination Net Unreachable',
    '',
    '--- 10.9.9.9 ping statistics ---',
    '1 packets transmitted, 0 received, +1 errors, 100% packet loss, time 0ms',
    '',
  ].join('\n');

  it("quotes a router's ICMP error, and nothing else of ping's output", () => {
    expect(unreachableReason(routerSaid, '')).toBe('ping: From 10.77.0.1 icmp_seq=1 Destination Net Unreachable');
  });

  it('quotes an ICMPv6 error and an unanswered neighbour (this machine says host unreachable)', () => {
    expect(unreachableReason('From fd70:6b::1 icmp_seq=1 Destination unreachable: No route\n', '')).toBe(
      'ping: From fd70:6b::1 icmp_seq=1 Destination unreachable: No route',
    );
    expect(
      unreachableReason(
        'From 10.77.0.2 icmp_seq=1 Destination Host Unreachable\n' +
          'From 10.77.0.2 icmp_seq=2 Destination Host Unreachable\n',
        '',
      ),
    ).toBe('ping: From 10.77.0.2 icmp_seq=1 Destination Host Unreachable');
  });

  it.each(['ping: connect: Network is unreachable', 'ping: connect: No route to host'])(
    'quotes the missing route: %s',
    (line) => {
      expect(unreachableReason(`PATTERN: 0x${HEX}\n`, `${line}\n`)).toBe(line);
    },
  );

  it('says nothing when ping saw no error from the network', () => {
    const silent =
      `PATTERN: 0x${HEX}\nPING 10.201.0.99 (10.201.0.99) 56(84) bytes of data.\n\n` +
      `--- 10.201.0.99 ping statistics ---\n` +
      `15 packets transmitted, 0 received, 100% packet loss, time 2998ms\n`;
    expect(unreachableReason(silent, '')).toBeUndefined();
    expect(
      unreachableReason('', 'ping: Do you want to ping broadcast? Then -b. If not, check your local firewall rules\n'),
    ).toBeUndefined();
    expect(unreachableReason('64 bytes from 10.201.0.1: icmp_seq=1 ttl=64 time=0.05 ms\n', '')).toBeUndefined();
  });
});
