/**
 * Inputs a user plausibly tries outside the happy path: each gets a clear one-line answer or does what it says,
 * never a stack trace, an option quietly ignored, or a result that is silently empty.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { Store } from '../../src/store/store.js';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const fixture = (path: string): string => fileURLToPath(new URL(`../fixtures/${path}`, import.meta.url));

function lines(text: string): string[] {
  return text.trim().split('\n');
}

describe('--db', () => {
  it('a directory or an empty name is refused in one line by readers and writers', () => {
    const dir = tempDir();
    const flows = fixture('vpcflow/default-format.log');
    for (const args of [
      ['query', 'flows'],
      ['collect', 'vpc-flow', flows, '-q'],
    ]) {
      const inDir = cli(['--db', dir, ...args]);
      expect([inDir.code, lines(inDir.stderr)]).toEqual([
        1,
        [`egress-learner: --db ${dir} is a directory: name a database file in it`],
      ]);
      const empty = cli(['--db', '', ...args]);
      expect([empty.code, lines(empty.stderr)]).toEqual([
        1,
        ['egress-learner: --db is empty: name a database file'],
      ]);
    }
  });

  it('a device or a named pipe is refused in one line, without waiting on the pipe', () => {
    const fifo = join(tempDir(), 'db.fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const flows = fixture('vpcflow/default-format.log');
    for (const db of ['/dev/null', fifo]) {
      for (const args of [
        ['query', 'flows'],
        ['collect', 'vpc-flow', flows, '-q'],
      ]) {
        const r = cli(['--db', db, ...args], { timeoutMs: 20_000 });
        expect([r.code, lines(r.stderr)]).toEqual([
          1,
          [`egress-learner: --db ${db} is not a regular file (a device or pipe): name a database file`],
        ]);
      }
    }
  });
});

describe('collect', () => {
  it('warns of a directory that holds no file, and still reads the other paths', () => {
    const dir = tempDir();
    const empty = join(dir, 'AWSLogs');
    mkdirSync(join(empty, 'nested'), { recursive: true });
    const r = cli([
      '--db',
      join(dir, 'x.db'),
      'collect',
      'vpc-flow',
      empty,
      fixture('vpcflow/default-format.log'),
    ]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`warn no files in this directory path=${empty}\\n`));
    expect(r.stderr).toMatch(/read 7 records from 1 source/);
  });
});

describe('a database another process keeps locked', () => {
  it('is one line and exit 1, wherever in the command SQLite finds it locked', () => {
    const dir = tempDir();
    const db = join(dir, 'x.db');
    new Store(db).close();
    const holder = new Database(db);
    try {
      holder.exec('BEGIN IMMEDIATE');
      // The first write of a collect into a new database is its bucket width, outside any batch.
      const r = cli(['--db', db, 'collect', 'vpc-flow', fixture('vpcflow/default-format.log')]);
      expect([r.code, lines(r.stderr)]).toEqual([
        1,
        [`egress-learner: ${db} is locked by another writer for more than 10 s; try again when it is done`],
      ]);
    } finally {
      holder.close();
    }
  }, 30_000);
});

describe('--log-level', () => {
  it('keeps the summary off stderr at warn and above, as text and as JSON', () => {
    const dir = tempDir();
    const flows = fixture('vpcflow/default-format.log');
    const info = cli(['--db', join(dir, 'a.db'), 'collect', 'vpc-flow', flows]);
    expect(info.stderr).toMatch(/^vpc-flow: read 7 records/);
    expect(cli(['--db', join(dir, 'b.db'), '--log-level', 'warn', 'collect', 'vpc-flow', flows]).stderr).toBe(
      '',
    );
    const json = cli([
      '--db',
      join(dir, 'c.db'),
      '--log-format',
      'json',
      '--log-level',
      'error',
      'collect',
      'vpc-flow',
      flows,
      '/no/such/file',
    ]);
    // The summary (info) is gone; the unreadable input (an error) is still said, as JSON at level 50.
    expect(json.code).toBe(2);
    const said = lines(json.stderr).map((l) => JSON.parse(l) as { level: number; msg: string });
    expect(said.map((x) => x.level)).toEqual([50]);
    expect(said[0]!.msg).toContain('/no/such/file');
  });
});

describe('query dns filters', () => {
  function dnsDb(): string {
    const db = join(tempDir(), 'x.db');
    const r = cli(['collect', 'dns', '--format', 'route53', '-q', '--db', db, fixture('dns/route53.log')]);
    expect(r.code).toBe(0);
    return db;
  }
  const rows = (db: string, ...a: string[]) =>
    JSON.parse(cli(['query', 'dns', '--db', db, ...a, '-o', 'json']).stdout) as { client: string | null }[];

  it('takes a client CIDR as it takes an answer CIDR', () => {
    const db = dnsDb();
    const all = rows(db);
    const clients = [...new Set(all.map((r) => r.client).filter((c): c is string => c !== null))].sort();
    expect(clients.length).toBeGreaterThan(1);
    for (const one of clients) {
      const exact = rows(db, '--client', one);
      expect(exact.length).toBeGreaterThan(0);
      expect(exact.every((r) => r.client === one)).toBe(true);
      expect(rows(db, '--client', `${one}/32`)).toEqual(exact);
    }
    // A block holds the rows of every client inside it, and none outside.
    const tens = all.filter((r) => r.client?.startsWith('10.') === true);
    expect(tens.length).toBeGreaterThan(0);
    expect(tens.length).toBeLessThan(all.length);
    expect(rows(db, '--client', '10.0.0.0/8')).toEqual(tens);
  });

  it('refuses a bad client, a bad name and a window that ends before it starts', () => {
    const db = dnsDb();
    for (const [args, message] of [
      [['--client', 'foo'], '--client "foo": expected an address or CIDR'],
      [['--name', '*'], '--name "*": expected a host name or *.suffix'],
      [['--name', 'bad name'], '--name "bad name": expected a host name or *.suffix'],
      [['--since', '2026-11-22T00:00:00Z', '--until', '2026-11-20T00:00:00Z'], '--since is after --until'],
    ] as const) {
      const r = cli(['query', 'dns', '--db', db, ...args]);
      expect([r.code, lines(r.stderr)]).toEqual([1, [`egress-learner: ${message}`]]);
    }
  });
});

describe('inventory documents', () => {
  it('aws-inventory reads gzip and stdin as the plain file, and names a directory as one', () => {
    const dir = tempDir();
    const doc = fixture('cloud/describe-network-interfaces.json');
    const summary = (args: string[], input?: Buffer) => {
      const r = cli(['--db', join(dir, 'a.db'), 'collect', 'aws-inventory', ...args, '-o', 'json'], {
        input,
      });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const s = JSON.parse(r.stdout) as { files: { document: string }[] } & Record<string, unknown>;
      return { ...s, files: s.files.map((f) => f.document) };
    };
    const gz = join(dir, 'enis.json.gz');
    writeFileSync(gz, gzipSync(readFileSync(doc)));
    const plain = summary([doc]);
    expect(summary([gz])).toEqual(plain);
    expect(summary(['-'], readFileSync(doc))).toEqual(plain);
    const asDir = cli(['--db', join(dir, 'a.db'), 'collect', 'aws-inventory', dir]);
    expect([asDir.code, lines(asDir.stderr)]).toEqual([2, [`egress-learner: ${dir}: is a directory`]]);
    const cut = join(dir, 'cut.json.gz');
    writeFileSync(cut, gzipSync(readFileSync(doc)).subarray(0, 60));
    const truncated = cli(['--db', join(dir, 'a.db'), 'collect', 'aws-inventory', cut]);
    expect([truncated.code, lines(truncated.stderr)]).toEqual([
      2,
      [`egress-learner: ${cut}: truncated gzip stream (unexpected end of file)`],
    ]);
  });

  it('a document saved with a byte order mark (Windows PowerShell) reads as the same document without one', () => {
    const dir = tempDir();
    const withBom = (name: string, file: string): string => {
      const path = join(dir, name);
      writeFileSync(path, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), readFileSync(fixture(file))]));
      return path;
    };
    const aws = cli([
      '--db',
      join(dir, 'a.db'),
      'collect',
      'aws-inventory',
      withBom('vpcs.json', 'cloud/describe-vpcs.json'),
      '-o',
      'json',
    ]);
    expect([aws.code, aws.stderr]).toEqual([0, '']);
    expect(JSON.parse(aws.stdout)).toMatchObject({ files: [{ document: 'vpcs' }] });
    const k8s = cli([
      '--db',
      join(dir, 'k.db'),
      'collect',
      'k8s',
      '--snapshot',
      withBom('inv.json', 'kubernetes/snapshot-a.json'),
      '--at',
      '2026-01-01T00:00:00Z',
    ]);
    expect(k8s.stderr).toMatch(/^k8s snapshot at 2026-01-01T00:00:00Z: 6 pods/);
    expect(k8s.code).toBe(0);
  });

  it('a Kubernetes snapshot from the future is refused: it would block every real one after it', () => {
    const dir = tempDir();
    const db = join(dir, 'k.db');
    const snapshot = fixture('kubernetes/snapshot-a.json');
    const future = cli([
      '--db',
      db,
      'collect',
      'k8s',
      '--snapshot',
      snapshot,
      '--at',
      '2999-01-01T00:00:00Z',
    ]);
    expect([future.code, lines(future.stderr)]).toEqual([
      1,
      ['egress-learner: --at 2999-01-01T00:00:00Z is in the future'],
    ]);
    const copied = join(dir, 'copied.json');
    copyFileSync(snapshot, copied);
    const ahead = Date.UTC(2999, 0, 1) / 1000;
    utimesSync(copied, ahead, ahead);
    const byMtime = cli(['--db', db, 'collect', 'k8s', '--snapshot', copied]);
    expect(byMtime.code).toBe(1);
    expect(byMtime.stderr).toContain('was modified in the future');
    // Nothing was recorded, so a snapshot of a real time still goes in; through stdin, gzip or not.
    const ok = cli(['--db', db, 'collect', 'k8s', '--snapshot', '-', '--at', '2026-01-01T00:00:00Z'], {
      input: gzipSync(readFileSync(snapshot)),
    });
    expect(ok.stderr).toMatch(/^k8s snapshot at 2026-01-01T00:00:00Z: 6 pods/);
    expect(ok.code).toBe(0);
  });
});

describe('--out', () => {
  it('a path under a file is one line, exit 1', () => {
    const dir = tempDir();
    const file = join(dir, 'file');
    writeFileSync(file, '');
    const r = cli(['demo', '--db', join(dir, 'd.db'), '--out', join(file, 'x', 'y')]);
    expect([r.code, lines(r.stderr)]).toEqual([
      1,
      [`egress-learner: cannot write ${join(file, 'x', 'y')}: a file is in the way of a directory`],
    ]);
  });
});

describe('query quarantine', () => {
  it('says what reasons and inputs there are when a filter matches none of them', () => {
    const dir = tempDir();
    const db = join(dir, 'q.db');
    const log = join(dir, 'q.log');
    writeFileSync(
      log,
      'garbage line\n2 1 eni-x 10.0.0.1 10.0.0.2 1 2 6 1 1 1418530010 1418530070 ALLOW OK\n',
    );
    utimesSync(log, new Date(Date.now() - 600_000), new Date(Date.now() - 600_000));
    expect(cli(['--db', db, 'collect', 'vpc-flow', log, '-q']).code).toBe(0);
    const typo = cli(['--db', db, 'query', 'quarantine', '--reason', 'bad_acton']);
    expect([typo.code, lines(typo.stdout), lines(typo.stderr)]).toEqual([
      0,
      ['SOURCE  LINE  KIND  REASON  RAW'],
      [
        'query quarantine: no line was quarantined for bad_acton; the reasons held are: bad_action (1), field_count (1)',
      ],
    ]);
    const other = cli(['--db', db, 'query', 'quarantine', '--source', 'elsewhere.log', '-o', 'json']);
    expect([other.stdout, lines(other.stderr)]).toEqual([
      '[]\n',
      [
        `query quarantine: no input named elsewhere.log has quarantined lines (inputs are named as given to collect); those that have: ${log}`,
      ],
    ]);
    // A reason that exists, with nothing left after the other filter, is an answer, not a typo.
    const none = cli([
      '--db',
      db,
      'query',
      'quarantine',
      '--reason',
      'bad_action',
      '--source',
      log,
      '--top',
      '1',
    ]);
    expect([lines(none.stdout).length, none.stderr]).toEqual([2, '']);
  });
});
