import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { attributeAddress, candidatesOf, overlaps, serviceAt } from '../../src/identity/attribution.js';
import { LeaseRecorder } from '../../src/identity/lease-history.js';
import { refreshAttribution, shadowAttributionCache } from '../../src/identity/refresh-attribution.js';
import type { NetworkInterfaceRecord } from '../../src/model/cloud-inventory.js';
import type { Edge } from '../../src/model/edge.js';
import type { InventoryChange, PodRecord, ServiceRecord } from '../../src/model/workload.js';
import { CloudInventoryStore } from '../../src/store/attribution-cloud.js';
import { InventoryStore } from '../../src/store/inventory-store.js';
import { Store } from '../../src/store/store.js';
import { tempDir } from '../helpers/tmp.js';

const T0 = 1_740_819_600; // 2025-03-01T09:00:00Z
const NODE = 'ip-10-0-1-10';
const NODE_IP = '10.0.1.10';

interface Row {
  addr: string;
  first: number;
  last: number;
  kind: string;
  reason: string;
  id: string;
  pod: string;
  dstClass: string;
  dstName: string;
  candidates: string;
}

/** A real store with helpers to write edges and inventory the way the collectors do. */
class Fixture {
  readonly path = join(tempDir(), 'x.db');
  readonly store = new Store(this.path);
  readonly #recorder = new LeaseRecorder(new InventoryStore(this.store.db), '', []);
  #seq = 0;

  /** One edge of `n` records from `first` to `last` (its bucket is the hour of `first`). */
  flow(src: string, dst: string, first: number, last = first + 60, port = 443): this {
    const edge: Edge = {
      bucket: first - (first % 3600),
      srcAddr: src,
      dstAddr: dst,
      dstHost: '',
      dstPort: port,
      protocol: 6,
      action: 'accept',
      direction: 'egress',
      flows: 1,
      replies: 0,
      packetsOut: 1,
      bytesOut: 100,
      packetsIn: 0,
      bytesIn: 0,
      firstSeen: first,
      lastSeen: last,
      sources: 1,
    };
    const n = ++this.#seq;
    this.store.writeBatch({
      edges: [edge],
      quarantine: [],
      checkpoints: [
        {
          sourceId: `s${n}`,
          kind: 'vpcflow',
          name: `s${n}`,
          lineNo: 1,
          byteOffset: 0,
          done: true,
          parserState: null,
          delta: { records: 1, stored: 1, skipped: 0, malformed: 0 },
          firstTime: null,
          lastTime: null,
          fingerprintLength: 0,
          previousLineNo: null,
        },
      ],
    });
    return this;
  }

  inventory(...changes: InventoryChange[]): this {
    this.#recorder.apply(changes);
    return this;
  }

  rows(): Row[] {
    return this.store.db
      .prepare(
        `SELECT addr, first_seen AS first, last_seen AS last, kind, reason, workload_id AS id, pod,
                dst_class AS dstClass, dst_name AS dstName, candidates
         FROM address_attribution ORDER BY addr, first_seen, last_seen`,
      )
      .all() as Row[];
  }

  /** Every (address, range) key the edges have, as source and as destination. */
  edgeKeys(): string[] {
    return (
      this.store.db
        .prepare(
          `SELECT src_addr AS a, first_seen AS f, last_seen AS l FROM edges
           UNION SELECT dst_addr, first_seen, last_seen FROM edges ORDER BY 1, 2, 3`,
        )
        .all() as { a: string; f: number; l: number }[]
    ).map((r) => `${r.a} ${r.f}-${r.l}`);
  }

  /** What a refresh from scratch gives: the reference an incremental refresh must match. */
  recomputed(): Row[] {
    this.store.db.prepare("DELETE FROM meta WHERE key = 'attribution_state'").run();
    expect(refreshAttribution(this.store.db).mode).toBe('full');
    return this.rows();
  }
}

const pod = (uid: string, ip: string, start: number, node = NODE): PodRecord => ({
  uid,
  namespace: 'payments',
  name: uid,
  workload: { cluster: '', namespace: 'payments', kind: 'Deployment', name: uid },
  node,
  hostNetwork: false,
  ips: [ip],
  labels: { app: uid },
  ports: [],
  phase: 'Running',
  createdAt: start,
  startedAt: start,
  deletedAt: null,
  finishedAt: null,
});

const service = (name: string, ip: string, createdAt: number): ServiceRecord => ({
  uid: `uid-${name}`,
  namespace: 'payments',
  name,
  type: 'ClusterIP',
  clusterIps: [ip],
  externalName: '',
  selector: { app: name },
  ports: [],
  createdAt,
});

const keyOf = (r: Row): string => `${r.addr} ${r.first}-${r.last}`;

/** The one node of these tests, as a snapshot of nodes at T0. */
function theNode(): InventoryChange {
  return {
    op: 'replace',
    resource: 'nodes',
    at: T0,
    items: [
      {
        uid: 'n1',
        name: NODE,
        addresses: [{ type: 'InternalIP', address: NODE_IP }],
        podCidrs: [],
        labels: {},
        createdAt: T0 - 86_400,
      },
    ],
  };
}

describe('stale cache rows', () => {
  it('deletes the row of a range an edge widened past, and keeps one another edge still has', () => {
    const f = new Fixture();
    // Two edges from one pod in the same minute: the source key is shared, the destination keys are not.
    f.flow('10.244.1.5', '140.82.112.3', T0 + 600).flow('10.244.1.5', '140.82.112.4', T0 + 600);
    refreshAttribution(f.store.db);
    expect(f.rows().map(keyOf)).toEqual(f.edgeKeys());

    // More records of the first edge arrive in the same bucket: its seen range widens to T0+720.
    f.flow('10.244.1.5', '140.82.112.3', T0 + 660, T0 + 720);
    expect(refreshAttribution(f.store.db)).toEqual({
      mode: 'incremental',
      addresses: 2,
      keys: 2,
      removed: 1,
    });
    expect(f.rows().map(keyOf)).toEqual([
      `10.244.1.5 ${T0 + 600}-${T0 + 660}`, // the second edge still has it
      `10.244.1.5 ${T0 + 600}-${T0 + 720}`,
      `140.82.112.3 ${T0 + 600}-${T0 + 720}`, // its old range is gone
      `140.82.112.4 ${T0 + 600}-${T0 + 660}`,
    ]);
    expect(f.rows().map(keyOf)).toEqual(f.edgeKeys());
    f.store.close();
  });

  it('drops candidate lists no row uses any more, and matches a refresh from scratch', () => {
    const f = new Fixture();
    f.inventory(theNode(), {
      op: 'replace',
      resource: 'pods',
      at: T0,
      items: [pod('checkout', '10.244.1.5', T0 - 3600)],
    });
    // SNAT'd traffic on the node's address, before and after a second pod arrives on the node at 09:20.
    f.inventory({
      op: 'replace',
      resource: 'pods',
      at: T0 + 1800,
      items: [pod('checkout', '10.244.1.5', T0 - 3600), pod('ledger', '10.244.1.6', T0 + 1200)],
    });
    f.flow(NODE_IP, '140.82.112.3', T0 + 600, T0 + 660, 443).flow(
      NODE_IP,
      '140.82.112.3',
      T0 + 1500,
      T0 + 1560,
      80,
    );
    refreshAttribution(f.store.db);
    const lists = () =>
      f.store.db.prepare('SELECT candidates FROM attribution_candidates ORDER BY id').all() as {
        candidates: string;
      }[];
    expect(lists()).toHaveLength(2);

    // The first edge widens past the ledger pod's start: only the list with both pods is left in use.
    f.flow(NODE_IP, '140.82.112.3', T0 + 1300, T0 + 1320, 443);
    const r = refreshAttribution(f.store.db);
    expect([r.mode, r.keys, r.removed]).toEqual(['incremental', 2, 2]);
    const rows = f.rows();
    expect(rows.map(keyOf)).toEqual(f.edgeKeys());
    expect(lists().map((l) => (JSON.parse(l.candidates) as { pod: string }[]).map((c) => c.pod))).toEqual([
      ['checkout', 'ledger'],
    ]);
    expect(f.recomputed()).toEqual(rows);
    f.store.close();
  });
});

describe('shared answers', () => {
  it('give every range the answer the resolver gives it alone', () => {
    const f = new Fixture();
    const ip = '10.244.1.5';
    const svc = '172.20.14.2';
    const node = {
      uid: 'n1',
      name: NODE,
      addresses: [{ type: 'InternalIP', address: NODE_IP }],
      podCidrs: [],
      labels: {},
      createdAt: T0 - 86_400,
    };
    const exporter = { ...pod('exporter', NODE_IP, T0 - 3600), hostNetwork: true };
    // 10.244.1.5 goes from checkout to ledger to web-a then web-b (one workload); pods come and go on the node.
    const views: [number, PodRecord[]][] = [
      [T0, [exporter, pod('checkout', ip, T0 - 600)]],
      [T0 + 1800, [exporter, pod('ledger', ip, T0 + 1200), pod('cache', '10.244.1.9', T0 + 1500)]],
      [
        T0 + 3600,
        [exporter, { ...pod('web-a', ip, T0 + 3000), workload: { ...pod('web', ip, 0).workload } }],
      ],
      [
        T0 + 5400,
        [exporter, { ...pod('web-b', ip, T0 + 4000), workload: { ...pod('web', ip, 0).workload } }],
      ],
    ];
    f.inventory({ op: 'replace', resource: 'nodes', at: T0, items: [node] });
    for (const [at, items] of views) f.inventory({ op: 'replace', resource: 'pods', at, items });
    f.inventory({
      op: 'replace',
      resource: 'services',
      at: T0,
      items: [service('checkout', svc, T0 - 86_400)],
    });
    f.inventory({ op: 'delete', resource: 'services', at: T0 + 2400, item: service('checkout', svc, T0) });
    f.inventory({
      op: 'upsert',
      resource: 'services',
      at: T0 + 4000,
      item: service('ledger', svc, T0 + 4000),
    });
    let port = 1000;
    for (let t = T0 - 1200; t < T0 + 7200; t += 290) {
      for (const src of [ip, NODE_IP]) f.flow(src, svc, t, t + 30 + (t % 700), port++);
    }
    refreshAttribution(f.store.db);

    const inventory = new InventoryStore(f.store.db);
    const onNode = [
      ...inventory.leasesOf(ip),
      ...inventory.leasesOf(NODE_IP),
      ...inventory.leasesOf('10.244.1.9'),
    ];
    const spans = [
      { name: 'payments/checkout', since: T0 - 86_400, until: T0 + 2400 },
      { name: 'payments/ledger', since: T0 + 4000, until: null },
    ];
    const rows = f.rows();
    expect(rows).toHaveLength(3 * 29);
    for (const r of rows) {
      const a = attributeAddress({
        addr: r.addr,
        first: r.first,
        last: r.last,
        leases: inventory.leasesOf(r.addr),
        nodeOfAddress: r.addr === NODE_IP ? NODE : null,
        candidatesOnNode: (_, first, last) => candidatesOf(onNode.filter((l) => overlaps(l, first, last))),
        eni: null,
        service: r.addr === svc ? serviceAt(spans, r.first, r.last) : null,
        inVpc: false,
        cloud: null,
        hasInventory: true,
      });
      expect(r).toEqual({
        addr: r.addr,
        first: r.first,
        last: r.last,
        kind: a.kind,
        reason: a.reason,
        id: a.workloadId,
        pod: a.pod,
        dstClass: a.dstClass,
        dstName: a.dstName,
        candidates: JSON.stringify(a.candidates),
      });
    }
    // The history above must give each outcome at least once, or the comparison proves little.
    expect(new Set(rows.map((r) => `${r.kind}/${r.reason}`))).toEqual(
      new Set([
        'node/node_address',
        'workload/',
        'ambiguous/straddles_holders',
        'ambiguous/partial_lease',
        'unknown/no_lease_at_time',
        'unknown/no_lease',
      ]),
    );
    expect(new Set(rows.filter((r) => r.addr === svc).map((r) => r.dstName))).toEqual(
      new Set(['payments/checkout', 'payments/ledger', '']),
    );
    f.store.close();
  });
});

describe('candidate lists', () => {
  it('stores the pods of a node once for all the ranges they cover, and reads them back whole', () => {
    const f = new Fixture();
    f.inventory(theNode(), {
      op: 'replace',
      resource: 'pods',
      at: T0,
      items: [pod('checkout', '10.244.1.5', T0 - 3600), pod('ledger', '10.244.1.6', T0 - 3600)],
    });
    for (let i = 0; i < 50; i++) f.flow(NODE_IP, `140.82.112.${i + 1}`, T0 + 60 * i, T0 + 60 * i + 30);
    refreshAttribution(f.store.db);
    const node = f.rows().filter((r) => r.addr === NODE_IP);
    expect(node).toHaveLength(50);
    for (const r of node) {
      expect([r.kind, r.id]).toEqual(['node', `node/${NODE}`]);
      expect(JSON.parse(r.candidates)).toEqual([
        {
          namespace: 'payments',
          pod: 'checkout',
          workload: 'payments/Deployment/checkout',
          hostNetwork: false,
        },
        { namespace: 'payments', pod: 'ledger', workload: 'payments/Deployment/ledger', hostNetwork: false },
      ]);
    }
    expect(
      f
        .rows()
        .filter((r) => r.addr !== NODE_IP)
        .every((r) => r.candidates === '[]'),
    ).toBe(true);
    expect(f.store.db.prepare('SELECT COUNT(*) AS n FROM attribution_candidates').get()).toEqual({ n: 1 });
    f.store.close();
  });

  it('keeps the candidates when a read-only connection refreshes into TEMP copies', () => {
    const f = new Fixture();
    f.inventory(theNode(), {
      op: 'replace',
      resource: 'pods',
      at: T0,
      items: [pod('checkout', '10.244.1.5', T0 - 3600)],
    });
    f.flow(NODE_IP, '140.82.112.3', T0 + 600);
    refreshAttribution(f.store.db);
    const written = f.rows();
    f.flow(NODE_IP, '140.82.112.3', T0 + 600, T0 + 700); // widens: the reader must drop the old key itself
    f.store.close();

    const reader = new Store(f.path, { readonly: true });
    shadowAttributionCache(reader.db);
    expect(refreshAttribution(reader.db)).toMatchObject({ mode: 'incremental', removed: 2 });
    const rows = reader.db
      .prepare('SELECT addr, last_seen AS last, candidates FROM address_attribution ORDER BY 1, 2')
      .all() as { addr: string; last: number; candidates: string }[];
    expect(rows.map((r) => [r.addr, r.last])).toEqual([
      [NODE_IP, T0 + 700],
      ['140.82.112.3', T0 + 700],
    ]);
    expect(rows[0]!.candidates).toBe(written.find((r) => r.addr === NODE_IP)!.candidates);
    expect(
      reader.db.prepare('SELECT COUNT(*) AS n FROM main.attribution_cache WHERE last_seen = ?').get(T0 + 700),
    ).toEqual({ n: 0 });
    reader.close();
  });
});

describe('Service ClusterIPs over time', () => {
  it('gives a flow to the Service that held the ClusterIP when it was sent', () => {
    const f = new Fixture();
    const ip = '172.20.14.2';
    // `checkout` holds the ClusterIP until it is deleted at 10:00; `ledger` is given the same address at 10:30.
    f.inventory({
      op: 'replace',
      resource: 'services',
      at: T0,
      items: [service('checkout', ip, T0 - 86_400)],
    });
    f.inventory({
      op: 'delete',
      resource: 'services',
      at: T0 + 3600,
      item: service('checkout', ip, T0 - 86_400),
    });
    f.inventory({
      op: 'upsert',
      resource: 'services',
      at: T0 + 5400,
      item: service('ledger', ip, T0 + 5400),
    });
    // One port each, so that flows of the same hour stay apart.
    f.flow('10.244.1.5', ip, T0 + 600, T0 + 660, 8001) // before the deletion
      .flow('10.244.1.5', ip, T0 + 4200, T0 + 4260, 8002) // between the two: nobody's
      .flow('10.244.1.5', ip, T0 + 6000, T0 + 6060, 8003) // after the new Service came
      .flow('10.244.1.5', ip, T0 + 3590, T0 + 3650, 8004); // opened to checkout, ends after its deletion
    refreshAttribution(f.store.db);
    const dst = f.rows().filter((r) => r.addr === ip);
    expect(dst.map((r) => [r.first - T0, r.dstClass, r.dstName])).toEqual([
      [600, 'service', 'payments/checkout'],
      [3590, 'service', 'payments/checkout'],
      [4200, 'private', ''],
      [6000, 'service', 'payments/ledger'],
    ]);
    f.store.close();
  });

  it('gives the address to the newer Service when the old one was only found gone later (snapshots)', () => {
    const f = new Fixture();
    const ip = '172.20.14.2';
    f.inventory({
      op: 'replace',
      resource: 'services',
      at: T0,
      items: [service('checkout', ip, T0 - 86_400)],
    });
    // The next snapshot, at 11:00, no longer lists checkout (deleted at some point) and lists ledger, created 10:30.
    f.inventory({
      op: 'replace',
      resource: 'services',
      at: T0 + 7200,
      items: [service('ledger', ip, T0 + 5400)],
    });
    f.flow('10.244.1.5', ip, T0 + 1200).flow('10.244.1.5', ip, T0 + 6000);
    refreshAttribution(f.store.db);
    expect(
      f
        .rows()
        .filter((r) => r.addr === ip)
        .map((r) => r.dstName),
    ).toEqual(['payments/checkout', 'payments/ledger']);
    f.store.close();
  });
});

describe('ENI addresses', () => {
  const eni = (interfaceId: string, instanceId: string, address: string): NetworkInterfaceRecord => ({
    interfaceId,
    instanceId,
    vpcId: 'vpc-1',
    subnetId: 'subnet-1',
    availabilityZone: 'eu-west-1a',
    ownerId: '123456789012',
    interfaceType: 'interface',
    description: '',
    status: 'in-use',
    addresses: [address],
    primaryAddress: '',
    attachedAt: null,
    prefixes: [],
    securityGroups: [{ groupId: `sg-${instanceId}`, groupName: instanceId }],
  });

  const DAY = 86_400;
  const idsOf = (f: Fixture, addr: string): string[] =>
    f
      .rows()
      .filter((r) => r.addr === addr)
      .map((r) => `${r.first - T0} ${r.id}`);

  it('gives a flow to the holder of the last import before it, or of the first import when it is older', () => {
    const f = new Fixture();
    const cloud = new CloudInventoryStore(f.store.db);
    for (const at of [-3600, 600, DAY + 600, 2 * DAY + 600]) f.flow('10.0.3.51', '140.82.112.3', T0 + at);
    // The instance was replaced: the address moved from eni-b to eni-a, and eni-b's listing was not refreshed.
    cloud.import({ enis: [eni('eni-b', 'i-old', '10.0.3.51')] }, T0);
    cloud.import({ enis: [eni('eni-a', 'i-new', '10.0.3.51')] }, T0 + DAY);
    refreshAttribution(f.store.db);
    expect(idsOf(f, '10.0.3.51')).toEqual([
      '-3600 instance/i-old',
      '600 instance/i-old',
      `${DAY + 600} instance/i-new`,
      `${2 * DAY + 600} instance/i-new`,
    ]);

    // It moved back: only flows from then on change hands.
    cloud.import({ enis: [eni('eni-b', 'i-old', '10.0.3.51')] }, T0 + 2 * DAY);
    expect(refreshAttribution(f.store.db).mode).toBe('full');
    expect(idsOf(f, '10.0.3.51')).toEqual([
      '-3600 instance/i-old',
      '600 instance/i-old',
      `${DAY + 600} instance/i-new`,
      `${2 * DAY + 600} instance/i-old`,
    ]);
    f.store.close();
  });

  it("dates a new holder of an interface's primary address from its attachment, when that is after the last holder", () => {
    const f = new Fixture();
    const cloud = new CloudInventoryStore(f.store.db);
    for (const at of [3600, 6 * 3600, DAY + 3600]) f.flow('10.0.3.51', '140.82.112.3', T0 + at);
    const primary = (id: string, instance: string, attachedAt: number | null): NetworkInterfaceRecord => ({
      ...eni(id, instance, '10.0.3.51'),
      primaryAddress: '10.0.3.51',
      attachedAt,
    });
    cloud.import({ enis: [primary('eni-b', 'i-old', T0 - DAY)] }, T0);
    // The instance was replaced 5 hours after that import; the next import comes a day later.
    cloud.import({ enis: [primary('eni-a', 'i-new', T0 + 5 * 3600)] }, T0 + DAY);
    // The same interface listed again keeps its date, and an attachment before the last holder's date is no date.
    cloud.import({ enis: [primary('eni-a', 'i-new', T0 + 5 * 3600)] }, T0 + 2 * DAY);
    refreshAttribution(f.store.db);
    expect(idsOf(f, '10.0.3.51')).toEqual([
      '3600 instance/i-old',
      `${6 * 3600} instance/i-new`,
      `${DAY + 3600} instance/i-new`,
    ]);
    expect(
      f.store.db.prepare('SELECT since - ? FROM cloud_address_holders ORDER BY since').raw().all(T0).flat(),
    ).toEqual([-DAY, 5 * 3600]);

    // A secondary address goes by the import, unless its interface moved to another instance: it went along.
    const secondary = (instance: string, attachedAt: number): NetworkInterfaceRecord => ({
      ...eni('eni-c', instance, '10.0.3.77'),
      primaryAddress: '10.0.3.70',
      attachedAt,
    });
    for (const at of [3600, 6 * 3600]) f.flow('10.0.3.77', '140.82.112.3', T0 + at);
    cloud.import({ enis: [secondary('i-1', T0 - DAY)] }, T0 - 3600);
    cloud.import({ enis: [secondary('i-2', T0 + 5 * 3600)] }, T0 + DAY);
    refreshAttribution(f.store.db);
    expect(idsOf(f, '10.0.3.77')).toEqual(['3600 instance/i-1', `${6 * 3600} instance/i-2`]);
    f.store.close();
  });

  it('dates a replacement by its attachment whatever the order of the interfaces in the listing', () => {
    for (const order of ['old first', 'new first']) {
      const f = new Fixture();
      const cloud = new CloudInventoryStore(f.store.db);
      f.flow('10.0.3.51', '140.82.112.3', T0 + 6 * 3600);
      const primary = (id: string, instance: string, addresses: string[], attachedAt: number) => ({
        ...eni(id, instance, '10.0.3.51'),
        addresses,
        primaryAddress: '10.0.3.51',
        attachedAt,
      });
      cloud.import({ enis: [primary('eni-b', 'i-old', ['10.0.3.51'], T0 - DAY)] }, T0);
      // One listing: eni-b no longer holds the address, eni-a (attached 5 hours after T0) does.
      const listing = [
        primary('eni-b', 'i-old', [], T0 - DAY),
        primary('eni-a', 'i-new', ['10.0.3.51'], T0 + 5 * 3600),
      ];
      cloud.import({ enis: order === 'old first' ? listing : listing.reverse() }, T0 + DAY);
      refreshAttribution(f.store.db);
      expect(idsOf(f, '10.0.3.51'), order).toEqual([`${6 * 3600} instance/i-new`]);
      f.store.close();
    }
  });

  it('adds a listing older than the last one to the history only, leaving the current interfaces as they are', () => {
    const f = new Fixture();
    const cloud = new CloudInventoryStore(f.store.db);
    for (const at of [3600, DAY + 3600]) f.flow('10.0.3.51', '140.82.112.3', T0 + at);
    cloud.import({ enis: [eni('eni-b', 'i-new', '10.0.3.51')] }, T0 + DAY);
    // An archived listing of the day before, imported afterwards with --at.
    cloud.import({ enis: [eni('eni-b', 'i-old', '10.0.3.51')], securityGroups: [] }, T0);
    refreshAttribution(f.store.db);
    expect(idsOf(f, '10.0.3.51')).toEqual(['3600 instance/i-old', `${DAY + 3600} instance/i-new`]);
    expect(f.store.db.prepare('SELECT instance_id, imported_at - ? FROM cloud_enis').raw().all(T0)).toEqual([
      ['i-new', DAY],
    ]);
    f.store.close();
  });

  it('lets an address go when its interface is listed without it, and not when another took it since', () => {
    const f = new Fixture();
    const cloud = new CloudInventoryStore(f.store.db);
    for (const at of [600, DAY + 600, 2 * DAY + 600]) {
      f.flow('10.0.3.51', '140.82.112.3', T0 + at);
      f.flow('10.0.3.52', '140.82.112.3', T0 + at);
    }
    const two = { ...eni('eni-b', 'i-old', '10.0.3.51'), addresses: ['10.0.3.51', '10.0.3.52'] };
    cloud.import({ enis: [two] }, T0);
    // .52 went to eni-a first; then eni-b's new listing no longer has either address.
    cloud.import({ enis: [eni('eni-a', 'i-new', '10.0.3.52')] }, T0 + DAY);
    cloud.import({ enis: [{ ...two, addresses: [] }] }, T0 + 2 * DAY);
    refreshAttribution(f.store.db);
    expect(idsOf(f, '10.0.3.51')).toEqual([
      '600 instance/i-old',
      `${DAY + 600} instance/i-old`,
      `${2 * DAY + 600} unattributed`,
    ]);
    expect(idsOf(f, '10.0.3.52')).toEqual([
      '600 instance/i-old',
      `${DAY + 600} instance/i-new`,
      `${2 * DAY + 600} instance/i-new`,
    ]);
    f.store.close();
  });

  it('keeps one holder row while a re-import says nothing new, and a new one when the security groups change', () => {
    const f = new Fixture();
    const cloud = new CloudInventoryStore(f.store.db);
    const holders = (): unknown[] =>
      f.store.db.prepare('SELECT since - ? AS at, security_groups FROM cloud_address_holders').all(T0);
    cloud.import({ enis: [eni('eni-b', 'i-old', '10.0.3.51')] }, T0);
    cloud.import({ enis: [eni('eni-b', 'i-old', '10.0.3.51')] }, T0 + DAY);
    expect(holders()).toHaveLength(1);
    const regrouped = {
      ...eni('eni-b', 'i-old', '10.0.3.51'),
      securityGroups: [{ groupId: 'sg-2', groupName: 'x' }],
    };
    cloud.import({ enis: [regrouped] }, T0 + 2 * DAY);
    expect(holders()).toEqual([
      { at: 0, security_groups: JSON.stringify([{ groupId: 'sg-i-old', groupName: 'i-old' }]) },
      { at: 2 * DAY, security_groups: JSON.stringify([{ groupId: 'sg-2', groupName: 'x' }]) },
    ]);
    f.store.close();
  });
});
