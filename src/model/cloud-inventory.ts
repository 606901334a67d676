/**
 * Cloud inventory records: AWS network interfaces (ENIs) and security groups, the VPC address space and AWS's
 * published service prefixes. Flows seen on an ENI (or sent from one of its private addresses) attribute to the
 * instance it is attached to and its security groups: the unit security-group rules are written for.
 */

/** A security group as an ENI names it (`Groups[]` of describe-network-interfaces). */
export interface SecurityGroupRef {
  readonly groupId: string;
  readonly groupName: string;
}

/** One `aws ec2 describe-network-interfaces` entry. Addresses are canonical (src/model/ip.ts). */
export interface NetworkInterfaceRecord {
  readonly interfaceId: string;
  /** Attachment.InstanceId; '' for an interface not attached to an instance (NAT gateway, VPC endpoint, …). */
  readonly instanceId: string;
  readonly vpcId: string;
  readonly subnetId: string;
  readonly availabilityZone: string;
  readonly ownerId: string;
  /** InterfaceType: interface, nat_gateway, vpc_endpoint, lambda, efa, trunk, branch, … */
  readonly interfaceType: string;
  readonly description: string;
  readonly status: string;
  /** Primary and secondary private IPv4 addresses plus IPv6 addresses. */
  readonly addresses: readonly string[];
  /** The primary private IPv4 address (PrivateIpAddress), '' when not given. */
  readonly primaryAddress: string;
  /**
   * Attachment.AttachTime in epoch seconds, null when not attached or not given. An instance's own interface is
   * created with its primary address when the instance launches, moments before it is attached.
   */
  readonly attachedAt: number | null;
  /** Delegated prefixes (Ipv4Prefixes / Ipv6Prefixes: the VPC CNI's prefix mode hands pods addresses from these). */
  readonly prefixes: readonly string[];
  readonly securityGroups: readonly SecurityGroupRef[];
}

/** One `aws ec2 describe-security-groups` entry; the rules are kept as given (JSON) for the emitters. */
export interface SecurityGroupRecord {
  readonly groupId: string;
  readonly groupName: string;
  readonly vpcId: string;
  readonly ownerId: string;
  readonly description: string;
  /** IpPermissions, as the API returns them. */
  readonly ingress: readonly unknown[];
  /** IpPermissionsEgress, as the API returns them. */
  readonly egress: readonly unknown[];
}

/** One VPC-internal block (describe-vpcs CidrBlockAssociationSet, describe-subnets CidrBlock, or `--vpc-cidr`). */
export interface VpcCidrRecord {
  /** Canonical CIDR text. */
  readonly cidr: string;
  readonly vpcId: string;
  /** `vpc`, `subnet` or `option`. */
  readonly origin: string;
}

/** One prefix of AWS's `ip-ranges.json`: which service announces it, in which region. */
export interface CloudPrefixRecord {
  /** Canonical CIDR text. */
  readonly cidr: string;
  /** `AMAZON`, `EC2`, `S3`, `CLOUDFRONT`, … (AMAZON is the superset every other prefix is also listed under). */
  readonly service: string;
  /** An AWS region or `GLOBAL`. */
  readonly region: string;
  readonly networkBorderGroup: string;
}
