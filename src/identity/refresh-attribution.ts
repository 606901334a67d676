/**
 * Keeps the attribution cache (`address_attribution`, migrations 0003 and 0007) in step with the edges and the
 * inventory. Attribution happens at query time, not at ingest, so inventory collected after the flows (a snapshot
 * taken the next morning, an aws-inventory import) still attributes them. The query commands call
 * {@link refreshAttribution} before reading; it costs two small reads when nothing changed.
 *
 * Everything is resolved at the time of the flow: pod IPs by their leases, Service ClusterIPs by the Service's life,
 * and ENI addresses by the import that last found their holder (`cloud_address_holders`): a flow goes to the holder
 * of the last import at or before it, or of the first import when it is older than all of them. An import says who
 * holds an address, not since when, so a flow between two imports that disagree goes to the earlier one's holder.
 */
import type Database from 'better-sqlite3';
import { parseCidr } from '../model/cidr.js';
import type { Lease } from '../model/workload.js';
import {
  AttributionStore,
  shadowAttributionTables,
  type AddressHolder,
  type AttributionKey,
} from '../store/attribution-store.js';
import {
  attributeAddress,
  candidatesOf,
  covers,
  overlaps,
  pickCloudService,
  serviceAt,
  type AddressAttribution,
  type AddressFacts,
  type Candidate,
  type EniFacts,
  type ServiceSpan,
} from './attribution.js';
import { PrefixTable } from './prefix-table.js';

/** Bump when the resolver's rules change: stored answers of an older version are recomputed. */
export const ATTRIBUTION_VERSION = 3;

/** Keys resolved per write transaction: bounds memory, and a long refresh never holds the write lock for long. */
const KEYS_PER_COMMIT = 20_000;

/** Pending addresses read per query. */
const ADDRESSES_PER_PAGE = 1000;

export interface RefreshResult {
  /** `unchanged`: nothing to do; `incremental`: keys of new edges only; `full`: the inventory changed. */
  readonly mode: 'unchanged' | 'incremental' | 'full';
  readonly addresses: number;
  readonly keys: number;
  /** Cache rows deleted because no edge has their key any more. */
  readonly removed: number;
}

/** Fills the cache for edges not yet attributed, or recomputes it when the inventory changed since. */
export function refreshAttribution(db: Database.Database): RefreshResult {
  const store = new AttributionStore(db);
  const generation = store.generation();
  const edges = store.edgesMark();
  const state = store.state();
  const full = state === null || state.version !== ATTRIBUTION_VERSION || state.generation !== generation;
  if (!full && state.edges === edges) return { mode: 'unchanged', addresses: 0, keys: 0, removed: 0 };

  if (full) store.clear();
  store.collectKeys();
  // An edge's seen range widens as more records of its bucket arrive, which leaves the row of its old key
  // behind. The key set is at hand here, so one pass over the cache finds them.
  const removed = full ? 0 : store.deleteOrphans();
  const ctx = loadContext(store);
  let addresses = 0;
  let keys = 0;
  let batch: {
    keys: (readonly [AttributionKey, AddressAttribution])[];
    addresses: [string, AddressAttribution][];
  } = { keys: [], addresses: [] };
  let inBatch = 0;
  let after: string | null = null;
  for (;;) {
    const page = store.pendingAddresses(after, ADDRESSES_PER_PAGE);
    if (page.length === 0) break;
    for (const p of page) {
      const resolver = new AddressResolver(ctx, p.addr);
      const whole = resolver.whole();
      if (whole !== null) batch.addresses.push([p.addr, whole]);
      else
        for (const k of store.pendingKeysOf(p.addr)) batch.keys.push([k, resolver.resolve(k.first, k.last)]);
      addresses++;
      keys += p.keys;
      inBatch += p.keys;
      if (inBatch >= KEYS_PER_COMMIT) {
        store.write(batch);
        batch = { keys: [], addresses: [] };
        inBatch = 0;
      }
    }
    after = page[page.length - 1]!.addr;
  }
  if (inBatch > 0) store.write(batch);
  store.releaseKeys();
  store.setState({ version: ATTRIBUTION_VERSION, generation, edges });
  return { mode: full ? 'full' : 'incremental', addresses, keys, removed };
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
 * For a database this process cannot write: shadows the cache with TEMP copies, so a refresh computes what is
 * missing for this query without writing the file. Statements must be prepared after this call.
 */
export function shadowAttributionCache(db: Database.Database): void {
  shadowAttributionTables(db);
}

interface Context {
  readonly store: AttributionStore;
  readonly nodeAddresses: Map<string, string>;
  readonly services: Map<string, ServiceSpan[]>;
  readonly holders: Map<string, AddressHolder[]>;
  readonly eniPrefixes: PrefixTable<EniFacts>;
  readonly vpc: PrefixTable<true>;
  readonly cloud: PrefixTable<{ service: string; region: string }>;
  readonly onNode: (node: string) => NodeCandidates;
  readonly hasInventory: boolean;
}

function loadContext(store: AttributionStore): Context {
  const eniPrefixes = new PrefixTable<EniFacts>();
  // Oldest import first, so a later import overrides a delegated prefix that moved.
  for (const e of store.enis()) {
    const facts: EniFacts = {
      interfaceId: e.interfaceId,
      instanceId: e.instanceId,
      securityGroups: e.securityGroups,
    };
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
  const nodes = new Map<string, NodeCandidates>();
  return {
    store,
    nodeAddresses: store.nodeAddresses(),
    services: store.serviceSpans(),
    holders: store.addressHolders(),
    eniPrefixes,
    vpc,
    cloud,
    onNode: (node) => {
      let n = nodes.get(node);
      if (n === undefined) {
        n = new NodeCandidates(store.leasesOnNode(node));
        nodes.set(node, n);
      }
      return n;
    },
    hasInventory: store.hasInventory(),
  };
}

/**
 * The candidate pods of one node over a range. A node address has a key per edge range (a fifth of all keys in a
 * big flow log, where SNAT puts most traffic on node addresses), and neighbouring ranges see the same pods: the
 * list is built once per distinct set of leases and shared, which also lets the store write it once.
 */
class NodeCandidates {
  readonly #leases: readonly Lease[];
  readonly #lists = new Map<string, readonly Candidate[]>();

  constructor(leases: readonly Lease[]) {
    this.#leases = leases;
  }

  /** The candidates over [first, last], and an id that is the same exactly when the list is. */
  over(first: number, last: number): { readonly id: string; readonly list: readonly Candidate[] } {
    let id = '';
    for (let i = 0; i < this.#leases.length; i++) if (overlaps(this.#leases[i]!, first, last)) id += `${i},`;
    let list = this.#lists.get(id);
    if (list === undefined) {
      list = candidatesOf(this.#leases.filter((l) => overlaps(l, first, last)));
      this.#lists.set(id, list);
    }
    return { id, list };
  }
}

/** Resolves the keys of one address: what does not depend on time is looked up once. */
class AddressResolver {
  readonly addr: string;
  readonly #ctx: Context;
  readonly #leases: readonly Lease[];
  readonly #node: string | null;
  /** The ENI holding the address from each `since` on (see the top of this file), the earliest first; never empty. */
  readonly #enis: readonly { readonly since: number; readonly eni: EniFacts | null }[];
  readonly #services: readonly ServiceSpan[];
  readonly #inVpc: boolean;
  readonly #cloud: { readonly service: string; readonly region: string } | null;
  /**
   * No lease and no node claims the address: its answer depends on the time only through the Service holding it
   * (attributeAddress), so one answer per holder serves every key. Most addresses of a big flow log are such
   * remote peers.
   */
  readonly #timeless: boolean;
  /** Answers by what they depend on (see {@link AddressResolver.resolve}). */
  readonly #answers = new Map<string, AddressAttribution>();

  constructor(ctx: Context, addr: string) {
    this.addr = addr;
    this.#ctx = ctx;
    const known = addr !== '';
    this.#leases = known ? ctx.store.leasesOf(addr) : [];
    this.#node = ctx.nodeAddresses.get(addr) ?? null;
    // An address no interface lists (or one let go) may still lie in a prefix delegated to one.
    const inPrefix = known ? (ctx.eniPrefixes.lookup(addr)?.values.at(-1) ?? null) : null;
    const holders = known ? ctx.holders.get(addr) : undefined;
    this.#enis =
      holders === undefined
        ? [{ since: 0, eni: inPrefix }]
        : holders.map((h) => ({
            since: h.since,
            eni:
              h.interfaceId === ''
                ? inPrefix
                : { interfaceId: h.interfaceId, instanceId: h.instanceId, securityGroups: h.securityGroups },
          }));
    this.#services = ctx.services.get(addr) ?? [];
    this.#inVpc = known && ctx.vpc.lookup(addr) !== null;
    const cloudHit = known ? ctx.cloud.lookup(addr) : null;
    this.#cloud = cloudHit === null ? null : pickCloudService(cloudHit.values);
    this.#timeless = this.#leases.length === 0 && this.#node === null;
  }

  /** The answer for every range of the address when it does not depend on the range, else null. */
  whole(): AddressAttribution | null {
    // Any range will do: nothing about the address depends on it.
    return this.#timeless && this.#services.length === 0 && this.#enis.length === 1
      ? this.resolve(0, 0)
      : null;
  }

  /**
   * attributeAddress depends on the range only through the leases overlapping it, whether they cover it, the
   * Service holding the address then, and on a node the pods that ran there. Answers are shared by those, which
   * spares recomputing and re-serializing one answer for each of an address's many ranges.
   */
  resolve(first: number, last: number): AddressAttribution {
    const service = this.#services.length === 0 ? null : serviceAt(this.#services, first, last);
    const holder = this.#enis.length === 1 ? 0 : holderAt(this.#enis, first);
    let id = `${holder}|${service ?? ''}`;
    let node: { readonly id: string; readonly list: readonly Candidate[] } | null = null;
    if (!this.#timeless) {
      const podLeases: Lease[] = [];
      let hostNetwork: Lease | null = null;
      id += '|';
      for (let i = 0; i < this.#leases.length; i++) {
        const l = this.#leases[i]!;
        if (!overlaps(l, first, last)) continue;
        if (!l.hostNetwork) podLeases.push(l);
        else hostNetwork ??= l;
        id += `${i},`;
      }
      if (podLeases.length > 0 && covers(podLeases, first, last)) id += 'covered';
      // The node the answer goes to when a node or host-network pod claims the address (attributeAddress).
      const nodeName = this.#node ?? hostNetwork?.node ?? '';
      if (nodeName !== '') {
        node = this.#ctx.onNode(nodeName).over(first, last);
        id += `|${nodeName}|${node.id}`;
      }
    }
    let a = this.#answers.get(id);
    if (a === undefined) {
      const list = node?.list ?? [];
      a = this.#attribute(first, last, service, this.#enis[holder]!.eni, () => list);
      this.#answers.set(id, a);
    }
    return a;
  }

  #attribute(
    first: number,
    last: number,
    service: string | null,
    eni: EniFacts | null,
    candidatesOnNode: AddressFacts['candidatesOnNode'],
  ): AddressAttribution {
    return attributeAddress({
      addr: this.addr,
      first,
      last,
      leases: this.#leases,
      nodeOfAddress: this.#node,
      candidatesOnNode,
      eni,
      service,
      inVpc: this.#inVpc,
      cloud: this.#cloud,
      hasInventory: this.#ctx.hasInventory,
    });
  }
}

/** The holder of the last import at or before `t`, or the first when `t` is older than every import. */
function holderAt(holders: readonly { readonly since: number }[], t: number): number {
  let at = 0;
  for (let i = 1; i < holders.length && holders[i]!.since <= t; i++) at = i;
  return at;
}
