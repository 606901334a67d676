/**
 * Pure mapping from Kubernetes API objects to inventory records (src/model/workload.ts). The same functions read
 * objects from the client library (timestamps are `Date`), from a watch stream and from `kubectl get -o json`
 * (timestamps are RFC 3339 strings), so every field is checked at run time: a snapshot file is user input.
 * Nothing here throws on bad input; a malformed object comes back as a bounded reason.
 *
 * API reference: https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/
 */
import type {
  V1Job,
  V1Namespace,
  V1Node,
  V1OwnerReference,
  V1Pod,
  V1ReplicaSet,
  V1Service,
} from '@kubernetes/client-node';
import { canonicalIp } from '../../src/model/ip.js';
import type {
  NamedPort,
  NamespaceRecord,
  NodeRecord,
  PodRecord,
  PortProtocol,
  ServicePort,
  ServiceRecord,
  Workload,
} from '../../src/model/workload.js';

export const INVENTORY_REJECT_REASONS = [
  'not_an_object',
  'missing_name',
  'missing_namespace',
  'missing_uid',
  'bad_ip',
  'bad_time',
] as const;
export type InventoryRejectReason = (typeof INVENTORY_REJECT_REASONS)[number];

export type MapOutcome<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: InventoryRejectReason };

/**
 * Labels that change with every rollout, revision or job run and so do not identify a workload. Kept, they would
 * split one workload's leases into generations and, once labels become NetworkPolicy selectors, pin a policy to
 * a single ReplicaSet / revision / run (the same reason inspektor-gadget's advise drops `pod-template-hash`).
 */
export const CHURN_LABELS: ReadonlySet<string> = new Set([
  'pod-template-hash', // Deployment: hash of the pod template, new on every rollout
  'controller-revision-hash', // StatefulSet / DaemonSet revision
  'pod-template-generation', // DaemonSet (legacy) generation counter
  'statefulset.kubernetes.io/pod-name', // one value per replica
  'apps.kubernetes.io/pod-index', // StatefulSet ordinal
  'controller-uid', // Job (legacy): uid of one run
  'batch.kubernetes.io/controller-uid',
  'job-name', // Job (legacy): for a CronJob, a new name per run
  'batch.kubernetes.io/job-name',
  'batch.kubernetes.io/job-completion-index',
]);

/** Labels minus {@link CHURN_LABELS}, with keys sorted so the JSON form is stable. */
export function workloadLabels(labels: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isObject(labels)) return out;
  for (const key of Object.keys(labels).sort()) {
    const v = labels[key];
    if (typeof v === 'string' && !CHURN_LABELS.has(key)) out[key] = v;
  }
  return out;
}

/** Every label, keys sorted (namespaces and nodes: nothing there churns per rollout). */
function allLabels(labels: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isObject(labels)) return out;
  for (const key of Object.keys(labels).sort()) {
    const v = labels[key];
    if (typeof v === 'string') out[key] = v;
  }
  return out;
}

/** The controller an owned object (ReplicaSet, Job) points at, or null when nothing controls it. */
export interface ControllerRef {
  readonly kind: string;
  readonly name: string;
}

/**
 * What owner resolution needs to know about ReplicaSets and Jobs: `namespace/Kind/name` → the object's own
 * controller (null when it has none). Memory follows the live ReplicaSets and Jobs.
 */
export type OwnerIndex = Map<string, ControllerRef | null>;

export function ownerKey(namespace: string, kind: string, name: string): string {
  return `${namespace}/${kind}/${name}`;
}

/** Adds (or replaces) a ReplicaSet or Job in the owner index; returns false for an object without a name. */
export function indexOwner(
  index: OwnerIndex,
  kind: 'ReplicaSet' | 'Job',
  obj: V1ReplicaSet | V1Job,
): boolean {
  const meta = (obj as { metadata?: unknown }).metadata;
  if (!isObject(meta) || typeof meta.name !== 'string' || typeof meta.namespace !== 'string') return false;
  const ref = controllerOf(meta.ownerReferences);
  index.set(
    ownerKey(meta.namespace, kind, meta.name),
    ref === null ? null : { kind: ref.kind, name: ref.name },
  );
  return true;
}

export function unindexOwner(index: OwnerIndex, kind: 'ReplicaSet' | 'Job', obj: V1ReplicaSet | V1Job): void {
  const meta = (obj as { metadata?: unknown }).metadata;
  if (isObject(meta) && typeof meta.name === 'string' && typeof meta.namespace === 'string') {
    index.delete(ownerKey(meta.namespace, kind, meta.name));
  }
}

/** The owner reference marked `controller: true`, else the first one, else null. */
export function controllerOf(refs: unknown): V1OwnerReference | null {
  if (!Array.isArray(refs)) return null;
  let first: V1OwnerReference | null = null;
  for (const r of refs) {
    if (!isObject(r) || typeof r.kind !== 'string' || typeof r.name !== 'string') continue;
    const ref = r as unknown as V1OwnerReference;
    if (ref.controller === true) return ref;
    first ??= ref;
  }
  return first;
}

/**
 * The owner a pod names that is not yet in the index (so the caller may fetch it), or null when resolution
 * needs nothing more.
 */
export function missingOwner(
  pod: V1Pod,
  index: OwnerIndex,
): { kind: 'ReplicaSet' | 'Job'; namespace: string; name: string } | null {
  const ns = pod.metadata?.namespace;
  const ref = controllerOf(pod.metadata?.ownerReferences);
  if (typeof ns !== 'string' || ref === null) return null;
  if (ref.kind !== 'ReplicaSet' && ref.kind !== 'Job') return null;
  return index.has(ownerKey(ns, ref.kind, ref.name))
    ? null
    : { kind: ref.kind, namespace: ns, name: ref.name };
}

/**
 * Resolves a pod to the workload people name: Pod → ReplicaSet → Deployment, StatefulSet, DaemonSet,
 * Job → CronJob, else the bare Pod. A ReplicaSet missing from the index (a `kubectl get pods` snapshot without
 * replicasets) still resolves to its Deployment when the pod's `pod-template-hash` label is the suffix of the
 * ReplicaSet's name, which is how the Deployment controller names them (`<deployment>-<hash>`). A Job missing
 * from the index stays a Job: a CronJob's job names (`<cronjob>-<minutes>`) are not safe to guess from.
 */
export function resolveWorkload(pod: V1Pod, index: OwnerIndex, cluster = ''): Workload {
  const namespace = pod.metadata?.namespace ?? '';
  const podName = pod.metadata?.name ?? '';
  const ref = controllerOf(pod.metadata?.ownerReferences);
  const w = (kind: string, name: string): Workload => ({ cluster, namespace, kind, name });
  // Static pods' mirror objects are owned by their Node; each is its own workload.
  if (ref === null || ref.kind === 'Node') return w('Pod', podName);
  if (ref.kind === 'ReplicaSet' || ref.kind === 'Job') {
    const owner = index.get(ownerKey(namespace, ref.kind, ref.name));
    if (owner !== undefined) return owner === null ? w(ref.kind, ref.name) : w(owner.kind, owner.name);
    if (ref.kind === 'ReplicaSet') {
      const hash = pod.metadata?.labels?.['pod-template-hash'];
      if (typeof hash === 'string' && hash !== '' && ref.name.endsWith(`-${hash}`)) {
        return w('Deployment', ref.name.slice(0, -hash.length - 1));
      }
    }
    return w(ref.kind, ref.name);
  }
  return w(ref.kind, ref.name);
}

/** Maps a pod. `index` must already hold the pod's ReplicaSet / Job for exact owner resolution. */
export function toPodRecord(pod: V1Pod, index: OwnerIndex, cluster = ''): MapOutcome<PodRecord> {
  if (!isObject(pod)) return reject('not_an_object');
  const meta = pod.metadata;
  if (!isObject(meta) || typeof meta.name !== 'string' || meta.name === '') return reject('missing_name');
  if (typeof meta.namespace !== 'string' || meta.namespace === '') return reject('missing_namespace');
  if (typeof meta.uid !== 'string' || meta.uid === '') return reject('missing_uid');
  const spec = fields(pod.spec);
  const status = fields(pod.status);
  const ips: string[] = [];
  // status.podIPs holds one address per family (dual stack); podIP alone is the older form of its first entry.
  const listed = Array.isArray(status.podIPs) ? status.podIPs : [];
  for (const entry of listed) {
    const text = isObject(entry) ? entry.ip : undefined;
    if (typeof text !== 'string') return reject('bad_ip');
    const ip = canonicalIp(text);
    if (ip === null) return reject('bad_ip');
    if (!ips.includes(ip)) ips.push(ip);
  }
  if (ips.length === 0 && typeof status.podIP === 'string' && status.podIP !== '') {
    const ip = canonicalIp(status.podIP);
    if (ip === null) return reject('bad_ip');
    ips.push(ip);
  }
  const createdAt = epoch(meta.creationTimestamp);
  const startedAt = epoch(status.startTime);
  const deletedAt = epoch(meta.deletionTimestamp);
  if (createdAt === undefined || startedAt === undefined || deletedAt === undefined)
    return reject('bad_time');
  const phase = typeof status.phase === 'string' ? status.phase : '';
  let finishedAt: number | null = null;
  if (phase === 'Succeeded' || phase === 'Failed') {
    const f = latestFinish(status.containerStatuses, status.initContainerStatuses);
    if (f === undefined) return reject('bad_time');
    finishedAt = f;
  }
  return {
    ok: true,
    value: {
      uid: meta.uid,
      namespace: meta.namespace,
      name: meta.name,
      workload: resolveWorkload(pod, index, cluster),
      node: typeof spec.nodeName === 'string' ? spec.nodeName : '',
      hostNetwork: spec.hostNetwork === true,
      ips,
      labels: workloadLabels(meta.labels),
      ports: namedPorts(spec),
      phase,
      createdAt,
      startedAt,
      deletedAt,
      finishedAt,
    },
  };
}

export function toNodeRecord(node: V1Node): MapOutcome<NodeRecord> {
  if (!isObject(node)) return reject('not_an_object');
  const meta = node.metadata;
  if (!isObject(meta) || typeof meta.name !== 'string' || meta.name === '') return reject('missing_name');
  const createdAt = epoch(meta.creationTimestamp);
  if (createdAt === undefined) return reject('bad_time');
  const addresses: { type: string; address: string }[] = [];
  const raw = isObject(node.status) && Array.isArray(node.status.addresses) ? node.status.addresses : [];
  for (const a of raw) {
    if (!isObject(a) || typeof a.type !== 'string' || typeof a.address !== 'string') continue;
    const isIp = a.type === 'InternalIP' || a.type === 'ExternalIP';
    const address = isIp ? canonicalIp(a.address) : a.address;
    if (address === null) return reject('bad_ip');
    addresses.push({ type: a.type, address });
  }
  const spec = fields(node.spec);
  const podCidrs = Array.isArray(spec.podCIDRs)
    ? spec.podCIDRs.filter((c): c is string => typeof c === 'string')
    : typeof spec.podCIDR === 'string'
      ? [spec.podCIDR]
      : [];
  return {
    ok: true,
    value: {
      uid: typeof meta.uid === 'string' ? meta.uid : '',
      name: meta.name,
      addresses,
      podCidrs,
      labels: allLabels(meta.labels),
      createdAt,
    },
  };
}

export function toServiceRecord(svc: V1Service): MapOutcome<ServiceRecord> {
  if (!isObject(svc)) return reject('not_an_object');
  const meta = svc.metadata;
  if (!isObject(meta) || typeof meta.name !== 'string' || meta.name === '') return reject('missing_name');
  if (typeof meta.namespace !== 'string' || meta.namespace === '') return reject('missing_namespace');
  const createdAt = epoch(meta.creationTimestamp);
  if (createdAt === undefined) return reject('bad_time');
  const spec = fields(svc.spec);
  const texts = Array.isArray(spec.clusterIPs)
    ? spec.clusterIPs
    : typeof spec.clusterIP === 'string'
      ? [spec.clusterIP]
      : [];
  const clusterIps: string[] = [];
  for (const t of texts) {
    // A headless service's clusterIP is the word "None", not an address.
    if (t === 'None' || t === '') continue;
    const ip = typeof t === 'string' ? canonicalIp(t) : null;
    if (ip === null) return reject('bad_ip');
    clusterIps.push(ip);
  }
  return {
    ok: true,
    value: {
      uid: typeof meta.uid === 'string' ? meta.uid : '',
      namespace: meta.namespace,
      name: meta.name,
      type: typeof spec.type === 'string' ? spec.type : 'ClusterIP',
      clusterIps,
      externalName: typeof spec.externalName === 'string' ? spec.externalName : '',
      selector: allLabels(spec.selector),
      ports: servicePorts(spec.ports),
      createdAt,
    },
  };
}

export function toNamespaceRecord(ns: V1Namespace): MapOutcome<NamespaceRecord> {
  if (!isObject(ns)) return reject('not_an_object');
  const meta = ns.metadata;
  if (!isObject(meta) || typeof meta.name !== 'string' || meta.name === '') return reject('missing_name');
  const createdAt = epoch(meta.creationTimestamp);
  if (createdAt === undefined) return reject('bad_time');
  return {
    ok: true,
    value: {
      uid: typeof meta.uid === 'string' ? meta.uid : '',
      name: meta.name,
      labels: allLabels(meta.labels),
      createdAt,
    },
  };
}

const PORT_PROTOCOLS: ReadonlySet<string> = new Set<PortProtocol>(['TCP', 'UDP', 'SCTP']);

/** A protocol field as Kubernetes reads it: absent means TCP; anything else unknown is null. */
function portProtocol(v: unknown): PortProtocol | null {
  if (v === undefined || v === null) return 'TCP';
  return typeof v === 'string' && PORT_PROTOCOLS.has(v) ? (v as PortProtocol) : null;
}

function isPortNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535;
}

/**
 * The named ports of a pod's containers and sidecars (init containers with `restartPolicy: Always`, which serve
 * traffic like containers; the endpoints controller looks at both). The API server has validated them; an entry
 * a hand-made snapshot gets wrong is left out rather than costing the pod its lease.
 */
function namedPorts(spec: Loose): NamedPort[] {
  const containers = [
    ...(Array.isArray(spec.containers) ? spec.containers : []),
    ...(Array.isArray(spec.initContainers) ? spec.initContainers : []).filter(
      (c: unknown) => isObject(c) && c.restartPolicy === 'Always',
    ),
  ];
  const out: NamedPort[] = [];
  for (const c of containers) {
    if (!isObject(c) || !Array.isArray(c.ports)) continue;
    for (const p of c.ports) {
      if (!isObject(p) || typeof p.name !== 'string' || p.name === '') continue;
      const protocol = portProtocol(p.protocol);
      if (!isPortNumber(p.containerPort) || protocol === null) continue;
      out.push({ name: p.name, port: p.containerPort, protocol });
    }
  }
  return out;
}

/**
 * A Service's `spec.ports`. `targetPort` defaults to `port` (the API server fills it in; a hand-made snapshot may
 * not). Malformed entries are left out, as for pods.
 */
function servicePorts(ports: unknown): ServicePort[] {
  const out: ServicePort[] = [];
  for (const p of Array.isArray(ports) ? ports : []) {
    if (!isObject(p) || !isPortNumber(p.port)) continue;
    const protocol = portProtocol(p.protocol);
    if (protocol === null) continue;
    const t: unknown = p.targetPort;
    let targetPort: number | string;
    if (t === undefined || t === null || t === 0) targetPort = p.port;
    else if (isPortNumber(t)) targetPort = t;
    else if (typeof t === 'string' && t !== '') targetPort = t;
    else continue;
    out.push({ name: typeof p.name === 'string' ? p.name : '', protocol, port: p.port, targetPort });
  }
  return out;
}

/** The latest `terminated.finishedAt` over all containers; null when none is known, undefined when one is bad. */
function latestFinish(...lists: unknown[]): number | null | undefined {
  let latest: number | null = null;
  for (const list of lists) {
    if (!Array.isArray(list)) continue;
    for (const cs of list) {
      const terminated = isObject(cs) && isObject(cs.state) ? cs.state.terminated : undefined;
      if (!isObject(terminated)) continue;
      const t = epoch(terminated.finishedAt);
      if (t === undefined) return undefined;
      if (t !== null && (latest === null || t > latest)) latest = t;
    }
  }
  return latest;
}

/**
 * Epoch seconds from a Kubernetes timestamp: a `Date` (client library), an RFC 3339 string (JSON), or absent
 * (null). Returns undefined for a value that is present but not a time.
 */
export function epoch(value: unknown): number | null | undefined {
  if (value === undefined || value === null) return null;
  const ms = value instanceof Date ? value.getTime() : typeof value === 'string' ? Date.parse(value) : NaN;
  return Number.isFinite(ms) ? ms / 1000 : undefined;
}

function reject(reason: InventoryRejectReason): { ok: false; reason: InventoryRejectReason } {
  return { ok: false, reason };
}

// Typed loosely on purpose: objects from a snapshot file are only shaped like V1Pod, so every field read from
// a `Loose` is checked with typeof before use.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = Record<string, any>;

function isObject(v: unknown): v is Loose {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function fields(v: unknown): Loose {
  return isObject(v) ? v : {};
}
