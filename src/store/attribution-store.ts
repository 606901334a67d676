import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';
import type { AddressAttribution, Candidate, ServiceSpan } from '../identity/attribution.js';
import type { Lease } from '../model/workload.js';
import { toLease, type LeaseRow } from './inventory-store.js';
import { writeTransaction } from './write-transaction.js';

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

/** One write of the cache: answers for single keys, and answers that hold for every pending key of an address. */
export interface AttributionWrite {
  readonly keys: readonly (readonly [AttributionKey, AddressAttribution])[];
  readonly addresses: readonly (readonly [string, AddressAttribution])[];
}

/** An address with keys the cache lacks. */
export interface PendingAddress {
  readonly addr: string;
  readonly keys: number;
}

export interface EniRow {
  readonly interfaceId: string;
  readonly instanceId: string;
  readonly securityGroups: readonly string[];
  readonly prefixes: readonly string[];
}

/** Who held an ENI address from `since` on (migration 0015); `interfaceId` '' when it was let go. */
export interface AddressHolder {
  readonly since: number;
  readonly interfaceId: string;
  readonly instanceId: string;
  readonly securityGroups: readonly string[];
}

/** The tables a refresh writes, in the order a read-only connection shadows them (see {@link shadowAttributionTables}). */
const CACHE_TABLES = ['meta', 'attribution_cache', 'attribution_candidates'] as const;

/**
 * SQL of the attribution cache (migrations 0003 and 0007): reads of the inventory the resolver needs, the keys of
 * edges not yet attributed, and the cache writes. Used by src/identity/refresh-attribution.ts.
 *
 * The keys of the edges are gathered once per refresh into a TEMP table (`attribution_keys`). Pending addresses
 * are read from it in pages and their keys address by address; rows of the cache that no edge has any more are
 * found against it.
 */
export class AttributionStore {
  readonly #db: Database.Database;
  readonly #getMeta: Database.Statement;
  readonly #setMeta: Database.Statement;
  readonly #edgesMark: Database.Statement;
  readonly #leasesOf: Database.Statement;
  readonly #leasesOnNode: Database.Statement;
  readonly #nodeAddresses: Database.Statement;
  readonly #serviceSpans: Database.Statement;
  readonly #enis: Database.Statement;
  readonly #addressHolders: Database.Statement;
  readonly #vpcCidrs: Database.Statement;
  readonly #cloudPrefixes: Database.Statement;
  readonly #hasInventory: Database.Statement;
  readonly #hasAnyInventory: Database.Statement;
  readonly #insert: Database.Statement;
  readonly #candidatesByDigest: Database.Statement;
  readonly #insertCandidates: Database.Statement;
  readonly #write: (w: AttributionWrite) => void;
  #keys: KeyStatements | null = null;
  /** Row values of an answer; one answer often serves many keys (refresh-attribution.ts). */
  readonly #values = new WeakMap<AddressAttribution, unknown[]>();
  /** Candidate list → its id in `attribution_candidates`; the resolver hands out one list for many keys. */
  readonly #candidateIds = new WeakMap<readonly Candidate[], number>();
  /** JSON of label objects and group lists, which leases and ENIs share between all keys of an address. */
  readonly #json = new WeakMap<object, string>();

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
    // A Service holds its ClusterIP from its creation (the first sighting when the API gave no creationTimestamp,
    // or an earlier sighting than it claims) until it was deleted or found gone.
    this.#serviceSpans = db.prepare(`
      SELECT j.value AS ip, s.namespace || '/' || s.name AS name,
             COALESCE(MIN(s.created_at, s.first_seen), s.first_seen) AS since, s.deleted_at AS until
      FROM k8s_services s, json_each(s.cluster_ips) j
      ORDER BY 1, 3, 2`);
    // Oldest import first: the caller lets a later one override (delegated prefixes that moved between ENIs).
    this.#enis = db.prepare(`
      SELECT interface_id, instance_id, security_groups, prefixes
      FROM cloud_enis ORDER BY imported_at, interface_id`);
    this.#addressHolders = db.prepare(`
      SELECT address, since, interface_id, instance_id, security_groups
      FROM cloud_address_holders ORDER BY address, since`);
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
      INSERT OR REPLACE INTO attribution_cache (addr, first_seen, last_seen, kind, reason, workload_id, cluster,
        namespace, workload_kind, workload_name, pod, node, host_network, labels, candidates_id, interface_id,
        instance_id, security_groups, dst_class, dst_name)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    this.#candidatesByDigest = db.prepare('SELECT id FROM attribution_candidates WHERE digest = ?');
    this.#insertCandidates = db.prepare(
      'INSERT INTO attribution_candidates (digest, candidates) VALUES (?, ?)',
    );
    this.#write = writeTransaction(db, (w: AttributionWrite) => {
      for (const [k, a] of w.keys) this.#insert.run(k.addr, k.first, k.last, ...this.#valuesOf(a));
      const k = this.#keyStatements();
      for (const [addr, a] of w.addresses) k.insertAddress.run(...this.#valuesOf(a), addr);
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

  /** Empties the cache, candidate lists included. */
  clear(): void {
    writeTransaction(this.#db, () => {
      this.#db.prepare('DELETE FROM attribution_cache').run();
      this.#db.prepare('DELETE FROM attribution_candidates').run();
    })();
  }

  /**
   * Gathers every distinct (address, seen range) key of the edges, as source and as destination, into the TEMP
   * key table: one scan of the edges whatever their number of addresses. Returns the number of keys.
   */
  collectKeys(): number {
    const k = this.#keyStatements();
    k.clear.run();
    return k.collect.run().changes;
  }

  /**
   * Deletes the cache rows whose key no edge has any more (per {@link collectKeys}), and the candidate lists left
   * without a row. Returns the number of cache rows deleted.
   */
  deleteOrphans(): number {
    const k = this.#keyStatements();
    return writeTransaction(this.#db, () => {
      const n = k.deleteOrphans.run().changes;
      if (n > 0) k.deleteOrphanCandidates.run();
      return n;
    })();
  }

  /**
   * Up to `limit` addresses with keys of {@link collectKeys} that the cache lacks, after `after` (exclusive; null:
   * from the start), sorted.
   */
  pendingAddresses(after: string | null, limit: number): PendingAddress[] {
    const k = this.#keyStatements();
    return (
      after === null ? k.addressesFirst.all(limit) : k.addressesAfter.all(after, limit)
    ) as PendingAddress[];
  }

  /** The keys of `addr` that the cache lacks, sorted by range. */
  pendingKeysOf(addr: string): AttributionKey[] {
    return this.#keyStatements().keysOf.all(addr) as AttributionKey[];
  }

  /** Frees the TEMP key table (it holds one row per key until the next refresh otherwise). */
  releaseKeys(): void {
    this.#keyStatements().clear.run();
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

  /** ClusterIP → every Service that held it, oldest first. */
  serviceSpans(): Map<string, ServiceSpan[]> {
    const out = new Map<string, ServiceSpan[]>();
    for (const r of this.#serviceSpans.all() as ({ ip: string } & ServiceSpan)[]) {
      const span: ServiceSpan = { name: r.name, since: r.since, until: r.until };
      const spans = out.get(r.ip);
      if (spans === undefined) out.set(r.ip, [span]);
      else spans.push(span);
    }
    return out;
  }

  /** Every ENI, the least recently imported first. */
  enis(): EniRow[] {
    return (
      this.#enis.all() as {
        interface_id: string;
        instance_id: string;
        security_groups: string;
        prefixes: string;
      }[]
    ).map((r) => ({
      interfaceId: r.interface_id,
      instanceId: r.instance_id,
      securityGroups: groupIds(r.security_groups),
      prefixes: JSON.parse(r.prefixes) as string[],
    }));
  }

  /** Each ENI address's holders, the earliest first. */
  addressHolders(): Map<string, AddressHolder[]> {
    const out = new Map<string, AddressHolder[]>();
    for (const r of this.#addressHolders.iterate() as IterableIterator<{
      address: string;
      since: number;
      interface_id: string;
      instance_id: string;
      security_groups: string;
    }>) {
      const holder: AddressHolder = {
        since: r.since,
        interfaceId: r.interface_id,
        instanceId: r.instance_id,
        securityGroups: groupIds(r.security_groups),
      };
      const list = out.get(r.address);
      if (list === undefined) out.set(r.address, [holder]);
      else list.push(holder);
    }
    return out;
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

  /**
   * Writes cache rows in one transaction. An answer for a whole address is copied to its pending keys by SQLite:
   * half the keys of a big flow log are remote peers with one answer each, and passing them through JavaScript
   * one by one cost more than resolving them.
   */
  write(w: AttributionWrite): void {
    this.#write(w);
  }

  #valuesOf(a: AddressAttribution): unknown[] {
    let v = this.#values.get(a);
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
        this.#jsonOf(a.labels),
        this.#candidatesId(a.candidates),
        a.interfaceId,
        a.instanceId,
        this.#jsonOf(a.securityGroups),
        a.dstClass,
        a.dstName,
      ];
      this.#values.set(a, v);
    }
    return v;
  }

  #jsonOf(x: object): string {
    let s = this.#json.get(x);
    if (s === undefined) {
      s = JSON.stringify(x);
      this.#json.set(x, s);
    }
    return s;
  }

  /** The id of a candidate list, stored on first use; 0 for none. Runs inside the insert's transaction. */
  #candidatesId(list: readonly Candidate[]): number {
    if (list.length === 0) return 0;
    let id = this.#candidateIds.get(list);
    if (id === undefined) {
      const json = JSON.stringify(list);
      const digest = createHash('sha1').update(json).digest('base64');
      const found = this.#candidatesByDigest.get(digest) as { id: number } | undefined;
      id = found?.id ?? Number(this.#insertCandidates.run(digest, json).lastInsertRowid);
      this.#candidateIds.set(list, id);
    }
    return id;
  }

  /** Created on first use, so that reading the refresh state alone writes nothing, not even to TEMP. */
  #keyStatements(): KeyStatements {
    if (this.#keys !== null) return this.#keys;
    const db = this.#db;
    db.exec(`CREATE TEMP TABLE IF NOT EXISTS attribution_keys (
      addr       TEXT NOT NULL,
      first_seen REAL NOT NULL,
      last_seen  REAL NOT NULL,
      PRIMARY KEY (addr, first_seen, last_seen)
    ) WITHOUT ROWID`);
    const lacking = `NOT EXISTS (SELECT 1 FROM attribution_cache a
      WHERE a.addr = k.addr AND a.first_seen = k.first_seen AND a.last_seen = k.last_seen)`;
    this.#keys = {
      clear: db.prepare('DELETE FROM temp.attribution_keys'),
      // There is deliberately no index on src_addr / dst_addr (migration 0001), so anything keyed by address must
      // not be asked per address: that rescanned every edge once per address (minutes at 40k edges). UNION hands
      // the keys over sorted, so they append to the key table's b-tree.
      collect: db.prepare(`
        INSERT INTO temp.attribution_keys (addr, first_seen, last_seen)
        SELECT src_addr, first_seen, last_seen FROM edges
        UNION
        SELECT dst_addr, first_seen, last_seen FROM edges`),
      deleteOrphans: db.prepare(`
        DELETE FROM attribution_cache WHERE NOT EXISTS (
          SELECT 1 FROM temp.attribution_keys k
          WHERE k.addr = attribution_cache.addr AND k.first_seen = attribution_cache.first_seen
            AND k.last_seen = attribution_cache.last_seen)`),
      deleteOrphanCandidates: db.prepare(`
        DELETE FROM attribution_candidates WHERE id NOT IN (SELECT candidates_id FROM attribution_cache)`),
      addressesFirst: db.prepare(`
        SELECT k.addr AS addr, COUNT(*) AS keys FROM temp.attribution_keys k
        WHERE ${lacking} GROUP BY k.addr ORDER BY k.addr LIMIT ?`),
      addressesAfter: db.prepare(`
        SELECT k.addr AS addr, COUNT(*) AS keys FROM temp.attribution_keys k
        WHERE k.addr > ? AND ${lacking} GROUP BY k.addr ORDER BY k.addr LIMIT ?`),
      keysOf: db.prepare(`
        SELECT k.addr AS addr, k.first_seen AS first, k.last_seen AS last FROM temp.attribution_keys k
        WHERE k.addr = ? AND ${lacking} ORDER BY 2, 3`),
      insertAddress: db.prepare(`
        INSERT OR REPLACE INTO attribution_cache (addr, first_seen, last_seen, kind, reason, workload_id, cluster,
          namespace, workload_kind, workload_name, pod, node, host_network, labels, candidates_id, interface_id,
          instance_id, security_groups, dst_class, dst_name)
        SELECT k.addr, k.first_seen, k.last_seen, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?
        FROM temp.attribution_keys k WHERE k.addr = ? AND ${lacking}`),
    };
    return this.#keys;
  }
}

interface KeyStatements {
  readonly clear: Database.Statement;
  readonly collect: Database.Statement;
  readonly deleteOrphans: Database.Statement;
  readonly deleteOrphanCandidates: Database.Statement;
  readonly addressesFirst: Database.Statement;
  readonly addressesAfter: Database.Statement;
  readonly keysOf: Database.Statement;
  readonly insertAddress: Database.Statement;
}

/**
 * For a database this process cannot write: shadows the cache tables, `meta` and the `address_attribution` view
 * with TEMP copies. TEMP tables are writable on a read-only connection, and unqualified names resolve to them
 * first, so a refresh computes what this query needs without writing the file. Statements must be prepared
 * after this call.
 */
export function shadowAttributionTables(db: Database.Database): void {
  const sqlOf = (type: string, name: string): string => {
    const r = db.prepare('SELECT sql FROM main.sqlite_master WHERE type = ? AND name = ?').get(type, name) as
      { sql: string } | undefined;
    if (r === undefined) throw new Error(`no ${type} ${name}`);
    return r.sql;
  };
  for (const table of CACHE_TABLES) {
    db.exec(sqlOf('table', table).replace(/^CREATE TABLE/i, 'CREATE TEMP TABLE'));
    db.exec(`INSERT INTO temp.${table} SELECT * FROM main.${table}`);
  }
  // The view of the main schema reads the main tables whatever TEMP holds, so it is shadowed too; a TEMP view's
  // unqualified names resolve to TEMP first.
  db.exec(sqlOf('view', 'address_attribution').replace(/^CREATE VIEW/i, 'CREATE TEMP VIEW'));
}

/** The group ids of a `security_groups` column (JSON [{groupId, groupName}]). */
function groupIds(json: string): string[] {
  return (JSON.parse(json) as { groupId: string }[]).map((g) => g.groupId);
}
