/**
 * Amazon EKS security groups for pods: a `SecurityGroupPolicy` (vpcresources.k8s.aws/v1beta1) per workload that
 * puts the workload's pods behind a security group of their own, and the egress rules that group needs
 * (seeds/eks-traffic-controls-overview.txt; https://docs.aws.amazon.com/eks/latest/userguide/security-groups-for-pods.html).
 *
 * Layout: `eks-pod-sg/crd.yaml` (the CRD, for API servers that lack it) and `eks-pod-sg/<namespace>/<workload>.yaml`,
 * one object per file. The group itself is not created here: its id is a placeholder (`sg-REPLACE-…`) and its rules
 * are listed as comments, CIDRs and ports, with the evidence of each.
 */
import type { Endpoint, InferenceResult, RuleProtocol } from '../model/endpoint.js';
import { destinationKey } from '../model/endpoint.js';
import type { Workload } from '../model/workload.js';
import type { EmitOptions, EmittedFile, Generator } from './document.js';
import { evidenceText, foldText, headerLines, suspicionText } from './evidence.js';
import {
  type ClusterDns,
  commentBlock,
  compareEndpoints,
  DEFAULT_DNS,
  isDnsTraffic,
  opaqueId,
  renderComments,
  safeWorkloadRef,
  usableSelector,
  workloadBaseNames,
  yamlDocument,
} from './networkpolicy.js';
import { commentText, safeCidr, safeHost, safePort } from './safe.js';

const WHAT = 'EKS SecurityGroupPolicy';
const API_VERSION = 'vpcresources.k8s.aws/v1beta1';

/**
 * The CRD as the VPC resource controller defines it (aws/amazon-vpc-resource-controller-k8s,
 * config/crd/bases/vpcresources.k8s.aws_securitygrouppolicies.yaml), cut to its structure: same names, version,
 * scope and constraints (1–5 group ids, plain strings: no id pattern), without the field descriptions.
 */
function crd(): Record<string, unknown> {
  const selector = {
    type: 'object',
    'x-kubernetes-map-type': 'atomic',
    properties: {
      matchExpressions: {
        type: 'array',
        items: {
          type: 'object',
          required: ['key', 'operator'],
          properties: {
            key: { type: 'string' },
            operator: { type: 'string' },
            values: { type: 'array', items: { type: 'string' } },
          },
        },
      },
      matchLabels: { type: 'object', additionalProperties: { type: 'string' } },
    },
  };
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'securitygrouppolicies.vpcresources.k8s.aws' },
    spec: {
      group: 'vpcresources.k8s.aws',
      names: {
        kind: 'SecurityGroupPolicy',
        listKind: 'SecurityGroupPolicyList',
        plural: 'securitygrouppolicies',
        shortNames: ['sgp'],
        singular: 'securitygrouppolicy',
      },
      scope: 'Namespaced',
      versions: [
        {
          name: 'v1beta1',
          served: true,
          storage: true,
          additionalPrinterColumns: [
            { name: 'Security-Group-Ids', type: 'string', jsonPath: '.spec.securityGroups.groupIds' },
          ],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: {
                  type: 'object',
                  properties: {
                    podSelector: selector,
                    serviceAccountSelector: selector,
                    securityGroups: {
                      type: 'object',
                      properties: {
                        groupIds: { type: 'array', minItems: 1, maxItems: 5, items: { type: 'string' } },
                      },
                    },
                  },
                },
              },
            },
          },
          subresources: {},
        },
      ],
    },
  };
}

/** The placeholder a person replaces with the id of the group they create; never a real-looking id. */
export function placeholderGroupId(w: Workload, base: string): string {
  return `sg-REPLACE-${w.namespace}-${base}`;
}

/** AWS `IpProtocol` names (`aws ec2 authorize-security-group-egress`); SCTP has none, only its number. */
const IP_PROTOCOL: Record<RuleProtocol, string> = {
  TCP: 'tcp',
  UDP: 'udp',
  SCTP: '132',
  ICMP: 'icmp',
  ICMPv6: 'icmpv6',
};

/** `tcp 443`, `icmp all`: protocol and port range as a security-group rule names them; null for a bad port. */
function protoPort(e: Endpoint): string | null {
  if (e.protocol === 'ICMP' || e.protocol === 'ICMPv6') return `${IP_PROTOCOL[e.protocol]} all`;
  const port = safePort(e.port);
  return port === null ? null : `${IP_PROTOCOL[e.protocol]} ${port}`;
}

interface Context {
  readonly allowAny: boolean;
  readonly accepted: ReadonlySet<string>;
  readonly groupOf: (w: Workload) => string | null;
  readonly dns: ClusterDns;
}

/** One destination's block: describing lines, evidence per port, then one `egress …` line per rule. */
interface Block {
  readonly key: string;
  readonly describe: string[];
  readonly evidence: string[];
  readonly rules: string[];
}

type Planned =
  | { readonly ok: true; readonly key: string; readonly describe: string[]; readonly rules: string[] }
  | { readonly ok: false; readonly note: string };

/** Validates what this output writes about an endpoint and plans its rules. */
function plan(e: Endpoint, ctx: Context): Planned {
  const id = commentText(e.id);
  const pp = protoPort(e);
  if (pp === null) return { ok: false, note: `endpoint ${id}: port failed validation; dropped` };
  const d = e.destination;
  if (d.kind === 'peer') {
    const ref = safeWorkloadRef(d.workload);
    if (ref === null)
      return { ok: false, note: `endpoint ${id}: in-cluster peer name failed validation; dropped` };
    const group = ctx.groupOf(d.workload);
    const to =
      group === null
        ? `the security group of ${ref}'s pods (their nodes' group unless they get a pod security group)`
        : `${group} (the pod security group of ${ref}, which needs the matching inbound rule from this group)`;
    return {
      ok: true,
      key: destinationKey(d),
      describe: [`to in-cluster workload ${ref}`],
      rules: [`egress ${pp} ${to}`],
    };
  }
  const describe: string[] = [];
  if (d.kind === 'host') {
    const host = safeHost(d.host);
    if (host === null) return { ok: false, note: `endpoint ${id}: host name failed validation; dropped` };
    if (d.cidrs.length === 0) {
      return {
        ok: false,
        note: `endpoint ${id}: host ${host} ${portLabel(e)} has no addresses (it was only seen by name); a security group cannot allow it`,
      };
    }
    describe.push(`to host ${host}`);
    if (d.cidrs.some((c) => c.basis !== 'exact')) {
      describe.push(
        `${host}'s addresses rotate: a security group cannot follow a name well; the precise form is the EgressRuleSet through the egress proxy.`,
      );
    }
  } else {
    describe.push(
      `to address (${commentText(d.dstClass)}${d.dstName === '' ? '' : ` ${commentText(d.dstName)}`})`,
    );
  }
  const cidrs: string[] = [];
  let dropped = 0;
  for (const c of d.cidrs) {
    const s = safeCidr(c.cidr, ctx.allowAny);
    if (s === null) dropped++;
    else if (!cidrs.includes(s)) cidrs.push(s);
  }
  cidrs.sort();
  if (dropped > 0) describe.push(`endpoint ${id}: ${dropped} CIDR(s) failed validation and were dropped`);
  if (cidrs.length === 0) return { ok: false, note: `endpoint ${id}: no CIDR passed validation; dropped` };
  describe.push(...foldText(e).filter((l) => cidrs.some((c) => l.startsWith(`${c}:`))));
  return {
    ok: true,
    key: `${destinationKey(d)}|${cidrs.join(',')}`,
    describe,
    rules: cidrs.map((c) => `egress ${pp} ${c}${c.includes(':') ? ' (IPv6)' : ''}`),
  };
}

/** `443/TCP`; ICMP has no port. */
function portLabel(e: Endpoint): string {
  return e.protocol === 'ICMP' || e.protocol === 'ICMPv6' ? e.protocol : `${e.port}/${e.protocol}`;
}

function evidenceLine(e: Endpoint, ctx: Context): string {
  return `${portLabel(e)}${ctx.accepted.has(e.id) ? ' accepted' : ''}: ${evidenceText(e)}`;
}

function render(head: readonly string[], policy: Record<string, unknown>, tail: readonly string[]): string {
  const doc = yamlDocument(policy);
  doc.commentBefore = commentBlock(head);
  if (tail.length > 0) doc.comment = commentBlock(tail);
  return doc.toString({ lineWidth: 0 });
}

export const emitEksPodSecurityGroups: Generator = (
  result: InferenceResult,
  options: EmitOptions,
): EmittedFile[] => {
  const header = headerLines(result, WHAT);
  const endpoints = [...result.endpoints].sort(compareEndpoints);
  const senders = [...result.senders].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const workloads: Workload[] = [];
  for (const s of senders) if (s.kind === 'workload' && s.workload !== null) workloads.push(s.workload);
  for (const e of endpoints) if (e.destination.kind === 'peer') workloads.push(e.destination.workload);
  const bases = workloadBaseNames(workloads);

  // Workloads that get a group of their own here: usable selector, not on the host network.
  const grouped = new Map<string, string>();
  for (const s of senders) {
    const ref = s.workload === null ? null : safeWorkloadRef(s.workload);
    if (s.kind !== 'workload' || ref === null || s.hostNetwork || usableSelector(s.selector) === null)
      continue;
    grouped.set(ref, placeholderGroupId(s.workload!, bases.get(ref)!));
  }
  const ctx: Context = {
    allowAny: result.settings.allowAny,
    accepted: options.accepted,
    groupOf: (w) => {
      const ref = safeWorkloadRef(w);
      return ref === null ? null : (grouped.get(ref) ?? null);
    },
    dns: result.dns ?? DEFAULT_DNS,
  };

  const files: EmittedFile[] = [];
  const skipped: string[] = [];
  let policies = 0;
  for (const s of senders) {
    if (s.kind !== 'workload' || s.workload === null) continue;
    const ref = safeWorkloadRef(s.workload);
    if (ref === null) {
      skipped.push(`- sender ${opaqueId(s.id)}: namespace, kind or name failed validation; no policy`);
      continue;
    }
    const base = bases.get(ref)!;
    const path = `eks-pod-sg/${s.workload.namespace}/${base}.yaml`;
    const own = endpoints.filter((e) => e.sender === s.id && !options.rejected.has(e.id));
    const group = grouped.get(ref);
    if (group === undefined) {
      const why = s.hostNetwork
        ? `${ref} runs on the host network: its pods use the node's interface, and security groups for pods do not apply.`
        : `${ref} has no stable labels that every pod carried over the window (or some failed validation): a podSelector without them would select every pod of the namespace.`;
      files.push({ path, content: renderComments(header, [`No SecurityGroupPolicy: ${why}`]) });
      continue;
    }

    const notes: string[] = [];
    const disabled: string[] = [];
    const rare: string[] = [];
    const blocks = new Map<string, Block>();
    for (const e of own) {
      if (e.via === 'proxy') {
        notes.push(
          `endpoint ${commentText(e.id)} ${portLabel(e)}: reached through the egress proxy; the group needs egress to the proxy, not to this endpoint`,
        );
        continue;
      }
      if (isDnsTraffic(e, ctx.dns)) {
        notes.push(`endpoint ${commentText(e.id)} ${portLabel(e)}: DNS, covered by the DNS rules above`);
        continue;
      }
      const p = plan(e, ctx);
      if (!p.ok) {
        notes.push(p.note);
        continue;
      }
      if (e.suspicions.length > 0) {
        disabled.push(
          suspicionText(e),
          ...p.describe,
          evidenceLine(e, ctx),
          ...p.rules.map((r) => `  not enabled: ${r}`),
          '',
        );
        continue;
      }
      if (e.rare) {
        rare.push(`- ${p.rules.join('; ')}: ${evidenceLine(e, ctx)}`);
        continue;
      }
      let b = blocks.get(p.key);
      if (b === undefined)
        blocks.set(p.key, (b = { key: p.key, describe: p.describe, evidence: [], rules: [] }));
      b.evidence.push(evidenceLine(e, ctx));
      for (const r of p.rules) if (!b.rules.includes(r)) b.rules.push(r);
    }

    const head = [
      ...header,
      '',
      `Pod security group for ${ref} (${s.pods} pods seen, at most ${s.maxReplicas} at once).`,
      `Create the group, give it the egress rules listed below, and replace ${group} with its id before applying:`,
      'pods matched by a policy whose group does not exist cannot get their network interface and do not start.',
      'A new group allows all egress (0.0.0.0/0 and ::/0): remove that rule, or the rules below restrict nothing.',
      "The group replaces the node's groups on the pod's interface: it also needs inbound from the node group for",
      'kubelet probes. Security groups for pods need ENABLE_POD_ENI=true on aws-node and Nitro-based nodes.',
    ];
    const dnsTo =
      'the security group of the CoreDNS pods (the node or cluster security group unless they have their own)';
    const tail = [
      `Egress rules for ${group} (protocol, port, destination), each under its evidence:`,
      '',
      'DNS: pods resolve names through CoreDNS, on both protocols.',
      `  egress tcp 53 ${dnsTo}`,
      `  egress udp 53 ${dnsTo}`,
    ];
    for (const b of [...blocks.values()].sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0))) {
      tail.push('', ...b.describe, ...b.evidence, ...[...b.rules].sort().map((r) => `  ${r}`));
    }
    if (notes.length > 0) tail.push('', 'Not in these rules:', ...notes);
    if (disabled.length > 0) {
      tail.push(
        '',
        'SUSPICIOUS rules, not to be added until a person decides:',
        '',
        ...disabled.slice(0, -1),
      );
    }
    if (rare.length > 0) tail.push('', 'Seen rarely, not enabled (under --min-flows / --min-days):', ...rare);

    const policy = {
      apiVersion: API_VERSION,
      kind: 'SecurityGroupPolicy',
      metadata: { name: base, namespace: s.workload.namespace },
      spec: {
        podSelector: { matchLabels: usableSelector(s.selector)! },
        securityGroups: { groupIds: [group] },
      },
    };
    files.push({ path, content: render(head, policy, tail) });
    policies++;
  }

  if (policies > 0) {
    files.push({
      path: 'eks-pod-sg/crd.yaml',
      content: render(
        [
          'The SecurityGroupPolicy CRD, cut to its structure, for API servers that lack it (test clusters, dry runs).',
          'EKS installs the real one itself: do not apply this file to an EKS cluster.',
        ],
        crd(),
        [],
      ),
    });
  }
  if (skipped.length > 0) {
    files.push({
      path: 'eks-pod-sg/skipped.txt',
      content: renderComments(header, ['Senders without a policy:', ...skipped]),
    });
  }
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
};
