/**
 * The generated Kubernetes objects against a real kube-apiserver on 127.0.0.1 (started by
 * `bash scripts/kube-apiserver.sh up`, as scripts/test.sh does; see test/kubernetes/apiserver.test.ts): every
 * NetworkPolicy, SecurityGroupPolicy and EgressRuleSet is created with a server-side dry run and strict field
 * validation, the custom kinds after their generated CRDs are applied. Broken objects must be rejected, so the
 * test can tell a server that validates from one that accepts anything.
 */
import {
  ApiextensionsV1Api,
  ApiException,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  NetworkingV1Api,
  PatchStrategy,
  setHeaderOptions,
  type V1CustomResourceDefinition,
  type V1NetworkPolicy,
} from '@kubernetes/client-node';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { EmitOptions, EmittedFile } from '../../src/emit/document.js';
import { emitEgressRuleSets } from '../../src/emit/egressruleset.js';
import { emitEksPodSecurityGroups } from '../../src/emit/eks-pod-sg.js';
import { emitNetworkPolicies } from '../../src/emit/networkpolicy.js';
import type { InferenceResult } from '../../src/model/endpoint.js';
import {
  addressDest,
  endpoint,
  exact,
  hostDest,
  peerDest,
  result,
  sender,
  workload,
} from '../helpers/inference.js';
import { cli } from '../helpers/cli.js';
import { readKubeEnv } from '../helpers/kube.js';
import { tempDir } from '../helpers/tmp.js';

const FIELD_MANAGER = 'egress-learner-tests';

// Each run its own namespaces: deleted namespaces stay Terminating without a controller-manager.
const run = Date.now().toString(36);
const shopNs = `el-np-${run}-shop`;
const dataNs = `el-np-${run}-data`;

/** Every kind of rule the generators write: hosts (exact, rotating, proxied), IPv4/IPv6, SCTP, peers, DNS. */
function sample(): InferenceResult {
  const web = sender(workload(shopNs, 'Deployment', 'web'), { selector: { app: 'web', canary: 'no' } });
  const worker = sender(workload(shopNs, 'StatefulSet', 'web'), { selector: { app: 'web-worker' } });
  const db = sender(workload(dataNs, 'StatefulSet', 'db'));
  const coredns = workload('kube-system', 'Deployment', 'coredns');
  const rotating = {
    cidr: '198.51.100.0/24',
    basis: 'observed' as const,
    addresses: 9,
    provider: '',
    reason: '9 seen',
  };
  return result(
    [web, worker, db],
    [
      endpoint(web, hostDest('api.example.com', [exact('203.0.113.10/32')]), { id: 'dr-api' }),
      endpoint(web, hostDest('cdn.example.net', [rotating]), { id: 'dr-cdn', port: 80 }),
      endpoint(web, hostDest('pay.example.com'), { id: 'dr-pay', via: 'proxy' }),
      endpoint(web, hostDest('*.example.org', [], ['a.example.org', 'b.example.org']), {
        id: 'dr-wild',
        via: 'proxy',
      }),
      endpoint(web, addressDest([exact('2001:db8::7/128'), exact('192.0.2.7/32')]), {
        id: 'dr-v6',
        port: 8443,
      }),
      endpoint(web, addressDest([exact('192.0.2.9/32')]), { id: 'dr-sctp', port: 3868, protocol: 'SCTP' }),
      endpoint(web, addressDest([exact('192.0.2.10/32')]), { id: 'dr-icmp', port: 0, protocol: 'ICMP' }),
      endpoint(web, peerDest(db.workload!), { id: 'dr-db', port: 5432 }),
      endpoint(worker, peerDest(db.workload!), { id: 'dr-db-worker', port: 5432 }),
      endpoint(worker, peerDest(coredns, { 'k8s-app': 'kube-dns' }), {
        id: 'dr-dns',
        port: 53,
        protocol: 'UDP',
      }),
      endpoint(db, addressDest([exact('10.1.0.0/16')], 'vpc'), {
        id: 'dr-susp',
        port: 4444,
        suspicions: [{ code: 'raw-ip-unusual-port', detail: 'port 4444' }],
      }),
      endpoint(db, hostDest('backup.example.com', [exact('192.0.2.30/32')]), { id: 'dr-rare', rare: true }),
    ],
  );
}

const options: EmitOptions = { scope: 'namespace', accepted: new Set(), rejected: new Set() };

/** The objects of the generated YAML files (comment-only files hold none). */
function objects(files: readonly EmittedFile[]): { path: string; body: Record<string, unknown> }[] {
  const out: { path: string; body: Record<string, unknown> }[] = [];
  for (const f of files) {
    if (!f.path.endsWith('.yaml')) continue;
    const body = parse(f.content, { version: '1.1' }) as Record<string, unknown> | null;
    if (body !== null) out.push({ path: f.path, body });
  }
  return out;
}

let kc: KubeConfig;
let networking: NetworkingV1Api;
let custom: CustomObjectsApi;
let extensions: ApiextensionsV1Api;

beforeAll(async () => {
  const env = readKubeEnv();
  kc = new KubeConfig();
  kc.loadFromFile(env.KUBECONFIG!);
  networking = kc.makeApiClient(NetworkingV1Api);
  custom = kc.makeApiClient(CustomObjectsApi);
  extensions = kc.makeApiClient(ApiextensionsV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  for (const name of [shopNs, dataNs]) await core.createNamespace({ body: { metadata: { name } } });
});

/** Server-side apply of a generated CRD (idempotent across runs), then wait until it serves its kind. */
async function applyCrd(file: EmittedFile | undefined): Promise<V1CustomResourceDefinition> {
  expect(file, 'the generator wrote its CRD').toBeDefined();
  const crd = parse(file!.content) as V1CustomResourceDefinition;
  await extensions.patchCustomResourceDefinition(
    { name: crd.metadata!.name!, body: crd, fieldManager: FIELD_MANAGER, force: true },
    setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
  );
  const deadline = Date.now() + 30_000;
  for (;;) {
    const got = await extensions.readCustomResourceDefinition({ name: crd.metadata!.name! });
    if (got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) return crd;
    if (Date.now() > deadline) throw new Error(`CRD ${crd.metadata!.name} not established`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The API server's verdict on a dry-run create: null when accepted, else its status code and message. */
async function verdict(create: () => Promise<unknown>): Promise<{ code: number; message: string } | null> {
  try {
    await create();
    return null;
  } catch (err) {
    if (err instanceof ApiException) {
      const body = typeof err.body === 'string' ? err.body : JSON.stringify(err.body);
      return { code: err.code, message: body };
    }
    throw err;
  }
}

/** A custom object's dry-run create; right after a CRD is established its REST path may 404 for a moment. */
async function createCustom(
  crd: V1CustomResourceDefinition,
  namespace: string,
  body: object,
): Promise<{ code: number; message: string } | null> {
  const version = crd.spec.versions[0]!.name;
  for (let i = 0; ; i++) {
    const v = await verdict(() =>
      custom.createNamespacedCustomObject({
        group: crd.spec.group,
        version,
        namespace,
        plural: crd.spec.names.plural,
        body,
        dryRun: 'All',
        fieldValidation: 'Strict',
      }),
    );
    if (v === null || v.code !== 404 || i >= 50) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('generated objects on a real kube-apiserver (server-side dry run)', () => {
  it('accepts every generated NetworkPolicy, and rejects a broken one', async () => {
    const policies = objects(emitNetworkPolicies(sample(), options));
    // default deny × 2 namespaces, web, web (StatefulSet), db egress, db ingress.
    expect(policies.map((p) => p.path.replace(run, 'RUN'))).toEqual([
      'networkpolicy/el-np-RUN-data/db-egress.yaml',
      'networkpolicy/el-np-RUN-data/db-ingress.yaml',
      'networkpolicy/el-np-RUN-data/default-deny-egress.yaml',
      'networkpolicy/el-np-RUN-shop/default-deny-egress.yaml',
      expect.stringMatching(/^networkpolicy\/el-np-RUN-shop\/deployment-web-[0-9a-f]{8}-egress\.yaml$/),
      expect.stringMatching(/^networkpolicy\/el-np-RUN-shop\/statefulset-web-[0-9a-f]{8}-egress\.yaml$/),
    ]);
    for (const { path, body } of policies) {
      const np = body as V1NetworkPolicy;
      const v = await verdict(() =>
        networking.createNamespacedNetworkPolicy({
          namespace: np.metadata!.namespace!,
          body: np,
          dryRun: 'All',
          fieldValidation: 'Strict',
        }),
      );
      expect(v, path).toBeNull();
    }

    const deny = policies.find((p) => p.path.endsWith(`${shopNs}/default-deny-egress.yaml`))!.body;
    const broken = structuredClone(deny) as V1NetworkPolicy;
    broken.spec!.egress![0]!.ports![0]!.protocol = 'ICMP';
    const bad = await verdict(() =>
      networking.createNamespacedNetworkPolicy({
        namespace: broken.metadata!.namespace!,
        body: broken,
        dryRun: 'All',
      }),
    );
    expect(bad?.code).toBe(422);
    expect(bad?.message).toMatch(/protocol/);
    // A port out of range: the generator never writes one (safePort), the server refuses it. (A CIDR with host
    // bits set, which safeCidr also refuses, is only a warning on kube-apiserver 1.33: no use as a probe here.)
    const port = structuredClone(deny) as V1NetworkPolicy;
    port.spec!.egress![0]!.ports![0]!.port = 70000;
    const badPort = await verdict(() =>
      networking.createNamespacedNetworkPolicy({
        namespace: port.metadata!.namespace!,
        body: port,
        dryRun: 'All',
      }),
    );
    expect(badPort?.code).toBe(422);
    expect(badPort?.message).toMatch(/port/);
  });

  it('accepts every generated SecurityGroupPolicy once its CRD is applied, and rejects a broken one', async () => {
    const files = emitEksPodSecurityGroups(sample(), options);
    const crd = await applyCrd(files.find((f) => f.path === 'eks-pod-sg/crd.yaml'));
    const policies = objects(files).filter((o) => o.body.kind === 'SecurityGroupPolicy');
    expect(policies).toHaveLength(3);
    for (const { path, body } of policies) {
      const ns = (body.metadata as { namespace: string }).namespace;
      expect(await createCustom(crd, ns, body), path).toBeNull();
    }
    const broken = structuredClone(policies[0]!.body) as {
      metadata: { namespace: string };
      spec: { securityGroups: { groupIds: string[] } };
    };
    broken.spec.securityGroups.groupIds = [];
    const bad = await createCustom(crd, broken.metadata.namespace, broken);
    expect(bad?.message).toMatch(/groupIds/);
    expect(bad?.code).toBe(422);
  });

  it('accepts every generated EgressRuleSet once its CRD is applied, and rejects a port wildcard', async () => {
    const files = emitEgressRuleSets(sample(), options);
    const crd = await applyCrd(files.find((f) => f.path === 'egressruleset/crd.yaml'));
    const sets = objects(files).filter((o) => o.body.kind === 'EgressRuleSet');
    expect(sets.length).toBeGreaterThan(0);
    for (const { path, body } of sets) {
      const ns = (body.metadata as { namespace: string }).namespace;
      expect(await createCustom(crd, ns, body), path).toBeNull();
    }
    const broken = structuredClone(sets[0]!.body) as {
      metadata: { namespace: string };
      spec: { targets: string[] };
    };
    // "port wildcards are not" allowed (seeds/zalando-kubernetes-egress-issue-198.txt).
    broken.spec.targets = ['api.example.com:*'];
    const bad = await createCustom(crd, broken.metadata.namespace, broken);
    expect(bad?.message).toMatch(/targets/);
    expect(bad?.code).toBe(422);
  });
});

describe("the demo cluster's candidates on a real kube-apiserver", () => {
  it('accepts every NetworkPolicy, EgressRuleSet and SecurityGroupPolicy suggest wrote', async () => {
    const dir = tempDir();
    const out = join(dir, 'demo');
    const r = cli(['demo', '--db', join(dir, 'demo.db'), '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const read = (kind: string): EmittedFile[] => {
      const root = join(out, 'candidates', kind);
      const walk = (d: string): string[] =>
        readdirSync(d, { withFileTypes: true }).flatMap((e) =>
          e.isDirectory() ? walk(join(d, e.name)) : [join(d, e.name)],
        );
      return walk(root).map((p) => ({
        path: relative(join(out, 'candidates'), p),
        content: readFileSync(p, 'utf8'),
      }));
    };
    const core = kc.makeApiClient(CoreV1Api);
    for (const name of ['shop', 'corp', 'batch']) {
      try {
        await core.createNamespace({ body: { metadata: { name } } });
      } catch (err) {
        if (!(err instanceof ApiException && err.code === 409)) throw err;
      }
    }
    const policies = objects(read('networkpolicy'));
    expect(policies.length).toBeGreaterThan(5);
    for (const { path, body } of policies) {
      const ns = (body.metadata as { namespace: string }).namespace;
      const v = await verdict(() =>
        networking.createNamespacedNetworkPolicy({
          namespace: ns,
          body: body as V1NetworkPolicy,
          dryRun: 'All',
          fieldValidation: 'Strict',
        }),
      );
      expect(v, path).toBeNull();
    }
    for (const kind of ['egressruleset', 'eks-pod-sg']) {
      const files = read(kind);
      const crd = await applyCrd(files.find((f) => f.path === `${kind}/crd.yaml`));
      const docs = objects(files.filter((f) => !f.path.endsWith('crd.yaml')));
      expect(docs.length, kind).toBeGreaterThan(0);
      for (const { path, body } of docs)
        expect(
          await createCustom(crd, (body.metadata as { namespace: string }).namespace, body),
          path,
        ).toBeNull();
    }
  });
});
