import { UsageError } from '../model/errors.js';

/**
 * How far ahead of this clock an inventory's time may be (another machine's clock, a file copied with its time):
 * inventory is recorded in time order, so one from the future would override every real one after it.
 */
export const FUTURE_SKEW_SECONDS = 300;

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** Parses a duration such as `90m`, `36h`, `14d`, `1h30m` into seconds, or null. */
export function parseDuration(text: string): number | null {
  const re = /(\d+(?:\.\d+)?)([smhdw])/gy;
  let total = 0;
  let matched = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    total += Number(m[1]) * UNIT_SECONDS[m[2]!]!;
    matched = re.lastIndex;
  }
  return matched === text.length && text.length > 0 ? total : null;
}

/** 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the instants RFC 3339 can write. */
const FIRST_INSTANT = -62_167_219_200;
const LAST_INSTANT = 253_402_300_799;

/**
 * An instant a flag gave, refused outside the years RFC 3339 writes: a duration such as `999999999999d` lands
 * where a date cannot even be printed, and every window, report and decision prints its times.
 */
export function instantInRange(t: number, text: string, flag: string): number {
  if (!(t >= FIRST_INSTANT && t <= LAST_INSTANT))
    throw new UsageError(`${flag} ${JSON.stringify(text)}: out of range (years 0000 to 9999)`);
  return t;
}

/**
 * `--since` / `--until`: a duration counted back from `now` (`90m`, `36h`, `14d`) or an RFC 3339 instant.
 * Returns epoch seconds.
 */
export function parseInstant(text: string, now: number, flag: string): number {
  const d = parseDuration(text);
  if (d !== null) return instantInRange(now - d, text, flag);
  if (/^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:\d{2})?)?$/.test(text)) {
    const ms = Date.parse(/[Tt ]/.test(text) && !/([Zz]|[+-]\d{2}:\d{2})$/.test(text) ? `${text}Z` : text);
    // Date.parse rolls impossible dates over (Feb 30 → Mar 1); the calendar fields must come back unchanged.
    const [y, mo, d] = text.slice(0, 10).split('-').map(Number);
    const day = new Date(Date.UTC(y!, mo! - 1, d!));
    const real = day.getUTCFullYear() === y && day.getUTCMonth() === mo! - 1 && day.getUTCDate() === d;
    const hour = /[Tt ](\d{2})/.exec(text)?.[1];
    if (!Number.isNaN(ms) && real && (hour === undefined || Number(hour) < 24)) return ms / 1000;
  }
  throw new UsageError(
    `${flag} ${JSON.stringify(text)}: expected a duration like 90m, 36h, 14d or an RFC 3339 time`,
  );
}

/** `--since` and `--until` as given (either may be absent), refused when the window ends before it starts. */
export function parseWindow(
  opts: { readonly since?: unknown; readonly until?: unknown },
  now: number,
): { since: number | undefined; until: number | undefined } {
  const since = opts.since === undefined ? undefined : parseInstant(String(opts.since), now, '--since');
  const until = opts.until === undefined ? undefined : parseInstant(String(opts.until), now, '--until');
  if (since !== undefined && until !== undefined && since > until)
    throw new UsageError('--since is after --until');
  return { since, until };
}

export function isoTime(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toISOString().replace('.000Z', 'Z');
}
