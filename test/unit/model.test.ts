import { describe, expect, it } from 'vitest';
import { PingknockError } from '../../src/core/errors.js';
import { PING_LAYOUTS } from '../../src/core/layout.js';
import {
  buildRuleModel,
  DEFAULT_WINDOW_SECONDS,
  FLOOD_LIMITS,
  MAX_WINDOW_SECONDS,
  newKnockerLimit,
  refreshAfterSeconds,
} from '../../src/core/rules/model.js';
import { NFT_SET_CAPACITY } from '../../src/core/rules/nftables.js';
import { XT_RECENT_CAPACITY } from '../../src/core/rules/xtables.js';
import { parseSecret } from '../../src/core/secret.js';

const secret = parseSecret('ABCDEFGHIJKLMNOP', 'test');

describe('buildRuleModel', () => {
  it('carries the secret as hex, the port and window, both families and the iputils and BSD layouts by default', () => {
    expect(buildRuleModel({ secret, port: 22, windowSeconds: 60 })).toEqual({
      patternHex: '4142434445464748494a4b4c4d4e4f50',
      port: 22,
      windowSeconds: 60,
      families: ['ipv4', 'ipv6'],
      layouts: [PING_LAYOUTS.iputils, PING_LAYOUTS.bsd],
    });
  });

  it('keeps the families it is given', () => {
    expect(buildRuleModel({ secret, port: 22, windowSeconds: 60, families: ['ipv6'] }).families).toEqual(['ipv6']);
  });

  it('defaults to a 60 s window and allows up to a day', () => {
    expect(DEFAULT_WINDOW_SECONDS).toBe(60);
    expect(MAX_WINDOW_SECONDS).toBe(86_400);
  });

  it.each([1, 5, 86_400])('accepts a window of %i s', (windowSeconds) => {
    expect(buildRuleModel({ secret, port: 22, windowSeconds }).windowSeconds).toBe(windowSeconds);
  });

  it.each([0, -1, 1.5, 86_401, Number.NaN, Number.POSITIVE_INFINITY])(
    'refuses a window of %s s with exit code 2',
    (windowSeconds) => {
      let caught: unknown;
      try {
        buildRuleModel({ secret, port: 22, windowSeconds });
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(PingknockError);
      expect((caught as PingknockError).exitCode).toBe(2);
      expect((caught as PingknockError).message).toContain('window');
    },
  );
});

describe('newKnockerLimit', () => {
  // The capacities the renderers use: nftables' sets, a `recent` list, and that list shared by the two layouts.
  const CAPACITIES = [NFT_SET_CAPACITY, XT_RECENT_CAPACITY, XT_RECENT_CAPACITY / 2];

  it('knows the capacities it is used with', () => {
    expect(CAPACITIES).toEqual([65535, 100, 50]);
  });

  it.each(CAPACITIES)(
    'cannot fill %i entries within one window: burst + perMinute * window / 60 <= capacity for every window from 1 s to a day where perMinute >= 1',
    (capacity) => {
      const failures: string[] = [];
      let checked = 0;
      for (let windowSeconds = 1; windowSeconds <= MAX_WINDOW_SECONDS; windowSeconds += 1) {
        const { perMinute, burst } = newKnockerLimit(capacity, windowSeconds);
        // A whole number of knocks a minute, at least one, and a burst of at least one.
        if (!Number.isInteger(perMinute) || perMinute < 1 || !Number.isInteger(burst) || burst < 1) {
          failures.push(`window ${windowSeconds}: ${perMinute}/minute, burst ${burst}`);
        }
        // The pace cannot go below 1/minute: past the window where the bound needs less, it is not kept.
        if (((capacity - burst) * 60) / windowSeconds < 1) continue;
        checked += 1;
        if (burst + (perMinute * windowSeconds) / 60 > capacity) {
          failures.push(`window ${windowSeconds}: burst ${burst} + ${perMinute}/minute fills it`);
        }
      }
      expect(failures).toEqual([]);
      expect(checked).toBe(Math.min(MAX_WINDOW_SECONDS, (capacity - Math.floor(capacity / 10)) * 60));
    },
  );

  it('uses the room it has: a tenth as the burst, the rest spread over the window', () => {
    expect(newKnockerLimit(65535, 60)).toEqual({ perMinute: 58982, burst: 6553 });
    expect(newKnockerLimit(65535, 86_400)).toEqual({ perMinute: 40, burst: 6553 });
    expect(newKnockerLimit(100, 60)).toEqual({ perMinute: 90, burst: 10 });
    expect(newKnockerLimit(50, 60)).toEqual({ perMinute: 45, burst: 5 });
    expect(newKnockerLimit(50, 1)).toEqual({ perMinute: 2700, burst: 5 });
    // At most one knock short of the capacity: a full bucket and the window's pace together.
    for (const [capacity, windowSeconds] of [
      [65535, 60],
      [100, 60],
      [50, 45],
      [100, 7],
    ] as const) {
      const { perMinute, burst } = newKnockerLimit(capacity, windowSeconds);
      expect(burst + ((perMinute + 1) * windowSeconds) / 60).toBeGreaterThan(capacity);
    }
  });

  it('keeps at least one knock a minute and a burst of one, even for a capacity of one', () => {
    expect(newKnockerLimit(1, 60)).toEqual({ perMinute: 1, burst: 1 });
    expect(newKnockerLimit(50, 86_400)).toEqual({ perMinute: 1, burst: 5 });
  });
});

describe('refreshAfterSeconds', () => {
  it.each([
    [1, 1],
    [2, 1],
    [5, 3],
    [15, 8],
    [60, 30],
    [86_400, 43_200],
  ])(
    'for a window of %i s answers a knocker remembered in the last %i s without remembering it again',
    (windowSeconds, seconds) => {
      expect(refreshAfterSeconds(windowSeconds)).toBe(seconds);
    },
  );

  it('is half the window or just over it, never more than the window', () => {
    for (let windowSeconds = 1; windowSeconds <= 1000; windowSeconds += 1) {
      const fresh = refreshAfterSeconds(windowSeconds);
      expect(fresh).toBeGreaterThanOrEqual(windowSeconds / 2);
      expect(fresh).toBeLessThanOrEqual(windowSeconds);
      expect(Number.isInteger(fresh)).toBe(true);
    }
  });
});

describe('FLOOD_LIMITS', () => {
  it('lets one source knock faster than one proxy resends (5 a second), and masks IPv6 to /64', () => {
    expect(FLOOD_LIMITS.perSourcePerSecond).toBeGreaterThan(5);
    expect(FLOOD_LIMITS.perSourceBurst).toBeGreaterThanOrEqual(FLOOD_LIMITS.perSourcePerSecond);
    expect(FLOOD_LIMITS.ipv6Prefix).toEqual({ length: 64, mask: 'ffff:ffff:ffff:ffff::' });
  });
});
