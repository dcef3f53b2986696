import { readFileSync } from 'node:fs';

/**
 * When ping's echo requests leave, seen from outside ping. ping says nothing before its reply (its
 * stdout is a pipe, so its lines wait in its buffer), but Linux counts every echo request sent
 * from a network namespace, whichever socket sent it (ping's raw one or a datagram ICMP socket):
 * Icmp OutEchos in /proc/net/snmp, Icmp6OutEchos in /proc/net/snmp6, each read in ~50 µs. A rise
 * of the count right after ping started is its knock leaving; another sender in the namespace
 * could rise it too, which only makes a SYN leave early (see app/connect-race.ts).
 */

/** How often the count is read while a request is due: a SYN trails its request by about this much. */
const POLL_MS = 1;
/** How long before the next resend is due the polling starts again. */
const LEAD_MS = 10;

/** The namespace's count of echo requests sent; undefined where it cannot be read (not Linux, no /proc). */
function echoRequestsSent(family: 4 | 6): number | undefined {
  try {
    if (family === 6) {
      const count = /^Icmp6OutEchos\s+(\d+)\s*$/m.exec(readFileSync('/proc/net/snmp6', 'latin1'))?.[1];
      return count === undefined ? undefined : Number(count);
    }
    // Two lines: the names of the counters, then their values.
    const [names, values] = readFileSync('/proc/net/snmp', 'latin1')
      .split('\n')
      .filter((line) => line.startsWith('Icmp: '))
      .map((line) => line.split(' '));
    const index = names?.indexOf('OutEchos') ?? -1;
    const count = index === -1 ? undefined : values?.[index];
    return count === undefined || !/^\d+$/.test(count) ? undefined : Number(count);
  } catch {
    return undefined;
  }
}

export interface EchoRequestWatch {
  /**
   * Calls `sent` soon after each echo request leaves, from the count read when the watch was made:
   * polls every POLL_MS until the count rises, then rests until shortly before the next resend is
   * due, `intervalMs` later. `trailMs` bounds how long ago the request left: the time since the
   * last read that had not seen it.
   */
  start(intervalMs: number, sent: (trailMs: number) => void): void;
  stop(): void;
}

/** Reads the count now, before ping starts; undefined where the count cannot be read. */
export function watchEchoRequests(family: 4 | 6): EchoRequestWatch | undefined {
  const initial = echoRequestsSent(family);
  if (initial === undefined) return undefined;
  let seen = initial;
  let lastRead = performance.now();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  return {
    start(intervalMs, sent) {
      const poll = (): void => {
        const count = echoRequestsSent(family);
        const now = performance.now();
        if (stopped || count === undefined) return;
        if (count > seen) {
          seen = count;
          sent(now - lastRead);
          timer = setTimeout(poll, Math.max(POLL_MS, intervalMs - LEAD_MS));
        } else {
          timer = setTimeout(poll, POLL_MS);
        }
        lastRead = now;
      };
      poll();
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
