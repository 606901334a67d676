import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { stringify as stringifyYaml } from 'yaml';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { V2_HEADER } from '../helpers/vpc-lines.js';

const T0 = Date.parse('2025-03-01T09:00:00Z') / 1000;
const iso = (t: number): string => new Date(t * 1000).toISOString().replace('.000Z', 'Z');
const NODE = 'ip-10-0-1-10.eu-west-1.compute.internal';

/** A running Pod as `kubectl get pods -o json` prints it (the fields the inventory reads). */
function pod(ns: string, name: string, ip: string): unknown {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns, uid: `uid-${name}`, creationTimestamp: iso(T0) },
    spec: { nodeName: NODE, containers: [{ name: 'main', image: 'registry.example/app:1' }] },
    status: { phase: 'Running', podIP: ip, podIPs: [{ ip }], startTime: iso(T0 + 5) },
  };
}
const namespace = (name: string): unknown => ({
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: { name, uid: `uid-${name}`, creationTimestamp: '2025-02-01T00:00:00Z' },
});
const service = (ns: string, name: string, ip: string): unknown => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: ns, uid: `uid-svc-${name}`, creationTimestamp: '2025-02-01T00:00:00Z' },
  spec: { type: 'ClusterIP', clusterIP: ip, clusterIPs: [ip], selector: { app: name } },
});
const node = {
  apiVersion: 'v1',
  kind: 'Node',
  metadata: { name: NODE, uid: 'uid-node', creationTimestamp: '2025-02-01T00:00:00Z' },
  status: { addresses: [{ type: 'InternalIP', address: '10.0.1.10' }] },
};
const list = (items: unknown[]): string =>
  JSON.stringify({ apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: '' }, items });

const WEB = pod('shop', 'web', '10.244.1.5');
const API = pod('shop', 'api', '10.244.1.6');
const TOOL = pod('ops', 'tool', '10.244.1.7');

/**
 * One flow from each pod at 11:00, then the whole cluster at 09:30 (`kubectl get
 * pods,nodes,services,namespaces,… -A`): every flow is a workload's.
 */
function setup(): {
  dir: string;
  db: string;
  at: (file: string, items: unknown[], ...flags: string[]) => ReturnType<typeof cli>;
} {
  const dir = tempDir();
  const db = join(dir, 'k.db');
  const flows = ['10.244.1.5', '10.244.1.6', '10.244.1.7'].map(
    (src, i) =>
      `2 123456789012 eni-0a1b2c3d4e5f60718 ${src} 52.216.10.5 ${40001 + i} 443 6 10 1000 ${T0 + 7200} ${T0 + 7260} ACCEPT OK`,
  );
  writeFileSync(join(dir, 'flows.log'), `${[V2_HEADER, ...flows].join('\n')}\n`);
  expect(cli(['collect', 'vpc-flow', '-q', '--db', db, join(dir, 'flows.log')]).code).toBe(0);
  let t = T0 + 1800;
  const at = (file: string, items: unknown[], ...flags: string[]): ReturnType<typeof cli> => {
    writeFileSync(join(dir, file), list(items));
    const r = cli(['collect', 'k8s', '--db', db, '--snapshot', join(dir, file), '--at', iso(t), ...flags]);
    t += 1800;
    return r;
  };
  const all = [
    namespace('shop'),
    namespace('ops'),
    node,
    service('shop', 'web', '172.20.0.10'),
    service('ops', 'tool', '172.20.0.11'),
    WEB,
    API,
    TOOL,
  ];
  const first = at('all.json', all, '-q');
  expect([first.code, first.stderr]).toEqual([0, '']);
  expect(workloadFlows(db)).toBe(3);
  return { dir, db, at };
}

/** Flows attributed to a workload (`query coverage`). */
function workloadFlows(db: string): number {
  const r = cli(['query', 'coverage', '--db', db, '-o', 'json']);
  expect(r.code).toBe(0);
  return (JSON.parse(r.stdout) as { workload: { flows: number } }[])[0]!.workload.flows;
}

/** `namespace/name` of every pod whose lease is still open. */
function openPods(db: string): string[] {
  const d = new Database(db, { readonly: true });
  try {
    return (
      d.prepare('SELECT namespace, pod_name FROM k8s_leases WHERE end_time IS NULL ORDER BY 1, 2').all() as {
        namespace: string;
        pod_name: string;
      }[]
    ).map((r) => `${r.namespace}/${r.pod_name}`);
  } finally {
    d.close();
  }
}

function gone(db: string, table: 'k8s_services' | 'k8s_nodes' | 'k8s_namespaces'): string[] {
  const d = new Database(db, { readonly: true });
  try {
    return (
      d.prepare(`SELECT name FROM ${table} WHERE deleted_at IS NOT NULL ORDER BY name`).all() as {
        name: string;
      }[]
    ).map((r) => r.name);
  } finally {
    d.close();
  }
}

describe('collect k8s --snapshot: a snapshot ends only what it covers', () => {
  it('refuses an empty list (kubectl against a wrong context or namespace) in one line, leaving every lease', () => {
    const { dir, db, at } = setup();
    const r = at('empty.json', []);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([
      `egress-learner: ${join(dir, 'empty.json')} holds no pod: nothing recorded; check the kubectl context and namespace, or pass --allow-empty if the cluster has none`,
    ]);
    expect(openPods(db)).toEqual(['ops/tool', 'shop/api', 'shop/web']);
    expect(workloadFlows(db)).toBe(3);
  });

  it('with --allow-empty takes an empty list as a cluster without pods and warns; a later listing reopens them', () => {
    const { db, at } = setup();
    const r = at('empty.json', [], '-q', '--allow-empty');
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(
      /^egress-learner: warning: \S+empty\.json ended 3 of 3 open leases, as a cluster without pods/,
    );
    expect(openPods(db)).toEqual([]);
    expect(workloadFlows(db)).toBe(0);
    // The pods were running all along: a later listing of them reopens their leases.
    expect(at('again.json', [namespace('shop'), namespace('ops'), WEB, API, TOOL], '-q').code).toBe(0);
    expect(openPods(db)).toEqual(['ops/tool', 'shop/api', 'shop/web']);
    expect(workloadFlows(db)).toBe(3);
  });

  it('a listing of one namespace (kubectl get pods -n shop) ends the pods gone from it and nothing elsewhere', () => {
    const { db, at } = setup();
    const r = at('shop.json', [WEB], '-o', 'json');
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(JSON.parse(r.stdout)).toMatchObject({ pods: 1, coveredNamespaces: ['shop'], leasesClosed: 1 });
    expect(openPods(db)).toEqual(['ops/tool', 'shop/web']);
    // api's flow at 11:00 came after its lease ended at 10:00; tool's is still tool's.
    expect(workloadFlows(db)).toBe(2);
    // Neither ops' service nor the node (the listing holds no Node) were taken for deleted.
    expect([gone(db, 'k8s_services'), gone(db, 'k8s_nodes'), gone(db, 'k8s_namespaces')]).toEqual([
      [],
      [],
      [],
    ]);
    // The summary line says which namespaces it covered.
    const text = at('shop2.json', [WEB, service('shop', 'web', '172.20.0.10')]);
    expect(text.stderr).toMatch(/leases opened 0, closed 0 \(covers namespaces shop\)\n$/);
    expect(gone(db, 'k8s_services')).toEqual([]);
  });

  it('a listing with Namespace objects is the whole cluster: pods absent from any namespace end', () => {
    const { db, at } = setup();
    const r = at('most-gone.json', [namespace('shop'), namespace('ops'), WEB], '-q');
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(
      /^egress-learner: warning: \S+most-gone\.json ended 2 of 3 open leases, as a listing of the whole cluster/,
    );
    expect(openPods(db)).toEqual(['shop/web']);
    expect(workloadFlows(db)).toBe(1);
    // No Service in it: services are left as they were.
    expect(gone(db, 'k8s_services')).toEqual([]);
  });
});

describe('collect k8s --snapshot: one object, YAML', () => {
  it('records one object (kubectl get pod web -o json) as seen, and ends no other pod of its namespace', () => {
    const { dir, db } = setup();
    const NEW = pod('shop', 'new', '10.244.1.8');
    const file = join(dir, 'new.json');
    writeFileSync(file, JSON.stringify(NEW));
    const r = cli(['collect', 'k8s', '--db', db, '--snapshot', file, '--at', iso(T0 + 3600), '-o', 'json']);
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(JSON.parse(r.stdout)).toMatchObject({
      pods: 1,
      coveredNamespaces: [],
      leasesOpened: 1,
      leasesClosed: 0,
    });
    expect(openPods(db)).toEqual(['ops/tool', 'shop/api', 'shop/new', 'shop/web']);
    expect(workloadFlows(db)).toBe(3);
    // The text summary says why nothing else ended.
    const again = cli(['collect', 'k8s', '--db', db, '--snapshot', file, '--at', iso(T0 + 3700)]);
    expect([again.code, again.stderr]).toEqual([
      0,
      `k8s snapshot at ${iso(T0 + 3700)}: 1 pods, 0 nodes, 0 services, 0 namespaces; leases opened 0, closed 0 (a single object: other pods keep their leases)\n`,
    ]);
  });

  it('refuses one object it cannot use, and --allow-empty with one object, in one line', () => {
    const dir = tempDir();
    const db = join(dir, 'k.db');
    const deploy = join(dir, 'deploy.json');
    writeFileSync(
      deploy,
      JSON.stringify({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' } }),
    );
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web' } }));
    const web = join(dir, 'web.json');
    writeFileSync(web, JSON.stringify(WEB));
    for (const [file, flags, message] of [
      [
        deploy,
        [],
        `${deploy} is a single object of a kind the inventory does not keep: nothing recorded (expected a Pod, Node, Service or Namespace, or a List)`,
      ],
      [broken, [], `${broken} is a single Pod that cannot be read (missing_namespace): nothing recorded`],
      [
        web,
        ['--allow-empty'],
        `--allow-empty applies to a List; ${web} is a single object, which ends no lease`,
      ],
    ] as const) {
      const r = cli(['collect', 'k8s', '--db', db, '--snapshot', file, '--at', iso(T0 + 60), ...flags]);
      expect([r.code, r.stderr]).toEqual([1, `egress-learner: ${message}\n`]);
    }
    // Refused before the database was opened: not even an empty one was made.
    expect(existsSync(db)).toBe(false);
  });

  it('reads kubectl -o yaml output as it reads -o json', () => {
    const { dir, db } = setup();
    const file = join(dir, 'shop.yaml');
    // `kubectl get pods -n shop -o yaml` an hour later: api is gone from shop.
    writeFileSync(
      file,
      stringifyYaml({ apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: '' }, items: [WEB] }),
    );
    const r = cli(['collect', 'k8s', '--db', db, '--snapshot', file, '--at', iso(T0 + 3600), '-o', 'json']);
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(JSON.parse(r.stdout)).toMatchObject({ pods: 1, coveredNamespaces: ['shop'], leasesClosed: 1 });
    expect(openPods(db)).toEqual(['ops/tool', 'shop/web']);
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'items: [\n');
    const refused = cli(['collect', 'k8s', '--db', db, '--snapshot', bad, '--at', iso(T0 + 3700)]);
    expect([refused.code, refused.stderr]).toEqual([
      2,
      `egress-learner: ${bad}: neither JSON nor YAML (expected \`kubectl get … -o json\` or \`-o yaml\` output)\n`,
    ]);
  });
});

/** `src → workload` of every edge (`query flows`). */
function workloadsBySource(db: string): Record<string, string> {
  const r = cli(['query', 'flows', '--db', db, '-o', 'json']);
  expect(r.code).toBe(0);
  const out: Record<string, string> = {};
  for (const e of JSON.parse(r.stdout) as { src: string; workload: string }[]) out[e.src] = e.workload;
  return out;
}

/** Flow-log records from `srcs` at `t`, into `db`. */
function flowsAt(dir: string, db: string, t: number, srcs: readonly string[]): void {
  const lines = srcs.map(
    (src, i) =>
      `2 123456789012 eni-0a1b2c3d4e5f60718 ${src} ${src.includes(':') ? '2600:1f18::9' : '52.216.10.5'} ${40001 + i} 443 6 10 1000 ${t} ${t + 10} ACCEPT OK`,
  );
  writeFileSync(join(dir, `flows-${t}.log`), `${[V2_HEADER, ...lines].join('\n')}\n`);
  expect(cli(['collect', 'vpc-flow', '-q', '--db', db, join(dir, `flows-${t}.log`)]).code).toBe(0);
}

describe('collect k8s --snapshot: when a lease starts and ends', () => {
  it('ends a pod seen terminating and gone from the next snapshot at its deletion time, not at that snapshot', () => {
    const dir = tempDir();
    const db = join(dir, 'k.db');
    const keep = pod('shop', 'keep', '10.244.1.9');
    const old = pod('shop', 'old', '10.244.1.5') as { metadata: Record<string, unknown> };
    // Deleted at 09:30 with a 30 s grace period: deletionTimestamp is 09:30:30, when the kubelet kills it.
    old.metadata.deletionTimestamp = iso(T0 + 1830);
    const snapshot = (file: string, items: unknown[], at: number): void => {
      writeFileSync(join(dir, file), list(items));
      const r = cli(['collect', 'k8s', '-q', '--db', db, '--snapshot', join(dir, file), '--at', iso(at)]);
      expect([r.code, r.stderr]).toEqual([0, '']);
    };
    snapshot('s1.json', [namespace('shop'), keep, old], T0 + 1800);
    snapshot('s2.json', [namespace('shop'), keep], T0 + 3000);
    // At 09:45, after old's deletion and before the snapshot that missed it, its address sent nothing of its own.
    flowsAt(dir, db, T0 + 2700, ['10.244.1.5', '10.244.1.9']);
    expect(workloadsBySource(db)).toEqual({ '10.244.1.5': 'unattributed', '10.244.1.9': 'shop/Pod/keep' });
    const d = new Database(db, { readonly: true });
    try {
      expect(d.prepare("SELECT end_time FROM k8s_leases WHERE pod_name = 'old'").all()).toEqual([
        { end_time: T0 + 1830 },
      ]);
    } finally {
      d.close();
    }
  });

  it("gives both addresses of a dual-stack pod its start time, so flows before the snapshot are the pod's", () => {
    const dir = tempDir();
    const db = join(dir, 'k.db');
    const web = pod('shop', 'web', '10.244.1.5') as { status: { podIPs: { ip: string }[] } };
    web.status.podIPs.push({ ip: 'fd00:10:244:1::5' });
    // Flows at 09:10 from either address; the pod started at 09:00:05, the snapshot is from 10:00.
    flowsAt(dir, db, T0 + 600, ['10.244.1.5', 'fd00:10:244:1::5']);
    writeFileSync(join(dir, 'inv.json'), list([namespace('shop'), web]));
    const r = cli([
      'collect',
      'k8s',
      '-q',
      '--db',
      db,
      '--snapshot',
      join(dir, 'inv.json'),
      '--at',
      iso(T0 + 3600),
    ]);
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(workloadsBySource(db)).toEqual({
      '10.244.1.5': 'shop/Pod/web',
      'fd00:10:244:1::5': 'shop/Pod/web',
    });
  });
});
