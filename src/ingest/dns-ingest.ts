/**
 * DNS answers through the one ingest loop: the same sources (files, gzip, directory trees, stdin), checkpoints,
 * quarantine and idempotency as edges. The loop's record path (`IngestOptions.records`) takes this module's
 * aggregator, which sums answers into `dns_answers` rows between commits and writes them in the commit's
 * transaction, next to the checkpoint that covers them.
 */
import { stat } from 'node:fs/promises';
import type { SourceRef } from '../../collectors/sources/open.js';
import type { DnsAnswer, DnsAnswerAggregate, DnsCollectorDescriptor } from '../model/dns.js';
import { IngestCounts } from '../model/edge.js';
import type { KnownError } from '../model/errors.js';
import { SOURCE_KINDS } from '../model/observation.js';
import { DnsStore } from '../store/dns-store.js';
import type { Store } from '../store/store.js';
import {
  ingest,
  type IngestProgress,
  type IngestResult,
  type RecordLineParser,
  type RecordPath,
  type SourceResult,
} from './ingest.js';

interface Acc {
  bucket: number;
  client: string;
  name: string;
  type: string;
  answer: string;
  rcode: string;
  count: number;
  firstSeen: number;
  lastSeen: number;
  minTtl: number | null;
  sources: number;
}

/** Copies a string out of the megabyte chunk it was sliced from, so the chunk is not kept alive. */
function own(s: string): string {
  return Buffer.from(s, 'latin1').toString('latin1');
}

/**
 * Sums answers by client × name × type × answer × rcode × time bucket, so memory follows distinct answers, not
 * lines. Names and addresses are ASCII (validated by the parsers), hence the latin1 copies.
 */
export class DnsAnswerAggregator {
  readonly #bucketSeconds: number;
  readonly #sourceBits: Map<string, number>;
  #accs = new Map<string, Acc>();

  constructor(bucketSeconds: number) {
    this.#bucketSeconds = bucketSeconds;
    this.#sourceBits = new Map(SOURCE_KINDS.map((k, i) => [k, 1 << i]));
  }

  get size(): number {
    return this.#accs.size;
  }

  add(a: DnsAnswer): void {
    const bucket = Math.floor(a.time / this.#bucketSeconds) * this.#bucketSeconds;
    const client = a.client ?? '';
    const answer = a.answer ?? '';
    const key = `${bucket} ${client} ${a.name} ${a.type} ${answer} ${a.rcode}`;
    let acc = this.#accs.get(key);
    if (acc === undefined) {
      acc = {
        bucket,
        client: own(client),
        name: own(a.name),
        type: own(a.type),
        answer: own(answer),
        rcode: own(a.rcode),
        count: 0,
        firstSeen: a.time,
        lastSeen: a.time,
        minTtl: null,
        sources: 0,
      };
      this.#accs.set(own(key), acc);
    }
    acc.count++;
    if (a.time < acc.firstSeen) acc.firstSeen = a.time;
    if (a.time > acc.lastSeen) acc.lastSeen = a.time;
    if (a.ttl !== null && (acc.minTtl === null || a.ttl < acc.minTtl)) acc.minTtl = a.ttl;
    acc.sources |= this.#sourceBits.get(a.sourceKind) ?? 0;
  }

  /** Hands out the sums in primary-key order and starts empty. */
  drain(): DnsAnswerAggregate[] {
    const out = [...this.#accs.values()];
    this.#accs = new Map();
    const cmp = (x: string, y: string): number => (x < y ? -1 : x > y ? 1 : 0);
    out.sort(
      (a, b) =>
        a.bucket - b.bucket ||
        cmp(a.client, b.client) ||
        cmp(a.name, b.name) ||
        cmp(a.type, b.type) ||
        cmp(a.answer, b.answer) ||
        cmp(a.rcode, b.rcode),
    );
    return out;
  }
}

/** The ingest loop's record path for one DNS format: its parser feeds the aggregator, commits drain it. */
export function dnsRecordPath(
  descriptor: DnsCollectorDescriptor,
  store: DnsStore,
  bucketSeconds: number,
): RecordPath {
  const agg = new DnsAnswerAggregator(bucketSeconds);
  return {
    get size() {
      return agg.size;
    },
    flush: () => {
      store.writeAnswers(agg.drain());
    },
    discard: () => {
      agg.drain();
    },
    createProbe: (options): RecordLineParser => {
      const parser = descriptor.createParser(options, null);
      return {
        parse: (text) => {
          const out = parser.parse(text);
          return out.kind === 'answers' ? { kind: 'records', start: 0, end: 0 } : out;
        },
      };
    },
    createParser: (options, resumeState): RecordLineParser => {
      const parser = descriptor.createParser(options, resumeState);
      const snapshot = parser.snapshot?.bind(parser);
      return {
        parse(text) {
          const out = parser.parse(text);
          if (out.kind !== 'answers') return out;
          const values = out.values;
          let start = Infinity;
          let end = -Infinity;
          for (let i = 0; i < values.length; i++) {
            const a = values[i]!;
            agg.add(a);
            if (a.time < start) start = a.time;
            if (a.time > end) end = a.time;
          }
          return { kind: 'records', start, end };
        },
        ...(snapshot !== undefined ? { snapshot } : {}),
      };
    },
  };
}

export interface DnsIngestOptions {
  readonly descriptor: DnsCollectorDescriptor;
  /** `year` and the like; `reference` is set per source from its mtime (now for stdin). */
  readonly parserOptions: Readonly<Record<string, string | undefined>>;
  readonly flushLines?: number;
  readonly maxEdges?: number;
  readonly onProgress?: (p: IngestProgress) => void;
  readonly signal?: AbortSignal;
  /** Wall clock for stdin's reference time; tests pass a fixed one. */
  readonly now?: () => number;
  /** An input read before with other options than these (dnsmasq's `--tz`, `--year`): one line saying so. */
  readonly onWarning?: (message: string) => void;
}

/**
 * Says when an input was read before with other options than this run's. Its checkpoint's parser state keeps the
 * ones its lines were read with (a resumed parser carries them on), so it is looked at after the run, which covers
 * an input this run found unchanged too. Re-reading it is not offered: its answers are summed into rows other
 * inputs share, and cannot be taken back out; a fresh database is the way.
 */
function warnIfReadWithOtherOptions(store: Store, opts: DnsIngestOptions, s: SourceResult): void {
  const compare = opts.descriptor.readWithOtherOptions;
  if (compare === undefined || opts.onWarning === undefined || s.sourceId === null) return;
  const other = compare(opts.parserOptions, store.checkpointOf(s.sourceId)?.parserState ?? null);
  if (other === null) return;
  opts.onWarning(
    `${s.name} was read before with ${other.readWith}, not ${other.given}: its stored answers keep the times ` +
      'read then; to read it with these settings, collect it into a fresh database (--db)',
  );
}

/**
 * Reads DNS logs into `dns_answers`. One loop run per source, because each has its own reference time (a
 * yearless dnsmasq stamp or a stamp-less CoreDNS line is placed by its file's mtime); one result per source.
 */
export async function ingestDns(
  store: Store,
  refs: readonly SourceRef[],
  opts: DnsIngestOptions,
): Promise<IngestResult> {
  const dns = new DnsStore(store);
  const records = dnsRecordPath(opts.descriptor, dns, store.bucketSeconds());
  const sources: SourceResult[] = [];
  const totals = IngestCounts.zero();
  let error: KnownError | null = null;
  for (const ref of refs) {
    if (opts.signal?.aborted) break;
    let reference = (opts.now ?? (() => Date.now() / 1000))();
    if (ref.path !== null) {
      try {
        reference = (await stat(ref.path)).mtimeMs / 1000;
      } catch {
        // Unreadable: the loop's open reports it as this source's error.
      }
    }
    const r = await ingest(store, [ref], {
      collector: { sourceKind: opts.descriptor.sourceKind },
      parserOptions: { ...opts.parserOptions, reference: String(reference) },
      records,
      ...(opts.flushLines !== undefined ? { flushLines: opts.flushLines } : {}),
      ...(opts.maxEdges !== undefined ? { maxEdges: opts.maxEdges } : {}),
      ...(opts.onProgress !== undefined ? { onProgress: opts.onProgress } : {}),
      ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
    });
    sources.push(...r.sources);
    IngestCounts.add(totals, r.totals);
    for (const s of r.sources) warnIfReadWithOtherOptions(store, opts, s);
    if (r.error !== null && error === null) error = r.error;
  }
  return { sources, totals, error };
}
