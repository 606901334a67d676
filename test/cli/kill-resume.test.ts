import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { cli, startCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { V2_HEADER, vpcFile, vpcRecord } from '../helpers/vpc-lines.js';

const RECORDS = 400_000;

function progressOf(db: string): { line: number; done: number } | null {
  try {
    const d = new Database(db, { readonly: true, fileMustExist: true });
    try {
      const r = d.prepare('SELECT line_no AS line, done FROM sources').get() as
        { line: number; done: number } | undefined;
      return r ?? null;
    } finally {
      d.close();
    }
  } catch {
    return null;
  }
}

function dumpEdges(db: string): unknown[] {
  const d = new Database(db, { readonly: true });
  try {
    return d
      .prepare(
        'SELECT * FROM edges ORDER BY bucket, src_addr, dst_addr, dst_host, dst_port, protocol, action, direction',
      )
      .all();
  } finally {
    d.close();
  }
}

describe.each([
  { name: 'plain', file: 'big.log', bytes: (t: string) => Buffer.from(t) },
  { name: 'gzip', file: 'big.log.gz', bytes: (t: string) => gzipSync(t) },
])('SIGKILL mid-ingest ($name)', ({ file, bytes }) => {
  it('re-running after a SIGKILL gives exactly the totals of one clean run', async () => {
    const dir = tempDir();
    const input = join(dir, file);
    writeFileSync(input, bytes(vpcFile(RECORDS)));

    const reference = join(dir, 'reference.db');
    expect(cli(['collect', 'vpc-flow', '-q', '--db', reference, input]).code).toBe(0);

    const db = join(dir, 'killed.db');
    const child = startCli(['collect', 'vpc-flow', '-q', '--flush-lines', '5000', '--db', db, input]);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    let seen: { line: number; done: number } | null = null;
    for (let i = 0; i < 2000; i++) {
      seen = progressOf(db);
      if (seen !== null && seen.line >= 20_000) break;
      await sleep(5);
    }
    child.kill('SIGKILL');
    await exited;
    const atKill = progressOf(db);
    // The kill must have landed mid-file, or this test proves nothing.
    expect(atKill).not.toBeNull();
    expect(atKill!.done).toBe(0);
    expect(atKill!.line).toBeGreaterThan(0);
    expect(atKill!.line).toBeLessThan(RECORDS);

    const again = cli(['collect', 'vpc-flow', '-o', 'json', '--db', db, input]);
    expect(again.code).toBe(0);
    const summary = JSON.parse(again.stdout) as { sources: { status: string; records: number }[] };
    expect(summary.sources[0]!.status).toBe('resumed');
    expect(summary.sources[0]!.records).toBe(RECORDS + 1 - atKill!.line);
    expect(dumpEdges(db)).toEqual(dumpEdges(reference));
  });
});

describe('SIGKILL mid-ingest of a tree of small files', () => {
  it('re-running gives exactly the totals of one clean run, though each commit holds many files', async () => {
    const dir = tempDir();
    const tree = join(dir, 'AWSLogs');
    mkdirSync(tree);
    const files = 200;
    const perFile = 500;
    for (let f = 0; f < files; f++) {
      const lines = [V2_HEADER];
      for (let i = f * perFile; i < (f + 1) * perFile; i++) lines.push(vpcRecord(i));
      writeFileSync(
        join(tree, `part-${String(f).padStart(3, '0')}.log.gz`),
        gzipSync(`${lines.join('\n')}\n`),
      );
    }
    const reference = join(dir, 'reference.db');
    expect(cli(['collect', 'vpc-flow', '-q', '--db', reference, tree]).code).toBe(0);

    const db = join(dir, 'killed.db');
    const child = startCli(['collect', 'vpc-flow', '-q', '--flush-lines', '5000', '--db', db, tree]);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    let done = 0;
    for (let i = 0; i < 2000 && done < 20; i++) {
      done = sourcesDone(db);
      await sleep(5);
    }
    child.kill('SIGKILL');
    await exited;
    const atKill = sourcesDone(db);
    // Some commits landed (each holds about ten files), and not all: or this test proves nothing.
    expect(atKill).toBeGreaterThan(0);
    expect(atKill).toBeLessThan(files);

    const again = cli(['collect', 'vpc-flow', '-o', 'json', '--db', db, tree]);
    expect(again.code).toBe(0);
    const summary = JSON.parse(again.stdout) as { sources: { status: string }[] };
    expect(summary.sources.filter((s) => s.status === 'unchanged')).toHaveLength(atKill);
    expect(dumpEdges(db)).toEqual(dumpEdges(reference));
  });
});

function sourcesDone(db: string): number {
  try {
    const d = new Database(db, { readonly: true, fileMustExist: true });
    try {
      return (d.prepare('SELECT COUNT(*) AS n FROM sources WHERE done = 1').get() as { n: number }).n;
    } finally {
      d.close();
    }
  } catch {
    return 0;
  }
}
