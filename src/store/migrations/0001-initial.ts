import type { Migration } from '../migrator.js';

/**
 * Edges are the aggregate kept instead of raw lines: one row per source address × destination × port ×
 * protocol × action × direction × time bucket. Absent values are '' or 0, not NULL, because NULLs are all
 * distinct in a primary key and would defeat the upsert that aggregates.
 */
export const migration0001: Migration = {
  version: 1,
  name: 'initial',
  sql: `
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) STRICT;

CREATE TABLE edges (
  bucket      INTEGER NOT NULL,  -- epoch seconds at the start of the time bucket
  src_addr    TEXT    NOT NULL,  -- canonical IP of the side that opened the conversation; '' unknown
  dst_addr    TEXT    NOT NULL,  -- canonical IP of the side that answered; '' unknown (proxy without peer)
  dst_host    TEXT    NOT NULL,  -- host name from a proxy log; '' none
  dst_port    INTEGER NOT NULL,  -- 0 when the protocol has no ports
  protocol    INTEGER NOT NULL,  -- IANA number
  action      TEXT    NOT NULL,  -- accept | reject
  direction   TEXT    NOT NULL,  -- egress | ingress, seen from the observing side
  flows       INTEGER NOT NULL,  -- records of the opening half (and proxy requests)
  replies     INTEGER NOT NULL,  -- records of the reply half, folded into this edge
  packets_out INTEGER NOT NULL,
  bytes_out   INTEGER NOT NULL,
  packets_in  INTEGER NOT NULL,
  bytes_in    INTEGER NOT NULL,
  first_seen  REAL    NOT NULL,
  last_seen   REAL    NOT NULL,
  sources     INTEGER NOT NULL,  -- bit mask over SOURCE_KINDS
  PRIMARY KEY (bucket, src_addr, dst_addr, dst_host, dst_port, protocol, action, direction)
) STRICT, WITHOUT ROWID;

-- Deliberately no index on src_addr or dst_addr: every new edge would insert at a random place in each, and
-- that tripled the cost of ingest. Rows are in bucket order, so time windows use the primary key; address and
-- CIDR filters scan within the window. Host names come only from proxy logs, few enough to index.
CREATE INDEX edges_host ON edges (dst_host, bucket) WHERE dst_host != '';

-- One row per input source, keyed by content fingerprint: the checkpoint that makes ingest idempotent.
CREATE TABLE sources (
  source_id    TEXT    PRIMARY KEY,
  fingerprint_len INTEGER NOT NULL, -- leading decompressed bytes source_id hashes (< 4096: a small file)
  kind         TEXT    NOT NULL,
  name         TEXT    NOT NULL,
  line_no      INTEGER NOT NULL,  -- last line whose data is stored
  byte_offset  INTEGER NOT NULL,  -- just past that line, in the decompressed stream
  done         INTEGER NOT NULL,
  parser_state TEXT,
  records      INTEGER NOT NULL,
  stored       INTEGER NOT NULL,
  skipped      INTEGER NOT NULL,
  malformed    INTEGER NOT NULL,
  first_time   REAL,              -- earliest record time seen in this source
  last_time    REAL,
  started_at   REAL    NOT NULL,
  updated_at   REAL    NOT NULL
) STRICT;

CREATE TABLE quarantine (
  source_id   TEXT    NOT NULL,
  line_no     INTEGER NOT NULL,
  source_name TEXT    NOT NULL,
  kind        TEXT    NOT NULL,
  reason      TEXT    NOT NULL,
  raw         TEXT    NOT NULL,   -- the line, cut to a few hundred bytes
  at          REAL    NOT NULL,
  PRIMARY KEY (source_id, line_no)
) STRICT;
CREATE INDEX quarantine_reason ON quarantine (reason);
`,
};
