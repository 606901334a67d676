import type { Protocol } from './connection-set.js';
import type { IpRange } from './ip-range.js';
import type { Labels } from './label-selector.js';

/** A port a container declares; `name` is what a NetworkPolicy's named port refers to. */
export interface ContainerPort {
  readonly name: string | null;
  readonly port: number;
  /** Defaults to TCP when the manifest leaves it out, as in Kubernetes. */
  readonly protocol: Protocol;
}

/**
 * A pod as policies see it: where it lives, its labels and its namespace's labels (selectors match on both),
 * and its container ports (named ports in rules resolve against the destination pod's ports).
 */
export interface PodPeer {
  readonly kind: 'pod';
  readonly namespace: string;
  readonly labels: Labels;
  readonly namespaceLabels: Labels;
  readonly ports: readonly ContainerPort[];
}

/** One address outside the cluster's pods (IPv4 or IPv6 text); only `ipBlock` peers match it. */
export interface IpPeer {
  readonly kind: 'ip';
  readonly ip: string;
}

/**
 * A range of external addresses, matched by an `ipBlock` only when the whole range lies inside it. The
 * connection list uses ranges cut so that this is all-or-nothing for every ipBlock in the policies.
 */
export interface IpRangePeer {
  readonly kind: 'ipRange';
  readonly range: IpRange;
}

/** Either end of a connection. */
export type Peer = PodPeer | IpPeer | IpRangePeer;
