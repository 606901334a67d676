/**
 * AWS security-group egress rules, in three forms a platform team applies them with: the `--ip-permissions`
 * argument of `aws ec2 authorize-security-group-egress` (one JSON file per group), Terraform
 * `aws_vpc_security_group_egress_rule`s and CloudFormation `AWS::EC2::SecurityGroupEgress` resources. All three are
 * rendered from one plan, so they always agree.
 *
 * Security groups filter ENIs, not pods: with the VPC CNI a pod's traffic is filtered by the node's groups only when
 * it shares the node's network (hostNetwork), or by its own groups under a `SecurityGroupPolicy`
 * (seeds/eks-traffic-controls-overview.txt). Everything else a pod sends belongs to NetworkPolicy, so this
 * generator writes rules only for senders that carry groups, and says so for those it leaves out.
 */
import type { Scalar, YAMLMap } from 'yaml';
import { yaml } from '../util/lazy.js';
import type { Endpoint, InferenceResult, Sender } from '../model/endpoint.js';
import { parseCidr } from '../model/cidr.js';
import type { EmitOptions, EmittedFile, Generator } from './document.js';
import { destinationText, evidenceText, foldText, headerLines, suspicionText } from './evidence.js';
import { commentText, safeCidr, safePort } from './safe.js';

const SG_ID = /^sg-[0-9a-f]{8,17}$/;

/** An AWS security group id (`sg-` and 8 or 17 hex digits, as the EC2 API writes them); null otherwise. */
export function safeGroupId(id: string): string | null {
  return SG_ID.test(id) ? id : null;
}

/**
 * A rule description AWS accepts: at most 255 characters of `a-zA-Z0-9 ._-:/()#,@[]+=&;{}!$*`. `{`, `}` and `$`
 * are dropped as well, since the same text is written into HCL strings, where `${` would start an interpolation.
 */
export function awsDescription(text: string): string {
  return text
    .replace(/[^a-zA-Z0-9 ._\-:/()#,@[\]+=&;!*]/g, ' ')
    .replace(/ {2,}/g, ' ')
    .trim()
    .slice(0, 255)
    .trim();
}

type SgProtocol = 'tcp' | 'udp' | 'icmp' | 'icmpv6';

type Target =
  | { readonly kind: 'ipv4' | 'ipv6'; readonly value: string }
  /** `value` is the referenced group; `peer` the sender it was taken from ('' for the EKS minimum's self-reference). */
  | { readonly kind: 'group'; readonly value: string; readonly peer: string };

const TARGET_ORDER = { ipv4: 0, ipv6: 1, group: 2 } as const;

/** One endpoint behind a rule, with what a reviewer reads about it. */
interface Contribution {
  readonly endpoint: Endpoint;
  /** `sender -> destination port/protocol`, already safe for a comment line. */
  readonly what: string;
}

/** One egress rule of one group: the union of the endpoints (and EKS minimum) that need it. */
interface PlannedRule {
  readonly group: string;
  readonly protocol: SgProtocol;
  readonly fromPort: number;
  readonly toPort: number;
  readonly target: Target;
  /** Set when the rule is an EKS minimum; the comment that cites the seed. */
  minimum: string | null;
  readonly enabled: Contribution[];
  readonly suspicious: Contribution[];
}

/** What all three renderings are made from. */
interface Plan {
  /** Sorted by group, protocol, port, target. */
  readonly rules: PlannedRule[];
  /** What was left out and why, one comment line each. */
  readonly notes: string[];
  /** What a reviewer should know before applying (pods on the node groups, quotas), one comment line each. */
  readonly checks: string[];
  /** Endpoints under the rarity thresholds, one comment line each. */
  readonly rare: string[];
  readonly nodeGroups: readonly string[];
}

/**
 * The EKS minimum outbound rules (seeds/eks-security-group-considerations.txt, "Restricting cluster traffic"): the
 * cluster security group needs TCP 443 and TCP 10250 outbound to the cluster security group. Managed node groups
 * carry the cluster security group, so the rule references the node's group itself.
 */
const EKS_MINIMUM_PORTS = [443, 10250] as const;

const MINIMUM_NOTES = [
  'EKS minimum outbound traffic (seeds/eks-security-group-considerations.txt, "Restricting cluster traffic"):',
  'the cluster security group needs TCP 443 and TCP 10250 outbound to the cluster security group. Managed node',
  'groups carry the cluster security group, so every group seen on a node gets both rules referencing itself;',
  'if a node group is not the cluster security group, point these two rules at the control plane group instead.',
  'Nodes also need the EKS API, S3, ECR and their registries (same seed): those appear below when observed.',
];

function protocolOf(e: Endpoint): SgProtocol | null {
  switch (e.protocol) {
    case 'TCP':
      return 'tcp';
    case 'UDP':
      return 'udp';
    case 'ICMP':
      return 'icmp';
    case 'ICMPv6':
      return 'icmpv6';
    case 'SCTP':
      // A security group that names SCTP (protocol 132) cannot limit ports: it would open every SCTP port.
      return null;
  }
}

function day(t: number): string {
  return new Date(Math.round(t) * 1000).toISOString().slice(0, 10);
}

function validGroups(s: Sender): string[] {
  const out = new Set<string>();
  for (const g of s.securityGroups) if (safeGroupId(g) !== null) out.add(g);
  return [...out].sort();
}

function senderText(s: Sender | undefined, id: string): string {
  return commentText(s?.hostNetwork ? `${id} (hostNetwork)` : id);
}

function compareRules(a: PlannedRule, b: PlannedRule): number {
  if (a.group !== b.group) return a.group < b.group ? -1 : 1;
  if (a.protocol !== b.protocol) return a.protocol < b.protocol ? -1 : 1;
  if (a.fromPort !== b.fromPort) return a.fromPort - b.fromPort;
  if (a.target.kind !== b.target.kind) return TARGET_ORDER[a.target.kind] - TARGET_ORDER[b.target.kind];
  if (a.target.value !== b.target.value) return a.target.value < b.target.value ? -1 : 1;
  return 0;
}

function compareEndpoints(a: Endpoint, b: Endpoint): number {
  if (a.sender !== b.sender) return a.sender < b.sender ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** Per sender, how many endpoints were moved to the node groups, or left out for a reason that holds for the whole sender. */
interface SenderSkips {
  onNodeGroups: number;
  noGroups: number;
  proxy: number;
  peer: number;
}

function buildPlan(result: InferenceResult, options: EmitOptions): Plan {
  const senders = new Map(result.senders.map((s) => [s.id, s]));
  const nodeGroups = [
    ...new Set(result.senders.filter((s) => s.kind === 'node').flatMap((s) => validGroups(s))),
  ].sort();

  const rules = new Map<string, PlannedRule>();
  const ruleFor = (group: string, protocol: SgProtocol, port: number | null, target: Target): PlannedRule => {
    const from = port ?? -1;
    const key = `${group}|${protocol}|${from}|${target.kind}:${target.value}`;
    let r = rules.get(key);
    if (r === undefined) {
      r = {
        group,
        protocol,
        fromPort: from,
        toPort: from,
        target,
        minimum: null,
        enabled: [],
        suspicious: [],
      };
      rules.set(key, r);
    }
    return r;
  };

  for (const g of nodeGroups) {
    for (const port of EKS_MINIMUM_PORTS) {
      ruleFor(g, 'tcp', port, { kind: 'group', value: g, peer: '' }).minimum =
        `EKS minimum: TCP ${port} to the cluster security group (seeds/eks-security-group-considerations.txt)`;
    }
  }

  const skips = new Map<string, SenderSkips>();
  const skip = (id: string): SenderSkips => {
    let s = skips.get(id);
    if (s === undefined) {
      s = { onNodeGroups: 0, noGroups: 0, proxy: 0, peer: 0 };
      skips.set(id, s);
    }
    return s;
  };
  const dropped: string[] = [];
  const rare: string[] = [];

  for (const e of [...result.endpoints].sort(compareEndpoints)) {
    if (options.rejected.has(e.id)) continue;
    const id = commentText(e.id);
    const s = senders.get(e.sender);
    if (s === undefined) {
      dropped.push(`endpoint ${id}: its sender is not in the inference result, dropped`);
      continue;
    }
    let groups = validGroups(s);
    // A pod without security groups of its own (no SecurityGroupPolicy) sends from an address of its node's ENIs,
    // as a hostNetwork pod does: the node's groups filter it, and a node group without its egress would cut it
    // off, whatever NetworkPolicy allows.
    const onNodeGroups = groups.length === 0 && s.kind === 'workload' && !s.hostNetwork;
    if (groups.length === 0 && s.kind === 'workload') groups = nodeGroups;
    if (groups.length === 0) {
      skip(s.id).noGroups++;
      continue;
    }
    if (e.via === 'proxy') {
      skip(s.id).proxy++;
      continue;
    }
    const d = e.destination;
    if (d.kind === 'peer') {
      skip(s.id).peer++;
      continue;
    }
    const what = `${senderText(s, s.id)} -> ${destinationText(e)} ${e.port}/${e.protocol}`;
    if (e.rare) {
      rare.push(`${what}: ${evidenceText(e)}`);
      continue;
    }
    const protocol = protocolOf(e);
    if (protocol === null) {
      dropped.push(`endpoint ${id}: SCTP cannot be limited to a port in a security group, dropped`);
      continue;
    }
    const icmp = protocol === 'icmp' || protocol === 'icmpv6';
    // Flow logs carry no ICMP type, so an ICMP rule allows every type (-1) to the destination.
    const port = icmp ? null : safePort(e.port);
    if (!icmp && port === null) {
      dropped.push(`endpoint ${id}: port is not 1-65535, dropped`);
      continue;
    }
    if (d.cidrs.length === 0) {
      dropped.push(`endpoint ${id}: ${what} has no address form (seen only by name), not written`);
      continue;
    }
    const targets: Target[] = [];
    const peer = peerGroup(e, senders);
    if (peer !== null) {
      targets.push(peer);
    } else {
      for (const c of d.cidrs) {
        const cidr = safeCidr(c.cidr, result.settings.allowAny);
        if (cidr === null) {
          dropped.push(`endpoint ${id}: a CIDR is not valid or allows everything, dropped`);
          continue;
        }
        const family = parseCidr(cidr)!.family; // validated by safeCidr
        if ((protocol === 'icmp' && family === 6) || (protocol === 'icmpv6' && family === 4)) {
          dropped.push(`endpoint ${id}: ${e.protocol} to an IPv${family} CIDR, dropped`);
        } else {
          targets.push({ kind: family === 4 ? 'ipv4' : 'ipv6', value: cidr });
        }
      }
    }
    if (onNodeGroups && targets.length > 0) skip(s.id).onNodeGroups++;
    const accepted = options.accepted.has(e.id) ? ' (accepted by a reviewer)' : '';
    const contribution: Contribution = { endpoint: e, what: `${what}${accepted}` };
    const suspicious = e.suspicions.length > 0;
    for (const g of groups) {
      for (const t of targets) {
        const r = ruleFor(g, protocol, port, t);
        (suspicious ? r.suspicious : r.enabled).push(contribution);
      }
    }
  }

  const notes: string[] = [];
  const checks: string[] = [];
  for (const sid of [...skips.keys()].sort()) {
    const k = skips.get(sid)!;
    const s = senders.get(sid);
    const who = senderText(s, sid);
    if (k.onNodeGroups > 0)
      checks.push(
        `${who}: ${k.onNodeGroups} endpoint(s) on the node groups: a pod without pod security groups (SecurityGroupPolicy, seeds/eks-traffic-controls-overview.txt) sends through its node's network interface`,
      );
    if (k.noGroups > 0)
      notes.push(
        `${who}: ${k.noGroups} endpoint(s) not here: no valid security group is known for this sender`,
      );
    if (k.proxy > 0)
      notes.push(`${who}: ${k.proxy} endpoint(s) reached through the egress proxy, enforced there, not here`);
    if (k.peer > 0)
      notes.push(`${who}: ${k.peer} endpoint(s) to in-cluster peers, governed by NetworkPolicy, not here`);
  }
  for (const s of result.senders) {
    const bad = s.securityGroups.filter((g) => safeGroupId(g) === null).length;
    if (bad > 0)
      notes.push(
        `${senderText(s, s.id)}: ${bad} security group id(s) not valid (not sg- and 8-17 hex digits), dropped`,
      );
  }
  notes.push(...dropped);
  checks.push(...quotaNotes([...rules.values()].filter(isActive)));

  return { rules: [...rules.values()].sort(compareRules), notes, checks, rare, nodeGroups };
}

/**
 * AWS's default quota: 60 outbound rules per security group, counted apart for IPv4 and IPv6, a group reference
 * counting in both. Past it `authorize-security-group-egress` fails part way: say so before anyone applies it.
 */
const RULES_PER_GROUP = 60;

function quotaNotes(active: readonly PlannedRule[]): string[] {
  const counts = new Map<string, { ipv4: number; ipv6: number }>();
  for (const r of active) {
    let c = counts.get(r.group);
    if (c === undefined) counts.set(r.group, (c = { ipv4: 0, ipv6: 0 }));
    if (r.target.kind !== 'ipv6') c.ipv4++;
    if (r.target.kind !== 'ipv4') c.ipv6++;
  }
  const notes: string[] = [];
  for (const [group, c] of [...counts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    for (const [family, n] of [
      ['IPv4', c.ipv4],
      ['IPv6', c.ipv6],
    ] as const) {
      if (n > RULES_PER_GROUP)
        notes.push(
          `${group}: ${n} ${family} egress rules, above the ${RULES_PER_GROUP} a security group holds by default (quota "Inbound or outbound rules per security group"): raise the quota, or fold more with a lower --max-prefix`,
        );
    }
  }
  return notes;
}

/**
 * A destination that is another known sender (an instance with security groups) is referenced by its group, not its
 * address: the rule survives the instance being replaced. Only an exact single address qualifies; a folded CIDR
 * covers more than that instance.
 */
function peerGroup(e: Endpoint, senders: ReadonlyMap<string, Sender>): Target | null {
  const d = e.destination;
  if (d.kind !== 'address' || d.dstClass !== 'instance' || d.cidrs.length !== 1) return null;
  const c = d.cidrs[0]!;
  const parsed = parseCidr(c.cidr);
  if (c.basis !== 'exact' || parsed === null || parsed.prefix !== (parsed.family === 4 ? 32 : 128))
    return null;
  const peerId = `instance/${d.dstName}`;
  const peer = senders.get(peerId);
  if (peer === undefined || peer.id === e.sender) return null;
  // One group of the peer is enough to reach it; the first (sorted) keeps the choice stable across runs.
  const group = validGroups(peer)[0];
  return group === undefined ? null : { kind: 'group', value: group, peer: peerId };
}

function isActive(r: PlannedRule): boolean {
  return r.minimum !== null || r.enabled.length > 0;
}

function description(r: PlannedRule): string {
  if (r.minimum !== null) return awsDescription(`EKS minimum: TCP ${r.fromPort} to cluster security group`);
  const list = r.enabled.length > 0 ? r.enabled : r.suspicious;
  const first = list[0]!.endpoint;
  const flows = list.reduce((n, c) => n + c.endpoint.evidence.flows, 0);
  const last = Math.max(...list.map((c) => c.endpoint.evidence.lastSeen));
  const more = list.length > 1 ? ` (+${list.length - 1} more)` : '';
  return awsDescription(`egress-learner id=${first.id}${more} flows=${flows} last=${day(last)}`);
}

/** Why the rule's CIDR is as wide as it is, when it is wider than one address. */
function foldFor(r: PlannedRule, e: Endpoint): string[] {
  const prefix = `${r.target.value}: `;
  return r.target.kind === 'group' ? [] : foldText(e).filter((l) => l.startsWith(prefix));
}

/** The comment lines above a rule: its EKS citation and the evidence of every endpoint behind it. */
function ruleComments(r: PlannedRule): string[] {
  const out: string[] = [];
  if (r.minimum !== null) out.push(r.minimum);
  const peer =
    r.target.kind === 'group' && r.target.peer !== '' ? ` (security group of ${r.target.peer})` : '';
  if (isActive(r)) {
    for (const c of r.enabled)
      out.push(`${c.what}${peer}`, evidenceText(c.endpoint), ...foldFor(r, c.endpoint));
    for (const c of r.suspicious)
      out.push(`also taught by a suspicious endpoint: ${c.what}: ${suspicionText(c.endpoint)}`);
  } else {
    for (const c of r.suspicious)
      out.push(
        suspicionText(c.endpoint),
        `${c.what}${peer}`,
        evidenceText(c.endpoint),
        ...foldFor(r, c.endpoint),
      );
  }
  return out.map(commentText);
}

function preamble(plan: Plan, result: InferenceResult, what: string): string[] {
  const out = [...headerLines(result, what), ''];
  if (plan.nodeGroups.length > 0) out.push(...MINIMUM_NOTES, '');
  else
    out.push(
      'No security group is known for any node, so the EKS minimum egress rules are not written here.',
      '',
    );
  if (plan.checks.length > 0) out.push('Check before applying:', ...plan.checks.map((n) => `  ${n}`), '');
  if (plan.notes.length > 0) out.push('Not written here:', ...plan.notes.map((n) => `  ${n}`), '');
  if (plan.rare.length > 0) out.push('Seen rarely, not enabled:', ...plan.rare.map((n) => `  ${n}`), '');
  while (out[out.length - 1] === '') out.pop();
  return out.map(commentText);
}

function hashComment(lines: readonly string[]): string {
  return lines.map((l) => (l === '' ? '#' : `# ${l}`)).join('\n');
}

// ---- AWS CLI JSON -------------------------------------------------------------------------------------------------

interface IpPermission {
  IpProtocol: SgProtocol;
  FromPort: number;
  ToPort: number;
  IpRanges?: { CidrIp: string; Description: string }[];
  Ipv6Ranges?: { CidrIpv6: string; Description: string }[];
  UserIdGroupPairs?: { GroupId: string; Description: string }[];
}

/**
 * `aws ec2 authorize-security-group-egress --group-id <id> --ip-permissions file://<id>.json`. JSON has no comments,
 * so these files hold only the enabled rules; the evidence and the suspicious rules are in egress.tf and
 * egress.cfn.yaml.
 */
function renderCliJson(plan: Plan): EmittedFile[] {
  const byGroup = new Map<string, IpPermission[]>();
  for (const r of plan.rules) {
    if (!isActive(r)) continue;
    let perms = byGroup.get(r.group);
    if (perms === undefined) byGroup.set(r.group, (perms = []));
    let p = perms.find(
      (x) => x.IpProtocol === r.protocol && x.FromPort === r.fromPort && x.ToPort === r.toPort,
    );
    if (p === undefined) {
      p = { IpProtocol: r.protocol, FromPort: r.fromPort, ToPort: r.toPort };
      perms.push(p);
    }
    const desc = description(r);
    if (r.target.kind === 'ipv4') (p.IpRanges ??= []).push({ CidrIp: r.target.value, Description: desc });
    else if (r.target.kind === 'ipv6')
      (p.Ipv6Ranges ??= []).push({ CidrIpv6: r.target.value, Description: desc });
    else (p.UserIdGroupPairs ??= []).push({ GroupId: r.target.value, Description: desc });
  }
  return [...byGroup.keys()].sort().map((g) => ({
    path: `aws-sg/${g}.json`,
    content: `${JSON.stringify(byGroup.get(g), null, 2)}\n`,
  }));
}

// ---- Terraform ----------------------------------------------------------------------------------------------------

function hclString(s: string): string {
  // Callers pass only validated ids, CIDRs, fixed words and awsDescription output: no quote, backslash or `${`.
  return `"${s}"`;
}

/** Names are built from a rule's parts, which may collide once punctuation is folded; a counter keeps them apart. */
function uniqueName(base: string, used: Set<string>, sep: string): string {
  let name = base;
  for (let i = 2; used.has(name); i++) name = `${base}${sep}${i}`;
  used.add(name);
  return name;
}

function ruleNameParts(r: PlannedRule): string[] {
  const port = r.fromPort < 0 ? 'all' : String(r.fromPort);
  return [r.group, r.protocol, port, r.target.value];
}

function renderTerraform(plan: Plan, result: InferenceResult): string {
  const out = [hashComment(preamble(plan, result, 'AWS security group egress rules (Terraform)')), ''];
  const used = new Set<string>();
  for (const r of plan.rules) {
    const name = uniqueName(
      ruleNameParts(r)
        .join('_')
        .replace(/[^A-Za-z0-9_]+/g, '_'),
      used,
      '_',
    );
    const attrs: [string, string][] = [['security_group_id', hclString(r.group)]];
    if (r.target.kind === 'ipv4') attrs.push(['cidr_ipv4', hclString(r.target.value)]);
    else if (r.target.kind === 'ipv6') attrs.push(['cidr_ipv6', hclString(r.target.value)]);
    else attrs.push(['referenced_security_group_id', hclString(r.target.value)]);
    attrs.push(
      ['ip_protocol', hclString(r.protocol)],
      ['from_port', String(r.fromPort)],
      ['to_port', String(r.toPort)],
      ['description', hclString(description(r))],
    );
    const width = Math.max(...attrs.map(([k]) => k.length));
    const block = [
      `resource "aws_vpc_security_group_egress_rule" "${name}" {`,
      ...attrs.map(([k, v]) => `  ${k.padEnd(width)} = ${v}`),
      '}',
    ];
    out.push(hashComment(ruleComments(r)));
    out.push(isActive(r) ? block.join('\n') : hashComment(block), '');
  }
  return `${out.join('\n').trimEnd()}\n`;
}

// ---- CloudFormation -----------------------------------------------------------------------------------------------

function logicalId(r: PlannedRule, used: Set<string>): string {
  const pascal = ['egress', ...ruleNameParts(r)]
    .map((p) => p.replace(/[^A-Za-z0-9]/g, ''))
    .map((p) => p.charAt(0).toUpperCase() + p.slice(1))
    .join('');
  return uniqueName(pascal, used, 'N');
}

function cfnProperties(r: PlannedRule): Record<string, string | number> {
  const props: Record<string, string | number> = { GroupId: r.group, IpProtocol: r.protocol };
  props.FromPort = r.fromPort;
  props.ToPort = r.toPort;
  if (r.target.kind === 'ipv4') props.CidrIp = r.target.value;
  else if (r.target.kind === 'ipv6') props.CidrIpv6 = r.target.value;
  else props.DestinationSecurityGroupId = r.target.value;
  props.Description = description(r);
  return props;
}

function yamlComment(lines: readonly string[]): string {
  return lines.map((l) => (l === '' ? '' : ` ${l}`)).join('\n');
}

function renderCloudFormation(plan: Plan, result: InferenceResult): string {
  const doc = new (yaml().Document)({
    AWSTemplateFormatVersion: new (yaml().Scalar)('2010-09-09'),
    Description:
      'Candidate egress rules generated by egress-learner from observed traffic. Review before applying.',
    Resources: {},
  });
  (doc.get('AWSTemplateFormatVersion', true) as Scalar).type = yaml().Scalar.QUOTE_DOUBLE;
  doc.commentBefore = yamlComment(preamble(plan, result, 'AWS security group egress rules (CloudFormation)'));
  const resources = doc.get('Resources', true) as YAMLMap;
  const used = new Set<string>();
  let pending: string[] = [];
  for (const r of plan.rules) {
    const id = logicalId(r, used);
    const body = { Type: 'AWS::EC2::SecurityGroupEgress', Properties: cfnProperties(r) };
    if (!isActive(r)) {
      const text = new (yaml().Document)({ [id]: body }).toString({ lineWidth: 0 }).trimEnd();
      pending.push(...ruleComments(r), ...text.split('\n'), '');
      continue;
    }
    const pair = doc.createPair(id, body);
    (pair.key as Scalar).commentBefore = yamlComment([...pending, ...ruleComments(r)]);
    pending = [];
    resources.items.push(pair);
  }
  if (pending.length > 0) {
    if (resources.items.length > 0) resources.comment = yamlComment(pending);
    else doc.comment = yamlComment(pending);
  }
  if (resources.items.length === 0) resources.flow = true;
  return doc.toString({ lineWidth: 0 });
}

/** Egress rules per security group, as AWS CLI JSON, Terraform and CloudFormation, under `aws-sg/`. */
export const emitAwsSecurityGroups: Generator = (result, options) => {
  const plan = buildPlan(result, options);
  return [
    ...renderCliJson(plan),
    { path: 'aws-sg/egress.cfn.yaml', content: renderCloudFormation(plan, result) },
    { path: 'aws-sg/egress.tf', content: renderTerraform(plan, result) },
  ].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
};
