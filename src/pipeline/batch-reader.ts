/**
 * One partition's batch of messages, read into sums: edges in an `EdgeAggregator` (or DNS answers in the DNS
 * record path), counters, quarantined lines and the messages to dead-letter. The same reading serves the
 * single-stage consumer (which commits the sums to SQLite) and stage 1 (which produces them as edge deltas).
 *
 * Where a line came from is `topic/partition@offset` and its line number inside the message value, so a
 * quarantined line can be found again with `kafka-console-consumer --partition P --offset O`.
 */
import { dnsRecordPath } from '../ingest/dns-ingest.js';
import type { RecordPath, RecordLineParser } from '../ingest/ingest.js';
import { EdgeAggregator, sourceBit } from '../ingest/aggregate.js';
import type { FlowSink, LineParser, ObservationScratch } from '../model/collector.js';
import { IngestCounts, QUARANTINE_RAW_CHARS, ReasonCounts, type QuarantineRow } from '../model/edge.js';
import { observation } from '../model/observation.js';
import { DnsStore } from '../store/dns-store.js';
import type { Store } from '../store/store.js';
import { decodeEdgeDelta } from './edge-delta.js';
import { sourceKindOf, type KafkaFormat } from './kafka-format.js';
import { bytesOfValue, forEachLine, linesOfValue, unwrapLine } from './message-lines.js';

/** The parts of a kafkajs message this module reads. */
export interface KafkaRecord {
  readonly offset: string;
  readonly value: Buffer | null;
  /** Epoch milliseconds as a string (kafkajs' form). */
  readonly timestamp: string;
}

/** A message that held a malformed line or value: re-published to the dead-letter topic when one is set. */
export interface DeadLetter {
  readonly offset: number;
  readonly value: Buffer | null;
  readonly reason: string;
}

/** What a batch summed to, besides the edges or answers held by the reader's aggregators. */
export interface BatchSums {
  readonly counts: IngestCounts;
  readonly reasons: Record<string, number>;
  readonly quarantine: QuarantineRow[];
  readonly deadLetters: DeadLetter[];
  firstTime: number | null;
  lastTime: number | null;
  messages: number;
}

/** Widens the sums' time range to take in `[start, end]`. */
function widen(sums: BatchSums, start: number, end: number): void {
  if (sums.firstTime === null || start < sums.firstTime) sums.firstTime = start;
  if (sums.lastTime === null || end > sums.lastTime) sums.lastTime = end;
}

export function emptySums(): BatchSums {
  return {
    counts: IngestCounts.zero(),
    reasons: {},
    quarantine: [],
    deadLetters: [],
    firstTime: null,
    lastTime: null,
    messages: 0,
  };
}

/** `kafka:topic/partition`: the source id of a partition in `sources` (file ids are hex digests, so no clash). */
export const partitionSourceId = (topic: string, partition: number): string => `kafka:${topic}/${partition}`;

/**
 * Reads messages of one topic into sums. Holds one line parser per partition, because a VPC flow log header line
 * governs the lines after it in the same partition only; its state is saved with the partition's checkpoint.
 */
export class BatchReader {
  readonly format: KafkaFormat;
  readonly edges: EdgeAggregator;
  /** DNS formats only: answers summed beside the edges, written by `flush()` inside the commit. */
  #dns: RecordPath | null;
  readonly #dnsStore: DnsStore | null;
  readonly #parserOptions: Readonly<Record<string, string | undefined>>;
  readonly #bucketSeconds: number;
  readonly #kind: string;
  readonly #parsers = new Map<number, LineParser>();
  #scratch: ObservationScratch | null = null;
  /** Where the byte parser's flows go: the edges, and the sums of the message being read (`#flowSums`). */
  readonly #flows: FlowSink;
  #flowSums: BatchSums = emptySums();

  constructor(
    format: KafkaFormat,
    parserOptions: Readonly<Record<string, string | undefined>>,
    bucketSeconds: number,
    /** Needed for DNS formats (the answers' writer); stage 1 has no store and takes no DNS format. */
    store: Store | null,
  ) {
    this.format = format;
    this.#parserOptions = parserOptions;
    this.#bucketSeconds = bucketSeconds;
    this.#kind = sourceKindOf(format);
    this.edges = new EdgeAggregator(bucketSeconds);
    this.#dnsStore = format.kind === 'dns' && store !== null ? new DnsStore(store) : null;
    this.#dns = this.#newDnsPath();
    if (format.kind === 'observations') {
      this.#scratch = { ...observation({ sourceKind: format.collector.sourceKind }) };
    }
    const edges = this.edges;
    const bit = format.kind === 'observations' ? sourceBit(format.collector.sourceKind) : 0;
    this.#flows = {
      ipv6Key: (hextets) => edges.ipv6Key(hextets),
      flow: (src, dst, dstPort, protocol, reject, ingress, reply, packets, bytes, start, end) => {
        edges.addFlow(src, dst, dstPort, protocol, reject, ingress, reply, packets, bytes, start, end, bit);
        this.#flowSums.counts.stored++;
        widen(this.#flowSums, start, end);
      },
    };
  }

  get dns(): RecordPath | null {
    return this.#dns;
  }

  #newDnsPath(): RecordPath | null {
    return this.format.kind === 'dns' && this.#dnsStore !== null
      ? dnsRecordPath(this.format.collector, this.#dnsStore, this.#bucketSeconds)
      : null;
  }

  /** Forgets what a batch that will not be committed had summed, so the next commit does not carry it. */
  discard(): void {
    this.edges.drainTable();
    // The DNS path empties only by writing; a fresh one drops the answers instead.
    this.#dns = this.#newDnsPath();
  }

  /** Starts a partition over from its stored parser state (on assignment: another consumer may have moved it). */
  resetPartition(partition: number, parserState: string | null): void {
    if (this.format.kind !== 'observations') return;
    this.#parsers.set(partition, this.format.collector.createParser(this.#parserOptions, parserState));
  }

  parserState(partition: number): string | null {
    return this.#parsers.get(partition)?.snapshot?.() ?? null;
  }

  /**
   * Reads a batch's messages at offset `from` and above into fresh sums; `first` and `last` are the offsets of
   * the first and last message read, -1 when none was. Messages below `from` are in the database already (Kafka
   * redelivers from its committed offset, which may lag the stored one); stage 1 reads them all.
   */
  readBatch(
    topic: string,
    partition: number,
    messages: readonly KafkaRecord[],
    from = -1,
  ): { sums: BatchSums; first: number; last: number } {
    const sums = emptySums();
    let first = -1;
    let last = -1;
    for (const m of messages) {
      const offset = Number(m.offset);
      if (offset < from) continue;
      if (first < 0) first = offset;
      this.read(topic, partition, m, sums);
      last = offset;
    }
    return { sums, first, last };
  }

  read(topic: string, partition: number, m: KafkaRecord, sums: BatchSums): void {
    const offset = Number(m.offset);
    sums.messages++;
    const where = `${topic}/${partition}@${offset}`;
    let dead: string | null = null;
    const reject = (lineNo: number, reason: string, raw: string): void => {
      sums.counts.malformed++;
      ReasonCounts.count(sums.reasons, reason);
      sums.quarantine.push({
        sourceId: `kafka:${where}`,
        sourceName: where,
        kind: this.#kind,
        lineNo,
        reason,
        raw: raw.length > QUARANTINE_RAW_CHARS ? raw.slice(0, QUARANTINE_RAW_CHARS) : raw,
      });
      dead ??= reason;
    };

    let parser: LineParser | undefined;
    if (this.format.kind === 'observations') {
      parser = this.#parsers.get(partition);
      if (parser === undefined) {
        parser = this.format.collector.createParser(this.#parserOptions, null);
        this.#parsers.set(partition, parser);
      }
    }
    const value = parser?.parseBytes !== undefined ? bytesOfValue(m.value) : linesOfValue(m.value);
    if (value.kind === 'reject') {
      // The whole value is one record that could not be read; line 0 says "the message itself".
      sums.counts.records++;
      const raw = m.value === null ? '' : m.value.subarray(0, QUARANTINE_RAW_CHARS).toString('latin1');
      reject(0, value.reason, raw);
    } else if (value.kind === 'bytes') {
      this.#readBytes(value.bytes, parser!, sums, reject);
    } else if (this.format.kind === 'edges') {
      this.#readDeltas(value.lines, sums, reject);
    } else if (this.format.kind === 'dns') {
      // CoreDNS lines carry no date: the message's own timestamp places them (as a file's mtime does).
      const parser = this.#dns!.createParser(
        { ...this.#parserOptions, reference: String(Number(m.timestamp) / 1000) },
        null,
      );
      this.#readLines(value.lines, parser, sums, reject);
    } else {
      this.#readLines(value.lines, parser!, sums, reject);
    }
    if (dead !== null) sums.deadLetters.push({ offset, value: m.value, reason: dead });
  }

  #readLines(
    lines: readonly string[],
    parser: LineParser | RecordLineParser,
    sums: BatchSums,
    reject: (lineNo: number, reason: string, raw: string) => void,
  ): void {
    for (let i = 0; i < lines.length; i++) this.#readLine(lines[i]!, i + 1, parser, sums, reject);
  }

  /**
   * Reads a value's lines straight from its bytes, as file ingest does: the byte parser takes the records it reads
   * exactly; any other line (an envelope, a header, one to reject) is decoded and read as `#readLines` would,
   * numbered as there.
   */
  #readBytes(
    bytes: Buffer,
    parser: LineParser,
    sums: BatchSums,
    reject: (lineNo: number, reason: string, raw: string) => void,
  ): void {
    this.#flowSums = sums;
    const texts: string[] = [];
    let lineNo = 0;
    forEachLine(bytes, (from, to) => {
      // A line that starts with `{` may be a shipper's envelope, which only the text path unwraps.
      if (bytes[from] !== 0x7b && parser.parseBytes!(bytes, from, to, this.#flows)) {
        lineNo++;
        sums.counts.records++;
      } else {
        texts.length = 0;
        unwrapLine(bytes.toString('utf8', from, to), texts);
        for (const text of texts) this.#readLine(text, ++lineNo, parser, sums, reject);
      }
    });
  }

  #readLine(
    text: string,
    lineNo: number,
    parser: LineParser | RecordLineParser,
    sums: BatchSums,
    reject: (lineNo: number, reason: string, raw: string) => void,
  ): void {
    const scratch = this.#scratch;
    sums.counts.records++;
    const out =
      scratch !== null && 'parseInto' in parser && parser.parseInto !== undefined
        ? parser.parseInto(text, scratch)
        : parser.parse(text);
    if (out.kind === 'observation') {
      this.edges.add(out.value);
      sums.counts.stored++;
      widen(sums, out.value.start, out.value.end);
    } else if (out.kind === 'records') {
      sums.counts.stored++;
      widen(sums, out.start, out.end);
    } else if (out.kind === 'skip') {
      sums.counts.skipped++;
      ReasonCounts.count(sums.reasons, out.reason);
    } else {
      reject(lineNo, out.reason, text);
    }
  }

  #readDeltas(
    lines: readonly string[],
    sums: BatchSums,
    reject: (lineNo: number, reason: string, raw: string) => void,
  ): void {
    for (let i = 0; i < lines.length; i++) {
      const d = decodeEdgeDelta(lines[i]!);
      if (d.kind === 'reject') {
        sums.counts.records++;
        reject(i + 1, d.reason, lines[i]!);
        continue;
      }
      const delta = d.value;
      if (delta.bucketSeconds !== this.#bucketSeconds) {
        // Stage 1 summed into other buckets than this database keeps: they would not add up.
        sums.counts.records++;
        reject(i + 1, 'bucket_mismatch', lines[i]!);
        continue;
      }
      this.edges.merge(delta.edges);
      // Counters are the raw records stage 1 read, so `ingest-status` adds up to what was produced.
      IngestCounts.add(sums.counts, delta.counts);
      for (const q of delta.quarantine) sums.quarantine.push(q);
      if (delta.firstTime !== null && delta.lastTime !== null) widen(sums, delta.firstTime, delta.lastTime);
    }
  }
}
