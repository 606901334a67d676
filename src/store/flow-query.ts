import type Database from 'better-sqlite3';
import { parseCidr } from '../model/cidr.js';
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
] as const;
export type GroupField = (typeof GROUP_FIELDS)[number];

export const SORT_KEYS = ['bytes', 'flows', 'packets', 'first-seen', 'last-seen'] as const;
export type SortKey = (typeof SORT_KEYS)[number];

export interface FlowQuery {
  readonly filter: FlowFilter;
  /** Null lists edges as stored (one per bucket). */
  readonly groupBy: readonly GroupField[] | null;
  readonly sort: SortKey;
  readonly limit: number | null;
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
}

const GROUP_SQL: Record<GroupField, string> = {
  src: 'src_addr AS src',
  dst: 'dst_addr AS dst',
  host: 'dst_host AS host',
  port: 'dst_port AS port',
  protocol: 'protocol',
  action: 'action',
  direction: 'direction',
  hour: '(bucket / 3600) * 3600 AS hour',
  day: '(bucket / 86400) * 86400 AS day',
};
const GROUP_KEY: Record<GroupField, string> = {
  src: 'src',
  dst: 'dst',
  host: 'host',
  port: 'port',
  protocol: 'protocol',
  action: 'action',
  direction: 'direction',
  hour: 'hour',
  day: 'day',
};
const SORT_SQL: Record<SortKey, string> = {
  bytes: 'bytes_total DESC',
  flows: 'flows DESC',
  packets: 'packets_total DESC',
  'first-seen': 'firstSeen ASC',
  'last-seen': 'lastSeen DESC',
};

function likeEscape(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** Builds the WHERE clause; every user value is a bound parameter. */
export function whereClause(f: FlowFilter): { sql: string; params: unknown[] } {
  const parts: string[] = [];
  const params: unknown[] = [];
  const anyOf = (clauses: string[]): void => {
    if (clauses.length > 0) parts.push(`(${clauses.join(' OR ')})`);
  };
  if (f.src?.length) {
    anyOf(
      f.src.map((s) => {
        params.push(s);
        return 'in_cidr(src_addr, ?)';
      }),
    );
  }
  if (f.dst?.length) {
    anyOf(
      f.dst.map((d) => {
        if (parseCidr(d) !== null) {
          params.push(d);
          return 'in_cidr(dst_addr, ?)';
        }
        const host = d.toLowerCase().replace(/\.$/, '');
        if (host.startsWith('*.')) {
          const suffix = host.slice(2);
          params.push(suffix, `%.${likeEscape(suffix)}`);
          return "(dst_host = ? OR dst_host LIKE ? ESCAPE '\\')";
        }
        params.push(host);
        return 'dst_host = ?';
      }),
    );
  }
  if (f.port?.length) {
    parts.push(`dst_port IN (${f.port.map(() => '?').join(', ')})`);
    params.push(...f.port);
  }
  if (f.protocol?.length) {
    parts.push(`protocol IN (${f.protocol.map(() => '?').join(', ')})`);
    params.push(...f.protocol);
  }
  if (f.action !== undefined) {
    parts.push('action = ?');
    params.push(f.action);
  }
  if (f.direction !== undefined) {
    parts.push('direction = ?');
    params.push(f.direction);
  }
  if (f.sourceKind?.length) {
    const mask = f.sourceKind.reduce((m, k) => m | (1 << SOURCE_KINDS.indexOf(k)), 0);
    parts.push('(sources & ?) != 0');
    params.push(mask);
  }
  // An edge is in the window when its seen range overlaps it. `bucket <= until` is implied (a bucket starts at
  // or before its first record) and lets SQLite use the (…, bucket) indexes; no such bound exists for `since`,
  // since one record (a long proxy tunnel) may outlast many buckets.
  if (f.since !== undefined) {
    parts.push('last_seen >= ?');
    params.push(f.since);
  }
  if (f.until !== undefined) {
    parts.push('bucket <= ? AND first_seen <= ?');
    params.push(f.until, f.until);
  }
  return { sql: parts.length > 0 ? `WHERE ${parts.join(' AND ')}` : '', params };
}

/**
 * Runs a flows query and streams its rows. Sorting ties are broken by every key column, so the same database
 * always gives the same order.
 */
export function* queryFlows(db: Database.Database, q: FlowQuery): Generator<FlowRow> {
  const { sql: where, params } = whereClause(q.filter);
  const metrics = `SUM(flows) AS flows, SUM(replies) AS replies,
    SUM(packets_out) AS packetsOut, SUM(bytes_out) AS bytesOut,
    SUM(packets_in) AS packetsIn, SUM(bytes_in) AS bytesIn,
    MIN(first_seen) AS firstSeen, MAX(last_seen) AS lastSeen, bit_or(sources) AS sources,
    SUM(bytes_out + bytes_in) AS bytes_total, SUM(packets_out + packets_in) AS packets_total`;
  let sql: string;
  if (q.groupBy === null) {
    sql = `SELECT bucket, src_addr AS src, dst_addr AS dst, dst_host AS host, dst_port AS port, protocol, action,
        direction, flows, replies, packets_out AS packetsOut, bytes_out AS bytesOut, packets_in AS packetsIn,
        bytes_in AS bytesIn, first_seen AS firstSeen, last_seen AS lastSeen, sources,
        bytes_out + bytes_in AS bytes_total, packets_out + packets_in AS packets_total
      FROM edges ${where}
      ORDER BY ${SORT_SQL[q.sort]}, bucket, src, dst, host, port, protocol, action, direction`;
  } else if (q.groupBy.length === 0) {
    sql = `SELECT ${metrics} FROM edges ${where}`;
  } else {
    const cols = q.groupBy.map((g) => GROUP_SQL[g]).join(', ');
    const keys = q.groupBy.map((g) => GROUP_KEY[g]).join(', ');
    sql = `SELECT ${cols}, ${metrics} FROM edges ${where} GROUP BY ${keys} ORDER BY ${SORT_SQL[q.sort]}, ${keys}`;
  }
  if (q.limit !== null) {
    sql += ' LIMIT ?';
    params.push(q.limit);
  }
  const stmt = db.prepare(sql);
  for (const raw of stmt.iterate(...params) as IterableIterator<Record<string, unknown>>) {
    delete raw.bytes_total;
    delete raw.packets_total;
    yield raw as unknown as FlowRow;
  }
}
