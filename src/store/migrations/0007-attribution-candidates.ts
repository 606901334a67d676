import type { Migration } from '../migrator.js';

/**
 * Stores each list of candidate pods once. A node address gets one cache row per edge range, and each row used
 * to carry every pod that ran on the node over that range: about 2.5 KB a row. At 700k edges that made 1.4 GB
 * of cache, most of the time of a full refresh went into writing it, and the fat rows slowed every later
 * lookup in the cache. Neighbouring ranges almost always have the same pods, so the lists now go into
 * `attribution_candidates`, stored once each and referenced by id.
 *
 * `address_attribution` is now a view with the same columns as before, so queries that join it do not change.
 * SQLite flattens it into the join and still uses the cache's primary key. The candidate list is read by a
 * primary-key lookup, and only when a query asks for it.
 *
 * The old cache is dropped, and the refresh state with it, so the next refresh recomputes everything.
 *
 * An address listed by two ENIs now goes to the one imported last (src/identity/refresh-attribution.ts), so a
 * re-import that changes nothing but the import time changes attribution when the ENI shares an address; the
 * trigger counts that as an inventory change.
 */
export const migration0007: Migration = {
  version: 7,
  name: 'attribution-candidates',
  sql: `
DROP TABLE address_attribution;
DELETE FROM meta WHERE key = 'attribution_state';

CREATE TABLE attribution_candidates (
  id         INTEGER PRIMARY KEY,  -- > 0; 0 in attribution_cache means []
  digest     TEXT NOT NULL UNIQUE, -- of the JSON, to find an existing list without comparing kilobytes
  candidates TEXT NOT NULL         -- JSON [{namespace, pod, workload, hostNetwork}]
) STRICT;

CREATE TABLE attribution_cache (
  addr            TEXT    NOT NULL,
  first_seen      REAL    NOT NULL,
  last_seen       REAL    NOT NULL,
  kind            TEXT    NOT NULL,  -- SOURCE_OUTCOMES: workload | node | ambiguous | instance | unknown
  reason          TEXT    NOT NULL,  -- ATTRIBUTION_REASONS; '' when exact
  workload_id     TEXT    NOT NULL,  -- grouping key: namespace/Kind/name, node/<name>, instance/<id>, unattributed
  cluster         TEXT    NOT NULL,
  namespace       TEXT    NOT NULL,
  workload_kind   TEXT    NOT NULL,
  workload_name   TEXT    NOT NULL,
  pod             TEXT    NOT NULL,  -- the one pod when a single pod held it; '' otherwise
  node            TEXT    NOT NULL,
  host_network    INTEGER NOT NULL,
  labels          TEXT    NOT NULL,  -- JSON object: the pod's labels (from its lease)
  candidates_id   INTEGER NOT NULL,  -- attribution_candidates.id; 0: no candidates
  interface_id    TEXT    NOT NULL,
  instance_id     TEXT    NOT NULL,
  security_groups TEXT    NOT NULL,  -- JSON [groupId]
  dst_class       TEXT    NOT NULL,  -- DESTINATION_CLASSES
  dst_name        TEXT    NOT NULL,  -- workload, service, node, instance or "SERVICE region" by class
  PRIMARY KEY (addr, first_seen, last_seen)
) STRICT, WITHOUT ROWID;

CREATE VIEW address_attribution AS
SELECT a.addr, a.first_seen, a.last_seen, a.kind, a.reason, a.workload_id, a.cluster, a.namespace, a.workload_kind,
       a.workload_name, a.pod, a.node, a.host_network, a.labels,
       CASE WHEN a.candidates_id = 0 THEN '[]'
            ELSE (SELECT c.candidates FROM attribution_candidates c WHERE c.id = a.candidates_id) END AS candidates,
       a.interface_id, a.instance_id, a.security_groups, a.dst_class, a.dst_name
FROM attribution_cache a;

CREATE TRIGGER cloud_enis_gen_reimport AFTER UPDATE ON cloud_enis
  WHEN OLD.imported_at IS NOT NEW.imported_at AND EXISTS (
    SELECT 1 FROM cloud_eni_addresses a JOIN cloud_eni_addresses b ON b.address = a.address
    WHERE a.interface_id = NEW.interface_id AND b.interface_id != NEW.interface_id) BEGIN
  UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'inventory_generation';
END;
`,
};
