import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { expandPaths, type SourceRef } from '../../collectors/sources/open.js';
import { ingest, ingestInto, storeSink, type BatchSink, type SourceBatch } from '../../src/ingest/ingest.js';
import { ConcurrentIngestError, UsageError } from '../../src/model/errors.js';
import { edgeTotals } from '../../src/store/source-query.js';
import { Store } from '../../src/store/store.js';
import { dumpIngest } from '../helpers/db-dump.js';
import { tempDir } from '../helpers/tmp.js';
import { toyCollector } from '../helpers/toy-collector.js';

const T0 = 1_763_596_800;

/** `n` toy lines from line `from` on; line i carries i + 1 bytes. */
function toyLines(from: number, n: number): string {
  let out = '';
  for (let i = from; i < from + n; i++)
    out += `${T0 + i * 7} 10.0.${i % 3}.1 192.0.2.${i % 5} ${i % 2 ? 443 : 80} ${i + 1}\n`;
  return out;
}

const bytesOf = (from: number, n: number): number => n * from + (n * (n + 1)) / 2;

/** `count` files of `lines` lines each, every one different, in a folder; returns the folder. */
function smallFiles(count: number, lines: number): string {
  const dir = tempDir();
  for (let f = 0; f < count; f++)
    writeFileSync(join(dir, `part-${String(f).padStart(4, '0')}.log`), toyLines(f * lines, lines));
  return dir;
}

/** The store's sink, recording each batch's checkpoints (by file name) before it commits. */
function recordingSink(store: Store, batches: string[][], refuse?: (b: SourceBatch) => boolean): BatchSink {
  const inner = storeSink(store);
  return {
    ...inner,
    write(b) {
      batches.push(b.checkpoints.map((c) => c.name.slice(c.name.lastIndexOf('/') + 1)));
      if (refuse?.(b) === true) throw new ConcurrentIngestError(b.checkpoints[0]!.name);
      return inner.write(b);
    },
  };
}

const options = { collector: toyCollector, parserOptions: {} };

/** A run whose every commit is refused, as when another collector got to its inputs first. */
function refuseEveryCommit(store: Store, refs: readonly SourceRef[]) {
  return ingestInto(
    recordingSink(store, [], () => true),
    3600,
    refs,
    options,
  );
}

describe('small sources share a commit', () => {
  it('one commit for many small files, and the database they leave is that of a commit each', async () => {
    const dir = smallFiles(40, 25);
    const shared = new Store(join(tempDir(), 'shared.db'));
    const batches: string[][] = [];
    const r = await ingestInto(recordingSink(shared, batches), 3600, await expandPaths([dir]), options);
    expect(batches).toHaveLength(1);
    expect(batches[0]).toHaveLength(40);
    expect(r.sources.every((s) => s.status === 'ingested')).toBe(true);
    expect(r.totals.stored).toBe(1000);
    expect(edgeTotals(shared.db).bytes).toBe(bytesOf(0, 1000));

    // The same files, one run each: one commit each.
    const separate = new Store(join(tempDir(), 'separate.db'));
    for (const ref of await expandPaths([dir])) await ingest(separate, [ref], options);
    const paths = [shared.path, separate.path];
    shared.close();
    separate.close();
    expect(dumpIngest(paths[0]!)).toEqual(dumpIngest(paths[1]!));
  });

  it('still commits whenever it holds a commit of lines', async () => {
    const dir = smallFiles(10, 60);
    const store = new Store(join(tempDir(), 'x.db'));
    const batches: string[][] = [];
    await ingestInto(recordingSink(store, batches), 3600, await expandPaths([dir]), {
      ...options,
      flushLines: 150,
    });
    // 60 lines a file: a commit holds three files (180 lines), the last one what is left at the end.
    expect(batches.map((b) => b.length)).toEqual([3, 3, 3, 1]);
    expect(edgeTotals(store.db).bytes).toBe(bytesOf(0, 600));
    store.close();
  });

  it('a refused commit fails every source it held; the next run reads them all, once', async () => {
    const dir = smallFiles(5, 20);
    const store = new Store(join(tempDir(), 'x.db'));
    const refs = await expandPaths([dir]);
    const refused = await refuseEveryCommit(store, refs);
    expect(refused.sources.map((s) => s.status)).toEqual(Array(5).fill('failed'));
    expect(refused.totals).toEqual({ records: 0, stored: 0, skipped: 0, malformed: 0 });
    expect(refused.error).toBeInstanceOf(ConcurrentIngestError);
    expect(edgeTotals(store.db).bytes).toBe(0);

    const again = await ingest(store, refs, options);
    expect(again.sources.map((s) => s.status)).toEqual(Array(5).fill('ingested'));
    expect(edgeTotals(store.db).bytes).toBe(bytesOf(0, 100));
    store.close();
  });

  it('a refused commit takes its skip and quarantine reasons out of the results too', async () => {
    const dir = tempDir();
    // Small inputs sharing one commit, and a large one committing on its own (flushLines), each with skipped and
    // quarantined lines: nothing of any is stored, so no reason may be counted either.
    writeFileSync(join(dir, 'a.log'), `# comment\nnot a line\n${toyLines(0, 10)}`);
    writeFileSync(join(dir, 'b.log'), `${toyLines(10, 10)}\n1 2\n`);
    writeFileSync(join(dir, 'c-large.log'), `# c\n${toyLines(20, 120)}x y\n${toyLines(140, 120)}`);
    const store = new Store(join(tempDir(), 'x.db'));
    const refs = await expandPaths([dir]);
    const r = await ingestInto(
      recordingSink(store, [], () => true),
      3600,
      refs,
      { ...options, flushLines: 100 },
    );
    expect(r.sources.map((s) => [s.status, s.counts, s.reasons])).toEqual(
      Array(3).fill(['failed', { records: 0, stored: 0, skipped: 0, malformed: 0 }, {}]),
    );
    // What a run that commits says, for comparison: the reasons are those of what was stored.
    const ok = await ingest(store, refs, options);
    expect(ok.sources.map((s) => s.reasons)).toEqual([
      { comment: 1, field_count: 1 },
      { empty: 1, field_count: 1 },
      { comment: 1, field_count: 1 },
    ]);
    store.close();
  });

  it('a copy of a source whose commit is still pending counts once, plain or gzip', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'a.log'), toyLines(0, 30));
    copyFileSync(join(dir, 'a.log'), join(dir, 'b-copy.log'));
    writeFileSync(join(dir, 'c-rotated.log.gz'), gzipSync(toyLines(0, 30)));
    const store = new Store(join(tempDir(), 'x.db'));
    const batches: string[][] = [];
    const r = await ingestInto(recordingSink(store, batches), 3600, await expandPaths([dir]), options);
    expect(r.sources.map((s) => [s.status, s.counts.stored])).toEqual([
      ['ingested', 30],
      ['unchanged', 0],
      ['unchanged', 0],
    ]);
    expect(batches).toHaveLength(1);
    expect(edgeTotals(store.db).bytes).toBe(bytesOf(0, 30));
    store.close();
  });

  it('a once-small source that grew, seen again in the same run, reads only its new lines', async () => {
    const dir = tempDir();
    // Under 4 KiB, so it is known by a shorter fingerprint; the grown copy starts with the same bytes.
    writeFileSync(join(dir, 'a-small.log'), toyLines(0, 20));
    writeFileSync(join(dir, 'b-grown.log'), toyLines(0, 200));
    const store = new Store(join(tempDir(), 'x.db'));
    const r = await ingest(store, await expandPaths([dir]), options);
    expect(r.sources.map((s) => [s.status, s.counts.stored])).toEqual([
      ['ingested', 20],
      ['resumed', 180],
    ]);
    expect(edgeTotals(store.db).bytes).toBe(bytesOf(0, 200));
    store.close();
  });

  it('a copy of an input whose lines were all refused counts once, and is not read again from its start', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'a-bad.log'), 'not a line\nnor this\nnor that\n');
    copyFileSync(join(dir, 'a-bad.log'), join(dir, 'b-bad-copy.log'));
    const store = new Store(join(tempDir(), 'x.db'));
    const r = await ingest(store, await expandPaths([dir]), options);
    expect(r.sources.map((x) => [x.status, x.counts.malformed])).toEqual([
      ['ingested', 3],
      ['unchanged', 0],
    ]);
    const row = store.db.prepare('SELECT records, malformed FROM sources').all();
    expect(row).toEqual([{ records: 3, malformed: 3 }]);
    store.close();
  });

  it('a refused commit fails an input and its copy alike', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'a.log'), toyLines(0, 50));
    copyFileSync(join(dir, 'a.log'), join(dir, 'b-copy.log'));
    writeFileSync(join(dir, 'c.log'), toyLines(50, 50));
    const store = new Store(join(tempDir(), 'x.db'));
    const r = await refuseEveryCommit(store, await expandPaths([dir]));
    expect(r.sources.map((x) => x.status)).toEqual(['failed', 'failed', 'failed']);
    expect(r.totals.stored).toBe(0);
    store.close();
  });

  it("an input's own read error survives a refusal of the commit it shares", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'a.log'), toyLines(0, 50));
    const gz = gzipSync(toyLines(50, 5000));
    writeFileSync(join(dir, 'b-cut.log.gz'), gz.subarray(0, gz.length - 200));
    const store = new Store(join(tempDir(), 'x.db'));
    const r = await refuseEveryCommit(store, await expandPaths([dir]));
    expect(r.sources.map((x) => [x.status, x.error?.name])).toEqual([
      ['failed', 'ConcurrentIngestError'],
      ['failed', 'InputError'],
    ]);
    store.close();
  });

  it('a database that cannot be written ends the run, and stores no checkpoint without its lines', async () => {
    const dir = smallFiles(3, 40);
    const store = new Store(join(tempDir(), 'x.db'));
    const refs = await expandPaths([dir]);
    let failures = 1;
    const inner = storeSink(store);
    const busy: BatchSink = {
      ...inner,
      write(b) {
        if (failures-- > 0) throw new UsageError('database is locked', 'db_busy');
        return inner.write(b);
      },
    };
    await expect(ingestInto(busy, 3600, refs, { ...options, flushLines: 50 })).rejects.toThrow(/locked/);
    // Whatever was committed carries its lines: the next run brings the store to exactly one reading.
    expect(edgeTotals(store.db).bytes).toBe(0);
    await ingest(store, refs, options);
    expect(edgeTotals(store.db).bytes).toBe(bytesOf(0, 120));
    const sources = store.db.prepare('SELECT SUM(records) AS n FROM sources').get();
    expect(sources).toEqual({ n: 120 });
    store.close();
  });
});
