import type { Migration } from '../migrator.js';

/**
 * DNS answers, aggregated like edges: one row per client × asked name × record type × answer × rcode × time
 * bucket, with how often it was seen, first/last seen and the smallest TTL logged. Raw lines are not kept.
 * Absent values are '' (client, answer) so they take part in the key; `min_ttl` is NULL when no line carried one.
 *
 * Attribution asks "which names resolved to this address shortly before t", hence the partial index on the
 * answer; `query dns --name` reads by name.
 */
export const migration0004: Migration = {
  version: 4,
  name: 'dns',
  sql: `
CREATE TABLE dns_answers (
  bucket     INTEGER NOT NULL,  -- epoch seconds at the start of the time bucket (the edges' bucket width)
  client     TEXT    NOT NULL,  -- canonical IP of the asking client; '' unknown
  name       TEXT    NOT NULL,  -- the name asked for: RFC 1123, lower case, no trailing dot
  type       TEXT    NOT NULL,  -- A, AAAA, CNAME, …; the question type for an empty answer; '' unknown
  answer     TEXT    NOT NULL,  -- canonical IP, or a name for CNAME/PTR; '' none (NXDOMAIN, NODATA, CoreDNS)
  rcode      TEXT    NOT NULL,  -- NOERROR, NXDOMAIN, SERVFAIL, REFUSED, …; NODATA for NOERROR without an answer
  count      INTEGER NOT NULL,
  first_seen REAL    NOT NULL,
  last_seen  REAL    NOT NULL,
  min_ttl    INTEGER,
  sources    INTEGER NOT NULL,  -- bit mask over SOURCE_KINDS
  PRIMARY KEY (bucket, client, name, type, answer, rcode)
) STRICT, WITHOUT ROWID;

CREATE INDEX dns_answers_answer ON dns_answers (answer, last_seen) WHERE answer != '';
CREATE INDEX dns_answers_name ON dns_answers (name, bucket);
`,
};
