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
import { IPV6_KEYS } from '../model/collector.js';
import { formatIpv6, ipv4Number } from '../model/ip.js';
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
const INITIAL_V6_SLOTS = 1 << 8;
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
 * are interned to small integers (ids). An IPv4 address stays a number throughout, from the byte parser to the
 * column SQLite stores it in: it is never written out as text. The table keeps its own copies of texts, because a
 * parsed field is a slice of its line, which is a slice of a megabyte of decoded input that must not stay alive.
 */
export class EdgeAggregator {
  readonly #bucketSeconds: number;
  /** Text → id, for host names and addresses other than IPv4. */
  #ids = new Map<string, number>();
  /** Id → what it stands for (see `EdgeColumns.values`). */
  #values: (string | number)[] = [''];
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
   * the Map hashes the whole string every time; most lines repeat a text seen moments ago.
   */
  readonly #recentKeys: (string | undefined)[] = new Array<string | undefined>(RECENT_SLOTS);
  readonly #recentIds = new Int32Array(RECENT_SLOTS);

  /** IPv4 address → id: open addressing over the address bits, so the hot path neither builds nor hashes a string. */
  readonly #v4 = new IdTable(1, INITIAL_V4_SLOTS);
  /** IPv6 address (as four 32-bit words) → id, for the byte parser's `ipv6Key`. */
  readonly #v6 = new IdTable(4, INITIAL_V6_SLOTS);

  #ipv4Id(address: number): number {
    const v4 = this.#v4;
    const words = v4.words;
    words[0] = address | 0;
    const found = v4.find();
    if (found !== EMPTY) return found;
    const id = this.#values.push(address) - 1;
    v4.insert(id);
    return id;
  }

  /** See `FlowSink.ipv6Key`. */
  ipv6Key(hextets: Uint16Array): number {
    const v6 = this.#v6;
    const words = v6.words;
    for (let w = 0; w < 4; w++) words[w] = (hextets[2 * w]! << 16) | hextets[2 * w + 1]!;
    let id = v6.find();
    if (id === EMPTY) {
      // The canonical text, interned as the text path interns it, so both paths give an address one id.
      id = this.#textId(formatIpv6(Array.from(hextets)));
      v6.insert(id);
    }
    return IPV6_KEYS + id;
  }

  /** The id of an address given as text: an IPv4 address goes by its number, as the byte path gives it. */
  #addressId(s: string | null): number {
    if (s === null || s.length === 0) return 0;
    const v4 = ipv4Number(s);
    return v4 === null ? this.#textId(s) : this.#ipv4Id(v4);
  }

  /** Addresses and host names are ASCII (validated by the parsers), so a latin1 round trip copies them exactly. */
  #textId(s: string | null): number {
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
    let copy: string;
    if (id === undefined) {
      copy = Buffer.from(s, 'latin1').toString('latin1');
      id = this.#values.push(copy) - 1;
      this.#ids.set(copy, id);
    } else {
      copy = this.#values[id] as string;
    }
    this.#recentKeys[slot] = copy;
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
      this.#addressId(o.srcAddr),
      this.#addressId(o.dstAddr),
      this.#textId(o.dstHost),
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

  /** Adds one flow as `LineParser.parseBytes` reads it (see `FlowSink.flow`), seen by the `sources` kinds. */
  addFlow(
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
      src < IPV6_KEYS ? this.#ipv4Id(src) : src - IPV6_KEYS,
      dst < IPV6_KEYS ? this.#ipv4Id(dst) : dst - IPV6_KEYS,
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
        this.#addressId(x.srcAddr),
        this.#addressId(x.dstAddr),
        this.#textId(x.dstHost),
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
    const values = this.#values;
    const column = (of: (k: number) => number): Int32Array => {
      const out = new Int32Array(n);
      for (let e = 0; e < n; e++) out[e] = of(e * KEY_INTS);
      return out;
    };
    const address = addressRanks(values);
    const host = column((k) => keys[k + K_HOST]!);
    const hostRank = textRanks(values, host);
    for (let e = 0; e < n; e++) host[e] = hostRank[host[e]!]!;
    const [bucketDigit, bucketRange] = bucketDigits(n, keys);
    const src = column((k) => address[keys[k + K_SRC]!]!);
    const dst = column((k) => address[keys[k + K_DST]!]!);
    const order = radixOrder(n, [
      [bucketDigit, bucketRange],
      [src, values.length],
      [dst, values.length],
      [host, values.length],
    ]);
    // `packed` orders as (port, protocol, action, direction) with accept < reject and egress < ingress, as the
    // key's columns compare in SQLite. Edges that share the rest of the key are few, so they sort among themselves.
    sortRuns(
      order,
      (a, b) =>
        bucketDigit[a] === bucketDigit[b] && src[a] === src[b] && dst[a] === dst[b] && host[a] === host[b],
      column((k) => keys[k + K_PACKED]!),
    );
    const cols = newColumns(n, this.#bucketSeconds, values);
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
    this.#values = [''];
    this.#recentKeys.fill(undefined);
    this.#v4.clear();
    this.#v6.clear();
    return cols;
  }
}

/**
 * Open addressing from a key of `width` 32-bit words (filled into `words` before `find` or `insert`) to an id.
 * Starts small and doubles, so a commit of few distinct keys clears fast.
 */
class IdTable {
  readonly words: Int32Array;
  readonly #width: number;
  #keys: Int32Array;
  #ids: Int32Array;
  #count = 0;
  /** Where `find` stopped: the key's slot, or the empty slot it would go in. */
  #at = 0;

  constructor(width: number, slots: number) {
    this.#width = width;
    this.words = new Int32Array(width);
    this.#keys = new Int32Array(slots * width);
    this.#ids = new Int32Array(slots).fill(EMPTY);
  }

  /** The id of the key in `words`, or EMPTY. */
  find(): number {
    const w = this.words;
    const width = this.#width;
    const keys = this.#keys;
    const ids = this.#ids;
    const mask = ids.length - 1;
    for (let i = wordsHash(w, width) & mask; ; i = (i + 1) & mask) {
      const id = ids[i]!;
      if (id === EMPTY) {
        this.#at = i;
        return EMPTY;
      }
      let j = 0;
      while (j < width && keys[i * width + j] === w[j]) j++;
      if (j === width) return id;
    }
  }

  /** Adds the key in `words`, which `find` just did not find, with this id. */
  insert(id: number): void {
    this.#keys.set(this.words, this.#at * this.#width);
    this.#ids[this.#at] = id;
    if (++this.#count * 2 > this.#ids.length) this.#grow();
  }

  clear(): void {
    this.#ids.fill(EMPTY);
    this.#count = 0;
  }

  #grow(): void {
    const width = this.#width;
    const keys = this.#keys;
    const ids = this.#ids;
    this.#keys = new Int32Array(keys.length * 2);
    this.#ids = new Int32Array(ids.length * 2).fill(EMPTY);
    const mask = this.#ids.length - 1;
    for (let j = 0; j < ids.length; j++) {
      if (ids[j] === EMPTY) continue;
      const key = keys.subarray(j * width, (j + 1) * width);
      let i = wordsHash(key, width) & mask;
      while (this.#ids[i] !== EMPTY) i = (i + 1) & mask;
      this.#keys.set(key, i * width);
      this.#ids[i] = ids[j]!;
    }
  }
}

function wordsHash(w: Int32Array, width: number): number {
  let h = Math.imul(w[0]!, 0x9e3779b1);
  for (let j = 1; j < width; j++) h = Math.imul(h ^ w[j]!, 0x85ebca77);
  return h ^ (h >>> 15);
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
