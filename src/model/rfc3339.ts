/**
 * RFC 3339 timestamps as log writers put them in front of a line: CRI container logs and Docker's json-file
 * (`2026-11-23T02:37:44.123456789Z`, Go's RFC3339Nano), `kubectl logs --timestamps`, rsyslog's
 * `RSYSLOG_FileFormat` (`2026-11-23T02:37:44.123456+01:00`) and `journalctl -o short-iso`
 * (`2026-11-23T02:37:44+0100`, no colon in the offset). They carry their year and zone, so no `--year` or `--tz`
 * applies to them.
 */

/** Date, time, optional fraction (up to nanoseconds) and a zone: `Z`, `+01:00` or `+0100`. */
export const RFC3339_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})$/;

/**
 * Epoch seconds (fraction kept), or null when the text is not such a stamp or names a time that does not exist
 * (Feb 30, hour 24): `Date.parse` would roll those over into the next month or day.
 */
export function parseRfc3339(text: string): number | null {
  const f = fields(text);
  return f === null ? null : f.wholeMs / 1000 + (f.fraction === '' ? 0 : Number(f.fraction));
}

/** Epoch milliseconds, the fraction cut to whole milliseconds (Envoy's `%START_TIME%`), or null as above. */
export function parseRfc3339Ms(text: string): number | null {
  const f = fields(text);
  return f === null
    ? null
    : f.wholeMs + (f.fraction === '' ? 0 : Number(f.fraction.slice(1, 4).padEnd(3, '0')));
}

/** The stamp's whole seconds as epoch milliseconds, and its fraction as written (`.123456`, or ''). */
function fields(text: string): { wholeMs: number; fraction: string } | null {
  const m = RFC3339_RE.exec(text);
  if (m === null) return null;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  const second = Number(m[6]);
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 60) return null;
  if (day > daysInMonth(year, month)) return null;
  const zone = m[8]!;
  const offset =
    zone === 'Z' ? 0 : offsetSeconds(zone[0]!, Number(zone.slice(1, 3)), Number(zone.slice(zone.length - 2)));
  if (offset === null) return null;
  return {
    wholeMs: Date.UTC(year, month - 1, day, hour, minute, second) - offset * 1000,
    fraction: m[7] ?? '',
  };
}

/** An offset from UTC (`+` or `-`, hours, minutes) in seconds east, or null when no zone uses it. */
export function offsetSeconds(sign: string, hours: number, minutes: number): number | null {
  // Offsets in use run from -12:00 to +14:00.
  if (hours > 14 || minutes > 59) return null;
  return (sign === '-' ? -1 : 1) * (hours * 3600 + minutes * 60);
}

const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** `month` 1-based; arithmetic, so reading a stamp builds no `Date`. */
function daysInMonth(year: number, month: number): number {
  if (month !== 2) return DAYS[month - 1]!;
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
}
