import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connectivity } from '../../src/audit/connectivity.js';
import { buildManifests, parseManifestText, readManifests } from '../../src/audit/manifests.js';
import { InputError } from '../../src/model/errors.js';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const objects = (text: string, file = 'm.yaml') =>
  parseManifestText(text, file).map((object) => ({ file, object }));

describe('reading manifests', () => {
  it('flattens lists, taking the kind of kind-less items from the list', () => {
    const parsed = parseManifestText(
      JSON.stringify({
        kind: 'PodList',
        items: [{ metadata: { name: 'a' } }, { metadata: { name: 'b' } }],
      }),
      'pods.json',
    );
    expect(parsed.map((o) => [o.kind, (o.metadata as { name: string }).name])).toEqual([
      ['Pod', 'a'],
      ['Pod', 'b'],
    ]);
    const mixed = parseManifestText(
      'kind: List\nitems:\n- kind: Namespace\n  metadata: {name: x}\n- metadata: {name: no-kind}\n',
      'l.yaml',
    );
    expect(mixed.map((o) => o.kind)).toEqual(['Namespace']);
  });

  it('names workloads after the object, a controller owner, or the bare pod', () => {
    const m = buildManifests(
      objects(`
kind: Deployment
metadata: {name: web}
spec: {template: {metadata: {labels: {app: web}}}}
---
kind: CronJob
metadata: {name: nightly, namespace: batch}
spec: {jobTemplate: {spec: {template: {metadata: {labels: {app: nightly}}}}}}
---
kind: Pod
metadata:
  name: web-abc-1
  ownerReferences: [{kind: ReplicaSet, name: web-abc, controller: true}]
---
kind: Pod
metadata:
  name: web-abc-2
  ownerReferences: [{kind: ReplicaSet, name: web-abc, controller: true}]
---
kind: Pod
metadata:
  name: kept-alone
  ownerReferences: [{kind: ReplicaSet, name: not-controller}]
---
kind: Pod
metadata:
  name: static-1
  ownerReferences: [{kind: Node, name: node-1, controller: true}]
---
kind: Pod
metadata:
  name: p
  ownerReferences: [{name: no-kind, controller: true}]
---
kind: Service
metadata: {name: ignored}
`),
    );
    expect(m.workloads.map((w) => w.id)).toEqual([
      'batch/nightly[CronJob]',
      'default/kept-alone[Pod]',
      'default/no-kind[Pod]',
      'default/static-1[Pod]',
      'default/web-abc[ReplicaSet]',
      'default/web[Deployment]',
    ]);
    expect(m.workloads.find((w) => w.name === 'nightly')!.pod.labels).toEqual({ app: 'nightly' });
  });

  it('gives every namespace its name label, declared or not, keeping declared labels', () => {
    const m = buildManifests(
      objects(`
kind: Namespace
metadata: {name: prod, labels: {env: prod}}
---
kind: Pod
metadata: {name: a, namespace: undeclared}
`),
    );
    expect(m.namespaces.get('prod')).toEqual({ env: 'prod', 'kubernetes.io/metadata.name': 'prod' });
    expect(m.workloads[0]!.pod.namespaceLabels).toEqual({ 'kubernetes.io/metadata.name': 'undeclared' });
  });

  it('reads container ports, defaulting the protocol to TCP', () => {
    const m = buildManifests(
      objects(`
kind: StatefulSet
metadata: {name: db}
spec:
  template:
    spec:
      containers:
      - ports: [{name: pg, containerPort: 5432}, {containerPort: 53, protocol: UDP}]
      - ports: [{name: sctp, containerPort: 7000, protocol: SCTP}]
`),
    );
    expect(m.workloads[0]!.pod.ports).toEqual([
      { name: 'pg', port: 5432, protocol: 'TCP' },
      { name: null, port: 53, protocol: 'UDP' },
      { name: 'sctp', port: 7000, protocol: 'SCTP' },
    ]);
  });

  it('reads subfolders and skips files that are not manifests', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'a', 'b'), { recursive: true });
    writeFileSync(join(dir, 'a', 'b', 'pod.yml'), 'kind: Pod\nmetadata: {name: deep}\n');
    writeFileSync(
      join(dir, 'a', 'np.json'),
      JSON.stringify({ kind: 'NetworkPolicy', metadata: { name: 'deny' } }),
    );
    writeFileSync(join(dir, 'README.md'), '# not yaml: [');
    const m = readManifests(dir);
    expect(m.workloads.map((w) => w.id)).toEqual(['default/deep[Pod]']);
    expect(m.policies.map((p) => p.name)).toEqual(['deny']);
    // The deny-all ingress policy leaves the pod only its egress to the outside.
    expect(connectivity(m).map((e) => `${e.src} -> ${e.dst}`)).toEqual([
      'default/deep[Pod] -> 0.0.0.0-255.255.255.255[External]',
    ]);
  });

  it('leaves out NetworkPolicies of other API groups, saying so, and keeps the Kubernetes ones', () => {
    const m = buildManifests(
      objects(
        [
          'apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: app}',
          "spec: {selector: app == 'web', types: [Egress], egress: [{action: Deny, protocol: TCP}]}",
          '---',
          'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: k8s, namespace: app}',
          'spec: {podSelector: {}, policyTypes: [Egress]}',
          '---',
          'kind: NetworkPolicy\nmetadata: {name: bare, namespace: app}\nspec: {podSelector: {}}',
          '---',
          'kind: Pod\nmetadata: {name: web, namespace: app, labels: {app: web}}',
        ].join('\n'),
        'p.yaml',
      ),
    );
    expect(m.policies.map((p) => p.name)).toEqual(['k8s', 'bare']);
    expect(m.skipped).toEqual([
      'p.yaml: projectcalico.org/v3 NetworkPolicy app/deny is not a Kubernetes NetworkPolicy (networking.k8s.io/v1): skipped',
    ]);
    // The Calico Deny is no allow-all: web stays isolated for egress by the Kubernetes policy alone.
    expect(connectivity(m).filter((e) => e.src === 'app/web[Pod]')).toEqual([]);
  });

  it('says to quote a value that YAML took for an alias, and refuses an alias bomb, as invalid YAML', () => {
    // The EgressRuleSet proposal writes wildcard targets unquoted.
    expect(() =>
      parseManifestText('kind: EgressRuleSet\nspec:\n  targets:\n  - *.example.org:80\n', 'ers.yaml'),
    ).toThrow(
      'ers.yaml: invalid YAML: *.example.org:80 is an alias to no anchor; quote a value that begins with *, as in "*.example.org:80"',
    );
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x]'];
    for (const [name, prev] of [
      ['b', 'a'],
      ['c', 'b'],
      ['d', 'c'],
      ['e', 'd'],
    ])
      bomb.push(`${name}: &${name} [${new Array(9).fill(`*${prev}`).join(', ')}]`);
    expect(() => parseManifestText(bomb.join('\n'), 'bomb.yaml')).toThrow(/^bomb\.yaml: invalid YAML: /);
  });

  it('skips empty documents and lets a repeated key take its last value', () => {
    expect(parseManifestText('', 'e.yaml')).toEqual([]);
    expect(parseManifestText('# nothing\n---\n', 'e.yaml')).toEqual([]);
    expect(parseManifestText('kind: Pod\nmetadata: {name: a}\nmetadata: {name: b}\n', 'p.yaml')).toEqual([
      { kind: 'Pod', metadata: { name: 'b' } },
    ]);
  });

  it('names the file of a malformed manifest in an InputError', () => {
    expect(() => parseManifestText('kind: Pod\nmetadata: {name: [\n', 'bad.yaml')).toThrow(
      /^bad\.yaml: invalid YAML: /,
    );
    expect(() => parseManifestText('{"kind": ', 'bad.json')).toThrow(InputError);
    const badPolicy = objects(
      'kind: NetworkPolicy\nmetadata: {name: np, namespace: x}\nspec: {ingress: [{from: [{ipBlock: {cidr: nope}}]}]}\n',
      'policies/np.yaml',
    );
    expect(() => buildManifests(badPolicy)).toThrow(
      'policies/np.yaml: NetworkPolicy x/np: spec.ingress[0].from[0].ipBlock.cidr: "nope" is not a CIDR',
    );
  });
});

describe('egress-learner audit connectivity errors', () => {
  it('exits 2 with one line naming the file of a malformed manifest', () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'np.yaml'),
      'kind: NetworkPolicy\nmetadata: {name: np}\nspec:\n  ingress:\n  - ports: [{port: 90, endPort: 80}]\n',
    );
    const r = cli(['audit', 'connectivity', dir, '-o', 'json']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      `egress-learner: ${join(dir, 'np.yaml')}: NetworkPolicy default/np: spec.ingress[0].ports[0].endPort: 80 is below port 90\n`,
    );
  });

  it('warns of a Calico NetworkPolicy it leaves out, and exits 2 when nothing else was read', () => {
    const dir = tempDir();
    const calico = join(dir, 'calico.yaml');
    writeFileSync(
      calico,
      'apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: app}\nspec: {}\n',
    );
    const warning = `egress-learner: warning: ${calico}: projectcalico.org/v3 NetworkPolicy app/deny is not a Kubernetes NetworkPolicy (networking.k8s.io/v1): skipped\n`;
    writeFileSync(join(dir, 'pod.yaml'), 'kind: Pod\nmetadata: {name: web, namespace: app}\n');
    const conn = cli(['audit', 'connectivity', dir, '-o', 'json']);
    expect(conn.code).toBe(0);
    expect(conn.stderr).toBe(warning);
    const replay = cli(['audit', '--db', join(dir, 'x.db'), '--policies', calico]);
    expect(replay.code).toBe(2);
    expect(replay.stderr).toBe(
      `${warning}egress-learner: ${calico}: no NetworkPolicy, EgressRuleSet or security-group rules found (searched *.yaml, *.yml, *.json)\n`,
    );
  });

  it('warns when the path holds no workload: an empty list is not "nothing may connect"', () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'np.yaml'),
      'kind: NetworkPolicy\nmetadata: {name: deny, namespace: app}\nspec: {podSelector: {}, policyTypes: [Egress]}\n',
    );
    const r = cli(['audit', 'connectivity', dir]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(
      `egress-learner: warning: ${dir} holds no workload (a Pod, or one of Deployment, ReplicaSet, ReplicationController, StatefulSet, DaemonSet, Job, CronJob): no connection to list\n`,
    );
    writeFileSync(join(dir, 'pod.yaml'), 'kind: Pod\nmetadata: {name: web, namespace: app}\n');
    expect(cli(['audit', 'connectivity', dir]).stderr).toBe('');
  });

  it('exits 2 for a missing folder and 1 for an unknown output format', () => {
    const dir = tempDir();
    const missing = cli(['audit', 'connectivity', join(dir, 'nope')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(`egress-learner: ${join(dir, 'nope')}: no such file or directory\n`);
    expect(cli(['audit', 'connectivity', dir, '-o', 'xml']).code).toBe(1);
  });
});
