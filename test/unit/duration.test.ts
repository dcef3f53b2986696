import { describe, expect, it } from 'vitest';
import { formatSeconds } from '../../src/core/duration.js';

describe('formatSeconds', () => {
  it.each([
    [0.2, '1 ms'],
    [12.4, '12 ms'],
    [99.4, '99 ms'],
    [100, '0.1 s'],
    [249, '0.2 s'],
    [3000, '3 s'],
    [15_000, '15 s'],
  ])('shows %d ms as %j', (ms, text) => {
    expect(formatSeconds(ms)).toBe(text);
  });
});
