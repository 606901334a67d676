/**
 * Both stages of the pipeline in one process, for small setups (`collect kafka … --emit-edges <topic>
 * --store-edges`): stage 1 (./edge-producer.ts) reads the raw topic and produces edge deltas in Kafka
 * transactions; stage 2 (./store-consumer.ts) reads the edges topic into SQLite, offsets with the data. They run
 * side by side as two consumer groups and share nothing but the process, so each keeps its own exactly-once
 * guarantee: a crash of the process is a crash of a stage-1 and of a stage-2 worker at once, which the two-stage
 * design already survives. One process later becomes two deployments without a change in the topics or the
 * database.
 */
import type { Store } from '../store/store.js';
import { emitEdges, type EmitEdgesOptions } from './edge-producer.js';
import { kafkaFormat } from './kafka-format.js';
import type { PipelineMetrics } from './metrics.js';
import type { KafkaIngestResult } from './run-loop.js';
import { consumeIntoStore } from './store-consumer.js';

export interface BothStagesOptions extends EmitEdgesOptions {
  /** Stage 2's consumer group on the edges topic. */
  readonly storeGroupId: string;
  readonly storeMetrics: PipelineMetrics;
}

export interface BothStagesResult {
  /** Stage 1: raw records read, deltas produced. */
  readonly emitted: KafkaIngestResult;
  /** Stage 2: deltas stored (its counters are the raw records they summed). */
  readonly stored: KafkaIngestResult;
}

/**
 * Runs both stages until the caller's signal, or until both are idle (`idleExitMs`: stage 1 first, then stage 2
 * once stage 1 has stopped and the edges topic stayed quiet as long). The first error stops the other stage and
 * is thrown once both have left their groups.
 */
export async function runBothStages(store: Store, o: BothStagesOptions): Promise<BothStagesResult> {
  const stop1 = new AbortController();
  const stop2 = new AbortController();
  const stopBoth = (): void => {
    stop1.abort();
    stop2.abort();
  };
  o.signal.addEventListener('abort', stopBoth, { once: true });
  if (o.signal.aborted) stopBoth();
  try {
    // The bucket width is the database's, so stage 2 never quarantines a delta for summing other buckets.
    const stage1 = emitEdges({ ...o, bucketSeconds: store.bucketSeconds(), signal: stop1.signal });
    const stage2 = consumeIntoStore(store, {
      kafka: o.kafka,
      topic: o.edgesTopic,
      groupId: o.storeGroupId,
      // Every delta on the edges topic is this pipeline's: a new stage-2 group starts at its beginning.
      fromBeginning: true,
      format: kafkaFormat('edges'),
      parserOptions: {},
      metrics: o.storeMetrics,
      log: o.log,
      signal: stop2.signal,
      idleExitMs: o.idleExitMs,
      idleFrom: stage1,
      sessionTimeoutMs: o.sessionTimeoutMs,
      maxBytesPerPartition: o.maxBytesPerPartition,
    });
    stage1.catch(() => stop2.abort());
    stage2.catch(() => stop1.abort());
    const [emitted, stored] = await Promise.allSettled([stage1, stage2]);
    if (emitted.status === 'rejected') throw emitted.reason;
    if (stored.status === 'rejected') throw stored.reason;
    return { emitted: emitted.value, stored: stored.value };
  } finally {
    o.signal.removeEventListener('abort', stopBoth);
  }
}
