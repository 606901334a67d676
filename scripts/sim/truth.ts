/**
 * What the simulated cluster really does (`truth.json`): the endpoints each workload needs, the planted
 * exfiltration endpoint, and the flows the scorer replays. Written by cluster.ts, read by score.ts; nothing here
 * is shown to egress-learner.
 */

export type Labels = Readonly<Record<string, string>>;

/** Kinds of legitimate destinations the simulation draws. */
export const ENDPOINT_KINDS = [
  'cdn', // a name answered with a fresh address every hour inside its provider's published prefix
  's3', // a bucket name answered with any address of the regional S3 prefixes, per query
  'saas', // a name with 1–3 fixed addresses
  'vpc', // a VPC-internal address (RDS-like), reached by a private DNS name
  'peer', // pods of another workload of the cluster
  'dns', // the cluster DNS (kube-dns / CoreDNS pods)
  'proxy', // the egress proxy's own address (the hop a proxied pod opens)
  'proxied', // a name reached only through the proxy (CONNECT host:port)
  'upstream-dns', // the VPC resolver, for CoreDNS itself
] as const;
export type EndpointKind = (typeof ENDPOINT_KINDS)[number];

export interface TruthEndpoint {
  /** Unique within the simulation, e.g. `shop-1/assets-cdn`. */
  readonly id: string;
  readonly kind: EndpointKind;
  /** The DNS name (or CONNECT host) when the destination has one. */
  readonly name: string | null;
  /** The address ranges the destination really draws from ([] for in-cluster peers and proxied names). */
  readonly cidrs: readonly string[];
  /** `namespace/Kind/name` of the destination workload (peer, dns), else null. */
  readonly peer: string | null;
  readonly port: number;
  readonly protocol: 'TCP' | 'UDP';
  readonly viaProxy: boolean;
}

export interface TruthWorkload {
  /** `namespace/Kind/name`, as egress-learner names senders. */
  readonly id: string;
  readonly namespace: string;
  readonly kind: 'Deployment' | 'CronJob';
  readonly name: string;
  /** Pod template labels (no per-rollout labels). */
  readonly labels: Labels;
  readonly replicas: number;
  readonly endpoints: readonly string[];
}

/** The pod at the other end of an in-cluster flow, as a NetworkPolicy evaluator needs it. */
export interface PodEnd {
  readonly namespace: string;
  readonly workload: string;
  readonly labels: Labels;
  readonly namespaceLabels: Labels;
  readonly ports: readonly {
    readonly name: string;
    readonly port: number;
    readonly protocol: 'TCP' | 'UDP';
  }[];
}

/**
 * One distinct flow shape with its count (flows are aggregated: the verdict depends on nothing else).
 * `dstIp` is what the pod connects to: an address, the destination pod's IP, or, for a proxied flow, the
 * origin the proxy reached (the pod itself connects to `proxy`).
 */
export interface SimFlow {
  readonly srcWorkload: string;
  readonly namespace: string;
  readonly podLabels: Labels;
  readonly namespaceLabels: Labels;
  readonly dstIp: string;
  readonly dstName: string | null;
  /** Set when the destination is a pod of the cluster. */
  readonly dstPod: PodEnd | null;
  readonly port: number;
  readonly protocol: 'TCP' | 'UDP';
  readonly viaProxy: boolean;
  /** The proxy the pod connects to for a proxied flow. */
  readonly proxy: { readonly ip: string; readonly port: number } | null;
  /** Truth endpoint id, or `planted`. */
  readonly endpoint: string;
  readonly planted: boolean;
  readonly count: number;
}

export interface PlantedEndpoint {
  readonly kind: 'raw-ip' | 'dga-name';
  readonly ip: string;
  /** The high-entropy name for `dga-name`, else null. */
  readonly name: string | null;
  readonly port: number;
  readonly protocol: 'TCP';
  /** The Deployment one of whose pods used it, and that pod. */
  readonly workload: string;
  readonly pod: string;
  readonly from: number;
  readonly to: number;
}

export interface Truth {
  readonly seed: number;
  readonly window: { readonly since: number; readonly until: number };
  readonly after: { readonly since: number; readonly until: number };
  readonly snat: boolean;
  readonly vpcCidr: string;
  readonly workloads: readonly TruthWorkload[];
  readonly endpoints: readonly TruthEndpoint[];
  readonly planted: PlantedEndpoint;
  /** The flows of the window (for the per-IP baseline) and of the days after (held out, replayed). */
  readonly windowFlows: readonly SimFlow[];
  readonly heldOut: readonly SimFlow[];
}
