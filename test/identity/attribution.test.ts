import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAwsDocument } from '../../collectors/cloud/aws-inventory.js';
import {
  attributeAddress,
  candidatesOf,
  pickCloudService,
  serviceAt,
  type AddressFacts,
} from '../../src/identity/attribution.js';
import { LeaseRecorder } from '../../src/identity/lease-history.js';
import { PrefixTable } from '../../src/identity/prefix-table.js';
import * as refresh from '../../src/identity/refresh-attribution.js';
import { refreshAttribution } from '../../src/identity/refresh-attribution.js';
import { parseCidr } from '../../src/model/cidr.js';
import type { CloudPrefixRecord } from '../../src/model/cloud-inventory.js';
import type { Edge } from '../../src/model/edge.js';
import type { Lease, PodRecord } from '../../src/model/workload.js';
import { Store } from '../../src/store/store.js';
import { InventoryStore } from '../../src/store/inventory-store.js';
import { tempDir } from '../helpers/tmp.js';

const T0 = 1_740_819_600; // 2025-03-01T09:00:00Z
const NODE = 'ip-10-0-1-10';

function lease(o: Partial<Lease> & Pick<Lease, 'podUid' | 'start' | 'end'>): Lease {
  const name = o.podName ?? o.podUid;
  return {
    ip: '10.244.1.5',
    namespace: 'payments',
    podName: name,
    workload: { cluster: '', namespace: o.namespace ?? 'payments', kind: 'Deployment', name },
    node: NODE,
    hostNetwork: false,
    labels: { app: name },
    ports: [],
    ...o,
  };
}

function facts(o: Partial<AddressFacts> & Pick<AddressFacts, 'first' | 'last'>): AddressFacts {
  return {
    addr: '10.244.1.5',
    leases: [],
    nodeOfAddress: null,
    candidatesOnNode: () => [],
    eni: null,
    service: null,
    inVpc: false,
    cloud: null,
    hasInventory: true,
    ...o,
  };
}

describe('source attribution over a seen range', () => {
  // 10.244.1.5 belonged to `checkout` until 10:00, then to `ledger`.
  const checkout = lease({ podUid: 'checkout', start: T0, end: T0 + 3600 });
  const ledger = lease({ podUid: 'ledger', start: T0 + 3600, end: null });
  const history = [checkout, ledger];

  it('gives each holder of a reused IP its own flows', () => {
    const before = attributeAddress(facts({ first: T0 + 600, last: T0 + 660, leases: history }));
    const after = attributeAddress(facts({ first: T0 + 4800, last: T0 + 4860, leases: history }));
    expect([before.kind, before.workloadId, before.pod, before.labels]).toEqual([
      'workload',
      'payments/Deployment/checkout',
      'checkout',
      { app: 'checkout' },
    ]);
    expect([after.kind, after.workloadId, after.pod]).toEqual([
      'workload',
      'payments/Deployment/ledger',
      'ledger',
    ]);
  });

  it('gives a flow at the instant of the hand-over to the new holder (leases are half-open)', () => {
    const at = attributeAddress(facts({ first: T0 + 3600, last: T0 + 3660, leases: history }));
    expect(at.workloadId).toBe('payments/Deployment/ledger');
  });

  it('marks a range straddling two holders ambiguous, on their node, with both candidates', () => {
    const a = attributeAddress(facts({ first: T0 + 3570, last: T0 + 3630, leases: history }));
    expect(a).toMatchObject({
      kind: 'ambiguous',
      reason: 'straddles_holders',
      workloadId: `node/${NODE}`,
      node: NODE,
      workload: null,
      dstClass: 'pod',
      candidates: [
        {
          namespace: 'payments',
          pod: 'checkout',
          workload: 'payments/Deployment/checkout',
          hostNetwork: false,
        },
        { namespace: 'payments', pod: 'ledger', workload: 'payments/Deployment/ledger', hostNetwork: false },
      ],
    });
  });

  it('keeps a straddling range on the workload when both holders belong to it', () => {
    const a = lease({ podUid: 'web-a', podName: 'web-a', start: T0, end: T0 + 3600 });
    const b = lease({ podUid: 'web-b', podName: 'web-b', start: T0 + 3600, end: null });
    const web = { cluster: '', namespace: 'payments', kind: 'Deployment', name: 'web' };
    const r = attributeAddress(
      facts({
        first: T0 + 3570,
        last: T0 + 3630,
        leases: [
          { ...a, workload: web },
          { ...b, workload: web },
        ],
      }),
    );
    expect([r.kind, r.workloadId, r.pod]).toEqual(['workload', 'payments/Deployment/web', '']);
  });

  it('marks a range only partly covered by one lease ambiguous', () => {
    const r = attributeAddress(facts({ first: T0 - 120, last: T0 + 60, leases: [checkout] }));
    expect([r.kind, r.reason, r.workloadId]).toEqual(['ambiguous', 'partial_lease', `node/${NODE}`]);
  });

  it("attributes a node's address to the node, keeping the pods that ran on it as candidates", () => {
    const onNode = [
      checkout,
      lease({
        podUid: 'exporter',
        namespace: 'kube-system',
        ip: '10.0.1.10',
        hostNetwork: true,
        start: T0,
        end: null,
      }),
    ];
    const seen: [string, number, number][] = [];
    const r = attributeAddress(
      facts({
        addr: '10.0.1.10',
        first: T0 + 600,
        last: T0 + 660,
        nodeOfAddress: NODE,
        candidatesOnNode: (node, first, last) => {
          seen.push([node, first, last]);
          return candidatesOf(onNode);
        },
      }),
    );
    expect(seen).toEqual([[NODE, T0 + 600, T0 + 660]]);
    expect(r).toMatchObject({
      kind: 'node',
      reason: 'node_address',
      workloadId: `node/${NODE}`,
      dstClass: 'node',
      dstName: NODE,
    });
    expect(r.candidates.map((c) => [c.workload, c.hostNetwork])).toEqual([
      ['kube-system/Deployment/exporter', true],
      ['payments/Deployment/checkout', false],
    ]);
  });

  it("attributes a host-network pod's address to its node even without a node record", () => {
    const exporter = lease({ podUid: 'exporter', ip: '10.0.1.10', hostNetwork: true, start: T0, end: null });
    const r = attributeAddress(
      facts({ addr: '10.0.1.10', first: T0 + 10, last: T0 + 70, leases: [exporter] }),
    );
    expect([r.kind, r.reason, r.workloadId, r.hostNetwork]).toEqual([
      'node',
      'host_network',
      `node/${NODE}`,
      true,
    ]);
  });

  it('attributes an ENI address without a lease to its instance and security groups', () => {
    const r = attributeAddress(
      facts({
        addr: '10.0.3.51',
        first: T0,
        last: T0 + 60,
        eni: { interfaceId: 'eni-1', instanceId: 'i-1', securityGroups: ['sg-1', 'sg-2'] },
      }),
    );
    expect([r.kind, r.workloadId, r.securityGroups, r.dstClass]).toEqual([
      'instance',
      'instance/i-1',
      ['sg-1', 'sg-2'],
      'instance',
    ]);
  });

  it('says why nothing was attributed', () => {
    const reason = (o: Partial<AddressFacts>) =>
      attributeAddress(facts({ first: T0, last: T0 + 60, ...o })).reason;
    expect(reason({ leases: [lease({ podUid: 'old', start: T0 - 7200, end: T0 - 3600 })] })).toBe(
      'no_lease_at_time',
    );
    expect(reason({ hasInventory: false })).toBe('no_inventory');
    expect(reason({ addr: '198.51.100.7' })).toBe('outside_cluster');
    expect(reason({})).toBe('no_lease');
    expect(reason({ addr: '' })).toBe('no_address');
  });
});

describe('serviceAt', () => {
  // payments/checkout held the ClusterIP until 10:00; payments/ledger got it at 10:30.
  const checkout = { name: 'payments/checkout', since: T0 - 86_400, until: T0 + 3600 };
  const ledger = { name: 'payments/ledger', since: T0 + 5400, until: null };
  const at = (first: number, last = first + 60, spans = [ledger, checkout]) => serviceAt(spans, first, last);

  it('gives each range to the Service that held the address then, and none in between', () => {
    expect(at(T0 + 600)).toBe('payments/checkout');
    expect(at(T0 + 4200)).toBeNull();
    expect(at(T0 + 6000)).toBe('payments/ledger');
    expect(at(T0 - 2 * 86_400)).toBeNull();
  });

  it('gives a range to the holder at its start; else to the first Service that arrives within it', () => {
    expect(at(T0 + 3590, T0 + 5500)).toBe('payments/checkout');
    expect(at(T0 + 3700, T0 + 5500)).toBe('payments/ledger');
    expect(at(T0 + 3600)).toBeNull(); // spans are half-open: deleted at 10:00 means gone at 10:00
  });

  it('prefers the newer Service when an old one was found gone only after the address was reused', () => {
    const late = { ...checkout, until: T0 + 7200 }; // the snapshot at 11:00 found it gone
    expect(at(T0 + 6000, T0 + 6060, [late, ledger])).toBe('payments/ledger');
    expect(at(T0 + 6000, T0 + 6060, [ledger, late])).toBe('payments/ledger');
    expect(at(T0 + 600, T0 + 660, [late, ledger])).toBe('payments/checkout');
  });
});

describe('AWS inventory documents', () => {
  const read = (name: string) =>
    parseAwsDocument(readFileSync(new URL(`../fixtures/cloud/${name}`, import.meta.url), 'utf8'));

  it('reads describe-instances as the interfaces describe-network-interfaces lists, with the instance and zone', () => {
    const instances = read('describe-instances.json');
    const enis = read('describe-network-interfaces.json');
    if (!instances.ok || instances.document.kind !== 'instances')
      throw new Error('describe-instances fixture');
    if (!enis.ok || enis.document.kind !== 'network-interfaces')
      throw new Error('describe-network-interfaces fixture');
    expect(instances.rejects).toEqual([]);
    // The same two instances' interfaces (a terminated instance has none); the NAT gateway's is no instance's.
    expect(instances.document.items).toEqual(enis.document.items.slice(0, 2));
    expect(instances.document.items.map((e) => [e.instanceId, e.availabilityZone, e.ownerId])).toEqual([
      ['i-0b45c6d7e8f901234', 'eu-west-1c', '123456789012'],
      ['i-0abc123def4567890', 'eu-west-1a', '123456789012'],
    ]);
  });

  it('rejects an instance interface with a bad address by its position among all interfaces', () => {
    const doc = {
      Reservations: [
        {
          Instances: [
            {
              InstanceId: 'i-1',
              NetworkInterfaces: [{ NetworkInterfaceId: 'eni-1', PrivateIpAddress: '10.0.0.1' }],
            },
          ],
        },
        {
          Instances: [
            'x',
            {
              InstanceId: 'i-2',
              NetworkInterfaces: [{ NetworkInterfaceId: 'eni-2', PrivateIpAddress: '10.0.0.256' }],
            },
          ],
        },
      ],
    };
    const r = parseAwsDocument(JSON.stringify(doc));
    if (!r.ok || r.document.kind !== 'instances') throw new Error('document');
    expect(r.document.items.map((e) => [e.interfaceId, e.instanceId, e.addresses])).toEqual([
      ['eni-1', 'i-1', ['10.0.0.1']],
    ]);
    expect(r.rejects).toEqual([
      { index: 1, id: '', reason: 'not_an_object' },
      { index: 2, id: 'eni-2', reason: 'bad_ip' },
    ]);
  });
});

describe('destination classes', () => {
  const doc = parseAwsDocument(
    readFileSync(new URL('../fixtures/cloud/ip-ranges.json', import.meta.url), 'utf8'),
  );
  if (!doc.ok || doc.document.kind !== 'ip-ranges') throw new Error('fixture');
  const table = new PrefixTable<CloudPrefixRecord>();
  for (const p of doc.document.items) table.add(parseCidr(p.cidr)!, p);
  const service = (addr: string): string | null => {
    const hit = table.lookup(addr);
    const best = hit === null ? null : pickCloudService(hit.values);
    return best === null ? null : `${best.service} ${best.region}`;
  };

  it('reads ip-ranges.json, IPv4 and IPv6', () => {
    expect(doc.document.items).toHaveLength(13);
    expect(doc.document.kind === 'ip-ranges' && doc.document.syncToken).toBe('1740787393');
  });

  it('takes the longest prefix, and the named service over AMAZON', () => {
    expect(service('52.94.4.10')).toBe('DYNAMODB us-east-1'); // /24 inside the /16
    expect(service('52.94.9.1')).toBe('AMAZON us-east-1'); // only the /16
    expect(service('52.217.255.1')).toBe('S3 us-east-1');
    expect(service('3.255.1.1')).toBe('EC2 eu-west-1');
    expect(service('2a05:d07a:a0ff::1')).toBe('S3 eu-west-1');
    expect(service('2a05:d018:1::1')).toBe('EC2 eu-west-1');
    expect(service('2a05:d050::1')).toBe('AMAZON eu-west-1');
    expect(service('140.82.112.3')).toBeNull();
  });

  it('classifies what no lease or node claims: service, VPC, cloud service, private, internet', () => {
    const cls = (o: Partial<AddressFacts>) => {
      const r = attributeAddress(facts({ first: T0, last: T0 + 60, ...o }));
      return [r.dstClass, r.dstName];
    };
    expect(cls({ addr: '172.20.14.2', service: 'payments/checkout' })).toEqual([
      'service',
      'payments/checkout',
    ]);
    expect(cls({ addr: '10.0.7.7', inVpc: true })).toEqual(['vpc', '']);
    expect(cls({ addr: '52.94.4.10', cloud: { service: 'DYNAMODB', region: 'us-east-1' } })).toEqual([
      'cloud-service',
      'DYNAMODB us-east-1',
    ]);
    expect(cls({ addr: '192.168.1.1' })).toEqual(['private', '']);
    expect(cls({ addr: '140.82.112.3' })).toEqual(['internet', '']);
    expect(cls({ addr: '' })).toEqual(['none', '']);
  });
});

describe('refreshAttribution', () => {
  const edge = (src: string, first: number, n = 1): Edge => ({
    bucket: first - (first % 3600),
    srcAddr: src,
    dstAddr: '140.82.112.3',
    dstHost: '',
    dstPort: 443,
    protocol: 6,
    action: 'accept',
    direction: 'egress',
    flows: n,
    replies: 0,
    packetsOut: n,
    bytesOut: 100 * n,
    packetsIn: 0,
    bytesIn: 0,
    firstSeen: first,
    lastSeen: first + 60,
    sources: 1,
  });
  let seq = 0;
  const write = (store: Store, edges: Edge[]): void => {
    seq++;
    store.writeBatch({
      edges,
      quarantine: [],
      checkpoints: [
        {
          sourceId: `s${seq}`,
          kind: 'vpcflow',
          name: `s${seq}`,
          lineNo: edges.length,
          byteOffset: 0,
          done: true,
          parserState: null,
          delta: { records: edges.length, stored: edges.length, skipped: 0, malformed: 0 },
          firstTime: null,
          lastTime: null,
          fingerprintLength: 0,
          previousLineNo: null,
        },
      ],
    });
  };
  const pod = (uid: string, ip: string, startedAt: number): PodRecord => ({
    uid,
    namespace: 'payments',
    name: uid,
    workload: { cluster: '', namespace: 'payments', kind: 'Pod', name: uid },
    node: NODE,
    hostNetwork: false,
    ips: [ip],
    ports: [],
    labels: {},
    phase: 'Running',
    createdAt: startedAt,
    startedAt,
    deletedAt: null,
    finishedAt: null,
  });
  const kinds = (store: Store) =>
    store.db
      .prepare(
        'SELECT addr, first_seen AS first, kind, workload_id AS id FROM address_attribution ORDER BY 1, 2',
      )
      .all()
      .filter((r) => (r as { addr: string }).addr !== '140.82.112.3');

  it('is cheap when nothing changed, fills new edges incrementally, and recomputes when inventory arrives late', () => {
    const store = new Store(join(tempDir(), 'x.db'));
    write(store, [edge('10.244.1.5', T0 + 600)]);
    expect(refreshAttribution(store.db)).toEqual({ mode: 'full', addresses: 2, keys: 2, removed: 0 });
    expect(refreshAttribution(store.db).mode).toBe('unchanged');
    expect(kinds(store)).toEqual([
      { addr: '10.244.1.5', first: T0 + 600, kind: 'unknown', id: 'unattributed' },
    ]);

    write(store, [edge('10.244.1.5', T0 + 4800)]);
    expect(refreshAttribution(store.db)).toEqual({ mode: 'incremental', addresses: 2, keys: 2, removed: 0 });

    // Inventory collected after the flows: two pods held the IP one after the other.
    const recorder = new LeaseRecorder(new InventoryStore(store.db), '', []);
    recorder.apply([{ op: 'replace', resource: 'pods', at: T0 + 1800, items: [pod('a', '10.244.1.5', T0)] }]);
    recorder.apply([
      { op: 'replace', resource: 'pods', at: T0 + 5400, items: [pod('b', '10.244.1.5', T0 + 3600)] },
    ]);
    expect(refreshAttribution(store.db).mode).toBe('full');
    expect(kinds(store)).toEqual([
      { addr: '10.244.1.5', first: T0 + 600, kind: 'workload', id: 'payments/Pod/a' },
      { addr: '10.244.1.5', first: T0 + 4800, kind: 'workload', id: 'payments/Pod/b' },
    ]);
    // The same snapshot again changes no lease: nothing to recompute.
    recorder.apply([
      { op: 'replace', resource: 'pods', at: T0 + 5500, items: [pod('b', '10.244.1.5', T0 + 3600)] },
    ]);
    expect(refreshAttribution(store.db).mode).toBe('unchanged');
    store.close();
  });

  it('attributes every address of a large batch in one refresh', () => {
    const store = new Store(join(tempDir(), 'x.db'));
    const edges: Edge[] = [];
    for (let i = 0; i < 6000; i++)
      edges.push(edge(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, T0 + i));
    write(store, edges);
    store.db.prepare("INSERT INTO vpc_cidrs VALUES ('10.0.0.0/16', 'vpc-1', 'vpc')").run();
    // Speed is the benchmark's business (a scan per address took minutes at 40k edges); this checks the result.
    expect(refreshAttribution(store.db)).toEqual({ mode: 'full', addresses: 6001, keys: 12000, removed: 0 });
    const n = store.db.prepare('SELECT COUNT(*) AS n FROM address_attribution').get() as { n: number };
    expect(n.n).toBe(12000);
    store.close();
  });

  it('refreshes into TEMP copies on a read-only connection, leaving the file alone', () => {
    const path = join(tempDir(), 'x.db');
    const writer = new Store(path);
    write(writer, [edge('10.244.1.5', T0 + 600)]);
    writer.db.prepare("INSERT INTO vpc_cidrs VALUES ('10.244.0.0/16', 'vpc-1', 'vpc')").run();
    writer.close();
    const reader = new Store(path, { readonly: true });
    expect(() => refreshAttribution(reader.db)).toThrow(/readonly/);
    expect(refresh.attributionStale(reader.db)).toBe(true);
    expect(refresh.attributionUsesCache(reader.db)).toBe(true);
    refresh.shadowAttributionCache(reader.db);
    expect(refreshAttribution(reader.db).mode).toBe('full');
    expect(refresh.attributionStale(reader.db)).toBe(false);
    expect(kinds(reader)).toEqual([
      { addr: '10.244.1.5', first: T0 + 600, kind: 'unknown', id: 'unattributed' },
    ]);
    expect(
      reader.db.prepare('SELECT COUNT(*) AS n FROM main.address_attribution').get() as { n: number },
    ).toEqual({ n: 0 });
    reader.close();
  });
});
