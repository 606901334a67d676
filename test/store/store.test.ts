import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { LeaseRecorder } from '../../src/identity/lease-history.js';
import type { Checkpoint, Edge } from '../../src/model/edge.js';
import type { PodRecord, ServiceRecord } from '../../src/model/workload.js';
import { queryFlows } from '../../src/store/flow-query.js';
import { services } from '../../src/store/infer-query.js';
import { InventoryStore } from '../../src/store/inventory-store.js';
import { edgeTotals } from '../../src/store/source-query.js';
import { knownSqliteError, Store } from '../../src/store/store.js';
import { migrate } from '../../src/store/migrator.js';
import { MIGRATIONS } from '../../src/store/migrations/index.js';
import { registerFunctions } from '../../src/store/sql-functions.js';
import { ConcurrentIngestError, UsageError } from '../../src/model/errors.js';
import { tempDir } from '../helpers/tmp.js';

const edge = (o: Partial<Edge> = {}): Edge => ({
  bucket: 1_763_596_800,
  srcAddr: '10.0.0.1',
  dstAddr: '192.0.2.1',
  dstHost: '',
  dstPort: 443,
  protocol: 6,
  action: 'accept',
  direction: 'egress',
  flows: 1,
  replies: 0,
  packetsOut: 2,
  bytesOut: 100,
  packetsIn: 1,
  bytesIn: 50,
  firstSeen: 1_763_596_810,
  lastSeen: 1_763_596_870,
  sources: 1,
  ...o,
});

const checkpoint = (o: Partial<Checkpoint> = {}): Checkpoint => ({
  sourceId: 'src-1',
  fingerprintLength: 4096,
  previousLineNo: null,
  kind: 'vpcflow',
  name: 'a.log',
  lineNo: 10,
  byteOffset: 1000,
  done: false,
  parserState: null,
  delta: { records: 10, stored: 10, skipped: 0, malformed: 0 },
  firstTime: 1_763_596_810,
  lastTime: 1_763_596_870,
  ...o,
});

describe('Store', () => {
  it('applies migrations once and records them', () => {
    const dir = tempDir();
    const path = join(dir, 'x.db');
    new Store(path, { now: () => 1 }).close();
    new Store(path, { now: () => 2 }).close();
    const db = new Database(path, { readonly: true });
    const applied = db
      .prepare('SELECT version, name, applied_at FROM schema_migrations ORDER BY version')
      .all();
    expect(applied[0]).toEqual({ version: 1, name: 'initial', applied_at: 1 });
    expect(applied.every((m) => (m as { applied_at: number }).applied_at === 1)).toBe(true);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
  });

  it('says in one line that a file is not a database', () => {
    const dir = tempDir();
    const path = join(dir, 'notes.txt');
    writeFileSync(path, 'these are my notes, not a database\n'.repeat(200));
    expect(() => new Store(path)).toThrow(new RegExp(`${path} is not an egress-learner database`));
  });

  it("refuses another program's database untouched: no table added, its journal mode kept", () => {
    const dir = tempDir();
    for (const table of ['sources (id, url)', 'notes (body)']) {
      const path = join(dir, `${table.split(' ')[0]}.db`);
      const other = new Database(path);
      other.exec(`CREATE TABLE ${table}`);
      other.close();
      expect(() => new Store(path)).toThrow(
        new RegExp(`${path} is not an egress-learner database \\(it holds another program's tables\\)`),
      );
      const after = new Database(path, { readonly: true });
      expect(after.pragma('journal_mode', { simple: true })).toBe('delete');
      expect(after.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all()).toEqual([
        table.split(' ')[0],
      ]);
      after.close();
    }
    // An empty file is a new database, not another program's.
    const empty = join(dir, 'empty.db');
    writeFileSync(empty, '');
    new Store(empty).close();
  });

  it('refuses a database from a newer version of the program', () => {
    const dir = tempDir();
    const path = join(dir, 'x.db');
    new Store(path).close();
    const db = new Database(path);
    db.prepare("INSERT INTO schema_migrations VALUES (99, 'future', 0)").run();
    db.close();
    expect(() => new Store(path)).toThrow(/schema version 99 is newer/);
  });

  it('keeps temporary files (the statement journals of its upserts) in memory only when asked to', () => {
    const dir = tempDir();
    const tempStore = (s: Store): unknown => s.db.pragma('temp_store', { simple: true });
    const ingest = new Store(join(dir, 'x.db'), { memoryTemp: true });
    // Upserts of rows spread over many pages, as a commit that continues the last one's hour writes them.
    for (const [first, step] of [
      [0, 2],
      [1, 2],
    ] as const) {
      const edges = Array.from({ length: 5000 }, (_, i) =>
        edge({ dstPort: first + step * i, bytesOut: 1, bytesIn: 0 }),
      );
      ingest.writeBatch({
        edges,
        quarantine: [],
        checkpoints: [checkpoint({ previousLineNo: first === 0 ? null : 10, lineNo: first === 0 ? 10 : 20 })],
      });
    }
    expect(tempStore(ingest)).toBe(2); // MEMORY
    expect(edgeTotals(ingest.db)).toMatchObject({ edges: 10_000, bytes: 10_000 });
    ingest.close();
    const other = new Store(join(dir, 'x.db'));
    expect(tempStore(other)).toBe(0); // the default: files
    other.close();
  });

  it('adds up an edge written in two batches and keeps the widest seen range', () => {
    const dir = tempDir();
    const store = new Store(join(dir, 'x.db'));
    store.writeBatch({ edges: [edge()], quarantine: [], checkpoints: [checkpoint()] });
    store.writeBatch({
      edges: [edge({ flows: 0, replies: 2, firstSeen: 1_763_596_805, lastSeen: 1_763_596_860, sources: 2 })],
      quarantine: [],
      checkpoints: [checkpoint({ lineNo: 20, previousLineNo: 10 })],
    });
    const rows = [...queryFlows(store.db, { filter: {}, groupBy: null, sort: 'bytes', limit: null })];
    expect(rows).toEqual([
      expect.objectContaining({
        flows: 1,
        replies: 2,
        bytesOut: 200,
        bytesIn: 100,
        firstSeen: 1_763_596_805,
        lastSeen: 1_763_596_870,
        sources: 3,
      }),
    ]);
    const cp = store.checkpointOf('src-1')!;
    expect(cp.lineNo).toBe(20);
    expect(cp.counts.records).toBe(20);
    store.close();
  });

  it('refuses a commit when another writer moved the checkpoint meanwhile', () => {
    const dir = tempDir();
    const store = new Store(join(dir, 'x.db'));
    store.writeBatch({ edges: [edge()], quarantine: [], checkpoints: [checkpoint()] });
    // A second collector that opened the source before the first commit still believes it is new.
    expect(() => store.writeBatch({ edges: [edge()], quarantine: [], checkpoints: [checkpoint()] })).toThrow(
      /another collect is reading this input/,
    );
    expect(edgeTotals(store.db).flows).toBe(1);
    store.close();
  });

  it('writes nothing of a batch that fails midway', () => {
    const dir = tempDir();
    const store = new Store(join(dir, 'x.db'));
    // SQLite stores NaN as NULL, which the NOT NULL column refuses.
    const bad = { ...edge({ srcAddr: '10.9.9.9' }), firstSeen: Number.NaN };
    expect(() =>
      store.writeBatch({ edges: [edge(), bad], quarantine: [], checkpoints: [checkpoint()] }),
    ).toThrow();
    expect(edgeTotals(store.db).edges).toBe(0);
    expect(store.checkpointOf('src-1')).toBeNull();
    // Nothing of the failed batch comes back with the next one.
    store.writeBatch({ edges: [edge({ srcAddr: '10.7.7.7' })], quarantine: [], checkpoints: [checkpoint()] });
    expect(edgeTotals(store.db)).toMatchObject({ edges: 1, flows: 1 });
    store.close();
  });

  it('fixes the bucket width on first use and refuses another later', () => {
    const dir = tempDir();
    const store = new Store(join(dir, 'x.db'));
    expect(store.bucketSeconds(900)).toBe(900);
    expect(store.bucketSeconds()).toBe(900);
    expect(() => store.bucketSeconds(3600)).toThrow(/900 s buckets/);
    store.close();
  });

  it('lets a reader query while a writer holds an open transaction', () => {
    const dir = tempDir();
    const path = join(dir, 'x.db');
    const writer = new Store(path);
    writer.writeBatch({ edges: [edge()], quarantine: [], checkpoints: [checkpoint()] });
    writer.db.prepare('BEGIN IMMEDIATE').run();
    writer.db.prepare('UPDATE edge_rows SET bytes_out = 999999').run();
    const reader = new Store(path, { readonly: true });
    reader.db.pragma('busy_timeout = 0');
    const rows = [...queryFlows(reader.db, { filter: {}, groupBy: [], sort: 'bytes', limit: null })];
    expect(rows[0]!.bytesOut).toBe(100);
    writer.db.prepare('COMMIT').run();
    reader.close();
    writer.close();
  });
});

describe('reading a source again from its start (restart)', () => {
  it('replaces the first read, and refuses a second re-read that raced the first', () => {
    const store = new Store(join(tempDir(), 'x.db'));
    const wrongLayout = { records: 10, stored: 0, skipped: 0, malformed: 10 };
    store.writeBatch({
      edges: [],
      quarantine: [
        {
          sourceId: 'src-1',
          sourceName: 'a.log',
          kind: 'vpcflow',
          lineNo: 1,
          reason: 'field_count',
          raw: 'x',
        },
      ],
      checkpoints: [checkpoint({ done: true, delta: wrongLayout })],
    });
    const reread = (): number =>
      store.writeBatch({
        edges: [edge()],
        quarantine: [],
        checkpoints: [checkpoint({ previousLineNo: 10, done: true, restart: true })],
      });
    reread();
    expect(store.checkpointOf('src-1')?.counts).toEqual({
      records: 10,
      stored: 10,
      skipped: 0,
      malformed: 0,
    });
    expect(store.db.prepare('SELECT COUNT(*) AS n FROM quarantine').get()).toEqual({ n: 0 });
    // A second collector looked the source up before the first re-read committed: same line, but it stored.
    expect(reread).toThrow(ConcurrentIngestError);
    expect(edgeTotals(store.db)).toMatchObject({ edges: 1, flows: 1 });
    store.close();
  });
});

/** A database file with the migrations before `version` applied, open for the test to fill. */
function databaseBefore(version: number): { path: string; old: Database.Database } {
  const path = join(tempDir(), 'x.db');
  const old = new Database(path);
  registerFunctions(old);
  migrate(
    old,
    MIGRATIONS.filter((m) => m.version < version),
    () => 0,
  );
  return { path, old };
}

describe('edge storage (migration 0009)', () => {
  it('keeps IPv4 addresses as numbers, and the edges view shows every address as text, before and after upgrade', () => {
    const { path, old } = databaseBefore(9);
    const insert = old.prepare(
      `INSERT INTO edges VALUES (3600, ?, ?, '', 443, 6, 'accept', 'egress', 1, 0, 1, 10, 0, 0, 3600, 3601, 1)`,
    );
    const pairs = [
      ['10.0.0.9', '255.255.255.255'],
      ['10.0.0.10', '0.0.0.0'],
      ['2001:db8::1', ''],
      ['', '192.0.2.1'],
    ];
    for (const [src, dst] of pairs) insert.run(src, dst);
    // Stored IPv4-mapped before such addresses were written as IPv4: it merges into 10.0.0.9's row.
    insert.run('::ffff:10.0.0.9', '255.255.255.255');
    old.close();

    const store = new Store(path);
    const text = (): string[][] =>
      (
        store.db.prepare('SELECT src_addr, dst_addr FROM edges ORDER BY src_addr, dst_addr').all() as {
          src_addr: string;
          dst_addr: string;
        }[]
      ).map((r) => [r.src_addr, r.dst_addr]);
    const sorted = [...pairs].sort((a, b) => (a.join() < b.join() ? -1 : 1));
    expect(text()).toEqual(sorted);
    expect(edgeTotals(store.db)).toMatchObject({ edges: 4, flows: 5 });
    expect(
      store.db
        .prepare('SELECT typeof(src_addr) AS s, typeof(dst_addr) AS d FROM edge_rows ORDER BY 1, 2')
        .all(),
    ).toEqual([
      { s: 'integer', d: 'integer' },
      { s: 'integer', d: 'integer' },
      { s: 'text', d: 'integer' },
      { s: 'text', d: 'text' },
    ]);
    // New writes land on the same rows: the upsert matches the migrated keys.
    store.writeBatch({
      edges: pairs.map(([srcAddr, dstAddr]) =>
        edge({ bucket: 3600, srcAddr, dstAddr, firstSeen: 3600, lastSeen: 3601 }),
      ),
      quarantine: [],
      checkpoints: [checkpoint()],
    });
    expect(text()).toEqual(sorted);
    expect(edgeTotals(store.db)).toMatchObject({ edges: 4, flows: 9 });
    store.close();
  });
});

describe('edge keys (migration 0010)', () => {
  it('packs port, protocol, action and direction into one key, in the order the four columns had', () => {
    const { path, old } = databaseBefore(10);
    const insert = old.prepare(
      `INSERT INTO edge_rows VALUES (3600, 167772161, 3221225985, '', ?, ?, ?, ?, 1, 0, 1, 10, 0, 0, 3600, 3601, 1)`,
    );
    const rows: [number, number, string, string][] = [
      [0, 1, 'accept', 'egress'],
      [53, 17, 'accept', 'ingress'],
      [443, 6, 'accept', 'egress'],
      [443, 6, 'accept', 'ingress'],
      [443, 6, 'reject', 'egress'],
      [443, 17, 'accept', 'egress'],
      [65535, 255, 'reject', 'ingress'],
    ];
    for (const r of [...rows].reverse()) insert.run(...r);
    old.close();

    const store = new Store(path);
    const four = (): unknown[] =>
      store.db
        .prepare('SELECT dst_port, protocol, action, direction, flows FROM edges')
        .all()
        .map((r) => Object.values(r as object));
    // The view reads the table in primary-key order: the key orders as the four columns did.
    expect(four()).toEqual(rows.map((r) => [...r, 1]));
    // New writes land on the migrated rows.
    store.writeBatch({
      edges: rows.map(([dstPort, protocol, action, direction]) =>
        edge({
          bucket: 3600,
          dstAddr: '192.0.2.1',
          dstPort,
          protocol,
          action: action as Edge['action'],
          direction: direction as Edge['direction'],
        }),
      ),
      quarantine: [],
      checkpoints: [checkpoint()],
    });
    expect(four()).toEqual(rows.map((r) => [...r, 2]));
    store.close();
  });
});

describe('inventory ports (migration 0012)', () => {
  const web = (ip: string, uid: string): PodRecord => ({
    uid,
    namespace: 'shop',
    name: uid,
    workload: { cluster: '', namespace: 'shop', kind: 'Deployment', name: 'web' },
    node: 'n1',
    hostNetwork: false,
    ips: [ip],
    labels: { app: 'web' },
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    phase: 'Running',
    createdAt: 100,
    startedAt: 100,
    deletedAt: null,
    finishedAt: null,
  });
  const svc: ServiceRecord = {
    uid: 's1',
    namespace: 'shop',
    name: 'web',
    type: 'ClusterIP',
    clusterIps: ['172.20.0.1'],
    externalName: '',
    selector: { app: 'web' },
    ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 'http' }],
    createdAt: 100,
  };

  it("reads rows stored before it as portless, and the next view fills in a running pod's ports", () => {
    const { path, old } = databaseBefore(12);
    old.exec(`
      INSERT INTO k8s_leases (cluster, ip, pod_uid, namespace, pod_name, workload_kind, workload_name, node,
                              host_network, labels, start_time, end_time)
      VALUES ('', '10.0.0.5', 'web-1', 'shop', 'web-1', 'Deployment', 'web', 'n1', 0, '{"app":"web"}', 100, NULL);
      INSERT INTO k8s_services (cluster, namespace, name, uid, type, cluster_ips, external_name, selector,
                                created_at, first_seen, last_seen)
      VALUES ('', 'shop', 'web', 's1', 'ClusterIP', '["172.20.0.1"]', '', '{"app":"web"}', 100, 100, 100);`);
    old.close();

    const store = new Store(path);
    const inv = new InventoryStore(store.db);
    expect(inv.leasesOf('10.0.0.5').map((l) => l.ports)).toEqual([[]]);
    expect(services(store.db).get('shop/web')).toEqual({ selector: { app: 'web' }, ports: [] });

    // A collector resumes from the open lease: the pod opens nothing new, yet its ports are stored.
    const recorder = new LeaseRecorder(inv, '', inv.openLeases(''));
    recorder.apply([
      { op: 'replace', resource: 'services', at: 200, items: [svc] },
      {
        op: 'replace',
        resource: 'pods',
        at: 200,
        items: [web('10.0.0.5', 'web-1'), web('10.0.0.6', 'web-2')],
      },
    ]);
    expect(recorder.counts).toEqual({ opened: 1, closed: 0 });
    for (const ip of ['10.0.0.5', '10.0.0.6'])
      expect(inv.leasesOf(ip).map((l) => l.ports)).toEqual([[{ name: 'http', port: 8080, protocol: 'TCP' }]]);
    expect(services(store.db).get('shop/web')).toEqual({ selector: { app: 'web' }, ports: svc.ports });
    store.close();
  });
});

describe('lease deletion time (migration 0014)', () => {
  it('reads leases stored before it as not being deleted, and the next view of a terminating pod fills it in', () => {
    const { path, old } = databaseBefore(14);
    old.exec(`
      INSERT INTO k8s_leases (cluster, ip, pod_uid, namespace, pod_name, workload_kind, workload_name, node,
                              host_network, labels, start_time, end_time, ports)
      VALUES ('', '10.0.0.5', 'web-1', 'shop', 'web-1', 'Deployment', 'web', 'n1', 0, '{"app":"web"}', 100, NULL, '[]');`);
    old.close();

    const store = new Store(path);
    const inv = new InventoryStore(store.db);
    expect(inv.openLeases('').map((l) => [l.podUid, l.podDeletedAt])).toEqual([['web-1', null]]);
    const terminating: PodRecord = {
      uid: 'web-1',
      namespace: 'shop',
      name: 'web-1',
      workload: { cluster: '', namespace: 'shop', kind: 'Deployment', name: 'web' },
      node: 'n1',
      hostNetwork: false,
      ips: ['10.0.0.5'],
      labels: { app: 'web' },
      ports: [],
      phase: 'Running',
      createdAt: 100,
      startedAt: 100,
      deletedAt: 230,
      finishedAt: null,
    };
    new LeaseRecorder(inv, '', inv.openLeases('')).apply([
      { op: 'replace', resource: 'pods', at: 200, items: [terminating] },
    ]);
    expect(inv.openLeases('').map((l) => [l.podUid, l.podDeletedAt])).toEqual([['web-1', 230]]);
    // The next import, by another run, no longer lists it: it ended when its grace period did.
    new LeaseRecorder(inv, '', inv.openLeases('')).apply([
      { op: 'replace', resource: 'pods', at: 900, items: [] },
    ]);
    expect(inv.leasesOf('10.0.0.5').map((l) => [l.start, l.end])).toEqual([[100, 230]]);
    store.close();
  });
});

describe('ENI address holders (migration 0015)', () => {
  it("starts each address's history with what earlier imports left, so an upgraded database keeps its answers", () => {
    const { path, old } = databaseBefore(15);
    const eni = old.prepare(`
      INSERT INTO cloud_enis (interface_id, instance_id, vpc_id, subnet_id, availability_zone, owner_id,
                              interface_type, description, status, security_groups, prefixes, imported_at)
      VALUES (?, ?, 'vpc-1', 'subnet-1', 'eu-west-1a', '1', 'interface', '', 'in-use', '[]', '[]', ?)`);
    const address = old.prepare('INSERT INTO cloud_eni_addresses (address, interface_id) VALUES (?, ?)');
    // 10.0.3.51 moved from eni-b to eni-a; eni-b was not imported again since.
    eni.run('eni-b', 'i-old', 1000);
    eni.run('eni-a', 'i-new', 2000);
    address.run('10.0.3.51', 'eni-b');
    address.run('10.0.3.51', 'eni-a');
    address.run('10.0.3.52', 'eni-b');
    old.close();

    const store = new Store(path);
    expect(
      store.db
        .prepare('SELECT address, since, interface_id, instance_id FROM cloud_address_holders ORDER BY 1, 2')
        .raw()
        .all(),
    ).toEqual([
      ['10.0.3.51', 1000, 'eni-b', 'i-old'],
      ['10.0.3.51', 2000, 'eni-a', 'i-new'],
      ['10.0.3.52', 1000, 'eni-b', 'i-old'],
    ]);
    store.close();
  });
});

describe('reading a database of another schema version', () => {
  const withVersions = (edit: (db: Database.Database) => void): string => {
    const path = join(tempDir(), 'x.db');
    new Store(path).close();
    const db = new Database(path);
    edit(db);
    db.close();
    return path;
  };

  it('refuses a newer one, as writing does', () => {
    const path = withVersions((db) =>
      db.prepare("INSERT INTO schema_migrations VALUES (99, 'future', 0)").run(),
    );
    expect(() => new Store(path, { readonly: true })).toThrow(/schema version 99 is newer/);
    expect(() => new Store(path)).toThrow(/schema version 99 is newer/);
  });

  it('refuses an older one, which only a writer can upgrade', () => {
    const path = withVersions((db) =>
      db
        .prepare('DELETE FROM schema_migrations WHERE version = (SELECT MAX(version) FROM schema_migrations)')
        .run(),
    );
    expect(() => new Store(path, { readonly: true })).toThrow(UsageError);
    expect(() => new Store(path, { readonly: true })).toThrow(/older than this program's/);
  });
});

describe('knownSqliteError', () => {
  const sqlite = (code: string): Error => Object.assign(new Error('sqlite says no'), { code });

  it('turns extended result codes into the message of their primary code', () => {
    for (const code of ['SQLITE_READONLY', 'SQLITE_READONLY_DBMOVED', 'SQLITE_CANTOPEN_ISDIR']) {
      const e = knownSqliteError(sqlite(code), '/data/x.db');
      expect(e).toBeInstanceOf(UsageError);
      expect((e as Error).message).toBe('cannot write to database /data/x.db (read-only file or folder)');
    }
    expect((knownSqliteError(sqlite('SQLITE_BUSY_SNAPSHOT'), 'x.db') as Error).message).toMatch(/locked/);
  });

  it('says why a database in a read-only folder cannot even be read', () => {
    const e = knownSqliteError(sqlite('SQLITE_READONLY_DIRECTORY'), '/ro/x.db');
    expect(e).toBeInstanceOf(UsageError);
    expect((e as Error).message).toMatch(/folder is read-only.*x\.db-shm/);
  });

  it('leaves other errors alone', () => {
    const e = sqlite('SQLITE_ERROR');
    expect(knownSqliteError(e, 'x.db')).toBe(e);
    expect(knownSqliteError(new TypeError('bug'), 'x.db')).toBeInstanceOf(TypeError);
  });
});
