import type { Family, KnockingPing, PingFlavour } from './layout.js';

const BSD_PLATFORMS: readonly NodeJS.Platform[] = ['darwin', 'freebsd', 'openbsd', 'netbsd'];

/** Tells the local ping apart from what `ping -V` printed (stdout and stderr together). */
export function identifyPing(versionOutput: string, platform: NodeJS.Platform): PingFlavour {
  if (/iputils/i.test(versionOutput)) return 'iputils';
  if (/busybox/i.test(versionOutput)) return 'busybox';
  if (BSD_PLATFORMS.includes(platform)) return 'bsd';
  return 'unknown';
}

/** The ping a platform comes with: BSD ping on the BSDs and macOS, iputils elsewhere (Linux). */
export function platformPing(platform: NodeJS.Platform): KnockingPing {
  return BSD_PLATFORMS.includes(platform) ? 'bsd' : 'iputils';
}

export function isKnockingPing(flavour: PingFlavour): flavour is KnockingPing {
  return flavour === 'iputils' || flavour === 'bsd';
}

/** Why this ping cannot knock, as what to do about it. */
export function knockProblem(flavour: Exclude<PingFlavour, KnockingPing>): string {
  switch (flavour) {
    case 'busybox':
      return (
        'BusyBox ping cannot send a knock: its -p takes a single byte, and the secret is 16; ' +
        'install iputils ping (Debian/Ubuntu: apt-get install iputils-ping; Alpine: apk add iputils)'
      );
    case 'unknown':
      return (
        'this ping is neither Linux iputils nor BSD/macOS ping, so where it puts the pattern is unknown; ' +
        'install iputils ping (Debian/Ubuntu: apt-get install iputils-ping)'
      );
  }
}

export interface KnockCommandRequest {
  readonly ping: KnockingPing;
  readonly family: Family;
  readonly address: string;
  readonly patternHex: string;
  readonly deadlineMs: number;
  /** Only root may resend faster than once a second with BSD ping. */
  readonly privileged: boolean;
}

/** Between knocks while no reply has come: a lost knock or a lost reply costs this much. */
export const KNOCK_INTERVAL_SECONDS = 0.2;

/**
 * The program and arguments that knock until the first reply. iputils: `-c 1 -w N` resends every
 * interval and exits on the first reply, or on the first ICMP error; it runs without `-q`, which
 * would hide that error (`From ROUTER icmp_seq=1 Destination Net Unreachable`). BSD/macOS: `-o`
 * exits on the first reply. The caller's own timer enforces the exact deadline. The address is
 * numeric, never an option.
 */
export function knockCommand(request: KnockCommandRequest): { file: string; args: string[] } {
  const { ping, family, address, patternHex, deadlineMs } = request;
  if (ping === 'iputils') {
    const deadlineSeconds = String(Math.max(1, Math.ceil(deadlineMs / 1000)));
    return {
      file: 'ping',
      args: [
        family === 'ipv6' ? '-6' : '-4',
        '-n',
        '-c',
        '1',
        '-i',
        String(KNOCK_INTERVAL_SECONDS),
        '-w',
        deadlineSeconds,
        '-p',
        patternHex,
        address,
      ],
    };
  }
  const interval = request.privileged ? KNOCK_INTERVAL_SECONDS : 1;
  const count = String(Math.max(1, Math.ceil(deadlineMs / 1000 / interval)));
  return {
    file: family === 'ipv6' ? 'ping6' : 'ping',
    args: ['-n', '-q', '-o', '-c', count, '-i', String(interval), '-p', patternHex, address],
  };
}

/** iputils' line for an ICMP error that came back instead of an echo reply. */
const ICMP_ERROR_LINE = /^From \S+ icmp_seq=\d+ \S/;
/** The local routing errors ping stops on before sending anything (ENETUNREACH, EHOSTUNREACH). */
const ROUTE_ERROR = /network is unreachable|no route to host/i;

/**
 * What ping said when the network, not the host, answered the knock: a router's (or this
 * machine's) ICMP error, or no route at all. undefined when ping said no such thing. Only the
 * matching line is taken: the rest of ping's output echoes the pattern, which is the secret.
 */
export function unreachableReason(stdout: string, stderr: string): string | undefined {
  const lines = (text: string): string[] => text.split('\n').map((line) => line.trim());
  const icmpError = lines(stdout).find((line) => ICMP_ERROR_LINE.test(line));
  if (icmpError !== undefined) return `ping: ${icmpError}`;
  return lines(stderr).find((line) => ROUTE_ERROR.test(line));
}
