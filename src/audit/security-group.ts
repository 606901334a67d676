/**
 * AWS security-group egress rules, from `aws ec2 describe-security-groups` output (IpPermissionsEgress) or from
 * the per-group `--ip-permissions` JSON `suggest --kinds aws-sg` writes (`<group-id>.json`). Security groups are
 * allow-lists: traffic leaves an instance when any rule of any of its groups allows it.
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
}

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
    };
  });
}

/** Every group's egress rules in a describe-security-groups document. */
export function parseDescribeSecurityGroups(
  doc: Record<string, unknown>,
  where: string,
): SecurityGroupRule[] {
  const groups = Array.isArray(doc.SecurityGroups) ? doc.SecurityGroups.filter(isRecord) : [];
  return groups.flatMap((g) =>
    typeof g.GroupId === 'string' ? parseIpPermissions(g.GroupId, g.IpPermissionsEgress ?? [], where) : [],
  );
}

/** Does the rule let `protocol`/`port` out to `dst` (whose own groups are `dstGroups`)? */
export function sgRuleAllows(
  rule: SecurityGroupRule,
  protocol: number,
  port: number,
  dst: string,
  dstGroups: readonly string[],
): boolean {
  if (rule.protocol !== '-1') {
    const n = PROTOCOL_NUMBERS[rule.protocol] ?? Number(rule.protocol);
    if (n !== protocol) return false;
    // ICMP rules carry type/code in From/ToPort; -1 means all, and flow logs carry no type to compare with.
    const ported = protocol === 6 || protocol === 17 || protocol === 132;
    if (
      ported &&
      rule.fromPort !== null &&
      rule.toPort !== null &&
      (port < rule.fromPort || port > rule.toPort)
    )
      return false;
  }
  const bytes = addressBytes(dst);
  if (bytes !== null && rule.cidrs.some((c) => cidrContains(c, bytes))) return true;
  return rule.groups.some((g) => dstGroups.includes(g));
}
