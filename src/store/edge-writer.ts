import type Database from 'better-sqlite3';
import {
  COUNTERS,
  C_BYTES_IN,
  C_BYTES_OUT,
  C_FIRST,
  C_FLOWS,
  C_LAST,
  C_PACKETS_IN,
  C_PACKETS_OUT,
  C_REPLIES,
  K_BUCKET,
  K_DST,
  K_HOST,
  K_PACKED,
  K_SOURCES,
  K_SRC,
  KEY_INTS,
  type OrderedEdges,
} from '../model/edge-table.js';

/**
 * Rows per multi-row upsert: one call then costs about what binding one row's values costs. The values are passed
 * as arguments, not as one array: better-sqlite3 reads an array element by element through V8's API, which
 * doubled the cost of binding.
 */
const ROWS_PER_STATEMENT = 32;

/**
 * A kind of row: with a host name or without. Rows without one (every flow-log edge) carry '' as a literal, because
 * binding a string costs more than SQLite's own work on a small column.
 */
interface RowKind {
  readonly hasHost: boolean;
  readonly width: number;
  readonly params: (number | string)[];
  filled: number;
  many?: Database.Statement;
  one?: Database.Statement;
}

function upsertSql(kind: RowKind, rows: number): string {
  const row = `(?, ?, ?, ${kind.hasHost ? '?' : "''"}, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;
  return `
    INSERT INTO edge_rows (bucket, src_addr, dst_addr, dst_host, key,
                           flows, replies, packets_out, bytes_out, packets_in, bytes_in, first_seen, last_seen, sources)
    VALUES ${new Array(rows).fill(row).join(', ')}
    ON CONFLICT DO UPDATE SET
      flows = flows + excluded.flows,
      replies = replies + excluded.replies,
      packets_out = packets_out + excluded.packets_out,
      bytes_out = bytes_out + excluded.bytes_out,
      packets_in = packets_in + excluded.packets_in,
      bytes_in = bytes_in + excluded.bytes_in,
      first_seen = MIN(first_seen, excluded.first_seen),
      last_seen = MAX(last_seen, excluded.last_seen),
      sources = sources | excluded.sources`;
}

/**
 * Adds edge deltas to the `edges` table: a new key inserts, a known one adds its counters, widens first and last
 * seen and ORs the source kinds. Call inside a transaction. Rows of one kind keep their order, so edges handed
 * over in key order walk the B-tree forward.
 */
export class EdgeWriter {
  readonly #db: Database.Database;
  /** Without a host, then with one. */
  readonly #kinds: readonly RowKind[];

  constructor(db: Database.Database) {
    this.#db = db;
    this.#kinds = [false, true].map((hasHost) => {
      const width = hasHost ? 14 : 13;
      return { hasHost, width, params: new Array<number | string>(width * ROWS_PER_STATEMENT), filled: 0 };
    });
  }

  /**
   * Writes every edge, in the order given; returns how many, and the longest span from a bucket's start to an edge's
   * last sighting.
   */
  write(edges: OrderedEdges): { readonly rows: number; readonly span: number } {
    // IPv4 addresses come as numbers, as edge_rows stores them (migration 0009); host names as text.
    const { size, values, bucketSeconds, keys, counters: k, order } = edges;
    let span = 0;
    // A write that threw (its transaction rolled back) may have left rows half gathered.
    for (const kind of this.#kinds) kind.filled = 0;
    for (let i = 0; i < size; i++) {
      const e = order[i]!;
      const r = e * KEY_INTS;
      const c = e * COUNTERS;
      const bucket = (keys[r + K_BUCKET]! >>> 0) * bucketSeconds;
      const lastSeen = k[c + C_LAST]!;
      if (lastSeen - bucket > span) span = lastSeen - bucket;
      const host = keys[r + K_HOST]!;
      // Host 0 is the empty string.
      const kind = this.#kinds[host === 0 ? 0 : 1]!;
      const p = kind.params;
      let j = kind.filled;
      p[j++] = bucket;
      p[j++] = values[keys[r + K_SRC]!]!;
      p[j++] = values[keys[r + K_DST]!]!;
      if (kind.hasHost) p[j++] = values[host]!;
      // The key column is packKey's number (migration 0010).
      p[j++] = keys[r + K_PACKED]!;
      p[j++] = k[c + C_FLOWS]!;
      p[j++] = k[c + C_REPLIES]!;
      p[j++] = k[c + C_PACKETS_OUT]!;
      p[j++] = k[c + C_BYTES_OUT]!;
      p[j++] = k[c + C_PACKETS_IN]!;
      p[j++] = k[c + C_BYTES_IN]!;
      p[j++] = k[c + C_FIRST]!;
      p[j++] = lastSeen;
      p[j++] = keys[r + K_SOURCES]!;
      if (j === p.length) {
        kind.many ??= this.#db.prepare(upsertSql(kind, ROWS_PER_STATEMENT));
        kind.many.run(...p);
        j = 0;
      }
      kind.filled = j;
    }
    for (const kind of this.#kinds) {
      if (kind.filled === 0) continue;
      kind.one ??= this.#db.prepare(upsertSql(kind, 1));
      for (let i = 0; i < kind.filled; i += kind.width) kind.one.run(...kind.params.slice(i, i + kind.width));
      kind.filled = 0;
    }
    return { rows: size, span };
  }
}
