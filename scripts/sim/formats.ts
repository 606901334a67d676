/**
 * Renderers of the real input formats the simulated cluster writes, one function per record. Each quotes the
 * format it follows; the collectors' parsers (collectors/*) and their fixtures (test/fixtures/*) are the check.
 */

/** RFC 3339 in UTC with second precision, as the Kubernetes API and Route 53 print times. */
export function rfc3339(epochSeconds: number): string {
  return new Date(Math.floor(epochSeconds) * 1000).toISOString().replace('.000Z', 'Z');
}

/** `YYYY-MM-DD` of an instant (UTC): the day a log file covers. */
export function dayOf(epochSeconds: number): string {
  return rfc3339(epochSeconds).slice(0, 10);
}

/**
 * VPC flow logs, custom format of version 5 with the header line an S3 export carries
 * (https://docs.aws.amazon.com/vpc/latest/userguide/flow-log-records.html#flow-logs-fields).
 */
export const VPC_FLOW_HEADER =
  'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr pkt-dstaddr flow-direction traffic-path';

export const ACCOUNT_ID = '123456789012';
export const VPC_ID = 'vpc-0a1b2c3d4e5f60718';
export const REGION = 'eu-west-1';

export interface FlowRecord {
  readonly eni: string;
  readonly instance: string;
  readonly subnet: string;
  readonly src: string;
  readonly dst: string;
  readonly srcPort: number;
  readonly dstPort: number;
  /** IANA protocol number: 6 TCP, 17 UDP. */
  readonly protocol: number;
  readonly packets: number;
  readonly bytes: number;
  readonly start: number;
  readonly end: number;
  /** OR of the TCP flags over the aggregation window: 3 (SYN|FIN) on the opener's half, 19 on the reply. */
  readonly tcpFlags: number;
  readonly direction: 'ingress' | 'egress';
  /** traffic-path of an egress record: 1 inside the VPC, 8 through an internet gateway; '-' on ingress. */
  readonly trafficPath: string;
}

/** One record, e.g. `5 123456789012 eni-… 10.0.16.7 205.251.193.4 40112 443 6 12 5400 1772409600 1772409660 ACCEPT OK …`. */
export function vpcFlowLine(r: FlowRecord): string {
  return (
    `5 ${ACCOUNT_ID} ${r.eni} ${r.src} ${r.dst} ${r.srcPort} ${r.dstPort} ${r.protocol} ${r.packets} ${r.bytes} ` +
    `${r.start} ${r.end} ACCEPT OK ${VPC_ID} ${r.subnet} ${r.instance} ${r.tcpFlags} IPv4 ${r.src} ${r.dst} ` +
    `${r.direction} ${r.trafficPath}`
  );
}

export interface DnsAnswerRecord {
  readonly type: 'A' | 'CNAME';
  readonly data: string;
}

/**
 * A Route 53 Resolver query log line (JSON), field order as the S3 destination writes it
 * (https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/resolver-query-logs-format.html).
 */
export function route53Line(q: {
  readonly time: number;
  readonly name: string;
  readonly answers: readonly DnsAnswerRecord[];
  readonly client: string;
  readonly clientPort: number;
  readonly instance: string;
}): string {
  return JSON.stringify({
    version: '1.100000',
    account_id: ACCOUNT_ID,
    region: REGION,
    vpc_id: VPC_ID,
    query_timestamp: rfc3339(q.time),
    query_name: `${q.name}.`,
    query_type: 'A',
    query_class: 'IN',
    rcode: 'NOERROR',
    answers: q.answers.map((a) => ({
      Rdata: a.type === 'CNAME' ? `${a.data}.` : a.data,
      Type: a.type,
      Class: 'IN',
    })),
    srcaddr: q.client,
    srcport: String(q.clientPort),
    transport: 'UDP',
    srcids: { instance: q.instance },
  });
}

/**
 * A CoreDNS `log` plugin line in the default format, prefixed with the RFC 3339 stamp `kubectl logs --timestamps`
 * adds: `2026-03-02T00:00:01.000000000Z [INFO] 10.0.16.7:52355 - 45465 "A IN api.stripe.com. udp 32 false 512" NOERROR qr,rd,ra 120 0.00142s`.
 */
export function corednsLine(q: {
  readonly time: number;
  readonly client: string;
  readonly clientPort: number;
  readonly id: number;
  readonly name: string;
}): string {
  const stamp = `${new Date(q.time * 1000).toISOString().slice(0, 19)}.${String(Math.floor((q.time % 1) * 1e9)).padStart(9, '0')}Z`;
  return (
    `${stamp} [INFO] ${q.client}:${q.clientPort} - ${q.id} "A IN ${q.name}. udp ${q.name.length + 18} false 512" ` +
    `NOERROR qr,rd,ra ${q.name.length * 2 + 60} 0.00142s`
  );
}

/**
 * A squid access-log line in the native format (`%ts.%03tu %6tr %>a %Ss/%03>Hs %<st %rm %ru %[un %Sh/%<a %mt`):
 * `1772409600.123    153 10.0.18.9 TCP_TUNNEL/200 5120 CONNECT api.stripe.com:443 - HIER_DIRECT/54.187.174.169 -`.
 */
export function squidConnectLine(r: {
  readonly time: number;
  readonly elapsedMs: number;
  readonly client: string;
  readonly bytes: number;
  readonly host: string;
  readonly port: number;
  readonly origin: string;
}): string {
  return (
    `${r.time.toFixed(3)} ${String(r.elapsedMs).padStart(6)} ${r.client} TCP_TUNNEL/200 ${r.bytes} ` +
    `CONNECT ${r.host}:${r.port} - HIER_DIRECT/${r.origin} -`
  );
}
