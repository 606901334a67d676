import type Database from 'better-sqlite3';
import type { AddressAttribution } from '../identity/attribution.js';
import type { Lease } from '../model/workload.js';
import { toLease, type LeaseRow } from './inventory-store.js';

/** What the last refresh covered: the inventory generation and the edge-write mark it saw. */
export interface AttributionState {
  readonly version: number;
  readonly generation: number;
  readonly edges: string;
}

/** One (address, seen range) key of the attribution cache. */
export interface AttributionKey {
  readonly addr: string;
  readonly first: number;
  readonly last: number;
}

export interface EniRow {
  readonly interfaceId: string;
  readonly instanceId: string;
  readonly securityGroups: readonly string[];
  readonly addresses: readonly string[];
  readonly prefixes: readonly string[];
}

/**
 * SQL of the attribution cache (migration 0003): reads of the inventory the resolver needs, the keys of edges not
 * yet attributed, and the cache writes. Used by src/identity/refresh-attribution.ts.
 */
export class AttributionStore {
  readonly #db: Database.Database;
  readonly #getMeta: Database.Statement;
  readonly #setMeta: Database.Statement;
  readonly #edgesMark: Database.Statement;
  readonly #pendingKeys: Database.Statement;
  readonly #leasesOf: Database.Statement;
  readonly #leasesOnNode: Database.Statement;
  readonly #nodeAddresses: Database.Statement;
  readonly #serviceIps: Database.Statement;
  readonly #enis: Database.Statement;
  readonly #vpcCidrs: Database.Statement;
  readonly #cloudPrefixes: Database.Statement;
  readonly #hasInventory: Database.Statement;
  readonly #hasAnyInventory: Database.Statement;
  readonly #insert: Database.Statement;
  readonly #clear: Database.Statement;
  readonly #insertMany: (rows: readonly [AttributionKey, AddressAttribution][]) => void;

  constructor(db: Database.Database) {
    this.#db = db;
    this.#getMeta = db.prepare('SELECT value FROM meta WHERE key = ?');
    this.#setMeta = db.prepare(
      'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT DO UPDATE SET value = excluded.value',
    );
    // Every edge write commits its source's checkpoint in the same transaction (src/store/store.ts), so the
    // sources table moves whenever the edges do: a cheap "have edges changed" without scanning them.
    this.#edgesMark = db.prepare(
      'SELECT COUNT(*) AS n, COALESCE(SUM(records), 0) AS r, COALESCE(MAX(updated_at), 0) AS u FROM sources',
    );
    // One pass over the edges: every distinct (address, seen range) key, by source and by destination, that the
    // cache lacks. There is deliberately no index on src_addr / dst_addr (migration 0001), so anything keyed by
    // address must not be asked per address: that rescanned every edge once per address (minutes at 40k edges).
    this.#pendingKeys = db.prepare(`
      SELECT k.addr AS addr, k.first_seen AS first, k.last_seen AS last FROM (
        SELECT src_addr AS addr, first_seen, last_seen FROM edges
        UNION
        SELECT dst_addr AS addr, first_seen, last_seen FROM edges
      ) k
      WHERE NOT EXISTS (
        SELECT 1 FROM address_attribution a
        WHERE a.addr = k.addr AND a.first_seen = k.first_seen AND a.last_seen = k.last_seen)
      ORDER BY 1, 2, 3`);
    this.#leasesOf = db.prepare(
      'SELECT * FROM k8s_leases WHERE ip = ? ORDER BY cluster, start_time, pod_uid',
    );
    this.#leasesOnNode = db.prepare(
      'SELECT * FROM k8s_leases WHERE node = ? ORDER BY start_time, pod_uid, ip',
    );
    this.#nodeAddresses = db.prepare(`
      SELECT a.address, a.node FROM k8s_node_addresses a JOIN k8s_nodes n ON n.cluster = a.cluster AND n.name = a.node
      WHERE a.type IN ('InternalIP', 'ExternalIP')
      ORDER BY n.last_seen, a.node`);
    this.#serviceIps = db.prepare(`
      SELECT j.value AS ip, s.namespace, s.name FROM k8s_services s, json_each(s.cluster_ips) j
      ORDER BY s.last_seen, s.namespace, s.name`);
    this.#enis = db.prepare(`
      SELECT e.interface_id, e.instance_id, e.security_groups, e.prefixes,
             COALESCE((SELECT json_group_array(address) FROM cloud_eni_addresses a
                       WHERE a.interface_id = e.interface_id), '[]') AS addresses
      FROM cloud_enis e ORDER BY e.interface_id`);
    this.#vpcCidrs = db.prepare('SELECT DISTINCT cidr FROM vpc_cidrs ORDER BY cidr');
    this.#cloudPrefixes = db.prepare(
      'SELECT cidr, service, region FROM cloud_prefixes ORDER BY cidr, service, region',
    );
    this.#hasInventory = db.prepare(`
      SELECT EXISTS (SELECT 1 FROM k8s_leases) OR EXISTS (SELECT 1 FROM k8s_nodes)
          OR EXISTS (SELECT 1 FROM cloud_enis) AS yes`);
    this.#hasAnyInventory = db.prepare(`
      SELECT EXISTS (SELECT 1 FROM k8s_leases) OR EXISTS (SELECT 1 FROM k8s_nodes)
          OR EXISTS (SELECT 1 FROM k8s_services) OR EXISTS (SELECT 1 FROM cloud_enis)
          OR EXISTS (SELECT 1 FROM cloud_eni_addresses) OR EXISTS (SELECT 1 FROM vpc_cidrs)
          OR EXISTS (SELECT 1 FROM cloud_prefixes) AS yes`);
    this.#insert = db.prepare(`
      INSERT OR REPLACE INTO address_attribution (addr, first_seen, last_seen, kind, reason, workload_id, cluster,
        namespace, workload_kind, workload_name, pod, node, host_network, labels, candidates, interface_id,
        instance_id, security_groups, dst_class, dst_name)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    this.#clear = db.prepare('DELETE FROM address_attribution');
    this.#insertMany = db.transaction((rows: readonly [AttributionKey, AddressAttribution][]) => {
      // One answer often serves many keys (refresh-attribution.ts): serialize it once.
      const values = new WeakMap<AddressAttribution, unknown[]>();
      for (const [k, a] of rows) {
        let v = values.get(a);
        if (v === undefined) {
          v = [
            a.kind,
            a.reason,
            a.workloadId,
            a.workload?.cluster ?? '',
            a.workload?.namespace ?? '',
            a.workload?.kind ?? '',
            a.workload?.name ?? '',
            a.pod,
            a.node,
            a.hostNetwork ? 1 : 0,
            JSON.stringify(a.labels),
            JSON.stringify(a.candidates),
            a.interfaceId,
            a.instanceId,
            JSON.stringify(a.securityGroups),
            a.dstClass,
            a.dstName,
          ];
          values.set(a, v);
        }
        this.#insert.run(k.addr, k.first, k.last, ...v);
      }
    });
  }

  get db(): Database.Database {
    return this.#db;
  }

  /** Counts inventory changes (bumped by triggers and by cloud imports). */
  generation(): number {
    const r = this.#getMeta.get('inventory_generation') as { value: string } | undefined;
    return r === undefined ? 0 : Number(r.value);
  }

  edgesMark(): string {
    const r = this.#edgesMark.get() as { n: number; r: number; u: number };
    return `${r.n}:${r.r}:${r.u}`;
  }

  state(): AttributionState | null {
    const r = this.#getMeta.get('attribution_state') as { value: string } | undefined;
    return r === undefined ? null : (JSON.parse(r.value) as AttributionState);
  }

  setState(s: AttributionState): void {
    this.#setMeta.run('attribution_state', JSON.stringify(s));
  }

  clear(): void {
    this.#clear.run();
  }

  /**
   * Every (address, seen range) key of an edge, as source or destination, not yet in the cache: sorted by address,
   * then range. One scan of the edges whatever their number of addresses.
   */
  pendingKeys(): AttributionKey[] {
    return this.#pendingKeys.all() as AttributionKey[];
  }

  leasesOf(ip: string): Lease[] {
    return (this.#leasesOf.all(ip) as LeaseRow[]).map(toLease);
  }

  leasesOnNode(node: string): Lease[] {
    return (this.#leasesOnNode.all(node) as LeaseRow[]).map(toLease);
  }

  /** InternalIP / ExternalIP → node name (the most recently seen node wins an address reused over time). */
  nodeAddresses(): Map<string, string> {
    const out = new Map<string, string>();
    for (const r of this.#nodeAddresses.all() as { address: string; node: string }[])
      out.set(r.address, r.node);
    return out;
  }

  /** ClusterIP → `namespace/name`. */
  serviceIps(): Map<string, string> {
    const out = new Map<string, string>();
    for (const r of this.#serviceIps.all() as { ip: string; namespace: string; name: string }[])
      out.set(r.ip, `${r.namespace}/${r.name}`);
    return out;
  }

  enis(): EniRow[] {
    return (
      this.#enis.all() as {
        interface_id: string;
        instance_id: string;
        security_groups: string;
        prefixes: string;
        addresses: string;
      }[]
    ).map((r) => ({
      interfaceId: r.interface_id,
      instanceId: r.instance_id,
      securityGroups: (JSON.parse(r.security_groups) as { groupId: string }[]).map((g) => g.groupId),
      addresses: JSON.parse(r.addresses) as string[],
      prefixes: JSON.parse(r.prefixes) as string[],
    }));
  }

  vpcCidrs(): string[] {
    return (this.#vpcCidrs.all() as { cidr: string }[]).map((r) => r.cidr);
  }

  cloudPrefixes(): { cidr: string; service: string; region: string }[] {
    return this.#cloudPrefixes.all() as { cidr: string; service: string; region: string }[];
  }

  hasInventory(): boolean {
    return (this.#hasInventory.get() as { yes: number }).yes === 1;
  }

  /**
   * True when any table attribution reads holds a row (leases, nodes, services, ENIs, VPC CIDRs, cloud prefixes).
   * Without any, every address resolves from its text alone (src/store/flow-query.ts answers it without the cache).
   */
  hasAnyInventory(): boolean {
    return (this.#hasAnyInventory.get() as { yes: number }).yes === 1;
  }

  /** Writes cache rows in one transaction. */
  insert(rows: readonly [AttributionKey, AddressAttribution][]): void {
    this.#insertMany(rows);
  }
}
