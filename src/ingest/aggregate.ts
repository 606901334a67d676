import type { Edge } from '../model/edge.js';
import {
  SOURCE_KINDS,
  type Action,
  type Direction,
  type Observation,
  type SourceKind,
} from '../model/observation.js';

const SOURCE_BITS: Readonly<Record<SourceKind, number>> = Object.fromEntries(
  SOURCE_KINDS.map((k, i) => [k, 1 << i]),
) as Record<SourceKind, number>;

export function sourceBit(kind: SourceKind): number {
  return SOURCE_BITS[kind];
}

/** Port, protocol, action and direction in one number: ((port × 256 + protocol) × 2 + reject) × 2 + ingress. */
function packKey(port: number, protocol: number, action: Action, direction: Direction): number {
  return (
    ((port * 256 + protocol) * 2 + (action === 'reject' ? 1 : 0)) * 2 + (direction === 'ingress' ? 1 : 0)
  );
}

const INITIAL_CAPACITY = 1 << 14;
const RECENT_SLOTS = 1 << 13;
const EMPTY = -1;

/** Counter columns, in the order `#counters` stores them per edge. */
const C_FLOWS = 0;
const C_REPLIES = 1;
const C_PACKETS_OUT = 2;
const C_BYTES_OUT = 3;
const C_PACKETS_IN = 4;
const C_BYTES_IN = 5;
const C_FIRST = 6;
const C_LAST = 7;
const COUNTERS = 8;

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
  #src = new Int32Array(INITIAL_CAPACITY);
  #dst = new Int32Array(INITIAL_CAPACITY);
  #host = new Int32Array(INITIAL_CAPACITY);
  #bucket = new Float64Array(INITIAL_CAPACITY);
  /** See packKey. */
  #packed = new Int32Array(INITIAL_CAPACITY);
  #sources = new Int32Array(INITIAL_CAPACITY);
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
    let h = Math.imul(src, 0x9e3779b1) ^ Math.imul(dst, 0x85ebca77) ^ Math.imul(host, 0xc2b2ae3d);
    h ^= Math.imul(bucket, 0x27d4eb2f) ^ Math.imul(packed, 0x165667b1);
    h ^= h >>> 15;
    h = Math.imul(h, 0x2c1b3c6d);
    h ^= h >>> 12;
    const slots = this.#slots;
    const mask = slots.length - 1;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const e = slots[i]!;
      if (e === EMPTY) {
        const n = this.#size;
        slots[i] = n;
        this.#src[n] = src;
        this.#dst[n] = dst;
        this.#host[n] = host;
        this.#bucket[n] = bucket;
        this.#packed[n] = packed;
        this.#sources[n] = 0;
        const c = n * COUNTERS;
        this.#counters.fill(0, c, c + COUNTERS);
        this.#counters[c + C_FIRST] = firstSeen;
        this.#counters[c + C_LAST] = firstSeen;
        this.#size = n + 1;
        if (this.#size === this.#capacity) this.#grow();
        return n;
      }
      if (
        this.#src[e] === src &&
        this.#dst[e] === dst &&
        this.#host[e] === host &&
        this.#bucket[e] === bucket &&
        this.#packed[e] === packed
      ) {
        return e;
      }
    }
  }

  #grow(): void {
    const cap = this.#capacity * 2;
    const copy = <T extends Int32Array | Float64Array>(a: T, n: number): T => {
      const b = new (a.constructor as new (n: number) => T)(n);
      b.set(a);
      return b;
    };
    this.#src = copy(this.#src, cap);
    this.#dst = copy(this.#dst, cap);
    this.#host = copy(this.#host, cap);
    this.#bucket = copy(this.#bucket, cap);
    this.#packed = copy(this.#packed, cap);
    this.#sources = copy(this.#sources, cap);
    this.#counters = copy(this.#counters, cap * COUNTERS);
    this.#capacity = cap;
    this.#rehash();
  }

  #rehash(): void {
    const n = this.#size;
    this.#size = 0;
    this.#slots = new Int32Array(this.#capacity * 2).fill(EMPTY);
    // Re-inserting in index order keeps every edge at its index: #find hands out index #size each time.
    const src = this.#src;
    const dst = this.#dst;
    const host = this.#host;
    const bucket = this.#bucket;
    const packed = this.#packed;
    const sources = this.#sources.slice(0, n);
    const counters = this.#counters.slice(0, n * COUNTERS);
    for (let e = 0; e < n; e++) this.#find(src[e]!, dst[e]!, host[e]!, bucket[e]!, packed[e]!, 0);
    this.#sources.set(sources);
    this.#counters.set(counters);
  }

  add(o: Observation): void {
    this.#accumulate(
      o.srcAddr,
      o.dstAddr,
      o.dstHost,
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

  /** Merges edges summed elsewhere (a worker's partial result) into this one. */
  merge(edges: Iterable<Edge>): void {
    for (const x of edges) {
      this.#accumulate(
        x.srcAddr,
        x.dstAddr,
        x.dstHost,
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

  #accumulate(
    src: string | null,
    dst: string | null,
    host: string | null,
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
    const e = this.#find(this.#id(src), this.#id(dst), this.#id(host), bucket, packed, firstSeen);
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
    this.#sources[e]! |= sources;
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

  /**
   * The summed edges as columns in primary-key order, then starts empty. Columns are typed arrays plus one
   * table of distinct strings, so a worker thread can hand half a million edges to the writer without a
   * structured clone of per-edge objects (the buffers are transferred).
   */
  drainColumns(): EdgeColumns {
    const n = this.#size;
    const strings = this.#strings;
    const byText = Array.from(strings.keys()).sort((a, b) =>
      strings[a]! < strings[b]! ? -1 : strings[a]! > strings[b]! ? 1 : 0,
    );
    const rank = new Int32Array(strings.length);
    for (let r = 0; r < byText.length; r++) rank[byText[r]!] = r;
    const bucket = this.#bucket;
    const src = this.#src;
    const dst = this.#dst;
    const host = this.#host;
    const packed = this.#packed;
    const order = new Int32Array(n);
    for (let e = 0; e < n; e++) order[e] = e;
    // `packed` orders as (port, protocol, action, direction) with accept < reject and egress < ingress, as the
    // key's columns compare in SQLite.
    order.sort(
      (a, b) =>
        bucket[a]! - bucket[b]! ||
        rank[src[a]!]! - rank[src[b]!]! ||
        rank[dst[a]!]! - rank[dst[b]!]! ||
        rank[host[a]!]! - rank[host[b]!]! ||
        packed[a]! - packed[b]!,
    );
    const cols: EdgeColumns = {
      size: n,
      bucketSeconds: this.#bucketSeconds,
      strings,
      bucket: new Float64Array(n),
      src: new Int32Array(n),
      dst: new Int32Array(n),
      host: new Int32Array(n),
      packed: new Int32Array(n),
      sources: new Int32Array(n),
      counters: new Float64Array(n * COUNTERS),
    };
    for (let i = 0; i < n; i++) {
      const e = order[i]!;
      cols.bucket[i] = bucket[e]!;
      cols.src[i] = src[e]!;
      cols.dst[i] = dst[e]!;
      cols.host[i] = host[e]!;
      cols.packed[i] = packed[e]!;
      cols.sources[i] = this.#sources[e]!;
      cols.counters.set(this.#counters.subarray(e * COUNTERS, (e + 1) * COUNTERS), i * COUNTERS);
    }
    this.#size = 0;
    this.#slots.fill(EMPTY);
    this.#ids = new Map();
    this.#strings = [''];
    this.#recentKeys.fill(undefined);
    return cols;
  }
}

/** Drained edges, column-wise: see `EdgeAggregator.drainColumns`. Indices into `strings` name addresses. */
export interface EdgeColumns {
  readonly size: number;
  readonly bucketSeconds: number;
  readonly strings: readonly string[];
  /** Bucket index (bucket start / bucketSeconds). */
  readonly bucket: Float64Array;
  readonly src: Int32Array;
  readonly dst: Int32Array;
  readonly host: Int32Array;
  /** See packKey. */
  readonly packed: Int32Array;
  readonly sources: Int32Array;
  /** COUNTERS numbers per edge: flows, replies, packets and bytes out and in, first and last seen. */
  readonly counters: Float64Array;
}

/** The typed-array buffers of `cols`, for `postMessage`'s transfer list. */
export function transferablesOf(cols: EdgeColumns): ArrayBuffer[] {
  return [cols.bucket, cols.src, cols.dst, cols.host, cols.packed, cols.sources, cols.counters].map(
    (a) => a.buffer as ArrayBuffer,
  );
}

/** Walks columns as edges. The yielded object is reused: nothing per edge is allocated. */
export function* edgesOf(cols: EdgeColumns): Generator<Edge> {
  const out = {
    bucket: 0,
    srcAddr: '',
    dstAddr: '',
    dstHost: '',
    dstPort: 0,
    protocol: 0,
    action: 'accept' as Action,
    direction: 'egress' as Direction,
    flows: 0,
    replies: 0,
    packetsOut: 0,
    bytesOut: 0,
    packetsIn: 0,
    bytesIn: 0,
    firstSeen: 0,
    lastSeen: 0,
    sources: 0,
  };
  const { strings, counters: k } = cols;
  for (let i = 0; i < cols.size; i++) {
    const p = cols.packed[i]!;
    const c = i * COUNTERS;
    out.bucket = cols.bucket[i]! * cols.bucketSeconds;
    out.srcAddr = strings[cols.src[i]!]!;
    out.dstAddr = strings[cols.dst[i]!]!;
    out.dstHost = strings[cols.host[i]!]!;
    out.dstPort = Math.floor(p / 1024);
    out.protocol = (p >> 2) & 255;
    out.action = p & 2 ? 'reject' : 'accept';
    out.direction = p & 1 ? 'ingress' : 'egress';
    out.flows = k[c + C_FLOWS]!;
    out.replies = k[c + C_REPLIES]!;
    out.packetsOut = k[c + C_PACKETS_OUT]!;
    out.bytesOut = k[c + C_BYTES_OUT]!;
    out.packetsIn = k[c + C_PACKETS_IN]!;
    out.bytesIn = k[c + C_BYTES_IN]!;
    out.firstSeen = k[c + C_FIRST]!;
    out.lastSeen = k[c + C_LAST]!;
    out.sources = cols.sources[i]!;
    yield out;
  }
}
