import { PingknockError } from './errors.js';

/**
 * A duration as messages show it: seconds with at most one decimal, "0.2 s", "3 s"; below a tenth
 * of a second in milliseconds, "12 ms", where one decimal would say "0 s" of a knock that took time.
 */
export function formatSeconds(ms: number): string {
  if (ms < 100) return `${Math.max(1, Math.round(ms))} ms`;
  return `${Number((ms / 1000).toFixed(1))} s`;
}

/**
 * The one check of a whole number of seconds an option takes (a knock's window, a rollback's
 * time): `--NAME must be whole seconds from MIN to MAX`, then `why`, as a usage error.
 */
export function wholeSeconds(name: string, value: number, min: number, max: number, why = ''): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new PingknockError('usage', `--${name} must be whole seconds from ${min} to ${max}${why}`);
  }
  return value;
}
