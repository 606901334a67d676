/**
 * Sets of transport ports as sorted, disjoint, non-adjacent inclusive ranges, so every set has exactly one
 * representation and its ranges are the maximal ones a connection list prints (`8080-8082`, not `8080,8081-8082`).
 */

export const MIN_PORT = 1;
export const MAX_PORT = 65535;

/** An inclusive range of ports, `start <= end`, both within 1..65535. */
export interface PortRange {
  readonly start: number;
  readonly end: number;
}

/** An immutable set of ports; `ranges` are ascending, disjoint and never touch (maximal). */
export interface PortSet {
  readonly ranges: readonly PortRange[];
}

function make(ranges: PortRange[]): PortSet {
  return Object.freeze({ ranges: Object.freeze(ranges.map((r) => Object.freeze(r))) });
}

/** Sorts and merges overlapping or adjacent ranges, clipped to 1..65535. */
function normalize(input: readonly PortRange[]): PortSet {
  const sorted = input
    .map((r) => ({ start: Math.max(MIN_PORT, r.start), end: Math.min(MAX_PORT, r.end) }))
    .filter((r) => r.start <= r.end)
    .sort((a, b) => a.start - b.start);
  const out: PortRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && r.start <= last.end + 1) {
      if (r.end > last.end) out[out.length - 1] = { start: last.start, end: r.end };
    } else {
      out.push(r);
    }
  }
  return make(out);
}

const EMPTY = make([]);
const ALL = make([{ start: MIN_PORT, end: MAX_PORT }]);

export const PortSet = Object.freeze({
  EMPTY,
  ALL,

  /** The ports `start..end` inclusive; empty when `end < start`. */
  range(start: number, end: number = start): PortSet {
    return normalize([{ start, end }]);
  },

  fromRanges(ranges: readonly PortRange[]): PortSet {
    return normalize(ranges);
  },

  union(a: PortSet, b: PortSet): PortSet {
    if (a.ranges.length === 0) return b;
    if (b.ranges.length === 0) return a;
    return normalize([...a.ranges, ...b.ranges]);
  },

  intersect(a: PortSet, b: PortSet): PortSet {
    const out: PortRange[] = [];
    let i = 0;
    let j = 0;
    while (i < a.ranges.length && j < b.ranges.length) {
      const x = a.ranges[i]!;
      const y = b.ranges[j]!;
      const start = Math.max(x.start, y.start);
      const end = Math.min(x.end, y.end);
      if (start <= end) out.push({ start, end });
      if (x.end < y.end) i++;
      else j++;
    }
    return make(out);
  },

  contains(set: PortSet, port: number): boolean {
    for (const r of set.ranges) {
      if (port < r.start) return false;
      if (port <= r.end) return true;
    }
    return false;
  },

  isEmpty(set: PortSet): boolean {
    return set.ranges.length === 0;
  },

  isAll(set: PortSet): boolean {
    return set.ranges.length === 1 && set.ranges[0]!.start === MIN_PORT && set.ranges[0]!.end === MAX_PORT;
  },

  equals(a: PortSet, b: PortSet): boolean {
    if (a.ranges.length !== b.ranges.length) return false;
    return a.ranges.every((r, i) => r.start === b.ranges[i]!.start && r.end === b.ranges[i]!.end);
  },

  /** `80`, `8080-8082,9090`: ranges ascending, single ports without a dash. */
  format(set: PortSet): string {
    return set.ranges.map((r) => (r.start === r.end ? String(r.start) : `${r.start}-${r.end}`)).join(',');
  },
});
