import { describe, expect, it } from 'vitest';
import { PingknockError } from '../../src/core/errors.js';
import { PING_LAYOUTS } from '../../src/core/layout.js';
import {
  buildRuleModel,
  checkedRuleKeys,
  DEFAULT_HORIZON_DAYS,
  DEFAULT_KEY_NAME,
  DEFAULT_WINDOW_SECONDS,
  defaultKeyName,
  FLOOD_LIMITS,
  MAX_HORIZON_DAYS,
  MAX_WINDOW_SECONDS,
  newKnockerLimit,
  refreshAfterSeconds,
  rollingKey,
  rollingUntil,
  staticKey,
  type RollingKey,
} from '../../src/core/rules/model.js';
import { rollingPatternHex, SLOTS_PER_DAY } from '../../src/core/rolling.js';
import { NFT_SET_CAPACITY } from '../../src/core/rules/nftables.js';
import { XT_RECENT_CAPACITY } from '../../src/core/rules/xtables.js';
import { parseSecret } from '../../src/core/secret.js';

const secret = parseSecret('ABCDEFGHIJKLMNOP', 'test');
const other = parseSecret('0123456789abcdef', 'test');
/** 2024-03-01, a day number as src/core/rolling.ts counts them. */
const MARCH_1 = Date.UTC(2024, 2, 1) / 86_400_000;

function caught(action: () => unknown): PingknockError {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(PingknockError);
    return error as PingknockError;
  }
  throw new Error('nothing was thrown');
}

describe('buildRuleModel', () => {
  it('makes one secret a static key named "default", with the port and window, both families and both layouts', () => {
    expect(buildRuleModel({ secret, port: 22, windowSeconds: 60 })).toEqual({
      keys: [{ kind: 'static', name: DEFAULT_KEY_NAME, patternHex: '4142434445464748494a4b4c4d4e4f50' }],
      port: 22,
      windowSeconds: 60,
      families: ['ipv4', 'ipv6'],
      layouts: [PING_LAYOUTS.iputils, PING_LAYOUTS.bsd],
    });
  });

  it('names the one secret as told', () => {
    expect(buildRuleModel({ secret, keyName: 'me@laptop', port: 22, windowSeconds: 60 }).keys).toEqual([
      staticKey('me@laptop', secret),
    ]);
  });

  it('keeps a list of keys in its order, rotations sharing a name included', () => {
    const keys = [staticKey('a', secret), rollingKey('b', other, MARCH_1, 1), staticKey('a', other)];
    expect(buildRuleModel({ keys, port: 22, windowSeconds: 60 }).keys).toEqual(keys);
  });

  it('refuses an empty key list, and keys that are not what they claim (exit 2)', () => {
    const settings = { port: 22, windowSeconds: 60 };
    expect(caught(() => buildRuleModel({ ...settings, keys: [] })).message).toBe('the rules need at least one key');
    const bad = { kind: 'static', name: 'x', patternHex: 'ABCD' } as unknown as RollingKey;
    expect(caught(() => buildRuleModel({ ...settings, keys: [bad] })).exitCode).toBe(2);
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
      const error = caught(() => buildRuleModel({ secret, port: 22, windowSeconds }));
      expect(error.exitCode).toBe(2);
      expect(error.message).toContain('window');
    },
  );
});

describe('keys', () => {
  it('a static key is the secret as hex', () => {
    expect(staticKey('alice@laptop', secret)).toEqual({
      kind: 'static',
      name: 'alice@laptop',
      patternHex: '4142434445464748494a4b4c4d4e4f50',
    });
  });

  it('a rolling key holds every slot pattern of its days, and never the secret', () => {
    const key = rollingKey('bob', secret, MARCH_1, 2);
    expect(key).toMatchObject({ kind: 'rolling', name: 'bob', firstDay: MARCH_1, days: 2 });
    expect(key.patterns.map((day) => day.length)).toEqual([SLOTS_PER_DAY, SLOTS_PER_DAY]);
    expect(key.patterns[0]?.[0]).toBe(rollingPatternHex(secret, { day: MARCH_1, slot: 0 }));
    expect(key.patterns[1]?.[SLOTS_PER_DAY - 1]).toBe(
      rollingPatternHex(secret, { day: MARCH_1 + 1, slot: SLOTS_PER_DAY - 1 }),
    );
    expect(new Set(key.patterns.flat()).size).toBe(2 * SLOTS_PER_DAY);
    const json = JSON.stringify(key);
    expect(json).not.toContain(secret);
    expect(json).not.toContain('4142434445464748494a4b4c4d4e4f50');
    expect(rollingUntil(key)).toBe('2024-03-02');
  });

  it('a horizon is 1 to 366 days, 30 by default', () => {
    expect(DEFAULT_HORIZON_DAYS).toBe(30);
    expect(MAX_HORIZON_DAYS).toBe(366);
    expect(rollingKey('k', secret, MARCH_1, 366).patterns).toHaveLength(366);
    for (const days of [0, 367, 1.5, -1]) {
      expect(caught(() => rollingKey('k', secret, MARCH_1, days)).message).toBe(
        'horizon must be a whole number of days from 1 to 366',
      );
    }
  });

  it.each(['a', 'alice@laptop', 'ci.deploy-2_x', 'k'.repeat(64)])('takes the key name %j', (name) => {
    expect(staticKey(name, secret).name).toBe(name);
  });

  it.each(['', 'a b', 'k'.repeat(65), 'a"b', 'a\nb', 'é', 'a;b', 'a/b'])('refuses the key name %j (exit 2)', (name) => {
    const error = caught(() => staticKey(name, secret));
    expect(error.exitCode).toBe(2);
    expect(error.message).toContain('must be 1 to 64 characters from A-Z a-z 0-9 . _ @ -');
  });

  it('makes user@host a valid name whatever the system calls them', () => {
    expect(defaultKeyName('alice', 'laptop.example.org')).toBe('alice@laptop.example.org');
    expect(defaultKeyName('Jo Smith', 'büro')).toBe('Jo-Smith@b-ro');
    expect(defaultKeyName('u', 'h'.repeat(100))).toBe(`u@${'h'.repeat(62)}`);
    expect(defaultKeyName('', '')).toBe(DEFAULT_KEY_NAME);
  });
});

describe('checkedRuleKeys', () => {
  const rolling = rollingKey('r', secret, MARCH_1, 1);

  it('takes back what JSON made of a key list', () => {
    const keys = [staticKey('s', secret), rolling];
    expect(checkedRuleKeys(JSON.parse(JSON.stringify(keys)))).toEqual(keys);
  });

  it.each<[string, unknown, string]>([
    ['not a list', { kind: 'static' }, 'the rules need at least one key'],
    ['an empty list', [], 'the rules need at least one key'],
    ['a key that is no object', ['x'], 'key 1: not an object'],
    ['a key without a name', [{ kind: 'static', patternHex: '0'.repeat(32) }], 'key 1: no name'],
    ['an unknown kind', [{ kind: 'dynamic', name: 'd' }], 'key 1: d: kind must be static or rolling'],
    [
      'a static pattern in capitals',
      [{ kind: 'static', name: 's', patternHex: 'A'.repeat(32) }],
      'key 1: s: a pattern is not 32 lowercase hex digits',
    ],
    ['a rolling key with a missing day', [{ ...rolling, days: 2 }], 'key 1: r: needs patterns for 2 days'],
    [
      'a rolling day one slot short',
      [{ ...rolling, patterns: [rolling.patterns[0]?.slice(1)] }],
      `key 1: r: a day needs ${SLOTS_PER_DAY} patterns`,
    ],
    [
      'a rolling pattern too short',
      [{ ...rolling, patterns: [['0', ...(rolling.patterns[0]?.slice(1) ?? [])]] }],
      'key 1: r: a pattern is not 32 lowercase hex digits',
    ],
    ['a first day that is no day', [{ ...rolling, firstDay: 1.5 }], 'key 1: r: firstDay must be a day number'],
    ['a horizon too long', [{ ...rolling, days: 400 }], 'horizon must be a whole number of days from 1 to 366'],
  ])('refuses %s', (_what, value, message) => {
    const error = caught(() => checkedRuleKeys(value));
    expect(error.message).toBe(message);
    expect(error.exitCode).toBe(2);
  });

  it('refuses a name that would end up in a rule as anything but a name', () => {
    expect(
      caught(() => checkedRuleKeys([{ kind: 'static', name: 'x" accept', patternHex: '0'.repeat(32) }])).message,
    ).toContain('must be 1 to 64 characters');
  });
});

describe('newKnockerLimit', () => {
  // The capacities the renderers use: nftables' sets, a `recent` list, and that list shared by the two layouts.
  const CAPACITIES = [NFT_SET_CAPACITY, XT_RECENT_CAPACITY, XT_RECENT_CAPACITY / 2];

  it('knows the capacities it is used with', () => {
    expect(CAPACITIES).toEqual([65535, 100, 50]);
  });

  it.each(CAPACITIES)(
    'cannot fill %i entries within one window: ' +
      'burst + perMinute * window / 60 <= capacity ' +
      'for every window from 1 s to a day where perMinute >= 1',
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
