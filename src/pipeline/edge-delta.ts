/**
 * The message stage 1 produces and stage 2 consumes: the edges one batch of raw messages summed to, with the
 * counters and quarantined lines of that batch, as JSON. Both stages share this module, so neither invents its
 * own shape. Version 1:
 *
 *   {"v":1,"source":"flows/3","offsets":[1200,1999],"bucketSeconds":3600,
 *    "counts":{"records":800,"stored":798,"skipped":1,"malformed":1},"firstTime":…,"lastTime":…,
 *    "edges":[[bucket,src,dst,host,port,protocol,action,direction,flows,replies,packetsOut,bytesOut,
 *              packetsIn,bytesIn,firstSeen,lastSeen,sources],…],
 *    "quarantine":[{"sourceId":…,"sourceName":…,"kind":…,"lineNo":…,"reason":…,"raw":…}]}
 *
 * Edges are arrays, not objects: a delta of thousands of edges is a third of the size.
 */
import { canonicalIp } from '../model/ip.js';
import { ACTIONS, DIRECTIONS, type Action, type Direction } from '../model/observation.js';
import type { Edge, IngestCounts, QuarantineRow } from '../model/edge.js';

export interface EdgeDelta {
  readonly v: 1;
  /** The raw `topic/partition` it was read from. */
  readonly source: string;
  /** First and last raw offsets the batch covered. */
  readonly offsets: readonly [number, number];
  readonly bucketSeconds: number;
  readonly counts: IngestCounts;
  readonly firstTime: number | null;
  readonly lastTime: number | null;
  readonly edges: readonly Edge[];
  readonly quarantine: readonly QuarantineRow[];
}

export const DELTA_REJECT_REASONS = ['bad_delta', 'bucket_mismatch'] as const;
export type DeltaRejectReason = (typeof DELTA_REJECT_REASONS)[number];

export function encodeEdgeDelta(d: EdgeDelta): string {
  const edges: unknown[] = [];
  for (const e of d.edges) {
    edges.push([
      e.bucket,
      e.srcAddr,
      e.dstAddr,
      e.dstHost,
      e.dstPort,
      e.protocol,
      e.action,
      e.direction,
      e.flows,
      e.replies,
      e.packetsOut,
      e.bytesOut,
      e.packetsIn,
      e.bytesIn,
      e.firstSeen,
      e.lastSeen,
      e.sources,
    ]);
  }
  return JSON.stringify({ ...d, edges });
}

const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
/** A whole number in 0..max: the store packs ports, protocols, buckets and masks into fixed-width keys. */
const isWhole = (x: unknown, max = Number.MAX_SAFE_INTEGER): x is number =>
  Number.isSafeInteger(x) && (x as number) >= 0 && (x as number) <= max;
/** Bucket indexes are unsigned 32-bit numbers (src/model/edge-table.ts). */
const MAX_BUCKET_INDEX = 2 ** 32 - 1;
/** Source-kind masks travel as int32 (src/model/edge-table.ts). */
const MAX_SOURCES_MASK = 2 ** 31 - 1;
const isStr = (x: unknown): x is string => typeof x === 'string';
const isAddress = (x: string): boolean => x === '' || canonicalIp(x) === x;

/**
 * Parses and checks a delta; a value that is not one (another producer on the topic, a newer version) is a
 * reject for quarantine, never an exception.
 */
export function decodeEdgeDelta(
  text: string,
):
  | { readonly kind: 'delta'; readonly value: EdgeDelta }
  | { readonly kind: 'reject'; readonly reason: 'bad_delta' } {
  const bad = { kind: 'reject', reason: 'bad_delta' } as const;
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return bad;
  }
  const o = doc as Record<string, unknown> | null;
  if (o === null || typeof o !== 'object' || o['v'] !== 1 || !isStr(o['source'])) return bad;
  const offsets = o['offsets'] as unknown[];
  const counts = o['counts'] as Record<string, unknown> | null;
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNum)) return bad;
  const bucketSeconds = o['bucketSeconds'];
  if (!isWhole(bucketSeconds) || bucketSeconds === 0 || counts === null || typeof counts !== 'object')
    return bad;
  if (!['records', 'stored', 'skipped', 'malformed'].every((k) => isWhole(counts[k]))) return bad;
  if (!Array.isArray(o['edges']) || !Array.isArray(o['quarantine'])) return bad;
  const edges: Edge[] = [];
  for (const x of o['edges'] as unknown[]) {
    if (!Array.isArray(x) || x.length !== 17) return bad;
    const [bucket, src, dst, host, port, protocol, action, direction, ...n] = x as unknown[];
    if (!isStr(src) || !isStr(dst) || !isStr(host) || !isWhole(port, 65535) || !isWhole(protocol, 255))
      return bad;
    // Out of range, a value would pack into another edge's key rather than fail.
    if (!isWhole(bucket) || bucket % bucketSeconds !== 0 || bucket / bucketSeconds > MAX_BUCKET_INDEX)
      return bad;
    // Addresses are keys: only the canonical text a parser writes ('' for none) may reach the store.
    if (!isAddress(src) || !isAddress(dst)) return bad;
    if (!ACTIONS.includes(action as Action) || !DIRECTIONS.includes(direction as Direction)) return bad;
    // Six counters, first and last seen, the source-kind mask.
    if (!n.slice(0, 6).every((x) => isWhole(x)) || !isNum(n[6]) || !isNum(n[7])) return bad;
    if (!isWhole(n[8], MAX_SOURCES_MASK) || n[8] === 0) return bad;
    const k = n as number[];
    edges.push({
      bucket,
      srcAddr: src,
      dstAddr: dst,
      dstHost: host,
      dstPort: port,
      protocol,
      action: action as Action,
      direction: direction as Direction,
      flows: k[0]!,
      replies: k[1]!,
      packetsOut: k[2]!,
      bytesOut: k[3]!,
      packetsIn: k[4]!,
      bytesIn: k[5]!,
      firstSeen: k[6]!,
      lastSeen: k[7]!,
      sources: k[8]!,
    });
  }
  const quarantine: QuarantineRow[] = [];
  for (const q of o['quarantine'] as Record<string, unknown>[]) {
    if (q === null || typeof q !== 'object') return bad;
    const { sourceId, sourceName, kind, lineNo, reason, raw } = q;
    if (
      !isStr(sourceId) ||
      !isStr(sourceName) ||
      !isStr(kind) ||
      !isNum(lineNo) ||
      !isStr(reason) ||
      !isStr(raw)
    )
      return bad;
    quarantine.push({ sourceId, sourceName, kind, lineNo, reason, raw });
  }
  const time = (x: unknown): number | null => (isNum(x) ? x : null);
  return {
    kind: 'delta',
    value: {
      v: 1,
      source: o['source'],
      offsets: [offsets[0] as number, offsets[1] as number],
      bucketSeconds,
      counts: {
        records: counts['records'] as number,
        stored: counts['stored'] as number,
        skipped: counts['skipped'] as number,
        malformed: counts['malformed'] as number,
      },
      firstTime: time(o['firstTime']),
      lastTime: time(o['lastTime']),
      edges,
      quarantine,
    },
  };
}
