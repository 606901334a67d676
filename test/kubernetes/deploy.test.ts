/**
 * The deployment manifests (collectors/kubernetes/kustomization.yaml and what it lists) are valid Kubernetes
 * objects: offline against the OpenAPI schema, and on the real kube-apiserver with a server-side dry run.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubernetesObjectApi, type KubernetesObject } from '@kubernetes/client-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { adminConfig } from '../helpers/kube.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'collectors', 'kubernetes');

interface Manifest extends KubernetesObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
}

function manifests(): Manifest[] {
  const k = parse(readFileSync(join(ROOT, 'kustomization.yaml'), 'utf8')) as {
    namespace: string;
    resources: string[];
  };
  return k.resources.flatMap((file) =>
    parseAllDocuments(readFileSync(join(ROOT, file), 'utf8')).map((d) => d.toJS() as Manifest),
  );
}

/** The kubernetes-models class for an object: `kubernetes-models/<group>/<version>/<Kind>`. */
async function validate(m: Manifest): Promise<void> {
  const path = m.apiVersion.includes('/') ? m.apiVersion : `v1`;
  const mod = (await import(`kubernetes-models/${path}/${m.kind}`)) as Record<
    string,
    new (o: unknown) => { validate(): void }
  >;
  new mod[m.kind]!(m).validate();
}

describe('deployment manifests', () => {
  const all = manifests();

  it('hold the collector, the nightly job and least-privilege RBAC', () => {
    expect(all.map((m) => `${m.kind}/${m.metadata.name}`).sort()).toEqual([
      'ClusterRole/egress-learner-audit',
      'ClusterRole/egress-learner-inventory',
      'ClusterRoleBinding/egress-learner-audit',
      'ClusterRoleBinding/egress-learner-inventory',
      'CronJob/egress-learner-nightly',
      'Deployment/egress-learner-collector',
      'Namespace/egress-learner',
      'PersistentVolumeClaim/egress-learner-data',
      'ServiceAccount/egress-learner',
    ]);
    const verbs = all
      .filter((m) => m.kind === 'ClusterRole')
      .flatMap((m) => (m as unknown as { rules: { verbs: string[]; resources: string[] }[] }).rules);
    expect(verbs.flatMap((r) => r.verbs).every((v) => ['get', 'list', 'watch'].includes(v))).toBe(true);
    expect(verbs.flatMap((r) => r.resources)).not.toContain('secrets');
    const nightly = JSON.stringify(all.find((m) => m.kind === 'CronJob'));
    for (const step of ['collect vpc-flow', 'suggest --since', 'report --db'])
      expect(nightly).toContain(step);
  });

  it('validate against the Kubernetes OpenAPI schema', async () => {
    for (const m of all) await validate(m);
    const broken = structuredClone(all.find((m) => m.kind === 'Deployment')!) as unknown as {
      spec: { replicas: unknown };
    };
    broken.spec.replicas = 'one';
    await expect(validate(broken as unknown as Manifest)).rejects.toThrow();
  });

  describe('on a real kube-apiserver', () => {
    // Each run its own namespace: deleted namespaces stay Terminating without a controller-manager.
    const ns = `el-deploy-${Date.now().toString(36)}`;
    let api: KubernetesObjectApi;
    beforeAll(async () => {
      const kc = adminConfig();
      api = KubernetesObjectApi.makeApiClient(kc);
    });

    it('accepts every object in a server-side dry run, and rejects a broken one', async () => {
      const placed = all.map((m) => {
        const c = structuredClone(m);
        if (c.kind === 'Namespace') c.metadata.name = ns;
        else if (c.metadata.namespace !== undefined) c.metadata.namespace = ns;
        return c;
      });
      // The Namespace for real (namespaced objects need it even in a dry run), then everything else dry.
      const namespace = placed.find((m) => m.kind === 'Namespace')!;
      expect((await api.create(namespace)).metadata?.name).toBe(ns);
      for (const m of placed.filter((x) => x !== namespace)) {
        const created = await api.create(m, undefined, 'All');
        expect(created.metadata?.name).toBe(m.metadata.name);
      }
      const bad = structuredClone(placed.find((m) => m.kind === 'CronJob')!) as unknown as {
        spec: { schedule: string };
      };
      bad.spec.schedule = 'every night please';
      await expect(api.create(bad as unknown as Manifest, undefined, 'All')).rejects.toThrow();
    });
  });
});
