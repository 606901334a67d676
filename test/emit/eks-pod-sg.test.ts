import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1/CustomResourceDefinition';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { EmitOptions, EmittedFile } from '../../src/emit/document.js';
import { emitEksPodSecurityGroups } from '../../src/emit/eks-pod-sg.js';
import { evidenceText } from '../../src/emit/evidence.js';
import type { Endpoint, FoldedCidr, InferenceResult } from '../../src/model/endpoint.js';
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

const opts = (over: Partial<EmitOptions> = {}): EmitOptions => ({
  scope: 'namespace',
  accepted: new Set(),
  rejected: new Set(),
  ...over,
});

const published: FoldedCidr = {
  cidr: '52.95.0.0/16',
  basis: 'published',
  addresses: 40,
  provider: 'S3 eu-west-1',
  reason: 'S3 eu-west-1 prefix from ip-ranges.json covering 40 addresses',
};

const web = sender(workload('shop', 'Deployment', 'web'));
const db = sender(workload('data', 'StatefulSet', 'db'));
const cache = workload('data', 'Deployment', 'cache');
const coredns = workload('kube-system', 'Deployment', 'coredns');

function sample(): { r: InferenceResult; eps: Record<string, Endpoint> } {
  const eps = {
    api: endpoint(web, hostDest('api.example.com', [exact('203.0.113.10/32')]), { id: 'ep-api' }),
    s3: endpoint(web, hostDest('bucket.s3.eu-west-1.amazonaws.com', [published]), { id: 'ep-s3' }),
    v6: endpoint(web, addressDest([exact('2001:db8::7/128'), exact('192.0.2.7/32')]), {
      id: 'ep-v6',
      port: 8443,
    }),
    icmp: endpoint(web, addressDest([exact('192.0.2.1/32')]), { id: 'ep-icmp', port: 0, protocol: 'ICMP' }),
    sctp: endpoint(web, addressDest([exact('192.0.2.9/32')]), {
      id: 'ep-sctp',
      port: 3868,
      protocol: 'SCTP',
    }),
    db: endpoint(web, peerDest(db.workload!), { id: 'ep-db', port: 5432 }),
    cache: endpoint(web, peerDest(cache), { id: 'ep-cache', port: 6379 }),
    dns: endpoint(web, peerDest(coredns, { 'k8s-app': 'kube-dns' }), {
      id: 'ep-dns',
      port: 53,
      protocol: 'UDP',
    }),
    proxy: endpoint(web, hostDest('pay.example.com'), { id: 'ep-proxy', via: 'proxy' }),
    nameOnly: endpoint(web, hostDest('only-name.example.com'), { id: 'ep-name-only' }),
    dbOut: endpoint(db, addressDest([exact('10.1.0.0/16')], 'vpc'), { id: 'ep-db-out', port: 443 }),
  };
  return { r: result([web, db], Object.values(eps)), eps };
}

function byPath(files: EmittedFile[]): Record<string, string> {
  return Object.fromEntries(files.map((f) => [f.path, f.content]));
}

/** The `egress …` rule lines of a file, as a person would copy them into the group. */
function ruleLines(content: string): string[] {
  return content
    .split('\n')
    .filter((l) => l.startsWith('#   egress '))
    .map((l) => l.slice(4));
}

/** The block of comment lines (text only) that starts with `first`, up to the next empty comment line. */
function block(content: string, first: string): string[] {
  const lines = content.split('\n').map((l) => l.replace(/^# ?/, ''));
  const i = lines.indexOf(first);
  expect(i, first).toBeGreaterThanOrEqual(0);
  const end = lines.indexOf('', i);
  return lines.slice(i, end < 0 ? undefined : end);
}

describe('emitEksPodSecurityGroups', () => {
  it('writes a SecurityGroupPolicy per workload with its selector and a placeholder group', () => {
    const { r } = sample();
    const files = byPath(emitEksPodSecurityGroups(r, opts()));
    expect(Object.keys(files)).toEqual([
      'eks-pod-sg/crd.yaml',
      'eks-pod-sg/data/db.yaml',
      'eks-pod-sg/shop/web.yaml',
    ]);
    expect(parse(files['eks-pod-sg/shop/web.yaml']!)).toEqual({
      apiVersion: 'vpcresources.k8s.aws/v1beta1',
      kind: 'SecurityGroupPolicy',
      metadata: { name: 'web', namespace: 'shop' },
      spec: {
        podSelector: { matchLabels: { 'app.kubernetes.io/name': 'web' } },
        securityGroups: { groupIds: ['sg-REPLACE-shop-web'] },
      },
    });
    expect(files['eks-pod-sg/shop/web.yaml']).toContain('replace sg-REPLACE-shop-web with its id');
    expect(files['eks-pod-sg/shop/web.yaml']).toContain('A new group allows all egress');
  });

  it('lists the egress rules the group needs: CIDRs, ports and protocols, peers by their group', () => {
    const { r } = sample();
    const content = byPath(emitEksPodSecurityGroups(r, opts()))['eks-pod-sg/shop/web.yaml']!;
    const dnsTo =
      'the security group of the CoreDNS pods (the node or cluster security group unless they have their own)';
    expect(ruleLines(content)).toEqual([
      `egress tcp 53 ${dnsTo}`,
      `egress udp 53 ${dnsTo}`,
      'egress icmp all 192.0.2.1/32',
      'egress 132 3868 192.0.2.9/32',
      'egress tcp 8443 192.0.2.7/32',
      'egress tcp 8443 2001:db8::7/128 (IPv6)',
      'egress tcp 443 203.0.113.10/32',
      'egress tcp 443 52.95.0.0/16',
      "egress tcp 6379 the security group of data/Deployment/cache's pods (their nodes' group unless they get a pod security group)",
      'egress tcp 5432 sg-REPLACE-data-db (the pod security group of data/StatefulSet/db, which needs the matching inbound rule from this group)',
    ]);
  });

  it('puts each destination under its evidence, with the fold reason and the rotation note', () => {
    const { r, eps } = sample();
    const content = byPath(emitEksPodSecurityGroups(r, opts()))['eks-pod-sg/shop/web.yaml']!;
    expect(block(content, 'to host api.example.com')).toEqual([
      'to host api.example.com',
      `443/TCP: ${evidenceText(eps.api)}`,
      '  egress tcp 443 203.0.113.10/32',
    ]);
    expect(block(content, 'to host bucket.s3.eu-west-1.amazonaws.com')).toEqual([
      'to host bucket.s3.eu-west-1.amazonaws.com',
      "bucket.s3.eu-west-1.amazonaws.com's addresses rotate: a security group cannot follow a name well; the precise form is the EgressRuleSet through the egress proxy.",
      '52.95.0.0/16: S3 eu-west-1 prefix from ip-ranges.json covering 40 addresses',
      `443/TCP: ${evidenceText(eps.s3)}`,
      '  egress tcp 443 52.95.0.0/16',
    ]);
    expect(content).toContain(`# ICMP: ${evidenceText(eps.icmp)}`);
  });

  it('keeps proxy, name-only and DNS endpoints out of the rules, saying why', () => {
    const { r } = sample();
    const content = byPath(emitEksPodSecurityGroups(r, opts()))['eks-pod-sg/shop/web.yaml']!;
    expect(block(content, 'Not in these rules:')).toEqual([
      'Not in these rules:',
      'endpoint ep-name-only: host only-name.example.com 443/TCP has no addresses (it was only seen by name); a security group cannot allow it',
      'endpoint ep-proxy 443/TCP: reached through the egress proxy; the group needs egress to the proxy, not to this endpoint',
      'endpoint ep-dns 53/UDP: DNS, covered by the DNS rules above',
    ]);
  });

  it('lists suspicious rules apart, rare ones as not enabled, drops rejected ones and marks accepted ones', () => {
    const eps = [
      endpoint(web, addressDest([exact('192.0.2.44/32')]), {
        id: 'ep-susp',
        port: 4444,
        suspicions: [{ code: 'raw-ip-unusual-port', detail: 'port 4444' }],
      }),
      endpoint(web, addressDest([exact('192.0.2.45/32')]), { id: 'ep-rare', port: 25, rare: true }),
      endpoint(web, addressDest([exact('192.0.2.46/32')]), { id: 'ep-rejected', port: 443 }),
      endpoint(web, addressDest([exact('192.0.2.47/32')]), { id: 'ep-accepted', port: 443 }),
    ];
    const content = byPath(
      emitEksPodSecurityGroups(
        result([web], eps),
        opts({ rejected: new Set(['ep-rejected']), accepted: new Set(['ep-accepted']) }),
      ),
    )['eks-pod-sg/shop/web.yaml']!;
    expect(ruleLines(content).filter((l) => !l.includes(' 53 '))).toEqual(['egress tcp 443 192.0.2.47/32']);
    expect(content).toContain(`# 443/TCP accepted: ${evidenceText(eps[3]!)}`);
    expect(block(content, 'SUSPICIOUS, not enabled: raw-ip-unusual-port (port 4444)')).toEqual([
      'SUSPICIOUS, not enabled: raw-ip-unusual-port (port 4444)',
      'to address (internet)',
      `4444/TCP: ${evidenceText(eps[0]!)}`,
      '  not enabled: egress tcp 4444 192.0.2.44/32',
    ]);
    expect(content).toContain(`# - egress tcp 25 192.0.2.45/32: 25/TCP: ${evidenceText(eps[1]!)}`);
    expect(content).not.toContain('ep-rejected');
    expect(content).not.toContain('192.0.2.46');
  });

  it('writes no policy for host-network pods or pods without stable labels, and then no CRD', () => {
    const hn = sender(workload('kube-system', 'DaemonSet', 'agent'), { hostNetwork: true });
    const bare = sender(workload('shop', 'Pod', 'debug'), { selector: {} });
    const eps = [
      endpoint(hn, addressDest([exact('192.0.2.8/32')])),
      endpoint(bare, addressDest([exact('192.0.2.9/32')])),
    ];
    const files = byPath(emitEksPodSecurityGroups(result([hn, bare], eps), opts()));
    expect(Object.keys(files)).toEqual(['eks-pod-sg/kube-system/agent.yaml', 'eks-pod-sg/shop/debug.yaml']);
    expect(parse(files['eks-pod-sg/kube-system/agent.yaml']!)).toBeNull();
    expect(files['eks-pod-sg/kube-system/agent.yaml']).toContain('runs on the host network');
    expect(parse(files['eks-pod-sg/shop/debug.yaml']!)).toBeNull();
    expect(files['eks-pod-sg/shop/debug.yaml']).toContain('has no stable labels');
  });

  it('ignores nodes and instances: they have security groups of their own', () => {
    const node: ReturnType<typeof sender> = {
      ...sender(workload('', 'Node', 'n1')),
      id: 'node/n1',
      kind: 'node',
      workload: null,
    };
    const files = emitEksPodSecurityGroups(
      result([node], [endpoint(node, addressDest([exact('192.0.2.8/32')]))]),
      opts(),
    );
    expect(files).toEqual([]);
  });

  it('drops hostile values with a comment naming the endpoint, never writing them', () => {
    const hostile = [
      endpoint(web, hostDest('evil.example.com\n  groupIds: [sg-1]', [exact('192.0.2.66/32')]), {
        id: 'ep-h1',
      }),
      endpoint(web, hostDest('*', [exact('192.0.2.67/32')]), { id: 'ep-h2' }),
      endpoint(web, addressDest([exact('0.0.0.0/0')]), { id: 'ep-any', port: 9000 }),
      endpoint(web, addressDest([exact('::/0'), exact('192.0.2.69/32')]), { id: 'ep-any6', port: 9001 }),
      endpoint(web, addressDest([exact('192.0.2.70/24')]), { id: 'ep-noncanon', port: 9002 }),
      endpoint(web, addressDest([exact('192.0.2.71/32')]), { id: 'ep-p0', port: 0 }),
      endpoint(web, addressDest([exact('192.0.2.72/32')]), { id: 'ep-p1', port: 70000 }),
      endpoint(web, peerDest(workload('data\n- evil', 'StatefulSet', 'db')), { id: 'ep-peer' }),
    ];
    const evilSender = sender(workload('shop', 'Deployment', 'x\n  evil: true'));
    const evilLabels = sender(workload('shop', 'Deployment', 'labels'), {
      selector: { app: 'ok', 'x\ny': 'z' },
    });
    const files = emitEksPodSecurityGroups(result([web, evilSender, evilLabels], hostile), opts());
    // The one place the whole address space is named: the warning about a new group's default rule.
    const all = files
      .map((f) => f.content)
      .join('\n')
      .replaceAll('(0.0.0.0/0 and ::/0)', '');
    const content = byPath(files)['eks-pod-sg/shop/web.yaml']!;
    expect(ruleLines(content).filter((l) => !l.includes(' 53 '))).toEqual(['egress tcp 9001 192.0.2.69/32']);
    for (const bad of ['evil', 'sg-1', '0.0.0.0/0', '::/0', '192.0.2.70', '70000', 'x\ny']) {
      expect(all).not.toContain(bad);
    }
    for (const id of ['ep-h1', 'ep-h2', 'ep-any', 'ep-noncanon', 'ep-p0', 'ep-p1', 'ep-peer']) {
      expect(all).toContain(`endpoint ${id}:`);
    }
    expect(byPath(files)['eks-pod-sg/skipped.txt']).toMatch(
      /# - sender [0-9a-f]{8}: namespace, kind or name failed/,
    );
    expect(parse(byPath(files)['eks-pod-sg/shop/labels.yaml']!)).toBeNull();
  });

  it('gives byte-identical output for the same input, whatever its order', () => {
    const { r } = sample();
    const first = emitEksPodSecurityGroups(r, opts());
    expect(emitEksPodSecurityGroups(r, opts())).toEqual(first);
    expect(
      emitEksPodSecurityGroups(
        { ...r, senders: [...r.senders].reverse(), endpoints: [...r.endpoints].reverse() },
        opts(),
      ),
    ).toEqual(first);
  });

  it('ships the CRD as the VPC resource controller defines it: valid, 1–5 plain-string group ids', () => {
    const { r } = sample();
    const crd = parse(byPath(emitEksPodSecurityGroups(r, opts()))['eks-pod-sg/crd.yaml']!);
    expect(() => new CustomResourceDefinition(crd).validate()).not.toThrow();
    expect(crd.metadata.name).toBe('securitygrouppolicies.vpcresources.k8s.aws');
    expect(crd.spec.group).toBe('vpcresources.k8s.aws');
    expect(crd.spec.names.kind).toBe('SecurityGroupPolicy');
    expect(crd.spec.scope).toBe('Namespaced');
    const v = crd.spec.versions[0];
    expect(v.name).toBe('v1beta1');
    expect(v.schema.openAPIV3Schema.properties.spec.properties.securityGroups.properties.groupIds).toEqual({
      type: 'array',
      minItems: 1,
      maxItems: 5,
      items: { type: 'string' },
    });
    expect(byPath(emitEksPodSecurityGroups(r, opts()))['eks-pod-sg/crd.yaml']).not.toMatch(/[&*]a\d/);
  });
});
