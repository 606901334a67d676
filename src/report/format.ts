/** Small formatting helpers shared by the report renderers. */
import { humanBytes, isoSeconds } from '../util/units.js';

export const iso = isoSeconds;
export const bytes = humanBytes;

export function day(t: number): string {
  return iso(t).slice(0, 10);
}

export function percent(part: number, total: number): string {
  return total === 0 ? '–' : `${((100 * part) / total).toFixed(1)} %`;
}
