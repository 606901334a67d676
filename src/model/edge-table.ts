import type { Action, Direction } from './observation.js';
import type { Edge } from './edge.js';
import { ipv4Number, ipv4Text } from './ip.js';

/**
 * Edges as an aggregator sums them, in typed arrays: a row of key numbers and a row of counters per edge, plus one
 * table of distinct values the keys point into. A worker thread hands half a million edges to the writer by
 * transferring the buffers (no structured clone of per-edge objects), and the writer binds them without building an
 * object per edge.
 */
export interface EdgeTable {
  readonly size: number;
  readonly bucketSeconds: number;
  /**
   * What the ids in the source, destination and host keys stand for: an IPv4 address as its unsigned 32-bit number
   * (as `edge_rows` stores it), or text: a host name, another address, or '' (absent), which is at index 0 and
   * nowhere else.
   */
  readonly values: readonly (string | number)[];
  /** KEY_INTS numbers per edge, at the K_ offsets. */
  readonly keys: Int32Array;
  /** COUNTERS numbers per edge, at the C_ offsets. */
  readonly counters: Float64Array;
}

/** A table and the order to read it in: row `order[i]` is the i-th edge. */
export interface OrderedEdges extends EdgeTable {
  readonly order: Int32Array;
}

/**
 * An edge's key numbers, at these offsets: source, destination and host ids (into `values`), bucket index (bucket
 * start / bucketSeconds, unsigned 32 bits stored as its int32 bit pattern), port-protocol-action-direction (see
 * packKey), and the source-kind mask.
 */
export const K_SRC = 0;
export const K_DST = 1;
export const K_HOST = 2;
export const K_BUCKET = 3;
export const K_PACKED = 4;
export const K_SOURCES = 5;
export const KEY_INTS = 6;

/** An edge's counters, at these offsets. */
export const C_FLOWS = 0;
export const C_REPLIES = 1;
export const C_PACKETS_OUT = 2;
export const C_BYTES_OUT = 3;
export const C_PACKETS_IN = 4;
export const C_BYTES_IN = 5;
export const C_FIRST = 6;
export const C_LAST = 7;
export const COUNTERS = 8;

/** Port, protocol, action and direction in one number: ((port × 256 + protocol) × 2 + reject) × 2 + ingress. */
export function packKey(port: number, protocol: number, action: Action, direction: Direction): number {
  return (
    ((port * 256 + protocol) * 2 + (action === 'reject' ? 1 : 0)) * 2 + (direction === 'ingress' ? 1 : 0)
  );
}

export const packedPort = (p: number): number => Math.floor(p / 1024);
export const packedProtocol = (p: number): number => (p >> 2) & 255;
export const packedAction = (p: number): Action => (p & 2 ? 'reject' : 'accept');
export const packedDirection = (p: number): Direction => (p & 1 ? 'ingress' : 'egress');

/**
 * A copy of `t` in arrays of its own, no longer than its edges: an aggregator's arrays are sized for the most edges it
 * may hold, and it keeps them for the next commit.
 */
export function compactTable<T extends EdgeTable>(t: T): T {
  return { ...t, keys: t.keys.slice(0, t.size * KEY_INTS), counters: t.counters.slice(0, t.size * COUNTERS) };
}

/** The typed-array buffers of `t`, for `postMessage`'s transfer list. */
export function transferablesOf(t: EdgeTable | OrderedEdges): ArrayBuffer[] {
  const buffers = [t.keys.buffer as ArrayBuffer, t.counters.buffer as ArrayBuffer];
  if ('order' in t) buffers.push(t.order.buffer as ArrayBuffer);
  return buffers;
}

/** Edges given one by one (tests, a consumer of edge deltas) as a table, in the order given. */
export function orderedOf(edges: Iterable<Edge>): OrderedEdges {
  const list = Array.isArray(edges) ? (edges as readonly Edge[]) : [...edges];
  const n = list.length;
  const values: (string | number)[] = [''];
  const ids = new Map<string | number, number>([['', 0]]);
  const id = (v: string | number): number => {
    let i = ids.get(v);
    if (i === undefined) {
      i = values.push(v) - 1;
      ids.set(v, i);
    }
    return i;
  };
  const address = (text: string): number => id(ipv4Number(text) ?? text);
  const keys = new Int32Array(n * KEY_INTS);
  const counters = new Float64Array(n * COUNTERS);
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const e = list[i]!;
    const k = i * KEY_INTS;
    keys[k + K_SRC] = address(e.srcAddr);
    keys[k + K_DST] = address(e.dstAddr);
    keys[k + K_HOST] = id(e.dstHost);
    keys[k + K_BUCKET] = e.bucket;
    keys[k + K_PACKED] = packKey(e.dstPort, e.protocol, e.action, e.direction);
    keys[k + K_SOURCES] = e.sources;
    const c = i * COUNTERS;
    counters[c + C_FLOWS] = e.flows;
    counters[c + C_REPLIES] = e.replies;
    counters[c + C_PACKETS_OUT] = e.packetsOut;
    counters[c + C_BYTES_OUT] = e.bytesOut;
    counters[c + C_PACKETS_IN] = e.packetsIn;
    counters[c + C_BYTES_IN] = e.bytesIn;
    counters[c + C_FIRST] = e.firstSeen;
    counters[c + C_LAST] = e.lastSeen;
    order[i] = i;
  }
  // Each edge's bucket is its own bucket index at a width of one second.
  return { size: n, bucketSeconds: 1, values, keys, counters, order };
}

/** Walks ordered edges as edges. The yielded object is reused: nothing per edge is allocated. */
export function* edgesOf(t: OrderedEdges): Generator<Edge> {
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
  const { keys, counters: c, order } = t;
  const texts = t.values.map((v) => (typeof v === 'number' ? ipv4Text(v) : v));
  for (let i = 0; i < t.size; i++) {
    const e = order[i]!;
    const k = e * KEY_INTS;
    const p = keys[k + K_PACKED]!;
    const at = e * COUNTERS;
    out.bucket = (keys[k + K_BUCKET]! >>> 0) * t.bucketSeconds;
    out.srcAddr = texts[keys[k + K_SRC]!]!;
    out.dstAddr = texts[keys[k + K_DST]!]!;
    out.dstHost = texts[keys[k + K_HOST]!]!;
    out.dstPort = packedPort(p);
    out.protocol = packedProtocol(p);
    out.action = packedAction(p);
    out.direction = packedDirection(p);
    out.flows = c[at + C_FLOWS]!;
    out.replies = c[at + C_REPLIES]!;
    out.packetsOut = c[at + C_PACKETS_OUT]!;
    out.bytesOut = c[at + C_BYTES_OUT]!;
    out.packetsIn = c[at + C_PACKETS_IN]!;
    out.bytesIn = c[at + C_BYTES_IN]!;
    out.firstSeen = c[at + C_FIRST]!;
    out.lastSeen = c[at + C_LAST]!;
    out.sources = keys[k + K_SOURCES]!;
    yield out;
  }
}
