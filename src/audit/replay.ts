/**
 * Replays observed edges against a policy set: would each conversation still work once the policies are
 * enforced, and which rule lets it through? Traffic must pass every layer that applies to it:
 * - NetworkPolicy, for direct traffic from or to a pod (egress at the source AND ingress at the destination); a
 *   flow to a Service ClusterIP is judged as sent to each pod behind it, on its targetPort (src/audit/pod-index.ts);
 * - EgressRuleSet, for requests through the egress proxy (the union of all sets is the proxy's allow-list);
 * - security groups, for traffic from an instance or node whose groups the set holds.
 * A conversation no layer applies to is reported as not covered, not as allowed.
 */
import { addressBytes, compareAddressBytes } from '../model/cidr.js';
import { protocolLabel } from '../model/endpoint.js';
import { edgeVia } from '../model/observation.js';
import type { InferenceEdge } from '../store/infer-query.js';
import type { Protocol } from './connection-set.js';
import { matchEgress } from './egressruleset.js';
import {
  evaluateConnection,
  evaluateOtherProtocol,
  policySelects,
  type NetworkPolicy,
  type PolicyRef,
  type RuleRef,
} from './networkpolicy.js';
import type { Peer, PodPeer } from './peer.js';
import { PodIndex } from './pod-index.js';
import type { PolicySet } from './policy-set.js';
import { sgRuleAllows, sgRulePortMatches } from './security-group.js';

export const LAYERS = ['networkpolicy', 'egressruleset', 'security-group'] as const;
export type Layer = (typeof LAYERS)[number];

export interface LayerVerdict {
  readonly layer: Layer;
  readonly allowed: boolean;
  /** The rules that allow it, or `not isolated`. */
  readonly allowedBy: readonly string[];
  /** Why it is denied; '' when allowed. */
  readonly reason: string;
}

export type ReplayVerdict = 'allowed' | 'denied' | 'not-covered';

export interface ReplayRow {
  readonly sender: string;
  readonly target: string;
  readonly port: number;
  readonly protocol: number;
  readonly via: 'direct' | 'proxy';
  readonly flows: number;
  readonly bytes: number;
  readonly firstSeen: number;
  readonly lastSeen: number;
  readonly verdict: ReplayVerdict;
  readonly layers: readonly LayerVerdict[];
}

const NP_PROTOCOLS: Record<number, Protocol> = { 6: 'TCP', 17: 'UDP', 132: 'SCTP' };
/** Destination classes whose traffic from a pod leaves through its node's address. */
const OUTSIDE_VPC: ReadonlySet<string> = new Set(['internet', 'cloud-service']);

function policyNames(refs: readonly PolicyRef[]): string {
  return refs.map((r) => `${r.namespace}/${r.name}`).join(', ');
}

function ruleNames(refs: readonly RuleRef[]): string[] {
  return refs.map((r) => `networkpolicy ${r.namespace}/${r.name} ${r.direction}[${r.rule}]`);
}

function labelsOf(json: string): Record<string, string> {
  const v = JSON.parse(json) as unknown;
  return typeof v === 'object' && v !== null ? (v as Record<string, string>) : {};
}

export class Replayer {
  readonly #rows = new Map<
    string,
    { row: Omit<ReplayRow, 'flows' | 'bytes' | 'firstSeen' | 'lastSeen'>; sums: number[] }
  >();

  constructor(
    readonly set: PolicySet,
    readonly namespaceLabels: ReadonlyMap<string, Record<string, string>>,
    /** `namespace/pod` → labels JSON, for the candidate pods of node-attributed (SNAT'd) flows. */
    readonly podLabels: ReadonlyMap<string, string> = new Map(),
    /** Destination pods' named ports, and the pods behind Services. */
    readonly pods: PodIndex = PodIndex.EMPTY,
  ) {}

  /** Every pod judged, by namespace, labels and ports: what the NetworkPolicies had to select from. */
  readonly #seen = new Map<string, PodPeer>();

  /** A pod as policies see it; `ports` resolve named ports when it is the destination. */
  #pod(namespace: string, labels: string, ports: PodPeer['ports'] = []): PodPeer {
    const key = `${namespace}\u0000${labels}\u0000${JSON.stringify(ports)}`;
    const known = this.#seen.get(key);
    if (known !== undefined) return known;
    const pod: PodPeer = {
      kind: 'pod',
      namespace,
      labels: labelsOf(labels),
      namespaceLabels: this.namespaceLabels.get(namespace) ?? { 'kubernetes.io/metadata.name': namespace },
      ports,
    };
    this.#seen.set(key, pod);
    return pod;
  }

  /**
   * NetworkPolicies that selected none of the pods the replay judged: a manifest rendered without its namespace
   * (it lands in `default`) or a selector that matches nothing, which an audit would otherwise pass in silence.
   */
  idlePolicies(): NetworkPolicy[] {
    const pods = [...this.#seen.values()];
    return this.set.networkPolicies.filter((p) => !pods.some((pod) => policySelects(p, pod)));
  }

  add(e: InferenceEdge): void {
    const via = edgeVia(e.dstHost, e.sources);
    const target =
      e.dstKind === 'workload' && e.dstClass === 'pod' ? e.dstName : e.dstHost !== '' ? e.dstHost : e.dstAddr;
    const layers =
      via === 'proxy' ? this.#proxied(e) : [...this.#networkPolicy(e), ...this.#securityGroups(e)];
    const verdict: ReplayVerdict =
      layers.length === 0 ? 'not-covered' : layers.every((l) => l.allowed) ? 'allowed' : 'denied';
    const row = {
      sender: e.srcWorkloadId,
      target,
      port: e.port,
      protocol: e.protocol,
      via,
      verdict,
      layers,
    } as const;
    const key = JSON.stringify([row.sender, target, e.port, e.protocol, via, layers]);
    const cur = this.#rows.get(key);
    if (cur === undefined) this.#rows.set(key, { row, sums: [e.flows, e.bytes, e.firstSeen, e.lastSeen] });
    else {
      cur.sums[0]! += e.flows;
      cur.sums[1]! += e.bytes;
      cur.sums[2] = Math.min(cur.sums[2]!, e.firstSeen);
      cur.sums[3] = Math.max(cur.sums[3]!, e.lastSeen);
    }
  }

  /** Rows sorted by sender, target, port; denied before allowed within one conversation. */
  rows(): ReplayRow[] {
    const order: Record<ReplayVerdict, number> = { denied: 0, allowed: 1, 'not-covered': 2 };
    return [...this.#rows.values()]
      .map(({ row, sums }) => ({
        ...row,
        flows: sums[0]!,
        bytes: sums[1]!,
        firstSeen: sums[2]!,
        lastSeen: sums[3]!,
      }))
      .sort(
        (a, b) =>
          codePoints(a.sender, b.sender) ||
          compareTargets(a.target, b.target) ||
          a.port - b.port ||
          a.protocol - b.protocol ||
          order[a.verdict] - order[b.verdict],
      );
  }

  #proxied(e: InferenceEdge): LayerVerdict[] {
    if (this.set.egressRuleSets.length === 0) return [];
    // A request to an address names it as its host: the proxy matches that text.
    const host = e.dstHost !== '' ? e.dstHost : e.dstAddr;
    const m = matchEgress(this.set.egressRuleSets, host, e.port);
    return [
      m === null
        ? {
            layer: 'egressruleset',
            allowed: false,
            allowedBy: [],
            reason: `no EgressRuleSet target matches ${host}:${e.port}`,
          }
        : {
            layer: 'egressruleset',
            allowed: true,
            allowedBy: [`egressruleset ${m.set.namespace}/${m.set.name} ${m.target.host}:${m.target.port}`],
            reason: '',
          },
    ];
  }

  /**
   * A flow that left through a node's address (SNAT) came from one of the pods on the node. Policies apply to that
   * pod before the translation: the flow is denied only when every candidate pod would be denied, and the rule
   * that allows a candidate is named with it.
   */
  #candidates(e: InferenceEdge): LayerVerdict[] {
    const seen = new Set<string>();
    const verdicts: { pod: string; v: LayerVerdict }[] = [];
    for (const c of JSON.parse(e.srcCandidates) as {
      namespace: string;
      pod: string;
      hostNetwork: boolean;
    }[]) {
      const labels = this.podLabels.get(`${c.namespace}/${c.pod}`);
      if (c.hostNetwork || labels === undefined || seen.has(`${c.namespace} ${labels}`)) continue;
      seen.add(`${c.namespace} ${labels}`);
      const v = this.#networkPolicy({
        ...e,
        srcKind: 'workload',
        srcNamespace: c.namespace,
        srcLabels: labels,
      });
      if (v.length > 0) verdicts.push({ pod: `${c.namespace}/${c.pod}`, v: v[0]! });
    }
    if (verdicts.length === 0) return [];
    const allowed = verdicts.filter((x) => x.v.allowed);
    if (allowed.length > 0)
      return [
        {
          layer: 'networkpolicy',
          allowed: true,
          allowedBy: allowed.flatMap((x) => x.v.allowedBy.map((b) => `${b} (candidate ${x.pod})`)),
          reason: '',
        },
      ];
    return [
      {
        layer: 'networkpolicy',
        allowed: false,
        allowedBy: [],
        reason: `sent through ${e.srcWorkloadId}'s address (SNAT); every candidate pod denied: ${verdicts.map((x) => `${x.pod}: ${x.v.reason}`).join(' | ')}`,
      },
    ];
  }

  /**
   * A flow to a ClusterIP reaches one of the Service's pods, on its targetPort: each would get some of the
   * connections, so the flow is denied when any of them would deny it. The row keeps the ClusterIP and port seen.
   */
  #service(e: InferenceEdge, protocol: Protocol): LayerVerdict[] {
    const backends = this.pods.backends(e.dstName, e.port, protocol, e.firstSeen, e.lastSeen);
    const verdicts: { to: string; v: LayerVerdict }[] = [];
    for (const b of backends) {
      const v = this.#networkPolicy({
        ...e,
        dstAddr: b.lease.ip,
        port: b.port,
        dstKind: 'workload',
        dstClass: 'pod',
        dstName: b.workload,
        dstNamespace: b.lease.namespace,
        dstLabels: JSON.stringify(b.lease.labels),
      });
      if (v.length > 0)
        verdicts.push({ to: `Service ${e.dstName} → ${b.workload} port ${b.port}`, v: v[0]! });
    }
    if (verdicts.length === 0) return [];
    const denied = verdicts.filter((x) => !x.v.allowed);
    if (denied.length > 0)
      return [
        {
          layer: 'networkpolicy',
          allowed: false,
          allowedBy: [],
          reason: denied.map((x) => `${x.to}: ${x.v.reason}`).join(' | '),
        },
      ];
    return [
      {
        layer: 'networkpolicy',
        allowed: true,
        allowedBy: [...new Set(verdicts.flatMap((x) => x.v.allowedBy.map((b) => `${b} (${x.to})`)))],
        reason: '',
      },
    ];
  }

  #networkPolicy(e: InferenceEdge): LayerVerdict[] {
    const policies = this.set.networkPolicies;
    const protocol = NP_PROTOCOLS[e.protocol];
    if (policies.length > 0 && e.dstClass === 'service' && protocol !== undefined) {
      const viaService = this.#service(e, protocol);
      if (viaService.length > 0) return viaService;
    }
    if (
      policies.length > 0 &&
      // A node's address carries its pods' traffic only when it leaves the VPC (SNAT); inside, it is the node's.
      (e.srcKind === 'ambiguous' || (e.srcKind === 'node' && OUTSIDE_VPC.has(e.dstClass))) &&
      e.srcCandidates !== '[]'
    ) {
      const viaNode = this.#candidates(e);
      if (viaNode.length > 0) return viaNode;
    }
    const srcPod = e.srcKind === 'workload' ? this.#pod(e.srcNamespace, e.srcLabels) : null;
    const dstPod =
      e.dstKind === 'workload' && e.dstClass === 'pod'
        ? this.#pod(e.dstNamespace, e.dstLabels, this.pods.portsAt(e.dstAddr, e.firstSeen, e.lastSeen))
        : null;
    if (policies.length === 0 || (srcPod === null && dstPod === null)) return [];
    const src: Peer | null = srcPod ?? (e.srcAddr !== '' ? { kind: 'ip', ip: e.srcAddr } : null);
    const dst: Peer | null = dstPod ?? (e.dstAddr !== '' ? { kind: 'ip', ip: e.dstAddr } : null);
    if (src === null || dst === null) return [];
    const v =
      protocol === undefined
        ? evaluateOtherProtocol(policies, src, dst)
        : evaluateConnection(policies, src, dst, e.port, protocol);
    if (v.allowed) {
      const by = [...ruleNames(v.egress.allowedBy), ...ruleNames(v.ingress.allowedBy)];
      return [
        {
          layer: 'networkpolicy',
          allowed: true,
          allowedBy: by.length > 0 ? by : ['not isolated'],
          reason: '',
        },
      ];
    }
    const what =
      protocol === undefined
        ? `${protocolLabel(e.protocol)} (only a rule without ports can)`
        : `${protocol} ${e.port}`;
    const reasons: string[] = [];
    if (!v.egress.allowed)
      reasons.push(
        `egress isolated by ${policyNames(v.egress.isolatedBy)}; no rule allows ${what} to ${e.dstKind === 'workload' ? e.dstName : e.dstAddr}`,
      );
    if (!v.ingress.allowed)
      reasons.push(
        `ingress of ${e.dstName} isolated by ${policyNames(v.ingress.isolatedBy)}; no rule allows ${what} from ${e.srcWorkloadId}`,
      );
    return [{ layer: 'networkpolicy', allowed: false, allowedBy: [], reason: reasons.join('; ') }];
  }

  #securityGroups(e: InferenceEdge): LayerVerdict[] {
    const groups = JSON.parse(e.srcSecurityGroups) as string[];
    const rules = this.set.securityGroupRules.filter((r) => groups.includes(r.groupId));
    if (rules.length === 0 || e.dstAddr === '') return [];
    const dstGroups = JSON.parse(e.dstSecurityGroups) as string[];
    const hits = rules.filter((r) =>
      sgRuleAllows(r, e.protocol, e.port, e.dstAddr, dstGroups, this.set.prefixLists),
    );
    const inSet = [...new Set(rules.map((r) => r.groupId))].sort().join(', ');
    // A prefix list whose entries were not given may be what allows it: say which, and how to supply it.
    const unknown = [
      ...new Set(
        rules
          .filter((r) => sgRulePortMatches(r, e.protocol, e.port))
          .flatMap((r) => r.prefixLists.filter((id) => !this.set.prefixLists.has(id))),
      ),
    ].sort();
    const missing =
      unknown.length === 0
        ? ''
        : `; prefix list ${unknown.join(', ')} not given (save \`aws ec2 get-managed-prefix-list-entries --prefix-list-id <id>\` as <id>.json beside the groups)`;
    return [
      hits.length > 0
        ? {
            layer: 'security-group',
            allowed: true,
            allowedBy: hits.map((r) => `security-group ${r.groupId} egress[${r.index}]`),
            reason: '',
          }
        : {
            layer: 'security-group',
            allowed: false,
            allowedBy: [],
            reason: `no egress rule of ${inSet} allows protocol ${e.protocol} port ${e.port} to ${e.dstAddr}${missing}`,
          },
    ];
  }
}

/**
 * Replays every egress edge given (accepted and rejected alike: both were attempted): the rows, and the
 * NetworkPolicies that selected no pod judged (see `Replayer.idlePolicies`).
 */
export function replayOutcome(
  edges: Iterable<InferenceEdge>,
  set: PolicySet,
  namespaceLabels: ReadonlyMap<string, Record<string, string>>,
  podLabels: ReadonlyMap<string, string> = new Map(),
  pods: PodIndex = PodIndex.EMPTY,
): { rows: ReplayRow[]; idle: NetworkPolicy[] } {
  const r = new Replayer(set, namespaceLabels, podLabels, pods);
  for (const e of edges) r.add(e);
  return { rows: r.rows(), idle: r.idlePolicies() };
}

function codePoints(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Addresses in numeric order (198.51.100.2 before 198.51.100.10), before names and pods in code-point order: the
 * same order on every machine, whatever its locale.
 */
function compareTargets(a: string, b: string): number {
  const x = addressBytes(a);
  const y = addressBytes(b);
  if (x === null || y === null) return x !== null ? -1 : y !== null ? 1 : codePoints(a, b);
  return compareAddressBytes(x, y);
}
