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
import { Kafka, type EachBatchPayload, type KafkaConfig, type Message, type Producer } from 'kafkajs';
import { edgesOf } from '../ingest/aggregate.js';
import { IngestCounts, type Edge } from '../model/edge.js';
import type { Logger } from '../util/log.js';
import { BatchReader, emptySums } from './batch-reader.js';
import { encodeEdgeDelta } from './edge-delta.js';
import type { KafkaFormat } from './kafka-format.js';
import type { PipelineMetrics } from './metrics.js';
import { DEAD_LETTER_HEADERS, type KafkaIngestResult } from './store-consumer.js';

export interface EmitEdgesOptions {
  readonly kafka: KafkaConfig;
  readonly topic: string;
  readonly groupId: string;
  readonly fromBeginning: boolean;
  readonly format: KafkaFormat;
  readonly parserOptions: Readonly<Record<string, string | undefined>>;
  readonly edgesTopic: string;
  /** Must equal the stage-2 database's bucket width, or stage 2 quarantines the deltas. */
  readonly bucketSeconds: number;
  readonly deadLetterTopic?: string | undefined;
  readonly metrics: PipelineMetrics;
  readonly log: Logger;
  readonly signal: AbortSignal;
  readonly idleExitMs?: number | undefined;
  /** The group's wait for a silent member; heartbeats go at a third of it. */
  readonly sessionTimeoutMs?: number | undefined;
  readonly maxBytesPerPartition?: number | undefined;
}

/** Edges per delta message: keeps a message well under the broker's 1 MB default. */
const EDGES_PER_MESSAGE = 2000;

const FENCED = new Set([
  'PRODUCER_FENCED',
  'INVALID_PRODUCER_EPOCH',
  'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
]);

export async function emitEdges(opts: EmitEdgesOptions): Promise<KafkaIngestResult> {
  const { topic, groupId, log, metrics } = opts;
  const kafka = new Kafka(opts.kafka);
  const admin = kafka.admin();
  const reader = new BatchReader(opts.format, opts.parserOptions, opts.bucketSeconds, null);
  const consumer = kafka.consumer({
    groupId,
    maxBytesPerPartition: opts.maxBytesPerPartition ?? 4 * 1024 * 1024,
    sessionTimeout: opts.sessionTimeoutMs ?? 10_000,
    heartbeatInterval: Math.max(500, Math.floor((opts.sessionTimeoutMs ?? 10_000) / 3)),
    retry: { ...opts.kafka.retry, restartOnFailure: async () => true },
  });
  /** Producers of the partitions this member holds, and whether each has fenced its predecessor yet. */
  const producers = new Map<number, { producer: Producer; ready: boolean }>();
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

  const dropProducer = async (partition: number): Promise<void> => {
    const p = producers.get(partition);
    producers.delete(partition);
    await p?.producer.disconnect().catch(() => undefined);
  };

  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    metrics.rebalance();
    lastMessageAt = performance.now();
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
    const sums = emptySums();
    let first = -1;
    let last = -1;
    for (const m of batch.messages) {
      if (first < 0) first = Number(m.offset);
      reader.read(topic, partition, m, sums);
      last = Number(m.offset);
    }
    const high = Number(batch.highWatermark);
    if (last < 0) {
      metrics.lag(partition, Number(batch.lastOffset()) + 1, high);
      resolveOffset(batch.lastOffset());
      return;
    }
    lastMessageAt = performance.now();
    const out: Message[] = [];
    const edges = [...copyEdges(reader)];
    const key = `${topic}/${partition}`;
    for (let i = 0; i === 0 || i < edges.length; i += EDGES_PER_MESSAGE) {
      // Counters and quarantine ride on the first message only, so stage 2 adds them up once.
      out.push({
        key,
        value: encodeEdgeDelta({
          v: 1,
          source: key,
          offsets: [first, last],
          bucketSeconds: opts.bucketSeconds,
          counts: i === 0 ? sums.counts : IngestCounts.zero(),
          firstTime: sums.firstTime,
          lastTime: sums.lastTime,
          edges: edges.slice(i, i + EDGES_PER_MESSAGE),
          quarantine: i === 0 ? sums.quarantine : [],
        }),
      });
    }
    const started = performance.now();
    const tx = await p.producer.transaction();
    try {
      await tx.send({ topic: opts.edgesTopic, messages: out });
      if (opts.deadLetterTopic !== undefined && sums.deadLetters.length > 0) {
        await tx.send({
          topic: opts.deadLetterTopic,
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
        conflicts++;
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
      commitSeconds: (performance.now() - started) / 1000,
    });
  };

  let idleTimer: NodeJS.Timeout | null = null;
  try {
    await admin.connect();
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
          // Whatever the batch summed is thrown away: the retry reads it again from the committed offset.
          reader.discard();
          const p = producers.get(payload.batch.partition);
          if (p !== undefined) p.ready = false;
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
    await consumer
      .disconnect()
      .catch((err: unknown) => log.warn({ err: (err as Error).message }, 'disconnect'));
    for (const partition of [...producers.keys()]) await dropProducer(partition);
    await admin.disconnect().catch(() => undefined);
  }
  if (fatal !== null) throw fatal;
  return { counts: totals, reasons, messages, batches, conflicts };
}

/** The summed edges as plain objects (`edgesOf` reuses one object per edge). */
function* copyEdges(reader: BatchReader): Generator<Edge> {
  for (const e of edgesOf(reader.edges.drainColumns())) yield { ...e };
}
