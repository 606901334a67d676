/**
 * Real-format log lines and inventory objects for generated datasets (the demo, the simulations): VPC flow log
 * v5 records (both halves of a conversation), Route 53 Resolver query logs, CoreDNS `log` lines as
 * `kubectl logs --timestamps` prints them, squid native access.log lines, `kubectl get … -o json` objects and an
 * ip-ranges.json document. Each writer takes explicit values; randomness stays with the caller's seeded PRNG.
 */

/** The custom v5 field order the generated flow logs declare in their header line. */
export const VPC_FIELDS =
  'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr pkt-dstaddr flow-direction traffic-path';

export interface FlowRecord {
  readonly src: string;
  readonly dst: string;
  readonly srcPort: number;
  readonly dstPort: number;
  /** 6 TCP, 17 UDP. */
  readonly protocol: number;
  readonly start: number;
  readonly packets: number;
  readonly bytes: number;
  readonly replyPackets: number;
  readonly replyBytes: number;
  readonly action?: 'ACCEPT' | 'REJECT';
  /** Private destinations stay in the VPC (traffic-path 1); others leave through a gateway (8). */
  readonly eni?: string;
}

/** The request record, and the reply record unless rejected, 60 s aggregation interval. */
export function vpcFlowLines(f: FlowRecord): string[] {
  const eni = f.eni ?? 'eni-0a1b2c3d4e5f60718';
  const common = 'vpc-0a1b2c3d subnet-0a1b2c3d i-0123456789abcdef0';
  const action = f.action ?? 'ACCEPT';
  const end = f.start + 60;
  const inVpc = f.dst.startsWith('10.') || f.dst.startsWith('172.');
  const tcp = f.protocol === 6;
  const out = [
    `5 123456789012 ${eni} ${f.src} ${f.dst} ${f.srcPort} ${f.dstPort} ${f.protocol} ${f.packets} ${f.bytes} ${f.start} ${end} ${action} OK ${common} ${tcp ? 2 : 0} IPv4 ${f.src} ${f.dst} egress ${inVpc ? 1 : 8}`,
  ];
  if (action === 'ACCEPT') {
    out.push(
      `5 123456789012 ${eni} ${f.dst} ${f.src} ${f.dstPort} ${f.srcPort} ${f.protocol} ${f.replyPackets} ${f.replyBytes} ${f.start} ${end} ACCEPT OK ${common} ${tcp ? 18 : 0} IPv4 ${f.dst} ${f.src} ingress -`,
    );
  }
  return out;
}

function iso(t: number): string {
  return new Date(Math.round(t * 1000)).toISOString();
}

/** One Route 53 Resolver query log record (JSON line) with A answers. */
export function route53Line(t: number, client: string, name: string, answers: readonly string[]): string {
  return JSON.stringify({
    version: '1.100000',
    account_id: '123456789012',
    region: 'us-east-1',
    vpc_id: 'vpc-0a1b2c3d',
    query_timestamp: iso(t).replace(/\.\d+Z$/, 'Z'),
    query_name: `${name}.`,
    query_type: 'A',
    query_class: 'IN',
    rcode: answers.length > 0 ? 'NOERROR' : 'NXDOMAIN',
    answers: answers.map((a) => ({ Rdata: a, Type: 'A', Class: 'IN' })),
    srcaddr: client,
    srcport: '53',
    transport: 'UDP',
    srcids: { instance: 'i-0123456789abcdef0' },
  });
}

/** A CoreDNS `log` plugin line (default format) behind the RFC 3339 stamp `kubectl logs --timestamps` adds. */
export function corednsLine(t: number, client: string, port: number, id: number, name: string): string {
  return `${iso(t)} [INFO] ${client}:${port} - ${id} "A IN ${name}. udp 48 false 1232" NOERROR qr,rd,ra 96 0.000812s`;
}

/** A squid native access.log line. */
export function squidLine(
  t: number,
  client: string,
  method: string,
  target: string,
  bytes: number,
  peer: string,
): string {
  const code = method === 'CONNECT' ? 'TCP_TUNNEL/200' : 'TCP_MISS/200';
  const mime = method === 'CONNECT' ? '-' : 'text/plain';
  return `${t.toFixed(3)}    412 ${client} ${code} ${bytes} ${method} ${target} - HIER_DIRECT/${peer} ${mime}`;
}

export interface OwnerRef {
  readonly kind: string;
  readonly name: string;
}

/** A Pod as `kubectl get pods -o json` lists it (the fields the inventory reads). */
export function podObject(p: {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly owner: OwnerRef | null;
  readonly labels: Readonly<Record<string, string>>;
  readonly node: string;
  readonly ip: string;
  readonly started: number;
}): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: p.name,
      namespace: p.namespace,
      uid: p.uid,
      labels: p.labels,
      creationTimestamp: iso(p.started),
      ownerReferences:
        p.owner === null
          ? undefined
          : [
              {
                apiVersion: 'v1',
                kind: p.owner.kind,
                name: p.owner.name,
                uid: `uid-${p.owner.name}`,
                controller: true,
              },
            ],
    },
    spec: { nodeName: p.node, containers: [{ name: 'main', image: 'registry.example/app:1' }] },
    status: { phase: 'Running', podIP: p.ip, podIPs: [{ ip: p.ip }], startTime: iso(p.started) },
  };
}

/** A ReplicaSet or Job that owns pods and is owned by a Deployment or CronJob. */
export function ownerObject(
  kind: 'ReplicaSet' | 'Job',
  namespace: string,
  name: string,
  owner: OwnerRef,
): Record<string, unknown> {
  return {
    apiVersion: kind === 'Job' ? 'batch/v1' : 'apps/v1',
    kind,
    metadata: {
      name,
      namespace,
      uid: `uid-${name}`,
      ownerReferences: [
        {
          apiVersion: 'apps/v1',
          kind: owner.kind,
          name: owner.name,
          uid: `uid-${owner.name}`,
          controller: true,
        },
      ],
    },
  };
}

export function nodeObject(name: string, ip: string, created: number): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      uid: `uid-${name}`,
      creationTimestamp: iso(created),
      labels: { 'kubernetes.io/hostname': name },
    },
    status: {
      addresses: [
        { type: 'InternalIP', address: ip },
        { type: 'Hostname', address: name },
      ],
    },
  };
}

export function namespaceObject(
  name: string,
  labels: Readonly<Record<string, string>>,
  created: number,
): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name,
      uid: `uid-ns-${name}`,
      creationTimestamp: iso(created),
      labels: { 'kubernetes.io/metadata.name': name, ...labels },
    },
  };
}

export function serviceObject(
  namespace: string,
  name: string,
  clusterIp: string,
  selector: Readonly<Record<string, string>>,
  created: number,
): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace, uid: `uid-svc-${namespace}-${name}`, creationTimestamp: iso(created) },
    spec: {
      type: 'ClusterIP',
      clusterIP: clusterIp,
      clusterIPs: [clusterIp],
      selector,
      ports: [{ port: 80, targetPort: 8080 }],
    },
  };
}

/** `kubectl get pods,nodes,services,namespaces,replicasets,jobs -A -o json`. */
export function listDocument(items: readonly Record<string, unknown>[]): string {
  return `${JSON.stringify({ apiVersion: 'v1', kind: 'List', items, metadata: { resourceVersion: '' } }, null, 1)}\n`;
}

/** An ip-ranges.json document (AWS's shape; any provider list in the same shape works). */
export function ipRangesDocument(
  prefixes: readonly { cidr: string; service: string; region: string }[],
  created: number,
): string {
  return `${JSON.stringify(
    {
      syncToken: String(Math.floor(created)),
      createDate: iso(created).slice(0, 19).replace('T', '-').replace(/:/g, '-'),
      prefixes: prefixes.map((p) => ({
        ip_prefix: p.cidr,
        region: p.region,
        service: p.service,
        network_border_group: p.region,
      })),
      ipv6_prefixes: [],
    },
    null,
    2,
  )}\n`;
}
