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
      return 'BusyBox ping cannot send a knock: its -p takes a single byte, and the secret is 16; install iputils ping (Debian/Ubuntu: apt-get install iputils-ping; Alpine: apk add iputils)';
    case 'unknown':
      return 'this ping is neither Linux iputils nor BSD/macOS ping, so where it puts the pattern is unknown; install iputils ping (Debian/Ubuntu: apt-get install iputils-ping)';
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
 * interval and exits on the first reply. BSD/macOS: `-o` exits on the first reply. The caller's
 * own timer enforces the exact deadline. The address is numeric, never an option.
 */
export function knockCommand(request: KnockCommandRequest): { file: string; args: string[] } {
  const { ping, family, address, patternHex, deadlineMs } = request;
  if (ping === 'iputils') {
    const deadlineSeconds = String(Math.max(1, Math.ceil(deadlineMs / 1000)));
    return {
      file: 'ping',
      args: [family === 'ipv6' ? '-6' : '-4', '-n', '-q', '-c', '1', '-i', String(KNOCK_INTERVAL_SECONDS), '-w', deadlineSeconds, '-p', patternHex, address],
    };
  }
  const interval = request.privileged ? KNOCK_INTERVAL_SECONDS : 1;
  const count = String(Math.max(1, Math.ceil(deadlineMs / 1000 / interval)));
  return {
    file: family === 'ipv6' ? 'ping6' : 'ping',
    args: ['-n', '-q', '-o', '-c', count, '-i', String(interval), '-p', patternHex, address],
  };
}
