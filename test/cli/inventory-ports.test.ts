/**
 * Ports the inventory keeps, through the CLI: a Service's port map (traffic to a ClusterIP reaches the pods on the
 * targetPort, which is what NetworkPolicy and Cilium see) and pods' named container ports (a NetworkPolicy's
 * `port: http`). Both were found by a user sweep: `suggest` wrote the Service port into in-cluster rules, and
 * `audit` denied the tool's own candidates and every named port.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { V2_HEADER } from '../helpers/vpc-lines.js';

const T0 = Date.parse('2025-03-01T09:00:00Z') / 1000;
const iso = (t: number): string => new Date(t * 1000).toISOString().replace('.000Z', 'Z');
const WINDOW = ['--since', iso(T0 - 3600), '--until', iso(T0 + 86_400)];

/** A Deployment's Pod as `kubectl get pods -o json` prints it, with the container ports given. */
function podItem(deployment: string, ip: string, ports: unknown[] = []): unknown {
  const name = `${deployment}-5f6d7-x2x4k`;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'team',
      uid: `uid-${name}`,
      creationTimestamp: iso(T0 - 60),
      labels: { app: deployment, 'pod-template-hash': '5f6d7' },
      ownerReferences: [
        {
          apiVersion: 'apps/v1',
          kind: 'ReplicaSet',
          name: `${deployment}-5f6d7`,
          uid: 'uid-rs',
          controller: true,
        },
      ],
    },
    spec: { nodeName: 'n1', containers: [{ name: 'main', image: 'registry.example/app:1', ports }] },
    status: { phase: 'Running', podIP: ip, podIPs: [{ ip }], startTime: iso(T0 - 60) },
  };
}

/** Collects the snapshot and one flow record per `[src, dst, port]`, each at its own minute. */
function collected(items: unknown[], flows: [string, string, number][]): { db: string; dir: string } {
  const dir = tempDir();
  const db = join(dir, 'x.db');
  const namespace = {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: 'team', uid: 'uid-team', labels: { 'kubernetes.io/metadata.name': 'team' } },
  };
  writeFileSync(
    join(dir, 'snap.json'),
    JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [namespace, ...items] }),
  );
  const lines = flows.map(
    ([src, dst, port], i) =>
      `2 123456789012 eni-0a1b2c3d4e5f60718 ${src} ${dst} ${40000 + i} ${port} 6 10 1000 ${T0 + 60 * i} ${T0 + 60 * i + 30} ACCEPT OK`,
  );
  writeFileSync(join(dir, 'flows.log'), `${[V2_HEADER, ...lines].join('\n')}\n`);
  for (const args of [
    ['collect', 'k8s', '--snapshot', join(dir, 'snap.json'), '--at', iso(T0)],
    ['collect', 'vpc-flow', join(dir, 'flows.log')],
  ]) {
    const r = cli([...args, '-q', '--db', db]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  }
  return { db, dir };
}

describe('traffic to a Service ClusterIP', () => {
  it('gets the targetPort in suggested in-cluster rules, and audit judges it at the pods behind the Service', () => {
    const { db, dir } = collected(
      [
        podItem('front', '10.2.1.10'),
        podItem('back', '10.2.1.11', [{ name: 'http', containerPort: 8080 }]),
        {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: {
            name: 'back',
            namespace: 'team',
            uid: 'uid-svc-back',
            creationTimestamp: iso(T0 - 3600),
          },
          spec: {
            type: 'ClusterIP',
            clusterIP: '172.20.0.50',
            clusterIPs: ['172.20.0.50'],
            selector: { app: 'back' },
            ports: [
              { name: 'web', port: 80, protocol: 'TCP', targetPort: 8080 },
              { name: 'alt', port: 81, protocol: 'TCP', targetPort: 'http' },
            ],
          },
        },
      ],
      [
        ['10.2.1.10', '172.20.0.50', 80],
        ['10.2.1.10', '172.20.0.50', 81],
      ],
    );
    const out = join(dir, 'cand');
    const s = cli(['suggest', '-q', '--db', db, ...WINDOW, '--kinds', 'networkpolicy,cilium', '--out', out]);
    expect([s.code, s.stderr]).toEqual([0, '']);
    const ports = (file: string): string[] =>
      [...readFileSync(join(out, file), 'utf8').matchAll(/^\s*-?\s*port: "?(\d+)"?$/gm)].map((m) => m[1]!);
    // The Service's two ports lead to one pod port; DNS (53) is the default rule every egress policy carries.
    expect(ports('networkpolicy/team/front-egress.yaml').filter((p) => p !== '53')).toEqual(['8080']);
    expect(ports('networkpolicy/team/back-ingress.yaml')).toEqual(['8080']);
    expect(ports('cilium/team/front.yaml').filter((p) => p !== '53')).toEqual(['8080']);

    const a = cli(['audit', '--db', db, ...WINDOW, '--candidates', out, '-o', 'json']);
    expect([a.code, a.stderr]).toEqual([0, expect.stringContaining('nothing observed would be denied')]);
    const rows = JSON.parse(a.stdout) as {
      target: string;
      port: number;
      verdict: string;
      layers: unknown[];
    }[];
    expect(rows.map((r) => [r.target, r.port, r.verdict])).toEqual([
      ['172.20.0.50', 80, 'allowed'],
      ['172.20.0.50', 81, 'allowed'],
    ]);
    expect(JSON.stringify(rows[0]!.layers)).toContain('(Service team/back → team/Deployment/back port 8080)');
  });
});

describe('a named port in a NetworkPolicy', () => {
  it('resolves through the container ports collect k8s stored', () => {
    const { db, dir } = collected(
      [
        podItem('web', '10.1.1.10'),
        podItem('api', '10.1.1.20', [{ name: 'http', containerPort: 8080, protocol: 'TCP' }]),
      ],
      [['10.1.1.10', '10.1.1.20', 8080]],
    );
    writeFileSync(
      join(dir, 'named.yaml'),
      `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-to-api, namespace: team}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress:
    - to: [{podSelector: {matchLabels: {app: api}}}]
      ports: [{port: http}]
`,
    );
    const a = cli(['audit', '--db', db, ...WINDOW, '--policies', join(dir, 'named.yaml'), '-o', 'json']);
    expect(a.code).toBe(0);
    expect(JSON.parse(a.stdout)).toMatchObject([
      {
        target: 'team/Deployment/api',
        port: 8080,
        verdict: 'allowed',
        layers: [{ allowedBy: ['networkpolicy team/web-to-api egress[0]'] }],
      },
    ]);
  });
});
