/**
 * `audit --from-cluster` reads the NetworkPolicies in force through the Kubernetes API (a real kube-apiserver on
 * 127.0.0.1, see test/kubernetes/apiserver.test.ts) and replays observed traffic against them.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api, NetworkingV1Api } from '@kubernetes/client-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { adminConfig, readKubeEnv } from '../helpers/kube.js';
import { tempDir } from '../helpers/tmp.js';
import { DAY, T0, World } from '../helpers/world.js';

// Each run its own namespace: deleted namespaces stay Terminating without a controller-manager.
const ns = `el-audit-${Date.now().toString(36)}`;
let db: string;

beforeAll(async () => {
  const kc = adminConfig();
  await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: ns } } });
  await kc.makeApiClient(NetworkingV1Api).createNamespacedNetworkPolicy({
    namespace: ns,
    body: {
      metadata: { name: 'web-egress' },
      spec: {
        podSelector: { matchLabels: { app: 'web' } },
        policyTypes: ['Egress'],
        egress: [{ to: [{ ipBlock: { cidr: '10.20.0.0/16' } }], ports: [{ protocol: 'TCP', port: 5432 }] }],
      },
    },
  });
  const w = new World().pods(T0 - DAY, [
    {
      uid: 'web-1',
      namespace: ns,
      workload: 'web',
      ip: '10.244.1.5',
      start: T0 - DAY,
      labels: { app: 'web' },
    },
  ]);
  w.flow({ src: '10.244.1.5', dst: '10.20.0.5', port: 5432, at: T0 + 60 });
  w.flow({ src: '10.244.1.5', dst: '93.184.216.34', port: 443, at: T0 + 120 });
  db = w.ready().path;
  w.store.close();
});

describe('audit --from-cluster', () => {
  it("replays observed traffic against the cluster's NetworkPolicies", () => {
    const r = cli([
      'audit',
      '--db',
      db,
      '--from-cluster',
      '--kubeconfig',
      readKubeEnv().KUBECONFIG!,
      '--namespace',
      ns,
      '-o',
      'json',
    ]);
    expect(r.code, r.stderr).toBe(3);
    const rows = JSON.parse(r.stdout) as {
      target: string;
      verdict: string;
      layers: { allowedBy: string[] }[];
    }[];
    expect(rows.map((x) => [x.target, x.verdict])).toEqual([
      ['10.20.0.5', 'allowed'],
      ['93.184.216.34', 'denied'],
    ]);
    expect(rows[0]!.layers[0]!.allowedBy).toEqual([`networkpolicy ${ns}/web-egress egress[0]`]);
  });

  it('says in one line when the cluster cannot be reached', () => {
    const env = readKubeEnv();
    const dead = join(tempDir(), 'dead.kubeconfig');
    writeFileSync(
      dead,
      readFileSync(env.KUBECONFIG!, 'utf8').replace(
        /server: https:\/\/127\.0\.0\.1:\d+/,
        'server: https://127.0.0.1:1',
      ),
    );
    const unreachable = cli(['audit', '--db', db, '--from-cluster', '--kubeconfig', dead]);
    expect(unreachable.code).toBe(2);
    expect(unreachable.stderr).toMatch(/127\.0\.0\.1:1: cannot list NetworkPolicies/);
    expect(unreachable.stderr.trim().split('\n')).toHaveLength(1);
    const r = cli(['audit', '--db', db, '--from-cluster', '--kubeconfig', '/nonexistent/kubeconfig']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});
