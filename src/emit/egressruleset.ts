/**
 * Zalando `EgressRuleSet`s (seeds/zalando-kubernetes-egress-issue-198.txt): `spec.targets` lists the `host:port`
 * pairs a namespace (or one workload) may reach. The union of all sets is the cluster's allow-list, which the
 * egress-controller turns into proxy configuration (squid-conf.ts renders that union). Host wildcards
 * (`*.example.org:80`) are allowed, port wildcards are not, and nothing learned becomes `*:port`.
 *
 * Also home of what the name-based generators share: target collection, evidence lines, file stems.
 */
import { createHash } from 'node:crypto';
import type { YAMLSeq } from 'yaml';
import { tldts, yaml } from '../util/lazy.js';
import type { Endpoint, InferenceResult, Sender } from '../model/endpoint.js';
import type { EmitOptions, EmittedFile, Generator } from './document.js';
import { evidenceText, headerLines, suspicionText } from './evidence.js';
import { commentText, safeHost, safeObjectName, safePort } from './safe.js';

/** Why an endpoint was left out of a generated file; printed next to its id, never next to its value. */
export interface DroppedEndpoint {
  readonly id: string;
  readonly reason: string;
}

/** One `host:port` (validated), with the endpoints that taught it, by what they may become. */
export interface LearnedTarget {
  readonly host: string;
  readonly port: number;
  /** `host:port` as written into `spec.targets`. */
  readonly text: string;
  /** Wildcard only: the exact names seen behind it, valid ones only, sorted. */
  readonly names: readonly string[];
  readonly enabled: readonly Endpoint[];
  readonly suspicious: readonly Endpoint[];
  readonly rare: readonly Endpoint[];
}

export interface TargetCollection {
  /** Sorted by host, then port. */
  readonly targets: readonly LearnedTarget[];
  /** Sorted by id. */
  readonly dropped: readonly DroppedEndpoint[];
}

/**
 * Re-checks a host in the form a name-based rule writes it. On top of `safeHost`: a wildcard over a public
 * suffix (`*.co.uk`, or `*.s3.amazonaws.com` from the list's private section) would open every tenant's names,
 * so it is refused here even if inference let it through.
 */
export function checkTargetHost(host: string): { host: string } | { reason: string } {
  const safe = safeHost(host);
  if (safe === null) return { reason: 'host is not a valid DNS name or *.domain' };
  if (safe.startsWith('*.')) {
    const domain = safe.slice(2);
    if (tldts().getPublicSuffix(domain, { allowPrivateDomains: true }) === domain) {
      return { reason: 'wildcard over a public suffix would open every domain below it' };
    }
  }
  return { host: safe };
}

/** How an endpoint takes part in output: a reviewer's rejection first, then rarity, then suspicion. */
export function endpointState(
  e: Endpoint,
  rejected: ReadonlySet<string>,
): 'rejected' | 'rare' | 'suspicious' | 'enabled' {
  if (rejected.has(e.id)) return 'rejected';
  if (e.rare) return 'rare';
  if (e.suspicions.length > 0) return 'suspicious';
  return 'enabled';
}

/**
 * The host of the `host:port` target an endpoint needs, or null: a host destination over TCP (the proxy speaks
 * HTTP and CONNECT), or for a request the proxy
 * logged to an address (`CONNECT 203.0.113.9:443`) that address's text, which is what the proxy matches. An IPv6
 * address has no `host:port` form without brackets: none.
 */
export function targetHost(e: Endpoint): string | null {
  const d = e.destination;
  if (d.kind === 'host') return e.protocol === 'TCP' ? d.host : null;
  if (d.kind !== 'address' || e.via !== 'proxy' || e.protocol !== 'TCP' || d.cidrs.length !== 1) return null;
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})\/32$/.exec(d.cidrs[0]!.cidr);
  return m === null ? null : m[1]!;
}

interface TargetAcc {
  host: string;
  port: number;
  names: Set<string>;
  enabled: Endpoint[];
  suspicious: Endpoint[];
  rare: Endpoint[];
}

const byId = (a: Endpoint, b: Endpoint) =>
  a.sender < b.sender ? -1 : a.sender > b.sender ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;

/**
 * The `host:port` targets of name-based endpoints (host destinations over TCP, through the proxy or direct: a
 * direct one was named by DNS and goes through the proxy once egress is locked down). Rejected endpoints are left
 * out; endpoints whose host or port fails validation are returned as `dropped`.
 */
export function collectTargets(
  endpoints: readonly Endpoint[],
  rejected: ReadonlySet<string>,
): TargetCollection {
  const acc = new Map<string, TargetAcc>();
  const dropped: DroppedEndpoint[] = [];
  for (const e of endpoints) {
    const d = e.destination;
    const host = targetHost(e);
    if (host === null) continue;
    const state = endpointState(e, rejected);
    if (state === 'rejected') continue;
    const checked = checkTargetHost(host);
    if ('reason' in checked) {
      dropped.push({ id: e.id, reason: checked.reason });
      continue;
    }
    // Port wildcards are not a thing in EgressRuleSets; a missing or odd port is dropped, never widened.
    const port = safePort(e.port);
    if (port === null) {
      dropped.push({ id: e.id, reason: 'port is not 1-65535' });
      continue;
    }
    const key = `${checked.host}:${port}`;
    let t = acc.get(key);
    if (t === undefined) {
      t = { host: checked.host, port, names: new Set(), enabled: [], suspicious: [], rare: [] };
      acc.set(key, t);
    }
    if (d.kind === 'host' && checked.host.startsWith('*.')) {
      for (const n of d.names) {
        const safe = safeHost(n);
        if (safe !== null && !safe.startsWith('*.')) t.names.add(safe);
      }
    }
    t[state].push(e);
  }
  const targets: LearnedTarget[] = [...acc.values()]
    .sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : a.port - b.port))
    .map((t) => ({
      host: t.host,
      port: t.port,
      text: `${t.host}:${t.port}`,
      names: [...t.names].sort(),
      enabled: t.enabled.sort(byId),
      suspicious: t.suspicious.sort(byId),
      rare: t.rare.sort(byId),
    }));
  dropped.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : a.reason < b.reason ? -1 : 1));
  return { targets, dropped };
}

/** Evidence lines shown per endpoint before a popular target's list is summarized. */
const MAX_EVIDENCE_LINES = 10;

/**
 * One evidence line per endpoint (`[accepted; ]sender via x: flows=…`), at most ten, then one summary line, so a
 * registry every workload pulls from does not bury the file in comments.
 */
export function evidenceLines(endpoints: readonly Endpoint[], accepted: ReadonlySet<string>): string[] {
  const lines = endpoints
    .slice(0, MAX_EVIDENCE_LINES)
    .map((e) => `${accepted.has(e.id) ? 'accepted; ' : ''}${e.sender} via ${e.via}: ${evidenceText(e)}`);
  const rest = endpoints.slice(MAX_EVIDENCE_LINES);
  if (rest.length > 0) {
    const flows = rest.reduce((s, e) => s + e.evidence.flows, 0);
    const bytes = rest.reduce((s, e) => s + e.evidence.bytes, 0);
    lines.push(`... and ${rest.length} more endpoints: flows=${flows} bytes=${bytes}`);
  }
  return lines.map(commentText);
}

/** For a wildcard: which names it stands for (a reviewer judges the fold by them). */
export function wildcardLines(t: { host: string; names: readonly string[] }): string[] {
  if (!t.host.startsWith('*.') || t.names.length === 0) return [];
  const shown = t.names.slice(0, MAX_EVIDENCE_LINES).join(', ');
  const more = t.names.length > MAX_EVIDENCE_LINES ? ` (+${t.names.length - MAX_EVIDENCE_LINES} more)` : '';
  return [
    commentText(`${t.host} folds ${t.names.length} names: ${shown}${more}; not ${t.host.slice(2)} itself`),
  ];
}

/** The comment of an enabled target: its evidence, and any suspicious or rare endpoint that also reached it. */
export function enabledTargetLines(t: LearnedTarget, accepted: ReadonlySet<string>): string[] {
  const lines = [...evidenceLines(t.enabled, accepted), ...wildcardLines(t)];
  for (const e of t.suspicious) lines.push(`also ${suspicionText(e)}`, ...evidenceLines([e], accepted));
  if (t.rare.length > 0) lines.push(...evidenceLines(t.rare, accepted).map((l) => `also seen rarely: ${l}`));
  return lines;
}

/** The lines of a commented-out target: why each endpoint is suspicious, and its evidence. */
export function suspiciousTargetLines(t: LearnedTarget, accepted: ReadonlySet<string>): string[] {
  const lines: string[] = [];
  for (const e of t.suspicious) lines.push(suspicionText(e), ...evidenceLines([e], accepted));
  lines.push(...wildcardLines(t));
  return lines;
}

/** The "seen rarely" block: target, then the evidence of each rare endpoint (and its suspicions, if any). */
export function rareBlockLines(
  result: InferenceResult,
  targets: readonly LearnedTarget[],
  accepted: ReadonlySet<string>,
): string[] {
  const rare = targets.filter((t) => t.enabled.length === 0 && t.suspicious.length === 0);
  if (rare.length === 0) return [];
  const s = result.settings;
  const lines = [`Seen rarely, not enabled (min-flows=${s.minFlows}, min-days=${s.minDays}):`];
  for (const t of rare) {
    lines.push(`  ${t.text}`);
    for (const e of t.rare) {
      lines.push(...evidenceLines([e], accepted).map((l) => `    ${l}`));
      if (e.suspicions.length > 0) lines.push(`    ${suspicionText(e)}`);
    }
  }
  return lines.map(commentText);
}

export function droppedLines(dropped: readonly DroppedEndpoint[]): string[] {
  return dropped.map((d) => commentText(`Dropped endpoint ${d.id}: ${d.reason}`));
}

/** Comment lines for the `yaml` package: it adds `#` but not the space after it. */
export function yamlComment(lines: readonly string[]): string {
  return lines.map((l) => (l === '' ? '' : ` ${commentText(l)}`)).join('\n');
}

/** A Kubernetes namespace name as given, or null: a namespace is a DNS-1123 label, which `safeObjectName` keeps. */
export function safeNamespace(ns: string): string | null {
  return ns !== '' && safeObjectName([ns]) === ns ? ns : null;
}

/** Where a workload sender's per-workload files go and what its objects are called. */
export interface WorkloadStem {
  readonly namespace: string;
  /** The workload name, or `kind-name-<hash>` when that is not unique within the namespace. */
  readonly stem: string;
}

const KIND = /^[A-Za-z][A-Za-z0-9]{0,62}$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/**
 * File and object names per workload sender, unique within each namespace: the workload name, or
 * `kind-name-<hash of namespace/Kind/name>` when two workloads would share one (the same rule as
 * networkpolicy.ts, so one workload's files line up across output kinds). Senders whose namespace, kind or
 * name is not what Kubernetes allows get none: their ids could not go into a path or a comment.
 */
export function workloadStems(senders: readonly Sender[]): Map<string, WorkloadStem> {
  const plain: { id: string; ref: string; namespace: string; kind: string; name: string; base: string }[] =
    [];
  const count = new Map<string, number>();
  for (const s of senders) {
    const w = s.workload;
    if (s.kind !== 'workload' || w === null) continue;
    const namespace = safeNamespace(w.namespace);
    if (namespace === null || !KIND.test(w.kind) || !DNS_SUBDOMAIN.test(w.name)) continue;
    const base = safeObjectName([w.name], 48);
    plain.push({
      id: s.id,
      ref: `${namespace}/${w.kind}/${w.name}`,
      namespace,
      kind: w.kind,
      name: w.name,
      base,
    });
    count.set(`${namespace}/${base}`, (count.get(`${namespace}/${base}`) ?? 0) + 1);
  }
  const out = new Map<string, WorkloadStem>();
  for (const p of plain) {
    const clash = (count.get(`${p.namespace}/${p.base}`) ?? 0) > 1;
    const hash = createHash('sha256').update(p.ref).digest('hex').slice(0, 8);
    out.set(p.id, {
      namespace: p.namespace,
      stem: clash ? `${safeObjectName([p.kind, p.name], 39)}-${hash}` : p.base,
    });
  }
  return out;
}

/** Object name of a namespace-wide set. */
const NAMESPACE_SET_NAME = 'egress-learner';

// Targets are DNS-1123 names (optionally `*.`-prefixed, or the seed's explicit `*`) and a port 1–65535.
const PORT_PATTERN = '([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])';
const LABEL_PATTERN = '[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?';
/** The pattern the CRD puts on every target; exported so tests hold generated targets against it. */
export const TARGET_PATTERN = `^(\\*|(\\*\\.)?(${LABEL_PATTERN}\\.)+${LABEL_PATTERN}):${PORT_PATTERN}$`;

function crdFile(result: InferenceResult): EmittedFile {
  const doc = new (yaml().Document)({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'egressrulesets.zalando.org' },
    spec: {
      group: 'zalando.org',
      names: {
        kind: 'EgressRuleSet',
        listKind: 'EgressRuleSetList',
        plural: 'egressrulesets',
        singular: 'egressruleset',
      },
      scope: 'Namespaced',
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              required: ['spec'],
              properties: {
                spec: {
                  type: 'object',
                  required: ['targets'],
                  properties: {
                    targets: {
                      type: 'array',
                      items: { type: 'string', maxLength: 260, pattern: TARGET_PATTERN },
                    },
                  },
                },
              },
            },
          },
        },
      ],
    },
  });
  doc.commentBefore = yamlComment([
    ...headerLines(result, 'EgressRuleSet CustomResourceDefinition'),
    'No published CRD exists for zalando.org/v1 EgressRuleSet; this minimal structural one lets the sets be',
    'validated and dry-run applied. Skip it where an egress-controller already installs its own.',
    'The pattern admits `*:port` because the issue allows a person to write it; egress-learner never emits it.',
  ]);
  return { path: 'egressruleset/crd.yaml', content: doc.toString() };
}

function ruleSetFile(
  result: InferenceResult,
  path: string,
  name: string,
  namespace: string,
  senderIds: readonly string[],
  collection: TargetCollection,
  accepted: ReadonlySet<string>,
): EmittedFile {
  const enabled = collection.targets.filter((t) => t.enabled.length > 0);
  const suspicious = collection.targets.filter((t) => t.enabled.length === 0 && t.suspicious.length > 0);
  const doc = new (yaml().Document)({
    apiVersion: 'zalando.org/v1',
    kind: 'EgressRuleSet',
    metadata: { name, namespace, labels: { 'app.kubernetes.io/managed-by': 'egress-learner' } },
    spec: { targets: enabled.map((t) => t.text) },
  });
  doc.commentBefore = yamlComment([
    ...headerLines(result, 'EgressRuleSet'),
    `Senders: ${senderIds.join(', ')}`,
  ]);
  const seq = doc.getIn(['spec', 'targets'], true) as YAMLSeq;
  enabled.forEach((t, i) => {
    (seq.items[i] as { commentBefore?: string }).commentBefore = yamlComment(enabledTargetLines(t, accepted));
  });
  // Left in the list, commented out, so enabling one is deleting a `#`.
  const out: string[] = [];
  for (const t of suspicious) out.push(...suspiciousTargetLines(t, accepted), `- ${t.text}`);
  if (out.length > 0) seq.comment = yamlComment(out);
  const tail = [...rareBlockLines(result, collection.targets, accepted), ...droppedLines(collection.dropped)];
  if (tail.length > 0) doc.comment = yamlComment(tail);
  return { path, content: doc.toString() };
}

/**
 * One EgressRuleSet per namespace (targets: the union over its workloads) or per workload. Only workload
 * senders: the kind is namespaced, so nodes and instances have no set. Senders whose namespace is not a valid
 * name get none either. The CRD comes along whenever at least one set is emitted.
 */
export const emitEgressRuleSets: Generator = (result: InferenceResult, options: EmitOptions) => {
  const stems = workloadStems(result.senders);
  const groups = new Map<string, { namespace: string; name: string; path: string; senders: Set<string> }>();
  const endpointsOf = new Map<string, Endpoint[]>();
  for (const e of result.endpoints) {
    const st = stems.get(e.sender);
    if (st === undefined || targetHost(e) === null || options.rejected.has(e.id)) continue;
    const key = options.scope === 'namespace' ? st.namespace : `${st.namespace}/${st.stem}`;
    let g = groups.get(key);
    if (g === undefined) {
      // A namespace called `crd` must not overwrite the CRD; a dot cannot occur in a namespace name.
      const nsFile = st.namespace === 'crd' ? 'crd.namespace' : st.namespace;
      g =
        options.scope === 'namespace'
          ? {
              namespace: st.namespace,
              name: NAMESPACE_SET_NAME,
              path: `egressruleset/${nsFile}.yaml`,
              senders: new Set(),
            }
          : {
              namespace: st.namespace,
              name: st.stem,
              path: `egressruleset/${st.namespace}/${st.stem}.yaml`,
              senders: new Set(),
            };
      groups.set(key, g);
      endpointsOf.set(key, []);
    }
    g.senders.add(e.sender);
    endpointsOf.get(key)!.push(e);
  }
  const files: EmittedFile[] = [];
  for (const key of [...groups.keys()].sort()) {
    const g = groups.get(key)!;
    const collection = collectTargets(endpointsOf.get(key)!, options.rejected);
    if (collection.targets.length === 0 && collection.dropped.length === 0) continue;
    files.push(
      ruleSetFile(result, g.path, g.name, g.namespace, [...g.senders].sort(), collection, options.accepted),
    );
  }
  if (files.length > 0) files.unshift(crdFile(result));
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
};
