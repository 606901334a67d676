import { readFileSync } from 'node:fs';
import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { stringify as stringifyYaml } from 'yaml';
import {
  resolveWorkload,
  toPodRecord,
  toServiceRecord,
  workloadLabels,
  type OwnerIndex,
} from '../../collectors/kubernetes/inventory.js';
import { parseKubectlList } from '../../collectors/kubernetes/snapshot.js';

const fixture = (name: string): string =>
  readFileSync(new URL(`../fixtures/kubernetes/${name}`, import.meta.url), 'utf8');

const pod = (owners: { kind: string; name: string; controller?: boolean }[], labels = {}): V1Pod => ({
  metadata: {
    name: 'p-1',
    namespace: 'shop',
    uid: 'u1',
    labels,
    ownerReferences: owners.map((o) => ({ apiVersion: 'v1', uid: `uid-${o.name}`, ...o })),
  },
});

describe('owner resolution', () => {
  const index: OwnerIndex = new Map([
    ['shop/ReplicaSet/web-5f6d7', { kind: 'Deployment', name: 'web' }],
    ['shop/ReplicaSet/orphan-rs', null],
    ['shop/ReplicaSet/canary-abc', { kind: 'Rollout', name: 'canary' }],
    ['shop/Job/report-28995840', { kind: 'CronJob', name: 'report' }],
    ['shop/Job/migrate', null],
  ]);
  const cases: [string, V1Pod, string][] = [
    [
      'Pod → ReplicaSet → Deployment',
      pod([{ kind: 'ReplicaSet', name: 'web-5f6d7', controller: true }]),
      'shop/Deployment/web',
    ],
    [
      'an unowned ReplicaSet is the workload',
      pod([{ kind: 'ReplicaSet', name: 'orphan-rs' }]),
      'shop/ReplicaSet/orphan-rs',
    ],
    [
      'a custom controller above a ReplicaSet',
      pod([{ kind: 'ReplicaSet', name: 'canary-abc' }]),
      'shop/Rollout/canary',
    ],
    ['StatefulSet', pod([{ kind: 'StatefulSet', name: 'db', controller: true }]), 'shop/StatefulSet/db'],
    ['DaemonSet', pod([{ kind: 'DaemonSet', name: 'agent', controller: true }]), 'shop/DaemonSet/agent'],
    ['Job → CronJob', pod([{ kind: 'Job', name: 'report-28995840' }]), 'shop/CronJob/report'],
    ['a Job without a CronJob', pod([{ kind: 'Job', name: 'migrate' }]), 'shop/Job/migrate'],
    [
      'a Job not in the index stays a Job',
      pod([{ kind: 'Job', name: 'report-29000000' }]),
      'shop/Job/report-29000000',
    ],
    ['bare Pod', pod([]), 'shop/Pod/p-1'],
    ['a static pod mirrored by its Node is a bare Pod', pod([{ kind: 'Node', name: 'n1' }]), 'shop/Pod/p-1'],
    [
      'the controller reference wins over the first one',
      pod([
        { kind: 'ConfigMap', name: 'x' },
        { kind: 'StatefulSet', name: 'db', controller: true },
      ]),
      'shop/StatefulSet/db',
    ],
    [
      'a ReplicaSet missing from the index resolves through pod-template-hash',
      pod([{ kind: 'ReplicaSet', name: 'api-server-6c9f8d7b4' }], { 'pod-template-hash': '6c9f8d7b4' }),
      'shop/Deployment/api-server',
    ],
    [
      'a ReplicaSet whose name does not end in the hash stays a ReplicaSet',
      pod([{ kind: 'ReplicaSet', name: 'handmade' }], { 'pod-template-hash': '6c9f8d7b4' }),
      'shop/ReplicaSet/handmade',
    ],
  ];
  it.each(cases)('%s', (_name, p, want) => {
    const w = resolveWorkload(p, index);
    expect(`${w.namespace}/${w.kind}/${w.name}`).toBe(want);
  });
});

describe('pod mapping', () => {
  it('drops rollout churn labels and keeps the rest, sorted', () => {
    expect(
      workloadLabels({
        'pod-template-hash': 'abc',
        'controller-revision-hash': 'r',
        'batch.kubernetes.io/job-name': 'j',
        'job-name': 'j',
        'controller-uid': 'u',
        team: 'payments',
        app: 'checkout',
      }),
    ).toEqual({ app: 'checkout', team: 'payments' });
  });

  it('reads IPv4 and IPv6 from status.podIPs, canonically', () => {
    const r = toPodRecord(
      {
        metadata: { name: 'p', namespace: 'n', uid: 'u' },
        status: { podIP: '10.1.2.3', podIPs: [{ ip: '10.1.2.3' }, { ip: 'FD00:0:0::0A' }] },
      },
      new Map(),
    );
    expect(r.ok && r.value.ips).toEqual(['10.1.2.3', 'fd00::a']);
  });

  it('falls back to status.podIP when podIPs is absent', () => {
    const r = toPodRecord(
      { metadata: { name: 'p', namespace: 'n', uid: 'u' }, status: { podIP: '10.1.2.3' } },
      new Map(),
    );
    expect(r.ok && r.value.ips).toEqual(['10.1.2.3']);
  });

  it('accepts Date timestamps from the client library and strings from JSON alike', () => {
    const fromDate = toPodRecord(
      {
        metadata: {
          name: 'p',
          namespace: 'n',
          uid: 'u',
          creationTimestamp: new Date('2025-03-01T09:00:00Z'),
        },
      },
      new Map(),
    );
    const fromText = toPodRecord(
      {
        metadata: {
          name: 'p',
          namespace: 'n',
          uid: 'u',
          creationTimestamp: '2025-03-01T09:00:00Z' as unknown as Date,
        },
      },
      new Map(),
    );
    expect(fromDate.ok && fromDate.value.createdAt).toBe(Date.parse('2025-03-01T09:00:00Z') / 1000);
    expect(fromText).toEqual(fromDate);
  });

  it('keeps named container ports, defaulting the protocol to TCP, and leaves out entries it cannot read', () => {
    const r = toPodRecord(
      {
        metadata: { name: 'p', namespace: 'n', uid: 'u' },
        spec: {
          containers: [
            {
              name: 'a',
              ports: [
                { name: 'dns', containerPort: 53, protocol: 'UDP' },
                { name: 'http', containerPort: 8080 },
                { name: 'huge', containerPort: 70000 },
                { name: 'icmp', containerPort: 1, protocol: 'ICMP' as 'TCP' },
                { containerPort: 9000 },
              ],
            },
            { name: 'b', ports: 'http' as unknown as [] },
          ],
        },
      },
      new Map(),
    );
    expect(r.ok && r.value.ports).toEqual([
      { name: 'dns', port: 53, protocol: 'UDP' },
      { name: 'http', port: 8080, protocol: 'TCP' },
    ]);
  });

  it("keeps a Service's ports: targetPort a number or a container port name, else the port itself", () => {
    const r = toServiceRecord({
      metadata: { name: 's', namespace: 'n' },
      spec: {
        selector: { app: 'web' },
        ports: [
          { name: 'http', port: 80, targetPort: 8080 },
          { name: 'grpc', port: 9090, targetPort: 'grpc', protocol: 'TCP' },
          { name: 'dns', port: 53, protocol: 'UDP' },
          { name: 'bad', port: 0, targetPort: 1 },
        ],
      },
    });
    expect(r.ok && r.value.ports).toEqual([
      { name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 },
      { name: 'grpc', protocol: 'TCP', port: 9090, targetPort: 'grpc' },
      { name: 'dns', protocol: 'UDP', port: 53, targetPort: 53 },
    ]);
  });

  it('rejects, without throwing, a pod with a bad IP, a bad time or no uid', () => {
    const base = { metadata: { name: 'p', namespace: 'n', uid: 'u' } };
    expect(toPodRecord({ ...base, status: { podIPs: [{ ip: '10.0.0.256' }] } }, new Map())).toEqual({
      ok: false,
      reason: 'bad_ip',
    });
    expect(
      toPodRecord(
        { metadata: { ...base.metadata, creationTimestamp: 'yesterday' as unknown as Date } },
        new Map(),
      ),
    ).toEqual({ ok: false, reason: 'bad_time' });
    expect(toPodRecord({ metadata: { name: 'p', namespace: 'n' } }, new Map())).toEqual({
      ok: false,
      reason: 'missing_uid',
    });
    expect(toPodRecord(null as unknown as V1Pod, new Map())).toEqual({ ok: false, reason: 'not_an_object' });
  });
});

describe('kubectl snapshot', () => {
  const t = (iso: string): number => Date.parse(iso) / 1000;

  it('reads a mixed-kind List into records, resolving owners from the ReplicaSets and Jobs in it', () => {
    const r = parseKubectlList(fixture('snapshot-a.json'));
    if (!r.ok) throw new Error(r.reason);
    const byName = new Map(r.snapshot.pods.map((p) => [p.name, p]));
    expect(byName.get('checkout-7d9c8b6f5-abcde')).toEqual({
      uid: 'uid-checkout-7d9c8b6f5-abcde',
      namespace: 'payments',
      name: 'checkout-7d9c8b6f5-abcde',
      workload: { cluster: '', namespace: 'payments', kind: 'Deployment', name: 'checkout' },
      node: 'ip-10-0-1-10.eu-west-1.compute.internal',
      hostNetwork: false,
      ips: ['10.244.1.5'],
      labels: { app: 'checkout', team: 'payments' },
      // Named ports only, a sidecar's among them; a plain init container's are not served.
      ports: [
        { name: 'http', port: 8080, protocol: 'TCP' },
        { name: 'metrics', port: 9090, protocol: 'TCP' },
      ],
      phase: 'Running',
      createdAt: t('2025-03-01T09:00:00Z'),
      startedAt: t('2025-03-01T09:00:05Z'),
      deletedAt: null,
      finishedAt: null,
    });
    expect(byName.get('checkout-7d9c8b6f5-fghij')!.ips).toEqual(['10.244.1.6', 'fd00:10:244:1::6']);
    expect(byName.get('ledger-0')!.workload.kind).toBe('StatefulSet');
    expect(byName.get('ledger-0')!.labels).toEqual({ app: 'ledger' });
    const exporter = byName.get('node-exporter-x2x4k')!;
    expect([exporter.workload.kind, exporter.hostNetwork, exporter.ips]).toEqual([
      'DaemonSet',
      true,
      ['10.0.1.10'],
    ]);
    const report = byName.get('nightly-report-28995840-q7w2p')!;
    expect(report.workload).toEqual({
      cluster: '',
      namespace: 'payments',
      kind: 'CronJob',
      name: 'nightly-report',
    });
    expect([report.phase, report.finishedAt]).toEqual(['Succeeded', t('2025-03-01T08:03:30Z')]);
    expect(byName.get('debug-shell')!.workload.kind).toBe('Pod');

    expect(r.snapshot.nodes).toEqual([
      {
        uid: 'uid-ip-10-0-1-10.eu-west-1.compute.internal',
        name: 'ip-10-0-1-10.eu-west-1.compute.internal',
        addresses: [
          { type: 'InternalIP', address: '10.0.1.10' },
          { type: 'Hostname', address: 'ip-10-0-1-10.eu-west-1.compute.internal' },
          { type: 'InternalDNS', address: 'ip-10-0-1-10.eu-west-1.compute.internal' },
        ],
        podCidrs: ['10.244.1.0/24', 'fd00:10:244:1::/64'],
        labels: {
          'kubernetes.io/hostname': 'ip-10-0-1-10.eu-west-1.compute.internal',
          'topology.kubernetes.io/zone': 'eu-west-1a',
        },
        createdAt: t('2025-02-01T00:00:00Z'),
      },
    ]);
    expect(r.snapshot.services.map((s) => [s.name, s.clusterIps, s.ports])).toEqual([
      ['checkout', ['172.20.14.2'], [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 }]],
      ['checkout-headless', [], [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 }]],
    ]);
    expect(r.snapshot.namespaces.map((n) => n.name)).toEqual(['payments', 'kube-system']);
    expect(r.ignored).toBe(1); // the Deployment
  });

  it('reports malformed items with position and reason and keeps the rest', () => {
    const r = parseKubectlList(fixture('snapshot-a.json'));
    if (!r.ok) throw new Error(r.reason);
    expect(r.rejects).toEqual([
      { index: 14, kind: 'Pod', name: 'payments/broken-ip', reason: 'bad_ip' },
      { index: 15, kind: '', name: 'no-kind', reason: 'missing_kind' },
    ]);
    expect(r.snapshot.pods).toHaveLength(6);
  });

  it('reads a typed PodList, whose items carry no kind', () => {
    const r = parseKubectlList(
      JSON.stringify({ kind: 'PodList', items: [{ metadata: { name: 'a', namespace: 'n', uid: 'u' } }] }),
    );
    expect(r.ok && r.snapshot.pods.map((p) => p.name)).toEqual(['a']);
  });

  it('says what is wrong with a file that is neither a List nor an object', () => {
    expect(parseKubectlList('{"kind":')).toEqual({ ok: false, reason: 'bad_syntax' });
    expect(parseKubectlList('a: [1\nb: 2')).toEqual({ ok: false, reason: 'bad_syntax' });
    for (const text of ['[1, 2]', 'just text', '', '{"kind":"PodList"}', '{"metadata":{"name":"web"}}']) {
      expect([text, parseKubectlList(text)]).toEqual([text, { ok: false, reason: 'not_kubernetes' }]);
    }
  });

  it('reads one object (kubectl get pod web -o json) as a one-item snapshot marked as an object', () => {
    const web = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web', namespace: 'shop', uid: 'u1', creationTimestamp: '2026-11-23T01:00:00Z' },
      spec: { nodeName: 'n' },
      status: { phase: 'Running', startTime: '2026-11-23T01:00:00Z', podIP: '10.1.2.3' },
    };
    const r = parseKubectlList(JSON.stringify(web));
    if (!r.ok) throw new Error(r.reason);
    expect(r.shape).toBe('object');
    expect(r.snapshot.pods.map((p) => [p.namespace, p.name, p.ips, p.startedAt])).toEqual([
      ['shop', 'web', ['10.1.2.3'], t('2026-11-23T01:00:00Z')],
    ]);
    expect(parseKubectlList(fixture('snapshot-a.json'))).toMatchObject({ ok: true, shape: 'list' });
    // A malformed object is a reject, as an item of a list would be.
    expect(parseKubectlList('{"kind":"Pod"}')).toMatchObject({
      ok: true,
      shape: 'object',
      rejects: [{ index: 0, kind: 'Pod', reason: 'missing_name' }],
    });
  });

  it('reads kubectl -o yaml output as the same snapshot as -o json', () => {
    const json = fixture('snapshot-a.json');
    expect(parseKubectlList(stringifyYaml(JSON.parse(json)))).toEqual(parseKubectlList(json));
    // As kubectl prints one pod: times quoted; a hand-written unquoted time reads the same.
    const pod = `apiVersion: v1
kind: Pod
metadata:
  creationTimestamp: "2026-11-23T01:00:00Z"
  labels:
    app: web
    pod-template-hash: 5d4f8c7b9
  name: web-5d4f8c7b9-x2x4k
  namespace: shop
  ownerReferences:
  - apiVersion: apps/v1
    controller: true
    kind: ReplicaSet
    name: web-5d4f8c7b9
    uid: 0b6c3f7e-1f2a-4c1e-9d0e-6a1b2c3d4e5f
  uid: 6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f
spec:
  containers:
  - image: registry.example/web:1
    name: web
    ports:
    - containerPort: 8080
      name: http
      protocol: TCP
  nodeName: ip-10-0-1-10.eu-west-1.compute.internal
status:
  phase: Running
  podIP: 10.244.1.5
  podIPs:
  - ip: 10.244.1.5
  - ip: fd00:10:244:1::5
  startTime: 2026-11-23T01:00:02Z
`;
    const r = parseKubectlList(pod);
    if (!r.ok) throw new Error(r.reason);
    expect([r.shape, r.rejects]).toEqual(['object', []]);
    expect(r.snapshot.pods[0]).toMatchObject({
      name: 'web-5d4f8c7b9-x2x4k',
      workload: { namespace: 'shop', kind: 'Deployment', name: 'web' },
      ips: ['10.244.1.5', 'fd00:10:244:1::5'],
      labels: { app: 'web' },
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      createdAt: t('2026-11-23T01:00:00Z'),
      startedAt: t('2026-11-23T01:00:02Z'),
    });
  });
});
