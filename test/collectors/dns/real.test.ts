import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../../helpers/cli.js';
import { QTYPES, query, saveLog, startCoredns, startDnsmasq, type DnsServer } from '../../helpers/dns.js';
import { waitForLines } from '../../helpers/proxies.js';
import { tempDir } from '../../helpers/tmp.js';

interface Row {
  client: string;
  name: string;
  type: string;
  answer: string;
  rcode: string;
  count: number;
}

function rows(db: string): Row[] {
  const d = new Database(db, { readonly: true });
  try {
    return d
      .prepare(
        'SELECT client, name, type, answer, rcode, SUM(count) AS count FROM dns_answers GROUP BY client, name, type, answer, rcode ORDER BY name, type, answer, rcode',
      )
      .all() as Row[];
  } finally {
    d.close();
  }
}

function collect(
  db: string,
  format: string,
  file: string,
): { records: number; stored: number; malformed: number } {
  const r = cli(['--db', db, 'collect', 'dns', '--format', format, '-o', 'json', file]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return (JSON.parse(r.stdout) as { totals: { records: number; stored: number; malformed: number } }).totals;
}

describe('dnsmasq 2.90 --log-queries=extra, real process', () => {
  let server: DnsServer;
  let lines: string[];

  beforeAll(async () => {
    server = await startDnsmasq();
    expect(await query(server.port, 'example.test', QTYPES.A)).toBe(0);
    expect(await query(server.port, 'alias.internal.test', QTYPES.A)).toBe(0);
    expect(await query(server.port, 'db.internal.test', QTYPES.AAAA)).toBe(0);
    expect(await query(server.port, 'nope.internal.test', QTYPES.A)).toBe(3);
    expect(await query(server.port, 'foo.blocked.test', QTYPES.A)).toBe(3);
    lines = await waitForLines(
      server.log,
      (l) =>
        l.some((x) => x.includes('query[A] foo.blocked.test')) &&
        l.some((x) => x.includes('blocked.test is NXDOMAIN')),
    );
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('stores each answer under the asked name and client, a CNAME chain included, and no line is malformed', () => {
    const db = join(tempDir(), 'x.db');
    const totals = collect(db, 'dnsmasq', server.log);
    expect(totals.malformed).toBe(0);
    expect(totals.records).toBe(lines.length);
    expect(rows(db)).toEqual([
      {
        client: '127.0.0.1',
        name: 'alias.internal.test',
        type: 'A',
        answer: '192.0.2.20',
        rcode: 'NOERROR',
        count: 1,
      },
      {
        client: '127.0.0.1',
        name: 'alias.internal.test',
        type: 'CNAME',
        answer: 'db.internal.test',
        rcode: 'NOERROR',
        count: 1,
      },
      {
        client: '127.0.0.1',
        name: 'db.internal.test',
        type: 'AAAA',
        answer: '2001:db8::20',
        rcode: 'NOERROR',
        count: 1,
      },
      {
        client: '127.0.0.1',
        name: 'example.test',
        type: 'A',
        answer: '192.0.2.10',
        rcode: 'NOERROR',
        count: 1,
      },
      { client: '127.0.0.1', name: 'foo.blocked.test', type: 'A', answer: '', rcode: 'NXDOMAIN', count: 1 },
      { client: '127.0.0.1', name: 'nope.internal.test', type: 'A', answer: '', rcode: 'NXDOMAIN', count: 1 },
    ]);
  });

  it('counts a file once when it is ingested twice', () => {
    const db = join(tempDir(), 'x.db');
    collect(db, 'dnsmasq', server.log);
    const first = rows(db);
    const again = collect(db, 'dnsmasq', server.log);
    expect(again.stored).toBe(0);
    expect(rows(db)).toEqual(first);
  });
});

describe('CoreDNS 1.11.4 log plugin, real process', () => {
  let server: DnsServer;
  let lines: string[];

  beforeAll(async () => {
    server = await startCoredns();
    expect(await query(server.port, 'db.internal.test', QTYPES.A)).toBe(0);
    expect(await query(server.port, 'nope.internal.test', QTYPES.A)).toBe(2);
    expect(await query(server.port, 'foo.tmpl.test', QTYPES.A)).toBe(0);
    expect(await query(server.port, 'foo.tmpl.test', QTYPES.AAAA)).toBe(3);
    expect(await query(server.port, 'api.comb.test', QTYPES.A)).toBe(0);
    const deadline = Date.now() + 10_000;
    for (;;) {
      lines = await saveLog(server);
      if (lines.filter((l) => l.startsWith('[INFO] 127.0.0.1:')).length >= 5 || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('stores who asked for which name in the default, {combined} and a custom format, without answers', () => {
    const db = join(tempDir(), 'x.db');
    const totals = collect(db, 'coredns', server.log);
    expect(totals.malformed).toBe(0);
    expect(totals.stored).toBe(5);
    expect(rows(db)).toEqual([
      { client: '127.0.0.1', name: 'api.comb.test', type: 'A', answer: '', rcode: 'NOERROR', count: 1 },
      { client: '127.0.0.1', name: 'db.internal.test', type: 'A', answer: '', rcode: 'NOERROR', count: 1 },
      { client: '127.0.0.1', name: 'foo.tmpl.test', type: 'A', answer: '', rcode: 'NOERROR', count: 1 },
      { client: '127.0.0.1', name: 'foo.tmpl.test', type: 'AAAA', answer: '', rcode: 'NXDOMAIN', count: 1 },
      { client: '127.0.0.1', name: 'nope.internal.test', type: 'A', answer: '', rcode: 'SERVFAIL', count: 1 },
    ]);
  });

  it('counts a file once when it is ingested twice', () => {
    const db = join(tempDir(), 'x.db');
    collect(db, 'coredns', server.log);
    const first = rows(db);
    expect(collect(db, 'coredns', server.log).stored).toBe(0);
    expect(rows(db)).toEqual(first);
  });
});
