/**
 * Reads AWS inventory documents, as the AWS CLI prints them, into cloud inventory records. The kind of document
 * is told by its top-level key, so files can be passed in any order and mixed:
 *
 *   aws ec2 describe-network-interfaces  → {"NetworkInterfaces": [{"NetworkInterfaceId": "eni-…", "Attachment":
 *                                           {"InstanceId": "i-…"}, "PrivateIpAddresses": [{"PrivateIpAddress": …}],
 *                                           "Ipv4Prefixes": [{"Ipv4Prefix": …}], "Groups": [{"GroupId": …}], …}]}
 *   aws ec2 describe-instances           → {"Reservations": [{"Instances": [{"InstanceId": "i-…", "Placement":
 *                                           {"AvailabilityZone": …}, "NetworkInterfaces": [the same, less the
 *                                           instance's id and zone]}]}]}
 *   aws ec2 describe-security-groups     → {"SecurityGroups": [{"GroupId": "sg-…", "IpPermissions": […], …}]}
 *   aws ec2 describe-vpcs                → {"Vpcs": [{"VpcId": …, "CidrBlockAssociationSet": [{"CidrBlock": …}]}]}
 *   aws ec2 describe-subnets             → {"Subnets": [{"SubnetId": …, "VpcId": …, "CidrBlock": …}]}
 *   https://ip-ranges.amazonaws.com/ip-ranges.json
 *                                        → {"syncToken": …, "prefixes": [{"ip_prefix", "region", "service",
 *                                           "network_border_group"}], "ipv6_prefixes": [{"ipv6_prefix", …}]}
 *
 * (API reference: https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_NetworkInterface.html; ip-ranges
 * syntax: https://docs.aws.amazon.com/vpc/latest/userguide/aws-ip-syntax.html.) Pure: no I/O, never throws on bad
 * input; a malformed entry comes back as a reject with its position and a reason from a bounded list.
 */
import { parseCidr } from '../../src/model/cidr.js';
import type {
  CloudPrefixRecord,
  NetworkInterfaceRecord,
  SecurityGroupRecord,
  SecurityGroupRef,
  VpcCidrRecord,
} from '../../src/model/cloud-inventory.js';
import { canonicalIp } from '../../src/model/ip.js';
import { parseRfc3339 } from '../../src/model/rfc3339.js';

export const AWS_DOCUMENT_KINDS = [
  'network-interfaces',
  'instances',
  'security-groups',
  'vpcs',
  'subnets',
  'ip-ranges',
] as const;
export type AwsDocumentKind = (typeof AWS_DOCUMENT_KINDS)[number];

export const AWS_REJECT_REASONS = ['not_an_object', 'missing_id', 'bad_ip', 'bad_cidr'] as const;
export type AwsRejectReason = (typeof AWS_REJECT_REASONS)[number];

export interface AwsReject {
  /**
   * Position in the document's list (for ip-ranges: in `prefixes`, then in `ipv6_prefixes` after them; for
   * instances: among all the instances' interfaces, in order).
   */
  readonly index: number;
  readonly id: string;
  readonly reason: AwsRejectReason;
}

export type AwsDocument =
  | { readonly kind: 'network-interfaces' | 'instances'; readonly items: readonly NetworkInterfaceRecord[] }
  | { readonly kind: 'security-groups'; readonly items: readonly SecurityGroupRecord[] }
  | { readonly kind: 'vpcs' | 'subnets'; readonly items: readonly VpcCidrRecord[] }
  | {
      readonly kind: 'ip-ranges';
      readonly items: readonly CloudPrefixRecord[];
      /** The publication time (`syncToken`, epoch seconds), '' when absent. */
      readonly syncToken: string;
    };

export type AwsParseResult =
  | { readonly ok: true; readonly document: AwsDocument; readonly rejects: readonly AwsReject[] }
  | { readonly ok: false; readonly reason: 'bad_json' | 'unknown_document' };

/** Parses one AWS CLI / ip-ranges.json document. */
export function parseAwsDocument(text: string): AwsParseResult {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'bad_json' };
  }
  if (!isObject(doc)) return { ok: false, reason: 'unknown_document' };
  const rejects: AwsReject[] = [];
  if (Array.isArray(doc.NetworkInterfaces)) {
    const items: NetworkInterfaceRecord[] = [];
    doc.NetworkInterfaces.forEach((x: unknown, i: number) => {
      const r = toNetworkInterface(x);
      if ('reason' in r) rejects.push({ index: i, id: idOf(x, 'NetworkInterfaceId'), reason: r.reason });
      else items.push(r.value);
    });
    return { ok: true, document: { kind: 'network-interfaces', items }, rejects };
  }
  if (Array.isArray(doc.Reservations)) {
    // An instance's interfaces leave out what the instance says: its id, its zone and (in the reservation) its owner.
    const items: NetworkInterfaceRecord[] = [];
    let index = 0;
    for (const r of doc.Reservations as unknown[]) {
      const reservation = isObject(r) ? r : {};
      for (const instance of Array.isArray(reservation.Instances)
        ? (reservation.Instances as unknown[])
        : []) {
        if (!isObject(instance)) {
          rejects.push({ index: index++, id: '', reason: 'not_an_object' });
          continue;
        }
        const zone: unknown = isObject(instance.Placement) ? instance.Placement.AvailabilityZone : undefined;
        const interfaces = Array.isArray(instance.NetworkInterfaces)
          ? (instance.NetworkInterfaces as unknown[])
          : [];
        for (const x of interfaces) {
          const r = toNetworkInterface(
            isObject(x)
              ? {
                  AvailabilityZone: zone,
                  OwnerId: reservation.OwnerId,
                  ...x,
                  Attachment: {
                    ...(isObject(x.Attachment) ? x.Attachment : {}),
                    InstanceId: instance.InstanceId,
                  },
                }
              : x,
          );
          if ('reason' in r) rejects.push({ index, id: idOf(x, 'NetworkInterfaceId'), reason: r.reason });
          else items.push(r.value);
          index++;
        }
      }
    }
    return { ok: true, document: { kind: 'instances', items }, rejects };
  }
  if (Array.isArray(doc.SecurityGroups)) {
    const items: SecurityGroupRecord[] = [];
    doc.SecurityGroups.forEach((x: unknown, i: number) => {
      if (!isObject(x)) return rejects.push({ index: i, id: '', reason: 'not_an_object' });
      if (!nonEmpty(x.GroupId)) return rejects.push({ index: i, id: '', reason: 'missing_id' });
      items.push({
        groupId: x.GroupId,
        groupName: str(x.GroupName),
        vpcId: str(x.VpcId),
        ownerId: str(x.OwnerId),
        description: str(x.Description),
        ingress: Array.isArray(x.IpPermissions) ? x.IpPermissions : [],
        egress: Array.isArray(x.IpPermissionsEgress) ? x.IpPermissionsEgress : [],
      });
    });
    return { ok: true, document: { kind: 'security-groups', items }, rejects };
  }
  if (Array.isArray(doc.Vpcs)) {
    const items: VpcCidrRecord[] = [];
    doc.Vpcs.forEach((x: unknown, i: number) => {
      if (!isObject(x)) return rejects.push({ index: i, id: '', reason: 'not_an_object' });
      if (!nonEmpty(x.VpcId)) return rejects.push({ index: i, id: '', reason: 'missing_id' });
      // CidrBlock is the primary block; CidrBlockAssociationSet repeats it with any secondary blocks.
      const texts: unknown[] = [x.CidrBlock];
      for (const a of Array.isArray(x.CidrBlockAssociationSet) ? x.CidrBlockAssociationSet : []) {
        if (isObject(a) && !isDisassociated(a.CidrBlockState)) texts.push(a.CidrBlock);
      }
      for (const a of Array.isArray(x.Ipv6CidrBlockAssociationSet) ? x.Ipv6CidrBlockAssociationSet : []) {
        if (isObject(a) && !isDisassociated(a.Ipv6CidrBlockState)) texts.push(a.Ipv6CidrBlock);
      }
      const seen = new Set<string>();
      for (const t of texts) {
        if (t === undefined) continue;
        const c = typeof t === 'string' ? parseCidr(t) : null;
        if (c === null) return rejects.push({ index: i, id: x.VpcId, reason: 'bad_cidr' });
        if (seen.has(c.text)) continue;
        seen.add(c.text);
        items.push({ cidr: c.text, vpcId: x.VpcId, origin: 'vpc' });
      }
    });
    return { ok: true, document: { kind: 'vpcs', items }, rejects };
  }
  if (Array.isArray(doc.Subnets)) {
    const items: VpcCidrRecord[] = [];
    doc.Subnets.forEach((x: unknown, i: number) => {
      if (!isObject(x)) return rejects.push({ index: i, id: '', reason: 'not_an_object' });
      if (!nonEmpty(x.SubnetId)) return rejects.push({ index: i, id: '', reason: 'missing_id' });
      const texts: unknown[] = [x.CidrBlock];
      for (const a of Array.isArray(x.Ipv6CidrBlockAssociationSet) ? x.Ipv6CidrBlockAssociationSet : []) {
        if (isObject(a)) texts.push(a.Ipv6CidrBlock);
      }
      for (const t of texts) {
        if (t === undefined) continue;
        const c = typeof t === 'string' ? parseCidr(t) : null;
        if (c === null) return rejects.push({ index: i, id: x.SubnetId, reason: 'bad_cidr' });
        items.push({ cidr: c.text, vpcId: str(x.VpcId), origin: 'subnet' });
      }
    });
    return { ok: true, document: { kind: 'subnets', items }, rejects };
  }
  if (Array.isArray(doc.prefixes)) {
    const items: CloudPrefixRecord[] = [];
    const v6 = Array.isArray(doc.ipv6_prefixes) ? (doc.ipv6_prefixes as unknown[]) : [];
    const all: [unknown, string][] = [
      ...(doc.prefixes as unknown[]).map((p): [unknown, string] => [p, 'ip_prefix']),
      ...v6.map((p): [unknown, string] => [p, 'ipv6_prefix']),
    ];
    all.forEach(([p, key], i) => {
      if (!isObject(p)) return rejects.push({ index: i, id: '', reason: 'not_an_object' });
      const c = typeof p[key] === 'string' ? parseCidr(p[key]) : null;
      if (c === null) return rejects.push({ index: i, id: str(p[key]), reason: 'bad_cidr' });
      items.push({
        cidr: c.text,
        service: str(p.service),
        region: str(p.region),
        networkBorderGroup: str(p.network_border_group),
      });
    });
    return {
      ok: true,
      document: { kind: 'ip-ranges', items, syncToken: str(doc.syncToken) },
      rejects,
    };
  }
  return { ok: false, reason: 'unknown_document' };
}

function toNetworkInterface(x: unknown): { value: NetworkInterfaceRecord } | { reason: AwsRejectReason } {
  if (!isObject(x)) return { reason: 'not_an_object' };
  if (!nonEmpty(x.NetworkInterfaceId)) return { reason: 'missing_id' };
  const addresses: string[] = [];
  const add = (text: unknown): boolean => {
    if (text === undefined || text === null || text === '') return true;
    const ip = typeof text === 'string' ? canonicalIp(text) : null;
    if (ip === null) return false;
    if (!addresses.includes(ip)) addresses.push(ip);
    return true;
  };
  // PrivateIpAddress is the primary; PrivateIpAddresses lists it again with the secondary ones (the VPC CNI's
  // warm pool: pod IPs are secondary addresses of the node's ENIs).
  if (!add(x.PrivateIpAddress)) return { reason: 'bad_ip' };
  for (const a of Array.isArray(x.PrivateIpAddresses) ? x.PrivateIpAddresses : []) {
    if (!isObject(a) || !add(a.PrivateIpAddress)) return { reason: 'bad_ip' };
  }
  for (const a of Array.isArray(x.Ipv6Addresses) ? x.Ipv6Addresses : []) {
    if (!isObject(a) || !add(a.Ipv6Address)) return { reason: 'bad_ip' };
  }
  const prefixes: string[] = [];
  const prefixLists: [unknown, string][] = [
    [x.Ipv4Prefixes, 'Ipv4Prefix'],
    [x.Ipv6Prefixes, 'Ipv6Prefix'],
  ];
  for (const [list, key] of prefixLists) {
    for (const p of Array.isArray(list) ? list : []) {
      const c = isObject(p) && typeof p[key] === 'string' ? parseCidr(p[key]) : null;
      if (c === null) return { reason: 'bad_cidr' };
      prefixes.push(c.text);
    }
  }
  const groups: SecurityGroupRef[] = [];
  for (const g of Array.isArray(x.Groups) ? x.Groups : []) {
    if (isObject(g) && nonEmpty(g.GroupId)) groups.push({ groupId: g.GroupId, groupName: str(g.GroupName) });
  }
  groups.sort((a, b) => (a.groupId < b.groupId ? -1 : a.groupId > b.groupId ? 1 : 0));
  const attachment = isObject(x.Attachment) ? x.Attachment : {};
  return {
    value: {
      interfaceId: x.NetworkInterfaceId,
      instanceId: str(attachment.InstanceId),
      vpcId: str(x.VpcId),
      subnetId: str(x.SubnetId),
      availabilityZone: str(x.AvailabilityZone),
      ownerId: str(x.OwnerId),
      interfaceType: str(x.InterfaceType),
      description: str(x.Description),
      status: str(x.Status),
      addresses,
      primaryAddress: typeof x.PrivateIpAddress === 'string' ? (canonicalIp(x.PrivateIpAddress) ?? '') : '',
      attachedAt: typeof attachment.AttachTime === 'string' ? parseRfc3339(attachment.AttachTime) : null,
      prefixes,
      securityGroups: groups,
    },
  };
}

function isDisassociated(state: unknown): boolean {
  return isObject(state) && typeof state.State === 'string' && state.State !== 'associated';
}

function idOf(x: unknown, key: string): string {
  return isObject(x) && typeof x[key] === 'string' ? x[key] : '';
}

// Typed loosely on purpose: the document is user input, so every field is checked with typeof before use.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = Record<string, any>;

function isObject(v: unknown): v is Loose {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function nonEmpty(v: unknown): v is string {
  return typeof v === 'string' && v !== '';
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}
