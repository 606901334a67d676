/**
 * Syslog-style timestamps without a year (`Nov 23 02:37:41`, dnsmasq's `ctime()+4`), read as local time. The year
 * comes from one of two places:
 *
 * - an explicit first year (`--year`): lines are in time order, so a month that goes back by more than half a
 *   year (Dec → Jan) starts the next year. This needs state, which the parser saves with its checkpoint;
 * - a reference time (the file's mtime, or now for stdin): every line was written before it, so a date more than a
 *   day after the reference belongs to the year before. Stateless, and right across Dec → Jan too.
 */

import { MONTH_INDEX as MONTHS } from '../../src/model/months.js';

/** `Mon dd HH:MM:SS`, day padded with a space or a zero. */
export const SYSLOG_TIME_RE = /^([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2})$/;

export interface YearState {
  /** The year of the last line read, when an explicit year was given. */
  year: number | null;
  lastMonth: number;
}

export class SyslogClock {
  readonly #reference: number | null;
  readonly #state: YearState;
  #cacheKey = '';
  #cacheValue = 0;

  /** `year` wins over `reference` (epoch seconds); one of them must be given. */
  constructor(year: number | null, reference: number, resume: YearState | null) {
    this.#reference = year === null ? reference : null;
    this.#state = resume ?? { year, lastMonth: -1 };
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
    let year: number;
    if (this.#reference === null) {
      const s = this.#state;
      year = s.year ?? new Date().getFullYear();
      if (s.lastMonth >= 0 && month < s.lastMonth - 6) year++;
      else if (s.lastMonth >= 0 && month > s.lastMonth + 6) year--;
      s.year = year;
      s.lastMonth = month;
    } else {
      year = new Date(this.#reference * 1000).getFullYear();
      if (local(year, month, day, hour, minute, second) > this.#reference + 86_400) year--;
    }
    // Consecutive lines mostly share their second: one Date per distinct timestamp, not per line.
    const key = `${year} ${text}`;
    if (key === this.#cacheKey) return this.#cacheValue;
    const t = local(year, month, day, hour, minute, second);
    // Feb 30 and the like roll into the next month in Date; refuse them instead.
    if (new Date(t * 1000).getDate() !== day) return null;
    this.#cacheKey = key;
    this.#cacheValue = t;
    return t;
  }
}

function local(year: number, month: number, day: number, h: number, m: number, s: number): number {
  return new Date(year, month, day, h, m, s).getTime() / 1000;
}
