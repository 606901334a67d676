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
  K_BUCKET,
  K_DST,
  K_HOST,
  K_PACKED,
  K_SOURCES,
  K_SRC,
  KEY_INTS,
  compactTable,
  edgesOf,
  packKey,
  type EdgeTable,
  type OrderedEdges,
} from '../model/edge-table.js';
import { IPV6_KEYS } from '../model/collector.js';
import { sortedEdges } from './edge-order.js';
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

const INITIAL_CAPACITY = 1 << 14;
const INITIAL_V4_SLOTS = 1 << 12;
const INITIAL_V6_SLOTS = 1 << 8;
const RECENT_SLOTS = 1 << 13;
const EMPTY = -1;

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
  /** Id → what it stands for (see `EdgeTable.values`). */
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
  #keys: Int32Array = new Int32Array(INITIAL_CAPACITY * KEY_INTS);
  #counters: Float64Array = new Float64Array(INITIAL_CAPACITY * COUNTERS);

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
    return edgesOf(this.drainOrdered());
  }

  /** The summed edges in primary-key order, in arrays of their own, then starts empty. */
  drainOrdered(): OrderedEdges {
    return sortedEdges(compactTable(this.drainTable()));
  }

  /**
   * The summed edges as they lie in the table, in no order, then starts empty. Ordering them (`EdgeOrderer`) is left
   * to the side that writes them: with two threads, the one with time to spare. The table is this aggregator's own
   * arrays: read it before adding again, or take a copy (`compactTable`).
   */
  drainTable(): EdgeTable {
    const table: EdgeTable = {
      size: this.#size,
      bucketSeconds: this.#bucketSeconds,
      values: this.#values,
      keys: this.#keys,
      counters: this.#counters,
    };
    this.#size = 0;
    this.#slots.fill(EMPTY);
    this.#ids = new Map();
    this.#values = [''];
    this.#recentKeys.fill(undefined);
    this.#v4.clear();
    this.#v6.clear();
    return table;
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
