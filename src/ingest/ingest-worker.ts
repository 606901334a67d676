import { parentPort, workerData } from 'node:worker_threads';
import { collectorNamed } from '../../collectors/index.js';
import type { InputError } from '../model/errors.js';
import { Store } from '../store/store.js';
import { compactTable, transferablesOf } from '../model/edge-table.js';
import { EdgeOrderer } from './edge-order.js';
import { ingestInto, type BatchSink } from './ingest.js';
import { errorData, knownError, type ToReader, type ToWriter, type WorkerJob } from './worker-protocol.js';

/**
 * The reading half of a parallel ingest: opens, decompresses, splits, parses and sums in this thread, and
 * hands each commit's edges (as transferred typed arrays) to the thread that owns the database. One batch may be in
 * flight while the next is read, so parsing and SQLite writes overlap on two cores.
 */
const port = parentPort!;
const job = workerData as WorkerJob;
const post = (m: ToWriter, transfer: ArrayBuffer[] = []): void => port.postMessage(m, transfer);

async function main(): Promise<void> {
  const collector = collectorNamed(job.collector);
  if (collector === undefined) throw new Error(`no collector named ${job.collector}`);
  // Checkpoints are read through a connection of our own; WAL lets it see each commit the writer makes.
  const reader = new Store(job.dbPath, { readonly: true });
  const abort = new AbortController();
  const acks = new Map<number, () => void>();
  let seq = 0;
  let inFlight: Promise<void> = Promise.resolve();
  let writerBusy = false;
  const orderer = new EdgeOrderer();
  port.on('message', (m: ToReader) => {
    if (m.type === 'abort') abort.abort();
    else {
      writerBusy = false;
      acks.get(m.seq)?.();
    }
  });
  const sink: BatchSink = {
    checkpointOf: (id) => reader.checkpointOf(id),
    shortFingerprintLengths: (kind, full) => reader.shortFingerprintLengths(kind, full),
    async write(batch) {
      // The aggregator keeps its arrays for the next commit: the writer gets a copy as long as the edges. Ordering
      // them is work for whichever thread would otherwise wait: this one while the writer is still busy with the last
      // batch (a large database, where upserts cost more), else the writer.
      const table = compactTable(batch.edges);
      const edges = writerBusy ? orderer.sorted(table) : table;
      await inFlight;
      const n = ++seq;
      inFlight = new Promise<void>((resolve) => acks.set(n, resolve));
      writerBusy = true;
      post(
        {
          type: 'batch',
          seq: n,
          edges,
          quarantine: batch.quarantine,
          checkpoints: batch.checkpoints,
        },
        transferablesOf(edges),
      );
    },
    settle: () => inFlight,
  };
  let lastProgress = 0;
  try {
    const refs = job.refs.map((r) => ({
      name: r.name,
      path: r.path,
      ...(r.failure !== null ? { error: knownError(r.failure) as InputError } : {}),
    }));
    const result = await ingestInto(sink, job.bucketSeconds, refs, {
      collector,
      parserOptions: job.parserOptions,
      flushLines: job.flushLines,
      maxEdges: job.maxEdges,
      maxLineBytes: job.maxLineBytes,
      signal: abort.signal,
      onProgress: (p) => {
        const now = performance.now();
        if (now - lastProgress < 100) return;
        lastProgress = now;
        post({ type: 'progress', source: p.source, records: p.records });
      },
    });
    await sink.settle!();
    post({
      type: 'done',
      sources: result.sources.map((s) => ({ ...s, error: errorData(s.error) })),
    });
  } finally {
    // The port stays open: closing it here could drop the last message. The writer ends this thread.
    reader.close();
  }
}

main().catch((err: unknown) => {
  post({ type: 'failed', error: errorData(err), stack: (err as Error)?.stack ?? String(err) });
});
