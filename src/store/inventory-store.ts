import type Database from 'better-sqlite3';
import type {
  InventoryChange,
  Lease,
  LeaseOp,
  NamedPort,
  NamespaceRecord,
  NodeRecord,
  OpenLease,
  PodRecord,
  ServiceRecord,
  Workload,
} from '../model/workload.js';
import { writeTransaction } from './write-transaction.js';

/** One workload seen in the lease history. */
export interface WorkloadSummary {
  readonly workload: Workload;
  /** Distinct pods that held an IP. */
  readonly pods: number;
  readonly leases: number;
  /** Leases still held. */
  readonly openLeases: number;
  readonly firstSeen: number;
  /** End of the latest closed lease, or null when a lease is still open. */
  readonly lastSeen: number | null;
  /** Labels of the most recently started lease. */
  readonly labels: Readonly<Record<string, string>>;
}

/** A `k8s_leases` row as SQLite returns it; `toLease` turns it into the model type. */
export interface LeaseRow {
  cluster: string;
  ip: string;
  pod_uid: string;
  namespace: string;
  pod_name: string;
  workload_kind: string;
  workload_name: string;
  node: string;
  host_network: number;
  labels: string;
  start_time: number;
  end_time: number | null;
  ports: string;
  pod_deleted_at: number | null;
}

/**
 * The Kubernetes inventory in SQLite: lease history plus nodes, services and namespaces. Takes the `Store`'s
 * connection (migration 0002 has run) and prepares every statement once.
 */
export class InventoryStore {
  readonly #openLease: Database.Statement;
  readonly #closeLease: Database.Statement;
  readonly #fillPorts: Database.Statement;
  readonly #setDeletedAt: Database.Statement;
  readonly #openLeases: Database.Statement;
  readonly #leasesAt: Database.Statement;
  readonly #leasesOf: Database.Statement;
  readonly #workloads: Database.Statement;
  readonly #lastAt: Database.Statement;
  readonly #setLastAt: Database.Statement;
  readonly #upsertNode: Database.Statement;
  readonly #clearNodeAddresses: Database.Statement;
  readonly #insertNodeAddress: Database.Statement;
  readonly #deleteNode: Database.Statement;
  readonly #goneNodes: Database.Statement;
  readonly #upsertService: Database.Statement;
  readonly #deleteService: Database.Statement;
  readonly #goneServices: Database.Statement;
  readonly #goneServicesIn: Database.Statement;
  readonly #upsertNamespace: Database.Statement;
  readonly #deleteNamespace: Database.Statement;
  readonly #goneNamespaces: Database.Statement;
  readonly #record: (cluster: string, changes: readonly InventoryChange[], ops: readonly LeaseOp[]) => void;

  constructor(db: Database.Database) {
    // A pod listed as running with the lease's start again never ended (a pod's uid is never reused): the lease was
    // closed by a listing that missed it, such as an empty snapshot imported with --allow-empty. It is reopened,
    // unless another pod took the address since: then it ended when that one started (a lingering terminating pod
    // still listed with the address), and reopening it would give the later holder's traffic to it.
    this.#openLease = db.prepare(`
      INSERT INTO k8s_leases (cluster, ip, pod_uid, namespace, pod_name, workload_kind, workload_name, node,
                              host_network, labels, start_time, end_time, ports)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT DO UPDATE SET end_time = NULL
      WHERE excluded.end_time IS NULL AND k8s_leases.end_time IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM k8s_leases o
                        WHERE o.cluster = k8s_leases.cluster AND o.ip = k8s_leases.ip
                          AND o.pod_uid != k8s_leases.pod_uid AND o.host_network = 0
                          AND o.start_time >= k8s_leases.start_time)`);
    // A close never moves an end later: a lease whose reopening was refused above stays ended where it was.
    this.#closeLease = db.prepare(`
      UPDATE k8s_leases SET end_time = @end
      WHERE cluster = @cluster AND pod_uid = @podUid AND ip = @ip AND start_time = @start
        AND (end_time IS NULL OR end_time > @end)`);
    // Leases opened before migration 0012 have no ports; a pod's ports never change, so any view of it fills them.
    this.#fillPorts = db.prepare(
      "UPDATE k8s_leases SET ports = ? WHERE cluster = ? AND pod_uid = ? AND ports = '[]'",
    );
    // A pod's deletionTimestamp, once set, can only move earlier (ObjectMeta in the API reference): the latest view
    // is the one to keep. Only a change is written, so a pod terminating over many snapshots costs one write.
    this.#setDeletedAt = db.prepare(`
      UPDATE k8s_leases SET pod_deleted_at = ?
      WHERE cluster = ? AND pod_uid = ? AND end_time IS NULL AND pod_deleted_at IS NOT ?`);
    this.#openLeases = db.prepare(
      'SELECT * FROM k8s_leases WHERE cluster = ? AND end_time IS NULL ORDER BY start_time, pod_uid, ip',
    );
    // Leases are half-open [start, end): a flow at the very instant an IP changes hands belongs to the new holder.
    this.#leasesAt = db.prepare(`
      SELECT * FROM k8s_leases
      WHERE ip = ? AND start_time <= ? AND (end_time IS NULL OR end_time > ?)
      ORDER BY cluster, start_time, pod_uid`);
    this.#leasesOf = db.prepare(
      'SELECT * FROM k8s_leases WHERE ip = ? ORDER BY cluster, start_time, pod_uid',
    );
    // SQLite's bare columns with MAX(): `labels` comes from the row with the latest start.
    this.#workloads = db.prepare(`
      SELECT cluster, namespace, workload_kind, workload_name,
             COUNT(DISTINCT pod_uid) AS pods, COUNT(*) AS leases, SUM(end_time IS NULL) AS open_leases,
             MIN(start_time) AS first_seen,
             CASE WHEN SUM(end_time IS NULL) > 0 THEN NULL ELSE MAX(end_time) END AS last_seen,
             MAX(start_time) AS latest_start, labels
      FROM k8s_leases
      GROUP BY cluster, namespace, workload_kind, workload_name
      ORDER BY cluster, namespace, workload_kind, workload_name`);
    this.#lastAt = db.prepare('SELECT last_at FROM k8s_inventory WHERE cluster = ?');
    this.#setLastAt = db.prepare(`
      INSERT INTO k8s_inventory (cluster, last_at) VALUES (?, ?)
      ON CONFLICT DO UPDATE SET last_at = MAX(last_at, excluded.last_at)`);
    this.#upsertNode = db.prepare(`
      INSERT INTO k8s_nodes (cluster, name, uid, addresses, pod_cidrs, labels, created_at, first_seen, last_seen)
      VALUES (@cluster, @name, @uid, @addresses, @podCidrs, @labels, @createdAt, @at, @at)
      ON CONFLICT DO UPDATE SET uid = excluded.uid, addresses = excluded.addresses, pod_cidrs = excluded.pod_cidrs,
        labels = excluded.labels, created_at = excluded.created_at, last_seen = MAX(last_seen, excluded.last_seen),
        deleted_at = NULL`);
    this.#clearNodeAddresses = db.prepare('DELETE FROM k8s_node_addresses WHERE cluster = ? AND node = ?');
    this.#insertNodeAddress = db.prepare(
      'INSERT OR IGNORE INTO k8s_node_addresses (cluster, address, node, type) VALUES (?, ?, ?, ?)',
    );
    this.#deleteNode = db.prepare(
      'UPDATE k8s_nodes SET deleted_at = ? WHERE cluster = ? AND name = ? AND deleted_at IS NULL',
    );
    this.#goneNodes = db.prepare(
      'UPDATE k8s_nodes SET deleted_at = ? WHERE cluster = ? AND deleted_at IS NULL AND last_seen < ?',
    );
    this.#upsertService = db.prepare(`
      INSERT INTO k8s_services (cluster, namespace, name, uid, type, cluster_ips, external_name, selector, ports,
                                created_at, first_seen, last_seen)
      VALUES (@cluster, @namespace, @name, @uid, @type, @clusterIps, @externalName, @selector, @ports, @createdAt,
              @at, @at)
      ON CONFLICT DO UPDATE SET uid = excluded.uid, type = excluded.type, cluster_ips = excluded.cluster_ips,
        external_name = excluded.external_name, selector = excluded.selector, ports = excluded.ports,
        created_at = excluded.created_at, last_seen = MAX(last_seen, excluded.last_seen), deleted_at = NULL`);
    this.#deleteService = db.prepare(
      'UPDATE k8s_services SET deleted_at = ? WHERE cluster = ? AND namespace = ? AND name = ? AND deleted_at IS NULL',
    );
    this.#goneServices = db.prepare(
      'UPDATE k8s_services SET deleted_at = ? WHERE cluster = ? AND deleted_at IS NULL AND last_seen < ?',
    );
    this.#goneServicesIn = db.prepare(`
      UPDATE k8s_services SET deleted_at = ?
      WHERE cluster = ? AND deleted_at IS NULL AND last_seen < ? AND namespace IN (SELECT value FROM json_each(?))`);
    this.#upsertNamespace = db.prepare(`
      INSERT INTO k8s_namespaces (cluster, name, uid, labels, created_at, first_seen, last_seen)
      VALUES (@cluster, @name, @uid, @labels, @createdAt, @at, @at)
      ON CONFLICT DO UPDATE SET uid = excluded.uid, labels = excluded.labels, created_at = excluded.created_at,
        last_seen = MAX(last_seen, excluded.last_seen), deleted_at = NULL`);
    this.#deleteNamespace = db.prepare(
      'UPDATE k8s_namespaces SET deleted_at = ? WHERE cluster = ? AND name = ? AND deleted_at IS NULL',
    );
    this.#goneNamespaces = db.prepare(
      'UPDATE k8s_namespaces SET deleted_at = ? WHERE cluster = ? AND deleted_at IS NULL AND last_seen < ?',
    );

    this.#record = writeTransaction(
      db,
      (cluster: string, changes: readonly InventoryChange[], ops: readonly LeaseOp[]) => {
        for (const op of ops) {
          if (op.op === 'open') {
            const l = op.lease;
            this.#openLease.run(
              cluster,
              l.ip,
              l.podUid,
              l.namespace,
              l.podName,
              l.workload.kind,
              l.workload.name,
              l.node,
              l.hostNetwork ? 1 : 0,
              JSON.stringify(l.labels),
              l.start,
              l.end,
              JSON.stringify(l.ports),
            );
          } else {
            this.#closeLease.run({ end: op.end, cluster, podUid: op.podUid, ip: op.ip, start: op.start });
          }
        }
        let latest: number | null = null;
        for (const c of changes) {
          this.#applyChange(cluster, c);
          if (latest === null || c.at > latest) latest = c.at;
        }
        if (latest !== null) this.#setLastAt.run(cluster, latest);
      },
    );
  }

  /**
   * Writes one inventory view in one transaction: the lease opens and closes computed from it (src/identity/
   * lease-history.ts) and the nodes, services and namespaces it carries. Pod changes are stored as leases only; a
   * pod's view also gives its ports to its leases stored without them, and its deletion time to its open leases.
   */
  record(cluster: string, changes: readonly InventoryChange[], ops: readonly LeaseOp[]): void {
    this.#record(cluster, changes, ops);
  }

  /** The time of the latest stored view of `cluster`, or null before the first one. */
  lastAt(cluster: string): number | null {
    const r = this.#lastAt.get(cluster) as { last_at: number } | undefined;
    return r === undefined ? null : r.last_at;
  }

  /** Leases still held in `cluster`: what a restarted collector (and every snapshot import) resumes from. */
  openLeases(cluster: string): OpenLease[] {
    return (this.#openLeases.all(cluster) as LeaseRow[]).map((r) => ({
      ...toLease(r),
      podDeletedAt: r.pod_deleted_at,
    }));
  }

  /**
   * Every lease of `ip` covering time `t` (half-open [start, end)). More than one means host-network pods (they
   * share the node's address) or several clusters; none means the IP was no pod's at that time.
   */
  leasesAt(ip: string, t: number): Lease[] {
    return (this.#leasesAt.all(ip, t, t) as LeaseRow[]).map(toLease);
  }

  /** The whole history of one IP, oldest first. */
  leasesOf(ip: string): Lease[] {
    return (this.#leasesOf.all(ip) as LeaseRow[]).map(toLease);
  }

  /** Every workload that ever held an IP, sorted by cluster, namespace, kind, name. */
  workloads(): WorkloadSummary[] {
    const rows = this.#workloads.all() as {
      cluster: string;
      namespace: string;
      workload_kind: string;
      workload_name: string;
      pods: number;
      leases: number;
      open_leases: number;
      first_seen: number;
      last_seen: number | null;
      labels: string;
    }[];
    return rows.map((r) => ({
      workload: { cluster: r.cluster, namespace: r.namespace, kind: r.workload_kind, name: r.workload_name },
      pods: r.pods,
      leases: r.leases,
      openLeases: r.open_leases,
      firstSeen: r.first_seen,
      lastSeen: r.last_seen,
      labels: JSON.parse(r.labels) as Record<string, string>,
    }));
  }

  #applyChange(cluster: string, c: InventoryChange): void {
    switch (c.resource) {
      case 'pods':
        if (c.op === 'replace') for (const p of c.items) this.#putPod(cluster, p);
        else if (c.op === 'upsert') this.#putPod(cluster, c.item);
        return;
      case 'nodes':
        if (c.op === 'replace') {
          for (const n of c.items) this.#putNode(cluster, n, c.at);
          this.#goneNodes.run(c.at, cluster, c.at);
        } else if (c.op === 'upsert') this.#putNode(cluster, c.item, c.at);
        else this.#deleteNode.run(c.at, cluster, c.item.name);
        return;
      case 'services':
        if (c.op === 'replace') {
          for (const s of c.items) this.#putService(cluster, s, c.at);
          if (c.namespaces === undefined) this.#goneServices.run(c.at, cluster, c.at);
          else this.#goneServicesIn.run(c.at, cluster, c.at, JSON.stringify(c.namespaces));
        } else if (c.op === 'upsert') this.#putService(cluster, c.item, c.at);
        else this.#deleteService.run(c.at, cluster, c.item.namespace, c.item.name);
        return;
      case 'namespaces':
        if (c.op === 'replace') {
          for (const n of c.items) this.#putNamespace(cluster, n, c.at);
          this.#goneNamespaces.run(c.at, cluster, c.at);
        } else if (c.op === 'upsert') this.#putNamespace(cluster, c.item, c.at);
        else this.#deleteNamespace.run(c.at, cluster, c.item.name);
        return;
    }
  }

  #putNode(cluster: string, n: NodeRecord, at: number): void {
    this.#upsertNode.run({
      cluster,
      name: n.name,
      uid: n.uid,
      addresses: JSON.stringify(n.addresses),
      podCidrs: JSON.stringify(n.podCidrs),
      labels: JSON.stringify(n.labels),
      createdAt: n.createdAt,
      at,
    });
    this.#clearNodeAddresses.run(cluster, n.name);
    for (const a of n.addresses) this.#insertNodeAddress.run(cluster, a.address, n.name, a.type);
  }

  /** What a view of a pod tells its stored leases beyond their times: its ports, and its deletion time. */
  #putPod(cluster: string, p: PodRecord): void {
    if (p.ports.length > 0) this.#fillPorts.run(JSON.stringify(p.ports), cluster, p.uid);
    if (p.deletedAt !== null) this.#setDeletedAt.run(p.deletedAt, cluster, p.uid, p.deletedAt);
  }

  #putService(cluster: string, s: ServiceRecord, at: number): void {
    this.#upsertService.run({
      cluster,
      namespace: s.namespace,
      name: s.name,
      uid: s.uid,
      type: s.type,
      clusterIps: JSON.stringify(s.clusterIps),
      externalName: s.externalName,
      selector: JSON.stringify(s.selector),
      ports: JSON.stringify(s.ports),
      createdAt: s.createdAt,
      at,
    });
  }

  #putNamespace(cluster: string, n: NamespaceRecord, at: number): void {
    this.#upsertNamespace.run({
      cluster,
      name: n.name,
      uid: n.uid,
      labels: JSON.stringify(n.labels),
      createdAt: n.createdAt,
      at,
    });
  }
}

export function toLease(r: LeaseRow): Lease {
  return {
    ip: r.ip,
    podUid: r.pod_uid,
    namespace: r.namespace,
    podName: r.pod_name,
    workload: { cluster: r.cluster, namespace: r.namespace, kind: r.workload_kind, name: r.workload_name },
    node: r.node,
    hostNetwork: r.host_network === 1,
    labels: JSON.parse(r.labels) as Record<string, string>,
    ports: JSON.parse(r.ports) as NamedPort[],
    start: r.start_time,
    end: r.end_time,
  };
}
