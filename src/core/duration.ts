/**
 * A duration as messages show it: seconds with at most one decimal, "0.2 s", "3 s"; below a tenth
 * of a second in milliseconds, "12 ms", where one decimal would say "0 s" of a knock that took time.
 */
export function formatSeconds(ms: number): string {
  if (ms < 100) return `${Math.max(1, Math.round(ms))} ms`;
  return `${Number((ms / 1000).toFixed(1))} s`;
}
