/**
 * The reads inference needs (src/infer): the accepted egress edges of a window with both ends' attribution, the
 * DNS answers that can name their addresses, and the inventory that turns workloads into selectors. Callers
 * refresh the attribution cache first (src/identity/refresh-attribution.ts).
 */
import type Database from 'better-sqlite3';
import type { Lease, ServicePort, ServiceRecord } from '../model/workload.js';
import { JOIN_SQL, whereClause, type FlowFilter } from './flow-query.js';
import { toLease, type LeaseRow } from './inventory-store.js';

/** One stored edge (one time bucket) with its source's and destination's attribution. */
export interface InferenceEdge {
  readonly bucket: number;
  readonly srcAddr: string;
  readonly dstAddr: string;
  readonly dstHost: string;
  readonly port: number;
  readonly protocol: number;
  readonly flows: number;
  readonly packets: number;
  readonly bytes: number;
  readonly firstSeen: number;
  readonly lastSeen: number;
  readonly sources: number;
  /** SOURCE_OUTCOMES of the source; 'unknown' when the cache has no row. */
  readonly srcKind: string;
  readonly srcWorkloadId: string;
  readonly srcCluster: string;
  readonly srcNamespace: string;
  readonly srcWorkloadKind: string;
  readonly srcWorkloadName: string;
  readonly srcPod: string;
  readonly srcNode: string;
  /** JSON [{namespace, pod, workload, hostNetwork}] for node / ambiguous sources. */
  readonly srcCandidates: string;
  /** JSON [groupId]. */
  readonly srcSecurityGroups: string;
  readonly dstKind: string;
  readonly dstCluster: string;
  readonly dstNamespace: string;
  readonly dstWorkloadKind: string;
  readonly dstWorkloadName: string;
  readonly dstClass: string;
  readonly dstName: string;
  /** JSON objects: the source's and destination's pod labels (from their leases); '{}' when not pods. */
  readonly srcLabels: string;
  readonly dstLabels: string;
  readonly action: string;
  /** JSON [groupId] of the destination's ENI (instances). */
  readonly dstSecurityGroups: string;
}

/**
 * Egress edges matching `filter` (its window, namespaces, workloads…) with both ends' attribution, ordered by their
 * key so the same database always yields the same sequence. Inference asks for accepted ones only (rejected flows
 * teach nothing: they already do not work); audit replays both.
 */
export function* attributedEdges(db: Database.Database, filter: FlowFilter): Generator<InferenceEdge> {
  const { sql: where, params } = whereClause({ ...filter, direction: 'egress' });
  const stmt = db.prepare(`
    SELECT e.bucket AS bucket, e.src_addr AS srcAddr, e.dst_addr AS dstAddr, e.dst_host AS dstHost,
           e.dst_port AS port, e.protocol AS protocol, e.flows AS flows,
           e.packets_out + e.packets_in AS packets, e.bytes_out + e.bytes_in AS bytes,
           e.first_seen AS firstSeen, e.last_seen AS lastSeen, e.sources AS sources,
           COALESCE(s.kind, 'unknown') AS srcKind, COALESCE(s.workload_id, 'unattributed') AS srcWorkloadId,
           COALESCE(s.cluster, '') AS srcCluster, COALESCE(s.namespace, '') AS srcNamespace,
           COALESCE(s.workload_kind, '') AS srcWorkloadKind, COALESCE(s.workload_name, '') AS srcWorkloadName,
           COALESCE(s.pod, '') AS srcPod, COALESCE(s.node, '') AS srcNode,
           COALESCE(s.candidates, '[]') AS srcCandidates, COALESCE(s.security_groups, '[]') AS srcSecurityGroups,
           COALESCE(d.kind, 'unknown') AS dstKind, COALESCE(d.cluster, '') AS dstCluster,
           COALESCE(d.namespace, '') AS dstNamespace, COALESCE(d.workload_kind, '') AS dstWorkloadKind,
           COALESCE(d.workload_name, '') AS dstWorkloadName,
           COALESCE(d.dst_class, CASE WHEN e.dst_addr = '' THEN 'none' ELSE 'internet' END) AS dstClass,
           COALESCE(d.dst_name, '') AS dstName,
           COALESCE(s.labels, '{}') AS srcLabels, COALESCE(d.labels, '{}') AS dstLabels, e.action AS action,
           COALESCE(d.security_groups, '[]') AS dstSecurityGroups
    FROM edges e ${JOIN_SQL} ${where}
    ORDER BY e.src_addr, e.dst_addr, e.dst_host, e.dst_port, e.protocol, e.bucket`);
  yield* stmt.iterate(...params) as Iterable<InferenceEdge>;
}

/** One DNS answer row that maps a name to an address, summed over the buckets of one client. */
export interface AddressAnswer {
  readonly bucket: number;
  readonly client: string;
  readonly name: string;
  readonly answer: string;
  readonly count: number;
  readonly firstSeen: number;
  readonly lastSeen: number;
  readonly minTtl: number | null;
}

/** A and AAAA answers given in [since - lookback, until], ordered by answer then time. */
export function addressAnswers(
  db: Database.Database,
  since: number,
  until: number,
  lookback: number,
): AddressAnswer[] {
  return db
    .prepare(
      `SELECT bucket, client, name, answer, count, first_seen AS firstSeen, last_seen AS lastSeen, min_ttl AS minTtl
       FROM dns_answers
       WHERE type IN ('A', 'AAAA') AND answer != '' AND last_seen >= ? AND first_seen <= ?
       ORDER BY answer, first_seen, name, client`,
    )
    .all(since - lookback, until) as AddressAnswer[];
}

/** Leases that overlap [since, until], in a stable order. */
export function leasesInWindow(db: Database.Database, since: number, until: number): Lease[] {
  const rows = db
    .prepare(
      `SELECT * FROM k8s_leases WHERE start_time <= ? AND (end_time IS NULL OR end_time >= ?)
       ORDER BY cluster, namespace, workload_kind, workload_name, start_time, pod_uid, ip`,
    )
    .all(until, since) as LeaseRow[];
  return rows.map(toLease);
}

/** Namespace labels by `cluster/namespace`. */
export function namespaceLabels(db: Database.Database): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  const rows = db
    .prepare('SELECT cluster, name, labels FROM k8s_namespaces ORDER BY cluster, name')
    .all() as {
    cluster: string;
    name: string;
    labels: string;
  }[];
  for (const r of rows) out.set(`${r.cluster}/${r.name}`, JSON.parse(r.labels) as Record<string, string>);
  return out;
}

/** Node address → node name, for telling "the node asked" from "a pod asked" in DNS answers. */
export function nodeAddresses(db: Database.Database): Map<string, string> {
  const rows = db.prepare('SELECT address, node FROM k8s_node_addresses ORDER BY address, node').all() as {
    address: string;
    node: string;
  }[];
  return new Map(rows.map((r) => [r.address, r.node]));
}

/** Every stored ip-ranges prefix. */
export function cloudPrefixes(db: Database.Database): { cidr: string; service: string; region: string }[] {
  return db
    .prepare('SELECT cidr, service, region FROM cloud_prefixes ORDER BY cidr, service, region')
    .all() as {
    cidr: string;
    service: string;
    region: string;
  }[];
}

/** What mapping ClusterIP traffic to pods needs of a Service: whom it selects, and where its ports lead. */
export type ServiceView = Pick<ServiceRecord, 'selector' | 'ports'>;

/** Services by `namespace/name` (the latest row per service): their selectors and ports. */
export function services(db: Database.Database): Map<string, ServiceView> {
  const rows = db
    .prepare('SELECT namespace, name, selector, ports FROM k8s_services ORDER BY namespace, name')
    .all() as {
    namespace: string;
    name: string;
    selector: string;
    ports: string;
  }[];
  return new Map(
    rows.map((r) => [
      `${r.namespace}/${r.name}`,
      {
        selector: JSON.parse(r.selector) as Record<string, string>,
        ports: JSON.parse(r.ports) as ServicePort[],
      },
    ]),
  );
}

/**
 * Who asked for a name when, from lines that carry no answer (CoreDNS logs the asking pod, never the answer; a
 * resolver's answer rows already name their client).
 */
export interface NameQuestion {
  readonly client: string;
  readonly name: string;
  readonly firstSeen: number;
  readonly lastSeen: number;
}

/** Unanswered-in-the-log A/AAAA questions by a known client in [since - lookback, until], per bucket. */
export function nameQuestions(
  db: Database.Database,
  since: number,
  until: number,
  lookback: number,
): NameQuestion[] {
  return db
    .prepare(
      `SELECT client, name, MIN(first_seen) AS firstSeen, MAX(last_seen) AS lastSeen
       FROM dns_answers
       WHERE client != '' AND answer = '' AND type IN ('A', 'AAAA') AND last_seen >= ? AND first_seen <= ?
       GROUP BY bucket, client, name ORDER BY name, firstSeen, client`,
    )
    .all(since - lookback, until) as NameQuestion[];
}

/** Each pod's labels (from its latest lease), keyed `namespace/pod`: candidates of SNAT'd flows carry only names. */
export function podLabels(db: Database.Database): Map<string, string> {
  const rows = db
    .prepare(
      `SELECT namespace, pod_name AS pod, labels FROM k8s_leases l
       WHERE start_time = (SELECT MAX(start_time) FROM k8s_leases m
                           WHERE m.cluster = l.cluster AND m.namespace = l.namespace AND m.pod_name = l.pod_name)
       ORDER BY namespace, pod_name`,
    )
    .all() as { namespace: string; pod: string; labels: string }[];
  return new Map(rows.map((r) => [`${r.namespace}/${r.pod}`, r.labels]));
}
