/**
 * Naive SQLite baseline: read the file line by line, split, insert one row per record with better-sqlite3,
 * 10,000 rows per transaction, default pragmas. What a quick script would do.
 *
 *   node dist/scripts/bench/naive-sqlite.js --file flows.log.gz --db /tmp/x/naive.db
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import Database from 'better-sqlite3';
import { argValue, writeReport } from './child-report.js';

const BATCH = 10_000;
const INT_COLUMNS = new Set([0, 5, 6, 7, 8, 9, 10, 11]);

type Row = Array<string | number | null>;

async function main(argv: string[]): Promise<void> {
  const file = argValue(argv, '--file');
  const dbPath = argValue(argv, '--db');
  const db = new Database(dbPath);
  db.exec(`CREATE TABLE flows (
    version INTEGER, account_id TEXT, interface_id TEXT, srcaddr TEXT, dstaddr TEXT,
    srcport INTEGER, dstport INTEGER, protocol INTEGER, packets INTEGER, bytes INTEGER,
    start INTEGER, "end" INTEGER, action TEXT, log_status TEXT)`);
  const insert = db.prepare(`INSERT INTO flows VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  const insertBatch = db.transaction((rows: Row[]) => {
    for (const row of rows) insert.run(row);
  });

  const raw = createReadStream(file, { highWaterMark: 1 << 16 });
  const input = file.endsWith('.gz') ? raw.pipe(createGunzip()) : raw;
  const lines = createInterface({ input, crlfDelay: Infinity });
  let batch: Row[] = [];
  let rows = 0;
  let first = true;
  for await (const line of lines) {
    if (first) {
      first = false;
      if (line.startsWith('version ')) continue; // the S3-export header
    }
    if (line.length === 0) continue;
    const fields = line.split(' ');
    if (fields.length !== 14) continue;
    const row: Row = fields.map((f, i) => (f === '-' ? null : INT_COLUMNS.has(i) ? Number(f) : f));
    batch.push(row);
    if (batch.length >= BATCH) {
      insertBatch(batch);
      rows += batch.length;
      batch = [];
    }
  }
  if (batch.length > 0) {
    insertBatch(batch);
    rows += batch.length;
  }
  db.close();
  writeReport({ rows, rowsLabel: 'rows' });
}

main(process.argv).catch((err: unknown) => {
  process.stderr.write(`naive-sqlite: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
