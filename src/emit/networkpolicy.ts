/**
 * Kubernetes `NetworkPolicy` (networking.k8s.io/v1) candidates, after seeds/guide-kubernetes-egress-network-policies.txt:
 * per namespace a default deny of egress that keeps DNS to kube-dns, per workload the egress it was seen to need,
 * and per in-cluster destination the ingress policy its side of the connection needs ("traffic from one pod (A) to
 * another (B) is allowed if and only if egress is allowed from A to B and ingress is allowed to B from A").
 *
 * Layout: `networkpolicy/<namespace>/default-deny-egress.yaml`, `<workload>-egress.yaml`, `<workload>-ingress.yaml`,
 * one object per file. A NetworkPolicy cannot name a host, so host destinations become the `ipBlock`s of the
 * addresses they were seen on, with a note where those addresses rotate.
 */
import { createHash } from 'node:crypto';
import type { Document, YAMLSeq } from 'yaml';
import { yaml } from '../util/lazy.js';
import type { Destination, Endpoint, InferenceResult, Sender } from '../model/endpoint.js';
import { destinationKey } from '../model/endpoint.js';
import type { Workload } from '../model/workload.js';
import { isoSeconds } from '../util/units.js';
import type { EmitOptions, EmittedFile, Generator } from './document.js';
import { evidenceText, foldText, headerLines, suspicionText } from './evidence.js';
import { commentText, safeCidr, safeHost, safeLabels, safeObjectName, safePort } from './safe.js';

const WHAT = 'Kubernetes NetworkPolicy';

/**
 * Set by the API server on every namespace since Kubernetes 1.21 (KEP-2161, namespace-by-name selection), so a
 * namespaceSelector on it selects exactly one namespace without asking anyone to label namespaces first.
 */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

export interface ClusterDns {
  readonly namespace: string;
  readonly selector: Readonly<Record<string, string>>;
}

/** What pods resolve with when the inventory has no DNS workload: the conventional kube-dns labels. */
export const DEFAULT_DNS: ClusterDns = { namespace: 'kube-system', selector: { 'k8s-app': 'kube-dns' } };

/** Protocols a NetworkPolicyPort can name; ICMP has no port and no NetworkPolicy form. */
const NP_PROTOCOLS = ['TCP', 'UDP', 'SCTP'] as const;
type NpProtocol = (typeof NP_PROTOCOLS)[number];

interface PortRef {
  readonly protocol: NpProtocol;
  readonly port: number;
}

/** A `to`/`from` rule being built, with the comment lines a reviewer reads above it. */
interface Rule {
  readonly key: string;
  readonly comments: string[];
  readonly peers: readonly object[];
  readonly ports: PortRef[];
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const KIND = /^[A-Za-z][A-Za-z0-9]{0,62}$/;

/** `namespace/Kind/name` when every part is what Kubernetes allows (so it can go into a comment and a path); else null. */
export function safeWorkloadRef(w: Workload): string | null {
  if (!DNS_LABEL.test(w.namespace) || !KIND.test(w.kind) || !DNS_SUBDOMAIN.test(w.name)) return null;
  return `${w.namespace}/${w.kind}/${w.name}`;
}

/** A stable, value-free stand-in for an id that failed validation: reviewers can still match it across runs. */
export function opaqueId(id: string): string {
  return createHash('sha256').update(id).digest('hex').slice(0, 8);
}

/**
 * File and object base names per workload (`namespace/Kind/name` → base), unique within each namespace: the
 * workload name, or `kind-name-<hash>` when two workloads would share one (same name, different kinds, or names
 * that differ only past the cut) or the name would clash with the namespace's `default-deny-egress` file.
 */
export function workloadBaseNames(workloads: Iterable<Workload>): Map<string, string> {
  const byNs = new Map<string, Map<string, Workload>>();
  for (const w of workloads) {
    const ref = safeWorkloadRef(w);
    if (ref === null) continue;
    let m = byNs.get(w.namespace);
    if (m === undefined) byNs.set(w.namespace, (m = new Map()));
    m.set(ref, w);
  }
  const out = new Map<string, string>();
  for (const m of byNs.values()) {
    const groups = new Map<string, string[]>();
    for (const [ref, w] of m) {
      const base = safeObjectName([w.name], 48);
      groups.set(base, [...(groups.get(base) ?? []), ref]);
    }
    for (const [base, refs] of groups) {
      for (const ref of refs) {
        const w = m.get(ref)!;
        const clash = refs.length > 1 || base === 'default-deny';
        out.set(ref, clash ? `${safeObjectName([w.kind, w.name], 39)}-${opaqueId(ref)}` : base);
      }
    }
  }
  return out;
}

/** The selector a policy may use for a workload: its safe labels, or null when they are empty or some were unsafe. */
export function usableSelector(labels: Readonly<Record<string, string>>): Record<string, string> | null {
  const safe = safeLabels(labels);
  const n = Object.keys(safe).length;
  // Dropping an unsafe label would widen the selection to pods the evidence never saw: refuse instead.
  return n === 0 || n !== Object.keys(labels).length ? null : safe;
}

/** Whether every label of `small` is in `big` with the same value (a selector `small` also selects `big`'s pods). */
export function selects(
  small: Readonly<Record<string, string>>,
  big: Readonly<Record<string, string>>,
): boolean {
  return Object.keys(small).every((k) => big[k] === small[k]);
}

function peerSelector(namespace: string, selector: Record<string, string>): object {
  return {
    namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: namespace } },
    podSelector: { matchLabels: selector },
  };
}

export function compareEndpoints(a: Endpoint, b: Endpoint): number {
  const ka = [
    a.sender,
    destinationKey(a.destination),
    a.protocol,
    String(a.port).padStart(5, '0'),
    a.via,
    a.id,
  ];
  const kb = [
    b.sender,
    destinationKey(b.destination),
    b.protocol,
    String(b.port).padStart(5, '0'),
    b.via,
    b.id,
  ];
  for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return ka[i]! < kb[i]! ? -1 : 1;
  return 0;
}

function comparePorts(a: PortRef, b: PortRef): number {
  return a.protocol === b.protocol ? a.port - b.port : a.protocol < b.protocol ? -1 : 1;
}

function addPort(ports: PortRef[], p: PortRef): void {
  if (!ports.some((q) => q.protocol === p.protocol && q.port === p.port)) ports.push(p);
  ports.sort(comparePorts);
}

/** Comment lines: every line through `commentText`, one leading space so `#` and text are apart. */
export function commentBlock(lines: readonly string[]): string {
  return lines.map((l) => (l === '' ? '' : ` ${commentText(l)}`)).join('\n');
}

/** YAML 1.1 quoting, so label values like `yes` or `on` stay strings for kubectl's YAML 1.1 parser. */
export function yamlDocument(value: unknown): Document {
  // No anchors: a reviewer reads each rule where it stands, and some tools reject aliases.
  return new (yaml().Document)(value, { version: '1.1', aliasDuplicateObjects: false });
}

function yamlLines(value: unknown): string[] {
  return yamlDocument(value).toString({ lineWidth: 0 }).trimEnd().split('\n');
}

/** One object per file: header comments, the object with a comment above each rule, then trailing comment blocks. */
function renderPolicy(
  head: readonly string[],
  policy: Record<string, unknown>,
  direction: 'egress' | 'ingress',
  rules: readonly Rule[],
  tail: readonly string[],
): string {
  const doc = yamlDocument(policy);
  doc.commentBefore = commentBlock(head);
  const seq = doc.getIn(['spec', direction], true) as YAMLSeq;
  rules.forEach((r, i) => {
    (seq.items[i] as { commentBefore?: string }).commentBefore = commentBlock(r.comments);
  });
  if (tail.length > 0) doc.comment = commentBlock(tail);
  return doc.toString({ lineWidth: 0 });
}

/** A file with no object: only the explanation of why (kubectl skips it when applying a directory). */
export function renderComments(head: readonly string[], body: readonly string[]): string {
  return [...head, '', ...body].map((l) => (l === '' ? '#' : `# ${commentText(l)}`)).join('\n') + '\n';
}

function ruleObject(direction: 'egress' | 'ingress', r: Rule): object {
  return direction === 'egress' ? { to: r.peers, ports: r.ports } : { from: r.peers, ports: r.ports };
}

function networkPolicy(
  name: string,
  namespace: string,
  podSelector: Record<string, string>,
  direction: 'egress' | 'ingress',
  rules: readonly Rule[],
): Record<string, unknown> {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name, namespace },
    spec: {
      podSelector: Object.keys(podSelector).length === 0 ? {} : { matchLabels: podSelector },
      // Always explicit: the default depends on which rule lists are present (seeds/guide-…).
      policyTypes: [direction === 'egress' ? 'Egress' : 'Ingress'],
      [direction]: rules.map((r) => ruleObject(direction, r)),
    },
  };
}

/** A workload sender as this generator sees it; `selector` is null when no policy may select its pods. */
interface SenderView {
  readonly sender: Sender;
  readonly ref: string;
  readonly namespace: string;
  readonly base: string;
  readonly selector: Record<string, string> | null;
}

/** What an endpoint's destination becomes: peers plus describing lines, or the note that replaces it. */
type Target =
  | {
      readonly ok: true;
      readonly groupKey: string;
      /** Short, validated name of the destination for one-line lists. */
      readonly label: string;
      readonly describe: string[];
      readonly peers: object[];
      readonly port: PortRef;
      /** For in-cluster peers: the destination workload (ref), for its ingress side. */
      readonly peer: {
        readonly ref: string;
        readonly workload: Workload;
        readonly selector: Record<string, string>;
      } | null;
    }
  | { readonly ok: false; readonly note: string };

interface Context {
  readonly allowAny: boolean;
  readonly dns: ClusterDns;
  readonly accepted: ReadonlySet<string>;
}

/** DNS to the cluster DNS workload, which the namespace's default deny allows for every pod. */
export function isDnsTraffic(e: Endpoint, dns: ClusterDns): boolean {
  const d = e.destination;
  return (
    d.kind === 'peer' &&
    e.port === 53 &&
    (e.protocol === 'UDP' || e.protocol === 'TCP') &&
    d.workload.namespace === dns.namespace &&
    selects(dns.selector, d.selector)
  );
}

function portLabel(e: Endpoint): string {
  return `${e.port}/${e.protocol}`;
}

function evidenceLine(e: Endpoint, ctx: Context): string {
  return `${portLabel(e)}${ctx.accepted.has(e.id) ? ' accepted' : ''}: ${evidenceText(e)}`;
}

function safeCidrs(d: Destination, allowAny: boolean): { cidrs: string[]; dropped: number } {
  if (d.kind === 'peer') return { cidrs: [], dropped: 0 };
  const cidrs: string[] = [];
  let dropped = 0;
  for (const c of d.cidrs) {
    const s = safeCidr(c.cidr, allowAny);
    if (s === null) dropped++;
    else if (!cidrs.includes(s)) cidrs.push(s);
  }
  return { cidrs: cidrs.sort(), dropped };
}

/** Validates everything about an endpoint this output writes, and says what it targets. */
function target(e: Endpoint, ctx: Context): Target {
  const id = commentText(e.id);
  if (!(NP_PROTOCOLS as readonly string[]).includes(e.protocol)) {
    return {
      ok: false,
      note: `endpoint ${id}: ${e.protocol} cannot be expressed in a NetworkPolicy (TCP, UDP, SCTP only); not allowed here`,
    };
  }
  const port = safePort(e.port);
  if (port === null) return { ok: false, note: `endpoint ${id}: port failed validation; dropped` };
  const p: PortRef = { protocol: e.protocol as NpProtocol, port };
  const d = e.destination;
  if (d.kind === 'peer') {
    const ref = safeWorkloadRef(d.workload);
    if (ref === null)
      return { ok: false, note: `endpoint ${id}: in-cluster peer name failed validation; dropped` };
    const selector = usableSelector(d.selector);
    if (selector === null) {
      return {
        ok: false,
        note: `endpoint ${id}: peer ${ref} has no stable, valid labels to select its pods by; not allowed here (a selector without them would match every pod of its namespace)`,
      };
    }
    return {
      ok: true,
      groupKey: destinationKey(d),
      label: ref,
      describe: [`to in-cluster workload ${ref}`],
      peers: [peerSelector(d.workload.namespace, selector)],
      port: p,
      peer: { ref, workload: d.workload, selector },
    };
  }
  const { cidrs, dropped } = safeCidrs(d, ctx.allowAny);
  const describe: string[] = [];
  let label = cidrs.join(',');
  if (d.kind === 'host') {
    const host = safeHost(d.host);
    if (host === null) return { ok: false, note: `endpoint ${id}: host name failed validation; dropped` };
    const names = d.names.map(safeHost).filter((n): n is string => n !== null);
    const unsafe = d.names.length - names.length;
    const more = names.length > 1 || names[0] !== host;
    label = `${host} ${label}`;
    describe.push(
      `to host ${host}${more ? ` (names: ${[...names].sort().join(', ')})` : ''}${unsafe > 0 ? ` (${unsafe} name(s) failed validation, not shown)` : ''}`,
    );
    if (cidrs.length === 0 && dropped === 0) {
      return {
        ok: false,
        note: `endpoint ${id}: host ${host} ${portLabel(e)} has no addresses to allow by ipBlock (it was only seen by name); allow it in the EgressRuleSet or with Cilium toFQDNs`,
      };
    }
    if (d.cidrs.some((c) => c.basis !== 'exact')) {
      describe.push(
        `${host}'s addresses rotate: an ipBlock cannot follow a name well; the precise form is the EgressRuleSet through the egress proxy, or Cilium toFQDNs.`,
      );
    }
  } else {
    describe.push(
      `to address (${commentText(d.dstClass)}${d.dstName === '' ? '' : ` ${commentText(d.dstName)}`})`,
    );
  }
  if (dropped > 0) describe.push(`endpoint ${id}: ${dropped} CIDR(s) failed validation and were dropped`);
  if (cidrs.length === 0) return { ok: false, note: `endpoint ${id}: no CIDR passed validation; dropped` };
  describe.push(...foldText(e).filter((l) => cidrs.some((c) => l.startsWith(`${c}:`))));
  return {
    ok: true,
    groupKey: `${destinationKey(d)}|${cidrs.join(',')}`,
    label,
    describe,
    peers: cidrs.map((cidr) => ({ ipBlock: { cidr } })),
    port: p,
    peer: null,
  };
}

/** A suspicious endpoint's rule, written out in full but as comments, for a person to enable. */
function disabledBlock(
  direction: 'egress' | 'ingress',
  e: Endpoint,
  t: Extract<Target, { ok: true }>,
  peers: readonly object[],
  ctx: Context,
): string[] {
  const rule: Rule = { key: '', comments: [], peers, ports: [t.port] };
  return [
    suspicionText(e),
    ...t.describe,
    evidenceLine(e, ctx),
    `To enable, move under spec.${direction}:`,
    ...yamlLines([ruleObject(direction, rule)]),
    '',
  ];
}

function rareLine(e: Endpoint, t: Target, ctx: Context): string {
  return `- ${t.ok ? t.label : 'destination failed validation'}: ${evidenceLine(e, ctx)}`;
}

function tailBlocks(disabled: readonly string[], rare: readonly string[]): string[] {
  const out: string[] = [];
  if (disabled.length > 0)
    out.push('SUSPICIOUS rules, commented out until a person enables them:', '', ...disabled);
  if (rare.length > 0) out.push('Seen rarely, not enabled (under --min-flows / --min-days):', ...rare);
  return out;
}

/** Ingress to one destination workload, gathered from every sender that talks to it. */
interface IngressAcc {
  readonly namespace: string;
  readonly ref: string;
  readonly workload: Workload;
  readonly selector: Record<string, string>;
  readonly rules: Map<string, Rule>;
  readonly disabled: string[];
  readonly rare: string[];
}

function dnsRule(ctx: Context, fallback: boolean): Rule {
  const selector = safeLabels(ctx.dns.selector);
  return {
    key: 'dns',
    comments: [
      'DNS to the cluster DNS pods only: an egress-isolated pod must still resolve names, and scoping port 53 to',
      'kube-dns keeps it from being an exfiltration channel to any address (seeds/guide-kubernetes-egress-network-policies.txt).',
      fallback
        ? 'The inventory had no DNS workload: this assumes the conventional k8s-app=kube-dns in kube-system; check it.'
        : `DNS workload from the inventory: namespace ${ctx.dns.namespace}.`,
      'With NodeLocal DNSCache, pods ask a link-local address on their node instead: add an ipBlock for it.',
    ],
    peers: [peerSelector(ctx.dns.namespace, selector)],
    ports: [
      { protocol: 'TCP', port: 53 },
      { protocol: 'UDP', port: 53 },
    ],
  };
}

function skippedFile(dir: string, head: readonly string[], lines: readonly string[]): EmittedFile[] {
  if (lines.length === 0) return [];
  return [
    { path: `${dir}/skipped.txt`, content: renderComments(head, ['Senders without a policy:', ...lines]) },
  ];
}

export const emitNetworkPolicies: Generator = (
  result: InferenceResult,
  options: EmitOptions,
): EmittedFile[] => {
  const dnsFallback = result.dns === null || !DNS_LABEL.test(result.dns.namespace);
  const ctx: Context = {
    allowAny: result.settings.allowAny,
    dns: dnsFallback ? DEFAULT_DNS : result.dns!,
    accepted: options.accepted,
  };
  const header = headerLines(result, WHAT);
  const senders = [...result.senders].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const endpoints = [...result.endpoints].sort(compareEndpoints);
  const bySender = new Map<string, Endpoint[]>();
  for (const e of endpoints) {
    if (options.rejected.has(e.id)) continue;
    bySender.set(e.sender, [...(bySender.get(e.sender) ?? []), e]);
  }

  const workloads: Workload[] = [];
  for (const s of senders) if (s.kind === 'workload' && s.workload !== null) workloads.push(s.workload);
  for (const e of endpoints) if (e.destination.kind === 'peer') workloads.push(e.destination.workload);
  const bases = workloadBaseNames(workloads);

  const skipped: string[] = [];
  const views: SenderView[] = [];
  for (const s of senders) {
    if (s.kind !== 'workload' || s.workload === null) continue;
    const ref = safeWorkloadRef(s.workload);
    if (ref === null) {
      skipped.push(`- sender ${opaqueId(s.id)}: namespace, kind or name failed validation; no policy`);
      continue;
    }
    views.push({
      sender: s,
      ref,
      namespace: s.workload.namespace,
      base: bases.get(ref)!,
      selector: usableSelector(s.selector),
    });
  }

  const files: EmittedFile[] = [];
  const namespaces = [...new Set(views.map((v) => v.namespace))].sort();
  for (const ns of namespaces) {
    const head = [
      ...header,
      '',
      `Default deny of egress for every pod in namespace ${ns}, DNS excepted. It selects pods egress-learner never`,
      'saw send too: they lose all other egress. Apply it with (or after) the per-workload *-egress.yaml policies.',
    ];
    if (ns === ctx.dns.namespace) {
      head.push(
        `WARNING: ${ns} runs the cluster DNS and usually other system components; a default deny here can break`,
        'the cluster (seeds/guide-…: "Do not apply this on the kube-system namespace unless you know what you’re doing").',
      );
    }
    const rules = [dnsRule(ctx, dnsFallback)];
    files.push({
      path: `networkpolicy/${ns}/default-deny-egress.yaml`,
      content: renderPolicy(
        head,
        networkPolicy('default-deny-egress', ns, {}, 'egress', rules),
        'egress',
        rules,
        [],
      ),
    });
  }

  const ingress = new Map<string, IngressAcc>();
  const ingressOf = (t: Extract<Target, { ok: true }>): IngressAcc => {
    const peer = t.peer!;
    let acc = ingress.get(peer.ref);
    if (acc === undefined) {
      acc = {
        namespace: peer.workload.namespace,
        ref: peer.ref,
        workload: peer.workload,
        selector: peer.selector,
        rules: new Map(),
        disabled: [],
        rare: [],
      };
      ingress.set(peer.ref, acc);
    }
    return acc;
  };

  for (const v of views) {
    const own = bySender.get(v.sender.id) ?? [];
    const path = `networkpolicy/${v.namespace}/${v.base}-egress.yaml`;
    const head = [
      ...header,
      '',
      `Egress of ${v.ref} (${v.sender.pods} pods seen, at most ${v.sender.maxReplicas} at once).`,
    ];
    if (v.selector === null) {
      files.push({
        path,
        content: renderComments(head, [
          `No policy: ${v.ref} has no stable labels that every pod carried over the window (or some failed validation).`,
          'A podSelector without them would select every pod of the namespace. Give the workload a stable label',
          '(e.g. app.kubernetes.io/name) and generate again.',
          ...own.map((e) => `not allowed: endpoint ${commentText(e.id)} ${portLabel(e)}`),
        ]),
      });
      continue;
    }
    if (v.sender.hostNetwork) {
      head.push(
        'Its pods use hostNetwork: most network plugins do not apply NetworkPolicies to them; check yours.',
      );
    }
    for (const other of views) {
      if (other !== v && other.namespace === v.namespace && selects(v.selector, other.sender.selector)) {
        head.push(`Its selector also matches the pods of ${other.ref}: they get these rules too.`);
      }
    }
    const notes: string[] = [];
    const disabled: string[] = [];
    const rare: string[] = [];
    const groups = new Map<string, Rule>();
    for (const e of own) {
      if (e.via === 'proxy') {
        notes.push(
          `endpoint ${commentText(e.id)} ${portLabel(e)}: reached through the egress proxy, so not an ipBlock here; see the EgressRuleSet`,
        );
        continue;
      }
      if (isDnsTraffic(e, ctx.dns)) {
        notes.push(`endpoint ${commentText(e.id)} ${portLabel(e)}: DNS, allowed by default-deny-egress.yaml`);
        continue;
      }
      const t = target(e, ctx);
      if (!t.ok) {
        notes.push(t.note);
        continue;
      }
      if (e.suspicions.length > 0) {
        disabled.push(...disabledBlock('egress', e, t, t.peers, ctx));
        if (t.peer !== null) ingressOf(t).disabled.push(...ingressDisabled(v, e, t, ctx));
        continue;
      }
      if (e.rare) {
        rare.push(rareLine(e, t, ctx));
        if (t.peer !== null) ingressOf(t).rare.push(`- from ${v.ref} ${evidenceLine(e, ctx)}`);
        continue;
      }
      let rule = groups.get(t.groupKey);
      if (rule === undefined) {
        rule = { key: t.groupKey, comments: [...t.describe], peers: t.peers, ports: [] };
        groups.set(t.groupKey, rule);
      }
      rule.comments.push(evidenceLine(e, ctx));
      addPort(rule.ports, t.port);
      if (t.peer !== null) {
        const acc = ingressOf(t);
        let ir = acc.rules.get(v.ref);
        if (ir === undefined) {
          ir = {
            key: v.ref,
            comments: [`from ${v.ref}`],
            peers: [peerSelector(v.namespace, v.selector)],
            ports: [],
          };
          acc.rules.set(v.ref, ir);
        }
        ir.comments.push(evidenceLine(e, ctx));
        addPort(ir.ports, t.port);
      }
    }
    const rules = [...groups.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    if (notes.length > 0) head.push('', 'Not in this policy:', ...notes);
    const name = `${v.base}-egress`;
    files.push({
      path,
      content: renderPolicy(
        head,
        networkPolicy(name, v.namespace, v.selector, 'egress', rules),
        'egress',
        rules,
        tailBlocks(disabled, rare),
      ),
    });
  }

  for (const acc of [...ingress.values()].sort((a, b) => (a.ref < b.ref ? -1 : 1))) {
    // An ingress policy with no rule would deny every client of the destination: only write one that allows someone.
    if (acc.rules.size === 0) continue;
    addInboundRules(acc, result.inbound, ctx);
    const base = bases.get(acc.ref)!;
    const rules = [...acc.rules.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const head = [
      ...header,
      '',
      `Ingress to ${acc.ref} from the workloads whose egress policies allow it: in-cluster traffic needs egress at the`,
      'source and ingress at the destination (seeds/guide-kubernetes-egress-network-policies.txt).',
      'Needed only where the destination is already isolated for ingress. Applied alone it isolates the destination:',
      'every client not listed here (other pods, load balancers, probes from outside the namespace) is then denied.',
    ];
    const policy = networkPolicy(`${base}-ingress`, acc.namespace, acc.selector, 'ingress', rules);
    files.push({
      path: `networkpolicy/${acc.namespace}/${base}-ingress.yaml`,
      content: renderPolicy(head, policy, 'ingress', rules, tailBlocks(acc.disabled, acc.rare)),
    });
  }

  files.push(...skippedFile('networkpolicy', header, skipped));
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
};

/**
 * The destination's clients that are not pods (kubelet probes from nodes, load balancers, outside addresses): an
 * ingress policy that listed only its pod clients would cut these off, so each gets an ipBlock rule.
 */
function addInboundRules(acc: IngressAcc, inbound: InferenceResult['inbound'], ctx: Context): void {
  const w = acc.workload;
  for (const i of inbound) {
    const d = i.destination;
    if (d.namespace !== w.namespace || d.kind !== w.kind || d.name !== w.name) continue;
    if (!(NP_PROTOCOLS as readonly string[]).includes(i.protocol)) continue;
    const port = safePort(i.port);
    const cidrs = i.cidrs.map((c) => safeCidr(c.cidr, ctx.allowAny)).filter((c) => c !== null);
    if (port === null || cidrs.length === 0) continue;
    const key = `~client:${cidrs.join(',')}`;
    let rule = acc.rules.get(key);
    if (rule === undefined) {
      rule = {
        key,
        comments: [
          `from ${i.source.replace(/[^A-Za-z0-9._/-]/g, '?')} (not a pod): a client this policy must keep`,
        ],
        peers: cidrs.map((cidr) => ({ ipBlock: { cidr } })),
        ports: [],
      };
      acc.rules.set(key, rule);
    }
    const v = i.evidence;
    rule.comments.push(
      `${i.port}/${i.protocol}: flows=${v.flows} bytes=${v.bytes} first=${isoSeconds(v.firstSeen)} last=${isoSeconds(v.lastSeen)} days=${v.days} id=${i.id}`,
    );
    addPort(rule.ports, { protocol: i.protocol as NpProtocol, port });
  }
}

/** The ingress counterpart of a suspicious in-cluster endpoint, commented out like its egress rule. */
function ingressDisabled(
  v: SenderView,
  e: Endpoint,
  t: Extract<Target, { ok: true }>,
  ctx: Context,
): string[] {
  return disabledBlock(
    'ingress',
    e,
    { ...t, describe: [`from ${v.ref}`] },
    [peerSelector(v.namespace, v.selector!)],
    ctx,
  );
}
