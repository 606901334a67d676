/**
 * Reads for the nightly report (src/report): what changed between two suggest runs, traffic per day, input gaps,
 * and the record of reports already written.
 */
import type Database from 'better-sqlite3';
import { SOURCE_KINDS, type SourceKind } from '../model/observation.js';

export interface RunDiff {
  readonly added: string[];
  readonly removed: string[];
  readonly changed: string[];
}

/** Candidate ids added, removed, or changed (same id, another rule) from run `before` to run `after`. */
export function runDiff(db: Database.Database, before: number | null, after: number): RunDiff {
  const rows = (run: number | null): Map<string, string> =>
    new Map(
      run === null
        ? []
        : (
            db.prepare('SELECT id, rule_hash FROM candidate_runs WHERE run = ? ORDER BY id').all(run) as {
              id: string;
              rule_hash: string;
            }[]
          ).map((r) => [r.id, r.rule_hash]),
    );
  const a = rows(before);
  const b = rows(after);
  const added = [...b.keys()].filter((id) => !a.has(id));
  const removed = [...a.keys()].filter((id) => !b.has(id));
  const changed = [...b.keys()].filter((id) => a.has(id) && a.get(id) !== b.get(id));
  return { added, removed, changed };
}

export interface ReportRecord {
  readonly seq: number;
  readonly at: number;
  readonly since: number;
  readonly until: number;
  readonly run: number | null;
}

export function lastReport(db: Database.Database): ReportRecord | null {
  return (
    (db.prepare('SELECT seq, at, since, until, run FROM reports ORDER BY seq DESC LIMIT 1').get() as
      ReportRecord | undefined) ?? null
  );
}

export function recordReport(db: Database.Database, r: Omit<ReportRecord, 'seq'>): void {
  db.prepare('INSERT INTO reports (at, since, until, run) VALUES (?, ?, ?, ?)').run(
    r.at,
    r.since,
    r.until,
    r.run,
  );
}

export interface DayTraffic {
  readonly day: number;
  readonly flows: number;
  readonly bytes: number;
}

/** Egress flows and bytes per UTC day of [since, until]. */
export function trafficPerDay(db: Database.Database, since: number, until: number): DayTraffic[] {
  return db
    .prepare(
      `SELECT (bucket / 86400) * 86400 AS day, SUM(flows) AS flows, SUM(bytes_out + bytes_in) AS bytes
       FROM edges WHERE direction = 'egress' AND last_seen >= ? AND bucket <= ?
       GROUP BY 1 ORDER BY 1`,
    )
    .all(since, until) as DayTraffic[];
}

export interface InputGap {
  readonly kind: SourceKind;
  /** First bucket without data, and the first bucket with data again. */
  readonly from: number;
  readonly to: number;
}

/**
 * Stretches of at least `minBuckets` buckets inside a source kind's own data range in [since, until] where that
 * kind delivered nothing: a collector that stopped, a log shipper that lagged, a rotated file never read.
 */
export function inputGaps(
  db: Database.Database,
  since: number,
  until: number,
  bucketSeconds: number,
  minBuckets = 2,
): InputGap[] {
  const rows = db
    .prepare(
      `SELECT bucket, bit_or(sources) AS sources FROM edges WHERE bucket >= ? AND bucket <= ?
       GROUP BY bucket ORDER BY bucket`,
    )
    .all(Math.floor(since / bucketSeconds) * bucketSeconds, until) as { bucket: number; sources: number }[];
  const out: InputGap[] = [];
  SOURCE_KINDS.forEach((kind, i) => {
    const buckets = rows.filter((r) => (r.sources & (1 << i)) !== 0).map((r) => r.bucket);
    for (let j = 1; j < buckets.length; j++) {
      const missing = (buckets[j]! - buckets[j - 1]!) / bucketSeconds - 1;
      if (missing >= minBuckets) out.push({ kind, from: buckets[j - 1]! + bucketSeconds, to: buckets[j]! });
    }
  });
  return out;
}

/** Malformed lines per source kind and reason, over inputs read in [since, until]. */
export function quarantinePerReason(
  db: Database.Database,
): { kind: string; reason: string; count: number }[] {
  return db
    .prepare('SELECT kind, reason, COUNT(*) AS count FROM quarantine GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2')
    .all() as { kind: string; reason: string; count: number }[];
}
