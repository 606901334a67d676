import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/tmp.js';

const STORE = fileURLToPath(new URL('../../dist/src/store/store.js', import.meta.url));

/**
 * One writer process: opens the (perhaps not yet created) database and commits `n` one-edge batches of its own
 * source, each naming the checkpoint it started from, as a collect or a Kafka consumer does. Exits 1 with the
 * error's code on the first batch that fails.
 */
const WRITER = `
const { Store } = await import(process.argv[1]);
const [path, id, n] = process.argv.slice(2);
let store;
try {
  store = new Store(path);
  const zero = { records: 0, stored: 0, skipped: 0, malformed: 0 };
  for (let i = 0; i < Number(n); i++) {
    store.writeBatch({
      edges: [{
        bucket: 1763596800, srcAddr: '10.0.0.' + id, dstAddr: '192.0.2.' + (i % 50), dstHost: '', dstPort: 443,
        protocol: 6, action: 'accept', direction: 'egress', flows: 1, replies: 0, packetsOut: 1, bytesOut: 10,
        packetsIn: 0, bytesIn: 0, firstSeen: 1763596800, lastSeen: 1763596800, sources: 1,
      }],
      quarantine: [],
      checkpoints: [{
        sourceId: 'writer-' + id, fingerprintLength: 0, previousLineNo: i === 0 ? null : i, kind: 'vpcflow',
        name: 'writer-' + id, lineNo: i + 1, byteOffset: i + 1, done: false, parserState: null,
        delta: { ...zero, records: 1, stored: 1 }, firstTime: 1763596800, lastTime: 1763596800,
      }],
    });
  }
} catch (err) {
  process.stderr.write(String(err.code ?? err.message));
  process.exit(1);
}
store.close();
`;

function writer(path: string, id: number, batches: number): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(
    process.execPath,
    ['--input-type=module', '-e', WRITER, STORE, path, String(id), String(batches)],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stderr })));
}

describe('several processes writing one database', () => {
  // A deferred transaction that reads its checkpoint first cannot take the write lock once another writer has
  // committed meanwhile (SQLITE_BUSY_SNAPSHOT, at once, whatever busy_timeout says): this lost most writers.
  it('every writer commits every batch, on a database none of them created', async () => {
    const path = join(tempDir(), 'shared.db');
    const writers = 4;
    const batches = 1500;
    const results = await Promise.all(Array.from({ length: writers }, (_, id) => writer(path, id, batches)));
    expect(results).toEqual(Array.from({ length: writers }, () => ({ code: 0, stderr: '' })));

    const db = new Database(path, { readonly: true });
    try {
      const sources = db
        .prepare('SELECT source_id, line_no, records FROM sources ORDER BY source_id')
        .all() as { source_id: string; line_no: number; records: number }[];
      expect(sources).toEqual(
        Array.from({ length: writers }, (_, id) => ({
          source_id: `writer-${id}`,
          line_no: batches,
          records: batches,
        })),
      );
      const totals = db.prepare('SELECT SUM(flows) AS flows, SUM(bytes_out) AS bytes FROM edges').get();
      expect(totals).toEqual({ flows: writers * batches, bytes: writers * batches * 10 });
      // Each migration ran once, although every writer found the database without a schema.
      const versions = db.prepare('SELECT version FROM schema_migrations').pluck().all() as number[];
      expect(new Set(versions).size).toBe(versions.length);
    } finally {
      db.close();
    }
  }, 120_000);
});
