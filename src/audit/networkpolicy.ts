import { ConnectionSet, isProtocol, type Protocol } from './connection-set.js';
import { parseAddress, parseCidrRange, rangeWithin, subtractRanges, type IpRange } from './ip-range.js';
import { EVERYTHING, parseLabelSelector, selectorMatches, type LabelSelector } from './label-selector.js';
import { ManifestError } from './manifest-error.js';
import type { Peer, PodPeer } from './peer.js';
import { MAX_PORT, MIN_PORT, PortSet } from './port-set.js';

/**
 * Kubernetes `networking.k8s.io/v1` NetworkPolicy: a typed, validated model and its evaluation. Semantics per
 * https://kubernetes.io/docs/concepts/services-networking/network-policies/ — a pod is isolated in a direction
 * once any policy selecting it covers that direction; it then allows the union of the matching rules of those
 * policies, and traffic between two pods needs the source's egress and the destination's ingress.
 */

export const POLICY_DIRECTIONS = ['ingress', 'egress'] as const;
export type PolicyDirection = (typeof POLICY_DIRECTIONS)[number];

/** One entry of a rule's `ports`. */
export interface PolicyPort {
  readonly protocol: Protocol;
  /** A port number, a container port name (resolved against the destination pod), or null for every port. */
  readonly port: number | string | null;
  /** Inclusive end of a numeric range starting at `port`; null for a single port. */
  readonly endPort: number | null;
}

/** One entry of a rule's `from` / `to`. */
export type PolicyPeer =
  | {
      readonly kind: 'selector';
      /** null: no podSelector (every pod of the selected namespaces). */
      readonly podSelector: LabelSelector | null;
      /** null: no namespaceSelector (the policy's own namespace only). */
      readonly namespaceSelector: LabelSelector | null;
    }
  | {
      readonly kind: 'ipBlock';
      readonly cidr: string;
      readonly except: readonly string[];
      /** `cidr` minus every `except`, normalized: disjoint, merged, ascending. */
      readonly ranges: readonly IpRange[];
    };

export interface PolicyRule {
  /** Empty when `from`/`to` is missing or empty: every peer, external addresses included. */
  readonly peers: readonly PolicyPeer[];
  /** Empty when `ports` is missing or empty: every protocol and port. */
  readonly ports: readonly PolicyPort[];
}

/** A NetworkPolicy after defaulting: namespace filled in and `policyTypes` resolved into `affects`. */
export interface NetworkPolicy {
  readonly namespace: string;
  readonly name: string;
  readonly podSelector: LabelSelector;
  /** The directions this policy isolates its pods in (`policyTypes`, or its default). */
  readonly affects: Readonly<Record<PolicyDirection, boolean>>;
  readonly ingress: readonly PolicyRule[];
  readonly egress: readonly PolicyRule[];
}

export interface PolicyRef {
  readonly namespace: string;
  readonly name: string;
}

/** A rule of a policy: `rule` is its 0-based index in `spec.ingress` or `spec.egress`. */
export interface RuleRef extends PolicyRef {
  readonly direction: PolicyDirection;
  readonly rule: number;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `null` and a missing field mean the same in Kubernetes JSON. */
function listOf(v: unknown, where: string): readonly unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new ManifestError(`${where}: expected a list`);
  return v;
}

/** Container port names are IANA service names: up to 15 characters, a letter among them, no double hyphen. */
const PORT_NAME = /^(?=.*[a-z])(?!.*--)[a-z0-9]([-a-z0-9]{0,13}[a-z0-9])?$/;

function parsePortNumber(v: unknown, where: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < MIN_PORT || v > MAX_PORT) {
    throw new ManifestError(`${where}: ${JSON.stringify(v)} is not a port number (1-65535)`);
  }
  return v;
}

function parsePolicyPort(raw: unknown, where: string): PolicyPort {
  if (!isRecord(raw)) throw new ManifestError(`${where}: expected {protocol, port, endPort}`);
  // Kubernetes defaults an absent protocol to TCP.
  const protocol = raw.protocol ?? 'TCP';
  if (!isProtocol(protocol)) {
    throw new ManifestError(`${where}.protocol: ${JSON.stringify(protocol)} is not one of TCP, UDP, SCTP`);
  }
  let port: number | string | null = null;
  if (typeof raw.port === 'string') {
    if (!PORT_NAME.test(raw.port)) {
      throw new ManifestError(
        `${where}.port: ${JSON.stringify(raw.port)} is neither a number nor a port name`,
      );
    }
    port = raw.port;
  } else if (raw.port !== undefined && raw.port !== null) {
    port = parsePortNumber(raw.port, `${where}.port`);
  }
  let endPort: number | null = null;
  if (raw.endPort !== undefined && raw.endPort !== null) {
    endPort = parsePortNumber(raw.endPort, `${where}.endPort`);
    if (typeof port !== 'number') throw new ManifestError(`${where}.endPort: needs a numeric port`);
    if (endPort < port) throw new ManifestError(`${where}.endPort: ${endPort} is below port ${port}`);
  }
  return Object.freeze({ protocol, port, endPort });
}

function parseCidr(v: unknown, where: string): IpRange {
  const range = typeof v === 'string' ? parseCidrRange(v.trim()) : null;
  if (range === null) throw new ManifestError(`${where}: ${JSON.stringify(v)} is not a CIDR`);
  return range;
}

function parsePeer(raw: unknown, where: string): PolicyPeer {
  if (!isRecord(raw)) throw new ManifestError(`${where}: expected a peer object`);
  const pod = raw.podSelector ?? null;
  const ns = raw.namespaceSelector ?? null;
  const block = raw.ipBlock ?? null;
  if (block !== null) {
    if (pod !== null || ns !== null) {
      throw new ManifestError(`${where}: ipBlock cannot be combined with podSelector or namespaceSelector`);
    }
    if (!isRecord(block)) throw new ManifestError(`${where}.ipBlock: expected {cidr, except}`);
    const cidr = parseCidr(block.cidr, `${where}.ipBlock.cidr`);
    const exceptTexts: string[] = [];
    const excepts = listOf(block.except, `${where}.ipBlock.except`).map((e, i) => {
      exceptTexts.push(String(e));
      return parseCidr(e, `${where}.ipBlock.except[${i}]`);
    });
    return Object.freeze({
      kind: 'ipBlock',
      cidr: String(block.cidr),
      except: Object.freeze(exceptTexts),
      ranges: Object.freeze(subtractRanges([cidr], excepts)),
    });
  }
  if (pod === null && ns === null) {
    throw new ManifestError(`${where}: a peer needs podSelector, namespaceSelector or ipBlock`);
  }
  return Object.freeze({
    kind: 'selector',
    podSelector: pod === null ? null : parseLabelSelector(pod, `${where}.podSelector`),
    namespaceSelector: ns === null ? null : parseLabelSelector(ns, `${where}.namespaceSelector`),
  });
}

function parseRule(raw: unknown, peersKey: 'from' | 'to', where: string): PolicyRule {
  if (raw === null || raw === undefined) return Object.freeze({ peers: [], ports: [] });
  if (!isRecord(raw)) throw new ManifestError(`${where}: expected a rule object`);
  return Object.freeze({
    peers: Object.freeze(
      listOf(raw[peersKey], `${where}.${peersKey}`).map((p, i) => parsePeer(p, `${where}.${peersKey}[${i}]`)),
    ),
    ports: Object.freeze(
      listOf(raw.ports, `${where}.ports`).map((p, i) => parsePolicyPort(p, `${where}.ports[${i}]`)),
    ),
  });
}

/**
 * Parses one NetworkPolicy object (already decoded from YAML/JSON). Throws {@link ManifestError} for what the
 * API server would refuse. An object without `metadata.namespace` is in `default`, as `kubectl apply` puts it.
 */
export function parseNetworkPolicy(obj: unknown): NetworkPolicy {
  if (!isRecord(obj)) throw new ManifestError('NetworkPolicy: expected an object');
  const meta = isRecord(obj.metadata) ? obj.metadata : {};
  const name = meta.name;
  if (typeof name !== 'string' || name === '')
    throw new ManifestError('NetworkPolicy: metadata.name is missing');
  const namespace = typeof meta.namespace === 'string' && meta.namespace !== '' ? meta.namespace : 'default';
  const id = `NetworkPolicy ${namespace}/${name}`;
  const spec = obj.spec ?? {};
  if (!isRecord(spec)) throw new ManifestError(`${id}: spec: expected an object`);
  // A missing podSelector selects every pod of the namespace, like `{}`.
  const podSelector =
    spec.podSelector === undefined || spec.podSelector === null
      ? EVERYTHING
      : parseLabelSelector(spec.podSelector, `${id}: spec.podSelector`);
  const ingress = listOf(spec.ingress, `${id}: spec.ingress`).map((r, i) =>
    parseRule(r, 'from', `${id}: spec.ingress[${i}]`),
  );
  const egress = listOf(spec.egress, `${id}: spec.egress`).map((r, i) =>
    parseRule(r, 'to', `${id}: spec.egress[${i}]`),
  );
  const types = listOf(spec.policyTypes, `${id}: spec.policyTypes`);
  for (const t of types) {
    if (t !== 'Ingress' && t !== 'Egress') {
      throw new ManifestError(`${id}: spec.policyTypes: ${JSON.stringify(t)} is not Ingress or Egress`);
    }
  }
  // Without policyTypes (an empty list counts as none), a policy always isolates ingress, and egress only
  // when it has egress rules (API reference, NetworkPolicySpec.policyTypes).
  const affects =
    types.length > 0
      ? { ingress: types.includes('Ingress'), egress: types.includes('Egress') }
      : { ingress: true, egress: egress.length > 0 };
  return Object.freeze({
    namespace,
    name,
    podSelector,
    affects: Object.freeze(affects),
    ingress: Object.freeze(ingress),
    egress: Object.freeze(egress),
  });
}

/** True when `policy` selects `pod` (same namespace, podSelector matches), whatever the directions. */
export function policySelects(policy: NetworkPolicy, pod: PodPeer): boolean {
  return policy.namespace === pod.namespace && selectorMatches(policy.podSelector, pod.labels);
}

/** The policies that isolate `pod` in `direction`, in the order given. */
export function selectingPolicies(
  policies: readonly NetworkPolicy[],
  pod: PodPeer,
  direction: PolicyDirection,
): NetworkPolicy[] {
  return policies.filter((p) => p.affects[direction] && policySelects(p, pod));
}

function addressRange(ip: string): IpRange {
  const a = parseAddress(ip);
  if (a === null) throw new RangeError(`not an IP address: ${JSON.stringify(ip)}`);
  return { family: a.family, first: a.value, last: a.value };
}

/** Does one `from`/`to` entry of `policy` match `remote`? Selectors never match addresses; ipBlocks never pods. */
export function peerMatches(policy: NetworkPolicy, peer: PolicyPeer, remote: Peer): boolean {
  if (peer.kind === 'ipBlock') {
    if (remote.kind === 'pod') return false;
    if (remote.kind === 'ipRange') return rangeWithin(remote.range, peer.ranges);
    return rangeWithin(addressRange(remote.ip), peer.ranges);
  }
  if (remote.kind !== 'pod') return false;
  if (peer.namespaceSelector === null) {
    if (remote.namespace !== policy.namespace) return false;
  } else if (!selectorMatches(peer.namespaceSelector, remote.namespaceLabels)) {
    return false;
  }
  return peer.podSelector === null || selectorMatches(peer.podSelector, remote.labels);
}

function rulePeersMatch(policy: NetworkPolicy, rule: PolicyRule, remote: Peer): boolean {
  if (rule.peers.length === 0) return true;
  return rule.peers.some((p) => peerMatches(policy, p, remote));
}

/**
 * The ports one `ports` entry allows towards `dst`. A named port resolves against the destination pod's
 * container ports of the same protocol; towards an address, or without such a port, it allows nothing.
 */
export function portEntryConnections(entry: PolicyPort, dst: Peer): ConnectionSet {
  if (entry.port === null) return ConnectionSet.of(entry.protocol, PortSet.ALL);
  if (typeof entry.port === 'number') {
    return ConnectionSet.of(entry.protocol, PortSet.range(entry.port, entry.endPort ?? entry.port));
  }
  if (dst.kind !== 'pod') return ConnectionSet.NONE;
  let ports = PortSet.EMPTY;
  for (const cp of dst.ports) {
    if (cp.name === entry.port && cp.protocol === entry.protocol) {
      ports = PortSet.union(ports, PortSet.range(cp.port));
    }
  }
  return ConnectionSet.of(entry.protocol, ports);
}

/** What a rule's `ports` allow towards `dst`: everything when the list is empty. */
export function ruleConnections(rule: PolicyRule, dst: Peer): ConnectionSet {
  if (rule.ports.length === 0) return ConnectionSet.ALL;
  let out = ConnectionSet.NONE;
  for (const entry of rule.ports) out = ConnectionSet.union(out, portEntryConnections(entry, dst));
  return out;
}

/** A rule that matched the remote peer, and what it allows. */
export interface RuleMatch extends RuleRef {
  readonly connections: ConnectionSet;
  /** The rule has no `ports`: it allows every protocol, those NetworkPolicy cannot name (ICMP…) too. */
  readonly anyProtocol: boolean;
}

/** One direction's answer for one pod: isolated or not, and what is allowed and by which rules. */
export interface SideResult {
  /** True when some policy selects the subject pod for this direction. */
  readonly isolated: boolean;
  /** The policies that isolate the subject in this direction. */
  readonly policies: readonly PolicyRef[];
  /** Rules whose peers matched the remote peer (even when their ports allow nothing towards it). */
  readonly matches: readonly RuleMatch[];
  /** ALL when not isolated, else the union of `matches`. */
  readonly connections: ConnectionSet;
}

const NOT_ISOLATED: SideResult = Object.freeze({
  isolated: false,
  policies: Object.freeze([]),
  matches: Object.freeze([]),
  connections: ConnectionSet.ALL,
});

/**
 * One direction for a subject pod whose isolating policies are already known (`selecting`, from
 * {@link selectingPolicies}): for ingress the subject is the destination and `remote` the source; for egress the
 * subject is the source and `remote` the destination. Lets an all-pairs computation select once per pod.
 */
export function evaluateSelected(
  selecting: readonly NetworkPolicy[],
  direction: PolicyDirection,
  subject: PodPeer,
  remote: Peer,
): SideResult {
  if (selecting.length === 0) return NOT_ISOLATED;
  const dst = direction === 'ingress' ? subject : remote;
  const matches: RuleMatch[] = [];
  let connections = ConnectionSet.NONE;
  for (const policy of selecting) {
    const rules = direction === 'ingress' ? policy.ingress : policy.egress;
    rules.forEach((rule, index) => {
      if (!rulePeersMatch(policy, rule, remote)) return;
      const conns = ruleConnections(rule, dst);
      matches.push({
        namespace: policy.namespace,
        name: policy.name,
        direction,
        rule: index,
        connections: conns,
        anyProtocol: rule.ports.length === 0,
      });
      connections = ConnectionSet.union(connections, conns);
    });
  }
  return {
    isolated: true,
    policies: selecting.map((p) => ({ namespace: p.namespace, name: p.name })),
    matches,
    connections,
  };
}

/**
 * One direction for `subject`. Only pods are subject to NetworkPolicy: an address is never isolated, so its
 * side allows everything and the other side decides.
 */
export function evaluateSide(
  policies: readonly NetworkPolicy[],
  direction: PolicyDirection,
  subject: Peer,
  remote: Peer,
): SideResult {
  if (subject.kind !== 'pod') return NOT_ISOLATED;
  return evaluateSelected(selectingPolicies(policies, subject, direction), direction, subject, remote);
}

/** Everything `src` may send to `dst`: the source's egress intersected with the destination's ingress. */
export interface PairConnections {
  readonly allowed: ConnectionSet;
  readonly egress: SideResult;
  readonly ingress: SideResult;
}

export function pairConnections(policies: readonly NetworkPolicy[], src: Peer, dst: Peer): PairConnections {
  const egress = evaluateSide(policies, 'egress', src, dst);
  const ingress = evaluateSide(policies, 'ingress', dst, src);
  return { allowed: ConnectionSet.intersect(egress.connections, ingress.connections), egress, ingress };
}

/** One side's decision for one connection. */
export interface Verdict {
  /** True when some policy selects this side's pod for this direction (an address is never isolated). */
  readonly isolated: boolean;
  readonly allowed: boolean;
  /** The rules that allow this connection; empty when the side is not isolated or denies it. */
  readonly allowedBy: readonly RuleRef[];
  /** The policies that isolate this side; when `allowed` is false, these are the ones that deny. */
  readonly isolatedBy: readonly PolicyRef[];
}

export interface ConnectionVerdict {
  /** Egress allows it AND ingress allows it. */
  readonly allowed: boolean;
  readonly egress: Verdict;
  readonly ingress: Verdict;
}

function verdictOf(side: SideResult, allows: (m: RuleMatch) => boolean): Verdict {
  if (!side.isolated) return { isolated: false, allowed: true, allowedBy: [], isolatedBy: [] };
  const allowedBy: RuleRef[] = [];
  for (const m of side.matches) {
    if (allows(m))
      allowedBy.push({ namespace: m.namespace, name: m.name, direction: m.direction, rule: m.rule });
  }
  return { isolated: true, allowed: allowedBy.length > 0, allowedBy, isolatedBy: side.policies };
}

/**
 * Would `policies` let `src` open a `protocol` connection to `dst` on `port`? Answers per side, with the rules
 * that allow it, so a replay of observed traffic can say which policy would drop a flow.
 */
export function evaluateConnection(
  policies: readonly NetworkPolicy[],
  src: Peer,
  dst: Peer,
  port: number,
  protocol: Protocol,
): ConnectionVerdict {
  return judge(policies, src, dst, (m) => ConnectionSet.contains(m.connections, protocol, port));
}

/**
 * Would `policies` let `src` send `dst` a protocol NetworkPolicy cannot name (ICMP, GRE, ESP…)? An isolated side
 * allows it only through a rule without `ports`, which matches all traffic with its peers, as CNIs enforce it.
 */
export function evaluateOtherProtocol(
  policies: readonly NetworkPolicy[],
  src: Peer,
  dst: Peer,
): ConnectionVerdict {
  return judge(policies, src, dst, (m) => m.anyProtocol);
}

/** Both sides' verdicts, a matching rule allowing the connection when `allows` says so. */
function judge(
  policies: readonly NetworkPolicy[],
  src: Peer,
  dst: Peer,
  allows: (m: RuleMatch) => boolean,
): ConnectionVerdict {
  const pair = pairConnections(policies, src, dst);
  const egress = verdictOf(pair.egress, allows);
  const ingress = verdictOf(pair.ingress, allows);
  return { allowed: egress.allowed && ingress.allowed, egress, ingress };
}

/**
 * The address ranges of every ipBlock in `direction`'s rules (`from` for ingress, `to` for egress), whatever
 * the policy's `policyTypes`: they are where a connection list cuts the external address space.
 */
export function referencedIpRanges(
  policies: readonly NetworkPolicy[],
  direction: PolicyDirection,
): IpRange[] {
  const out: IpRange[] = [];
  for (const policy of policies) {
    for (const rule of direction === 'ingress' ? policy.ingress : policy.egress) {
      for (const peer of rule.peers) if (peer.kind === 'ipBlock') out.push(...peer.ranges);
    }
  }
  return out;
}
