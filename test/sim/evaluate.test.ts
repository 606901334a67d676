import { describe, expect, it } from 'vitest';
import {
  connectionAllowed,
  egressRanges,
  ipv4Size,
  parsePolicy,
  targetMatches,
  type Policy,
} from '../../scripts/sim/evaluate.js';
import type { PodEnd } from '../../scripts/sim/truth.js';

const web = {
  namespace: 'shop',
  labels: { app: 'web' },
  namespaceLabels: { 'kubernetes.io/metadata.name': 'shop' },
  workload: 'shop/Deployment/web',
};
const api: PodEnd = {
  namespace: 'shop',
  workload: 'shop/Deployment/api',
  labels: { app: 'api' },
  namespaceLabels: { 'kubernetes.io/metadata.name': 'shop' },
  ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
};

function policy(spec: object, namespace = 'shop'): Policy {
  return parsePolicy({ kind: 'NetworkPolicy', metadata: { name: 'p', namespace }, spec }, 'test.yaml');
}

describe('the simulation scorer reads NetworkPolicy semantics', () => {
  it('allows everything until a policy selects the pod for egress', () => {
    const ingressOnly = policy({ podSelector: {}, ingress: [] });
    expect(connectionAllowed([ingressOnly], web, { kind: 'ip', ip: '1.2.3.4' }, 443, 'TCP').allowed).toBe(
      true,
    );
    const deny = policy({ podSelector: {}, policyTypes: ['Egress'] });
    expect(connectionAllowed([deny], web, { kind: 'ip', ip: '1.2.3.4' }, 443, 'TCP').allowed).toBe(false);
  });

  it('applies ipBlock except and ports, and never ipBlocks to pods', () => {
    const p = policy({
      podSelector: { matchLabels: { app: 'web' } },
      policyTypes: ['Egress'],
      egress: [
        {
          to: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }],
          ports: [{ protocol: 'TCP', port: 443 }],
        },
      ],
    });
    expect(connectionAllowed([p], web, { kind: 'ip', ip: '10.2.0.1' }, 443, 'TCP').allowed).toBe(true);
    expect(connectionAllowed([p], web, { kind: 'ip', ip: '10.1.0.1' }, 443, 'TCP').allowed).toBe(false);
    expect(connectionAllowed([p], web, { kind: 'ip', ip: '10.2.0.1' }, 80, 'TCP').allowed).toBe(false);
    expect(connectionAllowed([p], web, { kind: 'pod', pod: api }, 443, 'TCP').allowed).toBe(false);
    expect(ipv4Size(egressRanges([p]))).toBe(2 ** 24 - 2 ** 16);
  });

  it('needs egress at the source and ingress at the destination pod; named ports resolve on the destination', () => {
    const egress = policy({
      podSelector: { matchLabels: { app: 'web' } },
      policyTypes: ['Egress'],
      egress: [{ to: [{ podSelector: { matchLabels: { app: 'api' } } }], ports: [{ port: 'http' }] }],
    });
    const ingress = policy({
      podSelector: { matchLabels: { app: 'api' } },
      ingress: [{ from: [{ podSelector: { matchLabels: { app: 'other' } } }] }],
    });
    expect(connectionAllowed([egress], web, { kind: 'pod', pod: api }, 8080, 'TCP').allowed).toBe(true);
    expect(connectionAllowed([egress, ingress], web, { kind: 'pod', pod: api }, 8080, 'TCP').allowed).toBe(
      false,
    );
    // A podSelector without namespaceSelector selects the policy's own namespace only.
    const elsewhere = {
      ...api,
      namespace: 'other',
      namespaceLabels: { 'kubernetes.io/metadata.name': 'other' },
    };
    expect(connectionAllowed([egress], web, { kind: 'pod', pod: elsewhere }, 8080, 'TCP').allowed).toBe(
      false,
    );
  });

  it('matches EgressRuleSet targets exactly or by wildcard below the domain', () => {
    expect(targetMatches({ host: 'api.example.com', port: 443 }, 'API.example.com', 443)).toBe(true);
    expect(targetMatches({ host: '*.example.com', port: 443 }, 'a.b.example.com', 443)).toBe(true);
    expect(targetMatches({ host: '*.example.com', port: 443 }, 'example.com', 443)).toBe(false);
    expect(targetMatches({ host: '*.example.com', port: 443 }, 'badexample.com', 443)).toBe(false);
    expect(targetMatches({ host: 'api.example.com', port: 443 }, 'api.example.com', 80)).toBe(false);
  });
});
