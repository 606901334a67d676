/** Human-readable units for comments and reports, with fixed precision so output stays byte-stable. */

/** RFC 3339 UTC at whole seconds: `2026-11-20T00:00:00Z`. */
export function isoSeconds(t: number): string {
  return new Date(Math.round(t) * 1000).toISOString().replace('.000Z', 'Z');
}

/** `345.0 kB`-style byte counts (SI units). */
export function humanBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}
