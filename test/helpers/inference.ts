/** Builders of inference results for generator tests: realistic defaults, every field overridable. */
import { createHash } from 'node:crypto';
import type {
  Destination,
  Endpoint,
  Evidence,
  FoldedCidr,
  InferenceResult,
  Sender,
} from '../../src/model/endpoint.js';
import { destinationKey } from '../../src/model/endpoint.js';
import type { Workload } from '../../src/model/workload.js';

export const T0 = Date.UTC(2026, 10, 1) / 1000;
export const DAY = 86_400;

export function workload(namespace: string, kind: string, name: string): Workload {
  return { cluster: '', namespace, kind, name };
}

export function sender(w: Workload, over: Partial<Sender> = {}): Sender {
  return {
    id: `${w.namespace}/${w.kind}/${w.name}`,
    kind: 'workload',
    workload: w,
    selector: { 'app.kubernetes.io/name': w.name },
    namespaceLabels: { 'kubernetes.io/metadata.name': w.namespace },
    pods: 3,
    maxReplicas: 3,
    hostNetwork: false,
    securityGroups: [],
    ...over,
  };
}

export function exact(cidr: string): FoldedCidr {
  return { cidr, basis: 'exact', addresses: 1, provider: '', reason: 'one stable address' };
}

export function evidence(over: Partial<Evidence> = {}): Evidence {
  return {
    flows: 120,
    packets: 1200,
    bytes: 345_000,
    firstSeen: T0,
    lastSeen: T0 + 13 * DAY,
    days: 14,
    pods: 3,
    sources: ['vpcflow'],
    sender: 'exact',
    name: 'none',
    addresses: 1,
    ...over,
  };
}

export function hostDest(host: string, cidrs: FoldedCidr[] = [], names: string[] = [host]): Destination {
  return { kind: 'host', host, names, cidrs };
}

export function addressDest(cidrs: FoldedCidr[], dstClass = 'internet', dstName = ''): Destination {
  return { kind: 'address', cidrs, dstClass, dstName };
}

export function peerDest(
  w: Workload,
  selector: Record<string, string> = { 'app.kubernetes.io/name': w.name },
): Destination {
  return {
    kind: 'peer',
    workload: w,
    selector,
    namespaceLabels: { 'kubernetes.io/metadata.name': w.namespace },
  };
}

export function endpoint(s: Sender, destination: Destination, over: Partial<Endpoint> = {}): Endpoint {
  const port = over.port ?? 443;
  const protocol = over.protocol ?? 'TCP';
  const via = over.via ?? 'direct';
  return {
    id: createHash('sha256')
      .update(`${s.id}|${destinationKey(destination)}|${port}/${protocol}|${via}`)
      .digest('hex')
      .slice(0, 16),
    sender: s.id,
    destination,
    port,
    protocol,
    via,
    evidence: evidence(),
    confidence: 0.9,
    rare: false,
    suspicions: [],
    ...over,
  };
}

export function result(senders: Sender[], endpoints: Endpoint[]): InferenceResult {
  return {
    settings: {
      since: T0,
      until: T0 + 14 * DAY,
      maxPrefix4: 16,
      maxPrefix6: 48,
      allowAny: false,
      wildcardMin: 5,
      minFlows: 0,
      minDays: 0,
      dnsGrace: 600,
    },
    observed: { first: T0, last: T0 + 14 * DAY },
    senders: [...senders].sort((a, b) => (a.id < b.id ? -1 : 1)),
    endpoints,
    inbound: [],
    dns: { namespace: 'kube-system', selector: { 'k8s-app': 'kube-dns' } },
  };
}
