/**
 * The run around a batch handler, shared by the single-stage consumer (./store-consumer.ts) and stage 1
 * (./edge-producer.ts): the group settings, the stop signal, the idle exit, leaving the group at the end, the
 * run's totals and the dead-letter messages. Kept in one place so that the two stages cannot drift apart in how
 * they stop, count or dead-letter; what a batch commits, and where, stays with each stage.
 */
import type { Consumer, ConsumerConfig, EachBatchPayload, KafkaConfig, Message } from 'kafkajs';
import { IngestCounts } from '../model/edge.js';
import type { Logger } from '../util/log.js';
import type { BatchSums, DeadLetter } from './batch-reader.js';
import type { KafkaFormat } from './kafka-format.js';
import type { PipelineMetrics } from './metrics.js';

/** What either stage is given to read a topic as a member of a consumer group. */
export interface StageOptions {
  readonly kafka: KafkaConfig;
  readonly topic: string;
  readonly groupId: string;
  /** For a partition with no stored offset (in the database, or the group's): earliest (else latest). */
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
  /**
   * With `idleExitMs`: idle time counts only from when this settles. Stage 2 running in-process beside stage 1
   * (./both-stages.ts) must not call the edges topic quiet while stage 1 may still produce to it.
   */
  readonly idleFrom?: Promise<unknown> | undefined;
  /** The group's wait for a silent member; heartbeats go at a third of it. */
  readonly sessionTimeoutMs?: number | undefined;
  /** Fetch size per partition; a batch of it is one commit (a SQLite transaction, or a Kafka one). */
  readonly maxBytesPerPartition?: number | undefined;
}

export interface KafkaIngestResult {
  readonly counts: IngestCounts;
  readonly reasons: Readonly<Record<string, number>>;
  readonly messages: number;
  readonly batches: number;
  /** Edge rows written to the database, or edge deltas produced (stage 1). */
  readonly edges: number;
  /** Batches dropped because another consumer had moved the partition. */
  readonly conflicts: number;
}

/** Dead-letter headers: where the message was and why it was refused. */
/** How long a stopping consumer may take to finish its batch and leave the group. */
const DISCONNECT_DEADLINE_MS = 15_000;

export const DEAD_LETTER_HEADERS = {
  topic: 'egress-learner-topic',
  partition: 'egress-learner-partition',
  offset: 'egress-learner-offset',
  reason: 'egress-learner-reason',
} as const;

/** A batch's refused messages as they go to the dead-letter topic, keyed by where they were. */
export function deadLetterMessages(
  topic: string,
  partition: number,
  deadLetters: readonly DeadLetter[],
): Message[] {
  return deadLetters.map((d) => ({
    key: `${topic}/${partition}/${d.offset}`,
    value: d.value,
    headers: {
      [DEAD_LETTER_HEADERS.topic]: topic,
      [DEAD_LETTER_HEADERS.partition]: String(partition),
      [DEAD_LETTER_HEADERS.offset]: String(d.offset),
      [DEAD_LETTER_HEADERS.reason]: d.reason,
    },
  }));
}

/** The group settings both stages take from their options. */
export function groupTiming(
  opts: Pick<StageOptions, 'sessionTimeoutMs' | 'maxBytesPerPartition'>,
): Pick<ConsumerConfig, 'maxBytesPerPartition' | 'sessionTimeout' | 'heartbeatInterval'> {
  const sessionTimeout = opts.sessionTimeoutMs ?? 10_000;
  return {
    maxBytesPerPartition: opts.maxBytesPerPartition ?? 4 * 1024 * 1024,
    sessionTimeout,
    // A third of the session, so that one lost heartbeat does not cost the membership.
    heartbeatInterval: Math.max(500, Math.floor(sessionTimeout / 3)),
  };
}

/** What a stage hands `ConsumerRun.consume` besides its consumer. */
export interface StageHandlers {
  /** Connects what the batches need besides the consumer (producers, admin), before the consumer joins. */
  readonly open: () => Promise<void>;
  readonly eachBatch: (payload: EachBatchPayload) => Promise<void>;
  /** Disconnects what `open` connected, once the consumer has left the group; must not throw. */
  readonly close: () => Promise<void>;
}

/**
 * One run of a stage: stops on the caller's signal, on `fail`, or when idle; counts what the committed batches
 * held. Create it right before the handlers that use it, and `consume` soon after: the caller's signal is
 * listened to from construction until `consume` returns.
 */
export class ConsumerRun {
  readonly counts = IngestCounts.zero();
  readonly reasons: Record<string, number> = {};
  messages = 0;
  batches = 0;
  edges = 0;
  conflicts = 0;
  /** The first error that ended the run; thrown by `consume` once everything is disconnected. */
  fatal: unknown = null;
  /** True when the consumer did not leave the group before the deadline: its sockets may keep the process up. */
  abandoned = false;
  /**
   * When the last message (or assignment) arrived. Idle time counts from the first assignment: joining a group
   * may wait for a dead member's session to end.
   */
  lastMessageAt = Infinity;
  readonly #stopped = new AbortController();
  readonly #opts: StageOptions;

  constructor(opts: StageOptions) {
    this.#opts = opts;
    opts.signal.addEventListener('abort', this.stop, { once: true });
  }

  /** Ends the run after the batch in hand (an arrow: it is passed as a listener). */
  readonly stop = (): void => this.#stopped.abort();

  /** Ends the run with an error; the first one is the one `consume` throws. */
  fail(err: unknown): void {
    this.fatal ??= err;
    this.stop();
  }

  /** Counts the consumer's crashes; one that kafkajs will not restart from ends the run with its error. */
  failOnCrash(consumer: Consumer, metrics: PipelineMetrics): void {
    consumer.on(consumer.events.CRASH, (e) => {
      metrics.error('kafka');
      if (!e.payload.restart) this.fail(e.payload.error);
    });
  }

  /** A committed batch: into the run's totals and the metrics. */
  committed(
    metrics: PipelineMetrics,
    b: {
      partition: number;
      sums: BatchSums;
      edges: number;
      nextOffset: number;
      highWatermark: number;
      commitSeconds: number;
    },
  ): void {
    const { sums } = b;
    this.batches++;
    this.edges += b.edges;
    this.messages += sums.messages;
    IngestCounts.add(this.counts, sums.counts);
    for (const [k, v] of Object.entries(sums.reasons)) this.reasons[k] = (this.reasons[k] ?? 0) + v;
    metrics.batch({
      partition: b.partition,
      messages: sums.messages,
      records: sums.counts.records,
      stored: sums.counts.stored,
      malformed: sums.counts.malformed,
      nextOffset: b.nextOffset,
      highWatermark: b.highWatermark,
      commitSeconds: b.commitSeconds,
    });
  }

  /** Joins the group and handles batches until the run stops; then leaves the group and disconnects. */
  async consume(consumer: Consumer, c: StageHandlers): Promise<KafkaIngestResult> {
    const { topic, fromBeginning, idleExitMs, signal, log } = this.#opts;
    let idleTimer: NodeJS.Timeout | null = null;
    try {
      await c.open();
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning });
      await consumer.run({
        // Offsets are committed by the stages themselves, with the data they cover.
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: 1,
        eachBatch: c.eachBatch,
      });
      if (idleExitMs !== undefined) {
        const { idleFrom } = this.#opts;
        let idleSince = idleFrom === undefined ? -Infinity : Infinity;
        const open = (): void => {
          idleSince = performance.now();
        };
        idleFrom?.then(open, open);
        idleTimer = setInterval(
          () => {
            if (performance.now() - Math.max(this.lastMessageAt, idleSince) >= idleExitMs) this.stop();
          },
          Math.min(250, idleExitMs),
        );
      }
      if (!this.#stopped.signal.aborted) {
        await new Promise<void>((resolve) =>
          this.#stopped.signal.addEventListener('abort', () => resolve(), { once: true }),
        );
      }
    } finally {
      if (idleTimer !== null) clearInterval(idleTimer);
      signal.removeEventListener('abort', this.stop);
      // disconnect() waits for the batch in hand to finish (and commit), then leaves the group. It can hang in a
      // rebalance that never completes (a broker just restarted): past the deadline, go anyway. Nothing is lost:
      // every committed batch's offsets are in SQLite, and the group reassigns the partitions after its timeout.
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<'late'>((resolve) => {
        timer = setTimeout(() => resolve('late'), DISCONNECT_DEADLINE_MS);
      });
      const left = await Promise.race([
        consumer
          .disconnect()
          .then(() => 'left' as const)
          .catch((err: unknown) => {
            log.warn({ err: (err as Error).message }, 'disconnect');
            return 'left' as const;
          }),
        deadline,
      ]);
      clearTimeout(timer);
      if (left === 'late') {
        log.warn({ afterMs: DISCONNECT_DEADLINE_MS }, 'did not leave the group in time; stopping anyway');
        this.abandoned = true;
      }
      await c.close();
    }
    if (this.fatal !== null) throw this.fatal;
    const { counts, reasons, messages, batches, edges, conflicts } = this;
    return { counts, reasons, messages, batches, edges, conflicts };
  }
}
