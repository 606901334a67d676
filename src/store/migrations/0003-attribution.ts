import type { Migration } from '../migrator.js';

/**
 * Cloud inventory (AWS ENIs, security groups, VPC CIDRs, ip-ranges.json prefixes) and the derived attribution
 * table: who held an address over an edge's seen range, computed at query time (src/identity/refresh-attribution.ts)
 * so that inventory collected after the flows still attributes them.
 *
 * `address_attribution` is a cache, keyed like the edges it serves by (address, first_seen, last_seen): an edge
 * joins it once by its source and once by its destination. Triggers count inventory changes into
 * `meta.inventory_generation`; a refresh that sees a new generation recomputes the cache, otherwise it only fills
 * the keys of edges written since.
 */
export const migration0003: Migration = {
  version: 3,
  name: 'attribution',
  sql: `
CREATE TABLE cloud_enis (
  interface_id      TEXT PRIMARY KEY,
  instance_id       TEXT NOT NULL,  -- '' when not attached to an instance
  vpc_id            TEXT NOT NULL,
  subnet_id         TEXT NOT NULL,
  availability_zone TEXT NOT NULL,
  owner_id          TEXT NOT NULL,
  interface_type    TEXT NOT NULL,
  description       TEXT NOT NULL,
  status            TEXT NOT NULL,
  security_groups   TEXT NOT NULL,  -- JSON [{groupId, groupName}], sorted by id
  prefixes          TEXT NOT NULL,  -- JSON [cidr]: delegated prefixes (VPC CNI prefix mode)
  imported_at       REAL NOT NULL
) STRICT;

-- One row per private address of an ENI (primary, secondary, IPv6), for IP lookups; rewritten with the ENI.
CREATE TABLE cloud_eni_addresses (
  address      TEXT NOT NULL,
  interface_id TEXT NOT NULL,
  PRIMARY KEY (address, interface_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX cloud_eni_addresses_eni ON cloud_eni_addresses (interface_id);

CREATE TABLE cloud_security_groups (
  group_id    TEXT PRIMARY KEY,
  group_name  TEXT NOT NULL,
  vpc_id      TEXT NOT NULL,
  owner_id    TEXT NOT NULL,
  description TEXT NOT NULL,
  ingress     TEXT NOT NULL,  -- JSON IpPermissions as the API returns them
  egress      TEXT NOT NULL,  -- JSON IpPermissionsEgress
  imported_at REAL NOT NULL
) STRICT;

CREATE TABLE vpc_cidrs (
  cidr   TEXT NOT NULL,  -- canonical
  vpc_id TEXT NOT NULL,
  origin TEXT NOT NULL,  -- vpc | subnet
  PRIMARY KEY (cidr, vpc_id, origin)
) STRICT, WITHOUT ROWID;

-- AWS ip-ranges.json, replaced as a whole on import.
CREATE TABLE cloud_prefixes (
  cidr                 TEXT NOT NULL,
  service              TEXT NOT NULL,
  region               TEXT NOT NULL,
  network_border_group TEXT NOT NULL,
  PRIMARY KEY (cidr, service, region, network_border_group)
) STRICT, WITHOUT ROWID;

CREATE TABLE address_attribution (
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
  candidates      TEXT    NOT NULL,  -- JSON [{namespace, pod, workload, hostNetwork}] for node / ambiguous
  interface_id    TEXT    NOT NULL,
  instance_id     TEXT    NOT NULL,
  security_groups TEXT    NOT NULL,  -- JSON [groupId]
  dst_class       TEXT    NOT NULL,  -- DESTINATION_CLASSES
  dst_name        TEXT    NOT NULL,  -- workload, service, node, instance or "SERVICE region" by class
  PRIMARY KEY (addr, first_seen, last_seen)
) STRICT, WITHOUT ROWID;

-- Candidate pods of a node address: the leases on that node over a time range.
CREATE INDEX k8s_leases_node ON k8s_leases (node, start_time);

INSERT INTO meta (key, value) VALUES ('inventory_generation', '1') ON CONFLICT DO NOTHING;

CREATE TRIGGER k8s_leases_gen_insert AFTER INSERT ON k8s_leases BEGIN
  UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'inventory_generation';
END;
CREATE TRIGGER k8s_leases_gen_update AFTER UPDATE ON k8s_leases
  WHEN OLD.end_time IS NOT NEW.end_time OR OLD.start_time IS NOT NEW.start_time BEGIN
  UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'inventory_generation';
END;
CREATE TRIGGER k8s_leases_gen_delete AFTER DELETE ON k8s_leases BEGIN
  UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'inventory_generation';
END;
CREATE TRIGGER k8s_nodes_gen_insert AFTER INSERT ON k8s_nodes BEGIN
  UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'inventory_generation';
END;
-- A snapshot rewrites every node row; only a change of addresses or existence matters to attribution.
CREATE TRIGGER k8s_nodes_gen_update AFTER UPDATE ON k8s_nodes
  WHEN OLD.addresses IS NOT NEW.addresses OR OLD.deleted_at IS NOT NEW.deleted_at BEGIN
  UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'inventory_generation';
END;
CREATE TRIGGER k8s_services_gen_insert AFTER INSERT ON k8s_services BEGIN
  UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'inventory_generation';
END;
CREATE TRIGGER k8s_services_gen_update AFTER UPDATE ON k8s_services
  WHEN OLD.cluster_ips IS NOT NEW.cluster_ips OR OLD.deleted_at IS NOT NEW.deleted_at BEGIN
  UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'inventory_generation';
END;
CREATE TRIGGER cloud_eni_addresses_gen_insert AFTER INSERT ON cloud_eni_addresses BEGIN
  UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'inventory_generation';
END;
CREATE TRIGGER cloud_eni_addresses_gen_delete AFTER DELETE ON cloud_eni_addresses BEGIN
  UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'inventory_generation';
END;
CREATE TRIGGER cloud_enis_gen_update AFTER UPDATE ON cloud_enis
  WHEN OLD.instance_id IS NOT NEW.instance_id OR OLD.security_groups IS NOT NEW.security_groups
    OR OLD.prefixes IS NOT NEW.prefixes BEGIN
  UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'inventory_generation';
END;
CREATE TRIGGER cloud_enis_gen_insert AFTER INSERT ON cloud_enis BEGIN
  UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'inventory_generation';
END;
CREATE TRIGGER vpc_cidrs_gen_insert AFTER INSERT ON vpc_cidrs BEGIN
  UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'inventory_generation';
END;
CREATE TRIGGER vpc_cidrs_gen_delete AFTER DELETE ON vpc_cidrs BEGIN
  UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'inventory_generation';
END;
`,
};
