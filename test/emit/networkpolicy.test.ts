import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { EmitOptions, EmittedFile } from '../../src/emit/document.js';
import { evidenceText } from '../../src/emit/evidence.js';
import { emitNetworkPolicies } from '../../src/emit/networkpolicy.js';
import type { Endpoint, FoldedCidr, InferenceResult, Sender } from '../../src/model/endpoint.js';
import {
  addressDest,
  endpoint,
  evidence,
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

const observed = (cidr: string, reason = 'the name rotated through 9 addresses inside'): FoldedCidr => ({
  cidr,
  basis: 'observed',
  addresses: 9,
  provider: '',
  reason,
});

const web = sender(workload('shop', 'Deployment', 'web'));
const worker = sender(workload('shop', 'Deployment', 'worker'), {
  selector: { app: 'worker', tier: 'batch' },
});
const db = workload('data', 'StatefulSet', 'db');
const coredns = workload('kube-system', 'Deployment', 'coredns');

/** A realistic mix: hosts (exact and rotating), raw addresses (IPv4 + IPv6), a peer, DNS, proxy, ICMP. */
function sample(): { r: InferenceResult; eps: Record<string, Endpoint> } {
  const eps = {
    api443: endpoint(web, hostDest('api.example.com', [exact('203.0.113.10/32')]), {
      id: 'ep-api-443',
      port: 443,
    }),
    api80: endpoint(web, hostDest('api.example.com', [exact('203.0.113.10/32')]), {
      id: 'ep-api-80',
      port: 80,
    }),
    cdn: endpoint(web, hostDest('cdn.example.net', [observed('198.51.100.0/24')]), {
      id: 'ep-cdn',
      port: 443,
    }),
    v6: endpoint(web, addressDest([exact('2001:db8::7/128'), exact('192.0.2.7/32')]), {
      id: 'ep-v6',
      port: 8443,
    }),
    sctp: endpoint(web, addressDest([exact('192.0.2.9/32')]), {
      id: 'ep-sctp',
      port: 3868,
      protocol: 'SCTP',
    }),
    db: endpoint(web, peerDest(db), { id: 'ep-db', port: 5432 }),
    dbWorker: endpoint(worker, peerDest(db), { id: 'ep-db-worker', port: 5432 }),
    dbWorker2: endpoint(worker, peerDest(db), { id: 'ep-db-worker-2', port: 5433 }),
    dns: endpoint(web, peerDest(coredns, { 'k8s-app': 'kube-dns', pod: 'x' }), {
      id: 'ep-dns',
      port: 53,
      protocol: 'UDP',
    }),
    proxy: endpoint(web, hostDest('pay.example.com'), { id: 'ep-proxy', via: 'proxy' }),
    icmp: endpoint(web, addressDest([exact('192.0.2.1/32')]), { id: 'ep-icmp', port: 0, protocol: 'ICMP' }),
    nameOnly: endpoint(web, hostDest('only-name.example.com'), { id: 'ep-name-only' }),
  };
  return { r: result([web, worker], Object.values(eps)), eps };
}

function byPath(files: EmittedFile[]): Record<string, string> {
  return Object.fromEntries(files.map((f) => [f.path, f.content]));
}

/** Parsed YAML, walked freely by the assertions (a wrong path fails the test as it should). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Parsed = any;

/** Parses as kubectl does (YAML 1.1: `yes` would be a boolean). */
function obj(content: string | undefined): Parsed {
  expect(content).toBeDefined();
  return parse(content!, { version: '1.1' }) as Parsed;
}

/** The comment lines right above the YAML line that contains `marker` (the rule's own comment block). */
function commentsAbove(content: string, marker: string): string[] {
  const lines = content.split('\n');
  let i = lines.findIndex((l) => l.includes(marker) && !l.trim().startsWith('#'));
  expect(i).toBeGreaterThan(0);
  // Walk up to the rule's `- to:`/`- from:` line, then collect the comments above it.
  while (i > 0 && !/^\s+- (to|from):/.test(lines[i]!)) i--;
  const out: string[] = [];
  for (let j = i - 1; j >= 0 && lines[j]!.trim().startsWith('#'); j--) out.unshift(lines[j]!.trim().slice(2));
  return out;
}

describe('emitNetworkPolicies', () => {
  it('writes one default deny per namespace with workload senders, DNS only to kube-dns in one peer', () => {
    const { r } = sample();
    const files = byPath(emitNetworkPolicies(r, opts()));
    expect(Object.keys(files).filter((p) => p.endsWith('default-deny-egress.yaml'))).toEqual([
      'networkpolicy/shop/default-deny-egress.yaml',
    ]);
    expect(obj(files['networkpolicy/shop/default-deny-egress.yaml'])).toEqual({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'default-deny-egress', namespace: 'shop' },
      spec: {
        podSelector: {},
        policyTypes: ['Egress'],
        egress: [
          {
            to: [
              {
                namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
                podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
              },
            ],
            ports: [
              { protocol: 'TCP', port: 53 },
              { protocol: 'UDP', port: 53 },
            ],
          },
        ],
      },
    });
  });

  it('takes the DNS workload from the inventory, and falls back to k8s-app=kube-dns with a note', () => {
    const { r } = sample();
    const own = { ...r, dns: { namespace: 'dns', selector: { 'app.kubernetes.io/name': 'coredns' } } };
    const peer = obj(byPath(emitNetworkPolicies(own, opts()))['networkpolicy/shop/default-deny-egress.yaml'])
      .spec.egress[0].to[0];
    expect(peer).toEqual({
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'dns' } },
      podSelector: { matchLabels: { 'app.kubernetes.io/name': 'coredns' } },
    });
    const fallback = byPath(emitNetworkPolicies({ ...r, dns: null }, opts()))[
      'networkpolicy/shop/default-deny-egress.yaml'
    ]!;
    expect(obj(fallback).spec.egress[0].to[0].podSelector).toEqual({
      matchLabels: { 'k8s-app': 'kube-dns' },
    });
    expect(fallback).toContain('no DNS workload');
  });

  it('allows each destination in one rule with its exact ports: ipBlocks (IPv4, IPv6) and peer selectors', () => {
    const { r } = sample();
    const np = obj(byPath(emitNetworkPolicies(r, opts()))['networkpolicy/shop/web-egress.yaml']);
    expect(np.metadata).toEqual({ name: 'web-egress', namespace: 'shop' });
    expect(np.spec.podSelector).toEqual({ matchLabels: { 'app.kubernetes.io/name': 'web' } });
    expect(np.spec.policyTypes).toEqual(['Egress']);
    expect(np.spec.egress).toEqual([
      // address:192.0.2.9/32 (SCTP), address:2001:…, host:api…, host:cdn…, peer:… — sorted by destination key.
      { to: [{ ipBlock: { cidr: '192.0.2.9/32' } }], ports: [{ protocol: 'SCTP', port: 3868 }] },
      {
        to: [{ ipBlock: { cidr: '192.0.2.7/32' } }, { ipBlock: { cidr: '2001:db8::7/128' } }],
        ports: [{ protocol: 'TCP', port: 8443 }],
      },
      {
        to: [{ ipBlock: { cidr: '203.0.113.10/32' } }],
        ports: [
          { protocol: 'TCP', port: 80 },
          { protocol: 'TCP', port: 443 },
        ],
      },
      { to: [{ ipBlock: { cidr: '198.51.100.0/24' } }], ports: [{ protocol: 'TCP', port: 443 }] },
      {
        to: [
          {
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'data' } },
            podSelector: { matchLabels: { 'app.kubernetes.io/name': 'db' } },
          },
        ],
        ports: [{ protocol: 'TCP', port: 5432 }],
      },
    ]);
  });

  it('puts evidence, fold reason and the host above each rule; warns where a host rotates addresses', () => {
    const { r, eps } = sample();
    const content = byPath(emitNetworkPolicies(r, opts()))['networkpolicy/shop/web-egress.yaml']!;
    const api = commentsAbove(content, '203.0.113.10/32');
    expect(api[0]).toBe('to host api.example.com');
    expect(api).toContain(`80/TCP: ${evidenceText(eps.api80)}`);
    expect(api).toContain(`443/TCP: ${evidenceText(eps.api443)}`);
    expect(api.join('\n')).not.toContain('rotate');
    const cdn = commentsAbove(content, '198.51.100.0/24');
    expect(cdn[0]).toBe('to host cdn.example.net');
    expect(cdn).toContain('198.51.100.0/24: the name rotated through 9 addresses inside');
    expect(cdn.join(' ')).toMatch(/an ipBlock cannot follow a name well.*EgressRuleSet.*toFQDNs/);
    expect(commentsAbove(content, 'kubernetes.io/metadata.name: data')).toEqual([
      'to in-cluster workload data/StatefulSet/db',
      `5432/TCP: ${evidenceText(eps.db)}`,
    ]);
  });

  it('leaves proxy, ICMP, name-only and DNS endpoints out of the rules, each with a comment saying why', () => {
    const { r } = sample();
    const content = byPath(emitNetworkPolicies(r, opts()))['networkpolicy/shop/web-egress.yaml']!;
    const cidrs = JSON.stringify(obj(content).spec.egress);
    expect(cidrs).not.toContain('192.0.2.1/32');
    expect(cidrs).not.toContain('"port":53');
    expect(content).toMatch(/# endpoint ep-proxy 443\/TCP: reached through the egress proxy.*EgressRuleSet/);
    expect(content).toMatch(/# endpoint ep-icmp: ICMP cannot be expressed in a NetworkPolicy/);
    expect(content).toMatch(
      /# endpoint ep-name-only: host only-name\.example\.com 443\/TCP has no addresses/,
    );
    expect(content).toMatch(/# endpoint ep-dns 53\/UDP: DNS, allowed by default-deny-egress\.yaml/);
  });

  it('writes the ingress each in-cluster destination needs, from every sender, rules sorted', () => {
    const { r, eps } = sample();
    const files = byPath(emitNetworkPolicies(r, opts()));
    const content = files['networkpolicy/data/db-ingress.yaml']!;
    expect(obj(content)).toEqual({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'db-ingress', namespace: 'data' },
      spec: {
        podSelector: { matchLabels: { 'app.kubernetes.io/name': 'db' } },
        policyTypes: ['Ingress'],
        ingress: [
          {
            from: [
              {
                namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'shop' } },
                podSelector: { matchLabels: { 'app.kubernetes.io/name': 'web' } },
              },
            ],
            ports: [{ protocol: 'TCP', port: 5432 }],
          },
          {
            from: [
              {
                namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'shop' } },
                podSelector: { matchLabels: { app: 'worker', tier: 'batch' } },
              },
            ],
            ports: [
              { protocol: 'TCP', port: 5432 },
              { protocol: 'TCP', port: 5433 },
            ],
          },
        ],
      },
    });
    expect(commentsAbove(content, 'tier: batch')).toEqual([
      'from shop/Deployment/worker',
      `5432/TCP: ${evidenceText(eps.dbWorker)}`,
      `5433/TCP: ${evidenceText(eps.dbWorker2)}`,
    ]);
    expect(content).toContain('Applied alone it isolates the destination');
    // DNS traffic is covered by the default deny; isolating kube-dns for ingress would cut the whole cluster off.
    expect(Object.keys(files).some((p) => p.startsWith('networkpolicy/kube-system/'))).toBe(false);
  });

  it("keeps the destination's clients that are not pods (node probes, load balancers) in its ingress policy", () => {
    const { r } = sample();
    const inbound = {
      id: 'in-node',
      destination: db,
      source: 'node/node-a',
      cidrs: [exact('10.0.1.10/32')],
      port: 8080,
      protocol: 'TCP' as const,
      evidence: evidence(),
    };
    const other = { ...inbound, id: 'in-other', destination: workload('shop', 'Deployment', 'web') };
    const files = byPath(emitNetworkPolicies({ ...r, inbound: [inbound, other] }, opts()));
    const ingress = obj(files['networkpolicy/data/db-ingress.yaml']!) as {
      spec: { ingress: { from: unknown[]; ports: unknown[] }[] };
    };
    expect(ingress.spec.ingress.at(-1)).toEqual({
      from: [{ ipBlock: { cidr: '10.0.1.10/32' } }],
      ports: [{ protocol: 'TCP', port: 8080 }],
    });
    expect(ingress.spec.ingress).toHaveLength(3);
    expect(files['networkpolicy/data/db-ingress.yaml']).toContain('from node/node-a (not a pod)');
    // web is not an in-cluster destination of anyone: no ingress policy is written for it at all.
    expect(files['networkpolicy/shop/web-ingress.yaml']).toBeUndefined();
  });

  it('comments out suspicious rules on both sides, lists rare ones, and writes no rule-less ingress policy', () => {
    const susp = [{ code: 'raw-ip-unusual-port' as const, detail: 'port 4444 to a raw address' }];
    const eps = [
      endpoint(web, addressDest([exact('192.0.2.44/32')]), { id: 'ep-susp', port: 4444, suspicions: susp }),
      endpoint(web, peerDest(db), { id: 'ep-susp-db', port: 6000, suspicions: susp }),
      endpoint(web, addressDest([exact('192.0.2.45/32')]), { id: 'ep-rare', port: 25, rare: true }),
      endpoint(web, addressDest([exact('192.0.2.46/32')]), { id: 'ep-ok', port: 443 }),
    ];
    const files = byPath(emitNetworkPolicies(result([web], eps), opts()));
    const content = files['networkpolicy/shop/web-egress.yaml']!;
    const np = obj(content);
    expect(np.spec.egress).toEqual([
      { to: [{ ipBlock: { cidr: '192.0.2.46/32' } }], ports: [{ protocol: 'TCP', port: 443 }] },
    ]);
    expect(content).toContain('# SUSPICIOUS, not enabled: raw-ip-unusual-port (port 4444 to a raw address)');
    // Uncommenting the block gives the rule a person would enable.
    const block = content.split('\n');
    const start = block.findIndex(
      (l) => l.startsWith('# - to:') && block[block.indexOf(l) + 2]?.includes('192.0.2.44'),
    );
    const yamlText = block
      .slice(start, start + 6)
      .map((l) => l.slice(2))
      .join('\n');
    expect(parse(yamlText)).toEqual([
      { to: [{ ipBlock: { cidr: '192.0.2.44/32' } }], ports: [{ protocol: 'TCP', port: 4444 }] },
    ]);
    expect(content).toMatch(/# Seen rarely, not enabled[^\n]*\n# - 192\.0\.2\.45\/32: 25\/TCP: .*id=ep-rare/);
    // Only a suspicious endpoint to db: no ingress policy (one without rules would deny all of db's clients).
    expect(files['networkpolicy/data/db-ingress.yaml']).toBeUndefined();
  });

  it('leaves rejected endpoints out entirely and marks accepted ones', () => {
    const { r, eps } = sample();
    const files = emitNetworkPolicies(
      r,
      opts({ rejected: new Set(['ep-cdn', 'ep-db']), accepted: new Set(['ep-api-443']) }),
    );
    const all = files.map((f) => f.content).join('\n');
    expect(all).not.toContain('ep-cdn');
    expect(all).not.toContain('198.51.100.0/24');
    expect(all).not.toContain('id=ep-db ');
    const web = byPath(files)['networkpolicy/shop/web-egress.yaml']!;
    expect(web).toContain(`# 443/TCP accepted: ${evidenceText(eps.api443)}`);
    expect(web).toContain(`# 80/TCP: ${evidenceText(eps.api80)}`);
    // db still gets worker's ingress, not web's.
    const ingress = obj(byPath(files)['networkpolicy/data/db-ingress.yaml']);
    expect(ingress.spec.ingress.map((r: Parsed) => r.from[0].podSelector.matchLabels)).toEqual([
      { app: 'worker', tier: 'batch' },
    ]);
  });

  it('never selects every pod for a workload without stable labels', () => {
    const bare = sender(workload('shop', 'Pod', 'debug'), { selector: {} });
    const files = byPath(
      emitNetworkPolicies(
        result([bare], [endpoint(bare, addressDest([exact('192.0.2.8/32')]), { id: 'ep-bare' })]),
        opts(),
      ),
    );
    const content = files['networkpolicy/shop/debug-egress.yaml']!;
    expect(parse(content)).toBeNull();
    expect(content).toContain('No policy: shop/Pod/debug has no stable labels');
    expect(content).toContain('endpoint ep-bare');
    expect(content).not.toContain('192.0.2.8');
  });

  it('refuses a peer without labels rather than allowing its whole namespace', () => {
    const e = endpoint(web, peerDest(db, {}), { id: 'ep-nolabels', port: 5432 });
    const files = byPath(emitNetworkPolicies(result([web], [e]), opts()));
    expect(obj(files['networkpolicy/shop/web-egress.yaml']).spec.egress).toEqual([]);
    expect(files['networkpolicy/shop/web-egress.yaml']).toContain(
      'endpoint ep-nolabels: peer data/StatefulSet/db has no stable',
    );
    expect(files['networkpolicy/data/db-ingress.yaml']).toBeUndefined();
  });

  it('drops hostile values with a comment naming the endpoint, never writing them', () => {
    const hostile = [
      endpoint(web, hostDest('evil.example.com\nspec: {}', [exact('192.0.2.66/32')]), { id: 'ep-h1' }),
      endpoint(web, hostDest('*', [exact('192.0.2.67/32')]), { id: 'ep-h2' }),
      endpoint(web, hostDest('x.example.com', [exact('192.0.2.68/32')], ['x.example.com', 'a"; rm -rf /']), {
        id: 'ep-h3',
      }),
      endpoint(web, addressDest([exact('0.0.0.0/0')]), { id: 'ep-any', port: 9000 }),
      endpoint(web, addressDest([exact('::/0'), exact('192.0.2.69/32')]), { id: 'ep-any6', port: 9001 }),
      endpoint(web, addressDest([exact('192.0.2.70/24')]), { id: 'ep-noncanon', port: 9002 }),
      endpoint(web, addressDest([exact('192.0.2.71/32')]), { id: 'ep-p0', port: 0 }),
      endpoint(web, addressDest([exact('192.0.2.72/32')]), { id: 'ep-p1', port: 70000 }),
      endpoint(web, addressDest([exact('192.0.2.73/32')]), { id: 'ep-p2', port: 1.5 }),
      endpoint(web, peerDest(workload('data\n- evil', 'StatefulSet', 'db')), { id: 'ep-peer' }),
      endpoint(web, peerDest(db, { app: 'db', 'bad key': 'x' }), { id: 'ep-label' }),
    ];
    const evilSender = sender(workload('shop', 'Deployment', 'x\n  evil: true'));
    const evilLabels = sender(workload('shop', 'Deployment', 'labels'), {
      selector: { app: 'ok', 'x\ny': 'z' },
    });
    const files = emitNetworkPolicies(result([web, evilSender, evilLabels], hostile), opts());
    const all = files.map((f) => f.content).join('\n');
    const np = obj(byPath(files)['networkpolicy/shop/web-egress.yaml']);
    // Only the canonical /32 of ep-any6 and ep-h3's address survive.
    expect(np.spec.egress).toEqual([
      { to: [{ ipBlock: { cidr: '192.0.2.69/32' } }], ports: [{ protocol: 'TCP', port: 9001 }] },
      { to: [{ ipBlock: { cidr: '192.0.2.68/32' } }], ports: [{ protocol: 'TCP', port: 443 }] },
    ]);
    for (const bad of [
      'evil',
      'rm -rf',
      '0.0.0.0/0',
      '::/0',
      '192.0.2.70',
      'bad key',
      '70000',
      '1.5',
      'x\ny',
    ]) {
      expect(all).not.toContain(bad);
    }
    for (const id of [
      'ep-h1',
      'ep-h2',
      'ep-any',
      'ep-noncanon',
      'ep-p0',
      'ep-p1',
      'ep-p2',
      'ep-peer',
      'ep-label',
    ]) {
      expect(all).toContain(`endpoint ${id}:`);
    }
    expect(all).toContain('(1 name(s) failed validation, not shown)');
    expect(all).toContain('endpoint ep-any6: 1 CIDR(s) failed validation');
    expect(byPath(files)['networkpolicy/skipped.txt']).toMatch(
      /# - sender [0-9a-f]{8}: namespace, kind or name failed validation/,
    );
    expect(parse(byPath(files)['networkpolicy/shop/labels-egress.yaml']!)).toBeNull();
    // Every line of every file is a comment, a YAML line, or empty: no injected line breaks.
    for (const f of files) expect(f.path).toMatch(/^networkpolicy\/([a-z0-9-]+\/)?[a-z0-9-]+\.(yaml|txt)$/);
  });

  it('allows the whole address space only when a person asked for it', () => {
    const e = endpoint(web, addressDest([exact('0.0.0.0/0')]), { id: 'ep-any', port: 443 });
    const r = result([web], [e]);
    const any = { ...r, settings: { ...r.settings, allowAny: true } };
    expect(
      obj(byPath(emitNetworkPolicies(any, opts()))['networkpolicy/shop/web-egress.yaml']).spec.egress,
    ).toEqual([{ to: [{ ipBlock: { cidr: '0.0.0.0/0' } }], ports: [{ protocol: 'TCP', port: 443 }] }]);
  });

  it('keeps label values like yes/on strings for kubectl (YAML 1.1)', () => {
    const s = sender(workload('shop', 'Deployment', 'flags'), {
      selector: { enabled: 'yes', mode: 'on', n: '0755' },
    });
    const e = endpoint(s, addressDest([exact('192.0.2.5/32')]), { id: 'ep-flags' });
    const np = obj(
      byPath(emitNetworkPolicies(result([s], [e]), opts()))['networkpolicy/shop/flags-egress.yaml'],
    );
    expect(np.spec.podSelector.matchLabels).toEqual({ enabled: 'yes', mode: 'on', n: '0755' });
  });

  it('gives workloads that share a name distinct files, and none overwrites the default deny', () => {
    const a = sender(workload('shop', 'Deployment', 'api'));
    const b = sender(workload('shop', 'StatefulSet', 'api'), { selector: { app: 'api-db' } });
    const c = sender(workload('shop', 'Deployment', 'default-deny'));
    const eps = [a, b, c].map((s, i) =>
      endpoint(s, addressDest([exact(`192.0.2.${i + 1}/32`)]), { id: `ep-${i}` }),
    );
    const files = emitNetworkPolicies(result([a, b, c], eps), opts());
    const paths = files.map((f) => f.path);
    expect(new Set(paths).size).toBe(paths.length);
    expect(paths.filter((p) => p.endsWith('-egress.yaml'))).toHaveLength(4);
    expect(obj(byPath(files)['networkpolicy/shop/default-deny-egress.yaml']).spec.podSelector).toEqual({});
    const names = files.map((f) => parse(f.content)?.metadata?.name).filter(Boolean);
    expect(new Set(names).size).toBe(names.length);
  });

  it('notes when a selector also matches another workload', () => {
    const wide = sender(workload('shop', 'Deployment', 'wide'), { selector: { app: 'shop' } });
    const narrow = sender(workload('shop', 'Deployment', 'narrow'), { selector: { app: 'shop', role: 'x' } });
    const eps = [endpoint(wide, addressDest([exact('192.0.2.1/32')]), { id: 'ep-w' })];
    const files = byPath(emitNetworkPolicies(result([wide, narrow], eps), opts()));
    expect(files['networkpolicy/shop/wide-egress.yaml']).toContain(
      'also matches the pods of shop/Deployment/narrow',
    );
  });

  it('gives byte-identical output for the same input, whatever its order', () => {
    const { r } = sample();
    const first = emitNetworkPolicies(r, opts());
    expect(emitNetworkPolicies(r, opts())).toEqual(first);
    const shuffled: InferenceResult = {
      ...r,
      senders: [...r.senders].reverse() as Sender[],
      endpoints: [...r.endpoints].reverse(),
    };
    expect(emitNetworkPolicies(shuffled, opts())).toEqual(first);
    const rotated = { ...r, endpoints: [...r.endpoints.slice(5), ...r.endpoints.slice(0, 5)] };
    expect(emitNetworkPolicies(rotated, opts())).toEqual(first);
  });

  it('writes only NetworkPolicies valid against the Kubernetes OpenAPI schema', () => {
    const { r } = sample();
    const files = emitNetworkPolicies(r, opts()).filter((f) => f.path.endsWith('.yaml'));
    let checked = 0;
    for (const f of files) {
      const o = parse(f.content, { version: '1.1' });
      if (o === null) continue;
      expect(() => new NetworkPolicy(o).validate(), f.path).not.toThrow();
      checked++;
    }
    expect(checked).toBe(4);
    // The validator itself catches what the generator must never write.
    const broken = obj(files.find((f) => f.path.endsWith('web-egress.yaml'))!.content);
    broken.spec.egress[0].ports[0].protocol = 'ICMP';
    expect(() => new NetworkPolicy(broken as Parsed).validate()).toThrow(/protocol/);
  });
});
