/**
 * AWS security-group egress rules, from `aws ec2 describe-security-groups` output (IpPermissionsEgress) or from
 * the per-group `--ip-permissions` JSON `suggest --kinds aws-sg` writes (`<group-id>.json`). Security groups are
 * allow-lists: traffic leaves an instance when any rule of any of its groups allows it. A rule may name managed
 * prefix lists (`PrefixListIds`, as for an S3 gateway endpoint); their CIDRs come from
 * `aws ec2 get-managed-prefix-list-entries` output saved as `<prefix-list-id>.json`.
 */
import { addressBytes, cidrContains, parseCidr, type Cidr } from '../model/cidr.js';
import { ManifestError } from './manifest-error.js';

export interface SecurityGroupRule {
  readonly groupId: string;
  readonly index: number;
  /** IANA number as text, `tcp`/`udp`/`icmp`/`icmpv6`, or `-1` for all. */
  readonly protocol: string;
  readonly fromPort: number | null;
  readonly toPort: number | null;
  readonly cidrs: readonly Cidr[];
  readonly groups: readonly string[];
  readonly prefixLists: readonly string[];
}

/** Managed prefix lists by id: their CIDRs. */
export type PrefixLists = ReadonlyMap<string, readonly Cidr[]>;

const PROTOCOL_NUMBERS: Record<string, number> = { tcp: 6, udp: 17, icmp: 1, icmpv6: 58, '58': 58 };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The rules of one group from an IpPermissions list. */
export function parseIpPermissions(groupId: string, perms: unknown, where: string): SecurityGroupRule[] {
  if (!Array.isArray(perms)) throw new ManifestError(`${where}: expected a list of IpPermissions`);
  return perms.map((p, index) => {
    if (!isRecord(p) || typeof p.IpProtocol !== 'string')
      throw new ManifestError(`${where}: permission ${index} has no IpProtocol`);
    const list = (k: string): Record<string, unknown>[] =>
      Array.isArray(p[k]) ? (p[k] as unknown[]).filter(isRecord) : [];
    const cidrs: Cidr[] = [];
    for (const r of [
      ...list('IpRanges').map((x) => x.CidrIp),
      ...list('Ipv6Ranges').map((x) => x.CidrIpv6),
    ]) {
      const c = typeof r === 'string' ? parseCidr(r) : null;
      if (c === null)
        throw new ManifestError(`${where}: permission ${index} has a bad CIDR ${JSON.stringify(r)}`);
      cidrs.push(c);
    }
    const num = (v: unknown): number | null => (typeof v === 'number' && Number.isInteger(v) ? v : null);
    return {
      groupId,
      index,
      protocol: p.IpProtocol.toLowerCase(),
      fromPort: num(p.FromPort),
      toPort: num(p.ToPort),
      cidrs,
      groups: list('UserIdGroupPairs').flatMap((g) => (typeof g.GroupId === 'string' ? [g.GroupId] : [])),
      prefixLists: list('PrefixListIds').flatMap((l) =>
        typeof l.PrefixListId === 'string' ? [l.PrefixListId] : [],
      ),
    };
  });
}

/** Every group's egress rules in a describe-security-groups document. */
export function parseDescribeSecurityGroups(doc: Record<string, unknown>): SecurityGroupRule[] {
  const groups = Array.isArray(doc.SecurityGroups) ? doc.SecurityGroups.filter(isRecord) : [];
  return groups.flatMap((g) =>
    typeof g.GroupId === 'string'
      ? parseIpPermissions(g.GroupId, g.IpPermissionsEgress ?? [], `${g.GroupId} IpPermissionsEgress`)
      : [],
  );
}

/** The CIDRs of `get-managed-prefix-list-entries` output (`{"Entries": [{"Cidr": …}]}`). */
export function parsePrefixListEntries(doc: Record<string, unknown>, where: string): Cidr[] {
  const entries = Array.isArray(doc.Entries) ? doc.Entries : [];
  return entries.map((x, i) => {
    const c = isRecord(x) && typeof x.Cidr === 'string' ? parseCidr(x.Cidr) : null;
    if (c === null) throw new ManifestError(`${where}: entry ${i} has no valid Cidr`);
    return c;
  });
}

/** Does the rule match `protocol`/`port`, whatever the destination? */
export function sgRulePortMatches(rule: SecurityGroupRule, protocol: number, port: number): boolean {
  if (rule.protocol === '-1') return true;
  const n = PROTOCOL_NUMBERS[rule.protocol] ?? Number(rule.protocol);
  if (n !== protocol) return false;
  // ICMP rules carry type/code in From/ToPort; -1 means all, and flow logs carry no type to compare with.
  const ported = protocol === 6 || protocol === 17 || protocol === 132;
  return !(
    ported &&
    rule.fromPort !== null &&
    rule.toPort !== null &&
    (port < rule.fromPort || port > rule.toPort)
  );
}

/** Does the rule let `protocol`/`port` out to `dst` (whose own groups are `dstGroups`)? */
export function sgRuleAllows(
  rule: SecurityGroupRule,
  protocol: number,
  port: number,
  dst: string,
  dstGroups: readonly string[],
  prefixLists: PrefixLists = new Map(),
): boolean {
  if (!sgRulePortMatches(rule, protocol, port)) return false;
  const bytes = addressBytes(dst);
  const within = (cidrs: readonly Cidr[]): boolean =>
    bytes !== null && cidrs.some((c) => cidrContains(c, bytes));
  if (within(rule.cidrs) || rule.prefixLists.some((id) => within(prefixLists.get(id) ?? []))) return true;
  return rule.groups.some((g) => dstGroups.includes(g));
}
