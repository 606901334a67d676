/**
 * Against a real kube-apiserver + etcd on 127.0.0.1, started by `bash scripts/kube-apiserver.sh up` (which writes
 * the env file read here). No controllers run: the test creates the Deployment, its ReplicaSet and the pods
 * itself, with ownerReferences, and gives pods their IPs through the status subresource
 * (../shared/recipes/kube-apiserver.md, gotcha 4). Pods have no node, so deletion is immediate.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import {
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  RbacAuthorizationV1Api,
  setHeaderOptions,
  type V1ClusterRole,
} from '@kubernetes/client-node';
import { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { InventoryWatcher, type WatchLogEvent } from '../../collectors/kubernetes/watch.js';
import { k8sCommand } from '../../src/cli/collect-k8s.js';
import { LeaseRecorder } from '../../src/identity/lease-history.js';
import { services } from '../../src/store/infer-query.js';
import { InventoryStore } from '../../src/store/inventory-store.js';
import { Store } from '../../src/store/store.js';
import { tempDir } from '../helpers/tmp.js';
import { readKubeEnv } from '../helpers/kube.js';

const CLUSTERROLE = new URL('../../collectors/kubernetes/rbac/clusterrole.yaml', import.meta.url);

let env: Record<string, string>;
let admin: KubeConfig;
let core: CoreV1Api;
let apps: AppsV1Api;
const ns = `el-${Date.now().toString(36)}`;
let rsUid = '';

beforeAll(async () => {
  env = readKubeEnv();
  admin = new KubeConfig();
  admin.loadFromFile(env.KUBECONFIG!);
  core = admin.makeApiClient(CoreV1Api);
  apps = admin.makeApiClient(AppsV1Api);
  // Each run its own namespace: deleted namespaces stay Terminating without a controller-manager.
  await core.createNamespace({ body: { metadata: { name: ns, labels: { team: 'shop' } } } });
  const deploy = await apps.createNamespacedDeployment({
    namespace: ns,
    body: {
      metadata: { name: 'web' },
      spec: {
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { containers: [{ name: 'app', image: 'example/web:1' }] },
        },
      },
    },
  });
  const rs = await apps.createNamespacedReplicaSet({
    namespace: ns,
    body: {
      metadata: {
        name: 'web-5f6d7',
        labels: { app: 'web', 'pod-template-hash': '5f6d7' },
        ownerReferences: [
          {
            apiVersion: 'apps/v1',
            kind: 'Deployment',
            name: 'web',
            uid: deploy.metadata!.uid!,
            controller: true,
          },
        ],
      },
      spec: {
        selector: { matchLabels: { app: 'web', 'pod-template-hash': '5f6d7' } },
        template: {
          metadata: { labels: { app: 'web', 'pod-template-hash': '5f6d7' } },
          spec: { containers: [{ name: 'app', image: 'example/web:1' }] },
        },
      },
    },
  });
  rsUid = rs.metadata!.uid!;
});

async function createPod(name: string, ip: string | null): Promise<void> {
  await core.createNamespacedPod({
    namespace: ns,
    body: {
      metadata: {
        name,
        labels: { app: 'web', 'pod-template-hash': '5f6d7' },
        ownerReferences: [
          { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-5f6d7', uid: rsUid, controller: true },
        ],
      },
      spec: {
        containers: [{ name: 'app', image: 'example/web:1', ports: [{ name: 'http', containerPort: 8080 }] }],
      },
    },
  });
  if (ip !== null) await setIp(name, ip);
}

/** A merge patch: a strategic one would merge podIPs by key and be rejected (recipe, gotcha 4). */
async function setIp(name: string, ip: string): Promise<void> {
  await core.patchNamespacedPodStatus(
    {
      name,
      namespace: ns,
      body: {
        status: { phase: 'Running', startTime: new Date().toISOString(), podIP: ip, podIPs: [{ ip }] },
      },
    },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
}

async function deletePod(name: string): Promise<void> {
  await core.deleteNamespacedPod({ name, namespace: ns, gracePeriodSeconds: 0 });
}

function openDb(): { store: Store; inv: InventoryStore; recorder: LeaseRecorder } {
  const store = new Store(join(tempDir(), 'el.db'));
  const inv = new InventoryStore(store.db);
  return { store, inv, recorder: new LeaseRecorder(inv, '', inv.openLeases('')) };
}

const holders = (inv: InventoryStore, ip: string): [string, boolean][] =>
  inv
    .leasesOf(ip)
    .filter((l) => l.namespace === ns)
    .map((l) => [l.podName, l.end === null]);

async function waitFor(what: string, check: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A TCP proxy in front of the API server, so a test can cut the watch connections like a network failure. */
async function startProxy(target: URL): Promise<{ url: string; cut: () => number; close: () => void }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `https://127.0.0.1:${port}`,
    cut: () => {
      const n = sockets.size;
      for (const s of sockets) s.destroy();
      return n;
    },
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

function withServer(kc: KubeConfig, server: string): KubeConfig {
  const out = new KubeConfig();
  out.loadFromOptions({
    clusters: kc.clusters.map((c) => ({ ...c, server })),
    users: kc.users,
    contexts: kc.contexts,
    currentContext: kc.currentContext,
  });
  return out;
}

describe('collect k8s against a real kube-apiserver', () => {
  it('takes a --once snapshot: leases per pod IP, owners resolved to the Deployment, ports kept', async () => {
    await createPod('web-a', '10.244.1.5');
    await createPod('web-b', '10.244.1.6');
    await core.createNamespacedService({
      namespace: ns,
      body: {
        metadata: { name: 'web' },
        spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 'http' }] },
      },
    });
    const { store, inv, recorder } = openDb();
    const watcher = new InventoryWatcher({ kubeConfig: admin, sink: recorder });
    const stats = await watcher.listAll();
    expect(stats.counts.pods).toBeGreaterThanOrEqual(2);
    const [lease] = inv.leasesAt('10.244.1.5', Date.now() / 1000);
    expect(lease).toMatchObject({
      podName: 'web-a',
      workload: { namespace: ns, kind: 'Deployment', name: 'web' },
      labels: { app: 'web' },
      // The API server defaults the protocol.
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      end: null,
    });
    expect(services(store.db).get(`${ns}/web`)).toEqual({
      selector: { app: 'web' },
      ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 'http' }],
    });

    // web-a goes away and web-c takes over its IP; the next snapshot records both holders, one after the other.
    await deletePod('web-a');
    // API timestamps have one-second resolution; a real reuse is never within the same second.
    await new Promise((r) => setTimeout(r, 1100));
    await createPod('web-c', '10.244.1.5');
    await watcher.listAll();
    const history = inv.leasesOf('10.244.1.5').filter((l) => l.namespace === ns);
    expect(history.map((l) => [l.podName, l.end === null])).toEqual([
      ['web-a', false],
      ['web-c', true],
    ]);
    expect(history[0]!.end!).toBeLessThanOrEqual(history[1]!.start);
    expect(inv.leasesAt('10.244.1.5', history[0]!.start + 0.001).map((l) => l.podName)).toEqual(['web-a']);
    expect(inv.leasesAt('10.244.1.5', history[1]!.start).map((l) => l.podName)).toEqual(['web-c']);
    store.close();
  });

  it('watches: leases open and close live, and survive a cut connection', async () => {
    const proxy = await startProxy(new URL(env.KUBE_API_URL!));
    const { store, inv, recorder } = openDb();
    const events: WatchLogEvent[] = [];
    const watcher = new InventoryWatcher({
      kubeConfig: withServer(admin, proxy.url),
      sink: recorder,
      retryMinMs: 100,
      log: (e) => events.push(e),
    });
    const stop = new AbortController();
    const running = watcher.run(stop.signal);
    try {
      await waitFor('the first listing', () =>
        events.some((e) => e.type === 'watch-start' && e.resource === 'pods'),
      );
      await createPod('web-d', '10.244.2.7');
      await waitFor('web-d lease', () => holders(inv, '10.244.2.7').length === 1);

      expect(proxy.cut()).toBeGreaterThan(0);
      // While the watch is down (it reconnects within ~100 ms, so this races it either way): a delete and a reuse.
      await deletePod('web-d');
      await createPod('web-e', '10.244.2.7');
      await waitFor('web-d closed and web-e open', () => {
        const h = holders(inv, '10.244.2.7');
        return h.length === 2 && h[0]![1] === false && h[1]![1] === true;
      });
      expect(holders(inv, '10.244.2.7')).toEqual([
        ['web-d', false],
        ['web-e', true],
      ]);
      const [d, e] = inv.leasesOf('10.244.2.7');
      expect(d!.end!).toBeLessThanOrEqual(e!.start);
      expect(events.some((x) => x.type === 'watch-closed' && x.resource === 'pods')).toBe(true);
    } finally {
      stop.abort();
      await running;
      proxy.close();
      store.close();
    }
  });

  it('re-lists after 410 Gone and records the pods it missed', async () => {
    await createPod('web-f', '10.244.3.9');
    const { store, inv, recorder } = openDb();
    const events: WatchLogEvent[] = [];
    // Resume the pod watch from a resourceVersion the server no longer has (a stale checkpoint): 410 Gone.
    const watcher = new InventoryWatcher({
      kubeConfig: admin,
      sink: recorder,
      resumeFrom: { pods: '1' },
      log: (e) => events.push(e),
    });
    const stop = new AbortController();
    const running = watcher.run(stop.signal);
    try {
      await waitFor('410 Gone on the pod watch', () =>
        events.some((e) => e.type === 'gone' && e.resource === 'pods'),
      );
      await waitFor('the re-list', () =>
        events.some(
          (e, i) =>
            e.type === 'listed' && e.resource === 'pods' && i > events.findIndex((x) => x.type === 'gone'),
        ),
      );
      expect(holders(inv, '10.244.3.9')).toEqual([['web-f', true]]);
      await createPod('web-g', '10.244.3.10');
      await waitFor('web-g after the re-list', () => holders(inv, '10.244.3.10').length === 1);
    } finally {
      stop.abort();
      await running;
      store.close();
    }
  });

  it('runs with only the shipped ClusterRole bound (KUBECONFIG_LIMITED)', async () => {
    const limited = new KubeConfig();
    limited.loadFromFile(env.KUBECONFIG_LIMITED!);
    const { store, inv, recorder } = openDb();
    const watcher = new InventoryWatcher({ kubeConfig: limited, sink: recorder });
    const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
    // Bindings are cluster-wide: remove what an earlier run against the same server granted this user.
    for (const b of (await rbac.listClusterRoleBinding()).items) {
      if (b.subjects?.some((s) => s.kind === 'User' && s.name === env.KUBE_LIMITED_USER)) {
        await rbac.deleteClusterRoleBinding({ name: b.metadata!.name! });
      }
    }
    let forbidden: unknown = null;
    for (let i = 0; i < 30 && forbidden === null; i++) {
      forbidden = await watcher.listAll().then(
        () => null,
        (err: unknown) => err,
      );
      if (forbidden === null) await new Promise((r) => setTimeout(r, 100));
    }
    expect(forbidden).toMatchObject({ name: 'UsageError', code: 'k8s_forbidden' });

    const role = parseYaml(readFileSync(CLUSTERROLE, 'utf8')) as V1ClusterRole;
    const roleName = `${role.metadata!.name!}-${ns}`;
    await rbac.createClusterRole({ body: { ...role, metadata: { ...role.metadata, name: roleName } } });
    await rbac.createClusterRoleBinding({
      body: {
        metadata: { name: roleName },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: roleName },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: env.KUBE_LIMITED_USER! }],
      },
    });
    // RBAC picks a new binding up through its informer, almost at once (recipe, gotcha 5).
    let listed = false;
    for (let i = 0; i < 30 && !listed; i++) {
      try {
        await watcher.listAll();
        listed = true;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    expect(listed).toBe(true);
    expect(holders(inv, '10.244.1.6')).toEqual([['web-b', true]]);

    // Watch works too under the same role.
    const stop = new AbortController();
    const running = watcher.run(stop.signal);
    try {
      await createPod('web-h', '10.244.4.4');
      await waitFor('web-h via the limited watcher', () => holders(inv, '10.244.4.4').length === 1);
    } finally {
      stop.abort();
      await running;
      store.close();
    }
  });

  it('collect k8s --once through the CLI command; an unreachable server is one line', async () => {
    const dir = tempDir();
    const program = (): Command =>
      new Command('egress-learner')
        .option('--db <file>')
        .option('-q, --quiet')
        .option('--log-level <level>', '', 'warn')
        .option('--log-format <format>', '', 'text')
        .addCommand(new Command('collect').addCommand(k8sCommand()))
        .exitOverride();
    const db = join(dir, 'cli.db');
    await program().parseAsync(
      ['--db', db, '-q', 'collect', 'k8s', '--once', '--kubeconfig', env.KUBECONFIG!],
      {
        from: 'user',
      },
    );
    const store = new Store(db);
    expect(new InventoryStore(store.db).workloads().some((w) => w.workload.namespace === ns)).toBe(true);
    store.close();

    const dead = join(dir, 'dead.kubeconfig');
    const kc = withServer(admin, 'https://127.0.0.1:1');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(dead, kc.exportConfig());
    await expect(
      program().parseAsync(['--db', db, '-q', 'collect', 'k8s', '--once', '--kubeconfig', dead], {
        from: 'user',
      }),
    ).rejects.toMatchObject({ name: 'UsageError', code: 'k8s_unreachable' });
  });
});
