/**
 * Who held an address over a time range, and what kind of destination it is. Pure: the caller (src/identity/
 * refresh-attribution.ts) hands in the address's lease history and the inventory lookups; nothing here reads a
 * clock or the database.
 *
 * The rules, strongest evidence first:
 * - A node address (or a host-network pod's, which is the node's) is the node's. It is ambiguous by nature: with
 *   the AWS VPC CNI's default SNAT, pod traffic leaving the VPC carries the node's address
 *   (../shared/seeds/eks-traffic-controls-overview.txt, "Enable External SNAT"), so the pods running on that node
 *   over the range are kept as candidates for later narrowing (proxy, DNS client IP, pkt-srcaddr).
 * - Pod IPs are reused: the leases that overlap [first, last] decide. One workload whose leases cover the whole
 *   range → that workload (one pod, or several pods of the same workload one after another). Two holders, or a
 *   range only partly covered → ambiguous, attributed to the node when all holders ran on one, candidates kept.
 * - No lease at all: an AWS ENI address → the instance (and its security groups); else unknown, with a reason.
 * - A Service ClusterIP is reused too: a flow goes to the Service that held it at the time ({@link serviceAt}).
 *   An ENI address goes to its holder at the time too; the caller picks it from the imports' history.
 */
import { isPrivateIp } from '../model/ip.js';
import type { Lease, Workload } from '../model/workload.js';
import { workloadId } from '../model/workload.js';

/** What a source address resolves to. */
export const SOURCE_OUTCOMES = ['workload', 'node', 'ambiguous', 'instance', 'unknown'] as const;
export type SourceOutcome = (typeof SOURCE_OUTCOMES)[number];

/** Why an attribution is not exact ('' when it is). */
export const ATTRIBUTION_REASONS = [
  'node_address',
  'host_network',
  'straddles_holders',
  'partial_lease',
  'no_address',
  'no_inventory',
  'no_lease_at_time',
  'no_lease',
  'outside_cluster',
] as const;
export type AttributionReason = (typeof ATTRIBUTION_REASONS)[number];

/** What kind of destination an address is, at the time of the flow. */
export const DESTINATION_CLASSES = [
  'pod',
  'service',
  'node',
  'instance',
  'vpc',
  'cloud-service',
  'private',
  'internet',
  'none',
] as const;
export type DestinationClass = (typeof DESTINATION_CLASSES)[number];

/** The grouping id of traffic nobody could be named for. */
export const UNATTRIBUTED = 'unattributed';

/** A pod that may have sent a flow attributed to a node or marked ambiguous. */
export interface Candidate {
  readonly namespace: string;
  readonly pod: string;
  /** `namespace/Kind/name`. */
  readonly workload: string;
  readonly hostNetwork: boolean;
}

/** An AWS network interface an address belongs to. */
export interface EniFacts {
  readonly interfaceId: string;
  readonly instanceId: string;
  readonly securityGroups: readonly string[];
}

/** Everything known about one address, gathered by the caller. */
export interface AddressFacts {
  /** Canonical address; '' when the record had none. */
  readonly addr: string;
  readonly first: number;
  readonly last: number;
  /** Every lease the address ever had (any time, any cluster). */
  readonly leases: readonly Lease[];
  /** The node whose InternalIP / ExternalIP this is, or null. */
  readonly nodeOfAddress: string | null;
  /**
   * The pods on `node` whose leases overlap [first, last] (host-network ones included), as {@link candidatesOf}
   * gives them. A callback so that the caller can share one list between the many ranges of a node address.
   */
  readonly candidatesOnNode: (node: string, first: number, last: number) => readonly Candidate[];
  /** The ENI that lists the address in the latest cloud import, or null. */
  readonly eni: EniFacts | null;
  /** `namespace/name` of the Service that held this ClusterIP over the range ({@link serviceAt}), or null. */
  readonly service: string | null;
  /** Inside a VPC CIDR from the cloud inventory. */
  readonly inVpc: boolean;
  /** The most specific ip-ranges.json entry containing the address, or null. */
  readonly cloud: { readonly service: string; readonly region: string } | null;
  /** False when no inventory (leases, nodes, ENIs) was ever collected. */
  readonly hasInventory: boolean;
}

/** The answer for one address over one range: as a source, and as a destination. */
export interface AddressAttribution {
  readonly kind: SourceOutcome;
  readonly reason: AttributionReason | '';
  readonly workload: Workload | null;
  /** Grouping key: `namespace/Kind/name`, `node/<name>`, `instance/<id>` or `unattributed`. */
  readonly workloadId: string;
  readonly pod: string;
  readonly node: string;
  readonly hostNetwork: boolean;
  readonly labels: Readonly<Record<string, string>>;
  readonly candidates: readonly Candidate[];
  readonly interfaceId: string;
  readonly instanceId: string;
  readonly securityGroups: readonly string[];
  readonly dstClass: DestinationClass;
  readonly dstName: string;
}

/** True when lease `l` (half-open [start, end)) overlaps the closed range [first, last]. */
export function overlaps(l: Lease, first: number, last: number): boolean {
  // A zero-length lease is a stale claim remembered by the lease history, never a holder.
  if (l.end !== null && l.end <= l.start) return false;
  return l.start <= last && (l.end === null || l.end > first);
}

/** True when the union of `leases` covers [first, last]. */
export function covers(leases: readonly Lease[], first: number, last: number): boolean {
  const spans = leases.map((l) => [l.start, l.end ?? Infinity] as const).sort((a, b) => a[0] - b[0]);
  let reached = first;
  for (const [s, e] of spans) {
    if (s > reached) return false;
    if (e > reached) reached = e;
    if (reached > last) return true;
  }
  return reached > last;
}

function sameWorkload(a: Workload, b: Workload): boolean {
  return a.cluster === b.cluster && a.namespace === b.namespace && a.kind === b.kind && a.name === b.name;
}

/** Distinct pods, sorted by workload then pod, so the stored JSON is stable. */
export function candidatesOf(leases: readonly Lease[]): Candidate[] {
  const byPod = new Map<string, Candidate>();
  for (const l of leases) {
    if (byPod.has(l.podUid)) continue;
    byPod.set(l.podUid, {
      namespace: l.namespace,
      pod: l.podName,
      workload: workloadId(l.workload),
      hostNetwork: l.hostNetwork,
    });
  }
  return [...byPod.values()].sort((a, b) =>
    a.workload < b.workload ? -1 : a.workload > b.workload ? 1 : a.pod < b.pod ? -1 : a.pod > b.pod ? 1 : 0,
  );
}

/** Resolves one address over [first, last]. */
export function attributeAddress(f: AddressFacts): AddressAttribution {
  const eni = f.eni;
  const base = {
    workload: null,
    pod: '',
    node: '',
    hostNetwork: false,
    labels: {},
    candidates: [],
    interfaceId: eni?.interfaceId ?? '',
    instanceId: eni?.instanceId ?? '',
    securityGroups: eni?.securityGroups ?? [],
  };
  if (f.addr === '') {
    return {
      ...base,
      kind: 'unknown',
      reason: 'no_address',
      workloadId: UNATTRIBUTED,
      dstClass: 'none',
      dstName: '',
    };
  }
  const overlapping = f.leases.filter((l) => overlaps(l, f.first, f.last));
  const hostNet = overlapping.filter((l) => l.hostNetwork);
  const podLeases = overlapping.filter((l) => !l.hostNetwork);

  const nodeName = f.nodeOfAddress ?? hostNet[0]?.node ?? null;
  if (nodeName !== null && nodeName !== '') {
    return {
      ...base,
      kind: 'node',
      reason: f.nodeOfAddress !== null ? 'node_address' : 'host_network',
      workloadId: `node/${nodeName}`,
      node: nodeName,
      hostNetwork: hostNet.length > 0,
      candidates: f.candidatesOnNode(nodeName, f.first, f.last),
      dstClass: 'node',
      dstName: nodeName,
    };
  }

  if (podLeases.length > 0) {
    const w = podLeases[0]!.workload;
    const one = podLeases.every((l) => sameWorkload(l.workload, w));
    const nodes = new Set(podLeases.map((l) => l.node));
    const node = nodes.size === 1 ? podLeases[0]!.node : '';
    if (one && covers(podLeases, f.first, f.last)) {
      // The lease in force at the end of the range carries the labels people select on now.
      const latest = podLeases.reduce((a, b) => (b.start > a.start ? b : a));
      const pods = new Set(podLeases.map((l) => l.podUid));
      const id = workloadId(w);
      return {
        ...base,
        kind: 'workload',
        reason: '',
        workload: w,
        workloadId: id,
        pod: pods.size === 1 ? latest.podName : '',
        node,
        labels: latest.labels,
        dstClass: 'pod',
        dstName: id,
      };
    }
    return {
      ...base,
      kind: 'ambiguous',
      reason: one ? 'partial_lease' : 'straddles_holders',
      workloadId: node !== '' ? `node/${node}` : UNATTRIBUTED,
      node,
      candidates: candidatesOf(podLeases),
      dstClass: 'pod',
      dstName: '',
    };
  }

  const dst = destinationOf(f);
  if (eni !== null) {
    return {
      ...base,
      kind: 'instance',
      reason: '',
      workloadId: `instance/${eni.instanceId !== '' ? eni.instanceId : eni.interfaceId}`,
      ...dst,
    };
  }
  let reason: AttributionReason;
  if (f.leases.length > 0) reason = 'no_lease_at_time';
  else if (!f.hasInventory) reason = 'no_inventory';
  else if (!f.inVpc && !isPrivateIp(f.addr)) reason = 'outside_cluster';
  else reason = 'no_lease';
  return { ...base, kind: 'unknown', reason, workloadId: UNATTRIBUTED, ...dst };
}

/** The class of an address that no lease or node claims. */
function destinationOf(f: AddressFacts): { dstClass: DestinationClass; dstName: string } {
  if (f.service !== null) return { dstClass: 'service', dstName: f.service };
  if (f.eni !== null)
    return { dstClass: 'instance', dstName: f.eni.instanceId !== '' ? f.eni.instanceId : f.eni.interfaceId };
  if (f.inVpc) return { dstClass: 'vpc', dstName: '' };
  if (f.cloud !== null) return { dstClass: 'cloud-service', dstName: `${f.cloud.service} ${f.cloud.region}` };
  if (isPrivateIp(f.addr)) return { dstClass: 'private', dstName: '' };
  return { dstClass: 'internet', dstName: '' };
}

/** One Service's hold on a ClusterIP: half-open [since, until), `until` null while the Service exists. */
export interface ServiceSpan {
  /** `namespace/name`. */
  readonly name: string;
  /** Its creationTimestamp, else when it was first seen. */
  readonly since: number;
  /** When it was deleted (or found gone), or null. */
  readonly until: number | null;
}

/**
 * The Service that held a ClusterIP over [first, last], or null when none did. A ClusterIP goes back to the pool
 * when its Service is deleted and may be handed to the next Service created, so the holder at the start of the
 * range wins: the conversation was opened to it. Two spans can both claim that instant when a deletion was only
 * noticed at the next snapshot (`until` is then late); the Service created later is the real holder, since the
 * API server hands out only a freed address. No holder at the start: the first one to arrive within the range.
 */
export function serviceAt(spans: readonly ServiceSpan[], first: number, last: number): string | null {
  let atStart: ServiceSpan | null = null;
  let within: ServiceSpan | null = null;
  for (const s of spans) {
    if (s.until !== null && s.until <= s.since) continue;
    if (s.since > last || (s.until !== null && s.until <= first)) continue;
    if (s.since <= first) {
      if (atStart === null || later(s, atStart)) atStart = s;
    } else if (within === null || later(within, s)) within = s;
  }
  return (atStart ?? within)?.name ?? null;
}

/** `a` started after `b`; ties are broken by name, so the answer does not depend on row order. */
function later(a: ServiceSpan, b: ServiceSpan): boolean {
  return a.since > b.since || (a.since === b.since && a.name > b.name);
}

/**
 * Picks the entry naming a service from the ip-ranges.json entries of one prefix: every prefix is listed under
 * `AMAZON` (the superset) and again under its service (`S3`, `EC2`, …); the specific one is what people mean.
 * Ties between specific services go to the first by name, so the answer is stable.
 */
export function pickCloudService<T extends { readonly service: string; readonly region: string }>(
  entries: readonly T[],
): T | null {
  let best: T | null = null;
  for (const e of entries) {
    if (best === null) {
      best = e;
      continue;
    }
    const eGeneric = e.service === 'AMAZON';
    const bGeneric = best.service === 'AMAZON';
    if (bGeneric && !eGeneric) best = e;
    else if (
      eGeneric === bGeneric &&
      (e.service < best.service || (e.service === best.service && e.region < best.region))
    )
      best = e;
  }
  return best;
}
