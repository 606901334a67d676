import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { dumpIngest as dump } from '../helpers/db-dump.js';
import { tempDir } from '../helpers/tmp.js';
import { vpcFile } from '../helpers/vpc-lines.js';

describe('collect with a reading worker thread', () => {
  it('stores exactly what one thread stores, counts a copy once, and reports a cut gzip', () => {
    const dir = tempDir();
    const text = `${vpcFile(120_000)}this line is broken\n`;
    writeFileSync(join(dir, 'a.log'), text);
    writeFileSync(join(dir, 'copy-of-a.log'), text);
    const gz = gzipSync(vpcFile(80_000));
    writeFileSync(join(dir, 'cut.log.gz'), gz.subarray(0, gz.length - 300));
    const inputs = ['a.log', 'copy-of-a.log', 'cut.log.gz'].map((f) => join(dir, f));
    const results = [1, 2].map((threads) => {
      const db = join(dir, `t${threads}.db`);
      // Small commits so that several batches cross between the threads.
      const r = cli([
        'collect',
        'vpc-flow',
        '--threads',
        String(threads),
        '--max-edges',
        '3000',
        '-o',
        'json',
        '--db',
        db,
        ...inputs,
      ]);
      return { r, db };
    });
    for (const { r } of results) {
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/cut\.log\.gz: truncated gzip stream/);
      const s = JSON.parse(r.stdout) as { sources: { status: string }[] };
      expect(s.sources.map((x) => x.status)).toEqual(['ingested', 'unchanged', 'failed']);
    }
    expect(dump(results[1]!.db)).toEqual(dump(results[0]!.db));
    expect(dump(results[1]!.db).quarantine).toHaveLength(1);
  });
});
