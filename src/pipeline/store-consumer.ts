/**
 * `collect kafka` into SQLite: a kafkajs consumer group whose every batch commits in ONE SQLite transaction
 * together with the partition's next offset. That offset, not Kafka's committed one, says where to resume: on
 * every assignment the consumer seeks each partition to it, and messages below it are dropped if Kafka hands
 * them out again. A crash at any point therefore neither loses nor double-counts a message.
 *
 * Two consumers writing the same database (a rebalance in flight, a zombie) are kept apart by the checkpoint's
 * compare-and-set: a commit names the offset it started from, and the store refuses it when another consumer
 * moved the partition meanwhile. The loser drops its batch and seeks to the stored offset.
 *
 * Kafka's group offsets are committed too, after SQLite, only so that lag tooling (kafka-consumer-groups.sh,
 * Burrow) sees the group; nothing here reads them back except for a partition the database has never seen.
 */
import { Kafka, type Consumer, type EachBatchPayload, type KafkaConfig, type Producer } from 'kafkajs';
import { edgesOf } from '../ingest/aggregate.js';
import { ConcurrentIngestError, KnownError } from '../model/errors.js';
import { IngestCounts } from '../model/edge.js';
import { KafkaOffsetStore } from '../store/kafka-offsets.js';
import type { Store } from '../store/store.js';
import type { Logger } from '../util/log.js';
import { BatchReader, emptySums, partitionSourceId, type BatchSums } from './batch-reader.js';
import { sourceKindOf, type KafkaFormat } from './kafka-format.js';
import type { PipelineMetrics } from './metrics.js';

export interface KafkaIngestOptions {
  readonly kafka: KafkaConfig;
  readonly topic: string;
  readonly groupId: string;
  /** For a partition neither the database nor the group has an offset for: earliest (else latest). */
  readonly fromBeginning: boolean;
  readonly format: KafkaFormat;
  readonly parserOptions: Readonly<Record<string, string | undefined>>;
  readonly deadLetterTopic?: string | undefined;
  readonly metrics: PipelineMetrics;
  readonly log: Logger;
  /** Stops after the current batch: commit, leave the group. */
  readonly signal: AbortSignal;
  /** Stop on its own once no message arrived for this long (a drain-and-exit run). */
  readonly idleExitMs?: number | undefined;
  /** The group's wait for a silent member; heartbeats go at a third of it. */
  readonly sessionTimeoutMs?: number | undefined;
  /** Fetch size per partition; a batch of it is one SQLite transaction. */
  readonly maxBytesPerPartition?: number | undefined;
}

export interface KafkaIngestResult {
  readonly counts: IngestCounts;
  readonly reasons: Readonly<Record<string, number>>;
  readonly messages: number;
  readonly batches: number;
  /** Batches dropped because another consumer had moved the partition. */
  readonly conflicts: number;
}

/** Dead-letter headers: where the message was and why it was refused. */
export const DEAD_LETTER_HEADERS = {
  topic: 'egress-learner-topic',
  partition: 'egress-learner-partition',
  offset: 'egress-learner-offset',
  reason: 'egress-learner-reason',
} as const;

export async function consumeIntoStore(store: Store, opts: KafkaIngestOptions): Promise<KafkaIngestResult> {
  const { topic, groupId, log, metrics } = opts;
  const bucketSeconds = store.bucketSeconds();
  const offsets = new KafkaOffsetStore(store);
  const reader = new BatchReader(opts.format, opts.parserOptions, bucketSeconds, store);
  const kind = sourceKindOf(opts.format);
  const kafka = new Kafka(opts.kafka);
  const consumer: Consumer = kafka.consumer({
    groupId,
    maxBytesPerPartition: opts.maxBytesPerPartition ?? 4 * 1024 * 1024,
    sessionTimeout: opts.sessionTimeoutMs ?? 10_000,
    heartbeatInterval: Math.max(500, Math.floor((opts.sessionTimeoutMs ?? 10_000) / 3)),
    // Stage 2 reads what stage 1 committed in transactions, never an aborted delta.
    readUncommitted: false,
    retry: kafkaRetry(opts.kafka, log),
  });
  let producer: Producer | null = null;
  if (opts.deadLetterTopic !== undefined) {
    producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  }

  const totals = IngestCounts.zero();
  const reasons: Record<string, number> = {};
  let messages = 0;
  let batches = 0;
  let conflicts = 0;
  let fatal: unknown = null;
  // Idle time counts from the first assignment: joining a group may wait for a dead member's session to end.
  let lastMessageAt = Infinity;
  const stopped = new AbortController();
  const stop = (): void => stopped.abort();
  opts.signal.addEventListener('abort', stop, { once: true });

  // Seek every assigned partition to the database's offset before the first fetch (kafkajs applies seeks queued
  // in this synchronous listener before it fetches), and restart its parser from the stored state.
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    metrics.rebalance();
    lastMessageAt = performance.now();
    const assigned = e.payload.memberAssignment[topic] ?? [];
    log.info({ topic, partitions: assigned }, 'partitions assigned');
    for (const partition of assigned) {
      const stored = offsets.get(topic, partition);
      reader.resetPartition(
        partition,
        store.checkpointOf(partitionSourceId(topic, partition))?.parserState ?? null,
      );
      if (stored !== null) consumer.seek({ topic, partition, offset: String(stored.nextOffset) });
    }
  });
  consumer.on(consumer.events.CRASH, (e) => {
    metrics.error('kafka');
    if (!e.payload.restart) {
      fatal ??= e.payload.error;
      stop();
    }
  });

  const eachBatch = async ({ batch, resolveOffset, isRunning, isStale }: EachBatchPayload): Promise<void> => {
    if (fatal !== null || !isRunning() || isStale()) return;
    const partition = batch.partition;
    const sourceId = partitionSourceId(topic, partition);
    const stored = offsets.get(topic, partition);
    const from = stored?.nextOffset ?? -1;
    const high = Number(batch.highWatermark);
    const sums: BatchSums = emptySums();
    let first = -1;
    let last = -1;
    for (const m of batch.messages) {
      const offset = Number(m.offset);
      // Already in the database: Kafka's committed offset (or a redelivery) lags the stored one.
      if (offset < from) continue;
      if (first < 0) first = offset;
      reader.read(topic, partition, m, sums);
      last = offset;
    }
    if (last < 0) {
      metrics.lag(partition, Math.max(from, Number(batch.lastOffset()) + 1), high);
      resolveOffset(batch.lastOffset());
      return;
    }
    lastMessageAt = performance.now();
    try {
      if (producer !== null && sums.deadLetters.length > 0) {
        // Before the commit: a crash in between re-sends (at least once), it never loses a poison message.
        await producer.send({
          topic: opts.deadLetterTopic!,
          messages: sums.deadLetters.map((d) => ({
            key: `${topic}/${partition}/${d.offset}`,
            value: d.value,
            headers: {
              [DEAD_LETTER_HEADERS.topic]: topic,
              [DEAD_LETTER_HEADERS.partition]: String(partition),
              [DEAD_LETTER_HEADERS.offset]: String(d.offset),
              [DEAD_LETTER_HEADERS.reason]: d.reason,
            },
          })),
        });
      }
    } catch (err) {
      metrics.error('dead_letter');
      reader.discard();
      throw err;
    }
    const started = performance.now();
    try {
      store.writeBatch({
        edges: edgesOf(reader.edges.drainColumns()),
        quarantine: sums.quarantine,
        checkpoint: {
          sourceId,
          fingerprintLength: 0,
          previousLineNo: stored?.nextOffset ?? null,
          kind,
          name: `kafka:${topic}/${partition}`,
          // For a partition, "line" is the next offset: what `ingest-status` shows and the compare-and-set checks.
          lineNo: last + 1,
          byteOffset: last + 1,
          done: false,
          parserState: reader.parserState(partition),
          delta: sums.counts,
          firstTime: sums.firstTime,
          lastTime: sums.lastTime,
        },
        extra: () => {
          reader.dns?.flush();
          offsets.write({
            topic,
            partition,
            nextOffset: last + 1,
            highWatermark: high,
            groupId,
            messages: sums.messages,
          });
        },
      });
    } catch (err) {
      // The transaction rolled back; the sums were drained into it already.
      if (err instanceof ConcurrentIngestError) {
        // Another consumer committed this partition meanwhile: its data counts, this batch must not.
        conflicts++;
        metrics.error('conflict');
        const now = offsets.get(topic, partition);
        log.warn(
          { topic, partition, offset: now?.nextOffset },
          'partition moved by another consumer; batch dropped',
        );
        reader.resetPartition(partition, store.checkpointOf(sourceId)?.parserState ?? null);
        if (now !== null) consumer.seek({ topic, partition, offset: String(now.nextOffset) });
        return;
      }
      metrics.error('store');
      // A store that cannot be written (full disk, locked) is the user's to fix: stop instead of retrying forever.
      fatal ??= err;
      stop();
      return;
    }
    const commitSeconds = (performance.now() - started) / 1000;
    resolveOffset(batch.lastOffset());
    batches++;
    messages += sums.messages;
    IngestCounts.add(totals, sums.counts);
    for (const [k, v] of Object.entries(sums.reasons)) reasons[k] = (reasons[k] ?? 0) + v;
    metrics.batch({
      partition,
      messages: sums.messages,
      records: sums.counts.records,
      stored: sums.counts.stored,
      malformed: sums.counts.malformed,
      nextOffset: last + 1,
      highWatermark: high,
      commitSeconds,
    });
    log.debug({ topic, partition, first, last, records: sums.counts.records }, 'batch committed');
    try {
      await consumer.commitOffsets([{ topic, partition, offset: String(last + 1) }]);
    } catch (err) {
      // Informational only (see the module comment); the next batch or the next run commits again.
      log.debug({ topic, partition, err: (err as Error).message }, 'group offset commit failed');
    }
  };

  let idleTimer: NodeJS.Timeout | null = null;
  try {
    await producer?.connect();
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: opts.fromBeginning });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: async (payload) => {
        try {
          await eachBatch(payload);
        } catch (err) {
          if (err instanceof KnownError || !isKafkaError(err)) {
            fatal ??= err;
            stop();
            return;
          }
          throw err;
        }
      },
    });
    if (opts.idleExitMs !== undefined) {
      const idleMs = opts.idleExitMs;
      idleTimer = setInterval(
        () => {
          if (performance.now() - lastMessageAt >= idleMs) stop();
        },
        Math.min(250, idleMs),
      );
    }
    if (!stopped.signal.aborted) {
      await new Promise<void>((resolve) =>
        stopped.signal.addEventListener('abort', () => resolve(), { once: true }),
      );
    }
  } finally {
    if (idleTimer !== null) clearInterval(idleTimer);
    opts.signal.removeEventListener('abort', stop);
    // disconnect() waits for the batch in hand to finish (and commit), then leaves the group.
    await consumer
      .disconnect()
      .catch((err: unknown) => log.warn({ err: (err as Error).message }, 'disconnect'));
    await producer?.disconnect().catch(() => undefined);
  }
  if (fatal !== null) throw fatal;
  return { counts: totals, reasons, messages, batches, conflicts };
}

function isKafkaError(err: unknown): boolean {
  return (
    typeof (err as { name?: unknown } | null)?.name === 'string' && (err as Error).name.startsWith('KafkaJS')
  );
}

/** Restart after retriable client errors (a broker restart), as kafkajs does by default. */
function kafkaRetry(
  config: KafkaConfig,
  log: Logger,
): NonNullable<KafkaConfig['retry']> & {
  restartOnFailure: (e: Error) => Promise<boolean>;
} {
  return {
    ...config.retry,
    restartOnFailure: async (e: Error) => {
      log.warn({ err: e.message }, 'kafka consumer failed; restarting');
      return true;
    },
  };
}
