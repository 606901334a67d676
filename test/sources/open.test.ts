import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { expandPaths, openSource, readWholeText } from '../../collectors/sources/open.js';
import { InputError } from '../../src/model/errors.js';
import { tempDir } from '../helpers/tmp.js';

async function readAll(bytes: AsyncIterable<Buffer>): Promise<string> {
  const parts: Buffer[] = [];
  for await (const b of bytes) parts.push(b);
  return Buffer.concat(parts).toString('utf8');
}

describe('expandPaths', () => {
  it('walks an S3 export tree in a stable order and leaves out hidden files', async () => {
    const dir = tempDir();
    const day = join(dir, 'AWSLogs/123456789012/vpcflowlogs/eu-west-1/2026/11/20');
    const day2 = join(dir, 'AWSLogs/123456789012/vpcflowlogs/eu-west-1/2026/11/21');
    mkdirSync(day, { recursive: true });
    mkdirSync(day2, { recursive: true });
    writeFileSync(join(day2, 'b.log.gz'), '');
    writeFileSync(join(day, 'b.log.gz'), '');
    writeFileSync(join(day, 'a.log.gz'), '');
    writeFileSync(join(day, '.hidden'), '');
    const refs = await expandPaths([dir]);
    expect(refs.map((r) => r.name.slice(dir.length + 1))).toEqual([
      'AWSLogs/123456789012/vpcflowlogs/eu-west-1/2026/11/20/a.log.gz',
      'AWSLogs/123456789012/vpcflowlogs/eu-west-1/2026/11/20/b.log.gz',
      'AWSLogs/123456789012/vpcflowlogs/eu-west-1/2026/11/21/b.log.gz',
    ]);
  });

  it('follows a link to another directory once, and a link back up the tree not at all', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'tree/a/b'), { recursive: true });
    mkdirSync(join(dir, 'other'));
    writeFileSync(join(dir, 'tree/a/b/f.log'), 'x\n');
    writeFileSync(join(dir, 'other/g.log'), 'y\n');
    symlinkSync('..', join(dir, 'tree/a/b/up')); // a loop: b/up/b/up/...
    symlinkSync(join(dir, 'tree'), join(dir, 'tree/a/root')); // a loop through the top
    symlinkSync(join(dir, 'other'), join(dir, 'tree/a/elsewhere'));
    const refs = await expandPaths([join(dir, 'tree')]);
    expect(refs.map((r) => r.name.slice(dir.length + 1))).toEqual([
      'tree/a/b/f.log',
      'tree/a/elsewhere/g.log',
    ]);
    expect(refs.every((r) => r.error === undefined)).toBe(true);
  });

  it('marks a missing path with an InputError naming it, so it fails alone', async () => {
    const [ref] = await expandPaths(['/nonexistent/flows.log']);
    const err = ref!.error;
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).message).toBe('/nonexistent/flows.log: no such file or directory');
    expect((err as InputError).exitCode).toBe(2);
  });
});

describe('openSource', () => {
  it('detects gzip by magic bytes whatever the name, and gives the same text', async () => {
    const dir = tempDir();
    const text = 'line one\nline two\n';
    writeFileSync(join(dir, 'plain.log'), text);
    writeFileSync(join(dir, 'rotated.1'), gzipSync(text));
    const plain = await openSource({ name: 'plain.log', path: join(dir, 'plain.log') }, { kind: 'k' });
    const gz = await openSource({ name: 'rotated.1', path: join(dir, 'rotated.1') }, { kind: 'k' });
    expect(plain.gzip).toBe(false);
    expect(gz.gzip).toBe(true);
    expect(await readAll(plain.bytes)).toBe(text);
    expect(await readAll(gz.bytes)).toBe(text);
  });

  it('gives a renamed copy the same source id, and another format another id', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'a.log'), 'same content\n');
    writeFileSync(join(dir, 'copy.log'), 'same content\n');
    const a = await openSource({ name: 'a', path: join(dir, 'a.log') }, { kind: 'vpcflow' });
    const b = await openSource({ name: 'b', path: join(dir, 'copy.log') }, { kind: 'vpcflow' });
    const c = await openSource({ name: 'c', path: join(dir, 'copy.log') }, { kind: 'squid' });
    expect(a.sourceId).toBe(b.sourceId);
    expect(c.sourceId).not.toBe(a.sourceId);
  });

  it('reports a truncated gzip stream as an InputError after the complete data', async () => {
    const dir = tempDir();
    const text = Array.from({ length: 20_000 }, (_, i) => `record ${i}`).join('\n');
    const gz = gzipSync(text);
    writeFileSync(join(dir, 'cut.gz'), gz.subarray(0, Math.floor(gz.length / 2)));
    const src = await openSource({ name: 'cut.gz', path: join(dir, 'cut.gz') }, { kind: 'k' });
    await expect(readAll(src.bytes)).rejects.toThrow(/cut\.gz: truncated gzip stream/);
  });

  it('gives the text before the cut of a gzip stream cut within its first 4 KiB, then the error', async () => {
    const dir = tempDir();
    const text = Array.from({ length: 600 }, (_, i) => `record ${i} ${(i * 7919) % 10007}`).join('\n');
    const gz = gzipSync(text);
    writeFileSync(join(dir, 'small-cut.gz'), gz.subarray(0, Math.floor(gz.length / 3)));
    const src = await openSource({ name: 'small-cut.gz', path: join(dir, 'small-cut.gz') }, { kind: 'k' });
    const parts: Buffer[] = [];
    let error: unknown = null;
    try {
      for await (const b of src.bytes) parts.push(b);
    } catch (err) {
      error = err;
    }
    const got = Buffer.concat(parts).toString('utf8');
    expect(got.length).toBeGreaterThan(0);
    expect(got.length).toBeLessThan(4096);
    expect(text.startsWith(got)).toBe(true);
    expect(error).toBeInstanceOf(InputError);
    expect(String(error)).toMatch(/small-cut\.gz: truncated gzip stream/);
  });

  it('refuses binary data that is not gzip', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'blob.bin'), Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 0, 1, 2, 3]));
    await expect(
      openSource({ name: 'blob.bin', path: join(dir, 'blob.bin') }, { kind: 'k' }),
    ).rejects.toThrow('blob.bin: binary data, not a text log (and not gzip)');
    // A Parquet flow-log delivery is named as such, plain or gzipped.
    const parquet = Buffer.from([
      ...Buffer.from('PAR1'),
      0x15,
      0x04,
      0,
      0,
      0,
      0,
      0x15,
      ...Buffer.from('PAR1'),
    ]);
    writeFileSync(join(dir, 'flows.parquet'), parquet);
    writeFileSync(join(dir, 'flows.parquet.gz'), gzipSync(parquet));
    for (const name of ['flows.parquet', 'flows.parquet.gz']) {
      await expect(openSource({ name, path: join(dir, name) }, { kind: 'k' })).rejects.toThrow(
        `${name}: an Apache Parquet file, not a text log`,
      );
    }
  });

  it('seeks a plain file to the offset an earlier read reached', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'f.log'), 'aaaa\nbbbb\ncccc\n');
    const src = await openSource(
      { name: 'f', path: join(dir, 'f.log') },
      {
        kind: 'k',
        identify: (c) => ({ sourceId: c[0]!.sourceId, fingerprintLength: c[0]!.length, resumeOffset: 5 }),
      },
    );
    expect(src.startOffset).toBe(5);
    expect(await readAll(src.bytes)).toBe('bbbb\ncccc\n');
  });
});

describe('readWholeText', () => {
  it('drops the byte order mark Windows tools write (UTF-8, or UTF-16LE from PowerShell 5.1), gzip or not', async () => {
    const dir = tempDir();
    const doc = '{"kind":"List","items":[{"name":"é"}]}\n';
    const bom = Buffer.from([0xef, 0xbb, 0xbf]);
    const files: [string, Buffer][] = [
      ['plain.json', Buffer.from(doc)],
      ['utf8-bom.json', Buffer.concat([bom, Buffer.from(doc)])],
      ['utf8-bom.json.gz', gzipSync(Buffer.concat([bom, Buffer.from(doc)]))],
      ['utf16.json', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(doc, 'utf16le')])],
    ];
    for (const [name, bytes] of files) {
      writeFileSync(join(dir, name), bytes);
      expect([name, await readWholeText(join(dir, name), 'k')]).toEqual([name, doc]);
    }
  });
});
