import type { Migration } from '../migrator.js';

/**
 * The Kubernetes inventory: lease history (which pod held which IP when) and the current-and-past nodes,
 * services and namespaces. Key columns are '' rather than NULL (NULLs are distinct in a unique key); only
 * `end_time` / `deleted_at` are NULL, meaning "still held" / "still there".
 */
export const migration0002: Migration = {
  version: 2,
  name: 'inventory',
  sql: `
CREATE TABLE k8s_leases (
  cluster       TEXT    NOT NULL,  -- '' when one cluster is collected
  ip            TEXT    NOT NULL,  -- canonical text (src/model/ip.ts)
  pod_uid       TEXT    NOT NULL,
  namespace     TEXT    NOT NULL,
  pod_name      TEXT    NOT NULL,
  workload_kind TEXT    NOT NULL,  -- after owner resolution: Deployment, StatefulSet, DaemonSet, CronJob, Job, Pod, …
  workload_name TEXT    NOT NULL,
  node          TEXT    NOT NULL,  -- '' unscheduled
  host_network  INTEGER NOT NULL,  -- 1: the IP is the node's, shared; never exclusive
  labels        TEXT    NOT NULL,  -- JSON object, keys sorted, churn labels removed
  start_time    REAL    NOT NULL,  -- epoch seconds
  end_time      REAL,              -- NULL while held
  PRIMARY KEY (cluster, pod_uid, ip, start_time)
) STRICT;
CREATE INDEX k8s_leases_ip ON k8s_leases (ip, start_time);
CREATE INDEX k8s_leases_open ON k8s_leases (cluster) WHERE end_time IS NULL;
CREATE INDEX k8s_leases_workload ON k8s_leases (cluster, namespace, workload_kind, workload_name);

CREATE TABLE k8s_nodes (
  cluster     TEXT NOT NULL,
  name        TEXT NOT NULL,
  uid         TEXT NOT NULL,
  addresses   TEXT NOT NULL,  -- JSON [{type, address}]
  pod_cidrs   TEXT NOT NULL,  -- JSON [cidr]
  labels      TEXT NOT NULL,  -- JSON object
  created_at  REAL,
  first_seen  REAL NOT NULL,
  last_seen   REAL NOT NULL,
  deleted_at  REAL,
  PRIMARY KEY (cluster, name)
) STRICT;

-- One row per node address, for IP lookups; rewritten with the node.
CREATE TABLE k8s_node_addresses (
  cluster TEXT NOT NULL,
  address TEXT NOT NULL,
  node    TEXT NOT NULL,
  type    TEXT NOT NULL,
  PRIMARY KEY (cluster, address, node, type)
) STRICT, WITHOUT ROWID;
CREATE INDEX k8s_node_addresses_node ON k8s_node_addresses (cluster, node);

CREATE TABLE k8s_services (
  cluster       TEXT NOT NULL,
  namespace     TEXT NOT NULL,
  name          TEXT NOT NULL,
  uid           TEXT NOT NULL,
  type          TEXT NOT NULL,
  cluster_ips   TEXT NOT NULL,  -- JSON [ip]; [] for headless and ExternalName
  external_name TEXT NOT NULL,
  selector      TEXT NOT NULL,  -- JSON object
  created_at    REAL,
  first_seen    REAL NOT NULL,
  last_seen     REAL NOT NULL,
  deleted_at    REAL,
  PRIMARY KEY (cluster, namespace, name)
) STRICT;

CREATE TABLE k8s_namespaces (
  cluster    TEXT NOT NULL,
  name       TEXT NOT NULL,
  uid        TEXT NOT NULL,
  labels     TEXT NOT NULL,  -- JSON object
  created_at REAL,
  first_seen REAL NOT NULL,
  last_seen  REAL NOT NULL,
  deleted_at REAL,
  PRIMARY KEY (cluster, name)
) STRICT;

-- The time of the latest inventory view per cluster: snapshots must be imported in time order.
CREATE TABLE k8s_inventory (
  cluster TEXT PRIMARY KEY,
  last_at REAL NOT NULL
) STRICT;
`,
};
