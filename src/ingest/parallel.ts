import { statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { SourceRef } from '../../collectors/sources/open.js';
import { IngestCounts } from '../model/edge.js';
import type { Store } from '../store/store.js';
import { EdgeOrderer } from './edge-order.js';
import { transferablesOf } from '../model/edge-table.js';
import { ingest, type IngestOptions, type IngestResult, type SourceResult } from './ingest.js';
import { errorData, knownError, type ToReader, type ToWriter, type WorkerJob } from './worker-protocol.js';

/**
 * Commit sizes when a reading thread hands batches to the writer: fewer lines than ingest's default, so the writer
 * starts sooner and the two threads overlap more.
 */
const PARALLEL_BATCH = { flushLines: 250_000, maxEdges: 125_000 };

/**
 * Text an input must hold, at the least, for a second thread to pay: a large file's commits overlap with its
 * reading (2 M flow records, 227 MB: 1.44 M records/s against 1.2 M), while trees of inputs of 1,000 to 100,000
 * records (up to 11 MB) were read as fast by one thread (the two wait for each other at every input's end) with
 * 30-40 MB less memory.
 */
const WORKER_MIN_TEXT_BYTES = 64 * 1024 * 1024;

/** Text about eight times as large as its gzip file. */
const GZIP_RATIO = 8;

/**
 * Ingest with reading and writing on two threads when that can help: more than one core, an input large enough
 * (unless `threads` says), every input a file (a worker cannot read this process's standard input), and a
 * collector whose records are edges. Otherwise the same loop runs in this thread. Results, checkpoints and
 * exactness are the same either way: the writer commits batches in the order they were read, each with the
 * checkpoint of its last line.
 */
export async function ingestParallel(
  store: Store,
  refs: readonly SourceRef[],
  opts: IngestOptions & { readonly collectorName: string; readonly threads?: number },
): Promise<IngestResult> {
  const threads = opts.threads ?? (hasLargeInput(refs) ? Math.min(2, availableParallelism()) : 1);
  if (threads < 2 || opts.records !== undefined || refs.some((r) => r.path === null)) {
    return ingest(store, refs, opts);
  }
  const job: WorkerJob = {
    dbPath: store.path,
    collector: opts.collectorName,
    parserOptions: opts.parserOptions,
    refs: refs.map((r) => ({ name: r.name, path: r.path, failure: errorData(r.error) })),
    bucketSeconds: store.bucketSeconds(),
    flushLines: opts.flushLines ?? PARALLEL_BATCH.flushLines,
    maxEdges: opts.maxEdges ?? PARALLEL_BATCH.maxEdges,
    maxLineBytes: opts.maxLineBytes,
  };
  const worker = new Worker(new URL('./ingest-worker.js', import.meta.url), {
    workerData: job,
    resourceLimits: { maxYoungGenerationSizeMb: 8 },
  });
  const send = (m: ToReader, transfer: ArrayBuffer[] = []): void => worker.postMessage(m, transfer);
  const onAbort = (): void => send({ type: 'abort' });
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await new Promise<IngestResult>((resolve, reject) => {
      let settled = false;
      const orderer = new EdgeOrderer();
      worker.on('message', (m: ToWriter) => {
        try {
          switch (m.type) {
            case 'batch': {
              // The reading thread orders a batch only when this one was busy (see ingest-worker).
              const edges = 'order' in m.edges ? m.edges : orderer.sorted(m.edges);
              store.writeBatch({ edges, quarantine: m.quarantine, checkpoints: m.checkpoints });
              const buffers = transferablesOf(edges);
              send({ type: 'ack', seq: m.seq, buffers }, buffers);
              break;
            }
            case 'progress':
              opts.onProgress?.({ source: m.source, records: m.records });
              break;
            case 'done': {
              settled = true;
              const sources: SourceResult[] = m.sources.map((s) => ({ ...s, error: knownError(s.error) }));
              const totals = IngestCounts.zero();
              for (const s of sources) IngestCounts.add(totals, s.counts);
              resolve({ sources, totals, error: sources.find((s) => s.error !== null)?.error ?? null });
              break;
            }
            case 'failed':
              settled = true;
              reject(knownError(m.error) ?? new Error(`ingest worker failed:\n${m.stack}`));
              break;
          }
        } catch (err) {
          settled = true;
          reject(err);
          void worker.terminate();
        }
      });
      worker.on('error', (err) => {
        settled = true;
        reject(err);
      });
      worker.on('exit', (code) => {
        if (!settled) reject(new Error(`ingest worker exited with code ${code} before finishing`));
      });
    });
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    await worker.terminate();
  }
}

/** True when some input file holds at least WORKER_MIN_TEXT_BYTES of text (gzip files counted inflated). */
export function hasLargeInput(refs: readonly SourceRef[]): boolean {
  return refs.some((r) => {
    if (r.path === null || r.error !== undefined) return false;
    const size = statSync(r.path, { throwIfNoEntry: false })?.size ?? 0;
    return (/\.gz$/i.test(r.path) ? size * GZIP_RATIO : size) >= WORKER_MIN_TEXT_BYTES;
  });
}
