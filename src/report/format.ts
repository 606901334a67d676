/** Small formatting helpers shared by the report renderers. */

export function iso(t: number): string {
  return new Date(Math.round(t) * 1000).toISOString().replace('.000Z', 'Z');
}

export function day(t: number): string {
  return iso(t).slice(0, 10);
}

export function bytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}

export function percent(part: number, total: number): string {
  return total === 0 ? '–' : `${((100 * part) / total).toFixed(1)} %`;
}
