/**
 * An Exoscale SKS egress security group as a shell script of `exo compute security-group rule add` commands, in the
 * syntax of seeds/exoscale-sks-egress-security-groups.txt: first the mandatory rules the seed lists (without them an
 * egress-filtered SKS cluster stops working), then one rule per learned CIDR × port/protocol.
 *
 * The script is run by a person with their credentials, so nothing learned may reach it unchecked: every value
 * written into a command is re-validated here (CIDRs re-parsed, ports numeric, protocols from a fixed set,
 * descriptions cut to a plain character set), and the group name comes from the operator's `SG` variable,
 * quoted and checked by the script itself.
 */
import type { Endpoint, InferenceResult, Sender } from '../model/endpoint.js';
import type { EmitOptions, EmittedFile, Generator } from './document.js';
import { destinationText, evidenceText, foldText, headerLines, suspicionText } from './evidence.js';
import { commentText, safeCidr, safePort } from './safe.js';

/** The group name the seed creates; the operator overrides it with `SG=... sh rules.sh`. */
const DEFAULT_GROUP = 'sks-egress-security-group';

interface MandatoryRule {
  /** The `#` line the seed puts above the command. */
  readonly comment: string;
  readonly description: string;
  readonly protocol: 'tcp' | 'udp';
  readonly port: string;
  /** Either a network or a target group (`"$SG"` is the group itself). */
  readonly network?: string;
  readonly securityGroup?: string;
}

/** seeds/exoscale-sks-egress-security-groups.txt, "SKS mandatory rules", in the seed's order and wording. */
const MANDATORY: readonly MandatoryRule[] = [
  {
    comment: 'allow NTP service',
    description: 'NTP service',
    protocol: 'udp',
    network: '0.0.0.0/0',
    port: '123',
  },
  {
    comment: 'allow DNS resolution for TCP protocol',
    description: 'DNS service (TCP)',
    protocol: 'tcp',
    network: '0.0.0.0/0',
    port: '53',
  },
  {
    comment: 'allow DNS resolution for UDP protocol',
    description: 'DNS service (UDP)',
    protocol: 'udp',
    network: '0.0.0.0/0',
    port: '53',
  },
  {
    comment: 'allow Container images pull',
    description: 'Container images pull',
    protocol: 'tcp',
    network: '0.0.0.0/0',
    port: '443',
  },
  {
    comment: 'allow SKS inter-node communication',
    description: 'SKS inter-node',
    protocol: 'tcp',
    port: '1-65535',
    securityGroup: '"$SG"',
  },
  {
    comment: 'allow SKS API communication',
    description: 'SKS API',
    protocol: 'tcp',
    port: '1-65535',
    securityGroup: 'public-sks-apiservers',
  },
];

/** Which mandatory rule already allows a protocol/port to every address. */
function mandatoryCovering(protocol: string, port: number): MandatoryRule | undefined {
  return MANDATORY.find(
    (m) => m.network === '0.0.0.0/0' && m.protocol === protocol && m.port === String(port),
  );
}

/** A description for a double-quoted shell word and the Exoscale API: a plain character set, at most 255. */
export function exoDescription(text: string): string {
  return text
    .replace(/[^A-Za-z0-9 ._:=,+()/-]/g, ' ')
    .replace(/ {2,}/g, ' ')
    .trim()
    .slice(0, 255)
    .trim();
}

/** Words written bare into a command; re-checked right before they are written, whatever checked them before. */
const BARE_WORD = /^[A-Za-z0-9:][A-Za-z0-9.:/-]*$/;

function bare(word: string): string {
  if (!BARE_WORD.test(word)) throw new Error(`exoscale-sg: refusing to write an unchecked shell word`);
  return word;
}

interface Contribution {
  readonly endpoint: Endpoint;
  readonly what: string;
}

interface PlannedRule {
  readonly protocol: 'tcp' | 'udp';
  readonly port: number;
  readonly cidr: string;
  readonly enabled: Contribution[];
  readonly suspicious: Contribution[];
}

/** Sender ids in comments keep only the characters Kubernetes names and `node/`, `instance/` prefixes use. */
function senderText(s: Sender): string {
  const id = s.id.replace(/[^A-Za-z0-9._/:-]/g, '?');
  return s.hostNetwork ? `${id} (hostNetwork)` : id;
}

function compareEndpoints(a: Endpoint, b: Endpoint): number {
  if (a.sender !== b.sender) return a.sender < b.sender ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

function compareRules(a: PlannedRule, b: PlannedRule): number {
  if (a.protocol !== b.protocol) return a.protocol < b.protocol ? -1 : 1;
  if (a.port !== b.port) return a.port - b.port;
  const fa = a.cidr.includes(':') ? 6 : 4;
  const fb = b.cidr.includes(':') ? 6 : 4;
  if (fa !== fb) return fa - fb;
  return a.cidr < b.cidr ? -1 : a.cidr > b.cidr ? 1 : 0;
}

interface Plan {
  readonly rules: PlannedRule[];
  readonly notes: string[];
  readonly rare: string[];
}

function buildPlan(result: InferenceResult, options: EmitOptions): Plan {
  const senders = new Map(result.senders.map((s) => [s.id, s]));
  const rules = new Map<string, PlannedRule>();
  const skips = new Map<string, { proxy: number; peer: number; instance: number }>();
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
    const k = skips.get(s.id) ?? { proxy: 0, peer: 0, instance: 0 };
    skips.set(s.id, k);
    // The SKS nodes' group filters everything the nodes send, pods included (their traffic leaves with the
    // node's address); a cloud instance is not an SKS node.
    if (s.kind === 'instance') {
      k.instance++;
      continue;
    }
    if (e.via === 'proxy') {
      k.proxy++;
      continue;
    }
    const d = e.destination;
    if (d.kind === 'peer') {
      k.peer++;
      continue;
    }
    const what = `${senderText(s)} -> ${destinationText(e)} ${e.port}/${e.protocol}`;
    if (e.rare) {
      rare.push(`${what}: ${evidenceText(e)}`);
      continue;
    }
    if (e.protocol !== 'TCP' && e.protocol !== 'UDP') {
      // The seed's rules name TCP and UDP ports; ICMP rules need a type and code that flow logs do not carry.
      dropped.push(`endpoint ${id}: ${e.protocol} is not written as a rule here (add it by hand if needed)`);
      continue;
    }
    const port = safePort(e.port);
    if (port === null) {
      dropped.push(`endpoint ${id}: port is not 1-65535, dropped`);
      continue;
    }
    if (d.cidrs.length === 0) {
      dropped.push(`endpoint ${id}: ${what} has no address form (seen only by name), not written`);
      continue;
    }
    const protocol = e.protocol === 'TCP' ? 'tcp' : 'udp';
    const accepted = options.accepted.has(e.id) ? ' (accepted by a reviewer)' : '';
    const contribution: Contribution = { endpoint: e, what: commentText(`${what}${accepted}`) };
    for (const c of d.cidrs) {
      const cidr = safeCidr(c.cidr, result.settings.allowAny);
      if (cidr === null) {
        dropped.push(`endpoint ${id}: a CIDR is not valid or allows everything, dropped`);
        continue;
      }
      const key = `${protocol}|${port}|${cidr}`;
      let r = rules.get(key);
      if (r === undefined) {
        r = { protocol, port, cidr, enabled: [], suspicious: [] };
        rules.set(key, r);
      }
      (e.suspicions.length > 0 ? r.suspicious : r.enabled).push(contribution);
    }
  }

  const notes: string[] = [];
  for (const sid of [...skips.keys()].sort()) {
    const k = skips.get(sid)!;
    const who = senderText(senders.get(sid)!);
    if (k.instance > 0) notes.push(`${who}: ${k.instance} endpoint(s) of a cloud instance, not an SKS node`);
    if (k.proxy > 0)
      notes.push(`${who}: ${k.proxy} endpoint(s) reached through the egress proxy, enforced there`);
    if (k.peer > 0)
      notes.push(
        `${who}: ${k.peer} endpoint(s) to in-cluster peers (NetworkPolicy; the inter-node rule carries them)`,
      );
  }
  notes.push(...dropped);
  return { rules: [...rules.values()].sort(compareRules), notes, rare };
}

function hashLines(lines: readonly string[]): string[] {
  return lines.map((l) => (l === '' ? '#' : `# ${commentText(l)}`));
}

/** One `rule add` command, flags in the seed's order: network rules and group rules differ in where --port goes. */
function command(
  description: string,
  protocol: string,
  port: string,
  target: { network: string } | { group: string },
) {
  const lines = [
    'exo compute security-group rule add "$SG" \\',
    `--description "${exoDescription(description)}" \\`,
    `--protocol ${bare(protocol)} \\`,
  ];
  if ('network' in target) {
    lines.push(`--network ${bare(target.network)} \\`, '--flow egress \\', `--port ${bare(port)}`);
  } else {
    const group = target.group === '"$SG"' ? target.group : bare(target.group);
    lines.push(`--port ${bare(port)} \\`, '--flow egress \\', `--security-group ${group}`);
  }
  return lines;
}

function day(t: number): string {
  return new Date(Math.round(t) * 1000).toISOString().slice(0, 10);
}

function description(r: PlannedRule): string {
  const list = r.enabled.length > 0 ? r.enabled : r.suspicious;
  const flows = list.reduce((n, c) => n + c.endpoint.evidence.flows, 0);
  const last = Math.max(...list.map((c) => c.endpoint.evidence.lastSeen));
  const more = list.length > 1 ? ` (+${list.length - 1} more)` : '';
  return `egress-learner id=${list[0]!.endpoint.id}${more} flows=${flows} last=${day(last)}`;
}

function ruleBlock(r: PlannedRule): string[] {
  const fold = (e: Endpoint) => foldText(e).filter((l) => l.startsWith(`${r.cidr}: `));
  const cmd = command(description(r), r.protocol, String(r.port), { network: r.cidr });
  const covering = mandatoryCovering(r.protocol, r.port);
  const out: string[] = [];
  if (r.enabled.length > 0) {
    for (const c of r.enabled) out.push(c.what, evidenceText(c.endpoint), ...fold(c.endpoint));
    for (const c of r.suspicious)
      out.push(`also taught by a suspicious endpoint: ${c.what}: ${suspicionText(c.endpoint)}`);
    if (covering !== undefined && r.cidr === covering.network) {
      out.push(`already allowed by the mandatory rule "${covering.description}", not added twice`);
      return [...hashLines(out), ...hashLines(cmd)];
    }
    if (covering !== undefined)
      out.push(
        `also allowed by the mandatory rule "${covering.description}"; kept so it survives that rule's removal`,
      );
    return [...hashLines(out), ...cmd];
  }
  for (const c of r.suspicious)
    out.push(suspicionText(c.endpoint), c.what, evidenceText(c.endpoint), ...fold(c.endpoint));
  return [...hashLines(out), ...hashLines(cmd)];
}

function renderScript(plan: Plan, result: InferenceResult): string {
  const header = [
    ...headerLines(result, 'Exoscale SKS egress security group rules'),
    '',
    'Adds egress rules to an existing security group (create it first: exo compute security-group create NAME),',
    `named by SG (default ${DEFAULT_GROUP}): SG=my-sks-nodes sh rules.sh. Run it once per group.`,
  ];
  if (plan.notes.length > 0) header.push('', 'Not written here:', ...plan.notes.map((n) => `  ${n}`));
  if (plan.rare.length > 0) header.push('', 'Seen rarely, not enabled:', ...plan.rare.map((n) => `  ${n}`));

  const out = ['#!/bin/sh', ...hashLines(header), '', 'set -eu', ''];
  out.push(
    `SG="\${SG:-${DEFAULT_GROUP}}"`,
    // The group name reaches every command; refuse anything that is not a plain name or id.
    'case "$SG" in',
    "'' | -* | *[!A-Za-z0-9._-]*)",
    "  printf '%s\\n' 'rules.sh: SG must be a security group name or id (letters, digits, . _ -)' >&2",
    '  exit 1',
    '  ;;',
    'esac',
    '',
    '# SKS mandatory egress rules (seeds/exoscale-sks-egress-security-groups.txt): keep them, the cluster needs them.',
    '# public-sks-apiservers is an Exoscale public group; newer exo CLI releases name it with --public-security-group.',
  );
  for (const m of MANDATORY) {
    out.push(`# ${m.comment}`);
    const target = m.network !== undefined ? { network: m.network } : { group: m.securityGroup! };
    out.push(...command(m.description, m.protocol, m.port, target));
  }
  out.push('', '# Learned egress rules, one per CIDR and port.');
  if (plan.rules.length === 0) out.push('# (none)');
  for (const r of plan.rules) out.push('', ...ruleBlock(r));
  return `${out.join('\n')}\n`;
}

/** `exoscale-sg/rules.sh`: the SKS mandatory egress rules, then the learned ones. */
export const emitExoscaleSecurityGroups: Generator = (result, options): EmittedFile[] => [
  { path: 'exoscale-sg/rules.sh', content: renderScript(buildPlan(result, options), result) },
];
