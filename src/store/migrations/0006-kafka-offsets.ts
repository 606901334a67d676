import type { Migration } from '../migrator.js';

/**
 * Where each Kafka partition has been read to, for `collect kafka`. The database, not the consumer group, is the
 * record of what was counted: a row is written in the same transaction as the edges of the messages it covers,
 * and a consumer seeks every partition it is assigned to `next_offset` here, whatever Kafka has committed. A
 * write names the offset it read and is refused when another consumer moved it meanwhile (a rebalance), so two
 * consumers never count the same messages.
 */
export const migration0006: Migration = {
  version: 6,
  name: 'kafka-offsets',
  sql: `
CREATE TABLE kafka_offsets (
  topic          TEXT    NOT NULL,
  partition      INTEGER NOT NULL,
  next_offset    INTEGER NOT NULL,  -- the first offset not yet stored: where a consumer resumes
  high_watermark INTEGER NOT NULL,  -- the partition's end when that batch was fetched; lag = high_watermark - next_offset
  group_id       TEXT    NOT NULL,  -- the consumer group that last wrote (informational)
  messages       INTEGER NOT NULL,  -- messages read, over all runs
  updated_at     REAL    NOT NULL,
  PRIMARY KEY (topic, partition)
) STRICT, WITHOUT ROWID;
`,
};
