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
import type { Consumer, EachBatchPayload, KafkaConfig, Producer } from 'kafkajs';
import { kafkajs } from '../util/lazy.js';
import { ConcurrentIngestError, KnownError } from '../model/errors.js';
import { KafkaOffsetStore } from '../store/kafka-offsets.js';
import type { Store } from '../store/store.js';
import type { Logger } from '../util/log.js';
import { BatchReader, partitionSourceId } from './batch-reader.js';
import { sourceKindOf } from './kafka-format.js';
import { ConsumerRun, deadLetterMessages, groupTiming } from './run-loop.js';
import type { KafkaIngestResult, StageOptions } from './run-loop.js';

export type { KafkaIngestResult };

export type KafkaIngestOptions = StageOptions;

export async function consumeIntoStore(store: Store, opts: KafkaIngestOptions): Promise<KafkaIngestResult> {
  const { topic, groupId, log, metrics } = opts;
  const bucketSeconds = store.bucketSeconds();
  const offsets = new KafkaOffsetStore(store);
  const reader = new BatchReader(opts.format, opts.parserOptions, bucketSeconds, store);
  const kind = sourceKindOf(opts.format);
  const kafka = new (kafkajs().Kafka)(opts.kafka);
  const consumer: Consumer = kafka.consumer({
    groupId,
    ...groupTiming(opts),
    // Stage 2 reads what stage 1 committed in transactions, never an aborted delta.
    readUncommitted: false,
    retry: kafkaRetry(opts.kafka, log),
  });
  let producer: Producer | null = null;
  if (opts.deadLetterTopic !== undefined) {
    producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  }

  const run = new ConsumerRun(opts);

  // Seek every assigned partition to the database's offset before the first fetch (kafkajs applies seeks queued
  // in this synchronous listener before it fetches), and restart its parser from the stored state.
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    metrics.rebalance();
    run.lastMessageAt = performance.now();
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
  run.failOnCrash(consumer, metrics);

  const eachBatch = async ({ batch, resolveOffset, isRunning, isStale }: EachBatchPayload): Promise<void> => {
    if (run.fatal !== null || !isRunning() || isStale()) return;
    const partition = batch.partition;
    const sourceId = partitionSourceId(topic, partition);
    const stored = offsets.get(topic, partition);
    const from = stored?.nextOffset ?? -1;
    const high = Number(batch.highWatermark);
    const { sums, first, last } = reader.readBatch(topic, partition, batch.messages, from);
    if (last < 0) {
      metrics.lag(partition, Math.max(from, Number(batch.lastOffset()) + 1), high);
      resolveOffset(batch.lastOffset());
      return;
    }
    run.lastMessageAt = performance.now();
    try {
      if (producer !== null && sums.deadLetters.length > 0) {
        // Before the commit: a crash in between re-sends (at least once), it never loses a poison message.
        await producer.send({
          topic: opts.deadLetterTopic!,
          messages: deadLetterMessages(topic, partition, sums.deadLetters),
        });
      }
    } catch (err) {
      metrics.error('dead_letter');
      reader.discard();
      throw err;
    }
    const started = performance.now();
    let written = 0;
    try {
      written = store.writeBatch({
        edges: reader.edges.drainOrdered(),
        quarantine: sums.quarantine,
        checkpoints: [
          {
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
        ],
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
        run.conflicts++;
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
      run.fail(err);
      return;
    }
    const commitSeconds = (performance.now() - started) / 1000;
    resolveOffset(batch.lastOffset());
    run.committed(metrics, {
      partition,
      sums,
      edges: written,
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

  return run.consume(consumer, {
    open: async () => {
      await producer?.connect();
    },
    eachBatch: async (payload) => {
      try {
        await eachBatch(payload);
      } catch (err) {
        if (err instanceof KnownError || !isKafkaError(err)) {
          run.fail(err);
          return;
        }
        throw err;
      }
    },
    close: async () => {
      await producer?.disconnect().catch(() => undefined);
    },
  });
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
