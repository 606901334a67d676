import { appendFileSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { expandPaths } from '../../collectors/sources/open.js';
import { ingest } from '../../src/ingest/ingest.js';
import { edgeTotals } from '../../src/store/source-query.js';
import { Store } from '../../src/store/store.js';
import { tempDir } from '../helpers/tmp.js';
import { toyCollector } from '../helpers/toy-collector.js';

const T0 = 1_763_596_800;
const lines = (from: number, n: number): string =>
  Array.from(
    { length: n },
    (_, i) => `${T0 + from + i} 10.0.0.1 192.0.2.${(from + i) % 9} 443 ${from + i + 1}`,
  ).join('\n') + '\n';
const bytesOf = (from: number, n: number): number =>
  Array.from({ length: n }, (_, i) => from + i + 1).reduce((a, b) => a + b, 0);

/** Makes a file look finished (unmodified for minutes), as a log is once its writer moved on. */
const settle = (path: string): void =>
  utimesSync(path, new Date(Date.now() - 600_000), new Date(Date.now() - 600_000));

async function run(store: Store, ...paths: string[]) {
  return ingest(store, await expandPaths(paths), { collector: toyCollector, parserOptions: {} });
}

describe('source identity', () => {
  it('counts a small file that grows past the fingerprint size once', async () => {
    const dir = tempDir();
    const f = join(dir, 'access.log');
    writeFileSync(f, lines(0, 10)); // well under 4 KiB
    const store = new Store(join(dir, 'db'));
    await run(store, f);
    appendFileSync(f, lines(10, 400)); // now over 4 KiB
    await run(store, f);
    appendFileSync(f, lines(410, 5));
    await run(store, f);
    expect(edgeTotals(store.db).bytes).toBe(bytesOf(0, 415));
    store.close();
  });

  it('counts lines written after the last read exactly once when the log is rotated and compressed', async () => {
    const dir = tempDir();
    const f = join(dir, 'access.log');
    writeFileSync(f, lines(0, 300));
    const store = new Store(join(dir, 'db'));
    await run(store, f);
    appendFileSync(f, lines(300, 50)); // written after the last collect, before rotation
    writeFileSync(join(dir, 'access.log.1.gz'), gzipSync(`${lines(0, 300)}${lines(300, 50)}`));
    writeFileSync(f, lines(1000, 20)); // the new, empty-then-growing log
    await run(store, dir);
    await run(store, dir);
    expect(edgeTotals(store.db).bytes).toBe(bytesOf(0, 350) + bytesOf(1000, 20));
    store.close();
  });

  it('leaves a half-written last line for the next read', async () => {
    const dir = tempDir();
    const f = join(dir, 'live.log');
    const whole = lines(0, 3);
    const cut = whole.length - 6;
    writeFileSync(f, whole.slice(0, cut)); // modified just now: the writer may be mid-record
    const store = new Store(join(dir, 'db'));
    const first = await run(store, f);
    expect(first.totals).toMatchObject({ records: 2, malformed: 0 });
    appendFileSync(f, whole.slice(cut));
    const second = await run(store, f);
    expect(second.totals).toMatchObject({ records: 1, malformed: 0 });
    expect(edgeTotals(store.db).bytes).toBe(bytesOf(0, 3));
    store.close();
  });

  it('counts the last line of a finished file without a trailing newline', async () => {
    const dir = tempDir();
    const f = join(dir, 'done.log');
    writeFileSync(f, lines(0, 3).trimEnd());
    settle(f);
    const store = new Store(join(dir, 'db'));
    expect((await run(store, f)).totals.stored).toBe(3);
    store.close();
  });

  it('reads every file of a tree where one holds only the header all the others begin with', async () => {
    const { vpcFlowCollector } = await import('../../collectors/vpcflow/index.js');
    const { V2_HEADER, vpcRecord } = await import('../helpers/vpc-lines.js');
    const dir = tempDir();
    const file = (from: number, n: number): string =>
      [V2_HEADER, ...Array.from({ length: n }, (_, i) => vpcRecord(from + i))].join('\n') + '\n';
    // An hour's export of an idle interface, then busier ones: in this run, then in a later one.
    writeFileSync(join(dir, 'a0.log.gz'), gzipSync(`${V2_HEADER}\n`));
    for (let f = 1; f <= 3; f++) writeFileSync(join(dir, `a${f}.log.gz`), gzipSync(file(f * 100, 20)));
    writeFileSync(join(dir, 'b.log'), file(900, 7));
    settle(join(dir, 'b.log'));
    const store = new Store(join(tempDir(), 'db'));
    const collect = async (...paths: string[]) =>
      ingest(store, await expandPaths(paths), { collector: vpcFlowCollector, parserOptions: {} });
    const first = await collect(join(dir, 'a0.log.gz'), join(dir, 'a1.log.gz'), join(dir, 'a2.log.gz'));
    expect(first.sources.map((s) => s.status)).toEqual(['ingested', 'ingested', 'ingested']);
    expect(first.totals.stored).toBe(40);
    const second = await collect(dir);
    expect(second.sources.map((s) => [s.name.slice(dir.length + 1), s.status, s.counts.stored])).toEqual([
      ['a0.log.gz', 'unchanged', 0],
      ['a1.log.gz', 'unchanged', 0],
      ['a2.log.gz', 'unchanged', 0],
      ['a3.log.gz', 'ingested', 20],
      ['b.log', 'ingested', 7],
    ]);
    store.close();
  });

  it('reads new export files whole in a database where a header-only file had taken in others (before 0011)', async () => {
    const { vpcFlowCollector } = await import('../../collectors/vpcflow/index.js');
    const { V2_HEADER, vpcRecord } = await import('../helpers/vpc-lines.js');
    const dir = tempDir();
    const store = new Store(join(tempDir(), 'db'));
    const collect = async (path: string) =>
      ingest(store, await expandPaths([path]), { collector: vpcFlowCollector, parserOptions: {} });
    writeFileSync(join(dir, 'a0.log.gz'), gzipSync(`${V2_HEADER}\n`));
    await collect(join(dir, 'a0.log.gz'));
    // As the old identity left it: the header's row had counted the records of the files it was taken for.
    store.db.prepare('UPDATE sources SET stored = 20, records = 21, line_no = 21, byte_offset = 2000').run();
    const next = [V2_HEADER, ...Array.from({ length: 25 }, (_, i) => vpcRecord(i))].join('\n') + '\n';
    writeFileSync(join(dir, 'a4.log.gz'), gzipSync(next));
    const r = await collect(join(dir, 'a4.log.gz'));
    expect(r.sources[0]).toMatchObject({ status: 'ingested', counts: { stored: 25 } });
    store.close();
  });

  it('reads a grown small file again from its start once --fields is right, replacing what it quarantined', async () => {
    const { vpcFlowCollector } = await import('../../collectors/vpcflow/index.js');
    const dir = tempDir();
    const store = new Store(join(tempDir(), 'db'));
    const fields = 'srcaddr dstaddr srcport dstport protocol packets bytes start end action';
    const line = (i: number) =>
      `10.0.0.${i} 52.216.10.5 4${i}000 443 6 1 ${100 + i} ${T0 + i} ${T0 + i + 5} ACCEPT`;
    const f = join(dir, 'custom.log');
    writeFileSync(f, [1, 2, 3].map(line).join('\n') + '\n');
    settle(f);
    const collect = async (parserOptions: Record<string, string>) =>
      ingest(store, await expandPaths([f]), { collector: vpcFlowCollector, parserOptions });
    expect((await collect({})).totals).toMatchObject({ stored: 0, malformed: 3 });
    appendFileSync(f, [4, 5].map(line).join('\n') + '\n');
    settle(f);
    const again = await collect({ fields });
    expect(again.totals).toMatchObject({ records: 5, stored: 5, malformed: 0 });
    expect(store.db.prepare('SELECT COUNT(*) FROM sources').pluck().get()).toBe(1);
    expect(store.db.prepare('SELECT COUNT(*) FROM quarantine').pluck().get()).toBe(0);
    store.close();
  });

  it('still knows a small file grown when its first read ended mid-line, or at a line end', async () => {
    const dir = tempDir();
    const store = new Store(join(dir, 'db'));
    const settled = join(dir, 'settled.log');
    writeFileSync(settled, lines(0, 2).trimEnd()); // a finished file without its final newline
    settle(settled);
    const ended = join(dir, 'ended.log');
    writeFileSync(ended, lines(50, 3));
    await run(store, settled, ended);
    appendFileSync(settled, `\n${lines(2, 60)}`);
    appendFileSync(ended, lines(53, 60));
    const again = await run(store, settled, ended);
    expect(again.sources.map((s) => [s.status, s.counts.stored])).toEqual([
      ['resumed', 60],
      ['resumed', 60],
    ]);
    expect(edgeTotals(store.db).bytes).toBe(bytesOf(0, 62) + bytesOf(50, 63));
    store.close();
  });

  it('reads a member appended to a gzip file, though its size is that of the last one', async () => {
    const dir = tempDir();
    const f = join(dir, 'app.log.gz');
    // Same lengths of text: the trailer (the last member's size) cannot tell the file grew.
    writeFileSync(f, gzipSync(lines(100, 40)));
    const store = new Store(join(dir, 'db'));
    await run(store, f);
    appendFileSync(f, gzipSync(lines(200, 40)));
    expect(lines(100, 40).length).toBe(lines(200, 40).length);
    const again = await run(store, f);
    expect(again.sources[0]).toMatchObject({ status: 'resumed', counts: { records: 40 } });
    expect(edgeTotals(store.db).bytes).toBe(bytesOf(100, 40) + bytesOf(200, 40));
    store.close();
  });

  it('on a gzip row stored before raw_size (migration 0011), counts once and still sees an appended member', async () => {
    const dir = tempDir();
    const f = join(dir, 'app.log.gz');
    writeFileSync(f, gzipSync(lines(100, 40)));
    const store = new Store(join(dir, 'db'));
    await run(store, f);
    // What an older version left: no size on disk.
    store.db.prepare('UPDATE sources SET raw_size = NULL').run();
    const same = await run(store, f);
    expect(same.sources[0]).toMatchObject({ status: 'unchanged', counts: { records: 0 }, error: null });
    expect(edgeTotals(store.db).bytes).toBe(bytesOf(100, 40));
    expect(store.db.prepare('SELECT records, raw_size FROM sources').get()).toEqual({
      records: 40,
      raw_size: gzipSync(lines(100, 40)).length,
    });

    store.db.prepare('UPDATE sources SET raw_size = NULL').run();
    appendFileSync(f, gzipSync(lines(200, 40)));
    const again = await run(store, f);
    expect(again.sources[0]).toMatchObject({ status: 'resumed', counts: { records: 40 } });
    expect(edgeTotals(store.db).bytes).toBe(bytesOf(100, 40) + bytesOf(200, 40));
    expect((await run(store, f)).sources[0]).toMatchObject({ status: 'unchanged', counts: { records: 0 } });
    expect(edgeTotals(store.db).bytes).toBe(bytesOf(100, 40) + bytesOf(200, 40));
    store.close();
  });

  it('closes gzip files it finds unchanged', async () => {
    const dir = tempDir();
    for (let i = 0; i < 40; i++) writeFileSync(join(dir, `f${i}.log.gz`), gzipSync(lines(i * 100, 100)));
    const store = new Store(join(dir, 'db'));
    await run(store, dir);
    const before = readdirSync('/proc/self/fd').length;
    const again = await run(store, dir);
    expect(again.sources.filter((s) => s.name.endsWith('.gz')).every((s) => s.status === 'unchanged')).toBe(
      true,
    );
    // A leak would keep one descriptor per file (40); a few may still be closing.
    expect(readdirSync('/proc/self/fd').length).toBeLessThanOrEqual(before + 5);
    store.close();
  });

  it('reads the other inputs when one path is missing', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'good.log'), lines(0, 5));
    const store = new Store(join(dir, 'db'));
    const r = await run(store, join(dir, 'missing.log'), join(dir, 'good.log'));
    expect(r.sources.map((s) => s.status)).toEqual(['failed', 'ingested']);
    expect(r.error?.message).toMatch(/missing\.log: no such file or directory/);
    expect(edgeTotals(store.db).bytes).toBe(bytesOf(0, 5));
    store.close();
  });
});

describe('hostile times', () => {
  it('quarantines a record whose time is past the year 2100 instead of storing it', async () => {
    const { vpcFlowCollector } = await import('../../collectors/vpcflow/index.js');
    const dir = tempDir();
    const f = join(dir, 'us.log');
    writeFileSync(
      f,
      [
        '2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010000000 1418530070000000 ACCEPT OK',
        '2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK',
      ].join('\n') + '\n',
    );
    settle(f);
    const store = new Store(join(dir, 'db'));
    const r = await ingest(store, await expandPaths([f]), { collector: vpcFlowCollector, parserOptions: {} });
    expect(r.totals).toMatchObject({ stored: 1, malformed: 1 });
    expect(r.sources[0]!.reasons).toEqual({ bad_time: 1 });
    store.close();
  });
});
