import Database from 'better-sqlite3';

/** Everything ingest writes to a database file, in a stable order: for comparing two runs row by row. */
export function dumpIngest(db: string): { edges: unknown[]; sources: unknown[]; quarantine: unknown[] } {
  const d = new Database(db, { readonly: true });
  try {
    return {
      edges: d
        .prepare(
          'SELECT * FROM edges ORDER BY bucket, src_addr, dst_addr, dst_host, dst_port, protocol, action, direction',
        )
        .all(),
      sources: d
        .prepare(
          'SELECT source_id, line_no, byte_offset, done, records, stored, skipped, malformed FROM sources ORDER BY source_id',
        )
        .all(),
      quarantine: d
        .prepare('SELECT source_id, line_no, reason, raw FROM quarantine ORDER BY source_id, line_no')
        .all(),
    };
  } finally {
    d.close();
  }
}
