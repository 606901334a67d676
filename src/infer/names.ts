/**
 * Host-name attribution: a flow to address X from workload W at time t is attributed to name N when W (or its
 * node, or the resolver) got X in an answer for N within the answer's TTL plus a grace before t. The closest
 * asker wins: W's own answers over its node's over anyone's. A long-lived connection outlives the TTL of the
 * answer that opened it, so an earlier answer given to W itself still names it, marked `dns-stale`.
 */
import type { NameEvidence } from '../model/endpoint.js';
import type { Lease } from '../model/workload.js';
import { workloadId } from '../model/workload.js';
import type { AddressAnswer, NameQuestion } from '../store/infer-query.js';

/** How far back an answer to any client may name a flow it no longer covers (stale fallback). */
const STALE_ANY_CLIENT = 86_400;

/** Who held an address when: pod leases by IP, and node addresses. */
export class Holders {
  readonly #leases = new Map<string, Lease[]>();

  constructor(
    leases: readonly Lease[],
    readonly nodeOf: ReadonlyMap<string, string>,
  ) {
    for (const l of leases) {
      if (l.hostNetwork) continue;
      const list = this.#leases.get(l.ip);
      if (list === undefined) this.#leases.set(l.ip, [l]);
      else list.push(l);
    }
  }

  /** The pod lease holding `ip` at `t`, or null. */
  leaseAt(ip: string, t: number): Lease | null {
    for (const l of this.#leases.get(ip) ?? []) {
      if (l.start <= t && (l.end === null || l.end > t)) return l;
    }
    return null;
  }

  /** `namespace/Kind/name` of the pod holding `ip` at `t`, or null. */
  workloadAt(ip: string, t: number): string | null {
    const l = this.leaseAt(ip, t);
    return l === null ? null : workloadId(l.workload);
  }
}

interface Asked {
  readonly answer: AddressAnswer;
  /** Workload of the asking pod at the time of the answer, or null. */
  readonly workload: string | null;
  /** The asking pod (`namespace/name`), or ''. */
  readonly pod: string;
  /** Node whose address asked, or whose pod asked; '' unknown. */
  readonly node: string;
}

export interface NameMatch {
  readonly names: readonly string[];
  readonly evidence: Exclude<NameEvidence, 'proxy' | 'none'>;
  /** Workloads that asked for these names (for narrowing SNAT'd flows). */
  readonly askers: ReadonlySet<string>;
  /** The asking pods (`namespace/name`) per asking workload. */
  readonly askerPods: ReadonlyMap<string, ReadonlySet<string>>;
  /** A node's own address asked (kubelet, a host daemon): the node's own traffic, not a pod's. */
  readonly nodeAsked: boolean;
}

/** A client that asked for a name over [first, last], resolved to its pod's workload and node. */
interface Question {
  readonly workload: string | null;
  readonly pod: string;
  readonly node: string;
  readonly first: number;
  readonly last: number;
}

/**
 * The A/AAAA answers of a window, indexed by address and by name, and who asked for each name. Resolver logs
 * (Route 53) often see the cluster DNS server as the client, while CoreDNS logs see the asking pod but no answer:
 * together they say which pod got which address.
 */
export class NameIndex {
  readonly #byAddr = new Map<string, Asked[]>();
  readonly #byName = new Map<string, Map<string, Set<number>>>();
  readonly #questions = new Map<string, Question[]>();

  constructor(
    answers: readonly AddressAnswer[],
    questions: readonly NameQuestion[],
    holders: Holders,
    readonly grace: number,
  ) {
    for (const q of questions) {
      const lease = holders.leaseAt(q.client, q.lastSeen);
      const entry: Question = {
        workload: lease === null ? null : workloadId(lease.workload),
        pod: lease === null ? '' : `${lease.namespace}/${lease.podName}`,
        node: lease !== null ? lease.node : (holders.nodeOf.get(q.client) ?? ''),
        first: q.firstSeen,
        last: q.lastSeen,
      };
      const list = this.#questions.get(q.name);
      if (list === undefined) this.#questions.set(q.name, [entry]);
      else list.push(entry);
    }
    for (const a of answers) {
      const lease = a.client === '' ? null : holders.leaseAt(a.client, a.lastSeen);
      const asked: Asked = {
        answer: a,
        workload: lease === null ? null : workloadId(lease.workload),
        pod: lease === null ? '' : `${lease.namespace}/${lease.podName}`,
        node: lease !== null ? lease.node : (holders.nodeOf.get(a.client) ?? ''),
      };
      const list = this.#byAddr.get(a.answer);
      if (list === undefined) this.#byAddr.set(a.answer, [asked]);
      else list.push(asked);
      let addrs = this.#byName.get(a.name);
      if (addrs === undefined) this.#byName.set(a.name, (addrs = new Map()));
      let buckets = addrs.get(a.answer);
      if (buckets === undefined) addrs.set(a.answer, (buckets = new Set()));
      buckets.add(a.bucket);
    }
  }

  /** Addresses some answer named: 0 when no DNS log covers the window. */
  get size(): number {
    return this.#byAddr.size;
  }

  /** Every address `name` was answered with, and the buckets it was answered in. */
  addressesOf(name: string): ReadonlyMap<string, ReadonlySet<number>> {
    return this.#byName.get(name) ?? new Map();
  }

  /**
   * The names of address `addr` for a flow seen over [first, last] from `workload` (null: not known) on `node`
   * ('' unknown), or null when no answer names it.
   */
  namesFor(
    addr: string,
    first: number,
    last: number,
    workload: string | null,
    node: string,
  ): NameMatch | null {
    const asked = this.#byAddr.get(addr);
    if (asked === undefined) return null;
    const live = asked.filter(
      (x) => x.answer.firstSeen <= last && x.answer.lastSeen + (x.answer.minTtl ?? 0) + this.grace >= first,
    );
    const askedNear = (x: Asked): Question[] =>
      (this.#questions.get(x.answer.name) ?? []).filter(
        (q) => q.first <= last && q.last + (x.answer.minTtl ?? 0) + this.grace >= first,
      );
    const tiers: ((x: Asked) => boolean)[] = [
      (x) =>
        workload !== null && (x.workload === workload || askedNear(x).some((q) => q.workload === workload)),
      (x) => node !== '' && (x.node === node || askedNear(x).some((q) => q.node === node)),
      () => true,
    ];
    for (const tier of tiers) {
      const hit = live.filter(tier);
      if (hit.length > 0) return match(hit, 'dns', hit.flatMap(askedNear));
    }
    const earlier = asked.filter((x) => x.answer.firstSeen <= last);
    const own = earlier.filter((x) => workload !== null && x.workload === workload);
    if (own.length > 0) return match(own, 'dns-stale');
    const recent = earlier.filter((x) => x.answer.lastSeen >= first - STALE_ANY_CLIENT);
    if (recent.length > 0) return match(recent, 'dns-stale');
    return null;
  }
}

function match(
  hit: readonly Asked[],
  evidence: 'dns' | 'dns-stale',
  questions: readonly Question[] = [],
): NameMatch {
  const names = [...new Set(hit.map((x) => x.answer.name))].sort();
  // A resolver forwarding for pods (CoreDNS to Route 53) is the answers' client but not their consumer: when the
  // cluster DNS logged who asked, those are the askers.
  const from = questions.some((q) => q.workload !== null) ? questions : hit;
  const askers = new Set<string>();
  const askerPods = new Map<string, Set<string>>();
  for (const x of from) {
    if (x.workload === null) continue;
    askers.add(x.workload);
    let pods = askerPods.get(x.workload);
    if (pods === undefined) askerPods.set(x.workload, (pods = new Set()));
    if (x.pod !== '') pods.add(x.pod);
  }
  const nodeAsked = askers.size === 0 && hit.some((x) => x.workload === null && x.node !== '');
  return { names, evidence, askers, askerPods, nodeAsked };
}
