import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseKubectlList } from '../../collectors/kubernetes/snapshot.js';
import { LeaseHistory, LeaseRecorder } from '../../src/identity/lease-history.js';
import type { InventoryChange, PodRecord } from '../../src/model/workload.js';
import { InventoryStore } from '../../src/store/inventory-store.js';
import { Store } from '../../src/store/store.js';
import { tempDir } from '../helpers/tmp.js';

const T0 = 1_740_819_600; // 2025-03-01T09:00:00Z

const pod = (o: Partial<PodRecord> & Pick<PodRecord, 'uid'>): PodRecord => ({
  namespace: 'shop',
  name: o.uid,
  workload: { cluster: '', namespace: 'shop', kind: 'Deployment', name: 'web' },
  node: 'n1',
  hostNetwork: false,
  ips: [],
  labels: { app: 'web' },
  ports: [],
  phase: 'Running',
  createdAt: T0,
  startedAt: T0 + 1,
  deletedAt: null,
  finishedAt: null,
  ...o,
});

/** Applies a series of views and returns every lease as stored, oldest first. */
function storeWith(dir: string): { inv: InventoryStore; recorder: LeaseRecorder; store: Store } {
  const store = new Store(join(dir, 'el.db'), { now: () => T0 });
  const inv = new InventoryStore(store.db);
  return { inv, recorder: new LeaseRecorder(inv, '', inv.openLeases('')), store };
}
const replace = (at: number, items: PodRecord[]): InventoryChange[] => [
  { op: 'replace', resource: 'pods', at, items },
];
const spans = (
  leases: { podUid: string; start: number; end: number | null }[],
): [string, number, number | null][] =>
  leases.map((l) => [l.podUid, l.start - T0, l.end === null ? null : l.end - T0]);

describe('lease history', () => {
  it('opens a lease at the pod start time the API gives, not at the snapshot time', () => {
    const h = new LeaseHistory();
    const ops = h.replace([pod({ uid: 'a', ips: ['10.0.0.5'] })], T0 + 600);
    expect(ops).toEqual([
      { op: 'open', lease: expect.objectContaining({ ip: '10.0.0.5', start: T0 + 1, end: null }) },
    ]);
  });

  it('starts every address of a dual-stack pod at the pod start, not only the first', () => {
    const h = new LeaseHistory();
    const ops = h.replace([pod({ uid: 'a', ips: ['10.0.0.5', 'fd00::5'] })], T0 + 600);
    expect(ops).toEqual([
      { op: 'open', lease: expect.objectContaining({ ip: '10.0.0.5', start: T0 + 1, end: null }) },
      { op: 'open', lease: expect.objectContaining({ ip: 'fd00::5', start: T0 + 1, end: null }) },
    ]);
    // A finished dual-stack pod seen for the first time: both leases from its start to its finish.
    const done = h.replace(
      [pod({ uid: 'job', ips: ['10.0.0.7', 'fd00::7'], phase: 'Succeeded', finishedAt: T0 + 90 })],
      T0 + 1200,
      ['shop2'],
    );
    expect(done.map((o) => o.op === 'open' && [o.lease.ip, o.lease.start - T0, o.lease.end! - T0])).toEqual([
      ['10.0.0.7', 1, 90],
      ['fd00::7', 1, 90],
    ]);
  });

  it('on a watch, starts the addresses a pod shows on first sight at its start, those it gets later at the event', () => {
    const h = new LeaseHistory();
    const opened = (ops: ReturnType<LeaseHistory['upsert']>): [string, number][] =>
      ops.flatMap((o) => (o.op === 'open' ? [[o.lease.ip, o.lease.start - T0] as [string, number]] : []));
    // First seen with both addresses (a watch resumed after the pod came up): the pod's start for both.
    expect(opened(h.upsert(pod({ uid: 'a', ips: ['10.0.0.5', 'fd00::5'] }), T0 + 600))).toEqual([
      ['10.0.0.5', 1],
      ['fd00::5', 1],
    ]);
    // ADDED while pending without an address, MODIFIED once the CNI gave it two: held from that event.
    expect(opened(h.upsert(pod({ uid: 'b', phase: 'Pending', startedAt: T0 + 700 }), T0 + 700))).toEqual([]);
    expect(
      opened(h.upsert(pod({ uid: 'b', ips: ['10.0.0.6', 'fd00::6'], startedAt: T0 + 700 }), T0 + 704)),
    ).toEqual([
      ['10.0.0.6', 704],
      ['fd00::6', 704],
    ]);
  });

  it('ends the lease of a pod gone between two snapshots at the second snapshot, or at its deletion time', () => {
    const h = new LeaseHistory();
    h.replace(
      [pod({ uid: 'a', ips: ['10.0.0.5'] }), pod({ uid: 'b', ips: ['10.0.0.6'], deletedAt: T0 + 700 })],
      T0 + 600,
    );
    const ops = h.replace([], T0 + 1200);
    expect(ops).toEqual([
      { op: 'close', podUid: 'a', ip: '10.0.0.5', start: T0 + 1, end: T0 + 1200 },
      { op: 'close', podUid: 'b', ip: '10.0.0.6', start: T0 + 1, end: T0 + 700 },
    ]);
    expect(h.livePods).toBe(0);
  });

  it('ends only the pods of the namespaces a partial listing covers', () => {
    const h = new LeaseHistory();
    const other = (uid: string, ip: string) =>
      pod({ uid, ips: [ip], namespace: 'ops', workload: { ...pod({ uid }).workload, namespace: 'ops' } });
    h.replace(
      [pod({ uid: 'a', ips: ['10.0.0.5'] }), pod({ uid: 'b', ips: ['10.0.0.6'] }), other('c', '10.0.0.7')],
      T0 + 600,
    );
    // `kubectl get pods -n shop` an hour later: b is gone from shop; c, in ops, was not listed.
    const ops = h.replace([pod({ uid: 'a', ips: ['10.0.0.5'] })], T0 + 3600, ['shop']);
    expect(ops).toEqual([{ op: 'close', podUid: 'b', ip: '10.0.0.6', start: T0 + 1, end: T0 + 3600 }]);
    expect(h.openLeases().map((l) => l.podUid)).toEqual(['a', 'c']);
    // A listing of the whole cluster (no namespaces given) ends c.
    expect(h.replace([pod({ uid: 'a', ips: ['10.0.0.5'] })], T0 + 7200).map((o) => o.op)).toEqual(['close']);
    expect(h.openLeases().map((l) => l.podUid)).toEqual(['a']);
  });

  it('gives two pods that hold one IP one after another two non-overlapping leases (IP reuse)', () => {
    const h = new LeaseHistory();
    h.replace([pod({ uid: 'old', ips: ['10.0.0.5'] })], T0 + 600);
    // By the next snapshot the old pod is gone and a new one, started at +900, holds the same IP.
    const ops = h.replace(
      [pod({ uid: 'new', ips: ['10.0.0.5'], createdAt: T0 + 899, startedAt: T0 + 900 })],
      T0 + 1200,
    );
    // Closed at the snapshot that no longer lists it, then cut back to where the new holder begins.
    expect(ops).toEqual([
      { op: 'close', podUid: 'old', ip: '10.0.0.5', start: T0 + 1, end: T0 + 1200 },
      { op: 'close', podUid: 'old', ip: '10.0.0.5', start: T0 + 1, end: T0 + 900 },
      {
        op: 'open',
        lease: expect.objectContaining({ podUid: 'new', ip: '10.0.0.5', start: T0 + 900, end: null }),
      },
    ]);
  });

  it('lets a new holder win over a terminating pod that still lists the IP, and does not flip back', () => {
    const h = new LeaseHistory();
    h.replace([pod({ uid: 'old', ips: ['10.0.0.5'] })], T0 + 600);
    const lingering = pod({ uid: 'old', ips: ['10.0.0.5'], deletedAt: T0 + 650 });
    const fresh = pod({ uid: 'new', ips: ['10.0.0.5'], startedAt: T0 + 900 });
    const ops = h.replace([lingering, fresh], T0 + 1200);
    expect(ops.map((o) => o.op)).toEqual(['close', 'open']);
    expect(h.replace([lingering, fresh], T0 + 1800)).toEqual([]);
    expect(h.openLeases().map((l) => l.podUid)).toEqual(['new']);
  });

  it('closes the old lease and opens a new one when a pod changes IP', () => {
    const h = new LeaseHistory();
    h.replace([pod({ uid: 'a', ips: ['10.0.0.5'] })], T0 + 600);
    const ops = h.upsert(pod({ uid: 'a', ips: ['10.0.0.9'] }), T0 + 700);
    expect(ops).toEqual([
      { op: 'close', podUid: 'a', ip: '10.0.0.5', start: T0 + 1, end: T0 + 700 },
      { op: 'open', lease: expect.objectContaining({ ip: '10.0.0.9', start: T0 + 700, end: null }) },
    ]);
  });

  it('ends the lease of a finished pod at its containers finishedAt, though it still lists the IP', () => {
    const h = new LeaseHistory();
    h.replace([pod({ uid: 'job', ips: ['10.0.0.7'] })], T0 + 60);
    const ops = h.upsert(
      pod({ uid: 'job', ips: ['10.0.0.7'], phase: 'Succeeded', finishedAt: T0 + 90 }),
      T0 + 120,
    );
    expect(ops).toEqual([{ op: 'close', podUid: 'job', ip: '10.0.0.7', start: T0 + 1, end: T0 + 90 }]);
  });

  it('records a pod that came and went unseen from its API times (start → finishedAt)', () => {
    const h = new LeaseHistory();
    const ops = h.replace(
      [pod({ uid: 'job', ips: ['10.0.0.7'], phase: 'Succeeded', finishedAt: T0 + 90 })],
      T0 + 600,
    );
    expect(ops).toEqual([
      { op: 'open', lease: expect.objectContaining({ podUid: 'job', start: T0 + 1, end: T0 + 90 }) },
    ]);
  });

  it('never lets a host-network pod close or block the lease of another holder of the node address', () => {
    const h = new LeaseHistory();
    const a = pod({ uid: 'ds-a', ips: ['10.0.1.10'], hostNetwork: true });
    const b = pod({ uid: 'ds-b', ips: ['10.0.1.10'], hostNetwork: true, startedAt: T0 + 30 });
    const ops = h.replace([a, b], T0 + 60);
    expect(ops.map((o) => o.op)).toEqual(['open', 'open']);
    expect(h.openLeases()).toHaveLength(2);
  });

  it('uses the final object of a watch DELETED event for the end time', () => {
    const h = new LeaseHistory();
    h.upsert(pod({ uid: 'a', ips: ['10.0.0.5'] }), T0 + 10);
    const ops = h.remove(pod({ uid: 'a', ips: ['10.0.0.5'], deletedAt: T0 + 40 }), T0 + 45);
    expect(ops).toEqual([{ op: 'close', podUid: 'a', ip: '10.0.0.5', start: T0 + 1, end: T0 + 40 }]);
  });
});

describe('lease history in the store', () => {
  it("never gives a later holder's time to a lingering terminating pod rebuilt from its lease", () => {
    const dir = tempDir();
    const { inv, store } = storeWith(dir);
    // Each snapshot import is its own run, resuming from the stored open leases.
    const snapshot = (at: number, pods: PodRecord[]): void =>
      new LeaseRecorder(inv, '', inv.openLeases('')).apply(replace(at, pods));
    const ip = '10.244.1.5';
    const a = pod({ uid: 'a', ips: [ip], startedAt: T0 + 100 });
    // A finalizer keeps A listed, with its address, after B took the address.
    const lingering = { ...a, deletedAt: T0 + 1500 };
    const b = pod({ uid: 'b', ips: [ip], startedAt: T0 + 1600 });
    snapshot(T0 + 1000, [a]);
    snapshot(T0 + 2000, [lingering, b]);
    snapshot(T0 + 3000, [lingering]);
    snapshot(T0 + 4000, [lingering, pod({ uid: 'c', ips: [ip], startedAt: T0 + 3500 })]);
    expect(spans(inv.leasesOf(ip))).toEqual([
      ['a', 100, 1600],
      ['b', 1600, 3000],
      ['c', 3500, null],
    ]);
    store.close();
  });

  it('builds history from two kubectl snapshots: the gone pod ends, the reused IP has two holders', () => {
    const dir = tempDir();
    const { inv, recorder, store } = storeWith(dir);
    const read = (name: string): PodRecord[] => {
      const r = parseKubectlList(
        readFileSync(new URL(`../fixtures/kubernetes/${name}`, import.meta.url), 'utf8'),
      );
      if (!r.ok) throw new Error(r.reason);
      return [...r.snapshot.pods];
    };
    recorder.apply(replace(T0 + 600, read('snapshot-a.json')));
    recorder.apply(replace(T0 + 3600, read('snapshot-b.json')));
    expect(spans(inv.leasesOf('10.244.1.5'))).toEqual([
      ['uid-checkout-7d9c8b6f5-abcde', 5, 2401], // ends where the new holder's start (09:40:01) begins
      ['uid-checkout-7d9c8b6f5-klmno', 2401, null],
    ]);
    // The flow's time picks the holder.
    expect(inv.leasesAt('10.244.1.5', T0 + 1000).map((l) => l.podName)).toEqual(['checkout-7d9c8b6f5-abcde']);
    expect(inv.leasesAt('10.244.1.5', T0 + 2401).map((l) => l.podName)).toEqual(['checkout-7d9c8b6f5-klmno']);
    expect(inv.leasesAt('10.244.1.5', T0 - 100)).toEqual([]);
    // debug-shell vanished between the snapshots with no deletion time known: it ends at the second snapshot.
    expect(spans(inv.leasesOf('10.244.1.8'))).toEqual([['uid-debug-shell', 5, 3600]]);
    // The CronJob pod had finished before the first snapshot: a closed lease from its API times.
    expect(spans(inv.leasesOf('10.244.1.9'))).toEqual([['uid-nightly-report-28995840-q7w2p', -3598, -3390]]);
    expect(
      inv
        .workloads()
        .map((w) => [`${w.workload.namespace}/${w.workload.kind}/${w.workload.name}`, w.pods, w.openLeases]),
    ).toEqual([
      ['kube-system/DaemonSet/node-exporter', 1, 1],
      ['payments/CronJob/nightly-report', 1, 0],
      ['payments/Deployment/checkout', 3, 3],
      ['payments/Pod/debug-shell', 1, 0],
      ['payments/StatefulSet/ledger', 1, 1],
    ]);
    store.close();
  });

  it('attributes flows of either address of a dual-stack pod from before the snapshot that first listed it', () => {
    const dir = tempDir();
    const { inv, recorder, store } = storeWith(dir);
    recorder.apply(replace(T0 + 4200, [pod({ uid: 'a', ips: ['10.0.0.5', 'fd00::5'] })]));
    expect(spans(inv.leasesOf('10.0.0.5'))).toEqual([['a', 1, null]]);
    expect(spans(inv.leasesOf('fd00::5'))).toEqual([['a', 1, null]]);
    expect(inv.leasesAt('fd00::5', T0 + 3600).map((l) => l.podUid)).toEqual(['a']);
    store.close();
  });

  it('resumes from the open leases after a restart and records the same snapshot twice only once', () => {
    const dir = tempDir();
    const first = storeWith(dir);
    const a = pod({ uid: 'a', ips: ['10.0.0.5'] });
    first.recorder.apply(replace(T0 + 600, [a]));
    first.store.close();
    const second = storeWith(dir);
    second.recorder.apply(replace(T0 + 600, [a]));
    expect(second.recorder.counts).toEqual({ opened: 0, closed: 0 });
    second.recorder.apply(replace(T0 + 1200, []));
    expect(spans(second.inv.leasesOf('10.0.0.5'))).toEqual([['a', 1, 1200]]);
    expect(second.inv.lastAt('')).toBe(T0 + 1200);
    second.store.close();
  });

  it('ends a terminating pod gone from the next snapshot at its deletion time, each snapshot a run of its own', () => {
    const dir = tempDir();
    const keep = pod({ uid: 'keep', ips: ['10.0.0.9'] });
    // Seen terminating at +600: deleted at +630 (its grace period's end) and at +1500, after the next snapshot.
    const views: [number, PodRecord[]][] = [
      [
        T0 + 600,
        [
          keep,
          pod({ uid: 'old', ips: ['10.0.0.5', 'fd00::5'], deletedAt: T0 + 630 }),
          pod({ uid: 'slow', ips: ['10.0.0.6'], deletedAt: T0 + 1500 }),
        ],
      ],
      [T0 + 1200, [keep]],
    ];
    for (const [at, items] of views) {
      const run = storeWith(dir);
      run.recorder.apply(replace(at, items));
      run.store.close();
    }
    const { inv, store } = storeWith(dir);
    expect(spans(inv.leasesOf('10.0.0.5'))).toEqual([['old', 1, 630]]);
    expect(spans(inv.leasesOf('fd00::5'))).toEqual([['old', 1, 630]]);
    // Gone before its deadline (it stopped sooner): it ended by the snapshot that missed it.
    expect(spans(inv.leasesOf('10.0.0.6'))).toEqual([['slow', 1, 1200]]);
    expect(inv.leasesAt('10.0.0.5', T0 + 900)).toEqual([]);
    store.close();
  });

  it('keeps the deletion time a watch saw across a restart, for the re-list that finds the pod gone', () => {
    const dir = tempDir();
    const first = storeWith(dir);
    first.recorder.apply([
      { op: 'upsert', resource: 'pods', at: T0 + 10, item: pod({ uid: 'a', ips: ['10.0.0.5'] }) },
    ]);
    // MODIFIED: deleted with a 30 s grace period; the collector stops before the DELETED event.
    const terminating = pod({ uid: 'a', ips: ['10.0.0.5'], deletedAt: T0 + 50 });
    first.recorder.apply([{ op: 'upsert', resource: 'pods', at: T0 + 20, item: terminating }]);
    first.store.close();
    const second = storeWith(dir);
    expect(second.inv.openLeases('')).toEqual([
      expect.objectContaining({ podUid: 'a', podDeletedAt: T0 + 50 }),
    ]);
    second.recorder.apply(replace(T0 + 600, []));
    expect(spans(second.inv.leasesOf('10.0.0.5'))).toEqual([['a', 1, 50]]);
    second.store.close();
  });

  it('reopens the lease of a pod that a listing missed once a later one lists it again', () => {
    const dir = tempDir();
    const a = pod({ uid: 'a', ips: ['10.0.0.5'] });
    // Each view by its own run, as `collect k8s --snapshot` does: an empty listing, then one with a again.
    for (const [at, items] of [
      [T0 + 600, [a]],
      [T0 + 1200, []],
      [T0 + 1800, [a]],
    ] as const) {
      const run = storeWith(dir);
      run.recorder.apply(replace(at, [...items]));
      run.store.close();
    }
    const { inv, store } = storeWith(dir);
    expect(spans(inv.leasesOf('10.0.0.5'))).toEqual([['a', 1, null]]);
    expect(inv.openLeases('').map((l) => l.podUid)).toEqual(['a']);
    store.close();
  });

  it('keeps nodes, services and namespaces with the time they disappeared', () => {
    const dir = tempDir();
    const { store, recorder } = storeWith(dir);
    const ns = (name: string) => ({
      uid: name,
      name,
      labels: { 'kubernetes.io/metadata.name': name },
      createdAt: T0,
    });
    recorder.apply([{ op: 'replace', resource: 'namespaces', at: T0 + 10, items: [ns('a'), ns('b')] }]);
    recorder.apply([{ op: 'replace', resource: 'namespaces', at: T0 + 20, items: [ns('a')] }]);
    recorder.apply([
      {
        op: 'upsert',
        resource: 'nodes',
        at: T0 + 30,
        item: {
          uid: 'n',
          name: 'n1',
          addresses: [{ type: 'InternalIP', address: '10.0.1.10' }],
          podCidrs: [],
          labels: {},
          createdAt: T0,
        },
      },
    ]);
    const rows = store.db.prepare('SELECT name, deleted_at FROM k8s_namespaces ORDER BY name').all();
    expect(rows).toEqual([
      { name: 'a', deleted_at: null },
      { name: 'b', deleted_at: T0 + 20 },
    ]);
    expect(store.db.prepare('SELECT address, node FROM k8s_node_addresses').all()).toEqual([
      { address: '10.0.1.10', node: 'n1' },
    ]);
    store.close();
  });
});

describe('services in the store', () => {
  it('ends services only in the namespaces a partial listing covers', () => {
    const dir = tempDir();
    const { store, recorder } = storeWith(dir);
    const svc = (namespace: string, name: string) => ({
      uid: name,
      namespace,
      name,
      type: 'ClusterIP',
      clusterIps: [],
      externalName: '',
      selector: {},
      ports: [],
      createdAt: T0,
    });
    recorder.apply([
      {
        op: 'replace',
        resource: 'services',
        at: T0 + 10,
        items: [svc('shop', 'a'), svc('shop', 'b'), svc('ops', 'c')],
      },
    ]);
    recorder.apply([
      { op: 'replace', resource: 'services', at: T0 + 20, items: [svc('shop', 'a')], namespaces: ['shop'] },
    ]);
    const rows = () => store.db.prepare('SELECT name, deleted_at FROM k8s_services ORDER BY name').all();
    expect(rows()).toEqual([
      { name: 'a', deleted_at: null },
      { name: 'b', deleted_at: T0 + 20 },
      { name: 'c', deleted_at: null },
    ]);
    recorder.apply([{ op: 'replace', resource: 'services', at: T0 + 30, items: [svc('shop', 'a')] }]);
    expect(rows()).toEqual([
      { name: 'a', deleted_at: null },
      { name: 'b', deleted_at: T0 + 20 },
      { name: 'c', deleted_at: T0 + 30 },
    ]);
    store.close();
  });
});

describe('lease history from a replayed watch', () => {
  it('cuts a gone pod back to the start of a finished Job pod first seen on its address', () => {
    const h = new LeaseHistory();
    h.replace([pod({ uid: 'web', ips: ['10.0.0.5'] })], T0 + 600);
    // Between the listings web went away and a Job pod ran on its address from +3600 to +3900; the next listing
    // no longer shows web and shows the Job pod finished.
    const job = pod({
      uid: 'job',
      ips: ['10.0.0.5'],
      workload: { cluster: '', namespace: 'shop', kind: 'CronJob', name: 'report' },
      createdAt: T0 + 3599,
      startedAt: T0 + 3600,
      phase: 'Succeeded',
      finishedAt: T0 + 3900,
    });
    expect(h.replace([job], T0 + 7200)).toEqual([
      { op: 'close', podUid: 'web', ip: '10.0.0.5', start: T0 + 1, end: T0 + 7200 },
      { op: 'close', podUid: 'web', ip: '10.0.0.5', start: T0 + 1, end: T0 + 3600 },
      { op: 'open', lease: expect.objectContaining({ podUid: 'job', start: T0 + 3600, end: T0 + 3900 }) },
    ]);
    // A pod that takes the address after the Job pod is not cut back to before it.
    const next = pod({ uid: 'next', ips: ['10.0.0.5'], createdAt: T0 + 7999, startedAt: T0 + 8000 });
    expect(h.replace([job, next], T0 + 9000)).toEqual([
      { op: 'open', lease: expect.objectContaining({ podUid: 'next', start: T0 + 8000, end: null }) },
    ]);
  });

  it('cuts the old holder back when its deletion is replayed after the new holder started', () => {
    const h = new LeaseHistory();
    h.upsert(pod({ uid: 'old', ips: ['10.0.0.5'] }), T0 + 10);
    // Reconnected at +100: the stream replays the deletion, then the new pod (started at +50) with the same IP.
    const ops = [
      ...h.remove(pod({ uid: 'old', ips: ['10.0.0.5'] }), T0 + 100),
      ...h.upsert(pod({ uid: 'new', ips: ['10.0.0.5'], startedAt: T0 + 50 }), T0 + 100),
    ];
    expect(ops).toEqual([
      { op: 'close', podUid: 'old', ip: '10.0.0.5', start: T0 + 1, end: T0 + 100 },
      { op: 'close', podUid: 'old', ip: '10.0.0.5', start: T0 + 1, end: T0 + 50 },
      { op: 'open', lease: expect.objectContaining({ podUid: 'new', start: T0 + 50, end: null }) },
    ]);
  });
});
