import type Database from 'better-sqlite3';

export interface QuarantineFilter {
  readonly reason?: string;
  /** Matches the source's name (path) exactly. */
  readonly source?: string;
  readonly limit: number | null;
}

export interface QuarantineEntry {
  readonly source: string;
  readonly sourceId: string;
  readonly kind: string;
  readonly line: number;
  readonly reason: string;
  readonly raw: string;
  readonly at: number;
}

/** Quarantined lines in file order. */
export function* queryQuarantine(db: Database.Database, f: QuarantineFilter): Generator<QuarantineEntry> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (f.reason !== undefined) {
    where.push('reason = ?');
    params.push(f.reason);
  }
  if (f.source !== undefined) {
    where.push('source_name = ?');
    params.push(f.source);
  }
  let sql = `SELECT source_name AS source, source_id AS sourceId, kind, line_no AS line, reason, raw, at
    FROM quarantine ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
    ORDER BY source_name, source_id, line_no`;
  if (f.limit !== null) {
    sql += ' LIMIT ?';
    params.push(f.limit);
  }
  yield* db.prepare(sql).iterate(...params) as IterableIterator<QuarantineEntry>;
}

export function quarantineCountsByReason(db: Database.Database): { reason: string; count: number }[] {
  return db
    .prepare('SELECT reason, COUNT(*) AS count FROM quarantine GROUP BY reason ORDER BY count DESC, reason')
    .all() as { reason: string; count: number }[];
}

/** Whether `name` has quarantined lines; else the first `limit` names that have, and how many names there are. */
export function quarantineSourceNamed(
  db: Database.Database,
  name: string,
  limit: number,
): { readonly found: boolean; readonly names: string[]; readonly total: number } {
  if (db.prepare('SELECT 1 FROM quarantine WHERE source_name = ? LIMIT 1').get(name) !== undefined)
    return { found: true, names: [], total: 0 };
  const names = db
    .prepare('SELECT DISTINCT source_name FROM quarantine ORDER BY source_name LIMIT ?')
    .pluck()
    .all(limit) as string[];
  const total =
    (db.prepare('SELECT COUNT(DISTINCT source_name) FROM quarantine').pluck().get() as number) ?? 0;
  return { found: false, names, total };
}
