/**
 * Keeps the attribution cache (`address_attribution`, migration 0003) in step with the edges and the inventory.
 * Attribution happens at query time, not at ingest, so inventory collected after the flows (a snapshot taken the
 * next morning, an aws-inventory import) still attributes them. The query commands call {@link refreshAttribution}
 * before reading; it costs two small reads when nothing changed.
 */
import type Database from 'better-sqlite3';
import { parseCidr } from '../model/cidr.js';
import type { Lease } from '../model/workload.js';
import { AttributionStore, type AttributionKey } from '../store/attribution-store.js';
import { attributeAddress, pickCloudService, type AddressAttribution, type EniFacts } from './attribution.js';
import { PrefixTable } from './prefix-table.js';

/** Bump when the resolver's rules change: stored answers of an older version are recomputed. */
export const ATTRIBUTION_VERSION = 1;

/** Addresses resolved per write transaction, so a long refresh never holds the write lock for long. */
const ADDRESSES_PER_COMMIT = 500;

export interface RefreshResult {
  /** `unchanged`: nothing to do; `incremental`: keys of new edges only; `full`: the inventory changed. */
  readonly mode: 'unchanged' | 'incremental' | 'full';
  readonly addresses: number;
  readonly keys: number;
}

/** Fills the cache for edges not yet attributed, or recomputes it when the inventory changed since. */
export function refreshAttribution(db: Database.Database): RefreshResult {
  const store = new AttributionStore(db);
  const generation = store.generation();
  const edges = store.edgesMark();
  const state = store.state();
  const full = state === null || state.version !== ATTRIBUTION_VERSION || state.generation !== generation;
  if (!full && state.edges === edges) return { mode: 'unchanged', addresses: 0, keys: 0 };

  if (full) store.clear();
  const ctx = loadContext(store);
  // One scan of the edges for every pending key (sorted by address), then resolved address by address.
  const pending = store.pendingKeys();
  let addresses = 0;
  let rows: [AttributionKey, AddressAttribution][] = [];
  let inBatch = 0;
  for (let i = 0; i < pending.length;) {
    const addr = pending[i]!.addr;
    const leases = addr === '' ? [] : store.leasesOf(addr);
    // No lease and no node claims the address: its answer does not depend on the time range (attributeAddress),
    // so one answer serves every key of the address. Most addresses of a big flow log are such remote peers.
    const timeless = leases.length === 0 && !ctx.nodeAddresses.has(addr);
    let shared: AddressAttribution | null = null;
    for (; i < pending.length && pending[i]!.addr === addr; i++) {
      const k = pending[i]!;
      if (!timeless) rows.push([k, resolve(ctx, k, leases)]);
      else rows.push([k, (shared ??= resolve(ctx, k, leases))]);
    }
    addresses++;
    if (++inBatch === ADDRESSES_PER_COMMIT) {
      store.insert(rows);
      rows = [];
      inBatch = 0;
    }
  }
  if (rows.length > 0) store.insert(rows);
  store.setState({ version: ATTRIBUTION_VERSION, generation, edges });
  return { mode: full ? 'full' : 'incremental', addresses, keys: pending.length };
}

/** True when the cache is missing or behind the edges or the inventory (what {@link refreshAttribution} fixes). */
export function attributionStale(db: Database.Database): boolean {
  const store = new AttributionStore(db);
  const state = store.state();
  return (
    state === null ||
    state.version !== ATTRIBUTION_VERSION ||
    state.generation !== store.generation() ||
    state.edges !== store.edgesMark()
  );
}

/**
 * False when the database holds no inventory at all (no Kubernetes leases, nodes or services, no cloud inventory):
 * then every address resolves from its text alone, and queries answer attribution without the cache
 * (src/store/flow-query.ts `attributionCache: false`), which spares them a refresh over every edge.
 */
export function attributionUsesCache(db: Database.Database): boolean {
  return new AttributionStore(db).hasAnyInventory();
}

/**
 * For a database this process cannot write: shadows the cache and `meta` with TEMP copies (TEMP tables are
 * writable on a read-only connection, and unqualified names resolve to them first), so a refresh computes what is
 * missing for this query without writing the file. Statements must be prepared after this call.
 */
export function shadowAttributionCache(db: Database.Database): void {
  for (const table of ['meta', 'address_attribution']) {
    const r = db
      .prepare("SELECT sql FROM main.sqlite_master WHERE type = 'table' AND name = ?")
      .get(table) as { sql: string } | undefined;
    if (r === undefined) throw new Error(`no table ${table}`);
    db.exec(r.sql.replace(/^CREATE TABLE/i, 'CREATE TEMP TABLE'));
    db.exec(`INSERT INTO temp.${table} SELECT * FROM main.${table}`);
  }
}

interface Context {
  readonly store: AttributionStore;
  readonly nodeAddresses: Map<string, string>;
  readonly services: Map<string, string>;
  readonly eniByAddress: Map<string, EniFacts>;
  readonly eniPrefixes: PrefixTable<EniFacts>;
  readonly vpc: PrefixTable<true>;
  readonly cloud: PrefixTable<{ service: string; region: string }>;
  readonly nodeLeases: Map<string, Lease[]>;
  readonly hasInventory: boolean;
}

function loadContext(store: AttributionStore): Context {
  const eniByAddress = new Map<string, EniFacts>();
  const eniPrefixes = new PrefixTable<EniFacts>();
  for (const e of store.enis()) {
    const facts: EniFacts = {
      interfaceId: e.interfaceId,
      instanceId: e.instanceId,
      securityGroups: e.securityGroups,
    };
    for (const a of e.addresses) eniByAddress.set(a, facts);
    for (const p of e.prefixes) {
      const c = parseCidr(p);
      if (c !== null) eniPrefixes.add(c, facts);
    }
  }
  const vpc = new PrefixTable<true>();
  for (const text of store.vpcCidrs()) {
    const c = parseCidr(text);
    if (c !== null) vpc.add(c, true);
  }
  const cloud = new PrefixTable<{ service: string; region: string }>();
  for (const p of store.cloudPrefixes()) {
    const c = parseCidr(p.cidr);
    if (c !== null) cloud.add(c, { service: p.service, region: p.region });
  }
  return {
    store,
    nodeAddresses: store.nodeAddresses(),
    services: store.serviceIps(),
    eniByAddress,
    eniPrefixes,
    vpc,
    cloud,
    nodeLeases: new Map(),
    hasInventory: store.hasInventory(),
  };
}

function resolve(ctx: Context, k: AttributionKey, leases: readonly Lease[]): AddressAttribution {
  const cloudHit = k.addr === '' ? null : ctx.cloud.lookup(k.addr);
  return attributeAddress({
    addr: k.addr,
    first: k.first,
    last: k.last,
    leases,
    nodeOfAddress: ctx.nodeAddresses.get(k.addr) ?? null,
    podsOnNode: (node, first, last) => {
      let all = ctx.nodeLeases.get(node);
      if (all === undefined) {
        all = ctx.store.leasesOnNode(node);
        ctx.nodeLeases.set(node, all);
      }
      return all.filter(
        (l) => (l.end === null || l.end > l.start) && l.start <= last && (l.end === null || l.end > first),
      );
    },
    eni:
      ctx.eniByAddress.get(k.addr) ??
      (k.addr === '' ? null : (ctx.eniPrefixes.lookup(k.addr)?.values[0] ?? null)),
    service: ctx.services.get(k.addr) ?? null,
    inVpc: k.addr !== '' && ctx.vpc.lookup(k.addr) !== null,
    cloud: cloudHit === null ? null : pickCloudService(cloudHit.values),
    hasInventory: ctx.hasInventory,
  });
}
