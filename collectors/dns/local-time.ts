/**
 * Syslog-style timestamps without a year or a zone (`Nov 23 02:37:41`, dnsmasq's `ctime()+4`), read as wall-clock
 * time in the zone of the host that wrote them: `--tz`, else the zone of the machine running egress-learner. A
 * CronJob's container (UTC) reading a Berlin host's log would otherwise place every answer an hour or two off,
 * outside the TTL window that names a flow. The year comes from one of two places:
 *
 * - an explicit first year (`--year`): lines are in time order, so a month that goes back by more than half a
 *   year (Dec → Jan) starts the next year. This needs state, which the parser saves with its checkpoint;
 * - a reference time (the file's mtime, or now for stdin): every line was written before it, so a date more than a
 *   day after the reference belongs to the year before. Stateless, and right across Dec → Jan too.
 */

import { MONTH_INDEX as MONTHS } from '../../src/model/months.js';
import { offsetSeconds } from '../../src/model/rfc3339.js';

/** `Mon dd HH:MM:SS`, day padded with a space or a zero. */
export const SYSLOG_TIME_RE = /^([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2})$/;

/**
 * The zone wall-clock times were written in. A time that a daylight-saving change skipped is read as the time
 * after the gap (02:30 → 03:30), one it repeated as its first occurrence: what `new Date(y, m, d, …)` does in the
 * local zone (ECMAScript's "compatible" disambiguation), so `--tz` naming this machine's zone reads as no `--tz`.
 */
export interface WallClockZone {
  /**
   * The zone as `--tz` names it, one name per zone: the IANA name (canonical: `Etc/UTC` is `UTC`), `+05:30` for a
   * fixed offset (`UTC` for none), the IANA name of this machine's zone for the default.
   */
  readonly name: string;
  /** Epoch seconds of a wall-clock time; `month` is 0-based. */
  epoch(year: number, month: number, day: number, hour: number, minute: number, second: number): number;
  /** The calendar year at an instant (epoch seconds). */
  yearAt(t: number): number;
}

/** The zone of the machine running egress-learner (`$TZ`, else the system's). */
export const LOCAL_ZONE: WallClockZone = Object.freeze({
  // A getter: `$TZ` is read when the name is asked for, as `new Date` reads it for every time.
  get name(): string {
    return Intl.DateTimeFormat().resolvedOptions().timeZone;
  },
  epoch: (year: number, month: number, day: number, hour: number, minute: number, second: number): number =>
    new Date(year, month, day, hour, minute, second).getTime() / 1000,
  yearAt: (t: number): number => new Date(t * 1000).getFullYear(),
});

/** `+05:30`, `-0400`, `+01`. */
const OFFSET_RE = /^([+-])(\d{2})(?::?(\d{2}))?$/;

/**
 * `--tz`: an IANA zone (`Europe/Berlin`, `America/New_York`, `UTC`), daylight saving included, or a fixed offset
 * from UTC (`+05:30`, `-0400`, `Z`). Null when the text is neither.
 */
export function parseTimeZone(text: string): WallClockZone | null {
  if (text === 'Z') return offsetZone(0);
  const m = OFFSET_RE.exec(text);
  if (m !== null) {
    const offset = offsetSeconds(m[1]!, Number(m[2]), Number(m[3] ?? '0'));
    return offset === null ? null : offsetZone(offset);
  }
  try {
    return ianaZone(
      new Intl.DateTimeFormat('en-US', {
        timeZone: text,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      }),
    );
  } catch {
    // RangeError: a name the time-zone database does not hold.
    return null;
  }
}

function offsetZone(seconds: number): WallClockZone {
  const abs = Math.abs(seconds);
  const hhmm = `${String(Math.floor(abs / 3600)).padStart(2, '0')}:${String((abs % 3600) / 60).padStart(2, '0')}`;
  return Object.freeze({
    name: seconds === 0 ? 'UTC' : `${seconds < 0 ? '-' : '+'}${hhmm}`,
    epoch: (year: number, month: number, day: number, hour: number, minute: number, second: number): number =>
      Date.UTC(year, month, day, hour, minute, second) / 1000 - seconds,
    yearAt: (t: number): number => new Date((t + seconds) * 1000).getUTCFullYear(),
  });
}

/**
 * A zone of the IANA database, through Intl (Node's ICU carries the database). Asking Intl for an offset costs
 * about 10 µs, so it is asked about each wall-clock day once or twice: a day whose offset is the same the day before
 * and the day after holds no change of offset; otherwise the instant of the change is searched for once (18 asks),
 * and every time of that day is placed against it.
 */
function ianaZone(format: Intl.DateTimeFormat): WallClockZone {
  /** Seconds east of UTC at an instant. */
  const offsetAt = (t: number): number => wallAt(format, t) - t;
  let memoDay = NaN;
  let early = 0;
  let late = 0;
  /** The first instant at the `late` offset, when it differs from `early`. */
  let change = 0;
  return {
    name: format.resolvedOptions().timeZone,
    epoch(year: number, month: number, day: number, hour: number, minute: number, second: number): number {
      const wall = Date.UTC(year, month, day, hour, minute, second) / 1000;
      const midnight = Date.UTC(year, month, day) / 1000;
      if (midnight !== memoDay) {
        memoDay = midnight;
        let lo = midnight - 86_400;
        let hi = midnight + 2 * 86_400;
        early = offsetAt(lo);
        late = offsetAt(hi);
        while (early !== late && hi - lo > 1) {
          const mid = Math.floor((lo + hi) / 2);
          if (offsetAt(mid) === early) lo = mid;
          else hi = mid;
        }
        change = hi;
      }
      if (early === late) return wall - early;
      const earlyFits = wall - early < change;
      const lateFits = wall - late >= change;
      // Both: the repeated hour, read as its first occurrence. Neither: the skipped hour, read with the offset
      // before the change, which lands after the gap.
      if (earlyFits && lateFits) return Math.min(wall - early, wall - late);
      return lateFits && !earlyFits ? wall - late : wall - early;
    },
    yearAt(t: number): number {
      return new Date(wallAt(format, t) * 1000).getUTCFullYear();
    },
  };
}

/** The wall-clock time `format`'s zone shows at instant `t`, as epoch seconds of that time read as UTC. */
function wallAt(format: Intl.DateTimeFormat, t: number): number {
  const whole = Math.floor(t);
  let year = 0;
  let month = 0;
  let day = 0;
  let hour = 0;
  let minute = 0;
  let second = 0;
  for (const p of format.formatToParts(whole * 1000)) {
    if (p.type === 'year') year = Number(p.value);
    else if (p.type === 'month') month = Number(p.value);
    else if (p.type === 'day') day = Number(p.value);
    else if (p.type === 'hour') hour = Number(p.value);
    else if (p.type === 'minute') minute = Number(p.value);
    else if (p.type === 'second') second = Number(p.value);
  }
  return Date.UTC(year, month - 1, day, hour, minute, second) / 1000 + (t - whole);
}

export interface YearState {
  /** The year of the last line read, when an explicit year was given. */
  year: number | null;
  lastMonth: number;
}

export class SyslogClock {
  readonly #reference: number | null;
  readonly #state: YearState;
  readonly #zone: WallClockZone;
  #cacheKey = '';
  #cacheValue = 0;

  /** `year` wins over `reference` (epoch seconds); one of them must be given. */
  constructor(
    year: number | null,
    reference: number,
    resume: YearState | null,
    zone: WallClockZone = LOCAL_ZONE,
  ) {
    this.#reference = year === null ? reference : null;
    this.#state = resume ?? { year, lastMonth: -1 };
    this.#zone = zone;
  }

  get state(): YearState {
    return this.#state;
  }

  /** Epoch seconds, or null when the text is not a valid `Mon dd HH:MM:SS`. */
  parse(text: string): number | null {
    const m = SYSLOG_TIME_RE.exec(text);
    if (m === null) return null;
    const month = MONTHS[m[1]!];
    if (month === undefined) return null;
    const day = Number(m[2]);
    const hour = Number(m[3]);
    const minute = Number(m[4]);
    const second = Number(m[5]);
    if (day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return null;
    const zone = this.#zone;
    let year: number;
    if (this.#reference === null) {
      const s = this.#state;
      year = s.year ?? zone.yearAt(Date.now() / 1000);
      if (s.lastMonth >= 0 && month < s.lastMonth - 6) year++;
      else if (s.lastMonth >= 0 && month > s.lastMonth + 6) year--;
      s.year = year;
      s.lastMonth = month;
    } else {
      year = zone.yearAt(this.#reference);
      if (zone.epoch(year, month, day, hour, minute, second) > this.#reference + 86_400) year--;
    }
    // Consecutive lines mostly share their second: one conversion per distinct timestamp, not per line.
    const key = `${year} ${text}`;
    if (key === this.#cacheKey) return this.#cacheValue;
    // Feb 30 and the like would roll into the next month; refuse them instead.
    if (day > new Date(Date.UTC(year, month + 1, 0)).getUTCDate()) return null;
    const t = zone.epoch(year, month, day, hour, minute, second);
    this.#cacheKey = key;
    this.#cacheValue = t;
    return t;
  }
}
