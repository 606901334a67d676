import { PortSet } from './port-set.js';

/**
 * The protocols a NetworkPolicy port can name. Listed in name order, which is the order a connection list
 * prints them in (`SCTP 7070,TCP 8080,UDP 9090`).
 */
export const PROTOCOLS = ['SCTP', 'TCP', 'UDP'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

export function isProtocol(value: unknown): value is Protocol {
  return typeof value === 'string' && (PROTOCOLS as readonly string[]).includes(value);
}

/** What one side (or both) allows between two peers: a port set per protocol. */
export type ConnectionSet = Readonly<Record<Protocol, PortSet>>;

/** One maximal range of `allowed` in a connection list entry; `endPort` only for a range of several ports. */
export interface AllowedRange {
  readonly protocol: Protocol;
  readonly port: number;
  readonly endPort?: number;
}

/** The `conn` text of every port of every protocol, as netpol-analyzer prints it. */
export const ALL_CONNECTIONS = 'All Connections';

function make(sets: Record<Protocol, PortSet>): ConnectionSet {
  return Object.freeze(sets);
}

const NONE = make({ SCTP: PortSet.EMPTY, TCP: PortSet.EMPTY, UDP: PortSet.EMPTY });
const ALL = make({ SCTP: PortSet.ALL, TCP: PortSet.ALL, UDP: PortSet.ALL });

export const ConnectionSet = Object.freeze({
  NONE,
  ALL,

  of(protocol: Protocol, ports: PortSet): ConnectionSet {
    return make({ ...NONE, [protocol]: ports });
  },

  union(a: ConnectionSet, b: ConnectionSet): ConnectionSet {
    return make({
      SCTP: PortSet.union(a.SCTP, b.SCTP),
      TCP: PortSet.union(a.TCP, b.TCP),
      UDP: PortSet.union(a.UDP, b.UDP),
    });
  },

  intersect(a: ConnectionSet, b: ConnectionSet): ConnectionSet {
    return make({
      SCTP: PortSet.intersect(a.SCTP, b.SCTP),
      TCP: PortSet.intersect(a.TCP, b.TCP),
      UDP: PortSet.intersect(a.UDP, b.UDP),
    });
  },

  contains(set: ConnectionSet, protocol: Protocol, port: number): boolean {
    return PortSet.contains(set[protocol], port);
  },

  isEmpty(set: ConnectionSet): boolean {
    return PROTOCOLS.every((p) => PortSet.isEmpty(set[p]));
  },

  isAll(set: ConnectionSet): boolean {
    return PROTOCOLS.every((p) => PortSet.isAll(set[p]));
  },

  /** The parsed form of a connection list's `conn`: `All Connections`, or maximal ranges by protocol name. */
  allowed(set: ConnectionSet): typeof ALL_CONNECTIONS | AllowedRange[] {
    if (ConnectionSet.isAll(set)) return ALL_CONNECTIONS;
    const out: AllowedRange[] = [];
    for (const protocol of PROTOCOLS) {
      for (const r of set[protocol].ranges) {
        out.push(
          r.start === r.end ? { protocol, port: r.start } : { protocol, port: r.start, endPort: r.end },
        );
      }
    }
    return out;
  },

  /** `All Connections`, `TCP 10053-10054,UDP 10053`, or `No Connections` for the empty set. */
  format(set: ConnectionSet): string {
    if (ConnectionSet.isAll(set)) return ALL_CONNECTIONS;
    const parts = PROTOCOLS.filter((p) => !PortSet.isEmpty(set[p])).map(
      (p) => `${p} ${PortSet.format(set[p])}`,
    );
    return parts.length === 0 ? 'No Connections' : parts.join(',');
  },
});
