import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { V2_HEADER } from '../helpers/vpc-lines.js';

const fixture = (name: string): string => new URL(`../fixtures/cloud/${name}`, import.meta.url).pathname;

const T0 = Date.parse('2025-03-01T09:00:00Z') / 1000;
const iso = (t: number): string => new Date(t * 1000).toISOString().replace('.000Z', 'Z');
const NODE1 = 'ip-10-0-1-10.eu-west-1.compute.internal';
const NODE2 = 'ip-10-0-2-20.eu-west-1.compute.internal';

interface PodSpec {
  readonly ns: string;
  readonly name: string;
  readonly ip: string;
  readonly node: string;
  readonly start: number;
  readonly owner?: { readonly kind: string; readonly name: string };
  readonly labels?: Record<string, string>;
  readonly hostNetwork?: boolean;
}

/** A Pod as `kubectl get pods -o json` prints it (the fields the inventory reads, and a few it does not). */
function podItem(p: PodSpec): unknown {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: p.name,
      namespace: p.ns,
      uid: `uid-${p.name}`,
      creationTimestamp: iso(p.start - 5),
      labels: p.labels ?? {},
      ...(p.owner === undefined
        ? {}
        : {
            ownerReferences: [
              {
                apiVersion: 'apps/v1',
                kind: p.owner.kind,
                name: p.owner.name,
                uid: `uid-${p.owner.name}`,
                controller: true,
                blockOwnerDeletion: true,
              },
            ],
          }),
    },
    spec: {
      nodeName: p.node,
      ...(p.hostNetwork ? { hostNetwork: true } : {}),
      containers: [{ name: 'main', image: 'registry.example/app:1' }],
    },
    status: {
      phase: 'Running',
      hostIP: p.node === NODE1 ? '10.0.1.10' : '10.0.2.20',
      podIP: p.ip,
      podIPs: [{ ip: p.ip }],
      startTime: iso(p.start),
    },
  };
}

function nodeItem(name: string, ip: string): unknown {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, uid: `uid-${name}`, creationTimestamp: '2025-02-01T00:00:00Z', labels: {} },
    spec: { podCIDR: '10.244.0.0/24', providerID: `aws:///eu-west-1a/i-${name.length}` },
    status: {
      addresses: [
        { type: 'InternalIP', address: ip },
        { type: 'Hostname', address: name },
      ],
    },
  };
}

function list(items: unknown[]): string {
  return JSON.stringify(
    { apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: '' }, items },
    null,
    2,
  );
}

const checkout: PodSpec = {
  ns: 'payments',
  name: 'checkout-7d9c8b6f5-abcde',
  ip: '10.244.1.5',
  node: NODE1,
  start: T0 + 5,
  owner: { kind: 'ReplicaSet', name: 'checkout-7d9c8b6f5' },
  labels: { app: 'checkout', 'pod-template-hash': '7d9c8b6f5', team: 'payments' },
};
const cart: PodSpec = {
  ns: 'shop',
  name: 'cart-6b8d9f7c4-zxcvb',
  ip: '10.244.2.6',
  node: NODE2,
  start: T0 + 5,
  owner: { kind: 'ReplicaSet', name: 'cart-6b8d9f7c4' },
  labels: { app: 'cart', 'pod-template-hash': '6b8d9f7c4' },
};
const exporter: PodSpec = {
  ns: 'kube-system',
  name: 'node-exporter-x2x4k',
  ip: '10.0.1.10',
  node: NODE1,
  start: T0 + 5,
  owner: { kind: 'DaemonSet', name: 'node-exporter' },
  labels: { app: 'node-exporter' },
  hostNetwork: true,
};
// Takes over checkout's IP at 10:00 (IP reuse by another workload).
const ledger: PodSpec = {
  ns: 'payments',
  name: 'ledger-0',
  ip: '10.244.1.5',
  node: NODE1,
  start: T0 + 3600,
  owner: { kind: 'StatefulSet', name: 'ledger' },
  labels: { app: 'ledger' },
};

/** Default-format VPC flow record: one request half. */
function flow(
  src: string,
  dst: string,
  sport: number,
  dport: number,
  pkts: number,
  bytes: number,
  at: number,
) {
  return `2 123456789012 eni-0a1b2c3d4e5f60718 ${src} ${dst} ${sport} ${dport} 6 ${pkts} ${bytes} ${at} ${at + 60} ACCEPT OK`;
}

const FLOWS = [
  flow('10.244.1.5', '52.216.10.5', 40001, 443, 10, 1000, T0 + 600), // checkout, 09:10
  flow('10.244.1.5', '140.82.112.3', 40002, 443, 20, 2000, T0 + 4800), // ledger, 10:20
  flow('10.244.1.5', '140.82.112.3', 40003, 443, 5, 500, T0 + 3570), // 09:59:30–10:00:30: both holders
  flow('10.0.1.10', '52.216.10.5', 40004, 443, 4, 400, T0 + 1200), // the node's address (SNAT)
  flow('10.244.2.6', '10.244.1.5', 40005, 443, 3, 300, T0 + 2400), // cart → checkout, in-cluster
  flow('10.9.9.9', '52.216.10.5', 40006, 443, 2, 200, T0 + 300), // a private address nobody holds
  flow('198.51.100.7', '10.244.2.6', 40007, 443, 1, 100, T0 + 900), // from the internet
];

/** Flows first, inventory after: attribution happens at query time. */
function setup(): { db: string; dir: string } {
  const dir = tempDir();
  const db = join(dir, 'x.db');
  writeFileSync(join(dir, 'flows.log'), `${[V2_HEADER, ...FLOWS].join('\n')}\n`);
  expect(cli(['collect', 'vpc-flow', '-q', '--db', db, join(dir, 'flows.log')]).code).toBe(0);
  const nodes = [nodeItem(NODE1, '10.0.1.10'), nodeItem(NODE2, '10.0.2.20')];
  writeFileSync(join(dir, 'a.json'), list([...nodes, podItem(checkout), podItem(cart), podItem(exporter)]));
  writeFileSync(join(dir, 'b.json'), list([...nodes, podItem(ledger), podItem(cart), podItem(exporter)]));
  for (const [file, at] of [
    ['a.json', T0 + 1800],
    ['b.json', T0 + 5400],
  ] as const) {
    const r = cli(['collect', 'k8s', '-q', '--db', db, '--snapshot', join(dir, file), '--at', iso(at)]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  }
  return { db, dir };
}

const json = (args: string[]): unknown => {
  const r = cli(args);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout);
};

describe('query flows --group-by workload', () => {
  it('gives one row per workload, IP reuse split by lease, node and unattributed traffic apart', () => {
    const { db } = setup();
    const rows = json(['query', 'flows', '--db', db, '--group-by', 'workload', '-o', 'json']) as Record<
      string,
      unknown
    >[];
    expect(rows.map((r) => [r.workload, r.flows, r.packets, r.bytes])).toEqual([
      ['payments/StatefulSet/ledger', 1, 20, 2000],
      ['payments/Deployment/checkout', 1, 10, 1000],
      [`node/${NODE1}`, 2, 9, 900],
      ['shop/Deployment/cart', 1, 3, 300],
      ['unattributed', 2, 3, 300],
    ]);
    expect(Object.keys(rows[0]!)).toEqual([
      'workload',
      'flows',
      'packets',
      'bytes',
      'replies',
      'packetsOut',
      'bytesOut',
      'packetsIn',
      'bytesIn',
      'firstSeen',
      'lastSeen',
      'sources',
    ]);
  });

  it('filters by namespace, workload and pod label', () => {
    const { db } = setup();
    const q = (...a: string[]) =>
      (
        json(['query', 'flows', '--db', db, '--group-by', 'workload', '-o', 'json', ...a]) as {
          workload: string;
        }[]
      ).map((r) => r.workload);
    expect(q('--namespace', 'payments')).toEqual([
      'payments/StatefulSet/ledger',
      'payments/Deployment/checkout',
    ]);
    expect(q('--workload', 'shop/Deployment/cart')).toEqual(['shop/Deployment/cart']);
    expect(q('--workload', `node/${NODE1}`, '--workload', 'unattributed')).toEqual([
      `node/${NODE1}`,
      'unattributed',
    ]);
    expect(q('--label', 'app=checkout')).toEqual(['payments/Deployment/checkout']);
    expect(q('--label', 'app=checkout', '--label', 'team=nobody')).toEqual([]);
    const bad = cli(['query', 'flows', '--db', db, '--label', 'app']);
    expect([bad.code, bad.stderr.trim().split('\n').length]).toEqual([1, 1]);
  });

  it('lists edges with the source workload and the destination class', () => {
    const { db } = setup();
    const rows = json(['query', 'flows', '--db', db, '--sort', 'first-seen', '-o', 'json']) as Record<
      string,
      unknown
    >[];
    expect(rows.map((r) => [r.src, r.workload, r.srcKind, r.dst, r.dstClass, r.dstName])).toEqual([
      ['10.9.9.9', 'unattributed', 'unknown', '52.216.10.5', 'internet', null],
      ['10.244.1.5', 'payments/Deployment/checkout', 'workload', '52.216.10.5', 'internet', null],
      ['198.51.100.7', 'unattributed', 'unknown', '10.244.2.6', 'pod', 'shop/Deployment/cart'],
      ['10.0.1.10', `node/${NODE1}`, 'node', '52.216.10.5', 'internet', null],
      ['10.244.2.6', 'shop/Deployment/cart', 'workload', '10.244.1.5', 'pod', 'payments/Deployment/checkout'],
      ['10.244.1.5', `node/${NODE1}`, 'ambiguous', '140.82.112.3', 'internet', null],
      ['10.244.1.5', 'payments/StatefulSet/ledger', 'workload', '140.82.112.3', 'internet', null],
    ]);
  });
});

describe('query coverage', () => {
  it('reports the share attributed to a workload, to a node only, or to nothing, and why', () => {
    const { db } = setup();
    const rows = json(['query', 'coverage', '--db', db, '-o', 'json']) as Record<string, unknown>[];
    const all = {
      flows: 7,
      bytes: 4500,
      workload: { flows: 3, bytes: 3300, flowShare: 0.4286, byteShare: 0.7333 },
      node: { flows: 2, bytes: 900, flowShare: 0.2857, byteShare: 0.2 },
      instance: { flows: 0, bytes: 0, flowShare: 0, byteShare: 0 },
      none: { flows: 2, bytes: 300, flowShare: 0.2857, byteShare: 0.0667 },
      reasons: {
        no_lease: { flows: 1, bytes: 200 },
        node_address: { flows: 1, bytes: 400 },
        outside_cluster: { flows: 1, bytes: 100 },
        straddles_holders: { flows: 1, bytes: 500 },
      },
    };
    expect(rows).toEqual([
      { scope: 'all', key: null, ...all },
      { scope: 'source-kind', key: 'vpcflow', ...all },
      {
        scope: 'node',
        key: NODE1,
        flows: 4,
        bytes: 3900,
        workload: { flows: 2, bytes: 3000, flowShare: 0.5, byteShare: 0.7692 },
        node: { flows: 2, bytes: 900, flowShare: 0.5, byteShare: 0.2308 },
        instance: { flows: 0, bytes: 0, flowShare: 0, byteShare: 0 },
        none: { flows: 0, bytes: 0, flowShare: 0, byteShare: 0 },
        reasons: { node_address: { flows: 1, bytes: 400 }, straddles_holders: { flows: 1, bytes: 500 } },
      },
      {
        scope: 'node',
        key: NODE2,
        flows: 1,
        bytes: 300,
        workload: { flows: 1, bytes: 300, flowShare: 1, byteShare: 1 },
        node: { flows: 0, bytes: 0, flowShare: 0, byteShare: 0 },
        instance: { flows: 0, bytes: 0, flowShare: 0, byteShare: 0 },
        none: { flows: 0, bytes: 0, flowShare: 0, byteShare: 0 },
        reasons: {},
      },
    ]);
  });

  it('says no_inventory before any inventory is collected, and attributes once it is', () => {
    const dir = tempDir();
    const db = join(dir, 'x.db');
    writeFileSync(join(dir, 'flows.log'), `${[V2_HEADER, ...FLOWS].join('\n')}\n`);
    cli(['collect', 'vpc-flow', '-q', '--db', db, join(dir, 'flows.log')]);
    const before = json(['query', 'coverage', '--db', db, '-o', 'json']) as {
      none: { flows: number };
      reasons: unknown;
    }[];
    expect(before[0]!.none.flows).toBe(7);
    expect(before[0]!.reasons).toEqual({ no_inventory: { flows: 7, bytes: 4500 } });
    writeFileSync(join(dir, 'a.json'), list([nodeItem(NODE1, '10.0.1.10'), podItem(checkout)]));
    cli(['collect', 'k8s', '-q', '--db', db, '--snapshot', join(dir, 'a.json'), '--at', iso(T0 + 1800)]);
    const after = json(['query', 'coverage', '--db', db, '-o', 'json']) as { workload: { flows: number } }[];
    // 10.244.1.5 is checkout's from 09:00:05 on: the 09:10 flow, the 09:59:30 one and the 10:20 one (no
    // second snapshot yet, so the lease is still open).
    expect(after[0]!.workload.flows).toBe(3);
  });
});

describe('query workloads', () => {
  it('lists inventory workloads with their attributed and candidate traffic', () => {
    const { db } = setup();
    const rows = json(['query', 'workloads', '--db', db, '-o', 'json']) as Record<string, unknown>[];
    expect(
      rows.map((r) => [r.workload, r.pods, r.flows, r.bytes, r.candidateFlows, r.firstSeen, r.lastSeen]),
    ).toEqual([
      ['kube-system/DaemonSet/node-exporter', 1, 0, 0, 1, iso(T0 + 5), null],
      ['payments/Deployment/checkout', 1, 1, 1000, 2, iso(T0 + 5), iso(T0 + 3600)],
      ['payments/StatefulSet/ledger', 1, 1, 2000, 1, iso(T0 + 3600), null],
      ['shop/Deployment/cart', 1, 1, 300, 0, iso(T0 + 5), null],
    ]);
    expect(rows[1]!.labels).toEqual(['app=checkout', 'team=payments']);
    const only = json(['query', 'workloads', '--db', db, '--label', 'app=cart', '-o', 'json']) as {
      workload: string;
    }[];
    expect(only.map((r) => r.workload)).toEqual(['shop/Deployment/cart']);
  });
});

describe('collect aws-inventory', () => {
  it('attributes ENI addresses to instances and classifies destinations by VPC and AWS service prefix', () => {
    const dir = tempDir();
    const db = join(dir, 'x.db');
    const lines = [
      flow('10.0.3.51', '3.5.64.20', 40010, 443, 6, 600, T0 + 60), // bastion's secondary IP → S3 eu-west-1
      flow('10.0.1.100', '52.94.4.10', 40011, 443, 7, 700, T0 + 120), // a delegated /28 → DynamoDB
      flow('10.0.0.99', '52.94.9.1', 40012, 443, 8, 800, T0 + 180), // the NAT gateway's ENI → AMAZON
      flow('10.0.3.50', '10.0.7.7', 40013, 443, 9, 900, T0 + 240), // bastion → VPC-internal
      flow('10.0.3.50', '100.64.3.3', 40014, 443, 1, 100, T0 + 300), // secondary VPC block
      flow('10.0.3.50', '192.168.1.1', 40015, 443, 1, 50, T0 + 360), // private, outside the VPC
    ];
    writeFileSync(join(dir, 'flows.log'), `${[V2_HEADER, ...lines].join('\n')}\n`);
    expect(cli(['collect', 'vpc-flow', '-q', '--db', db, join(dir, 'flows.log')]).code).toBe(0);
    const r = cli([
      'collect',
      'aws-inventory',
      '--db',
      db,
      '-o',
      'json',
      fixture('describe-network-interfaces.json'),
      fixture('describe-security-groups.json'),
      fixture('describe-vpcs.json'),
    ]);
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout) as {
      files: { document: string; items: number; rejects: unknown[] }[];
    };
    expect(summary.files.map((f) => [f.document, f.items])).toEqual([
      ['network-interfaces', 3],
      ['security-groups', 2],
      ['vpcs', 2],
    ]);
    expect(summary.files[0]!.rejects).toEqual([{ index: 3, id: 'eni-0badbadbadbadbad0', reason: 'bad_ip' }]);
    const rows = json([
      'query',
      'flows',
      '--db',
      db,
      '--ip-ranges',
      fixture('ip-ranges.json'),
      '--sort',
      'first-seen',
      '-o',
      'json',
    ]) as Record<string, unknown>[];
    expect(rows.map((x) => [x.src, x.workload, x.srcKind, x.dstClass, x.dstName])).toEqual([
      ['10.0.3.51', 'instance/i-0b45c6d7e8f901234', 'instance', 'cloud-service', 'S3 eu-west-1'],
      ['10.0.1.100', 'instance/i-0abc123def4567890', 'instance', 'cloud-service', 'DYNAMODB us-east-1'],
      ['10.0.0.99', 'instance/eni-0f3a4b5c6d7e80920', 'instance', 'cloud-service', 'AMAZON us-east-1'],
      ['10.0.3.50', 'instance/i-0b45c6d7e8f901234', 'instance', 'vpc', null],
      ['10.0.3.50', 'instance/i-0b45c6d7e8f901234', 'instance', 'vpc', null],
      ['10.0.3.50', 'instance/i-0b45c6d7e8f901234', 'instance', 'private', null],
    ]);
    // --vpc-cidr widens the VPC at query time.
    const wider = json([
      'query',
      'flows',
      '--db',
      db,
      '--vpc-cidr',
      '192.168.0.0/16',
      '--group-by',
      'dst-class',
      '-o',
      'json',
    ]) as {
      dstClass: string;
      flows: number;
    }[];
    expect(wider.map((x) => [x.dstClass, x.flows])).toEqual([
      ['cloud-service', 3],
      ['vpc', 3],
    ]);
    const cov = json(['query', 'coverage', '--db', db, '-o', 'json']) as { instance: { flows: number } }[];
    expect(cov[0]!.instance.flows).toBe(6);
  });

  it('keeps earlier flows with the instance a replaced one took an address from, by the time of each listing', () => {
    const dir = tempDir();
    const db = join(dir, 'x.db');
    const lines = [
      flow('10.0.3.51', '140.82.112.3', 40010, 443, 6, 600, T0 + 60),
      flow('10.0.3.51', '140.82.112.3', 40011, 443, 6, 600, T0 + 3 * 3600),
    ];
    writeFileSync(join(dir, 'flows.log'), `${[V2_HEADER, ...lines].join('\n')}\n`);
    expect(cli(['collect', 'vpc-flow', '-q', '--db', db, join(dir, 'flows.log')]).code).toBe(0);
    const listing = (eni: string, instance: string): string => {
      const path = join(dir, `${eni}.json`);
      const item = {
        NetworkInterfaceId: eni,
        Attachment: { InstanceId: instance, Status: 'attached' },
        AvailabilityZone: 'eu-west-1a',
        Groups: [{ GroupName: instance, GroupId: `sg-${instance}` }],
        InterfaceType: 'interface',
        OwnerId: '123456789012',
        PrivateIpAddress: '10.0.3.51',
        PrivateIpAddresses: [{ Primary: true, PrivateIpAddress: '10.0.3.51' }],
        Status: 'in-use',
        SubnetId: 'subnet-1',
        VpcId: 'vpc-1',
      };
      writeFileSync(path, JSON.stringify({ NetworkInterfaces: [item] }));
      return path;
    };
    const at = (t: number): string => new Date(t * 1000).toISOString();
    const collect = (t: number, eni: string, instance: string) =>
      cli(['collect', 'aws-inventory', '-q', '--db', db, '--at', at(t), listing(eni, instance)]);
    expect(collect(T0, 'eni-0aaa', 'i-old').code).toBe(0);
    expect(collect(T0 + 2 * 3600, 'eni-0bbb', 'i-new').code).toBe(0);
    const rows = json(['query', 'flows', '--db', db, '--sort', 'first-seen', '-o', 'json']) as Record<
      string,
      unknown
    >[];
    expect(rows.map((x) => x.workload)).toEqual(['instance/i-old', 'instance/i-new']);

    const hourAgo = cli(['collect', 'aws-inventory', '--db', db, '--at', '1h', listing('eni-0ccc', 'i-x')]);
    expect(hourAgo.code).toBe(0);
    const ahead = cli([
      'collect',
      'aws-inventory',
      '--db',
      db,
      '--at',
      at(Date.now() / 1000 + 86_400),
      listing('eni-0ccc', 'i-x'),
    ]);
    expect(ahead.code).toBe(1);
    expect(ahead.stderr).toMatch(/^egress-learner: --at .* is in the future\n$/);
  });

  it('exits 2 on a file that is not an AWS document, naming it', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'x.json'), '{"Buckets": [], "Owner": {}}');
    const r = cli(['collect', 'aws-inventory', '--db', join(dir, 'x.db'), join(dir, 'x.json')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/x\.json: not an AWS inventory document/);
    expect(readFileSync(fixture('ip-ranges.json'), 'utf8')).toMatch(/syncToken/);
  });
});
