/**
 * The normalized record every collector produces. One shape for every input format so the store, the
 * attribution and inference never learn a format's quirks.
 */

/** Where an observation came from. Stored as a bit in an edge's `sources` mask, so the order is fixed. */
export const SOURCE_KINDS = ['vpcflow', 'squid', 'envoy', 'route53', 'coredns', 'dnsmasq'] as const;
export type SourceKind = (typeof SOURCE_KINDS)[number];

const PROXY_KINDS = (1 << SOURCE_KINDS.indexOf('squid')) | (1 << SOURCE_KINDS.indexOf('envoy'));

/**
 * How an edge's traffic left: through the egress proxy when a proxy logged it with a host name, or logged it
 * alone (a request to an address, `CONNECT 203.0.113.9:443`, which a flow log would see as traffic to the proxy,
 * not to that address). A flow log seeing the same address means the pod also went there directly.
 */
export function edgeVia(dstHost: string, sources: number): 'proxy' | 'direct' {
  if ((sources & PROXY_KINDS) === 0) return 'direct';
  return dstHost !== '' || (sources & ~PROXY_KINDS) === 0 ? 'proxy' : 'direct';
}

export const ACTIONS = ['accept', 'reject'] as const;
export type Action = (typeof ACTIONS)[number];

/**
 * Which way the conversation goes, seen from the observing side: `egress` when the observed (local) side
 * opened it, `ingress` when the remote side did. Proxy records are always `egress`.
 */
export const DIRECTIONS = ['egress', 'ingress'] as const;
export type Direction = (typeof DIRECTIONS)[number];

/**
 * How the parser decided which side opened the conversation, strongest evidence first. Kept so a reviewer can
 * tell a SYN-proven orientation from a port guess.
 */
export const ORIENTATION_BASES = ['tcp-flags', 'flow-direction', 'ports', 'proxy', 'as-logged'] as const;
export type OrientationBasis = (typeof ORIENTATION_BASES)[number];

/**
 * The latest record time any parser accepts (2100-01-01T00:00:00Z). Log data is attacker-controlled, and a time
 * in microseconds or a year-30000 stamp would otherwise land in a bucket no query can print.
 */
export const MAX_EPOCH_SECONDS = 4_102_444_800;

/** IANA protocol numbers used by name in the code. */
export const PROTOCOL = { icmp: 1, tcp: 6, udp: 17, icmpv6: 58 } as const;

/**
 * One normalized, oriented record. `src` is always the side that opened the conversation and `dst` the side
 * that answered; a reply half of a conversation arrives here already flipped, with its traffic in `packetsIn`
 * / `bytesIn`. Times are epoch seconds (fractions allowed). Absent values are `null`, never missing keys.
 */
export interface Observation {
  readonly sourceKind: SourceKind;
  readonly start: number;
  readonly end: number;
  /** Canonical text form (IPv4 dotted quad, IPv6 RFC 5952). */
  readonly srcAddr: string | null;
  readonly srcPort: number | null;
  readonly dstAddr: string | null;
  /** Lower-case host name without a trailing dot, when the format carries one (proxy logs). */
  readonly dstHost: string | null;
  readonly dstPort: number | null;
  readonly protocol: number | null;
  readonly action: Action;
  readonly direction: Direction;
  readonly orientation: OrientationBasis;
  /**
   * True when the logged record was the reply half of a conversation (and has been flipped): it adds traffic
   * to its request's edge but is not a flow of its own.
   */
  readonly reply: boolean;
  /** Traffic sent by `src` (the opener). */
  readonly packetsOut: number;
  readonly bytesOut: number;
  /** Traffic sent by `dst` back to the opener. */
  readonly packetsIn: number;
  readonly bytesIn: number;
  /** Raw ids a format carries, kept for attribution later (VPC flow v3–v5). */
  readonly accountId: string | null;
  readonly interfaceId: string | null;
  readonly instanceId: string | null;
  readonly vpcId: string | null;
  readonly subnetId: string | null;
  readonly flowDirection: string | null;
  readonly trafficPath: number | null;
  readonly pktSrcAddr: string | null;
  readonly pktDstAddr: string | null;
}

/**
 * Builds an observation with every field set in the same order, so V8 keeps one object shape on the hot path.
 * Parsers call this instead of writing object literals.
 */
export function observation(fields: Partial<Observation> & Pick<Observation, 'sourceKind'>): Observation {
  return {
    sourceKind: fields.sourceKind,
    start: fields.start ?? 0,
    end: fields.end ?? fields.start ?? 0,
    srcAddr: fields.srcAddr ?? null,
    srcPort: fields.srcPort ?? null,
    dstAddr: fields.dstAddr ?? null,
    dstHost: fields.dstHost ?? null,
    dstPort: fields.dstPort ?? null,
    protocol: fields.protocol ?? null,
    action: fields.action ?? 'accept',
    direction: fields.direction ?? 'egress',
    orientation: fields.orientation ?? 'as-logged',
    reply: fields.reply ?? false,
    packetsOut: fields.packetsOut ?? 0,
    bytesOut: fields.bytesOut ?? 0,
    packetsIn: fields.packetsIn ?? 0,
    bytesIn: fields.bytesIn ?? 0,
    accountId: fields.accountId ?? null,
    interfaceId: fields.interfaceId ?? null,
    instanceId: fields.instanceId ?? null,
    vpcId: fields.vpcId ?? null,
    subnetId: fields.subnetId ?? null,
    flowDirection: fields.flowDirection ?? null,
    trafficPath: fields.trafficPath ?? null,
    pktSrcAddr: fields.pktSrcAddr ?? null,
    pktDstAddr: fields.pktDstAddr ?? null,
  };
}
