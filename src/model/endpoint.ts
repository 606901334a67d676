/**
 * What inference concludes (src/infer) and every generator reads (src/emit): per sender, the endpoints it needs,
 * each with the evidence that taught it. Generators never go back to the database; everything a rule needs, and
 * everything its evidence comment says, is here.
 */
import type { SourceKind } from './observation.js';
import type { Workload } from './workload.js';

/** Transport protocols a rule can name. NetworkPolicy knows the first three; security groups also know ICMP. */
export const RULE_PROTOCOLS = ['TCP', 'UDP', 'SCTP', 'ICMP', 'ICMPv6'] as const;
export type RuleProtocol = (typeof RULE_PROTOCOLS)[number];

/** The rule protocol each IANA protocol number is; other numbers no rule can name. */
export const RULE_PROTOCOL_NUMBERS: Readonly<Record<number, RuleProtocol>> = {
  1: 'ICMP',
  6: 'TCP',
  17: 'UDP',
  58: 'ICMPv6',
  132: 'SCTP',
};

/** A protocol number as rules name it (`suggest`, `audit`, `report` print it so), else the number. */
export function protocolLabel(protocol: number): string {
  return RULE_PROTOCOL_NUMBERS[protocol] ?? String(protocol);
}

/** Who sends: a Kubernetes workload, a node's own traffic, or a cloud instance outside Kubernetes. */
export interface Sender {
  /** `namespace/Kind/name`, `node/<name>` or `instance/<id>`; unique within a result. */
  readonly id: string;
  readonly kind: 'workload' | 'node' | 'instance';
  /** Set for kind `workload`. */
  readonly workload: Workload | null;
  /**
   * Labels every pod of the workload carried over the window (the intersection), minus per-rollout churn
   * (pod-template-hash, controller-revision-hash, …): what a podSelector can rely on. Empty for nodes/instances.
   */
  readonly selector: Readonly<Record<string, string>>;
  /** Labels of the workload's namespace (namespaceSelectors of peers that talk to it). */
  readonly namespaceLabels: Readonly<Record<string, string>>;
  /** Distinct pods seen over the window, and the most that ran at once. */
  readonly pods: number;
  readonly maxReplicas: number;
  readonly hostNetwork: boolean;
  /** AWS security groups of the sender's ENI(s), sorted (instances; nodes when the inventory has them). */
  readonly securityGroups: readonly string[];
}

/** One CIDR of a destination's ipBlock form, and why it is this wide. */
export interface FoldedCidr {
  /** Canonical CIDR text (src/model/cidr.ts). */
  readonly cidr: string;
  /**
   * `exact`: one address (/32, /128); `published`: a provider prefix from an ip-ranges list that covered the
   * addresses a name rotated through; `observed`: the covering prefix of the addresses seen.
   */
  readonly basis: 'exact' | 'published' | 'observed';
  /** Distinct addresses seen inside this CIDR. */
  readonly addresses: number;
  /** For `published`: `SERVICE region` from the list. */
  readonly provider: string;
  /** One sentence a reviewer reads: how the addresses moved and why this prefix. */
  readonly reason: string;
}

/** Where an endpoint points. */
export type Destination =
  | {
      /** A pod in the cluster, by workload: rules use label selectors, not addresses. */
      readonly kind: 'peer';
      readonly workload: Workload;
      /** The peer's stable labels (podSelector) and its namespace's labels (namespaceSelector). */
      readonly selector: Readonly<Record<string, string>>;
      readonly namespaceLabels: Readonly<Record<string, string>>;
    }
  | {
      /**
       * A host name (from a proxy log or a DNS answer) or a folded `*.domain`. `names` are the exact names behind
       * it (one for a plain name). `cidrs` is its ipBlock form for generators that cannot name hosts; empty when
       * the name was only seen through a proxy (the pod never connected to its addresses).
       */
      readonly kind: 'host';
      readonly host: string;
      readonly names: readonly string[];
      readonly cidrs: readonly FoldedCidr[];
    }
  | {
      /** Addresses no name could be attached to: nodes, instances, VPC peers, the internet. */
      readonly kind: 'address';
      readonly cidrs: readonly FoldedCidr[];
      /** Destination class from src/identity/attribution.ts: node, instance, vpc, cloud-service, private, internet. */
      readonly dstClass: string;
      /** The node, instance or `SERVICE region` the class names; '' when none. */
      readonly dstName: string;
    };

/** How the sender of the endpoint's flows was known. */
export const SENDER_EVIDENCE = ['exact', 'dns-client', 'consistent', 'candidate'] as const;
export type SenderEvidence = (typeof SENDER_EVIDENCE)[number];

/** How a name was attached to the flows' addresses. */
export const NAME_EVIDENCE = ['proxy', 'dns', 'dns-stale', 'none'] as const;
export type NameEvidence = (typeof NAME_EVIDENCE)[number];

export interface Evidence {
  /** Fractional (two decimals) when some flows could be from several senders: each counts its share. */
  readonly flows: number;
  readonly packets: number;
  readonly bytes: number;
  readonly firstSeen: number;
  readonly lastSeen: number;
  /** Distinct UTC days with traffic. */
  readonly days: number;
  /** Distinct source pods seen (0 when the sender is not a workload or pods are unknown). */
  readonly pods: number;
  readonly sources: readonly SourceKind[];
  readonly sender: SenderEvidence;
  readonly name: NameEvidence;
  /** Distinct destination addresses behind the endpoint. */
  readonly addresses: number;
}

/** Why an endpoint may have been taught by an attacker; such endpoints are emitted commented out. */
export const SUSPICION_CODES = [
  'high-entropy-name',
  'raw-ip-unusual-port',
  'unnamed-address-via-node',
  'single-pod-of-many',
  'new-on-last-day',
] as const;
export type SuspicionCode = (typeof SUSPICION_CODES)[number];

export interface Suspicion {
  readonly code: SuspicionCode;
  readonly detail: string;
}

export interface Endpoint {
  /** Stable fingerprint of (sender, destination key, port, protocol, via): review decisions key on it. */
  readonly id: string;
  readonly sender: string;
  readonly destination: Destination;
  /** 0 for ICMP; otherwise 1–65535. */
  readonly port: number;
  readonly protocol: RuleProtocol;
  /** `proxy` when the sender reached it through an egress proxy (names only, enforced on the proxy). */
  readonly via: 'direct' | 'proxy';
  readonly evidence: Evidence;
  /** 0–1: how sure inference is that the sender needs this (attribution, name evidence, repetition). */
  readonly confidence: number;
  /** Under `--min-flows` / `--min-days`: listed as seen rarely, not turned into a rule. */
  readonly rare: boolean;
  readonly suspicions: readonly Suspicion[];
}

/**
 * A client of an in-cluster workload that is not a pod: a node (kubelet probes, host-network daemons), a load
 * balancer or instance in the VPC, or an outside address. An ingress policy written for the workload's pod
 * clients must let these in too, or applying it cuts them off.
 */
export interface InboundEndpoint {
  readonly id: string;
  /** The pod workload receiving the traffic. */
  readonly destination: Workload;
  /** `node/<name>`, `instance/<id>` or `unattributed`. */
  readonly source: string;
  readonly cidrs: readonly FoldedCidr[];
  readonly port: number;
  readonly protocol: RuleProtocol;
  readonly evidence: Evidence;
}

/** The thresholds and budgets inference ran with; generators print them in their headers. */
export interface InferenceSettings {
  readonly since: number;
  readonly until: number;
  /** Widest IPv4 / IPv6 prefix a fold may open (e.g. 16 and 48). */
  readonly maxPrefix4: number;
  readonly maxPrefix6: number;
  readonly allowAny: boolean;
  readonly wildcardMin: number;
  readonly minFlows: number;
  readonly minDays: number;
  /** Seconds an answer stays usable past its TTL (or, without one, past when it was given). */
  readonly dnsGrace: number;
}

export interface InferenceResult {
  readonly settings: InferenceSettings;
  /**
   * First and last sighting of the traffic inference read (null: none). Generated files print it rather than the
   * window asked for, which a relative `--since` moves on every run: the same traffic gives the same bytes.
   */
  readonly observed: { readonly first: number; readonly last: number } | null;
  /** Sorted by id. */
  readonly senders: readonly Sender[];
  /** Sorted by sender, destination key, port, protocol, via. */
  readonly endpoints: readonly Endpoint[];
  /** Non-pod clients of in-cluster workloads, sorted by destination, source, port, protocol. */
  readonly inbound: readonly InboundEndpoint[];
  /**
   * Where pods resolve names: the kube-dns / CoreDNS workload when the inventory has one (generators allow DNS
   * to it only), else null (they fall back to the conventional `k8s-app: kube-dns` in kube-system).
   */
  readonly dns: { readonly namespace: string; readonly selector: Readonly<Record<string, string>> } | null;
}

/** The sort and fingerprint key of a destination. */
export function destinationKey(d: Destination): string {
  switch (d.kind) {
    case 'peer':
      return `peer:${d.workload.cluster}/${d.workload.namespace}/${d.workload.kind}/${d.workload.name}`;
    case 'host':
      return `host:${d.host}`;
    case 'address':
      return `address:${d.cidrs.map((c) => c.cidr).join(',')}`;
  }
}

/** What a rule-writing reviewer sees as the target: `ns/Kind/name`, the host, or the CIDRs. */
export function destinationLabel(d: Destination): string {
  switch (d.kind) {
    case 'peer':
      return `${d.workload.namespace}/${d.workload.kind}/${d.workload.name}`;
    case 'host':
      return d.host;
    case 'address':
      return d.cidrs.map((c) => c.cidr).join(',');
  }
}
