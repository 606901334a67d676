import type { Edge } from '../model/edge.js';
import { SOURCE_KINDS, type Observation, type SourceKind } from '../model/observation.js';

/** A mutable edge being summed in memory between two flushes. */
interface EdgeAcc {
  bucket: number;
  srcAddr: string;
  dstAddr: string;
  dstHost: string;
  dstPort: number;
  protocol: number;
  action: Edge['action'];
  direction: Edge['direction'];
  flows: number;
  replies: number;
  packetsOut: number;
  bytesOut: number;
  packetsIn: number;
  bytesIn: number;
  firstSeen: number;
  lastSeen: number;
  sources: number;
}

const SOURCE_BITS: Readonly<Record<SourceKind, number>> = Object.fromEntries(
  SOURCE_KINDS.map((k, i) => [k, 1 << i]),
) as Record<SourceKind, number>;

export function sourceBit(kind: SourceKind): number {
  return SOURCE_BITS[kind];
}

/**
 * The numeric part of an edge key: bucket index, port, protocol, action and direction packed into one number
 * (at most 2^45, exact in a double). Numbers hash without building a string per observation.
 */
function packKey(
  bucketIndex: number,
  port: number,
  protocol: number,
  action: Edge['action'],
  direction: Edge['direction'],
): number {
  return (
    ((bucketIndex * 65536 + port) * 256 + protocol) * 4 +
    (action === 'reject' ? 2 : 0) +
    (direction === 'ingress' ? 1 : 0)
  );
}

/**
 * Sums observations into edges, updating counters in place, so memory follows the number of distinct edges
 * between flushes, not the number of lines. Keys are nested maps (source address → destination → packed
 * numbers) rather than one joined string: building and hashing a joined key per line cost five times more.
 */
export class EdgeAggregator {
  readonly #bucketSeconds: number;
  #edges = new Map<string, Map<string, Map<number, EdgeAcc>>>();
  #size = 0;

  constructor(bucketSeconds: number) {
    this.#bucketSeconds = bucketSeconds;
  }

  get size(): number {
    return this.#size;
  }

  #slot(src: string, dst: string, host: string): Map<number, EdgeAcc> {
    let bySrc = this.#edges.get(src);
    if (bySrc === undefined) {
      bySrc = new Map();
      this.#edges.set(src, bySrc);
    }
    const dstKey = host === '' ? dst : `${dst}\n${host}`;
    let byDst = bySrc.get(dstKey);
    if (byDst === undefined) {
      byDst = new Map();
      bySrc.set(dstKey, byDst);
    }
    return byDst;
  }

  add(o: Observation): void {
    const bucketIndex = Math.floor(o.start / this.#bucketSeconds);
    const src = o.srcAddr ?? '';
    const dst = o.dstAddr ?? '';
    const host = o.dstHost ?? '';
    const port = o.dstPort ?? 0;
    const proto = o.protocol ?? 0;
    const slot = this.#slot(src, dst, host);
    const key = packKey(bucketIndex, port, proto, o.action, o.direction);
    const acc = slot.get(key);
    if (acc === undefined) {
      slot.set(key, {
        bucket: bucketIndex * this.#bucketSeconds,
        srcAddr: src,
        dstAddr: dst,
        dstHost: host,
        dstPort: port,
        protocol: proto,
        action: o.action,
        direction: o.direction,
        flows: o.reply ? 0 : 1,
        replies: o.reply ? 1 : 0,
        packetsOut: o.packetsOut,
        bytesOut: o.bytesOut,
        packetsIn: o.packetsIn,
        bytesIn: o.bytesIn,
        firstSeen: o.start,
        lastSeen: o.end,
        sources: SOURCE_BITS[o.sourceKind],
      });
      this.#size++;
      return;
    }
    if (o.reply) acc.replies++;
    else acc.flows++;
    acc.packetsOut += o.packetsOut;
    acc.bytesOut += o.bytesOut;
    acc.packetsIn += o.packetsIn;
    acc.bytesIn += o.bytesIn;
    if (o.start < acc.firstSeen) acc.firstSeen = o.start;
    if (o.end > acc.lastSeen) acc.lastSeen = o.end;
    acc.sources |= SOURCE_BITS[o.sourceKind];
  }

  /** Merges edges summed elsewhere (a worker's partial result) into this one. */
  merge(edges: Iterable<Edge>): void {
    for (const e of edges) {
      const slot = this.#slot(e.srcAddr, e.dstAddr, e.dstHost);
      const key = packKey(
        Math.floor(e.bucket / this.#bucketSeconds),
        e.dstPort,
        e.protocol,
        e.action,
        e.direction,
      );
      const acc = slot.get(key);
      if (acc === undefined) {
        slot.set(key, { ...e });
        this.#size++;
        continue;
      }
      acc.flows += e.flows;
      acc.replies += e.replies;
      acc.packetsOut += e.packetsOut;
      acc.bytesOut += e.bytesOut;
      acc.packetsIn += e.packetsIn;
      acc.bytesIn += e.bytesIn;
      if (e.firstSeen < acc.firstSeen) acc.firstSeen = e.firstSeen;
      if (e.lastSeen > acc.lastSeen) acc.lastSeen = e.lastSeen;
      acc.sources |= e.sources;
    }
  }

  /** Hands out the summed edges and starts empty. */
  drain(): Edge[] {
    const out: Edge[] = [];
    for (const bySrc of this.#edges.values()) {
      for (const byDst of bySrc.values()) {
        for (const acc of byDst.values()) out.push(acc);
      }
    }
    this.#edges = new Map();
    this.#size = 0;
    return out;
  }
}
