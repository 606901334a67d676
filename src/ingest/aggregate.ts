import type { Edge } from '../model/edge.js';
import {
  COUNTERS,
  C_BYTES_IN,
  C_BYTES_OUT,
  C_FIRST,
  C_FLOWS,
  C_LAST,
  C_PACKETS_IN,
  C_PACKETS_OUT,
  C_REPLIES,
  edgesOf,
  newColumns,
  packKey,
  type EdgeColumns,
} from '../model/edge-columns.js';
import { ipv4Number, ipv4Text } from '../model/ip.js';
import { SOURCE_KINDS, type Observation, type SourceKind } from '../model/observation.js';

const SOURCE_BITS: Readonly<Record<SourceKind, number>> = Object.fromEntries(
  SOURCE_KINDS.map((k, i) => [k, 1 << i]),
) as Record<SourceKind, number>;

export function sourceBit(kind: SourceKind): number {
  return SOURCE_BITS[kind];
}

function keyHash(src: number, dst: number, host: number, bucket: number, packed: number): number {
  let h = Math.imul(src, 0x9e3779b1) ^ Math.imul(dst, 0x85ebca77) ^ Math.imul(host, 0xc2b2ae3d);
  h ^= Math.imul(bucket, 0x27d4eb2f) ^ Math.imul(packed, 0x165667b1);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  return h ^ (h >>> 12);
}

/**
 * The indices 0..n-1 in the order of their digits, most significant first, each digit an integer below its
 * range: a least-significant-digit radix sort of stable counting sorts, linear in n and the ranges. A comparison
 * sort of each commit's edges cost more than summing them. A digit with one value over all n orders nothing and
 * is passed over (a flow log has no host names; a commit often spans one bucket).
 */
function radixOrder(n: number, digits: readonly (readonly [Int32Array, number])[]): Int32Array {
  let order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  let next = new Int32Array(n);
  for (let d = digits.length - 1; d >= 0; d--) {
    const [key, range] = digits[d]!;
    const start = new Int32Array(range + 1);
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

const INITIAL_CAPACITY = 1 << 14;
const INITIAL_V4_SLOTS = 1 << 12;
const RECENT_SLOTS = 1 << 13;
const EMPTY = -1;

/** Key columns, in the order `#keys` stores them per edge. */
const K_SRC = 0;
const K_DST = 1;
const K_HOST = 2;
const K_BUCKET = 3;
const K_PACKED = 4;
const K_SOURCES = 5;
const KEY_INTS = 6;

/**
 * Sums observations into edges between two commits, so memory follows the number of distinct edges, not lines.
 *
 * An open-addressing hash table over typed-array columns rather than a Map of objects: at hundreds of
 * thousands of edges, per-edge objects and maps cost about a kilobyte each and most of the time in GC, while
 * here an edge is about 100 bytes and an observation is summed without allocating. Addresses and host names
 * are interned to small integers; the table keeps its own copies of them, because a parsed field is a slice
 * of its line, which is a slice of a megabyte of decoded input that must not stay alive.
 */
export class EdgeAggregator {
  readonly #bucketSeconds: number;
  #ids = new Map<string, number>();
  #strings: string[] = [''];
  #size = 0;
  #capacity = INITIAL_CAPACITY;
  /** Twice as many slots as edges, so probes stay short (load factor at most 0.5). */
  #slots = new Int32Array(INITIAL_CAPACITY * 2).fill(EMPTY);
  /**
   * KEY_INTS numbers per edge, side by side so that a probe reads one cache line: source, destination and host
   * ids, bucket index (unsigned 32 bits, stored as its int32 bit pattern), port-protocol-action-direction (see
   * packKey), and the source-kind mask.
   */
  #keys = new Int32Array(INITIAL_CAPACITY * KEY_INTS);
  #counters = new Float64Array(INITIAL_CAPACITY * COUNTERS);

  constructor(bucketSeconds: number) {
    this.#bucketSeconds = bucketSeconds;
  }

  get size(): number {
    return this.#size;
  }

  /**
   * A direct-mapped cache in front of `#ids`, keyed by a hash of a few characters. Looking a fresh slice up in
   * the Map hashes the whole string every time; most lines repeat an address seen moments ago.
   */
  readonly #recentKeys: (string | undefined)[] = new Array<string | undefined>(RECENT_SLOTS);
  readonly #recentIds = new Int32Array(RECENT_SLOTS);

  /**
   * IPv4 addresses read as numbers (`addIpv4`) → their string's id: open addressing over the address bits, so
   * the hot path neither builds nor hashes a string. An address's first sighting interns its text through `#id`,
   * which keeps one id per address whichever path saw it.
   */
  #v4Keys = new Int32Array(INITIAL_V4_SLOTS);
  #v4Ids = new Int32Array(INITIAL_V4_SLOTS).fill(EMPTY);
  #v4Count = 0;

  #ipv4Id(address: number): number {
    const key = address | 0;
    let h = Math.imul(key, 0x9e3779b1);
    h ^= h >>> 15;
    const ids = this.#v4Ids;
    const mask = ids.length - 1;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const id = ids[i]!;
      if (id === EMPTY) {
        const fresh = this.#id(ipv4Text(address >>> 0));
        this.#v4Keys[i] = key;
        ids[i] = fresh;
        if (++this.#v4Count * 2 > mask) this.#growV4();
        return fresh;
      }
      if (this.#v4Keys[i] === key) return id;
    }
  }

  #growV4(): void {
    const keys = this.#v4Keys;
    const ids = this.#v4Ids;
    this.#v4Keys = new Int32Array(keys.length * 2);
    this.#v4Ids = new Int32Array(keys.length * 2).fill(EMPTY);
    const mask = this.#v4Ids.length - 1;
    for (let j = 0; j < keys.length; j++) {
      if (ids[j] === EMPTY) continue;
      let h = Math.imul(keys[j]!, 0x9e3779b1);
      h ^= h >>> 15;
      let i = h & mask;
      while (this.#v4Ids[i] !== EMPTY) i = (i + 1) & mask;
      this.#v4Keys[i] = keys[j]!;
      this.#v4Ids[i] = ids[j]!;
    }
  }

  /** Addresses and host names are ASCII (validated by the parsers), so a latin1 round trip copies them exactly. */
  #id(s: string | null): number {
    if (s === null) return 0;
    const n = s.length;
    if (n === 0) return 0;
    const slot =
      (Math.imul(n, 0x9e3779b1) ^
        Math.imul(s.charCodeAt(n - 1), 0x85ebca77) ^
        Math.imul(s.charCodeAt(n >> 1), 0xc2b2ae3d) ^
        Math.imul(s.charCodeAt(n - 2), 0x27d4eb2f) ^
        s.charCodeAt(n - 3)) &
      (RECENT_SLOTS - 1);
    if (this.#recentKeys[slot] === s) return this.#recentIds[slot]!;
    let id = this.#ids.get(s);
    if (id === undefined) {
      id = this.#strings.length;
      const copy = Buffer.from(s, 'latin1').toString('latin1');
      this.#strings.push(copy);
      this.#ids.set(copy, id);
      this.#recentKeys[slot] = copy;
    } else {
      this.#recentKeys[slot] = this.#strings[id];
    }
    this.#recentIds[slot] = id;
    return id;
  }

  /** Finds the edge with this key, creating it with zero counters when it is new. Returns its index. */
  #find(src: number, dst: number, host: number, bucket: number, packed: number, firstSeen: number): number {
    const b = bucket | 0;
    const h = keyHash(src, dst, host, b, packed);
    const slots = this.#slots;
    const keys = this.#keys;
    const mask = slots.length - 1;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const e = slots[i]!;
      if (e === EMPTY) {
        const n = this.#size;
        slots[i] = n;
        const k = n * KEY_INTS;
        keys[k + K_SRC] = src;
        keys[k + K_DST] = dst;
        keys[k + K_HOST] = host;
        keys[k + K_BUCKET] = b;
        keys[k + K_PACKED] = packed;
        keys[k + K_SOURCES] = 0;
        const c = n * COUNTERS;
        this.#counters.fill(0, c, c + COUNTERS);
        this.#counters[c + C_FIRST] = firstSeen;
        this.#counters[c + C_LAST] = firstSeen;
        this.#size = n + 1;
        if (this.#size === this.#capacity) this.#grow();
        return n;
      }
      const k = e * KEY_INTS;
      if (
        keys[k + K_SRC] === src &&
        keys[k + K_DST] === dst &&
        keys[k + K_HOST] === host &&
        keys[k + K_BUCKET] === b &&
        keys[k + K_PACKED] === packed
      ) {
        return e;
      }
    }
  }

  #grow(): void {
    const cap = this.#capacity * 2;
    const keys = new Int32Array(cap * KEY_INTS);
    keys.set(this.#keys);
    this.#keys = keys;
    const counters = new Float64Array(cap * COUNTERS);
    counters.set(this.#counters);
    this.#counters = counters;
    this.#capacity = cap;
    // Edge i keeps index i: only the slots are rebuilt.
    const slots = new Int32Array(cap * 2).fill(EMPTY);
    const mask = slots.length - 1;
    for (let e = 0; e < this.#size; e++) {
      const k = e * KEY_INTS;
      const h = keyHash(
        keys[k + K_SRC]!,
        keys[k + K_DST]!,
        keys[k + K_HOST]!,
        keys[k + K_BUCKET]!,
        keys[k + K_PACKED]!,
      );
      let i = h & mask;
      while (slots[i] !== EMPTY) i = (i + 1) & mask;
      slots[i] = e;
    }
    this.#slots = slots;
  }

  add(o: Observation): void {
    this.#accumulateIds(
      this.#id(o.srcAddr),
      this.#id(o.dstAddr),
      this.#id(o.dstHost),
      Math.floor(o.start / this.#bucketSeconds),
      packKey(o.dstPort ?? 0, o.protocol ?? 0, o.action, o.direction),
      o.reply ? 0 : 1,
      o.reply ? 1 : 0,
      o.packetsOut,
      o.bytesOut,
      o.packetsIn,
      o.bytesIn,
      o.start,
      o.end,
      SOURCE_BITS[o.sourceKind],
    );
  }

  /** Adds one flow as `LineParser.parseBytes` reads it (see `Ipv4FlowSink`). */
  addIpv4(
    src: number,
    dst: number,
    dstPort: number,
    protocol: number,
    reject: boolean,
    ingress: boolean,
    reply: boolean,
    packets: number,
    bytes: number,
    start: number,
    end: number,
    sources: number,
  ): void {
    this.#accumulateIds(
      this.#ipv4Id(src),
      this.#ipv4Id(dst),
      0,
      Math.floor(start / this.#bucketSeconds),
      ((dstPort * 256 + protocol) * 2 + (reject ? 1 : 0)) * 2 + (ingress ? 1 : 0),
      reply ? 0 : 1,
      reply ? 1 : 0,
      reply ? 0 : packets,
      reply ? 0 : bytes,
      reply ? packets : 0,
      reply ? bytes : 0,
      start,
      end,
      sources,
    );
  }

  /** Merges edges summed elsewhere (a worker's partial result) into this one. */
  merge(edges: Iterable<Edge>): void {
    for (const x of edges) {
      this.#accumulateIds(
        this.#id(x.srcAddr),
        this.#id(x.dstAddr),
        this.#id(x.dstHost),
        Math.floor(x.bucket / this.#bucketSeconds),
        packKey(x.dstPort, x.protocol, x.action, x.direction),
        x.flows,
        x.replies,
        x.packetsOut,
        x.bytesOut,
        x.packetsIn,
        x.bytesIn,
        x.firstSeen,
        x.lastSeen,
        x.sources,
      );
    }
  }

  #accumulateIds(
    src: number,
    dst: number,
    host: number,
    bucket: number,
    packed: number,
    flows: number,
    replies: number,
    packetsOut: number,
    bytesOut: number,
    packetsIn: number,
    bytesIn: number,
    firstSeen: number,
    lastSeen: number,
    sources: number,
  ): void {
    const e = this.#find(src, dst, host, bucket, packed, firstSeen);
    const c = e * COUNTERS;
    const k = this.#counters;
    k[c + C_FLOWS] += flows;
    k[c + C_REPLIES] += replies;
    k[c + C_PACKETS_OUT] += packetsOut;
    k[c + C_BYTES_OUT] += bytesOut;
    k[c + C_PACKETS_IN] += packetsIn;
    k[c + C_BYTES_IN] += bytesIn;
    if (firstSeen < k[c + C_FIRST]!) k[c + C_FIRST] = firstSeen;
    if (lastSeen > k[c + C_LAST]!) k[c + C_LAST] = lastSeen;
    this.#keys[e * KEY_INTS + K_SOURCES]! |= sources;
  }

  /** Hands out the summed edges as new objects and starts empty (keeping its capacity). */
  drain(): Edge[] {
    const out: Edge[] = [];
    for (const e of this.drainInOrder()) out.push({ ...e });
    return out;
  }

  /**
   * Hands out the summed edges in the store's primary-key order (bucket, source, destination, host, port,
   * protocol, action, direction), so its upserts walk the B-tree forward, then starts empty. The yielded
   * object is reused: read it before asking for the next one.
   */
  drainInOrder(): Generator<Edge> {
    return edgesOf(this.drainColumns());
  }

  /** The summed edges as columns (see `EdgeColumns`) in primary-key order, then starts empty. */
  drainColumns(): EdgeColumns {
    const n = this.#size;
    const keys = this.#keys;
    const counters = this.#counters;
    const strings = this.#strings;
    const column = (of: (k: number) => number): Int32Array => {
      const out = new Int32Array(n);
      for (let e = 0; e < n; e++) out[e] = of(e * KEY_INTS);
      return out;
    };
    const address = addressRanks(strings);
    const host = column((k) => keys[k + K_HOST]!);
    const hostRank = textRanks(strings, host);
    for (let e = 0; e < n; e++) host[e] = hostRank[host[e]!]!;
    const [bucketDigit, bucketRange] = bucketDigits(n, keys);
    const src = column((k) => address[keys[k + K_SRC]!]!);
    const dst = column((k) => address[keys[k + K_DST]!]!);
    const order = radixOrder(n, [
      [bucketDigit, bucketRange],
      [src, strings.length],
      [dst, strings.length],
      [host, strings.length],
    ]);
    // `packed` orders as (port, protocol, action, direction) with accept < reject and egress < ingress, as the
    // key's columns compare in SQLite. Edges that share the rest of the key are few, so they sort among themselves.
    sortRuns(
      order,
      (a, b) =>
        bucketDigit[a] === bucketDigit[b] && src[a] === src[b] && dst[a] === dst[b] && host[a] === host[b],
      column((k) => keys[k + K_PACKED]!),
    );
    const cols = newColumns(n, this.#bucketSeconds, strings);
    for (let i = 0; i < n; i++) {
      const e = order[i]!;
      const k = e * KEY_INTS;
      cols.bucket[i] = keys[k + K_BUCKET]! >>> 0;
      cols.src[i] = keys[k + K_SRC]!;
      cols.dst[i] = keys[k + K_DST]!;
      cols.host[i] = keys[k + K_HOST]!;
      cols.packed[i] = keys[k + K_PACKED]!;
      cols.sources[i] = keys[k + K_SOURCES]!;
      for (let c = 0; c < COUNTERS; c++) cols.counters[i * COUNTERS + c] = counters[e * COUNTERS + c]!;
    }
    this.#size = 0;
    this.#slots.fill(EMPTY);
    this.#ids = new Map();
    this.#strings = [''];
    this.#recentKeys.fill(undefined);
    this.#v4Ids.fill(EMPTY);
    this.#v4Count = 0;
    return cols;
  }
}

const byText =
  (strings: readonly string[]) =>
  (a: number, b: number): number =>
    strings[a]! < strings[b]! ? -1 : strings[a]! > strings[b]! ? 1 : 0;

/** The text order of the strings `ids` names (host names: few distinct ones, often only ''), by id. */
function textRanks(strings: readonly string[], ids: Int32Array): Int32Array {
  const distinct = [...new Set(ids)].sort(byText(strings));
  const rank = new Int32Array(strings.length);
  for (let r = 0; r < distinct.length; r++) rank[distinct[r]!] = r;
  return rank;
}

/** Room for a string id below an IPv4 number in one exact float64 (2^32 × 2^21 ≤ 2^53). */
const ID_SPAN = 2 ** 21;

/**
 * Every string's rank as an address column compares it: an IPv4 address as its number (migration 0009), before any
 * text, and text in byte order. The numbers sort natively, each packed with its id into one float64.
 */
export function addressRanks(strings: readonly string[], span = ID_SPAN): Int32Array {
  const numbers: number[] = [];
  const texts: number[] = [];
  for (let id = 0; id < strings.length; id++) {
    const v4 = ipv4Number(strings[id]!);
    if (v4 === null || strings.length > span) texts.push(id);
    else numbers.push(v4 * span + id);
  }
  const packed = Float64Array.from(numbers).sort();
  const text = byText(strings);
  // Only when there are too many strings to pack do addresses come here too.
  texts.sort((a, b) => {
    const x = ipv4Number(strings[a]!);
    const y = ipv4Number(strings[b]!);
    if (x !== null && y !== null) return x - y;
    if (x !== null || y !== null) return x !== null ? -1 : 1;
    return text(a, b);
  });
  const rank = new Int32Array(strings.length);
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
function bucketDigits(n: number, keys: Int32Array): [Int32Array, number] {
  const out = new Int32Array(n);
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
