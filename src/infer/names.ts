/**
 * Host-name attribution: a flow to address X from workload W at time t is attributed to name N when W (or its
 * node, or the resolver) got X in an answer for N within the answer's TTL plus a grace before t. The closest
 * asker wins: W's own answers over its node's over anyone's. A long-lived connection outlives the TTL of the
 * answer that opened it, so an earlier answer given to W itself still names it, marked `dns-stale`.
 */
import { DNS_NAME_REACH } from '../model/dns.js';
import type { NameEvidence } from '../model/endpoint.js';
import type { Lease } from '../model/workload.js';
import { workloadId } from '../model/workload.js';
import type { AddressAnswer, NameQuestion } from '../store/infer-query.js';

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

  /**
   * The pod lease holding `ip` at `t`, or null. Two leases can both claim `t` when a pod's end was only noticed
   * later (a snapshot diff closes at the next listing, a lingering object); the address is handed out only once
   * freed, so the pod that started later holds it.
   */
  leaseAt(ip: string, t: number): Lease | null {
    let best: Lease | null = null;
    for (const l of this.#leases.get(ip) ?? []) {
      if (l.end !== null && l.end <= l.start) continue;
      if (l.start <= t && (l.end === null || l.end > t) && (best === null || l.start > best.start)) best = l;
    }
    return best;
  }

  /**
   * Who held `ip` over [first, last]: one entry per holder in time order, with the part of the range it held as
   * {@link Holders.leaseAt} says at each instant (so an open lease holds again after a later one inside it ended),
   * or [] when no lease overlaps it.
   */
  holdersOver(ip: string, first: number, last: number): { lease: Lease; first: number; last: number }[] {
    const list = this.#leases.get(ip);
    if (list === undefined) return [];
    // Where a lease starts or ends inside the range, the holder may change.
    const points = new Set([first]);
    for (const l of list) {
      if (l.start > first && l.start < last) points.add(l.start);
      if (l.end !== null && l.end > first && l.end < last) points.add(l.end);
    }
    const sorted = [...points].sort((a, b) => a - b);
    const out: { lease: Lease; first: number; last: number }[] = [];
    for (let i = 0; i < sorted.length; i++) {
      const from = sorted[i]!;
      const to = sorted[i + 1] ?? last;
      const lease = this.leaseAt(ip, from);
      if (lease === null) continue;
      const prev = out.at(-1);
      if (prev?.lease === lease && prev.last === from) prev.last = to;
      else out.push({ lease, first: from, last: to });
    }
    return out;
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

/** Who asked for one name: workloads, and their asking pods (`namespace/name`). */
export interface NameAskers {
  readonly askers: ReadonlySet<string>;
  readonly askerPods: ReadonlyMap<string, ReadonlySet<string>>;
  /**
   * The resolver log's clients the askers came from, when no cluster DNS log named the pods: one may be a DNS
   * server forwarding for pods (CoreDNS to Route 53), which only the flows to it can tell apart.
   */
  readonly clients: readonly AnswerClient[];
}

/** One resolver-log client of an answer, resolved to its pod when it is one. */
export interface AnswerClient {
  readonly client: string;
  readonly workload: string | null;
  readonly pod: string;
  /** The node the client ran on ('' unknown). */
  readonly node: string;
  readonly first: number;
  readonly last: number;
}

export interface NameMatch {
  readonly names: readonly string[];
  readonly evidence: Exclude<NameEvidence, 'proxy' | 'none'>;
  /**
   * Per name, who asked for it: an address answered for two names (shared CDN edges, an S3 address handed to two
   * buckets) names a SNAT'd flow after both, but each name only after the pods that asked for that one.
   */
  readonly byName: ReadonlyMap<string, NameAskers>;
  /** A node's own address asked (kubelet, a host daemon): the node's own traffic, not a pod's. */
  readonly nodeAsked: boolean;
  /**
   * The workloads that got the address for `name` over the last day: a pod that cached its answer past the TTL
   * connects long after asking, while others' live answers name the address meanwhile. Only SNAT'd flows that no
   * live asker explains need it, so it is worked out when first asked for.
   */
  readonly earlier?: (name: string) => ReadonlySet<string> | undefined;
}

/** A client that asked for a name over [first, last], resolved to its pod's workload and node. */
interface Question {
  readonly name: string;
  readonly workload: string | null;
  readonly pod: string;
  readonly node: string;
  readonly first: number;
  readonly last: number;
}

/** A time-sorted list and the widest reach of any entry past its start (its span plus TTL), for range scans. */
interface Timeline<T> {
  readonly items: T[];
  /** Largest `end + ttl - start` of any item: how far before `first` a still-live item can start. */
  reach: number;
}

function timeline<T>(): Timeline<T> {
  return { items: [], reach: 0 };
}

/** Index one past the last item whose start is at or before `t` (items sorted by start). */
export function upTo<T>(items: readonly T[], startOf: (x: T) => number, t: number): number {
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (startOf(items[mid]!) <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The A/AAAA answers of a window, indexed by address and by name, and who asked for each name. Resolver logs
 * (Route 53) often see the cluster DNS server as the client, while CoreDNS logs see the asking pod but no answer:
 * together they say which pod got which address. Lists are kept in time order and searched by range, so a busy
 * address answered every hour for weeks costs a few steps per flow, not a scan.
 */
export class NameIndex {
  readonly #byAddr = new Map<string, Timeline<Asked>>();
  readonly #byName = new Map<string, Map<string, Set<number>>>();
  readonly #questions = new Map<string, Timeline<Question>>();
  /** Per name, each asking workload's question times (CoreDNS log), sorted: who asked before caching. */
  readonly #askedBy = new Map<string, Map<string, number[]>>();
  /** Per address, each asking workload's own answers in time order (the stale lookup). */
  readonly #byAddrAndWorkload = new Map<string, Map<string, Asked[]>>();

  constructor(
    answers: readonly AddressAnswer[],
    questions: readonly NameQuestion[],
    holders: Holders,
    readonly grace: number,
  ) {
    for (const q of questions) {
      let list = this.#questions.get(q.name);
      if (list === undefined) this.#questions.set(q.name, (list = timeline()));
      // A row sums one client's questions over a bucket: when the address changed hands in it, each holder asked
      // over its own part only (the row cannot say which questions were whose).
      for (const h of byHolder(holders, q.client, q.firstSeen, q.lastSeen)) {
        const lease = h.lease;
        list.items.push({
          name: q.name,
          workload: lease === null ? null : workloadId(lease.workload),
          pod: lease === null ? '' : `${lease.namespace}/${lease.podName}`,
          node: lease !== null ? lease.node : (holders.nodeOf.get(q.client) ?? ''),
          first: h.first,
          last: h.last,
        });
      }
      list.reach = Math.max(list.reach, q.lastSeen - q.firstSeen);
    }
    for (const [name, list] of this.#questions) {
      list.items.sort((a, b) => a.first - b.first);
      const by = new Map<string, number[]>();
      for (const q of list.items) {
        if (q.workload === null) continue;
        const times = by.get(q.workload);
        if (times === undefined) by.set(q.workload, [q.last]);
        else times.push(q.last);
      }
      for (const times of by.values()) times.sort((a, b) => a - b);
      this.#askedBy.set(name, by);
    }
    for (const a of answers) {
      let list = this.#byAddr.get(a.answer);
      if (list === undefined) this.#byAddr.set(a.answer, (list = timeline()));
      const split = a.client === '' ? [] : byHolder(holders, a.client, a.firstSeen, a.lastSeen);
      for (const h of split.length === 0 ? [{ lease: null, first: a.firstSeen, last: a.lastSeen }] : split) {
        const lease = h.lease;
        list.items.push({
          answer: split.length > 1 ? { ...a, firstSeen: h.first, lastSeen: h.last } : a,
          workload: lease === null ? null : workloadId(lease.workload),
          pod: lease === null ? '' : `${lease.namespace}/${lease.podName}`,
          node: lease !== null ? lease.node : (holders.nodeOf.get(a.client) ?? ''),
        });
      }
      list.reach = Math.max(list.reach, a.lastSeen - a.firstSeen + (a.minTtl ?? 0));
      let addrs = this.#byName.get(a.name);
      if (addrs === undefined) this.#byName.set(a.name, (addrs = new Map()));
      let buckets = addrs.get(a.answer);
      if (buckets === undefined) addrs.set(a.answer, (buckets = new Set()));
      buckets.add(a.bucket);
    }
    for (const [addr, list] of this.#byAddr) {
      list.items.sort((a, b) => a.answer.firstSeen - b.answer.firstSeen);
      const mine = new Map<string, Asked[]>();
      for (const x of list.items) {
        if (x.workload === null) continue;
        const own = mine.get(x.workload);
        if (own === undefined) mine.set(x.workload, [x]);
        else own.push(x);
      }
      this.#byAddrAndWorkload.set(addr, mine);
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
   * Did `workload` ask the cluster DNS for `name` (a CoreDNS log line) within the day before `t`? A pod that
   * cached the answer past its TTL connects long after asking.
   */
  askedEarlier(name: string, workload: string, t: number): boolean {
    const times = this.#askedBy.get(name)?.get(workload);
    if (times === undefined) return false;
    const i = upTo(times, (x) => x, t) - 1;
    return i >= 0 && times[i]! >= t - DNS_NAME_REACH;
  }

  /** Who asked for the name of answer `x` so that its answer was still live over [first, last]. */
  #askedNear(x: Asked, first: number, last: number): Question[] {
    const list = this.#questions.get(x.answer.name);
    if (list === undefined) return [];
    const ttl = (x.answer.minTtl ?? 0) + this.grace;
    const out: Question[] = [];
    for (let i = upTo(list.items, (q) => q.first, last) - 1; i >= 0; i--) {
      const q = list.items[i]!;
      if (q.first + list.reach + ttl < first) break;
      if (q.last + ttl >= first) out.push(q);
    }
    return out;
  }

  /**
   * The names of address `addr` for a flow seen over [first, last] from `workload` (null: not known) on `node`
   * ('' unknown), or null when no answer names it. Closest asker first: the workload's own live answer, its own
   * earlier answer (a long connection outlives the TTL of the answer that opened it), its node's live answer,
   * anyone's live answer, anyone's answer of the last day.
   */
  namesFor(
    addr: string,
    first: number,
    last: number,
    workload: string | null,
    node: string,
  ): NameMatch | null {
    const list = this.#byAddr.get(addr);
    if (list === undefined) return null;
    const end = upTo(list.items, (x) => x.answer.firstSeen, last);
    const live: Asked[] = [];
    for (let i = end - 1; i >= 0; i--) {
      const x = list.items[i]!;
      if (x.answer.firstSeen + list.reach + this.grace < first) break;
      if (x.answer.lastSeen + (x.answer.minTtl ?? 0) + this.grace >= first) live.push(x);
    }
    const near = new Map<Asked, Question[]>();
    const askedNear = (x: Asked): Question[] => {
      let q = near.get(x);
      if (q === undefined) near.set(x, (q = this.#askedNear(x, first, last)));
      return q;
    };
    const own = (x: Asked): boolean =>
      workload !== null && (x.workload === workload || askedNear(x).some((q) => q.workload === workload));
    const ownLive = live.filter(own);
    if (ownLive.length > 0) return match(ownLive, 'dns', ownLive.flatMap(askedNear));
    if (workload !== null) {
      // The latest earlier answer the workload itself got for this address.
      const mine = this.#byAddrAndWorkload.get(addr)?.get(workload) ?? [];
      const i = upTo(mine, (x) => x.answer.firstSeen, last) - 1;
      if (i >= 0) return match([mine[i]!], 'dns-stale');
    }
    // Anyone's answer of the last day, scanned only when a match needs it.
    let recentList: Asked[] | undefined;
    const recent = (): readonly Asked[] => {
      if (recentList !== undefined) return recentList;
      recentList = [];
      for (let i = end - 1; i >= 0; i--) {
        const x = list.items[i]!;
        if (x.answer.firstSeen + list.reach < first - DNS_NAME_REACH) break;
        if (x.answer.lastSeen >= first - DNS_NAME_REACH) recentList.push(x);
      }
      return recentList;
    };
    const nodeLive = live.filter(
      (x) => node !== '' && (x.node === node || askedNear(x).some((q) => q.node === node)),
    );
    if (nodeLive.length > 0) return withEarlier(match(nodeLive, 'dns', nodeLive.flatMap(askedNear)), recent);
    if (live.length > 0) return withEarlier(match(live, 'dns', live.flatMap(askedNear)), recent);
    return recent().length > 0 ? match(recent(), 'dns-stale') : null;
  }
}

/** `m` with the workloads that got its names' address from `recent` answers (see {@link NameMatch.earlier}). */
function withEarlier(m: NameMatch, recent: () => readonly Asked[]): NameMatch {
  let earlier: Map<string, Set<string>> | undefined;
  const of = (name: string): ReadonlySet<string> | undefined => {
    if (earlier === undefined) {
      earlier = new Map();
      for (const x of recent()) {
        if (x.workload === null || !m.names.includes(x.answer.name)) continue;
        let ws = earlier.get(x.answer.name);
        if (ws === undefined) earlier.set(x.answer.name, (ws = new Set()));
        ws.add(x.workload);
      }
    }
    return earlier.get(name);
  };
  return { ...m, earlier: of };
}

/**
 * The holders of a DNS client address over a row's [first, last]: each with its part, when the address changed
 * hands inside the row; else the one holding it at `last` (or none, the client is then a node or unknown).
 */
function byHolder(
  holders: Holders,
  client: string,
  first: number,
  last: number,
): { lease: Lease | null; first: number; last: number }[] {
  const over = holders.holdersOver(client, first, last);
  if (over.length > 1 && new Set(over.map((h) => h.lease.podUid)).size > 1) return over;
  return [{ lease: holders.leaseAt(client, last), first, last }];
}

function match(
  hit: readonly Asked[],
  evidence: 'dns' | 'dns-stale',
  questions: readonly Question[] = [],
): NameMatch {
  const names = [...new Set(hit.map((x) => x.answer.name))].sort();
  const byName = new Map<string, NameAskers>();
  for (const name of names) {
    const asked = questions.filter((q) => q.name === name);
    // A resolver forwarding for pods (CoreDNS to Route 53) is the answers' client but not their consumer: when the
    // cluster DNS logged who asked, those are the askers.
    const fromQuestions = asked.some((q) => q.workload !== null);
    const answered = fromQuestions ? [] : hit.filter((x) => x.answer.name === name);
    const from: readonly { workload: string | null; pod: string }[] = fromQuestions ? asked : answered;
    const mine = new Set<string>();
    const minePods = new Map<string, Set<string>>();
    for (const x of from) {
      if (x.workload === null) continue;
      mine.add(x.workload);
      let pods = minePods.get(x.workload);
      if (pods === undefined) minePods.set(x.workload, (pods = new Set()));
      if (x.pod !== '') pods.add(x.pod);
    }
    const clients = answered.map((x) => ({
      client: x.answer.client,
      workload: x.workload,
      pod: x.pod,
      node: x.node,
      first: x.answer.firstSeen,
      last: x.answer.lastSeen,
    }));
    byName.set(name, { askers: mine, askerPods: minePods, clients });
  }
  const nodeAsked =
    [...byName.values()].every((b) => b.askers.size === 0) &&
    hit.some((x) => x.workload === null && x.node !== '');
  return { names, evidence, byName, nodeAsked };
}
