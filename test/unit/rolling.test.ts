import { describe, expect, it } from 'vitest';
import {
  horizonEndedMessage,
  horizonState,
  horizonWarning,
  knockPatterns,
  parseIsoDate,
  parseIsoTime,
  rollingPatternHex,
  slotAfter,
  slotAt,
  STATIC_MODE,
  type KnockMode,
} from '../../src/core/rolling.js';
import { parseSecret } from '../../src/core/secret.js';

const SECRET = parseSecret('Abcdefgh12345678', 'test');
const OTHER = parseSecret('Zz-_0123456789ab', 'test');
/** 2025-03-01, as days since 1970-01-01. */
const DAY = Date.UTC(2025, 2, 1) / 86_400_000;
const at = (iso: string): number => Date.parse(iso) / 1000;

describe('the pattern, format pingknock-v1', () => {
  // HMAC-SHA256(key, `pingknock-v1 DATE SLOT`), first 16 bytes, computed apart from pingknock (Python's hmac).
  it.each([
    [SECRET, DAY, 0, '525e6b217f2549c6d326c70215d9b86f'],
    [SECRET, DAY, 337, '649f61505c0f6ffb57c6bc0fd918118b'],
    [SECRET, DAY + 1, 0, '24a34956ee2936d71bc4442e3effa4a8'],
    [OTHER, 0, 0, 'a8f88baa426769e07346657655deb2a0'],
    [OTHER, Date.UTC(2038, 0, 19) / 86_400_000, 12, '5b91de0c679dca0bbcc1dd487b10d987'],
  ])('%s on day %i, slot %i: %s', (secret, day, slot, hex) => {
    expect(rollingPatternHex(secret, { day, slot })).toBe(hex);
  });

  it('cuts the UTC day into 256-second slots, the last one 128 s', () => {
    expect(slotAt(at('2025-03-01T00:00:00Z'))).toEqual({ day: DAY, slot: 0 });
    expect(slotAt(at('2025-03-01T00:04:15.999Z'))).toEqual({ day: DAY, slot: 0 });
    expect(slotAt(at('2025-03-01T00:04:16Z'))).toEqual({ day: DAY, slot: 1 });
    expect(slotAt(at('2025-03-01T23:57:52Z'))).toEqual({ day: DAY, slot: 337 });
    expect(slotAt(at('2025-03-01T23:59:59Z'))).toEqual({ day: DAY, slot: 337 });
    expect(slotAt(at('2025-03-02T00:00:00Z'))).toEqual({ day: DAY + 1, slot: 0 });
  });

  it('counts slots across midnight both ways', () => {
    expect(slotAfter({ day: DAY, slot: 337 }, 1)).toEqual({ day: DAY + 1, slot: 0 });
    expect(slotAfter({ day: DAY, slot: 0 }, -1)).toEqual({ day: DAY - 1, slot: 337 });
    expect(slotAfter({ day: DAY, slot: 10 }, 3)).toEqual({ day: DAY, slot: 13 });
  });
});

describe('knockPatterns', () => {
  const rolling: KnockMode = { kind: 'rolling', lastDay: DAY + 30 };

  it('knocks a static host with the secret itself, and has no second pattern', () => {
    expect(knockPatterns(SECRET, STATIC_MODE, at('2025-03-01T00:00:00Z'))).toEqual({
      first: Buffer.from('Abcdefgh12345678').toString('hex'),
      next: undefined,
    });
  });

  it("knocks a rolling host with its slot's pattern, then the next slot's, also across midnight", () => {
    expect(knockPatterns(SECRET, rolling, at('2025-03-01T00:02:00Z'))).toEqual({
      first: '525e6b217f2549c6d326c70215d9b86f',
      next: rollingPatternHex(SECRET, { day: DAY, slot: 1 }),
    });
    expect(knockPatterns(SECRET, rolling, at('2025-03-01T23:59:00Z'))).toEqual({
      first: '649f61505c0f6ffb57c6bc0fd918118b',
      next: '24a34956ee2936d71bc4442e3effa4a8',
    });
  });
});

describe('parseIsoDate', () => {
  it.each([
    ['2025-03-01', DAY],
    ['1970-01-01', 0],
    ['2024-02-29', Date.UTC(2024, 1, 29) / 86_400_000],
  ])('%s is day %i', (text, day) => {
    expect(parseIsoDate(text)).toBe(day);
  });

  it.each(['2025-02-29', '2025-02-30', '2025-13-01', '2025-00-10', '2025-3-1', '2025-03-01T00:00Z', ' 2025-03-01', ''])(
    'refuses %j',
    (text) => {
      expect(parseIsoDate(text)).toBeUndefined();
    },
  );
});

describe('parseIsoTime', () => {
  it.each([
    ['2025-03-01T12:00:00Z', at('2025-03-01T12:00:00Z')],
    ['2025-03-01t12:00z', at('2025-03-01T12:00:00Z')],
    ['2025-03-01 12:00:00Z', at('2025-03-01T12:00:00Z')],
    ['2025-03-01T13:00:00+01:00', at('2025-03-01T12:00:00Z')],
    ['2025-03-01T09:30-0230', at('2025-03-01T12:00:00Z')],
    ['2025-03-01T00:30:00+01:00', at('2025-02-28T23:30:00Z')],
    ['2025-03-01T12:00:00.75Z', at('2025-03-01T12:00:00.750Z')],
  ])('%s', (text, seconds) => {
    expect(parseIsoTime(text)).toBe(seconds);
  });

  it.each([
    ['no zone (the machine would pick one)', '2025-03-01T12:00:00'],
    ['a date alone', '2025-03-01'],
    ['hour 24', '2025-03-01T24:00:00Z'],
    ['minute 60', '2025-03-01T12:60:00Z'],
    ['second 60', '2025-03-01T12:00:60Z'],
    ['a day no calendar has', '2025-02-30T12:00:00Z'],
    ['offset minutes 60', '2025-03-01T12:00:00+01:60'],
    ['words', 'now'],
    ['unix seconds', '1740830400'],
  ])('refuses %s', (_name, text) => {
    expect(parseIsoTime(text)).toBeUndefined();
  });
});

describe('the horizon, judged on the UTC day of an injected clock', () => {
  const lastDay = DAY + 30;
  const today = (iso: string): number => slotAt(at(iso)).day;

  it('is open until 8 days before the last day, ending from 7 days before it through it, ended after it', () => {
    expect(horizonState(today('2025-03-23T23:59:59Z'), lastDay)).toBe('open');
    expect(horizonState(today('2025-03-24T00:00:00Z'), lastDay)).toBe('ending');
    expect(horizonState(today('2025-03-31T23:59:59Z'), lastDay)).toBe('ending');
    expect(horizonState(today('2025-04-01T00:00:00Z'), lastDay)).toBe('ended');
    expect(horizonState(today('2026-01-01T00:00:00Z'), lastDay)).toBe('ended');
  });

  it('warns with what to run, and after the end names every way back', () => {
    expect(horizonWarning('web', lastDay)).toBe('one-time knocks for web end on 2025-03-31: run pingknock renew web');
    const ended = horizonEndedMessage('web', lastDay);
    expect(ended).toMatch(/^one-time knocks for web ended on 2025-03-31: /);
    expect(ended).toContain('pingknock renew web --via OTHER_ALIAS');
    expect(ended).toContain("server's console");
    expect(ended).toContain('pingknock setup web --rolling-until YYYY-MM-DD');
  });
});
