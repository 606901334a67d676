/**
 * Stage 1 of the two-stage pipeline (`collect kafka … --emit-edges <topic>`): reads raw log lines, sums each
 * batch into edges and produces them as edge deltas (./edge-delta.ts). The deltas, any dead letters and the
 * consumed offsets (`sendOffsets`) commit in ONE Kafka transaction, so from the raw topic to the edges topic
 * every record counts exactly once; stage 2 (`--format edges`) then stores offsets with the data in SQLite.
 *
 * Zombie fencing without KIP-447 (which kafkajs lacks): one transactional id per input partition
 * (`<group>.<topic>.<partition>`). A consumer given a partition first initialises that id, which fences the
 * previous owner's producer and completes or aborts its open transaction, and only then reads the group's
 * committed offset and seeks to it. So a batch the old owner already committed is never produced twice.
 */
import type { EachBatchPayload, Message, Producer } from 'kafkajs';
import { kafkajs } from '../util/lazy.js';
import { edgesOf } from '../model/edge-table.js';
import { IngestCounts, type Edge } from '../model/edge.js';
import { BatchReader } from './batch-reader.js';
import { encodeEdgeDelta } from './edge-delta.js';
import { ConsumerRun, deadLetterMessages, groupTiming } from './run-loop.js';
import type { KafkaIngestResult, StageOptions } from './run-loop.js';

export interface EmitEdgesOptions extends StageOptions {
  readonly edgesTopic: string;
  /** Must equal the stage-2 database's bucket width, or stage 2 quarantines the deltas. */
  readonly bucketSeconds: number;
}

/** Edges and quarantined lines per delta message: keeps a message well under the broker's 1 MB default. */
const EDGES_PER_MESSAGE = 2000;
const QUARANTINE_PER_MESSAGE = 500;
/**
 * Bytes of messages per send: the broker's `message.max.bytes` (1 MB by default) bounds a whole record batch, and
 * one send puts a partition's messages (all of a delta's, which share a key) into one batch.
 */
const BYTES_PER_SEND = 512 * 1024;

const FENCED = new Set([
  'PRODUCER_FENCED',
  'INVALID_PRODUCER_EPOCH',
  'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
]);

export async function emitEdges(opts: EmitEdgesOptions): Promise<KafkaIngestResult> {
  const { topic, groupId, log, metrics } = opts;
  const kafka = new (kafkajs().Kafka)(opts.kafka);
  const admin = kafka.admin();
  const reader = new BatchReader(opts.format, opts.parserOptions, opts.bucketSeconds, null);
  const consumer = kafka.consumer({
    groupId,
    ...groupTiming(opts),
    retry: { ...opts.kafka.retry, restartOnFailure: async () => true },
  });
  /** Producers of the partitions this member holds, and whether each has fenced its predecessor yet. */
  const producers = new Map<number, { producer: Producer; ready: boolean }>();
  const run = new ConsumerRun(opts);

  const dropProducer = async (partition: number): Promise<void> => {
    const p = producers.get(partition);
    producers.delete(partition);
    await p?.producer.disconnect().catch(() => undefined);
  };

  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    metrics.rebalance();
    run.lastMessageAt = performance.now();
    const assigned = new Set(e.payload.memberAssignment[topic] ?? []);
    log.info({ topic, partitions: [...assigned] }, 'partitions assigned');
    // Every assignment re-fences: between two generations another member may have held the partition.
    for (const [partition, p] of producers) {
      p.ready = false;
      if (!assigned.has(partition)) {
        metrics.forget(partition);
        void dropProducer(partition);
      }
    }
    for (const partition of assigned) reader.resetPartition(partition, null);
  });
  run.failOnCrash(consumer, metrics);

  const eachBatch = async ({ batch, resolveOffset, isRunning, isStale }: EachBatchPayload): Promise<void> => {
    if (run.fatal !== null || !isRunning() || isStale()) return;
    const partition = batch.partition;
    let p = producers.get(partition);
    if (p === undefined) {
      p = {
        producer: kafka.producer({
          transactionalId: `${groupId}.${topic}.${partition}`,
          idempotent: true,
          maxInFlightRequests: 1,
          allowAutoTopicCreation: false,
        }),
        ready: false,
      };
      producers.set(partition, p);
      await p.producer.connect();
    }
    if (!p.ready) {
      // Initialising the transactional id (an empty transaction) fences the previous owner; then the group's
      // committed offset is final for this partition, and reading resumes there.
      const fence = await p.producer.transaction();
      await fence.abort();
      const committed = await admin.fetchOffsets({ groupId, topics: [topic] });
      const offset = committed[0]?.partitions.find((x) => x.partition === partition)?.offset ?? '-1';
      p.ready = true;
      if (Number(offset) >= 0) {
        consumer.seek({ topic, partition, offset });
        return;
      }
    }
    const { sums, first, last } = reader.readBatch(topic, partition, batch.messages);
    const high = Number(batch.highWatermark);
    if (last < 0) {
      metrics.lag(partition, Number(batch.lastOffset()) + 1, high);
      resolveOffset(batch.lastOffset());
      return;
    }
    run.lastMessageAt = performance.now();
    const out: Message[] = [];
    const edges = [...copyEdges(reader)];
    const key = `${topic}/${partition}`;
    const messages = Math.max(
      1,
      Math.ceil(edges.length / EDGES_PER_MESSAGE),
      Math.ceil(sums.quarantine.length / QUARANTINE_PER_MESSAGE),
    );
    for (let m = 0; m < messages; m++) {
      const i = m * EDGES_PER_MESSAGE;
      const q = m * QUARANTINE_PER_MESSAGE;
      // Counters ride on the first message only, so stage 2 adds them up once; each quarantined line on one.
      out.push({
        key,
        value: encodeEdgeDelta({
          v: 1,
          source: key,
          offsets: [first, last],
          bucketSeconds: opts.bucketSeconds,
          counts: m === 0 ? sums.counts : IngestCounts.zero(),
          firstTime: sums.firstTime,
          lastTime: sums.lastTime,
          edges: edges.slice(i, i + EDGES_PER_MESSAGE),
          quarantine: sums.quarantine.slice(q, q + QUARANTINE_PER_MESSAGE),
        }),
      });
    }
    const started = performance.now();
    const tx = await p.producer.transaction();
    try {
      for (const part of bySize(out, BYTES_PER_SEND))
        await tx.send({ topic: opts.edgesTopic, messages: part });
      if (opts.deadLetterTopic !== undefined && sums.deadLetters.length > 0) {
        await tx.send({
          topic: opts.deadLetterTopic,
          messages: deadLetterMessages(topic, partition, sums.deadLetters),
        });
      }
      await tx.sendOffsets({
        consumerGroupId: groupId,
        topics: [{ topic, partitions: [{ partition, offset: String(last + 1) }] }],
      });
      await tx.commit();
    } catch (err) {
      await tx.abort().catch(() => undefined);
      const type = (err as { type?: unknown }).type;
      if (typeof type === 'string' && FENCED.has(type)) {
        // Another member owns the partition now; its transactions count, this batch must not.
        run.conflicts++;
        metrics.error('conflict');
        log.warn({ topic, partition }, 'producer fenced: partition moved to another consumer; batch dropped');
        await dropProducer(partition);
        return;
      }
      metrics.error('kafka');
      // The retry re-reads from the committed offset: drop the producer so the next attempt fences again.
      await dropProducer(partition);
      throw err;
    }
    resolveOffset(batch.lastOffset());
    run.committed(metrics, {
      partition,
      sums,
      edges: edges.length,
      nextOffset: last + 1,
      highWatermark: high,
      commitSeconds: (performance.now() - started) / 1000,
    });
  };

  return run.consume(consumer, {
    open: () => admin.connect(),
    eachBatch: async (payload) => {
      try {
        await eachBatch(payload);
      } catch (err) {
        // Whatever the batch summed is thrown away: the retry reads it again from the committed offset.
        reader.discard();
        const p = producers.get(payload.batch.partition);
        if (p !== undefined) p.ready = false;
        throw err;
      }
    },
    close: async () => {
      for (const partition of [...producers.keys()]) await dropProducer(partition);
      await admin.disconnect().catch(() => undefined);
    },
  });
}

/** `messages` in runs of at most `bytes` of values (a longer message goes alone). */
function* bySize(messages: readonly Message[], bytes: number): Generator<Message[]> {
  let run: Message[] = [];
  let size = 0;
  for (const m of messages) {
    const n = (m.value as Buffer | string | null)?.length ?? 0;
    if (run.length > 0 && size + n > bytes) {
      yield run;
      run = [];
      size = 0;
    }
    run.push(m);
    size += n;
  }
  if (run.length > 0) yield run;
}

/** The summed edges as plain objects (`edgesOf` reuses one object per edge). */
function* copyEdges(reader: BatchReader): Generator<Edge> {
  for (const e of edgesOf(reader.edges.drainOrdered())) yield { ...e };
}
