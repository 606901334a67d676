import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import type { EmitOptions, EmittedFile } from '../../src/emit/document.js';
import { emitEgressRuleSets, TARGET_PATTERN } from '../../src/emit/egressruleset.js';
import type { Endpoint, InferenceResult, Sender } from '../../src/model/endpoint.js';
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
import { tempDir } from '../helpers/tmp.js';

const NONE: EmitOptions = { scope: 'namespace', accepted: new Set(), rejected: new Set() };

function opts(over: Partial<EmitOptions> = {}): EmitOptions {
  return { ...NONE, ...over };
}

function file(files: readonly EmittedFile[], path: string): EmittedFile {
  const f = files.find((x) => x.path === path);
  if (f === undefined) throw new Error(`no ${path} among ${files.map((x) => x.path).join(', ')}`);
  return f;
}

/** The one document of a file, failing on YAML errors or a second document. */
function only(f: EmittedFile): Record<string, unknown> {
  const docs = parseAllDocuments(f.content);
  expect(Array.isArray(docs) ? docs.length : -1).toBe(1);
  const doc = (docs as ReturnType<typeof parseAllDocuments> & unknown[])[0]!;
  expect(doc.errors).toEqual([]);
  return doc.toJS() as Record<string, unknown>;
}

function targetsOf(f: EmittedFile): string[] {
  return (only(f) as { spec: { targets: string[] } }).spec.targets;
}

/** The comment lines right above the list item `- <target>`. */
function commentAbove(content: string, target: string): string[] {
  const lines = content.split('\n');
  const i = lines.findIndex((l) => l.trim() === `- ${target}` || l.trim() === `- "${target}"`);
  expect(i).toBeGreaterThan(0);
  const out: string[] = [];
  for (let j = i - 1; j >= 0 && lines[j]!.trim().startsWith('#'); j--) out.unshift(lines[j]!.trim());
  return out;
}

const web = sender(workload('shop', 'Deployment', 'web'));
const worker = sender(workload('shop', 'StatefulSet', 'worker'));
const pay = sender(workload('pay', 'Deployment', 'api'));
const node = sender(workload('', 'Node', 'n1'), {
  id: 'node/n1',
  kind: 'node',
  workload: null,
  selector: {},
  namespaceLabels: {},
});

/** A realistic mix: name targets through the proxy and direct, plus what an EgressRuleSet cannot express. */
function mixed(): { r: InferenceResult; eps: Endpoint[] } {
  const eps = [
    endpoint(web, hostDest('api.example.com'), { id: 'web-api-proxy', via: 'proxy' }),
    endpoint(worker, hostDest('api.example.com', [exact('203.0.113.10/32')]), { id: 'worker-api-direct' }),
    endpoint(worker, hostDest('*.example.org', [], ['a.example.org', 'b.c.example.org']), {
      id: 'worker-wild',
      port: 80,
    }),
    endpoint(web, hostDest('quic.example.com'), { id: 'web-udp', protocol: 'UDP' }),
    endpoint(web, addressDest([exact('198.51.100.7/32')]), { id: 'web-addr', port: 8443 }),
    // Requests the proxy logged to an address: the literal is their target (an IPv6 one has no host:port form).
    endpoint(web, addressDest([exact('203.0.113.9/32')]), { id: 'web-addr-proxy', via: 'proxy' }),
    endpoint(web, addressDest([exact('2001:db8::9/128')]), { id: 'web-addr6-proxy', via: 'proxy' }),
    endpoint(web, peerDest(workload('data', 'StatefulSet', 'pg')), { id: 'web-peer', port: 5432 }),
    endpoint(pay, hostDest('psp.example.net'), { id: 'pay-psp', via: 'proxy' }),
    endpoint(node, hostDest('registry.example.io'), { id: 'node-registry', via: 'proxy' }),
  ];
  return { r: result([web, worker, pay, node], eps), eps };
}

describe('emitEgressRuleSets', () => {
  it('writes one set per namespace with the union of its workloads’ name targets, sorted and unique', () => {
    const files = emitEgressRuleSets(mixed().r, NONE);
    expect(files.map((f) => f.path)).toEqual([
      'egressruleset/crd.yaml',
      'egressruleset/pay.yaml',
      'egressruleset/shop.yaml',
    ]);
    expect(only(file(files, 'egressruleset/shop.yaml'))).toEqual({
      apiVersion: 'zalando.org/v1',
      kind: 'EgressRuleSet',
      metadata: {
        name: 'egress-learner',
        namespace: 'shop',
        labels: { 'app.kubernetes.io/managed-by': 'egress-learner' },
      },
      // UDP, direct addresses and peers are not host:port targets; api.example.com came twice.
      spec: { targets: ['*.example.org:80', '203.0.113.9:443', 'api.example.com:443'] },
    });
    expect(targetsOf(file(files, 'egressruleset/pay.yaml'))).toEqual(['psp.example.net:443']);
    // The node's proxy traffic has no namespace, hence no EgressRuleSet.
    expect(files.some((f) => f.content.includes('registry.example.io'))).toBe(false);
  });

  it('writes one set per workload under egressruleset/<namespace>/<workload>.yaml', () => {
    const files = emitEgressRuleSets(mixed().r, opts({ scope: 'workload' }));
    expect(files.map((f) => f.path)).toEqual([
      'egressruleset/crd.yaml',
      'egressruleset/pay/api.yaml',
      'egressruleset/shop/web.yaml',
      'egressruleset/shop/worker.yaml',
    ]);
    const w = only(file(files, 'egressruleset/shop/worker.yaml')) as {
      metadata: { name: string; namespace: string };
      spec: { targets: string[] };
    };
    expect(w.metadata).toMatchObject({ name: 'worker', namespace: 'shop' });
    expect(w.spec.targets).toEqual(['*.example.org:80', 'api.example.com:443']);
    expect(targetsOf(file(files, 'egressruleset/shop/web.yaml'))).toEqual([
      '203.0.113.9:443',
      'api.example.com:443',
    ]);
  });

  it('gives workloads that share a name distinct files and object names', () => {
    const a = sender(workload('shop', 'Deployment', 'web'));
    const b = sender(workload('shop', 'StatefulSet', 'web'));
    const r = result(
      [a, b],
      [
        endpoint(a, hostDest('a.example.com'), { id: 'a1' }),
        endpoint(b, hostDest('b.example.com'), { id: 'b1' }),
      ],
    );
    const files = emitEgressRuleSets(r, opts({ scope: 'workload' })).filter(
      (f) => !f.path.endsWith('crd.yaml'),
    );
    expect(files.map((f) => f.path)).toEqual([
      expect.stringMatching(/^egressruleset\/shop\/deployment-web-[0-9a-f]{8}\.yaml$/),
      expect.stringMatching(/^egressruleset\/shop\/statefulset-web-[0-9a-f]{8}\.yaml$/),
    ]);
    const names = files.map((f) => (only(f) as { metadata: { name: string } }).metadata.name);
    expect(names.map((n, i) => `egressruleset/shop/${n}.yaml` === files[i]!.path)).toEqual([true, true]);
  });

  it('puts the evidence of every endpoint above its target, and marks accepted ones', () => {
    const files = emitEgressRuleSets(mixed().r, opts({ accepted: new Set(['worker-api-direct']) }));
    const shop = file(files, 'egressruleset/shop.yaml').content;
    const api = commentAbove(shop, 'api.example.com:443');
    expect(api).toHaveLength(2);
    expect(api[0]).toMatch(/^# shop\/Deployment\/web via proxy: flows=120 bytes=345000 .* id=web-api-proxy$/);
    expect(api[1]).toMatch(
      /^# accepted; shop\/StatefulSet\/worker via direct: flows=120 .*first=2026-11-01T00:00:00Z/,
    );
    expect(api[1]).toContain('id=worker-api-direct');
    const wild = commentAbove(shop, '*.example.org:80');
    expect(wild[0]).toContain('id=worker-wild');
    expect(wild[0]).not.toContain('accepted');
    expect(wild[1]).toBe(
      '# *.example.org folds 2 names: a.example.org, b.c.example.org; not example.org itself',
    );
    expect(shop.split('\n').slice(0, 4)).toEqual([
      '# Candidate EgressRuleSet generated by egress-learner from observed traffic. Review before applying.',
      '# Traffic observed: 2026-11-01T00:00:00Z .. 2026-11-15T00:00:00Z',
      expect.stringMatching(/^# Settings: max-prefix=\/16 /),
      expect.stringMatching(/^# Each rule carries its evidence/),
    ]);
    expect(shop).toContain('# Senders: shop/Deployment/web, shop/StatefulSet/worker\n');
  });

  it('comments out suspicious targets, lists rare ones, and leaves rejected ones out entirely', () => {
    const eps = [
      endpoint(web, hostDest('api.example.com'), { id: 'ok' }),
      endpoint(web, hostDest('x7q9zk2m.example.net'), {
        id: 'sus',
        suspicions: [{ code: 'high-entropy-name', detail: 'entropy 4.1 bits/char' }],
      }),
      endpoint(web, hostDest('once.example.net'), { id: 'rare', rare: true }),
      endpoint(web, hostDest('nope.example.net'), { id: 'rej' }),
    ];
    const f = file(
      emitEgressRuleSets(result([web], eps), opts({ rejected: new Set(['rej']) })),
      'egressruleset/shop.yaml',
    );
    expect(targetsOf(f)).toEqual(['api.example.com:443']);
    const lines = f.content.split('\n');
    const out = lines.findIndex((l) => l === '    # - x7q9zk2m.example.net:443');
    expect(out).toBeGreaterThan(0);
    expect(lines[out - 2]).toBe('    # SUSPICIOUS, not enabled: high-entropy-name (entropy 4.1 bits/char)');
    expect(lines[out - 1]).toContain('id=sus');
    const rare = lines.indexOf('#   once.example.net:443');
    expect(lines[rare - 1]).toBe('# Seen rarely, not enabled (min-flows=0, min-days=0):');
    expect(lines[rare + 1]).toContain('id=rare');
    expect(f.content).not.toContain('nope.example.net');
    expect(f.content).not.toContain('id=rej');
  });

  it('keeps a namespace whose targets are all suspicious as an empty, valid set', () => {
    const eps = [
      endpoint(web, hostDest('x7q9zk2m.example.net'), {
        id: 'sus',
        suspicions: [{ code: 'new-on-last-day', detail: 'first seen 2026-11-14' }],
      }),
    ];
    const f = file(emitEgressRuleSets(result([web], eps), NONE), 'egressruleset/shop.yaml');
    expect(targetsOf(f)).toEqual([]);
    expect(f.content).toContain('# - x7q9zk2m.example.net:443');
  });

  it('drops hostile names, wide wildcards and bad ports with a comment naming only the endpoint id', () => {
    const hostile: [string, string, number][] = [
      ['h-newline', 'a.example.com\nkind: Secret', 443],
      ['h-yaml', 'x.example.com: {}', 443],
      ['h-flow', '[a.example.com, b.example.com]', 443],
      ['h-shell', '$(reboot).example.com', 443],
      ['h-space', 'a b.example.com', 443],
      ['h-star', '*', 443],
      ['h-tld', '*.com', 443],
      ['h-suffix', '*.co.uk', 443],
      ['h-private-suffix', '*.s3.amazonaws.com', 443],
      ['h-mid-star', 'a.*.example.com', 443],
      ['h-hyphen', '-bad.example.com', 443],
      ['h-underscore', '_srv.example.com', 443],
      ['p-zero', 'zero.example.com', 0],
      ['p-high', 'high.example.com', 70000],
      ['p-frac', 'frac.example.com', 443.5],
    ];
    const eps = [
      endpoint(web, hostDest('good.example.com'), { id: 'good' }),
      ...hostile.map(([id, host, port]) => endpoint(web, hostDest(host), { id, port })),
    ];
    const files = emitEgressRuleSets(result([web], eps), NONE);
    const f = file(files, 'egressruleset/shop.yaml');
    expect(targetsOf(f)).toEqual(['good.example.com:443']);
    for (const [id] of hostile) expect(f.content).toContain(`# Dropped endpoint ${id}: `);
    for (const bad of [
      'Secret',
      '$(',
      'a b.',
      'co.uk',
      'amazonaws',
      'zero.',
      'high.',
      'frac.',
      '_srv',
      '-bad',
      '{}',
    ]) {
      expect(f.content).not.toContain(bad);
    }
    for (const x of files) only(x);
  });

  it('writes no set for a sender whose namespace or name is not a Kubernetes name', () => {
    const bad = sender(workload('shop\nkind: Secret', 'Deployment', 'web'));
    const badName = sender(workload('shop', 'Deployment', 'web; rm -rf /'));
    const r = result(
      [bad, badName],
      [
        endpoint(bad, hostDest('a.example.com'), { id: 'a' }),
        endpoint(badName, hostDest('b.example.com'), { id: 'b' }),
      ],
    );
    expect(emitEgressRuleSets(r, NONE)).toEqual([]);
    expect(emitEgressRuleSets(r, opts({ scope: 'workload' }))).toEqual([]);
  });

  it('writes nothing, not even the CRD, when there are no name targets', () => {
    const r = result([web], [endpoint(web, addressDest([exact('198.51.100.7/32')]), { id: 'addr' })]);
    expect(emitEgressRuleSets(r, NONE)).toEqual([]);
  });

  it('does not let a namespace called crd overwrite the CRD', () => {
    const s = sender(workload('crd', 'Deployment', 'web'));
    const files = emitEgressRuleSets(
      result([s], [endpoint(s, hostDest('a.example.com'), { id: 'a' })]),
      NONE,
    );
    expect(files.map((f) => f.path)).toEqual(['egressruleset/crd.namespace.yaml', 'egressruleset/crd.yaml']);
    expect((only(file(files, 'egressruleset/crd.yaml')) as { kind: string }).kind).toBe(
      'CustomResourceDefinition',
    );
  });

  it('gives byte-identical output for the same input, in any order', () => {
    const { eps } = mixed();
    const a = emitEgressRuleSets(mixed().r, NONE);
    const b = emitEgressRuleSets(mixed().r, NONE);
    expect(b).toEqual(a);
    const shuffled: Sender[] = [node, pay, worker, web];
    const r2: InferenceResult = { ...result(shuffled, []), senders: shuffled, endpoints: [...eps].reverse() };
    expect(emitEgressRuleSets(r2, NONE)).toEqual(a);
    expect(emitEgressRuleSets(r2, opts({ scope: 'workload' }))).toEqual(
      emitEgressRuleSets(mixed().r, opts({ scope: 'workload' })),
    );
  });

  it('ships a structural CRD whose target pattern admits every generated target and no port wildcard', () => {
    const files = emitEgressRuleSets(mixed().r, NONE);
    const crd = only(file(files, 'egressruleset/crd.yaml')) as {
      metadata: { name: string };
      spec: {
        group: string;
        scope: string;
        names: { kind: string; plural: string };
        versions: { name: string; schema: { openAPIV3Schema: unknown } }[];
      };
    };
    expect(crd.metadata.name).toBe('egressrulesets.zalando.org');
    expect(crd.spec).toMatchObject({ group: 'zalando.org', scope: 'Namespaced' });
    expect(crd.spec.names).toMatchObject({ kind: 'EgressRuleSet', plural: 'egressrulesets' });
    const schema = crd.spec.versions[0]!.schema.openAPIV3Schema as {
      properties: { spec: { properties: { targets: { items: { pattern: string } } } } };
    };
    const pattern = new RegExp(schema.properties.spec.properties.targets.items.pattern);
    expect(pattern.source).toBe(new RegExp(TARGET_PATTERN).source);
    for (const f of files.filter((x) => x.path !== 'egressruleset/crd.yaml')) {
      for (const t of targetsOf(f)) expect(t).toMatch(pattern);
    }
    for (const ok of ['a.example.com:1', '*.example.org:80', '*:80', 'x.y.z:65535'])
      expect(ok).toMatch(pattern);
    for (const bad of [
      'a.example.com:0',
      'a.example.com:65536',
      'a.example.com:*',
      'a.example.com',
      'com:80',
      '*.*.a.com:1',
      'a.example.com:443\n',
    ]) {
      expect(bad).not.toMatch(pattern);
    }
  });
});

// Against the real kube-apiserver of scripts/kube-apiserver.sh, when one is up (shared recipes/kube-apiserver.md).
const ENV_FILE = process.env.KUBE_TEST_ENV_FILE ?? '/tmp/kube-test-run/env';

function kubeconfig(): string {
  const m = /^export KUBECONFIG=(.*)$/m.exec(readFileSync(ENV_FILE, 'utf8'));
  if (m === null) throw new Error(`no KUBECONFIG in ${ENV_FILE}`);
  return m[1]!;
}

function kubectl(args: string[]): { status: number | null; out: string } {
  const r = spawnSync('kubectl', ['--kubeconfig', kubeconfig(), ...args], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe.skipIf(!existsSync(ENV_FILE))('the generated sets against a real kube-apiserver', () => {
  it('installs the CRD and the sets pass server-side validation; a port wildcard does not', () => {
    const dir = tempDir();
    const ns = `el-ers-${Date.now().toString(36)}`;
    const s = sender(workload(ns, 'Deployment', 'web'));
    const r = result(
      [s],
      [
        endpoint(s, hostDest('api.example.com'), { id: 'a', via: 'proxy' }),
        endpoint(s, hostDest('*.example.org', [], ['a.example.org']), { id: 'b', port: 80 }),
      ],
    );
    const files = emitEgressRuleSets(r, NONE);
    for (const f of files) writeFileSync(join(dir, f.path.replaceAll('/', '_')), f.content);
    const crd = kubectl(['apply', '-f', join(dir, 'egressruleset_crd.yaml')]);
    expect(crd.out).toMatch(
      /customresourcedefinition.apiextensions.k8s.io\/egressrulesets.zalando.org (created|configured|unchanged)/,
    );
    const est = kubectl([
      'wait',
      '--for=condition=established',
      '--timeout=30s',
      'crd/egressrulesets.zalando.org',
    ]);
    expect(est.status, est.out).toBe(0);
    expect(kubectl(['create', 'namespace', ns]).status).toBe(0);
    const set = kubectl(['apply', '--dry-run=server', '-f', join(dir, `egressruleset_${ns}.yaml`)]);
    expect(set.status, set.out).toBe(0);
    expect(set.out).toContain('egressruleset.zalando.org/egress-learner created (server dry run)');
    const bad = join(dir, 'bad.yaml');
    writeFileSync(
      bad,
      readFileSync(join(dir, `egressruleset_${ns}.yaml`), 'utf8').replace(
        'api.example.com:443',
        'api.example.com:*',
      ),
    );
    const rejected = kubectl(['apply', '--dry-run=server', '-f', bad]);
    expect(rejected.status).not.toBe(0);
    expect(rejected.out).toContain('spec.targets[1]');
    expect(parse(readFileSync(bad, 'utf8')).spec.targets).toContain('api.example.com:*');
  });
});
