import type Database from 'better-sqlite3';
import { SOURCE_KINDS } from '../model/observation.js';
import { attributionSql, whereClause, type FlowFilter } from './flow-query.js';

const SOURCE_JOIN = `
  LEFT JOIN address_attribution s
    ON s.addr = e.src_addr AND s.first_seen = e.first_seen AND s.last_seen = e.last_seen`;

/** Where a flow's attribution lands, for coverage: a workload, a node only, a cloud instance, or nothing. */
export const COVERAGE_OUTCOMES = ['workload', 'node', 'instance', 'none'] as const;
export type CoverageOutcome = (typeof COVERAGE_OUTCOMES)[number];

export const COVERAGE_SCOPES = ['all', 'source-kind', 'node'] as const;
export type CoverageScope = (typeof COVERAGE_SCOPES)[number];

export interface Counter {
  flows: number;
  bytes: number;
}

/** One line of the coverage report. */
export interface CoverageRow {
  readonly scope: CoverageScope;
  /** '' for `all`, the source kind, or the node name. */
  readonly key: string;
  readonly total: Counter;
  readonly outcomes: Record<CoverageOutcome, Counter>;
  /** Why flows were not attributed to exactly one workload: reason → counters, sorted by reason. */
  readonly reasons: Record<string, Counter>;
}

function outcomeOf(kind: string, node: string): CoverageOutcome {
  switch (kind) {
    case 'workload':
      return 'workload';
    case 'node':
      return 'node';
    case 'ambiguous':
      // Straddling holders on one node is still that node's traffic; across nodes it is nobody's.
      return node !== '' ? 'node' : 'none';
    case 'instance':
      return 'instance';
    default:
      return 'none';
  }
}

/**
 * Attribution coverage of the edges matching `filter`, overall, per source kind (an edge seen by two kinds counts
 * in both) and per node (the pod's node for workloads, the node itself for node-only traffic).
 */
export function queryCoverage(db: Database.Database, filter: FlowFilter, cache = true): CoverageRow[] {
  const { sql: where, params } = whereClause(filter, attributionSql(db, cache));
  // Without any inventory (cache false) the resolver answers every source alike (src/identity/attribution.ts).
  const attribution = cache
    ? `COALESCE(s.kind, 'unknown') AS kind, COALESCE(s.reason, 'not_refreshed') AS reason,
              COALESCE(s.node, '') AS node`
    : `'unknown' AS kind, CASE WHEN e.src_addr = '' THEN 'no_address' ELSE 'no_inventory' END AS reason,
              '' AS node`;
  const rows = db
    .prepare(
      `SELECT ${attribution}, e.sources AS sources,
              SUM(e.flows) AS flows, SUM(e.bytes_out + e.bytes_in) AS bytes
       FROM edges e ${cache ? SOURCE_JOIN : ''} ${where}
       GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4`,
    )
    .all(...params) as {
    kind: string;
    reason: string;
    node: string;
    sources: number;
    flows: number;
    bytes: number;
  }[];
  const acc = new Map<string, CoverageRow>();
  const rowOf = (scope: CoverageScope, key: string): CoverageRow => {
    const id = `${scope}\u0000${key}`;
    let r = acc.get(id);
    if (r === undefined) {
      r = {
        scope,
        key,
        total: { flows: 0, bytes: 0 },
        outcomes: {
          workload: { flows: 0, bytes: 0 },
          node: { flows: 0, bytes: 0 },
          instance: { flows: 0, bytes: 0 },
          none: { flows: 0, bytes: 0 },
        },
        reasons: {},
      };
      acc.set(id, r);
    }
    return r;
  };
  const add = (r: CoverageRow, x: (typeof rows)[number]): void => {
    r.total.flows += x.flows;
    r.total.bytes += x.bytes;
    const o = r.outcomes[outcomeOf(x.kind, x.node)];
    o.flows += x.flows;
    o.bytes += x.bytes;
    if (x.reason !== '') {
      const c = (r.reasons[x.reason] ??= { flows: 0, bytes: 0 });
      c.flows += x.flows;
      c.bytes += x.bytes;
    }
  };
  rowOf('all', '');
  for (const x of rows) {
    add(rowOf('all', ''), x);
    for (let i = 0; i < SOURCE_KINDS.length; i++) {
      if ((x.sources & (1 << i)) !== 0) add(rowOf('source-kind', SOURCE_KINDS[i]!), x);
    }
    if (x.node !== '') add(rowOf('node', x.node), x);
  }
  const order: Record<CoverageScope, number> = { all: 0, 'source-kind': 1, node: 2 };
  return [...acc.values()]
    .map((r) => ({
      ...r,
      reasons: Object.fromEntries(Object.entries(r.reasons).sort(([a], [b]) => (a < b ? -1 : 1))),
    }))
    .sort((a, b) => order[a.scope] - order[b.scope] || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** A workload's traffic as a source. */
export interface WorkloadTraffic {
  readonly cluster: string;
  readonly namespace: string;
  readonly kind: string;
  readonly name: string;
  readonly flows: number;
  readonly packets: number;
  readonly bytes: number;
  readonly firstFlow: number;
  readonly lastFlow: number;
}

/** Traffic attributed to each workload (exactly), over the edges matching `filter`. */
export function queryWorkloadTraffic(db: Database.Database, filter: FlowFilter): WorkloadTraffic[] {
  const { sql: where, params } = whereClause(filter);
  return db
    .prepare(
      `SELECT s.cluster AS cluster, s.namespace AS namespace, s.workload_kind AS kind, s.workload_name AS name,
              SUM(e.flows) AS flows, SUM(e.packets_out + e.packets_in) AS packets,
              SUM(e.bytes_out + e.bytes_in) AS bytes, MIN(e.first_seen) AS firstFlow, MAX(e.last_seen) AS lastFlow
       FROM edges e ${SOURCE_JOIN} ${where} ${where === '' ? 'WHERE' : 'AND'} s.kind = 'workload'
       GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4`,
    )
    .all(...params) as WorkloadTraffic[];
}

/**
 * Traffic each workload may have sent but that is attributed to a node only (SNAT'd or straddling): the edges
 * whose candidates include one of its pods, each edge counted once per workload.
 */
export function queryCandidateTraffic(
  db: Database.Database,
  filter: FlowFilter,
): { workload: string; flows: number; bytes: number }[] {
  const { sql: where, params } = whereClause(filter);
  return db
    .prepare(
      `SELECT workload, SUM(flows) AS flows, SUM(bytes) AS bytes FROM (
         SELECT DISTINCT e.bucket, e.src_addr, e.dst_addr, e.dst_host, e.dst_port, e.protocol, e.action, e.direction,
                e.flows AS flows, e.bytes_out + e.bytes_in AS bytes,
                json_extract(j.value, '$.workload') AS workload
         FROM edges e ${SOURCE_JOIN} JOIN json_each(s.candidates) j
         ${where} ${where === '' ? 'WHERE' : 'AND'} s.kind IN ('node', 'ambiguous'))
       GROUP BY workload ORDER BY workload`,
    )
    .all(...params) as { workload: string; flows: number; bytes: number }[];
}
