import type Database from 'better-sqlite3';
import { parseCidr } from '../model/cidr.js';
import { DNS_NAME_REACH } from '../model/dns.js';
import { isPrivateIp } from '../model/ip.js';
import type { Action, Direction, SourceKind } from '../model/observation.js';
import { SOURCE_KINDS } from '../model/observation.js';

/** Filters shared by every command that reads observations. Values inside one field are OR-ed. */
export interface FlowFilter {
  /** Source addresses or CIDRs. */
  readonly src?: readonly string[];
  /** Destination addresses, CIDRs, host names, or `*.suffix` host patterns. */
  readonly dst?: readonly string[];
  readonly port?: readonly number[];
  readonly protocol?: readonly number[];
  readonly action?: Action;
  readonly direction?: Direction;
  readonly sourceKind?: readonly SourceKind[];
  /** Epoch seconds; an edge is in the window when its seen range overlaps it. */
  readonly since?: number;
  readonly until?: number;
  /** Namespaces of the source workload (attributed sources only). */
  readonly namespace?: readonly string[];
  /**
   * Source grouping ids, compared without case: `namespace/Kind/name`, `node/<name>`, `instance/<id>` or
   * `unattributed`.
   */
  readonly workload?: readonly string[];
  /** `[key, value]` pairs that must all be among the source pod's labels (from its lease). */
  readonly label?: readonly (readonly [string, string])[];
}

/** True when the filter needs the attribution cache. */
export function usesAttribution(f: FlowFilter): boolean {
  return (f.namespace?.length ?? 0) > 0 || (f.workload?.length ?? 0) > 0 || (f.label?.length ?? 0) > 0;
}

export const GROUP_FIELDS = [
  'src',
  'dst',
  'host',
  'port',
  'protocol',
  'action',
  'direction',
  'hour',
  'day',
  'workload',
  'namespace',
  'src-kind',
  'dst-class',
] as const;
export type GroupField = (typeof GROUP_FIELDS)[number];

export const SORT_KEYS = ['bytes', 'flows', 'packets', 'first-seen', 'last-seen'] as const;
export type SortKey = (typeof SORT_KEYS)[number];

/** Group fields answered from the attribution cache (migration 0003). */
export const ATTRIBUTION_FIELDS: ReadonlySet<GroupField> = new Set([
  'workload',
  'namespace',
  'src-kind',
  'dst-class',
]);

export interface FlowQuery {
  readonly filter: FlowFilter;
  /** Null lists edges as stored (one per bucket). */
  readonly groupBy: readonly GroupField[] | null;
  readonly sort: SortKey;
  readonly limit: number | null;
  /**
   * Adds the source's workload and kind and the destination's class and name to listed edges (needs a refreshed
   * attribution cache: src/identity/refresh-attribution.ts).
   */
  readonly attribution?: boolean;
  /** Extra VPC-internal blocks (`--vpc-cidr`): private, internet or cloud-service destinations in them are `vpc`. */
  readonly vpcCidrs?: readonly string[];
  /**
   * False when the database holds no inventory at all: attribution is then answered from the addresses alone
   * (what the resolver would store: unattributed sources; none, private or internet destinations) without joining
   * or refreshing the cache. Default true.
   */
  readonly attributionCache?: boolean;
}

/** One result row: the grouping columns (or the whole edge key) and the summed counters. */
export interface FlowRow {
  readonly bucket?: number;
  readonly hour?: number;
  readonly day?: number;
  readonly src?: string;
  readonly dst?: string;
  readonly host?: string;
  readonly port?: number;
  readonly protocol?: number;
  readonly action?: Action;
  readonly direction?: Direction;
  /** `namespace/Kind/name`, `node/<name>`, `instance/<id>` or `unattributed`. */
  readonly workload?: string;
  readonly namespace?: string | null;
  readonly srcKind?: string;
  readonly dstClass?: string;
  readonly dstName?: string | null;
  readonly flows: number;
  readonly replies: number;
  readonly packetsOut: number;
  readonly bytesOut: number;
  readonly packetsIn: number;
  readonly bytesIn: number;
  readonly firstSeen: number;
  readonly lastSeen: number;
  /** Bit mask over SOURCE_KINDS. */
  readonly sources: number;
  /** packetsOut + packetsIn. */
  readonly packets: number;
  /** bytesOut + bytesIn. */
  readonly bytes: number;
}

export const WORKLOAD_SQL = "COALESCE(s.workload_id, 'unattributed')";

/** SQL for the attribution of an edge's source (`s`) and destination (`d`), from the cache or without it. */
interface AttributionSql {
  readonly workload: string;
  readonly namespace: string;
  readonly srcKind: string;
  readonly dstClass: string;
  readonly dstName: string;
  /** A source in the cache that is a workload (the filters on namespace and labels need one). */
  readonly isWorkload: string;
}

const CACHED: AttributionSql = {
  workload: WORKLOAD_SQL,
  namespace: "CASE WHEN s.kind = 'workload' THEN s.namespace END",
  srcKind: "COALESCE(s.kind, 'unknown')",
  dstClass: "COALESCE(d.dst_class, CASE WHEN e.dst_addr = '' THEN 'none' ELSE 'internet' END)",
  dstName: "NULLIF(d.dst_name, '')",
  isWorkload: "s.kind = 'workload'",
};

/** With no inventory at all the resolver's answer depends on the address alone (src/identity/attribution.ts). */
const UNCACHED: AttributionSql = {
  workload: "'unattributed'",
  namespace: 'NULL',
  srcKind: "'unknown'",
  dstClass:
    "CASE WHEN e.dst_addr = '' THEN 'none' WHEN el_private_ip(e.dst_addr) THEN 'private' ELSE 'internet' END",
  dstName: 'NULL',
  isWorkload: '0',
};

const registered = new WeakSet<Database.Database>();

/** The SQL functions {@link UNCACHED} needs, registered once per connection. */
function registerUncached(db: Database.Database): void {
  if (registered.has(db)) return;
  db.function('el_private_ip', { deterministic: true }, (addr: unknown) =>
    typeof addr === 'string' && addr !== '' && isPrivateIp(addr) ? 1 : 0,
  );
  registered.add(db);
}

/** The attribution SQL for a connection: the cache's, or (registering what it needs) the address-only one. */
export function attributionSql(db: Database.Database, cache: boolean): AttributionSql {
  if (cache) return CACHED;
  registerUncached(db);
  return UNCACHED;
}

/** The destination class, with `--vpc-cidr` blocks applied over what the cache says. */
function dstClassSql(vpcCidrs: readonly string[] | undefined, a: AttributionSql = CACHED): string {
  const base = a.dstClass;
  const blocks = (vpcCidrs ?? []).map((c) => parseCidr(c)).filter((c) => c !== null);
  if (blocks.length === 0) return base;
  // Inlined, not bound: canonical CIDR text (parseCidr above) holds only [0-9a-f.:/], and the expression appears
  // in the select list, where bound parameters would have to be threaded ahead of the WHERE clause's.
  const inAny = blocks.map((c) => `in_cidr(e.dst_addr, '${c.text}')`).join(' OR ');
  return `CASE WHEN ${base} IN ('private', 'internet', 'cloud-service') AND (${inAny}) THEN 'vpc' ELSE ${base} END`;
}

function groupSql(g: GroupField, vpcCidrs: readonly string[] | undefined, a: AttributionSql): string {
  switch (g) {
    case 'workload':
      return `${a.workload} AS workload`;
    case 'namespace':
      return `${a.namespace} AS namespace`;
    case 'src-kind':
      return `${a.srcKind} AS srcKind`;
    case 'dst-class':
      return `${dstClassSql(vpcCidrs, a)} AS dstClass`;
    default:
      return GROUP_SQL[g];
  }
}

export const JOIN_SQL = `
  LEFT JOIN address_attribution s
    ON s.addr = e.src_addr AND s.first_seen = e.first_seen AND s.last_seen = e.last_seen
  LEFT JOIN address_attribution d
    ON d.addr = e.dst_addr AND d.first_seen = e.first_seen AND d.last_seen = e.last_seen`;

const GROUP_SQL: Record<GroupField, string> = {
  src: 'e.src_addr AS src',
  dst: 'e.dst_addr AS dst',
  host: 'e.dst_host AS host',
  port: 'e.dst_port AS port',
  protocol: 'e.protocol AS protocol',
  action: 'e.action AS action',
  direction: 'e.direction AS direction',
  hour: '(e.bucket / 3600) * 3600 AS hour',
  day: '(e.bucket / 86400) * 86400 AS day',
  workload: '',
  namespace: '',
  'src-kind': '',
  'dst-class': '',
};
const SORT_SQL: Record<SortKey, string> = {
  bytes: 'bytes_total DESC',
  flows: 'flows DESC',
  packets: 'packets_total DESC',
  'first-seen': 'firstSeen ASC',
  'last-seen': 'lastSeen DESC',
};

/**
 * True when the edge logged no host and DNS logs gave its destination address for a name matching `name` (SQL over
 * `a`, with its parameters), no later than the edge was last seen and no more than DNS_NAME_REACH before it was
 * first seen: a flow log names no host, and a connection outlives the TTL of the answer that opened it. Any
 * client's answer counts, as in inference's widest fallback; an address several names shared matches each of them.
 * The addresses the name ever had are gathered once first: probing every edge's address alone read all of its
 * later answers (49 s for 20,000 edges against 336,000 answers; 15 ms so).
 */
function dnsNamed(name: { sql: string; params: readonly unknown[] }, params: unknown[]): string {
  params.push(...name.params, ...name.params);
  // A proxy that logged a host said where the request went: only a row without one is named by DNS.
  return `e.dst_host = '' AND e.dst_addr IN (SELECT a.answer FROM dns_answers a
      WHERE a.answer != '' AND a.type IN ('A', 'AAAA') AND ${name.sql})
    AND EXISTS (SELECT 1 FROM dns_answers a
      WHERE a.answer = e.dst_addr AND a.answer != '' AND a.type IN ('A', 'AAAA') AND ${name.sql}
        AND a.last_seen >= e.first_seen - ${DNS_NAME_REACH} AND a.first_seen <= e.last_seen)`;
}

function likeEscape(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/**
 * Builds the WHERE clause; every user value is a bound parameter. `a` says how attribution filters read the source
 * (the cache joined as `s`, or {@link attributionSql} without it).
 */
export function whereClause(f: FlowFilter, a: AttributionSql = CACHED): { sql: string; params: unknown[] } {
  const parts: string[] = [];
  const params: unknown[] = [];
  const anyOf = (clauses: string[]): void => {
    if (clauses.length > 0) parts.push(`(${clauses.join(' OR ')})`);
  };
  if (f.src?.length) {
    anyOf(
      f.src.map((s) => {
        params.push(s);
        return 'in_cidr(e.src_addr, ?)';
      }),
    );
  }
  if (f.dst?.length) {
    anyOf(
      f.dst.map((d) => {
        if (parseCidr(d) !== null) {
          params.push(d);
          return 'in_cidr(e.dst_addr, ?)';
        }
        const host = d.toLowerCase().replace(/\.$/, '');
        if (host.startsWith('*.')) {
          const suffix = host.slice(2);
          const like = `%.${likeEscape(suffix)}`;
          params.push(suffix, like);
          const name = { sql: "(a.name = ? OR a.name LIKE ? ESCAPE '\\')", params: [suffix, like] };
          return `(e.dst_host = ? OR e.dst_host LIKE ? ESCAPE '\\' OR ${dnsNamed(name, params)})`;
        }
        params.push(host);
        return `(e.dst_host = ? OR ${dnsNamed({ sql: 'a.name = ?', params: [host] }, params)})`;
      }),
    );
  }
  if (f.port?.length) {
    parts.push(`e.dst_port IN (${f.port.map(() => '?').join(', ')})`);
    params.push(...f.port);
  }
  if (f.protocol?.length) {
    parts.push(`e.protocol IN (${f.protocol.map(() => '?').join(', ')})`);
    params.push(...f.protocol);
  }
  if (f.action !== undefined) {
    parts.push('e.action = ?');
    params.push(f.action);
  }
  if (f.direction !== undefined) {
    parts.push('e.direction = ?');
    params.push(f.direction);
  }
  if (f.sourceKind?.length) {
    const mask = f.sourceKind.reduce((m, k) => m | (1 << SOURCE_KINDS.indexOf(k)), 0);
    parts.push('(e.sources & ?) != 0');
    params.push(mask);
  }
  // An edge is in the window when its seen range overlaps it. `bucket <= until` is implied (a bucket starts at
  // or before its first record) and lets SQLite use the (…, bucket) indexes; no such bound exists for `since`,
  // since one record (a long proxy tunnel) may outlast many buckets.
  if (f.since !== undefined) {
    parts.push('e.last_seen >= ?');
    params.push(f.since);
  }
  if (f.until !== undefined) {
    parts.push('e.bucket <= ? AND e.first_seen <= ?');
    params.push(f.until, f.until);
  }
  if (f.namespace?.length) {
    if (a === CACHED) {
      parts.push(`s.kind = 'workload' AND s.namespace IN (${f.namespace.map(() => '?').join(', ')})`);
      params.push(...f.namespace);
    } else parts.push(a.isWorkload);
  }
  if (f.workload?.length) {
    parts.push(`LOWER(${a.workload}) IN (${f.workload.map(() => '?').join(', ')})`);
    params.push(...f.workload.map((w) => w.toLowerCase()));
  }
  for (const [key, value] of f.label ?? []) {
    // The key is quoted as one JSON path member, so `app.kubernetes.io/name` is not read as a nested path;
    // validated in the CLI as a Kubernetes label key (no quotes or backslashes).
    if (a === CACHED) {
      parts.push("s.kind = 'workload' AND json_extract(s.labels, ?) = ?");
      params.push(`$."${key}"`, value);
    } else parts.push(a.isWorkload);
  }
  return { sql: parts.length > 0 ? `WHERE ${parts.join(' AND ')}` : '', params };
}

/**
 * Runs a flows query and streams its rows. Sorting ties are broken by every key column, so the same database
 * always gives the same order. Attribution columns, filters and groupings join the attribution cache, which the
 * caller refreshes first (src/identity/refresh-attribution.ts).
 */
export function* queryFlows(db: Database.Database, q: FlowQuery): Generator<FlowRow> {
  const a = attributionSql(db, q.attributionCache ?? true);
  const { sql: where, params } = whereClause(q.filter, a);
  const join =
    a === CACHED &&
    (q.attribution === true ||
      usesAttribution(q.filter) ||
      (q.groupBy ?? []).some((g) => ATTRIBUTION_FIELDS.has(g)));
  const attribution = q.attribution === true && (join || a !== CACHED);
  const from = `FROM edges e${join ? JOIN_SQL : ''}`;
  const metrics = `SUM(e.flows) AS flows, SUM(e.replies) AS replies,
    SUM(e.packets_out) AS packetsOut, SUM(e.bytes_out) AS bytesOut,
    SUM(e.packets_in) AS packetsIn, SUM(e.bytes_in) AS bytesIn,
    MIN(e.first_seen) AS firstSeen, MAX(e.last_seen) AS lastSeen, bit_or(e.sources) AS sources,
    SUM(e.bytes_out + e.bytes_in) AS bytes_total, SUM(e.packets_out + e.packets_in) AS packets_total`;
  let sql: string;
  if (q.groupBy === null) {
    const columns = attribution
      ? `, ${a.workload} AS workload, ${a.srcKind} AS srcKind,
         ${dstClassSql(q.vpcCidrs, a)} AS dstClass, ${a.dstName} AS dstName`
      : '';
    sql = `SELECT e.bucket AS bucket, e.src_addr AS src, e.dst_addr AS dst, e.dst_host AS host, e.dst_port AS port,
        e.protocol AS protocol, e.action AS action, e.direction AS direction, e.flows AS flows,
        e.replies AS replies, e.packets_out AS packetsOut, e.bytes_out AS bytesOut, e.packets_in AS packetsIn,
        e.bytes_in AS bytesIn, e.first_seen AS firstSeen, e.last_seen AS lastSeen, e.sources AS sources,
        e.bytes_out + e.bytes_in AS bytes_total, e.packets_out + e.packets_in AS packets_total${columns}
      ${from} ${where}
      ORDER BY ${SORT_SQL[q.sort]}, bucket, src, dst, host, port, protocol, action, direction`;
  } else if (q.groupBy.length === 0) {
    sql = `SELECT ${metrics} ${from} ${where}`;
  } else {
    const cols = q.groupBy.map((g) => groupSql(g, q.vpcCidrs, a)).join(', ');
    // By position: an alias such as `namespace` is also a column of the joined cache, and GROUP BY reads a bare
    // name as the input column first ("ambiguous column name").
    const keys = q.groupBy.map((_g, i) => String(i + 1)).join(', ');
    sql = `SELECT ${cols}, ${metrics} ${from} ${where} GROUP BY ${keys} ORDER BY ${SORT_SQL[q.sort]}, ${keys}`;
  }
  if (q.limit !== null) {
    sql += ' LIMIT ?';
    params.push(q.limit);
  }
  const stmt = db.prepare(sql);
  for (const raw of stmt.iterate(...params) as IterableIterator<Record<string, unknown>>) {
    raw.bytes = raw.bytes_total ?? 0;
    raw.packets = raw.packets_total ?? 0;
    delete raw.bytes_total;
    delete raw.packets_total;
    yield raw as unknown as FlowRow;
  }
}
