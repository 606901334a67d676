/**
 * Orders an edge table (see `EdgeTable`) in the store's primary-key order: bucket, source, destination, host, then
 * port, protocol, action and direction. Upserts in that order walk the B-tree forward.
 */
import {
  K_BUCKET,
  K_DST,
  K_HOST,
  K_PACKED,
  K_SRC,
  KEY_INTS,
  type EdgeTable,
  type OrderedEdges,
} from '../model/edge-table.js';

/**
 * Orders tables, keeping its scratch arrays from one to the next: the writing thread allocates little else, so it
 * seldom collects, and the scratch of every commit it dropped stayed in its memory until it did.
 */
export class EdgeOrderer {
  readonly #scratch: Int32Array[] = [];
  #taken = 0;

  /** An int32 array of `n` for this call only; its contents are whatever the last call left. */
  #int32(n: number): Int32Array {
    let a = this.#scratch[this.#taken];
    if (a === undefined || a.length < n) {
      a = new Int32Array(Math.max(n, 2 * (a?.length ?? 0)));
      this.#scratch[this.#taken] = a;
    }
    this.#taken++;
    return a.subarray(0, n);
  }

  /** `t` with the order of its edges by primary key (in an array of its own). */
  sorted(t: EdgeTable): OrderedEdges {
    this.#taken = 0;
    const { size: n, keys, values } = t;
    const column = (of: (k: number) => number): Int32Array => {
      const out = this.#int32(n);
      for (let e = 0; e < n; e++) out[e] = of(e * KEY_INTS);
      return out;
    };
    const address = addressRanks(values);
    const host = column((k) => keys[k + K_HOST]!);
    const hostRank = textRanks(values, host);
    for (let e = 0; e < n; e++) host[e] = hostRank[host[e]!]!;
    const [bucketDigit, bucketRange] = bucketDigits(n, keys, this.#int32(n));
    const src = column((k) => address[keys[k + K_SRC]!]!);
    const dst = column((k) => address[keys[k + K_DST]!]!);
    const order = radixOrder(
      [
        [bucketDigit, bucketRange],
        [src, values.length],
        [dst, values.length],
        [host, values.length],
      ],
      this.#int32(n),
      this.#int32(n),
      this.#int32(values.length + 1),
    );
    // `packed` orders as (port, protocol, action, direction) with accept < reject and egress < ingress, as the
    // key's columns compare in SQLite. Edges that share the rest of the key are few, so they sort among themselves.
    sortRuns(
      order,
      (a, b) =>
        bucketDigit[a] === bucketDigit[b] && src[a] === src[b] && dst[a] === dst[b] && host[a] === host[b],
      column((k) => keys[k + K_PACKED]!),
    );
    return { ...t, order: order.slice() };
  }
}

/** `t` with the order of its edges by primary key, for one table. */
export function sortedEdges(t: EdgeTable): OrderedEdges {
  return new EdgeOrderer().sorted(t);
}

/**
 * The indices 0..n-1 in the order of their digits, most significant first, each digit an integer below its
 * range: a least-significant-digit radix sort of stable counting sorts, linear in n and the ranges. A comparison
 * sort of each commit's edges cost more than summing them. A digit with one value over all n orders nothing and
 * is passed over (a flow log has no host names; a commit often spans one bucket). `order` and `next` hold n numbers
 * each and `counts` a digit's range and one, as scratch; the result is one of the first two.
 */
function radixOrder(
  digits: readonly (readonly [Int32Array, number])[],
  order: Int32Array,
  next: Int32Array,
  counts: Int32Array,
): Int32Array {
  const n = order.length;
  for (let i = 0; i < n; i++) order[i] = i;
  for (let d = digits.length - 1; d >= 0; d--) {
    const [key, range] = digits[d]!;
    const start = range < counts.length ? counts.subarray(0, range + 1).fill(0) : new Int32Array(range + 1);
    for (let i = 0; i < n; i++) start[key[i]! + 1]!++;
    if (n > 0 && start[key[0]! + 1] === n) continue;
    for (let v = 0; v < range; v++) start[v + 1]! += start[v]!;
    for (let i = 0; i < n; i++) {
      const e = order[i]!;
      next[start[key[e]!]!++] = e;
    }
    [order, next] = [next, order];
  }
  return order;
}

/**
 * Sorts each run of `order` whose `same` holds between neighbours by `key`, in place. Runs are mostly short (the
 * ports one source used towards one destination in one bucket): an insertion sort. A long one (a port scan) is
 * sorted as a whole, in n log n.
 */
function sortRuns(order: Int32Array, same: (a: number, b: number) => boolean, key: Int32Array): void {
  for (let start = 0; start < order.length;) {
    let end = start + 1;
    while (end < order.length && same(order[end - 1]!, order[end]!)) end++;
    if (end - start > 16) {
      order.subarray(start, end).sort((a, b) => key[a]! - key[b]!);
    } else {
      for (let i = start + 1; i < end; i++) {
        const e = order[i]!;
        let j = i - 1;
        while (j >= start && key[order[j]!]! > key[e]!) {
          order[j + 1] = order[j]!;
          j--;
        }
        order[j + 1] = e;
      }
    }
    start = end;
  }
}

const byText =
  (values: readonly (string | number)[]) =>
  (a: number, b: number): number =>
    values[a]! < values[b]! ? -1 : values[a]! > values[b]! ? 1 : 0;

/** The text order of the texts `ids` names (host names: few distinct ones, often only ''), by id. */
function textRanks(values: readonly (string | number)[], ids: Int32Array): Int32Array {
  const distinct = [...new Set(ids)].sort(byText(values));
  const rank = new Int32Array(values.length);
  for (let r = 0; r < distinct.length; r++) rank[distinct[r]!] = r;
  return rank;
}

/** Room for an id below an IPv4 number in one exact float64 (2^32 × 2^21 ≤ 2^53). */
const ID_SPAN = 2 ** 21;

/**
 * Every value's rank as an address column compares it: an IPv4 address (a number) before any text, and text in byte
 * order. The numbers sort natively, each packed with its id into one float64.
 */
export function addressRanks(values: readonly (string | number)[], span = ID_SPAN): Int32Array {
  const numbers: number[] = [];
  const texts: number[] = [];
  const pack = values.length <= span;
  for (let id = 0; id < values.length; id++) {
    const v = values[id]!;
    if (typeof v === 'number' && pack) numbers.push(v * span + id);
    else texts.push(id);
  }
  const packed = Float64Array.from(numbers).sort();
  const text = byText(values);
  // Only when there are too many values to pack do addresses come here too.
  texts.sort((a, b) => {
    const x = values[a]!;
    const y = values[b]!;
    if (typeof x === 'number' || typeof y === 'number') {
      if (typeof x === 'number' && typeof y === 'number') return x - y;
      return typeof x === 'number' ? -1 : 1;
    }
    return text(a, b);
  });
  const rank = new Int32Array(values.length);
  let r = 0;
  for (const p of packed) rank[p % span] = r++;
  for (const id of texts) rank[id] = r++;
  return rank;
}

/**
 * Each edge's bucket as a sort digit: its offset from the earliest bucket when the commit spans under 2^20 of
 * them (always, for hour buckets), else its rank among the distinct buckets. Buckets compare unsigned; the key
 * table holds their int32 bit patterns.
 */
function bucketDigits(n: number, keys: Int32Array, out: Int32Array): [Int32Array, number] {
  let min = Infinity;
  let max = -Infinity;
  for (let e = 0; e < n; e++) {
    const b = keys[e * KEY_INTS + K_BUCKET]! >>> 0;
    if (b < min) min = b;
    if (b > max) max = b;
  }
  if (n === 0) return [out, 1];
  if (max - min < 1 << 20) {
    for (let e = 0; e < n; e++) out[e] = (keys[e * KEY_INTS + K_BUCKET]! >>> 0) - min;
    return [out, max - min + 1];
  }
  const distinct = [...new Set(Array.from({ length: n }, (_, e) => keys[e * KEY_INTS + K_BUCKET]! >>> 0))];
  distinct.sort((a, b) => a - b);
  const rank = new Map(distinct.map((b, r) => [b, r]));
  for (let e = 0; e < n; e++) out[e] = rank.get(keys[e * KEY_INTS + K_BUCKET]! >>> 0)!;
  return [out, distinct.length];
}
