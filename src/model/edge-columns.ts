import type { Action, Direction } from './observation.js';
import type { Edge } from './edge.js';
import { ipv4Number, ipv4Text } from './ip.js';

/** Counter columns, in the order `EdgeColumns.counters` holds them per edge. */
export const C_FLOWS = 0;
export const C_REPLIES = 1;
export const C_PACKETS_OUT = 2;
export const C_BYTES_OUT = 3;
export const C_PACKETS_IN = 4;
export const C_BYTES_IN = 5;
export const C_FIRST = 6;
export const C_LAST = 7;
export const COUNTERS = 8;

/**
 * Edges column-wise: typed arrays plus one table of distinct values, so a worker thread can hand half a million
 * edges to the writer without a structured clone of per-edge objects (the buffers are transferred), and the
 * writer binds them without building an object per edge.
 */
export interface EdgeColumns {
  readonly size: number;
  readonly bucketSeconds: number;
  /**
   * What the indices in `src`, `dst` and `host` stand for: an IPv4 address as its unsigned 32-bit number (as
   * `edge_rows` stores it), or text: a host name, another address, or '' (absent), which is at index 0 and nowhere else.
   */
  readonly values: readonly (string | number)[];
  /** Bucket index (bucket start / bucketSeconds). */
  readonly bucket: Float64Array;
  /** Indices into `values`. */
  readonly src: Int32Array;
  readonly dst: Int32Array;
  readonly host: Int32Array;
  /** See packKey. */
  readonly packed: Int32Array;
  readonly sources: Int32Array;
  /** COUNTERS numbers per edge: flows, replies, packets and bytes out and in, first and last seen. */
  readonly counters: Float64Array;
}

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

/** Columns for `n` edges, zero until filled in. */
export function newColumns(
  n: number,
  bucketSeconds: number,
  values: readonly (string | number)[],
): EdgeColumns {
  return {
    size: n,
    bucketSeconds,
    values,
    bucket: new Float64Array(n),
    src: new Int32Array(n),
    dst: new Int32Array(n),
    host: new Int32Array(n),
    packed: new Int32Array(n),
    sources: new Int32Array(n),
    counters: new Float64Array(n * COUNTERS),
  };
}

/** Edges given one by one (tests, a consumer of edge deltas) as columns, in the order given. */
export function columnsOf(edges: Iterable<Edge>): EdgeColumns {
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
  const cols = newColumns(n, 1, values);
  for (let i = 0; i < n; i++) {
    const e = list[i]!;
    cols.bucket[i] = e.bucket;
    cols.src[i] = address(e.srcAddr);
    cols.dst[i] = address(e.dstAddr);
    cols.host[i] = id(e.dstHost);
    cols.packed[i] = packKey(e.dstPort, e.protocol, e.action, e.direction);
    cols.sources[i] = e.sources;
    const c = i * COUNTERS;
    cols.counters[c + C_FLOWS] = e.flows;
    cols.counters[c + C_REPLIES] = e.replies;
    cols.counters[c + C_PACKETS_OUT] = e.packetsOut;
    cols.counters[c + C_BYTES_OUT] = e.bytesOut;
    cols.counters[c + C_PACKETS_IN] = e.packetsIn;
    cols.counters[c + C_BYTES_IN] = e.bytesIn;
    cols.counters[c + C_FIRST] = e.firstSeen;
    cols.counters[c + C_LAST] = e.lastSeen;
  }
  return cols;
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
  const { counters: k } = cols;
  const texts = cols.values.map((v) => (typeof v === 'number' ? ipv4Text(v) : v));
  for (let i = 0; i < cols.size; i++) {
    const p = cols.packed[i]!;
    const c = i * COUNTERS;
    out.bucket = cols.bucket[i]! * cols.bucketSeconds;
    out.srcAddr = texts[cols.src[i]!]!;
    out.dstAddr = texts[cols.dst[i]!]!;
    out.dstHost = texts[cols.host[i]!]!;
    out.dstPort = packedPort(p);
    out.protocol = packedProtocol(p);
    out.action = packedAction(p);
    out.direction = packedDirection(p);
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
