import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { awsDescription, emitAwsSecurityGroups, safeGroupId } from '../../src/emit/aws-sg.js';
import type { EmitOptions, EmittedFile } from '../../src/emit/document.js';
import type { Endpoint, InferenceResult, Sender } from '../../src/model/endpoint.js';
import {
  addressDest,
  endpoint,
  exact,
  hostDest,
  peerDest,
  result,
  sender,
  workload,
} from '../helpers/inference.js';

const NODE_SG = 'sg-0123456789abcdef0';
const APP_SG = 'sg-0aaaabbbb';
const DB_SG = 'sg-0ddddeeee';

const none: EmitOptions = { scope: 'namespace', accepted: new Set(), rejected: new Set() };

function node(name: string, groups: string[]): Sender {
  return sender(workload('', 'Node', name), {
    id: `node/${name}`,
    kind: 'node',
    workload: null,
    selector: {},
    namespaceLabels: {},
    securityGroups: groups,
  });
}

function instance(id: string, groups: string[]): Sender {
  return sender(workload('', 'Instance', id), {
    id: `instance/${id}`,
    kind: 'instance',
    workload: null,
    selector: {},
    namespaceLabels: {},
    securityGroups: groups,
  });
}

function file(files: EmittedFile[], path: string): string {
  const f = files.find((x) => x.path === path);
  if (f === undefined) throw new Error(`no ${path} in ${files.map((x) => x.path).join(', ')}`);
  return f.content;
}

function cliJson(files: EmittedFile[], group: string): unknown {
  return JSON.parse(file(files, `aws-sg/${group}.json`));
}

interface CfnResource {
  Type: string;
  Properties: Record<string, string | number>;
}

function cfnResources(files: EmittedFile[]): Record<string, CfnResource> {
  const doc = parse(file(files, 'aws-sg/egress.cfn.yaml')) as { Resources: Record<string, CfnResource> };
  return doc.Resources;
}

/** The active (uncommented) Terraform resources, as attribute maps. */
function tfResources(files: EmittedFile[]): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  const text = file(files, 'aws-sg/egress.tf');
  for (const m of text.matchAll(
    /^resource "aws_vpc_security_group_egress_rule" "([^"]+)" \{\n([\s\S]*?)^\}/gm,
  )) {
    const attrs: Record<string, string> = {};
    for (const line of m[2]!.split('\n').filter((l) => l !== '')) {
      const a = /^ {2}([a-z_0-9]+) += (.+)$/.exec(line);
      if (a === null) throw new Error(`not an attribute line: ${line}`);
      attrs[a[1]!] = a[2]!;
    }
    out.set(m[1]!, attrs);
  }
  return out;
}

function run(r: InferenceResult, options: EmitOptions = none): EmittedFile[] {
  return emitAwsSecurityGroups(r, options);
}

function all(files: EmittedFile[]): string {
  return files.map((f) => f.content).join('\n');
}

describe('emitAwsSecurityGroups', () => {
  test('writes an instance sender’s endpoints as egress permissions of its group, IPv4 and IPv6 apart', () => {
    const app = instance('i-0app', [APP_SG]);
    const eps = [
      endpoint(
        app,
        hostDest('api.example.com', [
          exact('203.0.113.10/32'),
          {
            cidr: '2001:db8::/48',
            basis: 'observed',
            addresses: 3,
            provider: '',
            reason: 'three addresses in one /48',
          },
        ]),
      ),
      endpoint(app, addressDest([exact('198.51.100.0/24')]), { protocol: 'UDP', port: 514 }),
    ];
    const files = run(result([app], eps));
    expect(files.map((f) => f.path)).toEqual([
      'aws-sg/egress.cfn.yaml',
      'aws-sg/egress.tf',
      `aws-sg/${APP_SG}.json`,
    ]);
    const desc = (e: Endpoint) => `egress-learner id=${e.id} flows=120 last=2026-11-14`;
    expect(cliJson(files, APP_SG)).toEqual([
      {
        IpProtocol: 'tcp',
        FromPort: 443,
        ToPort: 443,
        IpRanges: [{ CidrIp: '203.0.113.10/32', Description: desc(eps[0]!) }],
        Ipv6Ranges: [{ CidrIpv6: '2001:db8::/48', Description: desc(eps[0]!) }],
      },
      {
        IpProtocol: 'udp',
        FromPort: 514,
        ToPort: 514,
        IpRanges: [{ CidrIp: '198.51.100.0/24', Description: desc(eps[1]!) }],
      },
    ]);

    const tf = [...tfResources(files).values()];
    expect(tf).toContainEqual({
      security_group_id: `"${APP_SG}"`,
      cidr_ipv6: '"2001:db8::/48"',
      ip_protocol: '"tcp"',
      from_port: '443',
      to_port: '443',
      description: `"${desc(eps[0]!)}"`,
    });
    expect(tf).toHaveLength(3);

    const cfn = Object.values(cfnResources(files));
    expect(cfn).toContainEqual({
      Type: 'AWS::EC2::SecurityGroupEgress',
      Properties: {
        GroupId: APP_SG,
        IpProtocol: 'udp',
        FromPort: 514,
        ToPort: 514,
        CidrIp: '198.51.100.0/24',
        Description: desc(eps[1]!),
      },
    });
    expect(cfn).toHaveLength(3);
    // The fold reason sits above the IPv6 rule only, with the evidence of the endpoint.
    const tfText = file(files, 'aws-sg/egress.tf');
    expect(tfText).toContain('# 2001:db8::/48: three addresses in one /48\nresource');
    expect(tfText).toContain(`# instance/i-0app -> api.example.com 443/TCP\n# flows=120 bytes=345000`);
  });

  test('keeps the EKS minimums on every node group, citing the seed, even with nothing learned', () => {
    const files = run(result([node('n1', [NODE_SG]), node('n2', [NODE_SG])], []));
    const minimum = (port: number) => ({
      IpProtocol: 'tcp',
      FromPort: port,
      ToPort: port,
      UserIdGroupPairs: [
        { GroupId: NODE_SG, Description: `EKS minimum: TCP ${port} to cluster security group` },
      ],
    });
    expect(cliJson(files, NODE_SG)).toEqual([minimum(443), minimum(10250)]);
    const tf = file(files, 'aws-sg/egress.tf');
    expect(tf).toContain('seeds/eks-security-group-considerations.txt');
    expect(
      [...tfResources(files).values()].map((a) => [a.referenced_security_group_id, a.from_port]),
    ).toEqual([
      [`"${NODE_SG}"`, '443'],
      [`"${NODE_SG}"`, '10250'],
    ]);
    const cfn = Object.values(cfnResources(files)).map((r) => r.Properties);
    expect(cfn.map((p) => [p.GroupId, p.DestinationSecurityGroupId, p.FromPort])).toEqual([
      [NODE_SG, NODE_SG, 443],
      [NODE_SG, NODE_SG, 10250],
    ]);
    expect(file(files, 'aws-sg/egress.cfn.yaml')).toContain('seeds/eks-security-group-considerations.txt');
  });

  test('a learned rule that equals an EKS minimum is written once', () => {
    const n = node('n1', [NODE_SG]);
    const peer = instance('i-0cp', [NODE_SG]);
    const e = endpoint(n, addressDest([exact('10.0.0.5/32')], 'instance', 'i-0cp'));
    const files = run(result([n, peer], [e]));
    const perms = cliJson(files, NODE_SG) as { FromPort: number; UserIdGroupPairs: unknown[] }[];
    expect(perms.map((p) => [p.FromPort, p.UserIdGroupPairs.length])).toEqual([
      [443, 1],
      [10250, 1],
    ]);
    expect(tfResources(files).size).toBe(2);
    expect(file(files, 'aws-sg/egress.tf')).toContain(`id=${e.id}`);
  });

  test('pods without groups of their own, hostNetwork or not, send through the node groups', () => {
    const web = sender(workload('shop', 'Deployment', 'web'));
    const agent = sender(workload('kube-system', 'DaemonSet', 'agent'), { hostNetwork: true });
    const n = node('n1', [NODE_SG]);
    const eps = [
      endpoint(web, hostDest('api.example.com', [exact('203.0.113.10/32')])),
      endpoint(agent, addressDest([exact('192.0.2.0/24')]), { protocol: 'UDP', port: 4789 }),
      // Through the proxy: not on the node groups, nor counted there.
      endpoint(web, hostDest('hooks.example.com'), { via: 'proxy' }),
    ];
    const files = run(result([web, agent, n], eps));
    expect(files.map((f) => f.path)).toEqual([
      'aws-sg/egress.cfn.yaml',
      'aws-sg/egress.tf',
      `aws-sg/${NODE_SG}.json`,
    ]);

    // Without it on the node group, the pod's traffic would be cut off whatever NetworkPolicy allows.
    expect(cliJson(files, NODE_SG)).toContainEqual({
      IpProtocol: 'tcp',
      FromPort: 443,
      ToPort: 443,
      IpRanges: [
        {
          CidrIp: '203.0.113.10/32',
          Description: `egress-learner id=${eps[0]!.id} flows=120 last=2026-11-14`,
        },
      ],
      UserIdGroupPairs: [{ GroupId: NODE_SG, Description: 'EKS minimum: TCP 443 to cluster security group' }],
    });
    expect(file(files, 'aws-sg/egress.tf')).toContain(
      '#   shop/Deployment/web: 1 endpoint(s) on the node groups: a pod without pod security groups',
    );
    expect(cliJson(files, NODE_SG)).toContainEqual({
      IpProtocol: 'udp',
      FromPort: 4789,
      ToPort: 4789,
      IpRanges: [
        { CidrIp: '192.0.2.0/24', Description: `egress-learner id=${eps[1]!.id} flows=120 last=2026-11-14` },
      ],
    });
    expect(file(files, 'aws-sg/egress.tf')).toContain(
      '# kube-system/DaemonSet/agent (hostNetwork) -> internet address',
    );
  });

  test('says when a group would hold more rules than AWS allows by default', () => {
    const app = instance('i-0app', [APP_SG]);
    const eps = (n: number) =>
      Array.from({ length: n }, (_, i) =>
        endpoint(app, addressDest([exact(`198.51.${100 + (i >> 8)}.${i & 255}/32`)]), { port: 443 }),
      );
    const warning = `${APP_SG}: 61 IPv4 egress rules, above the 60 a security group holds by default`;
    expect(file(run(result([app], eps(61))), 'aws-sg/egress.tf')).toMatch(
      new RegExp(`# Check before applying:\n#   ${warning}`),
    );
    expect(all(run(result([app], eps(60))))).not.toContain('a security group holds by default');
  });

  test('a workload with pod security groups gets rules on its own groups', () => {
    const pay = sender(workload('pay', 'Deployment', 'api'), { securityGroups: [APP_SG] });
    const files = run(
      result([pay], [endpoint(pay, addressDest([exact('198.51.100.9/32')]), { port: 5432 })]),
    );
    expect(cliJson(files, APP_SG)).toEqual([
      expect.objectContaining({
        FromPort: 5432,
        IpRanges: [expect.objectContaining({ CidrIp: '198.51.100.9/32' })],
      }),
    ]);
  });

  test('skips proxy, in-cluster and name-only endpoints, and says so', () => {
    const app = instance('i-0app', [APP_SG]);
    const eps = [
      endpoint(app, hostDest('proxied.example.com', [exact('203.0.113.77/32')]), { via: 'proxy' }),
      endpoint(app, peerDest(workload('shop', 'Deployment', 'db')), { port: 5432 }),
      endpoint(app, hostDest('nameonly.example.com', [])),
    ];
    const files = run(result([app], eps));
    expect(files.map((f) => f.path)).toEqual(['aws-sg/egress.cfn.yaml', 'aws-sg/egress.tf']);
    expect(all(files)).not.toContain('203.0.113.77');
    const tf = file(files, 'aws-sg/egress.tf');
    expect(tf).toContain(
      'instance/i-0app: 1 endpoint(s) reached through the egress proxy, enforced there, not here',
    );
    expect(tf).toContain(
      'instance/i-0app: 1 endpoint(s) to in-cluster peers, governed by NetworkPolicy, not here',
    );
    expect(tf).toContain(
      `endpoint ${eps[2]!.id}: instance/i-0app -> nameonly.example.com 443/TCP has no address form`,
    );
    expect(tf).toContain('No security group is known for any node');
    expect(tfResources(files).size).toBe(0);
    // CloudFormation still parses, with no resource to create.
    expect(cfnResources(files)).toEqual({});
  });

  test('references the group of another known instance instead of its address', () => {
    const app = instance('i-0app', [APP_SG]);
    const db = instance('i-0db', [DB_SG, 'sg-0fffffff']);
    const eps = [
      endpoint(app, addressDest([exact('10.0.8.9/32')], 'instance', 'i-0db'), { port: 5432 }),
      // A folded CIDR covers more than that instance: stays an address.
      endpoint(
        app,
        addressDest(
          [{ cidr: '10.0.8.0/24', basis: 'observed', addresses: 4, provider: '', reason: 'x' }],
          'instance',
          'i-0db',
        ),
        { port: 6432 },
      ),
      // An unknown instance has no group to reference.
      endpoint(app, addressDest([exact('10.0.9.9/32')], 'instance', 'i-0gone'), { port: 5432 }),
      // Not from another sender: talking to itself stays an address.
      endpoint(db, addressDest([exact('10.0.8.9/32')], 'instance', 'i-0db'), { port: 7000 }),
    ];
    const files = run(result([app, db], eps));
    const desc = (e: Endpoint) => `egress-learner id=${e.id} flows=120 last=2026-11-14`;
    expect(cliJson(files, APP_SG)).toEqual([
      {
        IpProtocol: 'tcp',
        FromPort: 5432,
        ToPort: 5432,
        IpRanges: [{ CidrIp: '10.0.9.9/32', Description: desc(eps[2]!) }],
        UserIdGroupPairs: [{ GroupId: DB_SG, Description: desc(eps[0]!) }],
      },
      {
        IpProtocol: 'tcp',
        FromPort: 6432,
        ToPort: 6432,
        IpRanges: [{ CidrIp: '10.0.8.0/24', Description: desc(eps[1]!) }],
      },
    ]);
    expect(cliJson(files, DB_SG)).toEqual([
      expect.objectContaining({ FromPort: 7000, IpRanges: expect.any(Array) }),
    ]);
    expect(file(files, 'aws-sg/egress.tf')).toContain(`referenced_security_group_id = "${DB_SG}"`);
    expect(Object.values(cfnResources(files)).map((r) => r.Properties.DestinationSecurityGroupId)).toContain(
      DB_SG,
    );
    expect(file(files, 'aws-sg/egress.tf')).toContain('(security group of instance/i-0db)');
  });

  test('suspicious endpoints are commented out, rare ones listed, rejected ones absent, accepted ones marked', () => {
    const app = instance('i-0app', [APP_SG]);
    const suspicious = endpoint(app, addressDest([exact('198.51.100.66/32')]), {
      port: 4444,
      suspicions: [{ code: 'raw-ip-unusual-port', detail: 'raw address on 4444' }],
    });
    const rare = endpoint(app, hostDest('rare.example.com', [exact('203.0.113.50/32')]), { rare: true });
    const rejected = endpoint(app, hostDest('nope.example.com', [exact('203.0.113.51/32')]), {
      id: 'rejectedid1',
    });
    const accepted = endpoint(app, hostDest('yes.example.com', [exact('203.0.113.52/32')]), {
      id: 'acceptedid1',
    });
    const opts: EmitOptions = {
      scope: 'namespace',
      accepted: new Set(['acceptedid1']),
      rejected: new Set(['rejectedid1']),
    };
    const files = run(result([app], [suspicious, rare, rejected, accepted]), opts);

    const text = all(files);
    expect(text).not.toContain('rejectedid1');
    expect(text).not.toContain('203.0.113.51');
    expect(text).not.toContain('nope.example.com');

    expect(cliJson(files, APP_SG)).toEqual([
      expect.objectContaining({
        FromPort: 443,
        IpRanges: [expect.objectContaining({ CidrIp: '203.0.113.52/32' })],
      }),
    ]);
    expect(file(files, `aws-sg/${APP_SG}.json`)).not.toContain('198.51.100.66');

    const tf = file(files, 'aws-sg/egress.tf');
    expect([...tfResources(files).values()].map((a) => a.cidr_ipv4)).toEqual(['"203.0.113.52/32"']);
    expect(tf).toContain('# SUSPICIOUS, not enabled: raw-ip-unusual-port (raw address on 4444)');
    expect(tf).toMatch(
      /^# resource "aws_vpc_security_group_egress_rule" "sg_0aaaabbbb_tcp_4444_198_51_100_66_32" \{$/m,
    );
    expect(tf).toContain('#   cidr_ipv4         = "198.51.100.66/32"');
    expect(tf).toContain(
      '# Seen rarely, not enabled:\n#   instance/i-0app -> rare.example.com 443/TCP: flows=120',
    );
    expect(tf).toContain('# instance/i-0app -> yes.example.com 443/TCP (accepted by a reviewer)');

    const cfnText = file(files, 'aws-sg/egress.cfn.yaml');
    expect(Object.values(cfnResources(files)).map((r) => r.Properties.CidrIp)).toEqual(['203.0.113.52/32']);
    expect(cfnText).toContain('# SUSPICIOUS, not enabled: raw-ip-unusual-port (raw address on 4444)');
    expect(cfnText).toContain('  #     CidrIp: 198.51.100.66/32');
    expect(cfnText).toContain('(accepted by a reviewer)');
    expect(cfnText).toContain('#   instance/i-0app -> rare.example.com 443/TCP');
    expect(text).not.toMatch(/^\s*CidrIp: 203\.0\.113\.50/m);
  });

  test('one rule per group, port and target, whoever needs it', () => {
    const a = instance('i-0a', [APP_SG]);
    const b = instance('i-0b', [APP_SG]);
    const eps = [
      endpoint(a, hostDest('api.example.com', [exact('203.0.113.10/32')]), { id: 'aaa' }),
      endpoint(b, addressDest([exact('203.0.113.10/32')]), {
        id: 'bbb',
        evidence: { ...endpoint(b, hostDest('x.y')).evidence, flows: 5 },
      }),
    ];
    const files = run(result([a, b], eps));
    expect(cliJson(files, APP_SG)).toEqual([
      {
        IpProtocol: 'tcp',
        FromPort: 443,
        ToPort: 443,
        IpRanges: [
          {
            CidrIp: '203.0.113.10/32',
            Description: 'egress-learner id=aaa (+1 more) flows=125 last=2026-11-14',
          },
        ],
      },
    ]);
    expect(tfResources(files).size).toBe(1);
    const tf = file(files, 'aws-sg/egress.tf');
    expect(tf).toContain('id=aaa');
    expect(tf).toContain('id=bbb');
  });

  test('never writes hostile values: bad group ids, widening or broken CIDRs, bad ports, SCTP', () => {
    const hostileGroups = [
      'sg-123;rm',
      'sg-0123456789abcdef0\nx',
      'sg-XYZXYZXYZ',
      'sg-${var.x}',
      'sg-0123456',
    ];
    const app = instance('i-0app', [...hostileGroups, APP_SG]);
    const evilOnly = instance('i-0evil', ['sg-"}\nresource x']);
    const eps = [
      endpoint(app, addressDest([exact('0.0.0.0/0')])),
      endpoint(app, addressDest([exact('::/0')]), { port: 80 }),
      endpoint(app, addressDest([exact('10.0.0.1/32"\n}')]), { port: 81 }),
      endpoint(app, addressDest([exact('10.0.0.1/24')]), { port: 82 }),
      endpoint(app, addressDest([exact('203.0.113.5/32')]), { port: 0 }),
      endpoint(app, addressDest([exact('203.0.113.5/32')]), { port: 70000 }),
      endpoint(app, addressDest([exact('203.0.113.6/32')]), { protocol: 'SCTP', port: 3868 }),
      endpoint(app, hostDest('evil.example.com\n}\nresource "x" {', [exact('203.0.113.7/32')]), {
        port: 8443,
      }),
      endpoint(app, addressDest([exact('203.0.113.8/32')], 'instance', 'i-0evil'), { port: 9000 }),
      endpoint(evilOnly, addressDest([exact('203.0.113.9/32')])),
    ];
    const files = run(result([app, evilOnly], eps));
    const text = all(files);
    for (const bad of [
      ...hostileGroups.map((g) => g.slice(0, 12)),
      'sg-"',
      'resource x',
      '0.0.0.0/0',
      '::/0',
    ]) {
      expect(text).not.toContain(bad);
    }
    expect(text).not.toContain('10.0.0.1');
    expect(text).not.toContain('evil.example.com');
    expect(text).not.toContain('70000');
    expect(text).not.toContain('3868/');
    expect(files.map((f) => f.path)).toEqual([
      'aws-sg/egress.cfn.yaml',
      'aws-sg/egress.tf',
      `aws-sg/${APP_SG}.json`,
    ]);
    // Every group id that reached a rule is a real one.
    for (const r of Object.values(cfnResources(files)))
      expect(r.Properties.GroupId).toMatch(/^sg-[0-9a-f]{8,17}$/);
    const tf = file(files, 'aws-sg/egress.tf');
    expect(tf).toContain('instance/i-0app: 5 security group id(s) not valid');
    expect(tf).toContain('instance/i-0evil: 1 endpoint(s) not here: no valid security group is known');
    expect(tf).toContain(`endpoint ${eps[0]!.id}: a CIDR is not valid or allows everything, dropped`);
    expect(tf).toContain(`endpoint ${eps[4]!.id}: port is not 1-65535, dropped`);
    expect(tf).toContain(`endpoint ${eps[6]!.id}: SCTP cannot be limited to a port`);
    // The hostile name is withheld, but its (valid) address still becomes a rule.
    expect(tf).toContain('a host name that is not valid (withheld) 8443/TCP');
    expect([...tfResources(files).values()].map((a) => a.cidr_ipv4)).toEqual([
      '"203.0.113.7/32"',
      '"203.0.113.8/32"',
    ]);
    // Only lines that are comments may carry learned text; HCL itself stays well-formed.
    expect(
      tf
        .split('\n')
        .filter((l) => l !== '' && !l.startsWith('#') && !/^(resource | {2}[a-z_0-9]+ += |\})/.test(l)),
    ).toEqual([]);
  });

  test('allow-any lets 0.0.0.0/0 through only when a person asked for it', () => {
    const app = instance('i-0app', [APP_SG]);
    const r = result([app], [endpoint(app, addressDest([exact('0.0.0.0/0')]))]);
    expect(run(r).some((f) => f.path.endsWith('.json'))).toBe(false);
    const files = run({ ...r, settings: { ...r.settings, allowAny: true } });
    expect(cliJson(files, APP_SG)).toEqual([
      expect.objectContaining({ IpRanges: [expect.objectContaining({ CidrIp: '0.0.0.0/0' })] }),
    ]);
  });

  test('ICMP allows every type to the destination; a protocol-family mismatch is dropped', () => {
    const app = instance('i-0app', [APP_SG]);
    const eps = [
      endpoint(app, addressDest([exact('198.51.100.1/32')]), { protocol: 'ICMP', port: 0 }),
      endpoint(app, addressDest([exact('2001:db8::1/128')]), { protocol: 'ICMPv6', port: 0 }),
      endpoint(app, addressDest([exact('2001:db8::2/128')]), { protocol: 'ICMP', port: 0 }),
    ];
    const files = run(result([app], eps));
    expect(cliJson(files, APP_SG)).toEqual([
      expect.objectContaining({
        IpProtocol: 'icmp',
        FromPort: -1,
        ToPort: -1,
        IpRanges: [expect.objectContaining({ CidrIp: '198.51.100.1/32' })],
      }),
      expect.objectContaining({
        IpProtocol: 'icmpv6',
        FromPort: -1,
        ToPort: -1,
        Ipv6Ranges: [expect.objectContaining({ CidrIpv6: '2001:db8::1/128' })],
      }),
    ]);
    expect(file(files, 'aws-sg/egress.tf')).toContain(
      `endpoint ${eps[2]!.id}: ICMP to an IPv6 CIDR, dropped`,
    );
  });

  test('names are safe and unique: Terraform resource names and CloudFormation logical ids', () => {
    const app = instance('i-0app', [APP_SG, DB_SG]);
    const eps = [
      endpoint(app, addressDest([exact('12.34.0.0/16')])),
      endpoint(app, addressDest([exact('123.40.0.0/16')])),
      endpoint(app, addressDest([exact('2001:db8:1::/48')])),
    ];
    const files = run(result([app], eps));
    const tfNames = [...file(files, 'aws-sg/egress.tf').matchAll(/^resource "[^"]+" "([^"]+)"/gm)].map(
      (m) => m[1]!,
    );
    expect(tfNames).toHaveLength(6);
    expect(new Set(tfNames).size).toBe(6);
    for (const n of tfNames) expect(n).toMatch(/^[A-Za-z_][A-Za-z0-9_]*$/);
    const ids = Object.keys(cfnResources(files));
    expect(ids).toHaveLength(6);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9]{1,255}$/);
  });

  test('same input gives the same bytes, whatever the input order', () => {
    const n = node('n1', [NODE_SG]);
    const app = instance('i-0app', [APP_SG]);
    const db = instance('i-0db', [DB_SG]);
    const agent = sender(workload('kube-system', 'DaemonSet', 'agent'), { hostNetwork: true });
    const eps = [
      endpoint(app, hostDest('api.example.com', [exact('203.0.113.10/32'), exact('2001:db8::10/128')])),
      endpoint(app, addressDest([exact('10.0.8.9/32')], 'instance', 'i-0db'), { port: 5432 }),
      endpoint(db, addressDest([exact('198.51.100.0/24')]), { protocol: 'UDP', port: 53 }),
      endpoint(agent, addressDest([exact('192.0.2.0/24')]), { port: 9100 }),
      endpoint(app, addressDest([exact('198.51.100.66/32')]), {
        port: 4444,
        suspicions: [{ code: 'raw-ip-unusual-port', detail: 'x' }],
      }),
      endpoint(n, hostDest('rare.example.com', [exact('192.0.2.99/32')]), { rare: true }),
    ];
    const senders = [n, app, db, agent];
    const a = run(result(senders, eps));
    const b = run(result(senders, eps));
    expect(b).toEqual(a);
    const shuffled: InferenceResult = {
      ...result(senders, eps),
      senders: [...senders].reverse(),
      endpoints: [eps[3]!, eps[5]!, eps[0]!, eps[4]!, eps[2]!, eps[1]!],
    };
    expect(run(shuffled)).toEqual(a);
  });
});

describe('safeGroupId and awsDescription', () => {
  test('group ids are sg- and 8 or 17 lower-case hex digits, nothing around them', () => {
    expect(safeGroupId('sg-0123abcd')).toBe('sg-0123abcd');
    expect(safeGroupId('sg-0123456789abcdef0')).toBe('sg-0123456789abcdef0');
    for (const bad of [
      'sg-0123abc',
      'sg-0123ABCD',
      'sg-0123456789abcdef01',
      ' sg-0123abcd',
      'sg-0123abcd\n',
      'x-0123abcd',
    ])
      expect(safeGroupId(bad)).toBeNull();
  });

  test('descriptions keep AWS’s character set minus what HCL would interpolate, at most 255 characters', () => {
    expect(awsDescription('a "b" ${c} %{d} \\e\nf <g> ok:/()#,@[]+=&;!*._-')).toBe(
      'a b c d e f g ok:/()#,@[]+=&;!*._-',
    );
    expect(awsDescription('x'.repeat(300))).toHaveLength(255);
  });
});
