import { describe, expect, it } from 'vitest';
import { PingknockError } from '../../src/core/errors.js';
import { PING_LAYOUTS } from '../../src/core/layout.js';
import { buildRuleModel, DEFAULT_WINDOW_SECONDS, MAX_WINDOW_SECONDS } from '../../src/core/rules/model.js';
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

  it.each([0, -1, 1.5, 86_401, Number.NaN, Number.POSITIVE_INFINITY])('refuses a window of %s s with exit code 2', (windowSeconds) => {
    let caught: unknown;
    try {
      buildRuleModel({ secret, port: 22, windowSeconds });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(PingknockError);
    expect((caught as PingknockError).exitCode).toBe(2);
    expect((caught as PingknockError).message).toContain('window');
  });
});
