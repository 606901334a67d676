/**
 * A compact evaluator of what generated rules allow, written apart from src/audit so that the simulation does not
 * grade the project with its own reading of the semantics.
 *
 * NetworkPolicy (networking.k8s.io/v1, https://kubernetes.io/docs/concepts/services-networking/network-policies/):
 * - a pod is isolated for egress (ingress) once any policy of its namespace selects it and covers that direction:
 *   `policyTypes` when given, else Ingress always and Egress when the policy has `egress` rules;
 * - an isolated pod may send what the union of the selecting policies' rules allows; a rule matches when one of
 *   its peers matches (no `to`/`from`: every peer) and one of its ports matches (no `ports`: every port);
 * - a peer with podSelector only: pods of the policy's namespace; with namespaceSelector: pods of the selected
 *   namespaces (and podSelector, when given, on those pods); ipBlock: addresses in `cidr` minus `except`;
 * - ipBlocks are not applied to pod addresses (the API says they "should be cluster-external IPs" since pod IPs are
 *   ephemeral; the project's audit reads it the same way), so in-cluster traffic needs selectors;
 * - pod to pod needs the source's egress and the destination's ingress.
 *
 * EgressRuleSet (zalando.org/v1): `spec.targets` are `host:port`; a host may be `*.domain`, which matches every name
 * below `domain` but not `domain` itself; the port must be equal.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { Labels, PodEnd } from './truth.js';

// ── Addresses ───────────────────────────────────────────────────────────────────────────────────────────────

export interface AddrRange {
  readonly family: 4 | 6;
  readonly first: bigint;
  readonly last: bigint;
}

export function parseIp(text: string): { family: 4 | 6; value: bigint } | null {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(text)) {
    const parts = text.split('.').map(Number);
    if (parts.some((p) => p > 255)) return null;
    return { family: 4, value: parts.reduce((n, p) => (n << 8n) | BigInt(p), 0n) };
  }
  if (!text.includes(':')) return null;
  const [head, tail, extra] = text.split('::');
  if (extra !== undefined) return null;
  const h = head === '' || head === undefined ? [] : head.split(':');
  const t = tail === undefined ? [] : tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  if (groups.length !== 8 || groups.some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) return null;
  return { family: 6, value: groups.reduce((n, g) => (n << 16n) | BigInt(parseInt(g, 16)), 0n) };
}

export function parseCidrRange(text: string): AddrRange | null {
  const [addr, bitsText] = text.split('/');
  const ip = addr === undefined ? null : parseIp(addr);
  if (ip === null || bitsText === undefined || !/^\d{1,3}$/.test(bitsText)) return null;
  const width = ip.family === 4 ? 32 : 128;
  const bits = Number(bitsText);
  if (bits > width) return null;
  const host = (1n << BigInt(width - bits)) - 1n;
  const first = ip.value & ~host & ((1n << BigInt(width)) - 1n);
  return { family: ip.family, first, last: first | host };
}

/** Sorted, merged, disjoint. */
export function mergeRanges(ranges: readonly AddrRange[]): AddrRange[] {
  const sorted = [...ranges].sort((a, b) =>
    a.family !== b.family ? a.family - b.family : a.first < b.first ? -1 : a.first > b.first ? 1 : 0,
  );
  const out: AddrRange[] = [];
  for (const r of sorted) {
    const prev = out[out.length - 1];
    if (prev !== undefined && prev.family === r.family && r.first <= prev.last + 1n) {
      if (r.last > prev.last) out[out.length - 1] = { ...prev, last: r.last };
    } else out.push(r);
  }
  return out;
}

/** `from` minus `remove`, both merged. */
export function subtract(from: readonly AddrRange[], remove: readonly AddrRange[]): AddrRange[] {
  let cur = mergeRanges(from);
  for (const r of mergeRanges(remove)) {
    const next: AddrRange[] = [];
    for (const c of cur) {
      if (c.family !== r.family || r.last < c.first || r.first > c.last) {
        next.push(c);
        continue;
      }
      if (r.first > c.first) next.push({ ...c, last: r.first - 1n });
      if (r.last < c.last) next.push({ ...c, first: r.last + 1n });
    }
    cur = next;
  }
  return cur;
}

/** Number of IPv4 addresses in the union of `ranges`. */
export function ipv4Size(ranges: readonly AddrRange[]): number {
  let n = 0n;
  for (const r of mergeRanges(ranges)) if (r.family === 4) n += r.last - r.first + 1n;
  return Number(n);
}

function contains(ranges: readonly AddrRange[], ip: string): boolean {
  const a = parseIp(ip);
  return a !== null && ranges.some((r) => r.family === a.family && r.first <= a.value && a.value <= r.last);
}

// ── NetworkPolicy ───────────────────────────────────────────────────────────────────────────────────────────

interface Requirement {
  readonly key: string;
  readonly operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  readonly values: readonly string[];
}

/** A label selector; `{}` selects everything. */
export interface Selector {
  readonly matchLabels: Labels;
  readonly matchExpressions: readonly Requirement[];
}

export type NpPeer =
  | { readonly kind: 'selector'; readonly pods: Selector | null; readonly namespaces: Selector | null }
  | { readonly kind: 'ipBlock'; readonly cidr: string; readonly ranges: readonly AddrRange[] };

export interface NpPort {
  readonly protocol: 'TCP' | 'UDP' | 'SCTP';
  readonly port: number | string | null;
  readonly endPort: number | null;
}

export interface NpRule {
  /** null: no `to`/`from` (every peer). */
  readonly peers: readonly NpPeer[] | null;
  /** Empty: every port. */
  readonly ports: readonly NpPort[];
}

export interface Policy {
  readonly file: string;
  readonly namespace: string;
  readonly name: string;
  readonly podSelector: Selector;
  readonly isolates: { readonly ingress: boolean; readonly egress: boolean };
  readonly ingress: readonly NpRule[];
  readonly egress: readonly NpRule[];
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function parseSelector(v: unknown): Selector {
  const o = isObj(v) ? v : {};
  const matchLabels: Record<string, string> = {};
  if (isObj(o.matchLabels)) for (const [k, x] of Object.entries(o.matchLabels)) matchLabels[k] = String(x);
  const matchExpressions = list(o.matchExpressions).map((e) => {
    const r = isObj(e) ? e : {};
    return {
      key: String(r.key),
      operator: String(r.operator) as Requirement['operator'],
      values: list(r.values).map(String),
    };
  });
  return { matchLabels, matchExpressions };
}

export function selectorMatches(s: Selector, labels: Labels): boolean {
  for (const [k, v] of Object.entries(s.matchLabels)) if (labels[k] !== v) return false;
  for (const r of s.matchExpressions) {
    const has = Object.prototype.hasOwnProperty.call(labels, r.key);
    const ok =
      r.operator === 'In'
        ? has && r.values.includes(labels[r.key]!)
        : r.operator === 'NotIn'
          ? !has || !r.values.includes(labels[r.key]!)
          : r.operator === 'Exists'
            ? has
            : r.operator === 'DoesNotExist'
              ? !has
              : false;
    if (!ok) return false;
  }
  return true;
}

function parsePeer(v: unknown): NpPeer {
  const o = isObj(v) ? v : {};
  if (isObj(o.ipBlock)) {
    const cidr = String(o.ipBlock.cidr);
    const base = parseCidrRange(cidr);
    if (base === null) throw new Error(`ipBlock.cidr ${JSON.stringify(cidr)} is not a CIDR`);
    const except = list(o.ipBlock.except).map((e) => {
      const r = parseCidrRange(String(e));
      if (r === null) throw new Error(`ipBlock.except ${JSON.stringify(e)} is not a CIDR`);
      return r;
    });
    return { kind: 'ipBlock', cidr, ranges: subtract([base], except) };
  }
  return {
    kind: 'selector',
    pods: o.podSelector === undefined ? null : parseSelector(o.podSelector),
    namespaces: o.namespaceSelector === undefined ? null : parseSelector(o.namespaceSelector),
  };
}

function parseRule(v: unknown, peersKey: 'to' | 'from'): NpRule {
  const o = isObj(v) ? v : {};
  const rawPeers = list(o[peersKey]);
  const ports = list(o.ports).map((p): NpPort => {
    const r = isObj(p) ? p : {};
    const protocol = (r.protocol ?? 'TCP') as NpPort['protocol'];
    const port = typeof r.port === 'number' || typeof r.port === 'string' ? r.port : null;
    return { protocol, port, endPort: typeof r.endPort === 'number' ? r.endPort : null };
  });
  return { peers: rawPeers.length === 0 ? null : rawPeers.map(parsePeer), ports };
}

/** One NetworkPolicy object, with the API's defaults applied. */
export function parsePolicy(obj: Obj, file: string): Policy {
  const meta = isObj(obj.metadata) ? obj.metadata : {};
  const spec = isObj(obj.spec) ? obj.spec : {};
  const egress = list(spec.egress).map((r) => parseRule(r, 'to'));
  const ingress = list(spec.ingress).map((r) => parseRule(r, 'from'));
  const types = list(spec.policyTypes).map(String);
  return {
    file,
    namespace: typeof meta.namespace === 'string' ? meta.namespace : 'default',
    name: String(meta.name),
    podSelector: parseSelector(spec.podSelector),
    isolates:
      types.length > 0
        ? { ingress: types.includes('Ingress'), egress: types.includes('Egress') }
        : { ingress: true, egress: egress.length > 0 },
    ingress,
    egress,
  };
}

function filesUnder(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const n of names) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p));
    else if (/\.(ya?ml|json)$/.test(n)) out.push(p);
  }
  return out;
}

/** Every object of `kind` in the YAML / JSON files under `dir` (commented-out rules are comments, so not read). */
export function objectsUnder(dir: string, kind: string): { file: string; obj: Obj }[] {
  const out: { file: string; obj: Obj }[] = [];
  for (const file of filesUnder(dir)) {
    for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]!.message}`);
      const obj = doc.toJS() as unknown;
      const items = isObj(obj) && obj.kind === 'List' ? list(obj.items) : [obj];
      for (const it of items) if (isObj(it) && it.kind === kind) out.push({ file, obj: it });
    }
  }
  return out;
}

export function loadNetworkPolicies(dir: string): Policy[] {
  return objectsUnder(dir, 'NetworkPolicy').map(({ file, obj }) => parsePolicy(obj, file));
}

/** A pod as policies see it. */
export interface PodSide {
  readonly namespace: string;
  readonly labels: Labels;
  readonly namespaceLabels: Labels;
}

export type Remote =
  { readonly kind: 'pod'; readonly pod: PodEnd } | { readonly kind: 'ip'; readonly ip: string };

function peerMatches(policy: Policy, peer: NpPeer, remote: Remote): boolean {
  if (peer.kind === 'ipBlock') return remote.kind === 'ip' && contains(peer.ranges, remote.ip);
  if (remote.kind !== 'pod') return false;
  const p = remote.pod;
  if (
    peer.namespaces === null
      ? p.namespace !== policy.namespace
      : !selectorMatches(peer.namespaces, p.namespaceLabels)
  )
    return false;
  return peer.pods === null || selectorMatches(peer.pods, p.labels);
}

function portMatches(entry: NpPort, dst: Remote, port: number, protocol: string): boolean {
  if (entry.protocol !== protocol) return false;
  if (entry.port === null) return true;
  if (typeof entry.port === 'number') return port >= entry.port && port <= (entry.endPort ?? entry.port);
  // A named port resolves against the destination pod's container ports; towards an address it matches nothing.
  return (
    dst.kind === 'pod' &&
    dst.pod.ports.some((cp) => cp.name === entry.port && cp.port === port && cp.protocol === protocol)
  );
}

export interface SideVerdict {
  readonly isolated: boolean;
  readonly allowed: boolean;
}

/** One direction for `subject`: egress (remote = destination) or ingress (remote = source). */
export function side(
  policies: readonly Policy[],
  direction: 'ingress' | 'egress',
  subject: PodSide,
  remote: Remote,
  dstForPorts: Remote,
  port: number,
  protocol: string,
): SideVerdict {
  const selecting = policies.filter(
    (p) =>
      p.isolates[direction] &&
      p.namespace === subject.namespace &&
      selectorMatches(p.podSelector, subject.labels),
  );
  if (selecting.length === 0) return { isolated: false, allowed: true };
  for (const p of selecting) {
    for (const rule of direction === 'egress' ? p.egress : p.ingress) {
      const peerOk = rule.peers === null || rule.peers.some((x) => peerMatches(p, x, remote));
      const portOk =
        rule.ports.length === 0 || rule.ports.some((e) => portMatches(e, dstForPorts, port, protocol));
      if (peerOk && portOk) return { isolated: true, allowed: true };
    }
  }
  return { isolated: true, allowed: false };
}

/** Is a connection from pod `src` to `dst` on `port`/`protocol` allowed (egress at the source, ingress at a pod)? */
export function connectionAllowed(
  policies: readonly Policy[],
  src: PodSide & { readonly workload: string; readonly ports?: PodEnd['ports'] },
  dst: Remote,
  port: number,
  protocol: string,
): { allowed: boolean; egress: SideVerdict; ingress: SideVerdict } {
  const egress = side(policies, 'egress', src, dst, dst, port, protocol);
  const ingress =
    dst.kind === 'pod'
      ? side(policies, 'ingress', dst.pod, { kind: 'pod', pod: { ports: [], ...src } }, dst, port, protocol)
      : { isolated: false, allowed: true };
  return { allowed: egress.allowed && ingress.allowed, egress, ingress };
}

/** The union of every egress ipBlock (cidr minus except) of `policies`. */
export function egressRanges(policies: readonly Policy[]): AddrRange[] {
  const out: AddrRange[] = [];
  for (const p of policies)
    for (const r of p.egress)
      for (const peer of r.peers ?? []) if (peer.kind === 'ipBlock') out.push(...peer.ranges);
  return mergeRanges(out);
}

// ── EgressRuleSet ───────────────────────────────────────────────────────────────────────────────────────────

export interface RuleSet {
  readonly file: string;
  readonly namespace: string;
  readonly name: string;
  readonly targets: readonly { readonly host: string; readonly port: number }[];
}

export function loadEgressRuleSets(dir: string): RuleSet[] {
  return objectsUnder(dir, 'EgressRuleSet').map(({ file, obj }) => {
    const meta = isObj(obj.metadata) ? obj.metadata : {};
    const spec = isObj(obj.spec) ? obj.spec : {};
    const targets = list(spec.targets).map((t) => {
      const text = String(t);
      const colon = text.lastIndexOf(':');
      return { host: text.slice(0, colon).toLowerCase(), port: Number(text.slice(colon + 1)) };
    });
    return {
      file,
      namespace: typeof meta.namespace === 'string' ? meta.namespace : 'default',
      name: String(meta.name),
      targets,
    };
  });
}

/** `host:port` against one target: exact, or `*.domain` for names strictly below `domain`. */
export function targetMatches(target: { host: string; port: number }, host: string, port: number): boolean {
  if (target.port !== port) return false;
  const h = host.toLowerCase().replace(/\.$/, '');
  if (target.host.startsWith('*.'))
    return h.endsWith(target.host.slice(1)) && h.length > target.host.length - 1;
  return target.host === h;
}

/** Is `host:port` allowed to `namespace` (its own sets), or anywhere when `namespace` is null (the cluster union)? */
export function ruleSetsAllow(
  sets: readonly RuleSet[],
  namespace: string | null,
  host: string,
  port: number,
): boolean {
  return sets.some(
    (s) =>
      (namespace === null || s.namespace === namespace) &&
      s.targets.some((t) => targetMatches(t, host, port)),
  );
}
