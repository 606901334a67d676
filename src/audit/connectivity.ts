import { ConnectionSet, type AllowedRange } from './connection-set.js';
import { cutFamily, formatRange, type IpFamily, type IpRange } from './ip-range.js';
import type { Manifests } from './manifests.js';
import {
  evaluateSelected,
  referencedIpRanges,
  selectingPolicies,
  type NetworkPolicy,
  type PolicyDirection,
} from './networkpolicy.js';
import type { IpRangePeer, PodPeer } from './peer.js';

/**
 * The connection list of a set of manifests: every ordered pair of peers (workloads and external address
 * ranges) that may open at least one connection, with what it may open. The format is netpol-analyzer's
 * `list` output in JSON (see the conformance corpus README): denied pairs are left out, as is a workload with
 * itself, and external range to external range.
 */

/** One allowed connection, field names as in the conformance corpus's expected.json. */
export interface ConnlistEntry {
  /** `<ns>/<name>[<Kind>]` or `<first-ip>-<last-ip>[External]`. */
  readonly src: string;
  readonly dst: string;
  /** `All Connections`, or maximal ranges ordered by protocol name then port. */
  readonly allowed: 'All Connections' | readonly AllowedRange[];
  /** The same as text: `All Connections`, `TCP 10053-10054,UDP 10053`. */
  readonly conn: string;
}

interface Endpoint {
  readonly id: string;
  readonly peer: PodPeer | IpRangePeer;
  /** Policies isolating this pod, per direction; empty for external ranges, which nothing isolates. */
  readonly selecting: Readonly<Record<PolicyDirection, readonly NetworkPolicy[]>>;
}

/**
 * The external peers of one direction: the address space cut at the bounds of every ipBlock referenced in that
 * direction's rules, so that each piece is wholly inside or outside every ipBlock. IPv4 is always listed (as
 * one piece when nothing cuts it); IPv6 only once some ipBlock is IPv6.
 */
export function externalRanges(policies: readonly NetworkPolicy[], direction: PolicyDirection): IpRange[] {
  const referenced = referencedIpRanges(policies, direction);
  const families: IpFamily[] = referenced.some((r) => r.family === 6) ? [4, 6] : [4];
  return families.flatMap((f) => cutFamily(f, referenced));
}

function externalEndpoints(ranges: readonly IpRange[]): Endpoint[] {
  return ranges.map((range) => ({
    id: `${formatRange(range)}[External]`,
    peer: { kind: 'ipRange', range },
    selecting: { ingress: [], egress: [] },
  }));
}

function byText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Every allowed connection between the workloads of `manifests` and external ranges, sorted by src then dst. */
export function connectivity(manifests: Manifests): ConnlistEntry[] {
  const { policies } = manifests;
  const workloads: Endpoint[] = manifests.workloads.map((w) => ({
    id: w.id,
    peer: w.pod,
    selecting: {
      ingress: selectingPolicies(policies, w.pod, 'ingress'),
      egress: selectingPolicies(policies, w.pod, 'egress'),
    },
  }));
  const sources = [...workloads, ...externalEndpoints(externalRanges(policies, 'ingress'))];
  const destinations = [...workloads, ...externalEndpoints(externalRanges(policies, 'egress'))];
  const out: ConnlistEntry[] = [];
  for (const src of sources) {
    for (const dst of destinations) {
      if (src.id === dst.id || (src.peer.kind !== 'pod' && dst.peer.kind !== 'pod')) continue;
      // An address range is never isolated: only a pod's own egress or ingress policies restrict it.
      const egress =
        src.peer.kind === 'pod'
          ? evaluateSelected(src.selecting.egress, 'egress', src.peer, dst.peer).connections
          : ConnectionSet.ALL;
      if (ConnectionSet.isEmpty(egress)) continue;
      const ingress =
        dst.peer.kind === 'pod'
          ? evaluateSelected(dst.selecting.ingress, 'ingress', dst.peer, src.peer).connections
          : ConnectionSet.ALL;
      const allowed = ConnectionSet.intersect(egress, ingress);
      if (ConnectionSet.isEmpty(allowed)) continue;
      out.push({
        src: src.id,
        dst: dst.id,
        allowed: ConnectionSet.allowed(allowed),
        conn: ConnectionSet.format(allowed),
      });
    }
  }
  return out.sort((a, b) => byText(a.src, b.src) || byText(a.dst, b.dst));
}

function entryJson(e: ConnlistEntry): string {
  const allowed =
    typeof e.allowed === 'string'
      ? JSON.stringify(e.allowed)
      : `[${e.allowed
          .map(
            (r) =>
              `{"protocol": ${JSON.stringify(r.protocol)}, "port": ${r.port}${
                r.endPort === undefined ? '' : `, "endPort": ${r.endPort}`
              }}`,
          )
          .join(', ')}]`;
  return `{"src": ${JSON.stringify(e.src)}, "dst": ${JSON.stringify(e.dst)}, "allowed": ${allowed}, "conn": ${JSON.stringify(e.conn)}}`;
}

/**
 * The list as JSON, one entry per line, laid out as the corpus's expected.json files are, so that for the same
 * sort order the bytes match and a diff between two runs shows one line per changed pair.
 */
export function formatConnlistJson(entries: readonly ConnlistEntry[]): string {
  if (entries.length === 0) return '[\n]\n';
  return `[\n${entries.map(entryJson).join(',\n')}\n]\n`;
}
