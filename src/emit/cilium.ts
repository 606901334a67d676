/**
 * CiliumNetworkPolicy (cilium.io/v2), one per workload sender: names through `toFQDNs`, in-cluster peers through
 * `toEndpoints`, addresses through `toCIDRSet`, each rule limited to its learned ports. Cilium learns which
 * addresses a `toFQDNs` name stands for from its DNS proxy, so every policy also allows DNS to kube-dns with an
 * L7 `dns` rule (https://docs.cilium.io/en/stable/security/policy/language/#dns-based); without it the names
 * never resolve to allowed addresses, and once a policy selects a pod its other egress is denied.
 */
import type { YAMLSeq } from 'yaml';
import { yaml } from '../util/lazy.js';
import type { Endpoint, InferenceResult, RuleProtocol, Sender } from '../model/endpoint.js';
import type { EmitOptions, EmittedFile, Generator } from './document.js';
import { foldText, headerLines, suspicionText } from './evidence.js';
import {
  checkTargetHost,
  droppedLines,
  endpointState,
  evidenceLines,
  safeNamespace,
  workloadStems,
  yamlComment,
  type DroppedEndpoint,
} from './egressruleset.js';
import { commentText, safeCidr, safeLabels, safePort } from './safe.js';

/** Cilium's label for a pod's namespace; `k8s:` is the label source (Kubernetes). */
const NAMESPACE_LABEL = 'k8s:io.kubernetes.pod.namespace';
/** Where pods resolve names when the inventory names no DNS workload: the conventional kube-dns labels. */
const DEFAULT_DNS = { namespace: 'kube-system', selector: { 'k8s-app': 'kube-dns' } } as const;

type Section = 'fqdn' | 'peer' | 'cidr';
const SECTION_ORDER: readonly Section[] = ['fqdn', 'peer', 'cidr'];
const PORT_PROTOCOLS: ReadonlySet<RuleProtocol> = new Set(['TCP', 'UDP', 'SCTP']);

interface ItemAcc {
  readonly key: string;
  readonly node: Record<string, unknown>;
  readonly enabled: Endpoint[];
  readonly suspicious: Endpoint[];
  /** Lines that belong to the item, not to one endpoint (fold reasons, notes). */
  readonly notes: string[];
}

interface Group {
  readonly section: Section;
  readonly port: number;
  readonly protocol: RuleProtocol;
  readonly items: Map<string, ItemAcc>;
}

/**
 * Labels as given, or null when any of them fails validation: dropping one label would widen the selector to
 * pods that were never seen, so a selector is used whole or not at all.
 */
function wholeLabels(labels: Readonly<Record<string, string>>): Record<string, string> | null {
  const safe = safeLabels(labels);
  return Object.keys(safe).length === Object.keys(labels).length ? safe : null;
}

function resolveDns(result: InferenceResult): {
  namespace: string;
  selector: Record<string, string>;
  note: string;
} {
  if (result.dns !== null) {
    const namespace = safeNamespace(result.dns.namespace);
    const selector = wholeLabels(result.dns.selector);
    if (namespace !== null && selector !== null && Object.keys(selector).length > 0) {
      return { namespace, selector, note: '' };
    }
    return {
      ...DEFAULT_DNS,
      note: 'the inventory named a DNS workload with unusable labels; using the conventional kube-dns ones',
    };
  }
  return { ...DEFAULT_DNS, note: 'no DNS workload in the inventory; using the conventional kube-dns labels' };
}

/** Does this peer endpoint talk to the DNS workload on 53? Then the DNS rule already covers it. */
function isDnsPeer(e: Endpoint, dns: { namespace: string; selector: Record<string, string> }): boolean {
  const d = e.destination;
  if (d.kind !== 'peer' || e.port !== 53 || (e.protocol !== 'UDP' && e.protocol !== 'TCP')) return false;
  if (d.workload.namespace !== dns.namespace) return false;
  return Object.entries(dns.selector).every(([k, v]) => d.selector[k] === v);
}

interface Built {
  groups: Map<string, Group>;
  rare: string[];
  dnsLines: string[];
  notes: string[];
  dropped: DroppedEndpoint[];
}

function addItem(
  b: Built,
  section: Section,
  e: Endpoint,
  port: number,
  state: 'enabled' | 'suspicious',
  key: string,
  node: Record<string, unknown>,
  notes: readonly string[] = [],
): void {
  const gk = `${SECTION_ORDER.indexOf(section)}|${e.protocol}|${String(port).padStart(5, '0')}`;
  let g = b.groups.get(gk);
  if (g === undefined) {
    g = { section, port, protocol: e.protocol, items: new Map() };
    b.groups.set(gk, g);
  }
  let item = g.items.get(key);
  if (item === undefined) {
    item = { key, node, enabled: [], suspicious: [], notes: [] };
    g.items.set(key, item);
  }
  item[state].push(e);
  for (const n of notes) if (!item.notes.includes(n)) item.notes.push(n);
}

/** The Cilium selector(s) of one endpoint, or why it cannot have any. */
function itemsOf(
  e: Endpoint,
  allowAny: boolean,
):
  | { section: Section; items: { key: string; node: Record<string, unknown>; notes: string[] }[] }
  | { reason: string } {
  const d = e.destination;
  switch (d.kind) {
    case 'host': {
      const checked = checkTargetHost(d.host);
      if ('reason' in checked) return { reason: checked.reason };
      const host = checked.host;
      if (!host.startsWith('*.'))
        return { section: 'fqdn', items: [{ key: host, node: { matchName: host }, notes: [] }] };
      const items = [
        { key: host, node: { matchPattern: host } as Record<string, unknown>, notes: [] as string[] },
      ];
      // Cilium's `*` matches within one label (pkg/fqdn/matchpattern), while a fold covers names of any depth:
      // the deeper names seen are allowed by name so the policy keeps working for them.
      const domain = host.slice(2);
      for (const n of d.names) {
        const safe = checkTargetHost(n);
        if ('reason' in safe || safe.host.startsWith('*.') || !safe.host.endsWith(`.${domain}`)) continue;
        const sub = safe.host.slice(0, -domain.length - 1);
        if (!sub.includes('.')) continue;
        items.push({
          key: safe.host,
          node: { matchName: safe.host },
          notes: [`${safe.host}: behind ${host}, deeper than the one label Cilium's * matches`],
        });
      }
      return { section: 'fqdn', items };
    }
    case 'peer': {
      const namespace = safeNamespace(d.workload.namespace);
      if (namespace === null) return { reason: 'peer namespace is not a valid name' };
      const selector = wholeLabels(d.selector);
      if (selector === null || Object.keys(selector).length === 0) {
        return { reason: 'peer labels are empty or not valid label text (would select other pods)' };
      }
      const matchLabels = { [NAMESPACE_LABEL]: namespace, ...selector };
      return {
        section: 'peer',
        items: [{ key: JSON.stringify(matchLabels), node: { matchLabels }, notes: [] }],
      };
    }
    case 'address': {
      const items: { key: string; node: Record<string, unknown>; notes: string[] }[] = [];
      for (const c of d.cidrs) {
        const cidr = safeCidr(c.cidr, allowAny);
        if (cidr === null) return { reason: 'a CIDR is not canonical, or is the whole address space' };
        const notes = foldText(e).filter((l) => l.startsWith(`${cidr}:`));
        notes.push(`class=${d.dstClass}${d.dstName === '' ? '' : ` name=${d.dstName}`}`);
        if (d.dstClass === 'node') {
          notes.push(
            'node addresses match the host / remote-node entities in Cilium, not toCIDRSet by default',
          );
        }
        items.push({ key: cidr, node: { cidr }, notes });
      }
      if (items.length === 0) return { reason: 'no CIDR' };
      return { section: 'cidr', items };
    }
  }
}

function build(result: InferenceResult, endpoints: readonly Endpoint[], options: EmitOptions): Built {
  const dns = resolveDns(result);
  const b: Built = { groups: new Map(), rare: [], dnsLines: [], notes: [], dropped: [] };
  for (const e of endpoints) {
    const state = endpointState(e, options.rejected);
    if (state === 'rejected') continue;
    if (isDnsPeer(e, dns)) {
      b.dnsLines.push(...evidenceLines([e], options.accepted));
      if (e.suspicions.length > 0) b.dnsLines.push(suspicionText(e));
      continue;
    }
    // Through the proxy the pod connects to the proxy, never to these addresses or pods.
    if (e.via === 'proxy' && e.destination.kind !== 'host') {
      b.notes.push(
        `Endpoint ${e.id} (${e.destination.kind} via the egress proxy) is enforced on the proxy, not here`,
      );
      continue;
    }
    if (!PORT_PROTOCOLS.has(e.protocol)) {
      b.dropped.push({
        id: e.id,
        reason: `${e.protocol} carries no type in the evidence; write an icmps rule by hand`,
      });
      continue;
    }
    const port = safePort(e.port);
    if (port === null) {
      b.dropped.push({ id: e.id, reason: 'port is not 1-65535' });
      continue;
    }
    const items = itemsOf(e, result.settings.allowAny);
    if ('reason' in items) {
      b.dropped.push({ id: e.id, reason: items.reason });
      continue;
    }
    if (state === 'rare') {
      const what = items.items.map((i) => i.key).join(' ');
      b.rare.push(
        `  ${what} ${port}/${e.protocol}`,
        ...evidenceLines([e], options.accepted).map((l) => `    ${l}`),
      );
      if (e.suspicions.length > 0) b.rare.push(`    ${suspicionText(e)}`);
      continue;
    }
    for (const it of items.items) addItem(b, items.section, e, port, state, it.key, it.node, it.notes);
  }
  return b;
}

const SELECTOR_FIELD: Record<Section, string> = { fqdn: 'toFQDNs', peer: 'toEndpoints', cidr: 'toCIDRSet' };

function ruleOf(g: Group, items: readonly ItemAcc[]): Record<string, unknown> {
  return {
    [SELECTOR_FIELD[g.section]]: items.map((i) => i.node),
    toPorts: [{ ports: [{ port: String(g.port), protocol: g.protocol }] }],
  };
}

function itemLines(item: ItemAcc, accepted: ReadonlySet<string>, commented: boolean): string[] {
  const lines: string[] = [];
  if (!commented) lines.push(...evidenceLines(item.enabled, accepted));
  for (const e of item.suspicious) {
    lines.push(commented ? suspicionText(e) : `also ${suspicionText(e)}`, ...evidenceLines([e], accepted));
  }
  return [...lines, ...item.notes];
}

function sortedItems(g: Group): ItemAcc[] {
  return [...g.items.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

function policyFile(
  result: InferenceResult,
  sender: Sender,
  path: string,
  name: string,
  namespace: string,
  endpoints: readonly Endpoint[],
  options: EmitOptions,
): EmittedFile {
  const header = [
    ...headerLines(result, 'CiliumNetworkPolicy'),
    `Sender: ${sender.id} (pods=${sender.pods}, max replicas=${sender.maxReplicas})`,
  ];
  const commentOnly = (why: string): EmittedFile => ({
    path,
    content: `${[...header, `No policy: ${why}`].map((l) => `# ${commentText(l)}`).join('\n')}\n`,
  });
  // Cilium enforces host-network pods as the host endpoint, not through a CiliumNetworkPolicy.
  if (sender.hostNetwork) {
    return commentOnly(
      'hostNetwork pods are not Cilium endpoints; use a host policy (CiliumClusterwideNetworkPolicy with nodeSelector)',
    );
  }
  const selector = wholeLabels(sender.selector);
  if (selector === null || Object.keys(selector).length === 0) {
    return commentOnly(
      'the pods share no stable, valid labels; an empty or trimmed endpointSelector would select other pods',
    );
  }
  const dns = resolveDns(result);
  const b = build(result, endpoints, options);
  const groups = [...b.groups.entries()].sort(([a], [c]) => (a < c ? -1 : a > c ? 1 : 0)).map(([, g]) => g);
  const dnsRule = {
    toEndpoints: [{ matchLabels: { [NAMESPACE_LABEL]: dns.namespace, ...dns.selector } }],
    toPorts: [
      {
        ports: [
          { port: '53', protocol: 'UDP' },
          { port: '53', protocol: 'TCP' },
        ],
        rules: { dns: [{ matchPattern: '*' }] },
      },
    ],
  };
  const live: { rule: Record<string, unknown>; group: Group; items: ItemAcc[] }[] = [];
  const commentedOut: string[] = [];
  for (const g of groups) {
    const items = sortedItems(g);
    const on = items.filter((i) => i.enabled.length > 0);
    const off = items.filter((i) => i.enabled.length === 0);
    if (on.length > 0) live.push({ rule: ruleOf(g, on), group: g, items: on });
    // A rule with an empty selector list would allow its ports to every destination, so the suspicious items
    // become a whole commented-out rule of their own, never an empty live one.
    if (off.length > 0) {
      for (const i of off) commentedOut.push(...itemLines(i, options.accepted, true));
      const text = new (yaml().Document)([ruleOf(g, off)]).toString().trimEnd();
      commentedOut.push(...text.split('\n'));
    }
  }
  const doc = new (yaml().Document)({
    apiVersion: 'cilium.io/v2',
    kind: 'CiliumNetworkPolicy',
    metadata: { name, namespace, labels: { 'app.kubernetes.io/managed-by': 'egress-learner' } },
    spec: {
      endpointSelector: { matchLabels: selector },
      egress: [dnsRule, ...live.map((l) => l.rule)],
    },
  });
  doc.commentBefore = yamlComment(header);
  const egress = doc.getIn(['spec', 'egress'], true) as YAMLSeq;
  (egress.items[0] as { commentBefore?: string }).commentBefore = yamlComment([
    "DNS to kube-dns through Cilium's DNS proxy: toFQDNs only works for names the proxy saw resolved.",
    ...(dns.note === '' ? [] : [dns.note]),
    ...b.dnsLines,
  ]);
  live.forEach((l, i) => {
    const selectors = doc.getIn(['spec', 'egress', i + 1, SELECTOR_FIELD[l.group.section]], true) as YAMLSeq;
    l.items.forEach((item, j) => {
      (selectors.items[j] as { commentBefore?: string }).commentBefore = yamlComment(
        itemLines(item, options.accepted, false),
      );
    });
  });
  if (commentedOut.length > 0) egress.comment = yamlComment(commentedOut);
  const tail = [...b.notes];
  if (b.rare.length > 0) {
    const s = result.settings;
    tail.push(`Seen rarely, not enabled (min-flows=${s.minFlows}, min-days=${s.minDays}):`, ...b.rare);
  }
  tail.push(...droppedLines(b.dropped.sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0))));
  if (tail.length > 0) doc.comment = yamlComment(tail);
  return { path, content: doc.toString() };
}

/** One CiliumNetworkPolicy per workload sender that has endpoints left after review. */
export const emitCilium: Generator = (result: InferenceResult, options: EmitOptions) => {
  const stems = workloadStems(result.senders);
  const byId = new Map(result.senders.map((s) => [s.id, s]));
  const endpointsOf = new Map<string, Endpoint[]>();
  for (const e of result.endpoints) {
    if (!stems.has(e.sender) || options.rejected.has(e.id)) continue;
    const list = endpointsOf.get(e.sender);
    if (list === undefined) endpointsOf.set(e.sender, [e]);
    else list.push(e);
  }
  const files: EmittedFile[] = [];
  for (const [id, endpoints] of endpointsOf) {
    const st = stems.get(id)!;
    const sorted = [...endpoints].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    files.push(
      policyFile(
        result,
        byId.get(id)!,
        `cilium/${st.namespace}/${st.stem}.yaml`,
        st.stem,
        st.namespace,
        sorted,
        options,
      ),
    );
  }
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
};
