import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { expandPaths } from '../../collectors/sources/open.js';
import { EdgeOrderer } from '../../src/ingest/edge-order.js';
import { ingest, ingestInto, type BatchSink } from '../../src/ingest/ingest.js';
import { edgesOf } from '../../src/model/edge-table.js';
import { ConcurrentIngestError } from '../../src/model/errors.js';
import { queryQuarantine } from '../../src/store/quarantine-query.js';
import { edgeTotals } from '../../src/store/source-query.js';
import { Store } from '../../src/store/store.js';
import { dumpIngest } from '../helpers/db-dump.js';
import { tempDir } from '../helpers/tmp.js';
import { vpcFile } from '../helpers/vpc-lines.js';
import { toyCollector } from '../helpers/toy-collector.js';

const T0 = 1_763_596_800; // 2025-11-20T00:00:00Z

function toyLines(n: number, startAt = 0): string {
  const out: string[] = [];
  for (let i = startAt; i < startAt + n; i++) {
    out.push(`${T0 + i * 7} 10.0.${i % 3}.1 192.0.2.${i % 5} ${i % 2 ? 443 : 80} ${i + 1}`);
  }
  return `${out.join('\n')}\n`;
}

const sumBytes = (n: number, startAt = 0): number => {
  let s = 0;
  for (let i = startAt; i < startAt + n; i++) s += i + 1;
  return s;
};

async function run(store: Store, paths: string[], flushLines = 1000) {
  return ingest(store, await expandPaths(paths), { collector: toyCollector, parserOptions: {}, flushLines });
}

describe('ingest', () => {
  it('aggregates lines into hourly edges whose bytes add up to the input', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'a.log'), toyLines(5000));
    const store = new Store(join(dir, 'db.sqlite'));
    const r = await run(store, [join(dir, 'a.log')]);
    expect(r.error).toBeNull();
    expect(r.totals).toEqual({ records: 5000, stored: 5000, skipped: 0, malformed: 0 });
    const t = edgeTotals(store.db);
    expect(t.flows).toBe(5000);
    expect(t.bytes).toBe(sumBytes(5000));
    // 5000 lines × 7 s span 10 hours; 3 sources × 5 destinations × 2 ports, but i%3, i%5, i%2 tie to i mod 30.
    expect(t.edges).toBeLessThanOrEqual(10 * 30);
    store.close();
  });

  it('counts a file read twice, or a renamed copy, once', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'a.log'), toyLines(3000));
    writeFileSync(join(dir, 'copy-of-a.log'), toyLines(3000));
    const store = new Store(join(dir, 'db.sqlite'));
    await run(store, [join(dir, 'a.log')]);
    const again = await run(store, [join(dir, 'a.log'), join(dir, 'copy-of-a.log')]);
    expect(again.sources.map((s) => s.status)).toEqual(['unchanged', 'unchanged']);
    expect(edgeTotals(store.db).bytes).toBe(sumBytes(3000));
    store.close();
  });

  it('counts a gzip file read twice once', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'a.log.gz'), gzipSync(toyLines(3000)));
    const store = new Store(join(dir, 'db.sqlite'));
    await run(store, [join(dir, 'a.log.gz')]);
    await run(store, [join(dir, 'a.log.gz')]);
    expect(edgeTotals(store.db).bytes).toBe(sumBytes(3000));
    store.close();
  });

  it('reads only the lines appended to a plain file since the last run', async () => {
    const dir = tempDir();
    const file = join(dir, 'grow.log');
    writeFileSync(file, toyLines(2000));
    const store = new Store(join(dir, 'db.sqlite'));
    await run(store, [file]);
    appendFileSync(file, toyLines(500, 2000));
    const r = await run(store, [file]);
    expect(r.totals.records).toBe(500);
    expect(edgeTotals(store.db).bytes).toBe(sumBytes(2500));
    store.close();
  });

  it('resumes an interrupted gzip read after its checkpoint with the parser state it had', async () => {
    const dir = tempDir();
    const text = `hdr=3\n${toyLines(40_000)}`;
    writeFileSync(join(dir, 'a.log.gz'), gzipSync(text));
    const store = new Store(join(dir, 'db.sqlite'));
    const abort = new AbortController();
    const first = await ingest(store, await expandPaths([join(dir, 'a.log.gz')]), {
      collector: toyCollector,
      parserOptions: {},
      flushLines: 500,
      onProgress: (p) => {
        if (p.records >= 10_000) abort.abort();
      },
      signal: abort.signal,
    });
    expect(first.sources[0]!.status).toBe('interrupted');
    expect(first.totals.records).toBeLessThan(40_001);
    const second = await run(store, [join(dir, 'a.log.gz')], 500);
    expect(second.sources[0]!.status).toBe('resumed');
    expect(first.totals.records + second.totals.records).toBe(40_001);
    expect(edgeTotals(store.db).bytes).toBe(3 * sumBytes(40_000));
    store.close();
  });

  it('quarantines malformed lines with file, line number and reason, and keeps going', async () => {
    const dir = tempDir();
    const file = join(dir, 'mixed.log');
    writeFileSync(
      file,
      `# comment\n${T0} 10.0.0.1 192.0.2.1 443 10\nshort line\n\n${T0} 10.0.0.1 192.0.2.1 443 x\n${'y'.repeat(70_000)}\n`,
    );
    const store = new Store(join(dir, 'db.sqlite'));
    const r = await run(store, [file]);
    expect(r.totals).toEqual({ records: 6, stored: 1, skipped: 2, malformed: 3 });
    const q = [...queryQuarantine(store.db, { limit: null })];
    expect(q.map((e) => [e.source, e.line, e.reason, e.raw.length])).toEqual([
      [file, 3, 'field_count', 10],
      [file, 5, 'bad_count', `${T0} 10.0.0.1 192.0.2.1 443 x`.length],
      [file, 6, 'line_too_long', 200],
    ]);
    store.close();
  });

  it('folds reply halves into their request edge as flows and replies', async () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'r.log'),
      `${T0} 10.0.0.1 192.0.2.1 443 100\n${T0 + 1} 10.0.0.1 192.0.2.1 443 900 reply\n`,
    );
    const store = new Store(join(dir, 'db.sqlite'));
    await run(store, [join(dir, 'r.log')]);
    const rows = store.db.prepare('SELECT flows, replies, bytes_out, bytes_in FROM edges').all();
    expect(rows).toEqual([{ flows: 1, replies: 1, bytes_out: 100, bytes_in: 900 }]);
    store.close();
  });

  it('carries nothing of a source whose commit was refused into the next source', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'a.log'), toyLines(300));
    writeFileSync(join(dir, 'b.log'), toyLines(200, 300));
    const written: number[] = [];
    // A sink that refuses a.log's commit, as when another collector got there first.
    const sink: BatchSink = {
      checkpointOf: () => null,
      shortFingerprintLengths: () => [],
      write(b) {
        const refused = b.checkpoints.find((c) => c.name.endsWith('a.log'));
        if (refused !== undefined) throw new ConcurrentIngestError(refused.name);
        const edges = new EdgeOrderer().sorted(b.edges);
        for (const e of edgesOf(edges)) written.push(e.bytesOut);
      },
    };
    const refs = await expandPaths([join(dir, 'a.log'), join(dir, 'b.log')]);
    // a.log's 300 lines make a commit of their own.
    const r = await ingestInto(sink, 3600, refs, {
      collector: toyCollector,
      parserOptions: {},
      flushLines: 250,
    });
    expect(r.sources.map((x) => x.status)).toEqual(['failed', 'ingested']);
    expect(written.reduce((a, x) => a + x, 0)).toBe(sumBytes(200, 300));
  });

  it('keeps going past an unreadable source and reports it', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'good.log'), toyLines(10));
    const gz = gzipSync(toyLines(50_000));
    writeFileSync(join(dir, 'cut.log.gz'), gz.subarray(0, gz.length - 100));
    const store = new Store(join(dir, 'db.sqlite'));
    const r = await run(store, [join(dir, 'cut.log.gz'), join(dir, 'good.log')]);
    expect(r.sources.map((s) => s.status)).toEqual(['failed', 'ingested']);
    expect(r.error?.message).toMatch(/cut\.log\.gz: truncated gzip stream/);
    expect(r.error?.exitCode).toBe(2);
    // Complete lines before the cut are kept, with a checkpoint that says how far they go.
    expect(r.sources[0]!.counts.records).toBeGreaterThan(40_000);
    store.close();
  });
});

describe('ingest with the vpc-flow collector', () => {
  it('reads the header line behind a UTF-8 byte order mark as the header', async () => {
    const { vpcFlowCollector } = await import('../../collectors/vpcflow/index.js');
    const dir = tempDir();
    const header = 'start end srcaddr dstaddr srcport dstport protocol packets bytes action log-status';
    const rows = [`${T0} ${T0 + 60} 10.0.0.9 198.51.100.7 40000 443 6 2 500 ACCEPT OK`];
    const text = `\ufeff${[header, ...rows].join('\r\n')}\r\n`;
    writeFileSync(join(dir, 'bom.log'), text);
    writeFileSync(join(dir, 'bom.log.gz'), gzipSync(`\ufeff${[header, ...rows, ''].join('\n')}`));
    const store = new Store(join(dir, 'db.sqlite'));
    for (const file of ['bom.log', 'bom.log.gz']) {
      const r = await ingest(store, await expandPaths([join(dir, file)]), {
        collector: vpcFlowCollector,
        parserOptions: {},
      });
      expect(r.totals).toMatchObject({ records: 2, malformed: 0, skipped: 1 });
    }
    expect(edgeTotals(store.db).bytes).toBe(1000);
    store.close();
  });

  it('stores the same whether lines are read as bytes or as text', async () => {
    const { vpcFlowCollector } = await import('../../collectors/vpcflow/index.js');
    const dir = tempDir();
    const odd = [
      '2 123456789012 eni-1 - - - - - - - 1763596800 1763596860 - NODATA',
      '2 123456789012 eni-1 2001:db8::5 2600:1f18::1 40000 443 6 3 300 1763596800 1763596860 ACCEPT OK',
      '2 123456789012 eni-1 10.0.0.5 203.0.113.9 40000 443 6 3 300 1763596800 1763596860 ACCEPT OK\r',
      '2 123456789012 eni-1 10.0.0.5  203.0.113.9 40000 443 6 3 300 1763596800 1763596860 ACCEPT OK',
      '2 123456789012 eni-\u00e9 10.0.0.5 203.0.113.9 40000 443 6 3 300 1763596800 1763596860 ACCEPT OK',
      '2 123456789012 eni-1 10.0.0.5 203.0.113.9 40000 443 6 3 300 1763596800 1763596860 MAYBE OK',
      '',
      `2 123456789012 eni-1 10.0.0.5 203.0.113.9 ${'9'.repeat(200)}`,
      'start end srcaddr dstaddr srcport dstport protocol packets bytes action log-status tcp-flags',
      '1763596900 1763596960 10.0.3.3 52.95.1.1 40001 443 6 2 99 ACCEPT OK 2',
      '1763596900 1763596960 52.95.1.1 10.0.3.3 443 40001 6 2 77 ACCEPT OK 18',
    ];
    const body = vpcFile(30_000).split('\n');
    // The header line changes the layout for the lines after it, so it and its records go last.
    for (let i = 0; i < odd.length - 3; i++) body.splice(1 + i * 2_500, 0, odd[i]!);
    body.push(...odd.slice(-3));
    writeFileSync(join(dir, 'mixed.log'), body.join('\n'));
    const dumps = [];
    for (const byteParsing of [true, false]) {
      const path = join(dir, `${byteParsing}.db`);
      const store = new Store(path);
      const r = await ingest(store, await expandPaths([join(dir, 'mixed.log')]), {
        collector: vpcFlowCollector,
        parserOptions: {},
        flushLines: 4_000,
        maxLineBytes: 150,
        byteParsing,
      });
      expect(r.totals.records).toBe(30_001 + odd.length);
      store.close();
      dumps.push(dumpIngest(path));
    }
    expect(dumps[0]).toEqual(dumps[1]);
    expect(dumps[0]!.quarantine.map((q) => (q as { reason: string }).reason).sort()).toEqual([
      'bad_action',
      'line_too_long',
    ]);
  });

  it('resumes a custom-format gzip file with the layout its header announced', async () => {
    const { vpcFlowCollector } = await import('../../collectors/vpcflow/index.js');
    const dir = tempDir();
    const header = 'start end srcaddr dstaddr srcport dstport protocol packets bytes action log-status';
    const lines = [header];
    for (let i = 0; i < 60_000; i++) {
      const s = T0 + i;
      lines.push(
        `${s} ${s + 60} 10.0.${i % 4}.9 198.51.100.${i % 7} ${40000 + (i % 1000)} 443 6 2 ${i + 1} ACCEPT OK`,
      );
    }
    writeFileSync(join(dir, 'custom.log.gz'), gzipSync(`${lines.join('\n')}\n`));
    const refs = await expandPaths([join(dir, 'custom.log.gz')]);
    const store = new Store(join(dir, 'db.sqlite'));
    const abort = new AbortController();
    const opts = { collector: vpcFlowCollector, parserOptions: {}, flushLines: 1000 };
    const first = await ingest(store, refs, {
      ...opts,
      onProgress: (p) => p.records > 20_000 && abort.abort(),
      signal: abort.signal,
    });
    expect(first.sources[0]!.status).toBe('interrupted');
    const second = await ingest(store, refs, opts);
    expect(second.totals.malformed).toBe(0);
    expect(first.totals.stored + second.totals.stored).toBe(60_000);
    expect(edgeTotals(store.db).bytes).toBe(sumBytes(60_000));
    store.close();
  });
});
