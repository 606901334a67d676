import type Database from 'better-sqlite3';
import type { Store } from './store.js';

/** How far one Kafka partition is stored (see migration 0006). */
export interface KafkaPartitionState {
  readonly topic: string;
  readonly partition: number;
  /** The first offset whose data is not stored: where a consumer resumes. */
  readonly nextOffset: number;
  /** The partition's end offset when the last batch was fetched. */
  readonly highWatermark: number;
  readonly groupId: string;
  readonly messages: number;
  readonly updatedAt: number;
}

/** One partition's progress as a batch commits it. */
export interface KafkaOffsetWrite {
  readonly topic: string;
  readonly partition: number;
  readonly nextOffset: number;
  readonly highWatermark: number;
  readonly groupId: string;
  /** Messages this batch covers (added to the stored count). */
  readonly messages: number;
}

interface Row {
  topic: string;
  partition: number;
  next_offset: number;
  high_watermark: number;
  group_id: string;
  messages: number;
  updated_at: number;
}

const toState = (r: Row): KafkaPartitionState => ({
  topic: r.topic,
  partition: r.partition,
  nextOffset: r.next_offset,
  highWatermark: r.high_watermark,
  groupId: r.group_id,
  messages: r.messages,
  updatedAt: r.updated_at,
});

/**
 * The `kafka_offsets` table. `write` runs inside `Store.writeBatch`'s transaction (its `extra`), so a partition's
 * offset moves exactly when the edges of its messages are stored.
 */
export class KafkaOffsetStore {
  readonly #get: Database.Statement;
  readonly #ofTopic: Database.Statement;
  readonly #upsert: Database.Statement;
  readonly #now: () => number;

  constructor(store: Store, now: () => number = () => Date.now() / 1000) {
    this.#now = now;
    this.#get = store.db.prepare('SELECT * FROM kafka_offsets WHERE topic = ? AND partition = ?');
    this.#ofTopic = store.db.prepare('SELECT * FROM kafka_offsets WHERE topic = ? ORDER BY partition');
    this.#upsert = store.db.prepare(`
      INSERT INTO kafka_offsets (topic, partition, next_offset, high_watermark, group_id, messages, updated_at)
      VALUES (@topic, @partition, @nextOffset, @highWatermark, @groupId, @messages, @now)
      ON CONFLICT DO UPDATE SET
        next_offset = excluded.next_offset,
        high_watermark = excluded.high_watermark,
        group_id = excluded.group_id,
        messages = messages + excluded.messages,
        updated_at = excluded.updated_at`);
  }

  get(topic: string, partition: number): KafkaPartitionState | null {
    const r = this.#get.get(topic, partition) as Row | undefined;
    return r === undefined ? null : toState(r);
  }

  ofTopic(topic: string): KafkaPartitionState[] {
    return (this.#ofTopic.all(topic) as Row[]).map(toState);
  }

  /** Call inside the batch's transaction. */
  write(w: KafkaOffsetWrite): void {
    this.#upsert.run({ ...w, now: this.#now() });
  }
}

/** Every partition ever read, by topic and partition: the Kafka part of `query ingest-status`. */
export function listKafkaPartitions(db: Database.Database): KafkaPartitionState[] {
  const exists = db
    .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'kafka_offsets'")
    .get();
  if (exists === undefined) return [];
  return (db.prepare('SELECT * FROM kafka_offsets ORDER BY topic, partition').all() as Row[]).map(toState);
}
