import type { Action, Direction } from './observation.js';

/**
 * The aggregate the store keeps: one source address × destination × port × protocol × action × direction ×
 * time bucket. Absent values are '' (addresses, host) or 0 (port) so that they take part in the key.
 */
export interface Edge {
  /** Epoch seconds at the start of the bucket. */
  readonly bucket: number;
  readonly srcAddr: string;
  readonly dstAddr: string;
  readonly dstHost: string;
  readonly dstPort: number;
  readonly protocol: number;
  readonly action: Action;
  readonly direction: Direction;
  /** Records of the opening half (a proxy request is one). */
  readonly flows: number;
  /** Records of the reply half, folded in here rather than stored as an edge from the server. */
  readonly replies: number;
  readonly packetsOut: number;
  readonly bytesOut: number;
  readonly packetsIn: number;
  readonly bytesIn: number;
  readonly firstSeen: number;
  readonly lastSeen: number;
  /** Bit mask over SOURCE_KINDS: which kinds of input saw this edge. */
  readonly sources: number;
}

/** Per-source counters. Invariant: records = stored + skipped + malformed. */
export interface IngestCounts {
  records: number;
  stored: number;
  skipped: number;
  malformed: number;
}

export const IngestCounts = Object.freeze({
  zero: (): IngestCounts => ({ records: 0, stored: 0, skipped: 0, malformed: 0 }),
  add(into: IngestCounts, x: IngestCounts): void {
    into.records += x.records;
    into.stored += x.stored;
    into.skipped += x.skipped;
    into.malformed += x.malformed;
  },
  subtract(from: IngestCounts, x: IngestCounts): void {
    from.records -= x.records;
    from.stored -= x.stored;
    from.skipped -= x.skipped;
    from.malformed -= x.malformed;
  },
});

/** Skip and reject reasons with their counts, which follow the counts they break down (added, taken back). */
export const ReasonCounts = Object.freeze({
  /** Counts one line of `reason`. */
  count(into: Record<string, number>, reason: string): void {
    into[reason] = (into[reason] ?? 0) + 1;
  },
  add(into: Record<string, number>, x: Readonly<Record<string, number>>): void {
    for (const [k, v] of Object.entries(x)) into[k] = (into[k] ?? 0) + v;
  },
  /** Takes `x` out of `from`; a reason left at zero is dropped, as if never counted. */
  subtract(from: Record<string, number>, x: Readonly<Record<string, number>>): void {
    for (const [k, v] of Object.entries(x)) {
      const left = (from[k] ?? 0) - v;
      if (left > 0) from[k] = left;
      else delete from[k];
    }
  },
});

/** A malformed line, kept with where it came from and why it was refused. */
export interface QuarantineRow {
  readonly sourceId: string;
  readonly sourceName: string;
  readonly kind: string;
  readonly lineNo: number;
  readonly reason: string;
  /** The line, cut to QUARANTINE_RAW_CHARS. */
  readonly raw: string;
}

export const QUARANTINE_RAW_CHARS = 200;

/** How far a source has been read; committed in the same transaction as the data it covers. */
/** The whole text of a source first seen small (under 4 KiB): its length, and whether it ended with a newline. */
export interface ShortHead {
  readonly length: number;
  readonly endsLine: boolean;
}

export interface Checkpoint {
  readonly sourceId: string;
  /** Leading bytes the source id hashes; less than 4 KiB for a source first seen small. */
  readonly fingerprintLength: number;
  /** The line the stored checkpoint must still be at (null: the source must be new), or the commit is refused. */
  readonly previousLineNo: number | null;
  readonly kind: string;
  readonly name: string;
  readonly lineNo: number;
  readonly byteOffset: number;
  readonly done: boolean;
  readonly parserState: string | null;
  /** Counters of the lines covered since the previous checkpoint (the store adds them up). */
  readonly delta: IngestCounts;
  readonly firstTime: number | null;
  readonly lastTime: number | null;
  /** A source first seen small: whether its whole text then ended with a newline (see migration 0011). */
  readonly endsLine?: boolean | null;
  /** The input's size on disk as read (compressed, for gzip); null for stdin. */
  readonly rawSize?: number | null;
  /**
   * The source is read again from its start: this commit replaces its counters and its quarantined lines instead
   * of adding to them (see `ingest`: a source that stored nothing).
   */
  readonly restart?: boolean;
}
