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

export function sourceBit(kind: SourceKind): number {
  return 1 << SOURCE_KINDS.indexOf(kind);
}

/**
 * Sums observations into edges keyed by their stable joined key, updating counters in place, so memory follows
 * the number of distinct edges between flushes, not the number of lines.
 */
export class EdgeAggregator {
  readonly #bucketSeconds: number;
  #edges = new Map<string, EdgeAcc>();

  constructor(bucketSeconds: number) {
    this.#bucketSeconds = bucketSeconds;
  }

  get size(): number {
    return this.#edges.size;
  }

  add(o: Observation): void {
    const bucket = o.start - (o.start % this.#bucketSeconds);
    const b = Math.floor(bucket);
    const src = o.srcAddr ?? '';
    const dst = o.dstAddr ?? '';
    const host = o.dstHost ?? '';
    const port = o.dstPort ?? 0;
    const proto = o.protocol ?? 0;
    const key = `${b}|${src}|${dst}|${host}|${port}|${proto}|${o.action}|${o.direction}`;
    const acc = this.#edges.get(key);
    if (acc === undefined) {
      this.#edges.set(key, {
        bucket: b,
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
        sources: sourceBit(o.sourceKind),
      });
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
    acc.sources |= sourceBit(o.sourceKind);
  }

  /** Merges another aggregator's edges into this one (partial results from a worker). */
  merge(edges: Iterable<Edge>): void {
    for (const e of edges) {
      const key = `${e.bucket}|${e.srcAddr}|${e.dstAddr}|${e.dstHost}|${e.dstPort}|${e.protocol}|${e.action}|${e.direction}`;
      const acc = this.#edges.get(key);
      if (acc === undefined) {
        this.#edges.set(key, { ...e });
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
    const out = [...this.#edges.values()];
    this.#edges = new Map();
    return out;
  }
}
