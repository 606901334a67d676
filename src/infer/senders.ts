/**
 * Workload profiles from the lease history of the window: the labels every pod carried (what a podSelector can
 * rely on), how many pods ran and how many at once (the suspicion "one pod of many" needs both), and the named
 * ports its pods declared (a Service's named targetPort leads to them).
 */
import type { Sender } from '../model/endpoint.js';
import type { Lease, NamedPort, Workload } from '../model/workload.js';
import { workloadId } from '../model/workload.js';

/** Labels that change per rollout or per pod and must never select: the collector drops most; these too. */
const CHURN = new Set([
  'pod-template-hash',
  'controller-revision-hash',
  'pod-template-generation',
  'statefulset.kubernetes.io/pod-name',
  'apps.kubernetes.io/pod-index',
  'batch.kubernetes.io/controller-uid',
  'batch.kubernetes.io/job-name',
  'controller-uid',
  'job-name',
  'rollouts-pod-template-hash', // Argo Rollouts' pod-template-hash
]);

/**
 * Release identifiers on pod templates (Helm's recommended labels and older chart conventions): constant over a
 * window between two releases, so the intersection keeps them, and the next release's pods would fall outside
 * every policy. Left out of a selector unless nothing else would remain.
 */
const RELEASE = new Set(['app.kubernetes.io/version', 'helm.sh/chart', 'chart', 'version']);

export interface WorkloadProfile {
  readonly workload: Workload;
  readonly selector: Record<string, string>;
  readonly pods: number;
  readonly maxReplicas: number;
  readonly hostNetwork: boolean;
  /** Every distinct named container port of its pods over the window. */
  readonly ports: readonly NamedPort[];
}

function intersect(a: Record<string, string>, b: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(a)) if (b[k] === v) out[k] = v;
  return out;
}

/** Most pods holding a lease at the same instant (a sweep over lease starts and ends). */
function maxConcurrent(leases: readonly Lease[]): number {
  const byPod = new Map<string, [number, number]>();
  for (const l of leases) {
    const end = l.end ?? Infinity;
    const cur = byPod.get(l.podUid);
    if (cur === undefined) byPod.set(l.podUid, [l.start, end]);
    else byPod.set(l.podUid, [Math.min(cur[0], l.start), Math.max(cur[1], end)]);
  }
  const events: [number, number][] = [];
  for (const [s, e] of byPod.values()) events.push([s, 1], [e, -1]);
  // Ends before starts at the same instant: a pod replaced at t does not overlap its replacement.
  events.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let cur = 0;
  let max = 0;
  for (const [, d] of events) {
    cur += d;
    max = Math.max(max, cur);
  }
  return max;
}

/** One profile per workload that held a lease in the window, keyed by `namespace/Kind/name`. */
export function workloadProfiles(leases: readonly Lease[]): Map<string, WorkloadProfile> {
  const byWorkload = new Map<string, Lease[]>();
  for (const l of leases) {
    const id = workloadId(l.workload);
    const list = byWorkload.get(id);
    if (list === undefined) byWorkload.set(id, [l]);
    else list.push(l);
  }
  const out = new Map<string, WorkloadProfile>();
  for (const [id, list] of byWorkload) {
    let selector: Record<string, string> | null = null;
    for (const l of list) selector = selector === null ? { ...l.labels } : intersect(selector, l.labels);
    for (const k of Object.keys(selector ?? {})) if (CHURN.has(k)) delete selector![k];
    const keys = Object.keys(selector ?? {});
    if (keys.some((k) => !RELEASE.has(k))) for (const k of keys) if (RELEASE.has(k)) delete selector![k];
    const ports = new Map<string, NamedPort>();
    for (const l of list) for (const p of l.ports) ports.set(`${p.name}/${p.protocol}/${p.port}`, p);
    out.set(id, {
      workload: list[0]!.workload,
      selector: selector ?? {},
      pods: new Set(list.map((l) => l.podUid)).size,
      maxReplicas: maxConcurrent(list),
      hostNetwork: list.some((l) => l.hostNetwork),
      ports: [...ports.values()],
    });
  }
  return out;
}

/** The sender of a workload's traffic. */
export function workloadSender(
  profile: WorkloadProfile,
  namespaceLabels: Readonly<Record<string, string>>,
): Sender {
  return {
    id: workloadId(profile.workload),
    kind: 'workload',
    workload: profile.workload,
    selector: profile.selector,
    namespaceLabels,
    pods: profile.pods,
    maxReplicas: profile.maxReplicas,
    hostNetwork: profile.hostNetwork,
    securityGroups: [],
  };
}

/** A node's own traffic, or an instance outside Kubernetes. */
export function hostSender(id: string, kind: 'node' | 'instance', securityGroups: readonly string[]): Sender {
  return {
    id,
    kind,
    workload: null,
    selector: {},
    namespaceLabels: {},
    pods: 0,
    maxReplicas: 0,
    hostNetwork: false,
    securityGroups: [...new Set(securityGroups)].sort(),
  };
}
