/**
 * Who sends traffic inside a Kubernetes cluster, and which IP belonged to whom when. Pod IPs are reused, so
 * attribution always goes through a {@link Lease} that covers the time of the flow, never through "the pod that
 * has this IP now". Times are epoch seconds (fractions allowed), as everywhere in the model.
 */

/**
 * The kinds people name a workload by, after owner resolution (Pod → ReplicaSet → Deployment, Job → CronJob).
 * `ReplicaSet` and `Job` appear only when nothing owns them; `Pod` is a bare pod (or a static mirror pod). A
 * custom controller's kind (e.g. an Argo `Rollout` owning a ReplicaSet) is kept as given, so `kind` is a string.
 */
export const WORKLOAD_KINDS = [
  'Deployment',
  'StatefulSet',
  'DaemonSet',
  'CronJob',
  'Job',
  'ReplicaSet',
  'ReplicationController',
  'Pod',
] as const;
export type WellKnownWorkloadKind = (typeof WORKLOAD_KINDS)[number];

/** A workload as people name it: `namespace/Kind/name` within a cluster (`''` when only one is collected). */
export interface Workload {
  readonly cluster: string;
  readonly namespace: string;
  readonly kind: string;
  readonly name: string;
}

/** The stable id used in output and queries: `namespace/Kind/name` (the cluster is a separate column). */
export function workloadId(w: Pick<Workload, 'namespace' | 'kind' | 'name'>): string {
  return `${w.namespace}/${w.kind}/${w.name}`;
}

/**
 * One pod as the inventory keeps it. `ips` are canonical (src/model/ip.ts) from `status.podIPs` (IPv4 and IPv6).
 * `labels` are the pod's labels minus per-rollout churn (see collectors/kubernetes/inventory.ts). Times come
 * from the API object: `createdAt` = metadata.creationTimestamp, `startedAt` = status.startTime (kubelet
 * accepted the pod; the IP is assigned right after), `deletedAt` = metadata.deletionTimestamp, `finishedAt` =
 * the latest container `terminated.finishedAt` once the pod is in a terminal phase.
 */
export interface PodRecord {
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
  readonly workload: Workload;
  /** spec.nodeName; '' while unscheduled. */
  readonly node: string;
  /**
   * True for `hostNetwork: true` pods: their IP is the node's address, shared with the node and every other
   * host-network pod on it, so such a lease never excludes another holder.
   */
  readonly hostNetwork: boolean;
  readonly ips: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
  /** The container ports it declares under a name (see {@link NamedPort}). */
  readonly ports: readonly NamedPort[];
  /** status.phase: Pending, Running, Succeeded, Failed, Unknown; '' when absent. */
  readonly phase: string;
  readonly createdAt: number | null;
  readonly startedAt: number | null;
  readonly deletedAt: number | null;
  readonly finishedAt: number | null;
}

/** The protocols a container port, a Service port and a NetworkPolicy port can name. */
export type PortProtocol = 'TCP' | 'UDP' | 'SCTP';

/**
 * A container port a pod declares with a name: what a NetworkPolicy's `port: http` and a Service's
 * `targetPort: http` resolve to on that pod. Unnamed container ports are not kept: nothing refers to them by
 * anything but their number. Sidecars (init containers with `restartPolicy: Always`) count, as in Kubernetes.
 */
export interface NamedPort {
  readonly name: string;
  readonly port: number;
  readonly protocol: PortProtocol;
}

/** One entry of a Service's `spec.ports`. */
export interface ServicePort {
  /** '' when the Service has a single unnamed port. */
  readonly name: string;
  readonly protocol: PortProtocol;
  /** What clients connect to on the ClusterIP. */
  readonly port: number;
  /** Where the backing pods receive it: a number, or the name of a container port (resolved per pod). */
  readonly targetPort: number | string;
}

/**
 * Does a Service's `selector` select a pod with `labels`: every key of it among them with the same value? An empty
 * selector selects nothing (a Service without one has its endpoints managed by hand).
 */
export function serviceSelects(
  selector: Readonly<Record<string, string>>,
  labels: Readonly<Record<string, string>>,
): boolean {
  const keys = Object.keys(selector);
  return keys.length > 0 && keys.every((k) => labels[k] === selector[k]);
}

/**
 * The ports a backing pod receives on for traffic sent to a Service's ClusterIP on `port` / `protocol`: kube-proxy
 * (or the CNI) translates the destination to podIP:targetPort before NetworkPolicy sees it. A named targetPort
 * resolves through the pod's named container ports, as the endpoints controller does (`FindPort`); `podPorts` may
 * hold several pods' ports (a workload across a rollout), hence several answers. Empty when the Service lists no
 * such port (inventory collected before Service ports were stored, or a port it does not serve) or no pod declares
 * the name.
 */
export function targetPorts(
  service: readonly ServicePort[],
  port: number,
  protocol: PortProtocol,
  podPorts: readonly NamedPort[],
): number[] {
  const sp = service.find((p) => p.port === port && p.protocol === protocol);
  if (sp === undefined) return [];
  if (typeof sp.targetPort === 'number') return [sp.targetPort];
  const out = new Set<number>();
  for (const p of podPorts) if (p.name === sp.targetPort && p.protocol === protocol) out.add(p.port);
  return [...out].sort((a, b) => a - b);
}

export interface NodeAddress {
  /** InternalIP, ExternalIP, Hostname, InternalDNS, ExternalDNS. */
  readonly type: string;
  readonly address: string;
}

export interface NodeRecord {
  readonly uid: string;
  readonly name: string;
  readonly addresses: readonly NodeAddress[];
  readonly podCidrs: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
  readonly createdAt: number | null;
}

export interface ServiceRecord {
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
  /** ClusterIP, NodePort, LoadBalancer, ExternalName. */
  readonly type: string;
  /** spec.clusterIPs (canonical); empty for headless (`None`) and ExternalName services. */
  readonly clusterIps: readonly string[];
  readonly externalName: string;
  readonly selector: Readonly<Record<string, string>>;
  readonly ports: readonly ServicePort[];
  readonly createdAt: number | null;
}

export interface NamespaceRecord {
  readonly uid: string;
  readonly name: string;
  /** Kept because NetworkPolicy namespaceSelectors select on them (kubernetes.io/metadata.name among them). */
  readonly labels: Readonly<Record<string, string>>;
  readonly createdAt: number | null;
}

/**
 * "ip X belonged to pod P of workload W from `start` to `end`" (`end` null = still held). Two leases of the same
 * IP never overlap unless one of them is a host-network lease (which shares the node's address).
 */
export interface Lease {
  readonly ip: string;
  readonly podUid: string;
  readonly namespace: string;
  readonly podName: string;
  readonly workload: Workload;
  readonly node: string;
  readonly hostNetwork: boolean;
  readonly labels: Readonly<Record<string, string>>;
  /** The pod's named container ports; [] for leases stored before they were collected (migration 0012). */
  readonly ports: readonly NamedPort[];
  readonly start: number;
  readonly end: number | null;
}

/**
 * An open lease as the store keeps it between runs, for a collector to resume from (each `collect k8s --snapshot`
 * is a run of its own), with what that run must know of the pod and the lease does not say.
 */
export interface OpenLease extends Lease {
  /**
   * The pod's `metadata.deletionTimestamp` as last seen (null: not being deleted). Should the pod be gone from the
   * next listing, its lease ends then rather than at that listing.
   */
  readonly podDeletedAt: number | null;
}

/**
 * One lease write, applied in order inside one transaction: open a lease (possibly already closed, for a pod
 * that came and went), or close the lease keyed by pod, IP and start.
 */
export type LeaseOp =
  | { readonly op: 'open'; readonly lease: Lease }
  | {
      readonly op: 'close';
      readonly podUid: string;
      readonly ip: string;
      readonly start: number;
      readonly end: number;
    };

/** The records of each inventory resource. ReplicaSets and Jobs only serve owner resolution and are not kept. */
export interface InventoryItems {
  readonly pods: PodRecord;
  readonly nodes: NodeRecord;
  readonly services: ServiceRecord;
  readonly namespaces: NamespaceRecord;
}
export const INVENTORY_RESOURCES = ['namespaces', 'nodes', 'services', 'pods'] as const;
export type InventoryResource = (typeof INVENTORY_RESOURCES)[number];

/**
 * One change to the inventory as of `at`: `replace` is a complete listing of a resource (a snapshot file, a
 * list or a re-list after `410 Gone`): whatever is not in it is gone as of `at`, within `namespaces` when the
 * listing covers only those. `upsert` / `delete` are watch events.
 */
export type InventoryChange = {
  [R in InventoryResource]:
    | {
        readonly op: 'replace';
        readonly resource: R;
        readonly at: number;
        readonly items: readonly InventoryItems[R][];
        /**
         * Pods and services: the namespaces the listing is complete for (`kubectl get pods -n shop`); objects of
         * other namespaces are left as they were. Absent: the whole cluster, as every list from the API is.
         */
        readonly namespaces?: readonly string[];
      }
    | {
        readonly op: 'upsert' | 'delete';
        readonly resource: R;
        readonly at: number;
        readonly item: InventoryItems[R];
      };
}[InventoryResource];

/**
 * Where the Kubernetes collector delivers changes. The changes of one call are committed together (one SQLite
 * transaction), so a crash never leaves half a snapshot. Synchronous on purpose: watch callbacks arrive in order
 * and must be applied in order.
 */
export interface InventorySink {
  apply(changes: readonly InventoryChange[]): void;
}
