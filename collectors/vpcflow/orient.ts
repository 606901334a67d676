/**
 * Decides, for one flow log record, which side opened the conversation and which side is local.
 *
 * A flow log record is one direction of one 5-tuple on one network interface during one aggregation window
 * (https://docs.aws.amazon.com/vpc/latest/userguide/flow-log-records.html): a TCP connection shows up as two
 * records, the request half (client → server) and the reply half (server → client). An `Observation` is the
 * conversation seen from its opener, so the reply half must be flipped into the request's edge, or every
 * server would look like it calls its clients on their ephemeral ports.
 */
import type { Direction, OrientationBasis } from '../../src/model/observation.js';
import { isPrivateIp } from '../../src/model/ip.js';

/** What `orient` decided. Instances are shared and frozen: `orient` allocates nothing. */
export interface Orientation {
  /**
   * True when the logged source is the responder: the record is a reply half and becomes its request edge
   * (source and destination swapped, its traffic counted as `packetsIn` / `bytesIn`).
   */
  readonly flip: boolean;
  /** `egress` when the opener is the local side, `ingress` when the remote side opened. */
  readonly direction: Direction;
  /** Which evidence decided the opener. */
  readonly basis: OrientationBasis;
}

/**
 * TCP flag bits as flow logs report them. Flow logs carry only FIN (1), SYN (2), RST (4) and SYN-ACK (18): the
 * ACK bit (16) appears only together with SYN. Flags are OR-ed over the aggregation window, so a short
 * connection shows 3 (SYN|FIN) on the client's half and 19 (SYN-ACK|FIN) on the server's half
 * (https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-records-examples.html#flow-log-example-tcp-flag).
 */
export const TCP_FIN = 1;
export const TCP_SYN = 2;
export const TCP_RST = 4;
export const TCP_SYN_ACK = 18;

/** A side of the record as logged: its `srcaddr` or its `dstaddr`. `null` where the evidence says nothing. */
export type LoggedSide = 'src' | 'dst';

/**
 * The opener by TCP flags. A SYN without the ACK bit is only ever sent by the side that opens; SYN-ACK (18) only
 * by the side that answers. Windows without SYN (mid-connection, only FIN/RST, or 0 for UDP and ICMP) say
 * nothing about the opener.
 */
export function openerByTcpFlags(flags: number): LoggedSide | null {
  if ((flags & TCP_SYN_ACK) === TCP_SYN_ACK) return 'dst';
  if ((flags & TCP_SYN) !== 0) return 'src';
  return null;
}

/**
 * Port classes, by how much a port looks like a service port: well-known (1–1023), registered (1024–32767),
 * ephemeral (≥ 32768). Clients take their source port from the ephemeral range: 32768–60999 on Linux
 * (`net.ipv4.ip_local_port_range`), 49152–65535 on Windows and per IANA (RFC 6335 §6), so everything from 32768
 * up counts as ephemeral.
 */
const REGISTERED = 1024;
const EPHEMERAL = 32768;

/** Kubernetes NodePorts, which load balancers call from ports below them. */
const NODE_PORT_FIRST = 30000;
const NODE_PORT_LAST = 32767;

/**
 * Ports from 1024 up that clients commonly call (databases, brokers, caches, gRPC, the Kubernetes API and kubelet,
 * telemetry collectors, the usual HTTP alternatives), besides NodePorts. A client's source port seldom lands on one
 * of them, so on a tie of port classes the side holding one is the server.
 */
const SERVICE_PORTS: ReadonlySet<number> = new Set([
  1433, 1521, 2049, 2181, 2379, 2380, 3000, 3306, 3389, 4222, 4317, 4318, 5000, 5044, 5432, 5601, 5672, 6379,
  6443, 7000, 7001, 8000, 8080, 8081, 8088, 8125, 8200, 8443, 8500, 8888, 9000, 9042, 9090, 9092, 9093, 9094,
  9200, 9300, 9411, 9443, 10250, 11211, 14250, 15672, 27017, 33060, 50000, 50051,
]);

export function isServicePort(port: number): boolean {
  return SERVICE_PORTS.has(port) || (port >= NODE_PORT_FIRST && port <= NODE_PORT_LAST);
}

/**
 * Each port's claim to be the responder, as one number that orders as the rules below do: its class first (3
 * well-known, 2 registered, 1 ephemeral), then whether it is a service port, then the lower port. One comparison of
 * two numbers then decides every case, which keeps the per-record code free of branches that only rare records take.
 * Filled by ranges: a call per port cost milliseconds of every start-up.
 */
const CLASS = 1 << 17;
const SERVICE = 1 << 16;
const RESPONDER_SCORE = new Int32Array(65536);
RESPONDER_SCORE.fill(3 * CLASS, 0, REGISTERED);
RESPONDER_SCORE.fill(2 * CLASS, REGISTERED, EPHEMERAL);
RESPONDER_SCORE.fill(1 * CLASS, EPHEMERAL);
for (let port = NODE_PORT_FIRST; port <= NODE_PORT_LAST; port++) RESPONDER_SCORE[port]! |= SERVICE;
for (const port of SERVICE_PORTS) RESPONDER_SCORE[port]! |= SERVICE;
for (let port = 0; port < 65536; port++) RESPONDER_SCORE[port]! += 65535 - port;

/**
 * The opener by ports: the more server-like port is the responder. Two ports of one class (a load balancer's
 * source port from 1024 up calling 8080; a Linux client port calling gRPC on 50051) are told apart by a known
 * service port, else the lower port answers: client ports are drawn from ranges that start high, and both
 * halves of a conversation then fold into one edge. Equal ports, two well-known ports, or a port of 0 or none
 * (ICMP records carry `0 0` or `-`) are no evidence.
 */
export function openerByPorts(srcPort: number | null, dstPort: number | null): LoggedSide | null {
  if (srcPort === null || dstPort === null || srcPort === 0 || dstPort === 0 || srcPort === dstPort)
    return null;
  const src = RESPONDER_SCORE[srcPort]!;
  const dst = RESPONDER_SCORE[dstPort]!;
  if (src >= 3 * CLASS && dst >= 3 * CLASS) return null;
  return dst > src ? 'src' : 'dst';
}

/**
 * The local side. `flow-direction` (v5) is relative to the logged interface: on an `ingress` record the
 * destination is the interface, on an `egress` record the source is (`traffic-path` is only ever set on egress
 * records, which is consistent with that reading). Without it, the private side is local when exactly one side
 * is private; otherwise the side is unknown and the caller assumes the opener is local.
 */
export function localSide(srcAddr: string, dstAddr: string, flowDirection: string | null): LoggedSide | null {
  if (flowDirection === 'ingress') return 'dst';
  if (flowDirection === 'egress') return 'src';
  const srcPrivate = isPrivateIp(srcAddr);
  if (srcPrivate === isPrivateIp(dstAddr)) return null;
  return srcPrivate ? 'src' : 'dst';
}

const BASES = ['tcp-flags', 'ports', 'as-logged'] as const satisfies readonly OrientationBasis[];
const BY_TCP_FLAGS = 0;
const BY_PORTS = 1;
const AS_LOGGED = 2;

/** Every possible answer, indexed [basis][flip][ingress] and built once: the per-line call allocates nothing. */
const TABLE: readonly (readonly (readonly Orientation[])[])[] = BASES.map((basis) =>
  [false, true].map((flip) =>
    (['egress', 'ingress'] as const).map((direction): Orientation =>
      Object.freeze({ flip, direction, basis }),
    ),
  ),
);

/**
 * Orients one record. Opener evidence, strongest first: TCP flags (a SYN proves it), then ports, else the record
 * is taken as logged (its source opened). `flow-direction` is not opener evidence: it names which side is the
 * interface, not who spoke first, so it only decides the local side and never appears as `basis` here.
 *
 * `srcAddr` / `dstAddr` are canonical (validated by the caller); `tcpFlags` is null when the format lacks it or
 * the record says `-`; `flowDirection` is `ingress`, `egress` or null.
 */
export function orient(
  srcAddr: string,
  dstAddr: string,
  srcPort: number | null,
  dstPort: number | null,
  tcpFlags: number | null,
  flowDirection: string | null,
): Orientation {
  let basis = AS_LOGGED;
  let opener = tcpFlags === null ? null : openerByTcpFlags(tcpFlags);
  if (opener !== null) {
    basis = BY_TCP_FLAGS;
  } else {
    opener = openerByPorts(srcPort, dstPort);
    if (opener !== null) basis = BY_PORTS;
    else opener = 'src';
  }
  const local = localSide(srcAddr, dstAddr, flowDirection);
  // No evidence for the local side: assume the opener is local, i.e. an egress record (the question this tool
  // asks is what workloads call, and a record we cannot place is more useful as a call than as a visit).
  const ingress = local !== null && local !== opener;
  return TABLE[basis][opener === 'dst' ? 1 : 0][ingress ? 1 : 0];
}
