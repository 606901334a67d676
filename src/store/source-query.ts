import type Database from 'better-sqlite3';
import { toSourceState, type SourceState } from './store.js';

/** Every input source ever read, most recently updated first: the ingest status. */
export function listSources(db: Database.Database): SourceState[] {
  const rows = db.prepare('SELECT * FROM sources ORDER BY updated_at DESC, name, source_id').all();
  return (rows as Parameters<typeof toSourceState>[0][]).map(toSourceState);
}

export interface EdgeTotals {
  readonly edges: number;
  readonly flows: number;
  readonly replies: number;
  readonly packets: number;
  readonly bytes: number;
}

/** Sums over every stored edge; `flows + replies` equals the records stored. */
export function edgeTotals(db: Database.Database): EdgeTotals {
  const r = db
    .prepare(
      `SELECT COUNT(*) AS edges, COALESCE(SUM(flows), 0) AS flows, COALESCE(SUM(replies), 0) AS replies,
        COALESCE(SUM(packets_out + packets_in), 0) AS packets, COALESCE(SUM(bytes_out + bytes_in), 0) AS bytes
      FROM edges`,
    )
    .get() as EdgeTotals;
  return r;
}
