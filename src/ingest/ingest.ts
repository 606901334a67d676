import { lastLineNo, lineText } from '../../collectors/sources/line-chunk.js';
import {
  FINGERPRINT_BYTES,
  identifySource,
  peekSource,
  type OpenedSource,
  ShortLengths,
  type PeekedSource,
  type SourceRef,
} from '../../collectors/sources/open.js';
import { splitLines } from '../../collectors/sources/split-lines.js';
import type { CollectorDescriptor, FlowSink, LineParser, ObservationScratch } from '../model/collector.js';
import type { ParseOutcome } from '../model/parse-outcome.js';
import {
  IngestCounts,
  ReasonCounts,
  QUARANTINE_RAW_CHARS,
  type Checkpoint,
  type QuarantineRow,
  type ShortHead,
} from '../model/edge.js';
import { ConcurrentIngestError, KnownError } from '../model/errors.js';
import { observation } from '../model/observation.js';
import type { SourceState, Store } from '../store/store.js';
import { EdgeAggregator, sourceBit } from './aggregate.js';
import { EdgeOrderer } from './edge-order.js';
import { PendingCommit } from './pending-commit.js';
import type { EdgeTable } from '../model/edge-table.js';

export interface IngestOptions {
  /** The format: its kind names checkpoints and fingerprints; its parser reads the lines unless `records` is given. */
  readonly collector: IngestFormat;
  readonly parserOptions: Readonly<Record<string, string | undefined>>;
  /** Lines between two commits; each commit carries the checkpoint of its last line. */
  readonly flushLines?: number;
  /** Distinct edges held in memory before a commit is forced. */
  readonly maxEdges?: number;
  readonly maxLineBytes?: number;
  readonly onProgress?: (p: IngestProgress) => void;
  /** Stops between chunks; what was read so far is committed first. */
  readonly signal?: AbortSignal;
  /**
   * A second record path, for formats whose lines are not observations (DNS answers). Its parser replaces the
   * collector's, and what it holds is written at every commit in the transaction that stores the checkpoint.
   */
  readonly records?: RecordPath;
  /** false reads every line as text, even where the parser reads bytes: tests hold the two paths to each other. */
  readonly byteParsing?: boolean;
}

/** What the loop needs of a collector: its kind, and a parser unless a record path brings its own. */
export type IngestFormat = Pick<CollectorDescriptor, 'sourceKind'> &
  Partial<Pick<CollectorDescriptor, 'createParser'>>;

/** A line whose records went to a record path's own aggregator; `start`/`end` span their times. */
export interface RecordsOutcome {
  readonly kind: 'records';
  readonly start: number;
  readonly end: number;
}

/** A parser of a record path: as `LineParser`, but its records are summed by the path, not into edges. */
export interface RecordLineParser {
  parse(text: string): RecordsOutcome | Exclude<ParseOutcome, { kind: 'observation' }>;
  snapshot?(): string | null;
}

/** Records that are not observations (DNS answers), aggregated beside the edges through the same loop. */
export interface RecordPath {
  createParser(
    options: Readonly<Record<string, string | undefined>>,
    resumeState: string | null,
  ): RecordLineParser;
  /** A parser from the start of an input that only tells what each line is: it adds nothing to what is held. */
  createProbe(options: Readonly<Record<string, string | undefined>>): RecordLineParser;
  /** Distinct aggregates held; counts against `maxEdges`. */
  readonly size: number;
  /** Writes what it holds and empties; called inside the commit's transaction. */
  flush(): void;
  /** Empties without writing: the commit that would have carried it was not written. */
  discard(): void;
}

export interface IngestProgress {
  readonly source: string;
  /** Records read in this run, over all sources. */
  readonly records: number;
}

export const SOURCE_STATUSES = ['ingested', 'resumed', 'unchanged', 'interrupted', 'failed'] as const;
export type SourceStatus = (typeof SOURCE_STATUSES)[number];

export interface SourceResult {
  readonly name: string;
  readonly sourceId: string | null;
  readonly status: SourceStatus;
  /** What this run read of the source (not earlier runs). */
  readonly counts: IngestCounts;
  /** Skip and reject reasons with their counts. */
  readonly reasons: Readonly<Record<string, number>>;
  readonly error: KnownError | null;
}

/** One result per source plus the first error; ingest keeps going past a bad source and never throws for one. */
export interface IngestResult {
  readonly sources: readonly SourceResult[];
  readonly totals: IngestCounts;
  readonly error: KnownError | null;
}

/**
 * Commit at least every million lines, every 125 000 distinct edges (the memory bound: the table's capacity is the
 * next power of two, 131 072 edges of 88 bytes, ~12 MB) or every 30 seconds (so queries see a long ingest progress),
 * whichever comes first. Smaller commits split more edges across two, each then costing a second upsert: twice this
 * bound was 3 % faster on 20M records, and 18 MB more at peak.
 */
const DEFAULTS = {
  flushLines: 1_000_000,
  maxEdges: 125_000,
  flushMs: 30_000,
  maxLineBytes: 64 * 1024,
  maxQuarantine: 10_000,
  /** A file unmodified for this long is finished: its last line counts even without a newline. */
  settledMs: 60_000,
};

/** One commit's worth of one or more sources, as the reading side hands it to the writing side. */
export interface SourceBatch {
  /**
   * Summed, in no order: the writing side orders them (`EdgeOrderer`). They are the aggregator's own arrays, to be
   * read before `write` returns, or copied.
   */
  readonly edges: EdgeTable;
  readonly quarantine: readonly QuarantineRow[];
  /** One per source the commit covers, in the order read. */
  readonly checkpoints: readonly Checkpoint[];
  readonly extra?: (() => void) | undefined;
}

/**
 * True when `head` (the first bytes of an input) holds a line its format does not skip: a record, or a line it
 * rejects. Header and blank lines alone do not tell one input from another.
 */
function holdsLines(opts: IngestOptions, head: Buffer): boolean {
  const parser =
    opts.records !== undefined
      ? opts.records.createProbe(opts.parserOptions)
      : opts.collector.createParser!(opts.parserOptions, null);
  for (const line of head.toString('utf8').split('\n')) {
    const text = line.endsWith('\r') ? line.slice(0, -1) : line;
    if (text.length > 0 && parser.parse(text).kind !== 'skip') return true;
  }
  return false;
}

/**
 * Where the reading loop sends its commits: the store itself, or (from a worker thread) the thread that owns it.
 * `write` may return before the commit; `settle` waits until every batch handed over is committed, which must
 * happen before the next source's checkpoint is looked up (a copy of the same file must see the first as done).
 */
export interface BatchSink {
  checkpointOf(sourceId: string): SourceState | null;
  shortFingerprintLengths(kind: string, full: number): ShortHead[];
  write(batch: SourceBatch): void | Promise<void>;
  settle?(): Promise<void>;
}

/** The in-process sink: orders and commits each batch at once. */
export function storeSink(store: Store): BatchSink {
  const orderer = new EdgeOrderer();
  return {
    checkpointOf: (id) => store.checkpointOf(id),
    shortFingerprintLengths: (kind, full) => store.shortFingerprintLengths(kind, full),
    write: (b) => {
      store.writeBatch({
        edges: orderer.sorted(b.edges),
        quarantine: b.quarantine,
        checkpoints: b.checkpoints,
        extra: b.extra,
      });
    },
  };
}

/**
 * Reads every source through one collector into the store. Idempotent: each commit writes edge deltas and the
 * source's checkpoint in one transaction, and a source already read (same content fingerprint) resumes after
 * its checkpoint, so a re-run or a run after a crash counts every line exactly once.
 */
export async function ingest(
  store: Store,
  refs: readonly SourceRef[],
  opts: IngestOptions,
): Promise<IngestResult> {
  return ingestInto(storeSink(store), store.bucketSeconds(), refs, opts);
}

/** The reading loop over sources, for any sink (see `ingest`). */
export async function ingestInto(
  sink: BatchSink,
  bucketSeconds: number,
  refs: readonly SourceRef[],
  opts: IngestOptions,
): Promise<IngestResult> {
  const results: SourceResult[] = [];
  const progress = { records: 0 };
  // One aggregator and one pending commit for every source: an S3 export tree holds thousands of small files, and
  // a table and a commit per file were most of the time spent on them.
  const agg = new EdgeAggregator(bucketSeconds);
  const pending = new PendingCommit(sink, agg, opts.records, {
    flushLines: opts.flushLines ?? DEFAULTS.flushLines,
    maxEdges: opts.maxEdges ?? DEFAULTS.maxEdges,
    maxQuarantine: DEFAULTS.maxQuarantine,
    flushMs: DEFAULTS.flushMs,
  });
  // Fingerprint lengths of once-small sources: the store's, then those of this run's sources as they are read (a
  // source may still be in the pending commit, and one query per file cost 5 % of a tree of small files).
  const kind = opts.collector.sourceKind;
  const shortLengths = new ShortLengths();
  for (const head of sink.shortFingerprintLengths(kind, FINGERPRINT_BYTES)) shortLengths.add(head);
  // Each next source is opened (its first bytes read, which waits on the disk) while this one is read.
  const peek = (ref: SourceRef): Promise<PeekedSource> => {
    const peeked = peekSource(ref);
    peeked.catch(() => undefined); // its error is the source's, met when it is read
    return peeked;
  };
  let next = refs.length > 0 ? peek(refs[0]!) : null;
  for (let i = 0; i < refs.length; i++) {
    if (opts.signal?.aborted) break;
    const peeked = next!;
    next = i + 1 < refs.length ? peek(refs[i + 1]!) : null;
    results.push(await ingestOne(sink, refs[i]!, peeked, opts, agg, pending, shortLengths, progress));
    await sink.settle?.();
  }
  // A run that stopped early leaves a source opened that it will not read.
  await next?.then(
    (p) => p.close(),
    () => undefined,
  );
  try {
    await pending.write();
  } catch (err) {
    // A refused commit has failed the sources it held (their results say so); any other error ends the run.
    if (!(err instanceof ConcurrentIngestError)) throw err;
  }
  await sink.settle?.();
  // Summed at the end: a refused commit takes its counts back out of the results of the sources it held.
  const totals = IngestCounts.zero();
  for (const r of results) IngestCounts.add(totals, r.counts);
  return { sources: results, totals, error: results.find((r) => r.error !== null)?.error ?? null };
}

async function ingestOne(
  sink: BatchSink,
  ref: SourceRef,
  peeked: Promise<PeekedSource>,
  opts: IngestOptions,
  agg: EdgeAggregator,
  pending: PendingCommit,
  shortLengths: ShortLengths,
  progress: { records: number },
): Promise<SourceResult> {
  const kind = opts.collector.sourceKind;
  const counts = IngestCounts.zero();
  // What committed lines gave, as `counts`: the reasons of lines not yet committed wait in `deltaReasons`.
  const reasons: Record<string, number> = {};
  let deltaReasons: Record<string, number> = {};
  let checkpoint: SourceState | null = null;
  // A source read before without storing a record, but with lines rejected, was most likely read with the wrong
  // layout (a headerless custom format without --fields): it is read again from its start, and that commit
  // replaces its counters and quarantined lines. Nothing it stored can be counted twice: it stored nothing.
  let readAgain: SourceState | null = null;
  let opened: OpenedSource;
  try {
    opened = await identifySource(await peeked, {
      kind,
      shortLengths,
      identify: (candidates, head) => {
        // The full-length fingerprint first; then the shorter ones a once-small file was first seen with. A source
        // read earlier in this run may be in the pending commit, not yet in the store.
        for (const c of candidates) {
          const held = pending.stateOf(c.sourceId);
          const found = held ?? sink.checkpointOf(c.sourceId);
          // A text of header or blank lines alone begins every other input of its format (every S3 flow-log file
          // has the same header line): an input beginning with it is not taken for that source grown.
          if (c !== candidates[0] && found !== null && !holdsLines(opts, head.subarray(0, c.length)))
            continue;
          // Read again from its start only what an earlier run stored nothing of; a copy read earlier in this run
          // was read with the same layout, and its checkpoint is not written yet.
          if (held === null && found !== null && found.counts.stored === 0 && found.counts.malformed > 0) {
            readAgain = found;
            return { sourceId: c.sourceId, fingerprintLength: found.fingerprintLength, resumeOffset: 0 };
          }
          if (found !== null) {
            checkpoint = found;
            return {
              sourceId: c.sourceId,
              fingerprintLength: found.fingerprintLength,
              resumeOffset: found.byteOffset,
            };
          }
        }
        const c = candidates[0]!;
        return { sourceId: c.sourceId, fingerprintLength: c.length, resumeOffset: 0 };
      },
    });
  } catch (err) {
    if (err instanceof KnownError)
      return { name: ref.name, sourceId: null, status: 'failed', counts, reasons, error: err };
    throw err;
  }
  if (opened.shortHead !== null) shortLengths.add(opened.shortHead);
  const cp = checkpoint as SourceState | null;
  const seeks = opened.startOffset > 0;
  // A finished plain file is re-read from where it ended, which picks up appended lines. A gzip file whose
  // trailer gives the size already read is unchanged; any other stream that cannot seek (a gzip rotation that
  // holds lines written after the last read, stdin) is read again past the lines already counted.
  if (
    cp?.done &&
    opened.gzip &&
    opened.gzipSize !== null &&
    opened.gzipSize === cp.byteOffset % 2 ** 32 &&
    // The trailer gives the last member's size only: a member appended changes the file's size on disk. A row
    // stored without that size (before migration 0011) cannot tell: such a file is read once more past the lines
    // already counted, which stores its size (stdin has none either way, and is taken as unchanged).
    cp.rawSize === opened.rawSize
  ) {
    await opened.close();
    return { name: ref.name, sourceId: opened.sourceId, status: 'unchanged', counts, reasons, error: null };
  }

  const records = opts.records;
  const parser: LineParser | RecordLineParser =
    records !== undefined
      ? records.createParser(opts.parserOptions, cp?.parserState ?? null)
      : opts.collector.createParser!(opts.parserOptions, cp?.parserState ?? null);
  // One scratch observation for the whole source when the parser can fill one in place.
  const scratch: ObservationScratch = { ...observation({ sourceKind: opts.collector.sourceKind }) };
  const parse: (text: string) => ParseOutcome | RecordsOutcome =
    'parseInto' in parser && parser.parseInto !== undefined
      ? (text: string) => parser.parseInto!(text, scratch)
      : (text: string) => parser.parse(text);
  const parseBytes =
    opts.byteParsing !== false && 'parseBytes' in parser && parser.parseBytes !== undefined
      ? parser.parseBytes.bind(parser)
      : null;
  let quarantine: QuarantineRow[] = [];
  let delta = IngestCounts.zero();
  let firstTime: number | null = null;
  let lastTime: number | null = null;
  let lineNo = cp?.lineNo ?? 0;
  // The line the stored checkpoint is at, as this run last saw it: a commit that finds another there lost a
  // race with a second collector reading the same source, and must not count its lines again.
  let committedLineNo: number | null = cp?.lineNo ?? (readAgain as SourceState | null)?.lineNo ?? null;
  let restart = readAgain !== null;
  let byteOffset = cp?.byteOffset ?? 0;
  let sinceFlush = 0;
  let lastFlushAt = performance.now();

  // Counts of the source's last checkpoint when it waits in the pending commit (see PendingCommit).
  let waiting: IngestCounts | null = null;
  let waitingReasons: Record<string, number> = {};
  let writeFailed = false;
  const flush = async (done: boolean): Promise<void> => {
    if (!done && sinceFlush === 0) return;
    pending.add(
      {
        sourceId: opened.sourceId,
        fingerprintLength: opened.fingerprintLength,
        previousLineNo: committedLineNo,
        kind,
        name: ref.name,
        lineNo,
        byteOffset,
        done,
        parserState: parser.snapshot?.() ?? null,
        delta,
        firstTime,
        lastTime,
        restart,
        endsLine: opened.shortHead?.endsLine ?? null,
        rawSize: opened.rawSize,
      },
      quarantine,
      sinceFlush,
    );
    // A finished source leaves a small commit for the next one; anything else commits now (throwing if refused).
    if (done && pending.canWait) {
      waiting = delta;
      waitingReasons = deltaReasons;
    } else {
      try {
        await pending.write();
      } catch (err) {
        // What the commit held is gone (drained into it): flushing again would store a checkpoint without its lines.
        writeFailed = true;
        throw err;
      }
    }
    committedLineNo = lineNo;
    restart = false;
    IngestCounts.add(counts, delta);
    ReasonCounts.add(reasons, deltaReasons);
    deltaReasons = {};
    quarantine = [];
    delta = IngestCounts.zero();
    firstTime = null;
    lastTime = null;
    sinceFlush = 0;
    lastFlushAt = performance.now();
  };
  const quarantineLine = (n: number, reason: string, text: string): void => {
    delta.malformed++;
    ReasonCounts.count(deltaReasons, reason);
    quarantine.push({
      sourceId: opened.sourceId,
      sourceName: ref.name,
      kind,
      lineNo: n,
      reason,
      raw: text.length > QUARANTINE_RAW_CHARS ? text.slice(0, QUARANTINE_RAW_CHARS) : text,
    });
  };

  const spans = (start: number, end: number): void => {
    if (firstTime === null || start < firstTime) firstTime = start;
    if (lastTime === null || end > lastTime) lastTime = end;
  };
  const handleLine = (n: number, text: string): void => {
    if (text.length === 0) {
      delta.skipped++;
      ReasonCounts.count(deltaReasons, 'empty');
      return;
    }
    const out = parse(text);
    if (out.kind === 'observation') {
      const o = out.value;
      agg.add(o);
      delta.stored++;
      spans(o.start, o.end);
    } else if (out.kind === 'records') {
      delta.stored++;
      spans(out.start, out.end);
    } else if (out.kind === 'skip') {
      delta.skipped++;
      ReasonCounts.count(deltaReasons, out.reason);
    } else {
      quarantineLine(n, out.reason, text);
    }
  };
  const bit = sourceBit(kind);
  const flows: FlowSink = {
    ipv6Key: (hextets) => agg.ipv6Key(hextets),
    flow(src, dst, dstPort, protocol, reject, ingress, reply, packets, bytes, start, end) {
      agg.addFlow(src, dst, dstPort, protocol, reject, ingress, reply, packets, bytes, start, end, bit);
      delta.stored++;
      spans(start, end);
    },
  };
  const maxLineBytes = opts.maxLineBytes ?? DEFAULTS.maxLineBytes;

  let status: SourceStatus = cp === null ? 'ingested' : 'resumed';
  let error: KnownError | null = null;
  try {
    const chunks = splitLines(opened.bytes, {
      sourceId: opened.sourceId,
      firstLineNo: seeks ? (cp?.lineNo ?? 0) + 1 : 1,
      startOffset: opened.startOffset,
      skipThroughLine: seeks ? 0 : (cp?.lineNo ?? 0),
      maxLineBytes,
      // A plain file written to moments ago may end mid-line: its writer has not finished the record.
      holdUnterminatedTail:
        !opened.gzip && opened.mtimeMs !== null && Date.now() - opened.mtimeMs < DEFAULTS.settledMs,
      bytes: parseBytes !== null,
    });
    for await (const chunk of chunks) {
      let count: number;
      if ('bytes' in chunk) {
        // Lines the byte parser reads go straight to the aggregator; the others are decoded and parsed as text.
        const { bytes: buf, ends } = chunk;
        count = ends.length;
        delta.records += count;
        let pos = 0;
        for (let i = 0; i < count; i++) {
          const nl = ends[i]!;
          if (nl - pos > maxLineBytes || !parseBytes!(buf, pos, nl, flows)) {
            const line = lineText(buf, pos, nl, maxLineBytes);
            if (line.long) quarantineLine(chunk.firstLineNo + i, 'line_too_long', line.text);
            else handleLine(chunk.firstLineNo + i, line.text);
          }
          pos = nl + 1;
        }
      } else {
        const lines = chunk.lines;
        const tooLong = chunk.tooLong;
        count = lines.length;
        delta.records += count;
        let nextLong = tooLong.length > 0 ? tooLong[0]! : -1;
        let longIdx = 0;
        for (let i = 0; i < count; i++) {
          if (i === nextLong) {
            quarantineLine(chunk.firstLineNo + i, 'line_too_long', lines[i]!);
            nextLong = ++longIdx < tooLong.length ? tooLong[longIdx]! : -1;
          } else {
            handleLine(chunk.firstLineNo + i, lines[i]!);
          }
        }
      }
      lineNo = lastLineNo(chunk);
      byteOffset = chunk.endOffset;
      sinceFlush += count;
      progress.records += count;
      opts.onProgress?.({ source: ref.name, records: progress.records });
      if (pending.isCommitsWorth(sinceFlush, quarantine.length, lastFlushAt)) {
        await flush(false);
      }
      if (opts.signal?.aborted) {
        status = 'interrupted';
        break;
      }
    }
    // An input ended by an interrupt (stdin destroyed while idle) is not finished: the next run goes on.
    if (opts.signal?.aborted === true) status = 'interrupted';
    await flush(status !== 'interrupted');
    if (cp?.done && counts.records === 0) status = 'unchanged';
  } catch (err) {
    // An interrupt while blocked on a pipe destroys the stream (collect-run): the lines read so far are complete.
    if (!(err instanceof KnownError)) throw err;
    if (writeFailed) {
      await opened.close();
      // A refused commit fails its sources and the run goes on; a database that cannot be written ends the run.
      if (!(err instanceof ConcurrentIngestError)) throw err;
    } else {
      // Lines read before the failure are complete lines: keep them, and the checkpoint that says so. A commit
      // refused for another source it held has failed that one (PendingCommit); this one has its own error.
      try {
        await flush(false);
      } catch (refused) {
        if (!(refused instanceof ConcurrentIngestError)) throw refused;
      }
    }
    status = 'failed';
    error = err;
  }
  const result: SourceResult = { name: ref.name, sourceId: opened.sourceId, status, counts, reasons, error };
  if (waiting !== null) {
    const before = readAgain !== null || cp === null ? IngestCounts.zero() : { ...cp.counts };
    IngestCounts.add(before, counts);
    pending.hold(
      {
        sourceId: opened.sourceId,
        fingerprintLength: opened.fingerprintLength,
        kind,
        name: ref.name,
        lineNo,
        byteOffset,
        done: true,
        parserState: parser.snapshot?.() ?? null,
        counts: before,
        firstTime: null,
        lastTime: null,
        rawSize: opened.rawSize,
        startedAt: 0,
        updatedAt: 0,
      },
      result,
      waiting,
      waitingReasons,
    );
  }
  return result;
}
