import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { emitCilium } from '../../src/emit/cilium.js';
import type { EmitOptions, EmittedFile } from '../../src/emit/document.js';
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

const NONE: EmitOptions = { scope: 'namespace', accepted: new Set(), rejected: new Set() };

const web = sender(workload('shop', 'Deployment', 'web'), { selector: { app: 'web', tier: 'front' } });
const pg = workload('data', 'StatefulSet', 'pg');
const coredns = workload('kube-system', 'Deployment', 'coredns');
const node = sender(workload('', 'Node', 'n1'), {
  id: 'node/n1',
  kind: 'node',
  workload: null,
  selector: {},
  namespaceLabels: {},
});

const DNS_RULE = {
  toEndpoints: [{ matchLabels: { 'k8s:io.kubernetes.pod.namespace': 'kube-system', 'k8s-app': 'kube-dns' } }],
  toPorts: [
    {
      ports: [
        { port: '53', protocol: 'UDP' },
        { port: '53', protocol: 'TCP' },
      ],
      rules: { dns: [{ matchPattern: '*' }] },
    },
  ],
};

const ports = (port: number, protocol = 'TCP') => [{ ports: [{ port: String(port), protocol }] }];

function file(files: readonly EmittedFile[], path: string): EmittedFile {
  const f = files.find((x) => x.path === path);
  if (f === undefined) throw new Error(`no ${path} among ${files.map((x) => x.path).join(', ')}`);
  return f;
}

/** Every document of a file, failing on YAML errors. */
function docs(f: EmittedFile): Record<string, unknown>[] {
  const all = parseAllDocuments(f.content) as unknown as { errors: unknown[]; toJS(): unknown }[];
  for (const d of all) expect(d.errors).toEqual([]);
  return all.map((d) => d.toJS() as Record<string, unknown>).filter((d) => d !== null);
}

function spec(f: EmittedFile): { endpointSelector: unknown; egress: Record<string, unknown>[] } {
  const [d, ...rest] = docs(f);
  expect(rest).toEqual([]);
  return (d as { spec: { endpointSelector: unknown; egress: Record<string, unknown>[] } }).spec;
}

function mixed(): Endpoint[] {
  return [
    endpoint(web, hostDest('api.example.com', [exact('203.0.113.10/32')]), { id: 'e-api' }),
    endpoint(web, hostDest('api.example.com'), { id: 'e-api-proxy', via: 'proxy' }),
    endpoint(web, hostDest('hooks.example.com'), { id: 'e-hooks', via: 'proxy' }),
    endpoint(web, hostDest('*.example.org', [], ['a.example.org', 'b.c.example.org']), {
      id: 'e-wild',
      port: 80,
    }),
    endpoint(web, hostDest('quic.example.com'), { id: 'e-quic', protocol: 'UDP' }),
    endpoint(web, peerDest(pg), { id: 'e-pg', port: 5432 }),
    endpoint(
      web,
      addressDest([
        exact('198.51.100.7/32'),
        { ...exact('192.0.2.0/24'), basis: 'observed', reason: 'covers 9 addresses seen' },
      ]),
      {
        id: 'e-addr',
        port: 8443,
      },
    ),
    endpoint(web, addressDest([exact('198.51.100.99/32')]), { id: 'e-addr-proxy', via: 'proxy' }),
    endpoint(web, peerDest(coredns, { 'k8s-app': 'kube-dns' }), { id: 'e-dns', port: 53, protocol: 'UDP' }),
    endpoint(node, hostDest('registry.example.io'), { id: 'e-node', via: 'proxy' }),
  ];
}

describe('emitCilium', () => {
  it('writes one CiliumNetworkPolicy per workload with FQDN, peer, CIDR and DNS rules', () => {
    const files = emitCilium(result([web, node], mixed()), NONE);
    expect(files.map((f) => f.path)).toEqual(['cilium/shop/web.yaml']);
    const [d] = docs(files[0]!);
    expect(d).toEqual({
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumNetworkPolicy',
      metadata: {
        name: 'web',
        namespace: 'shop',
        labels: { 'app.kubernetes.io/managed-by': 'egress-learner' },
      },
      spec: {
        endpointSelector: { matchLabels: { app: 'web', tier: 'front' } },
        egress: [
          DNS_RULE,
          {
            toFQDNs: [{ matchPattern: '*.example.org' }, { matchName: 'b.c.example.org' }],
            toPorts: ports(80),
          },
          {
            toFQDNs: [{ matchName: 'api.example.com' }, { matchName: 'hooks.example.com' }],
            toPorts: ports(443),
          },
          { toFQDNs: [{ matchName: 'quic.example.com' }], toPorts: ports(443, 'UDP') },
          {
            toEndpoints: [
              { matchLabels: { 'k8s:io.kubernetes.pod.namespace': 'data', 'app.kubernetes.io/name': 'pg' } },
            ],
            toPorts: ports(5432),
          },
          { toCIDRSet: [{ cidr: '192.0.2.0/24' }, { cidr: '198.51.100.7/32' }], toPorts: ports(8443) },
        ],
      },
    });
  });

  it('carries evidence on every selector, merges proxy and direct evidence, and explains folds', () => {
    const text = emitCilium(result([web], mixed()), { ...NONE, accepted: new Set(['e-api']) })[0]!.content;
    const lines = text.split('\n');
    const api = lines.findIndex((l) => l.trim() === '- matchName: api.example.com');
    expect(lines[api - 2]!.trim()).toMatch(
      /^# accepted; shop\/Deployment\/web via direct: flows=120 .*id=e-api$/,
    );
    expect(lines[api - 1]!.trim()).toMatch(/^# shop\/Deployment\/web via proxy: .*id=e-api-proxy$/);
    const deep = lines.findIndex((l) => l.trim() === '- matchName: b.c.example.org');
    expect(lines[deep - 1]!.trim()).toBe(
      "# b.c.example.org: behind *.example.org, deeper than the one label Cilium's * matches",
    );
    const wide = lines.findIndex((l) => l.trim() === '- cidr: 192.0.2.0/24');
    expect(lines[wide - 2]!.trim()).toBe('# 192.0.2.0/24: covers 9 addresses seen');
    expect(lines[wide - 3]!.trim()).toContain('id=e-addr');
    // The learned kube-dns endpoint is covered by the DNS rule and shows up there.
    const dnsRule = lines.findIndex((l) => l.trim() === '- toEndpoints:');
    expect(lines[dnsRule - 1]!.trim()).toContain('id=e-dns');
    expect(text).toContain(
      '# Endpoint e-addr-proxy (address via the egress proxy) is enforced on the proxy, not here',
    );
    expect(text).not.toContain('198.51.100.99');
    expect(lines[0]).toBe(
      '# Candidate CiliumNetworkPolicy generated by egress-learner from observed traffic. Review before applying.',
    );
  });

  it('allows DNS to the inventory’s DNS workload, or to kube-dns by convention', () => {
    const r = result([web], [endpoint(web, hostDest('api.example.com'), { id: 'a' })]);
    const custom: InferenceResult = { ...r, dns: { namespace: 'dns', selector: { app: 'coredns' } } };
    expect(spec(emitCilium(custom, NONE)[0]!).egress[0]).toEqual({
      ...DNS_RULE,
      toEndpoints: [{ matchLabels: { 'k8s:io.kubernetes.pod.namespace': 'dns', app: 'coredns' } }],
    });
    expect(spec(emitCilium({ ...r, dns: null }, NONE)[0]!).egress[0]).toEqual(DNS_RULE);
    const hostile: InferenceResult = { ...r, dns: { namespace: 'dns', selector: { app: 'x\ny: z' } } };
    const f = emitCilium(hostile, NONE)[0]!;
    expect(spec(f).egress[0]).toEqual(DNS_RULE);
    expect(f.content).toContain('unusable labels; using the conventional kube-dns ones');
  });

  it('comments out suspicious selectors as a rule of their own and never leaves an empty selector list', () => {
    const eps = [
      endpoint(web, hostDest('api.example.com'), { id: 'ok' }),
      endpoint(web, hostDest('x7q9zk2m.example.net'), {
        id: 'sus-443',
        suspicions: [{ code: 'high-entropy-name', detail: 'entropy 4.1' }],
      }),
      endpoint(web, addressDest([exact('203.0.113.66/32')]), {
        id: 'sus-addr',
        port: 4444,
        suspicions: [{ code: 'raw-ip-unusual-port', detail: 'port 4444' }],
      }),
    ];
    const f = emitCilium(result([web], eps), NONE)[0]!;
    expect(spec(f).egress).toEqual([
      DNS_RULE,
      { toFQDNs: [{ matchName: 'api.example.com' }], toPorts: ports(443) },
    ]);
    const lines = f.content.split('\n').map((l) => l.trim());
    const sus = lines.indexOf('#     - matchName: x7q9zk2m.example.net');
    expect(lines[sus - 1]).toBe('# - toFQDNs:');
    expect(lines[sus - 3]).toBe('# SUSPICIOUS, not enabled: high-entropy-name (entropy 4.1)');
    expect(lines[sus - 2]).toContain('id=sus-443');
    const addr = lines.indexOf('#     - cidr: 203.0.113.66/32');
    expect(lines[addr - 1]).toBe('# - toCIDRSet:');
    expect(lines).toContain('#         - port: "4444"');
    // Deleting the `# ` gives the rule back, ready to go into the list.
    const raw = f.content.split('\n');
    const from = raw.findIndex((l) => l === '    # - toFQDNs:');
    let to = from;
    while (to < raw.length && /^ {4}# [ -]/.test(raw[to]!)) to++;
    const block = raw.slice(from, to).map((l) => l.slice('    # '.length));
    expect(parse(block.join('\n'))).toEqual([
      { toFQDNs: [{ matchName: 'x7q9zk2m.example.net' }], toPorts: ports(443) },
    ]);
  });

  it('lists rare endpoints without allowing them and leaves rejected ones out entirely', () => {
    const eps = [
      endpoint(web, hostDest('api.example.com'), { id: 'ok' }),
      endpoint(web, hostDest('once.example.net'), { id: 'rare', rare: true }),
      endpoint(web, peerDest(pg), { id: 'rej', port: 5432 }),
    ];
    const f = emitCilium(result([web], eps), { ...NONE, rejected: new Set(['rej']) })[0]!;
    expect(spec(f).egress).toEqual([
      DNS_RULE,
      { toFQDNs: [{ matchName: 'api.example.com' }], toPorts: ports(443) },
    ]);
    const lines = f.content.split('\n');
    const rare = lines.indexOf('#   once.example.net 443/TCP');
    expect(lines[rare - 1]).toBe('# Seen rarely, not enabled (min-flows=0, min-days=0):');
    expect(lines[rare + 1]).toContain('id=rare');
    expect(f.content).not.toContain('id=rej');
    expect(f.content).not.toContain('namespace: data');
  });

  it('writes no file for a workload whose endpoints were all rejected, nor for nodes', () => {
    const eps = [endpoint(web, hostDest('api.example.com'), { id: 'rej' })];
    expect(emitCilium(result([web], eps), { ...NONE, rejected: new Set(['rej']) })).toEqual([]);
    expect(
      emitCilium(result([node], [endpoint(node, hostDest('a.example.com'), { id: 'n' })]), NONE),
    ).toEqual([]);
  });

  it('drops hostile names, peers, CIDRs, ports and ICMP with a comment naming only the endpoint id', () => {
    const eps = [
      endpoint(web, hostDest('good.example.com'), { id: 'good' }),
      endpoint(web, hostDest('a.example.com\n  - matchPattern: "*"'), { id: 'h-newline' }),
      endpoint(web, hostDest('*'), { id: 'h-star' }),
      endpoint(web, hostDest('*.co.uk'), { id: 'h-suffix' }),
      endpoint(web, hostDest('$(id).example.com'), { id: 'h-shell' }),
      endpoint(web, peerDest(pg, {}), { id: 'p-empty', port: 5432 }),
      endpoint(web, peerDest(pg, { app: 'pg', 'bad key!': 'x' }), { id: 'p-badkey', port: 5432 }),
      endpoint(web, peerDest(workload('Data NS', 'StatefulSet', 'pg')), { id: 'p-badns', port: 5432 }),
      endpoint(web, addressDest([exact('0.0.0.0/0')]), { id: 'c-any' }),
      endpoint(web, addressDest([exact('::/0')]), { id: 'c-any6' }),
      endpoint(web, addressDest([exact('10.0.0.1/8')]), { id: 'c-noncanon' }),
      endpoint(web, addressDest([exact('10.0.0.1/32\n- cidr: 0.0.0.0/0')]), { id: 'c-inject' }),
      endpoint(web, hostDest('zero.example.com'), { id: 'port-zero', port: 0 }),
      endpoint(web, hostDest('big.example.com'), { id: 'port-big', port: 65536 }),
      endpoint(web, addressDest([exact('198.51.100.1/32')]), { id: 'icmp', port: 0, protocol: 'ICMP' }),
    ];
    const f = emitCilium(result([web], eps), NONE)[0]!;
    expect(spec(f).egress).toEqual([
      DNS_RULE,
      { toFQDNs: [{ matchName: 'good.example.com' }], toPorts: ports(443) },
    ]);
    for (const e of eps.slice(1)) expect(f.content).toContain(`# Dropped endpoint ${e.id}: `);
    for (const bad of [
      '0.0.0.0',
      '::/0',
      '10.0.0',
      '$(id)',
      'co.uk',
      'bad key',
      'Data NS',
      'zero.',
      'big.',
    ]) {
      expect(f.content).not.toContain(bad);
    }
    // The only `matchPattern: "*"` is the DNS visibility rule.
    expect(f.content.match(/matchPattern: "\*"/g)).toHaveLength(1);
  });

  it('allows the whole address space only when a person asked for it', () => {
    const eps = [endpoint(web, addressDest([exact('0.0.0.0/0')]), { id: 'any' })];
    const base = result([web], eps);
    const allowAny: InferenceResult = { ...base, settings: { ...base.settings, allowAny: true } };
    expect(spec(emitCilium(allowAny, NONE)[0]!).egress[1]).toEqual({
      toCIDRSet: [{ cidr: '0.0.0.0/0' }],
      toPorts: ports(443),
    });
  });

  it('writes a policy-free file when the selector would be empty or trimmed, or the pods use the host network', () => {
    const noLabels = sender(workload('shop', 'Job', 'once'), { selector: {} });
    const badLabel = sender(workload('shop', 'Deployment', 'odd'), {
      selector: { app: 'odd', 'x/y/z': 'v' },
    });
    const hostNet = sender(workload('kube-system', 'DaemonSet', 'agent'), { hostNetwork: true });
    const eps = [noLabels, badLabel, hostNet].map((s, i) =>
      endpoint(s, hostDest('a.example.com'), { id: `e${i}` }),
    );
    const files = emitCilium(result([noLabels, badLabel, hostNet], eps), NONE);
    expect(files.map((f) => f.path)).toEqual([
      'cilium/kube-system/agent.yaml',
      'cilium/shop/odd.yaml',
      'cilium/shop/once.yaml',
    ]);
    for (const f of files) {
      expect(docs(f)).toEqual([]);
      expect(f.content.split('\n').filter((l) => l !== '' && !l.startsWith('#'))).toEqual([]);
    }
    expect(file(files, 'cilium/shop/once.yaml').content).toContain(
      '# No policy: the pods share no stable, valid labels',
    );
    expect(file(files, 'cilium/kube-system/agent.yaml').content).toContain('# No policy: hostNetwork pods');
  });

  it('is byte-identical across runs and input orders', () => {
    const senders: Sender[] = [web, node];
    const a = emitCilium(result(senders, mixed()), NONE);
    expect(emitCilium(result(senders, mixed()), NONE)).toEqual(a);
    const reversed: InferenceResult = {
      ...result(senders, []),
      senders: [node, web],
      endpoints: mixed().reverse(),
    };
    expect(emitCilium(reversed, NONE)).toEqual(a);
  });
});
