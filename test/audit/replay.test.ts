import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { matchEgress, parseEgressRuleSet } from '../../src/audit/egressruleset.js';
import { PodIndex } from '../../src/audit/pod-index.js';
import { readPolicySet } from '../../src/audit/policy-set.js';
import { replayOutcome, type ReplayRow } from '../../src/audit/replay.js';
import { sgRuleAllows } from '../../src/audit/security-group.js';
import { attributedEdges, leasesInWindow, podLabels, services } from '../../src/store/infer-query.js';
import { tempDir } from '../helpers/tmp.js';
import { DAY, T0, World, type PodSpec } from '../helpers/world.js';

function policies(yaml: string) {
  const dir = tempDir();
  writeFileSync(join(dir, 'p.yaml'), yaml);
  return readPolicySet([dir]);
}

function replay(w: World, yaml: string): ReplayRow[] {
  const db = w.ready().db;
  const ns = new Map([
    ['shop', { 'kubernetes.io/metadata.name': 'shop' }],
    ['data', { 'kubernetes.io/metadata.name': 'data' }],
  ]);
  const pods = new PodIndex(leasesInWindow(db, -Infinity, Infinity), services(db));
  return replayOutcome(attributedEdges(db, {}), policies(yaml), ns, podLabels(db), pods).rows;
}

const web = { uid: 'web-1', namespace: 'shop', workload: 'web', ip: '10.244.1.5', start: T0 - DAY };
const db = {
  uid: 'db-1',
  namespace: 'data',
  workload: 'db',
  ip: '10.244.2.9',
  start: T0 - DAY,
  labels: { app: 'db' },
};

const WEB_EGRESS = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-egress, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress:
    - to: [{ipBlock: {cidr: 10.0.0.0/8}}]
      ports: [{protocol: TCP, port: 5432}]
    - to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: data}}, podSelector: {matchLabels: {app: db}}}]
      ports: [{protocol: TCP, port: 5432}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-ingress, namespace: data}
spec:
  podSelector: {matchLabels: {app: db}}
  policyTypes: [Ingress]
  ingress:
    - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: other}}}]
`;

describe('replaying observed edges against NetworkPolicies', () => {
  it('names the rule that allows an edge, and says why another is denied', () => {
    const w = new World().pods(T0 - DAY, [web, db]);
    w.flow({ src: '10.244.1.5', dst: '10.20.0.5', port: 5432, at: T0 + 60 });
    w.flow({ src: '10.244.1.5', dst: '93.184.216.34', port: 443, at: T0 + 120, flows: 4 });
    w.flow({ src: '10.244.1.5', dst: '10.244.2.9', port: 5432, at: T0 + 180 });
    const rows = replay(w, WEB_EGRESS);
    const by = (target: string) => rows.find((r) => r.target === target)!;
    expect(by('10.20.0.5')).toMatchObject({
      verdict: 'allowed',
      layers: [{ layer: 'networkpolicy', allowedBy: ['networkpolicy shop/web-egress egress[0]'] }],
    });
    expect(by('93.184.216.34')).toMatchObject({ verdict: 'denied', flows: 4 });
    expect(by('93.184.216.34').layers[0]!.reason).toMatch(
      /egress isolated by shop\/web-egress; no rule allows TCP 443/,
    );
    // Egress of web allows it; the database's own ingress policy does not.
    expect(by('data/Deployment/db').verdict).toBe('denied');
    expect(by('data/Deployment/db').layers[0]!.reason).toMatch(
      /^ingress of data\/Deployment\/db isolated by data\/db-ingress/,
    );
  });

  it('denies ICMP from an egress-isolated pod and leaves traffic nobody governs uncovered', () => {
    const w = new World().node('node-a', '10.0.1.10', T0 - DAY).pods(T0 - DAY, [web]);
    w.flow({ src: '10.244.1.5', dst: '8.8.8.8', protocol: 1, port: 0, at: T0 + 60 });
    w.flow({ src: '10.0.1.10', dst: '8.8.4.4', port: 443, at: T0 + 60 });
    w.flow({ src: '198.51.100.1', dst: '203.0.113.1', port: 443, at: T0 + 60 });
    const rows = replay(w, WEB_EGRESS);
    expect(rows.find((r) => r.target === '8.8.8.8')!.verdict).toBe('denied');
    expect(rows.find((r) => r.target === '203.0.113.1')!.verdict).toBe('not-covered');
  });

  it('names the NetworkPolicies that selected none of the pods it judged', () => {
    const w = new World().pods(T0 - DAY, [web, db]);
    w.flow({ src: '10.244.1.5', dst: '10.244.2.9', port: 5432, at: T0 + 60 });
    const db0 = w.ready().db;
    // As `helm template` renders it: no namespace, so `default`, where no observed pod runs.
    const rendered = WEB_EGRESS.replace('namespace: shop', 'namespace: default');
    const { rows, idle } = replayOutcome(
      attributedEdges(db0, {}),
      policies(rendered),
      new Map(),
      podLabels(db0),
    );
    expect(rows).toHaveLength(1);
    expect(idle.map((p) => `${p.namespace}/${p.name}`)).toEqual(['default/web-egress']);
    expect(replayOutcome(attributedEdges(db0, {}), policies(WEB_EGRESS), new Map()).idle).toEqual([]);
  });

  it('lets ICMP through only a rule without ports whose peers match', () => {
    const w = new World().node('node-a', '10.0.1.10', T0 - DAY).pods(T0 - DAY, [web]);
    w.flow({ src: '10.244.1.5', dst: '8.8.8.8', protocol: 1, port: 0, at: T0 + 60 });
    w.flow({ src: '10.244.1.5', dst: '1.1.1.1', protocol: 1, port: 0, at: T0 + 60 });
    const policy = (egress: string) => `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-out, namespace: shop}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress: ${egress}
`;
    const verdicts = (rows: ReplayRow[]) => rows.map((r) => `${r.target} ${r.verdict}`).sort();
    // Kubernetes' "allow all egress" policy.
    expect(verdicts(replay(w, policy('[{}]')))).toEqual(['1.1.1.1 allowed', '8.8.8.8 allowed']);
    expect(verdicts(replay(w, policy('[{to: [{ipBlock: {cidr: 8.8.8.0/24}}]}]')))).toEqual([
      '1.1.1.1 denied',
      '8.8.8.8 allowed',
    ]);
    // Ports name TCP, UDP or SCTP only: such a rule allows no ICMP, whatever its ports.
    const ported = replay(
      w,
      policy('[{ports: [{protocol: TCP, port: 1, endPort: 65535}, {protocol: UDP}]}]'),
    );
    expect(verdicts(ported)).toEqual(['1.1.1.1 denied', '8.8.8.8 denied']);
    expect(ported[0]!.layers[0]!.reason).toContain('no rule allows ICMP (only a rule without ports can)');
  });

  it("judges a SNAT'd flow by its candidate pods, and a node's traffic inside the VPC as the node's own", () => {
    const other = { ...web, uid: 'api-1', workload: 'api', ip: '10.244.1.6', labels: { app: 'api' } };
    const w = new World().node('node-a', '10.0.1.10', T0 - DAY).pods(T0 - DAY, [web, other]);
    w.flow({ src: '10.0.1.10', dst: '93.184.216.34', port: 443, at: T0 + 60 });
    w.flow({ src: '10.0.1.10', dst: '198.51.100.7', port: 443, at: T0 + 60 });
    w.flow({ src: '10.0.1.10', dst: '10.20.0.5', port: 5432, at: T0 + 60 });
    const extra = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: shop}
spec: {podSelector: {}, policyTypes: [Egress]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-partner, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress: [{to: [{ipBlock: {cidr: 198.51.100.0/24}}], ports: [{protocol: TCP, port: 443}]}]
`;
    const rows = replay(w, `${WEB_EGRESS}---\n${extra}`);
    const external = rows.find((r) => r.target === '93.184.216.34')!;
    expect(external.verdict).toBe('denied');
    expect(external.layers[0]!.reason).toMatch(/SNAT.*every candidate pod denied/);
    const partner = rows.find((r) => r.target === '198.51.100.7')!;
    expect(partner.verdict).toBe('allowed');
    expect(partner.layers[0]!.allowedBy[0]).toMatch(/web-partner.*candidate shop\/web-1/);
    // Inside the VPC a node address is the node itself: no pod policy governs it.
    expect(rows.find((r) => r.target === '10.20.0.5')!.verdict).toBe('not-covered');
  });

  it("resolves a named port against the destination pod's ports, for egress and for ingress rules", () => {
    const api = (uid: string, ip: string, ports: PodSpec['ports']): PodSpec => ({
      uid,
      namespace: 'shop',
      workload: uid,
      ip,
      start: T0 - DAY,
      labels: { app: 'api' },
      ports,
    });
    const w = new World().pods(T0 - DAY, [
      web,
      api('api', '10.244.1.7', [{ name: 'http', port: 8080, protocol: 'TCP' }]),
      // Another pod the rules select, whose `http` is another port: 8080 is no `http` of it.
      api('legacy', '10.244.1.8', [{ name: 'http', port: 8000, protocol: 'TCP' }]),
    ]);
    w.flow({ src: '10.244.1.5', dst: '10.244.1.7', port: 8080, at: T0 + 60 });
    w.flow({ src: '10.244.1.5', dst: '10.244.1.8', port: 8080, at: T0 + 60 });
    const named = {
      egress: `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: named, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress: [{to: [{podSelector: {matchLabels: {app: api}}}], ports: [{port: http}]}]
`,
      ingress: `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: named, namespace: shop}
spec:
  podSelector: {matchLabels: {app: api}}
  policyTypes: [Ingress]
  ingress: [{from: [{podSelector: {matchLabels: {app: web}}}], ports: [{port: http}]}]
`,
    };
    for (const [direction, yaml] of Object.entries(named)) {
      const rows = replay(w, yaml);
      expect(rows.find((r) => r.target === 'shop/Deployment/api')).toMatchObject({
        verdict: 'allowed',
        layers: [{ allowedBy: [`networkpolicy shop/named ${direction}[0]`] }],
      });
      expect(rows.find((r) => r.target === 'shop/Deployment/legacy')!.verdict).toBe('denied');
    }
  });

  it('judges a flow to a ClusterIP at the pods behind it, on their targetPort, keeping the ClusterIP as target', () => {
    const cart = {
      uid: 'cart-1',
      namespace: 'shop',
      workload: 'cart',
      ip: '10.244.2.9',
      start: T0 - DAY,
      labels: { app: 'cart' },
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    } as const;
    const w = new World()
      .pods(T0 - DAY, [web, cart])
      .service(
        'shop',
        'cart',
        '172.20.0.10',
        { app: 'cart' },
        [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 'http' }],
        T0 - DAY,
      )
      .service('shop', 'legacy', '172.20.0.11', { app: 'cart' }, [], T0 - DAY);
    w.flow({ src: '10.244.1.5', dst: '172.20.0.10', port: 80, at: T0 + 60 });
    w.flow({ src: '10.244.1.5', dst: '172.20.0.11', port: 80, at: T0 + 60 });
    const toCart = (port: number) => `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-cart, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress: [{to: [{podSelector: {matchLabels: {app: cart}}}], ports: [{port: ${port}}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: cart-in, namespace: shop}
spec:
  podSelector: {matchLabels: {app: cart}}
  policyTypes: [Ingress]
  ingress: [{from: [{podSelector: {matchLabels: {app: web}}}], ports: [{port: ${port}}]}]
`;
    const pod = replay(w, toCart(8080)).find((r) => r.target === '172.20.0.10')!;
    expect(pod).toMatchObject({ verdict: 'allowed', port: 80 });
    expect(pod.layers[0]!.allowedBy).toEqual([
      'networkpolicy shop/web-cart egress[0] (Service shop/cart → shop/Deployment/cart port 8080)',
      'networkpolicy shop/cart-in ingress[0] (Service shop/cart → shop/Deployment/cart port 8080)',
    ]);
    const service = replay(w, toCart(80)).find((r) => r.target === '172.20.0.10')!;
    expect(service.verdict).toBe('denied');
    expect(service.layers[0]!.reason).toMatch(
      /^Service shop\/cart → shop\/Deployment\/cart port 8080: egress isolated by shop\/web-cart; no rule allows TCP 8080/,
    );
    // A Service stored without its ports: the ClusterIP is an address, as before.
    expect(replay(w, toCart(8080)).find((r) => r.target === '172.20.0.11')!.verdict).toBe('denied');
  });

  it('checks proxied requests against the union of EgressRuleSets', () => {
    const w = new World().pods(T0 - DAY, [web]);
    w.flow({
      src: '10.244.1.5',
      dst: '93.184.216.1',
      host: 'a.tiles.example.org',
      port: 443,
      at: T0,
      source: 'squid',
    });
    w.flow({
      src: '10.244.1.5',
      dst: '93.184.216.2',
      host: 'example.org',
      port: 443,
      at: T0,
      source: 'squid',
    });
    w.flow({
      src: '10.244.1.5',
      dst: '93.184.216.3',
      host: 'a.tiles.example.org',
      port: 80,
      at: T0,
      source: 'squid',
    });
    const rows = replay(
      w,
      `apiVersion: zalando.org/v1
kind: EgressRuleSet
metadata: {name: shop, namespace: shop}
spec: {targets: ["*.example.org:443"]}
`,
    );
    expect(rows.map((r) => [r.target, r.port, r.verdict])).toEqual([
      ['a.tiles.example.org', 80, 'denied'],
      ['a.tiles.example.org', 443, 'allowed'],
      ['example.org', 443, 'denied'],
    ]);
  });
});

describe('policy layers', () => {
  it('judges a request the proxy logged to an address by the EgressRuleSets, as the proxy would', () => {
    const w = new World().pods(T0 - DAY, [web]);
    w.flow({ src: '10.244.1.5', dst: '203.0.113.9', port: 443, at: T0, source: 'squid' });
    const ers = (target: string) =>
      `apiVersion: zalando.org/v1\nkind: EgressRuleSet\nmetadata: {name: s, namespace: shop}\nspec: {targets: ["${target}"]}\n`;
    const allowAll =
      'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: open, namespace: shop}\n' +
      'spec: {podSelector: {}, policyTypes: [Egress], egress: [{}]}\n';
    const [ok] = replay(w, ers('203.0.113.9:443'));
    expect(ok).toMatchObject({ via: 'proxy', verdict: 'allowed', target: '203.0.113.9' });
    const [no] = replay(w, `${ers('api.example.com:443')}---\n${allowAll}`);
    expect(no).toMatchObject({ via: 'proxy', verdict: 'denied' });
    expect(no!.layers.map((l) => l.reason)).toEqual(['no EgressRuleSet target matches 203.0.113.9:443']);
  });

  it('matches EgressRuleSet targets exactly on the port and below the wildcard only', () => {
    const set = parseEgressRuleSet({
      metadata: { name: 'a', namespace: 'x' },
      spec: { targets: ['api.example.com:443', '*.cdn.example.net:443'] },
    });
    expect(matchEgress([set], 'api.example.com', 443)?.target.host).toBe('api.example.com');
    expect(matchEgress([set], 'img.cdn.example.net', 443)?.target.host).toBe('*.cdn.example.net');
    expect(matchEgress([set], 'cdn.example.net', 443)).toBeNull();
    expect(matchEgress([set], 'api.example.com', 8443)).toBeNull();
    expect(() => parseEgressRuleSet({ spec: { targets: ['api.example.com:*'] } })).toThrow(/not host:port/);
  });

  it("reads the proposal's world access, *:port, as any host on that port only", () => {
    const world = parseEgressRuleSet({ metadata: { name: 'world-access' }, spec: { targets: ['*:80'] } });
    expect(world.targets).toEqual([{ host: '*', port: 80 }]);
    expect(matchEgress([world], 'anything.example', 80)?.set.name).toBe('world-access');
    expect(matchEgress([world], '203.0.113.9', 80)?.target.host).toBe('*');
    expect(matchEgress([world], 'anything.example', 443)).toBeNull();
    for (const bad of ['*:*', '**:80', '*.:80', ':80'])
      expect(() => parseEgressRuleSet({ spec: { targets: [bad] } })).toThrow(/not host:port/);
  });

  it('reads security groups from suggest output and from describe-security-groups', () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'sg-0123456789abcdef0.json'),
      JSON.stringify([
        { IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '52.216.0.0/15' }] },
      ]),
    );
    writeFileSync(
      join(dir, 'groups.json'),
      JSON.stringify({
        SecurityGroups: [
          {
            GroupId: 'sg-0aaaaaaaaaaaaaaaa',
            IpPermissionsEgress: [
              { IpProtocol: '-1', UserIdGroupPairs: [{ GroupId: 'sg-0bbbbbbbbbbbbbbbb' }] },
            ],
          },
        ],
      }),
    );
    const set = readPolicySet([dir]);
    expect(set.securityGroupRules.map((r) => r.groupId).sort()).toEqual([
      'sg-0123456789abcdef0',
      'sg-0aaaaaaaaaaaaaaaa',
    ]);
    const [https, all] = [
      set.securityGroupRules.find((r) => r.groupId === 'sg-0123456789abcdef0')!,
      set.securityGroupRules.find((r) => r.groupId === 'sg-0aaaaaaaaaaaaaaaa')!,
    ];
    expect(sgRuleAllows(https, 6, 443, '52.217.1.1', [])).toBe(true);
    expect(sgRuleAllows(https, 6, 80, '52.217.1.1', [])).toBe(false);
    expect(sgRuleAllows(https, 17, 443, '52.217.1.1', [])).toBe(false);
    expect(sgRuleAllows(all, 17, 53, '10.0.0.9', ['sg-0bbbbbbbbbbbbbbbb'])).toBe(true);
    expect(sgRuleAllows(all, 17, 53, '10.0.0.9', [])).toBe(false);
  });

  it("reads a rule's managed prefix list from <pl-id>.json, and names one that was not given", () => {
    const dir = tempDir();
    const groups = (prefixList: string) =>
      JSON.stringify({
        SecurityGroups: [
          {
            GroupId: 'sg-0cccccccccccccccc',
            IpPermissionsEgress: [
              {
                IpProtocol: 'tcp',
                FromPort: 443,
                ToPort: 443,
                PrefixListIds: [{ PrefixListId: prefixList }],
              },
            ],
          },
        ],
      });
    writeFileSync(join(dir, 'groups.json'), groups('pl-63a5400a'));
    writeFileSync(
      join(dir, 'pl-63a5400a.json'),
      JSON.stringify({ Entries: [{ Cidr: '52.216.0.0/15' }, { Cidr: '3.5.0.0/19' }] }),
    );
    const set = readPolicySet([dir]);
    expect([...set.prefixLists.keys()]).toEqual(['pl-63a5400a']);
    const [rule] = set.securityGroupRules;
    expect(sgRuleAllows(rule!, 6, 443, '52.217.1.1', [], set.prefixLists)).toBe(true);
    expect(sgRuleAllows(rule!, 6, 443, '52.217.1.1', [])).toBe(false);
    expect(sgRuleAllows(rule!, 6, 80, '52.217.1.1', [], set.prefixLists)).toBe(false);

    // An instance's flow to S3, replayed with and without the prefix list's entries.
    const edge = {
      ...{ bucket: T0, srcAddr: '10.0.3.7', dstAddr: '52.217.1.1', dstHost: '', port: 443, protocol: 6 },
      ...{ flows: 3, packets: 9, bytes: 900, firstSeen: T0, lastSeen: T0 + 60, sources: 1, action: 'accept' },
      ...{ srcKind: 'instance', srcWorkloadId: 'i-0123', srcCluster: '', srcNamespace: '', srcPod: '' },
      ...{ srcWorkloadKind: '', srcWorkloadName: '', srcNode: '', srcCandidates: '[]', srcLabels: '{}' },
      srcSecurityGroups: '["sg-0cccccccccccccccc"]',
      ...{
        dstKind: 'cloud-service',
        dstCluster: '',
        dstNamespace: '',
        dstWorkloadKind: '',
        dstWorkloadName: '',
      },
      ...{ dstClass: 'cloud-service', dstName: 'S3', dstLabels: '{}', dstSecurityGroups: '[]' },
    };
    const verdict = (s: ReturnType<typeof readPolicySet>) =>
      replayOutcome([edge], s, new Map(), new Map()).rows[0]!;
    expect(verdict(set).verdict).toBe('allowed');
    const other = tempDir();
    writeFileSync(join(other, 'groups.json'), groups('pl-02cd2c6b'));
    const denied = verdict(readPolicySet([other]));
    expect(denied.verdict).toBe('denied');
    expect(denied.layers[0]!.reason).toMatch(
      /prefix list pl-02cd2c6b not given \(save `aws ec2 get-managed-prefix-list-entries/,
    );
  });

  it('names the file of a malformed policy', () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'bad.yaml'),
      'kind: EgressRuleSet\nmetadata: {name: x}\nspec: {targets: ["nope"]}\n',
    );
    expect(() => readPolicySet([dir])).toThrow(/bad\.yaml.*not host:port/);
  });

  it('names the file once, and the group, of a malformed security-group rule', () => {
    const dir = tempDir();
    const perms = [
      { IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '10.0.0.300/32' }] },
    ];
    const sg = join(dir, 'sg-0123456789abcdef0.json');
    writeFileSync(sg, JSON.stringify(perms));
    expect(() => readPolicySet([sg])).toThrow(
      `${sg}: sg-0123456789abcdef0: permission 0 has a bad CIDR "10.0.0.300/32"`,
    );
    const described = join(dir, 'groups.json');
    writeFileSync(
      described,
      JSON.stringify({ SecurityGroups: [{ GroupId: 'sg-0aaaabbbb', IpPermissionsEgress: perms }] }),
    );
    expect(() => readPolicySet([described])).toThrow(
      `${described}: sg-0aaaabbbb IpPermissionsEgress: permission 0 has a bad CIDR`,
    );
  });
});
