/** A duration as messages show it: seconds with at most one decimal, "0.2 s", "3 s". */
export function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}
