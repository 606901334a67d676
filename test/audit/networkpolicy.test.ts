import { describe, expect, it } from 'vitest';
import { ConnectionSet, type Protocol } from '../../src/audit/connection-set.js';
import { ManifestError } from '../../src/audit/manifest-error.js';
import {
  evaluateConnection,
  pairConnections,
  parseNetworkPolicy,
  type NetworkPolicy,
} from '../../src/audit/networkpolicy.js';
import type { ContainerPort, IpPeer, PodPeer } from '../../src/audit/peer.js';

function pod(namespace: string, labels: Record<string, string>, ports: ContainerPort[] = []): PodPeer {
  return {
    kind: 'pod',
    namespace,
    labels,
    namespaceLabels: {
      'kubernetes.io/metadata.name': namespace,
      ...(namespace === 'prod' ? { env: 'prod' } : {}),
    },
    ports,
  };
}

const ip = (text: string): IpPeer => ({ kind: 'ip', ip: text });

function policy(namespace: string, name: string, spec: Record<string, unknown>): NetworkPolicy {
  return parseNetworkPolicy({ kind: 'NetworkPolicy', metadata: { namespace, name }, spec });
}

const allowed = (
  policies: NetworkPolicy[],
  src: PodPeer | IpPeer,
  dst: PodPeer | IpPeer,
  port = 80,
  protocol: Protocol = 'TCP',
): boolean => evaluateConnection(policies, src, dst, port, protocol).allowed;

const web = pod('prod', { app: 'web' });
const db = pod('prod', { app: 'db' }, [
  { name: 'pg', port: 5432, protocol: 'TCP' },
  { name: 'metrics', port: 9187, protocol: 'UDP' },
]);
const devWeb = pod('dev', { app: 'web' });

describe('isolation', () => {
  it('a pod no policy selects allows everything both ways', () => {
    const other = policy('dev', 'deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    const v = evaluateConnection([other], web, db, 5432, 'TCP');
    expect(v).toMatchObject({ allowed: true, egress: { isolated: false }, ingress: { isolated: false } });
  });

  it('without policyTypes a policy isolates ingress always, egress only when it has egress rules', () => {
    const ingressOnly = policy('prod', 'p', { podSelector: { matchLabels: { app: 'web' } }, ingress: [] });
    // web is ingress-isolated with no rules (deny), but its egress stays open.
    expect(allowed([ingressOnly], db, web)).toBe(false);
    expect(allowed([ingressOnly], web, db, 5432)).toBe(true);

    const withEgress = policy('prod', 'p', {
      podSelector: { matchLabels: { app: 'web' } },
      egress: [{ ports: [{ port: 5432 }] }],
    });
    expect(allowed([withEgress], web, db, 5432)).toBe(true);
    expect(allowed([withEgress], web, db, 80)).toBe(false);
    // Ingress is isolated too (no ingress rules: deny).
    expect(allowed([withEgress], db, web)).toBe(false);
  });

  it('an empty egress list or policyTypes list counts as absent', () => {
    const p = policy('prod', 'p', { podSelector: {}, policyTypes: [], egress: [] });
    expect(p.affects).toEqual({ ingress: true, egress: false });
  });

  it('explicit policyTypes win over the rules present', () => {
    const egressOnly = policy('prod', 'p', {
      podSelector: { matchLabels: { app: 'db' } },
      policyTypes: ['Egress'],
      ingress: [{ from: [{ podSelector: { matchLabels: { app: 'nobody' } } }] }],
    });
    // Ingress rules are ignored: db is not ingress-isolated, and its egress is default-deny.
    expect(allowed([egressOnly], web, db, 5432)).toBe(true);
    expect(allowed([egressOnly], db, web)).toBe(false);
    expect(allowed([egressOnly], db, ip('8.8.8.8'), 53, 'UDP')).toBe(false);
  });

  it('selects pods only in its own namespace', () => {
    const denyAll = policy('prod', 'deny', { podSelector: {}, policyTypes: ['Ingress'] });
    expect(allowed([denyAll], web, db)).toBe(false);
    expect(allowed([denyAll], web, devWeb)).toBe(true);
  });

  it('allows the union of every selecting policy', () => {
    const a = policy('prod', 'a', { podSelector: {}, ingress: [{ ports: [{ port: 80 }] }] });
    const b = policy('prod', 'b', {
      podSelector: { matchLabels: { app: 'db' } },
      ingress: [{ ports: [{ port: 5432 }] }],
    });
    const conns = pairConnections([a, b], web, db).allowed;
    expect(ConnectionSet.format(conns)).toBe('TCP 80,5432');
  });
});

describe('rule peers', () => {
  const combined = policy('prod', 'combined', {
    podSelector: { matchLabels: { app: 'db' } },
    ingress: [
      {
        from: [
          {
            namespaceSelector: { matchLabels: { env: 'prod' } },
            podSelector: { matchLabels: { app: 'web' } },
          },
        ],
      },
    ],
  });
  const separate = policy('prod', 'separate', {
    podSelector: { matchLabels: { app: 'db' } },
    ingress: [
      {
        from: [
          { namespaceSelector: { matchLabels: { env: 'dev' } } },
          { podSelector: { matchLabels: { app: 'web' } } },
        ],
      },
    ],
  });
  const devOther = pod('dev', { app: 'other' });
  const prodOther = pod('prod', { app: 'other' });

  it('namespaceSelector and podSelector in one entry must both match', () => {
    expect(allowed([combined], web, db)).toBe(true);
    expect(allowed([combined], devWeb, db)).toBe(false);
    expect(allowed([combined], prodOther, db)).toBe(false);
  });

  it('separate entries are alternatives, and podSelector alone means the policy namespace', () => {
    const devNs = { ...devOther, namespaceLabels: { ...devOther.namespaceLabels, env: 'dev' } };
    expect(allowed([separate], devNs, db)).toBe(true);
    expect(allowed([separate], web, db)).toBe(true);
    expect(allowed([separate], devWeb, db)).toBe(false);
    expect(allowed([separate], prodOther, db)).toBe(false);
  });

  it('an empty namespaceSelector means every namespace, but no external address', () => {
    const anyNs = policy('prod', 'any', {
      podSelector: {},
      ingress: [{ from: [{ namespaceSelector: {} }] }],
    });
    expect(allowed([anyNs], devOther, db)).toBe(true);
    expect(allowed([anyNs], ip('10.0.0.1'), db)).toBe(false);
  });

  it('a rule without from matches every peer, external addresses included', () => {
    const open = policy('prod', 'open', { podSelector: {}, ingress: [{ ports: [{ port: 443 }] }] });
    expect(allowed([open], ip('203.0.113.9'), web, 443)).toBe(true);
    expect(allowed([open], devOther, web, 443)).toBe(true);
    expect(allowed([open], devOther, web, 80)).toBe(false);
  });

  it('ipBlock matches addresses in cidr minus except, and never pods', () => {
    const p = policy('prod', 'egress-ext', {
      podSelector: { matchLabels: { app: 'web' } },
      policyTypes: ['Egress'],
      egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }] }],
    });
    expect(allowed([p], web, ip('10.2.3.4'))).toBe(true);
    expect(allowed([p], web, ip('10.1.3.4'))).toBe(false);
    expect(allowed([p], web, ip('11.0.0.1'))).toBe(false);
    expect(allowed([p], web, db, 5432)).toBe(false);
  });
});

describe('rule ports', () => {
  it('defaults to TCP, and a port without number allows every port of its protocol', () => {
    const p = policy('prod', 'p', {
      podSelector: {},
      ingress: [{ ports: [{ port: 53, protocol: 'UDP' }, { protocol: 'SCTP' }, { port: 80 }] }],
    });
    expect(allowed([p], web, db, 53, 'UDP')).toBe(true);
    expect(allowed([p], web, db, 53, 'TCP')).toBe(false);
    expect(allowed([p], web, db, 9999, 'SCTP')).toBe(true);
    expect(allowed([p], web, db, 80, 'TCP')).toBe(true);
    expect(allowed([p], web, db, 80, 'UDP')).toBe(false);
  });

  it('endPort allows the inclusive range', () => {
    const p = policy('prod', 'p', { podSelector: {}, ingress: [{ ports: [{ port: 8080, endPort: 8090 }] }] });
    expect([8079, 8080, 8090, 8091].map((port) => allowed([p], web, db, port))).toEqual([
      false,
      true,
      true,
      false,
    ]);
  });

  it('a named port resolves against the destination pod, with the same protocol', () => {
    const ingress = policy('prod', 'in', {
      podSelector: { matchLabels: { app: 'db' } },
      ingress: [{ ports: [{ port: 'pg' }, { port: 'metrics' }] }],
    });
    expect(allowed([ingress], web, db, 5432)).toBe(true);
    // `metrics` is a UDP container port; the rule's protocol defaults to TCP, so it allows nothing.
    expect(allowed([ingress], web, db, 9187, 'UDP')).toBe(false);
    expect(allowed([ingress], web, db, 9187, 'TCP')).toBe(false);
  });

  it("an egress named port resolves against the destination, not the source's ports", () => {
    const egress = policy('prod', 'out', {
      podSelector: { matchLabels: { app: 'web' } },
      policyTypes: ['Egress'],
      egress: [{ ports: [{ port: 'pg' }] }],
    });
    expect(allowed([egress], web, db, 5432)).toBe(true);
    const webWithPg = pod('prod', { app: 'web' }, [{ name: 'pg', port: 6000, protocol: 'TCP' }]);
    expect(allowed([egress], webWithPg, db, 6000)).toBe(false);
    // An address has no named ports.
    expect(allowed([egress], web, ip('10.0.0.1'), 5432)).toBe(false);
  });
});

describe('evaluateConnection', () => {
  const egress = policy('prod', 'web-out', {
    podSelector: { matchLabels: { app: 'web' } },
    policyTypes: ['Egress'],
    egress: [{ to: [{ podSelector: { matchLabels: { app: 'cache' } } }] }, { ports: [{ port: 5432 }] }],
  });
  const ingress = policy('prod', 'db-in', {
    podSelector: { matchLabels: { app: 'db' } },
    ingress: [{ from: [{ podSelector: { matchLabels: { app: 'batch' } } }] }],
  });

  it('needs egress at the source and ingress at the destination, and names the rules', () => {
    const v = evaluateConnection([egress, ingress], web, db, 5432, 'TCP');
    expect(v.allowed).toBe(false);
    expect(v.egress).toEqual({
      isolated: true,
      allowed: true,
      allowedBy: [{ namespace: 'prod', name: 'web-out', direction: 'egress', rule: 1 }],
      isolatedBy: [{ namespace: 'prod', name: 'web-out' }],
    });
    expect(v.ingress).toMatchObject({
      isolated: true,
      allowed: false,
      allowedBy: [],
      isolatedBy: [{ name: 'db-in' }],
    });

    const batch = pod('prod', { app: 'batch' });
    expect(evaluateConnection([egress, ingress], batch, db, 5432, 'TCP')).toMatchObject({
      allowed: true,
      egress: { isolated: false },
      ingress: { allowedBy: [{ name: 'db-in', direction: 'ingress', rule: 0 }] },
    });
  });

  it('an external source has no egress side', () => {
    const v = evaluateConnection([ingress], ip('198.51.100.1'), db, 5432, 'TCP');
    expect(v.egress).toEqual({ isolated: false, allowed: true, allowedBy: [], isolatedBy: [] });
    expect(v.allowed).toBe(false);
  });

  it('refuses an address that is not one', () => {
    const p = policy('prod', 'p', {
      podSelector: {},
      ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8' } }] }],
    });
    expect(() => evaluateConnection([p], ip('not-an-ip'), db, 80, 'TCP')).toThrow(RangeError);
  });
});

describe('parseNetworkPolicy', () => {
  const bad =
    (spec: Record<string, unknown>): (() => NetworkPolicy) =>
    () =>
      policy('prod', 'bad', spec);

  it('defaults the namespace and a missing podSelector', () => {
    const p = parseNetworkPolicy({ kind: 'NetworkPolicy', metadata: { name: 'x' }, spec: {} });
    expect(p.namespace).toBe('default');
    expect(p.affects).toEqual({ ingress: true, egress: false });
    expect(allowed([p], web, pod('default', { any: 'pod' }))).toBe(false);
  });

  it('refuses what the API server refuses, naming the policy and the field', () => {
    expect(bad({ ingress: [{ ports: [{ port: 90, endPort: 80 }] }] })).toThrow(
      /NetworkPolicy prod\/bad: spec\.ingress\[0\]\.ports\[0\]\.endPort: 80 is below port 90/,
    );
    expect(bad({ ingress: [{ ports: [{ port: 'http', endPort: 80 }] }] })).toThrow(/needs a numeric port/);
    expect(bad({ ingress: [{ ports: [{ port: 80, protocol: 'ICMP' }] }] })).toThrow(/protocol/);
    expect(bad({ ingress: [{ ports: [{ port: 70000 }] }] })).toThrow(/not a port number/);
    expect(bad({ ingress: [{ from: [{}] }] })).toThrow(/needs podSelector, namespaceSelector or ipBlock/);
    expect(bad({ egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/8' }, podSelector: {} }] }] })).toThrow(
      /cannot be combined/,
    );
    expect(bad({ egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0' } }] }] })).toThrow(/not a CIDR/);
    expect(bad({ egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['x'] } }] }] })).toThrow(
      /except\[0\]: "x" is not a CIDR/,
    );
    expect(bad({ policyTypes: ['ingress'] })).toThrow(/policyTypes/);
    expect(bad({ ingress: { from: [] } })).toThrow(ManifestError);
  });
});
