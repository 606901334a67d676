/**
 * Turns successive views of the pods (full listings: snapshot files, lists, re-lists after `410 Gone`; and
 * single watch events) into lease opens and closes. Pure: no clock, no I/O. Memory holds the live pods only;
 * closed leases are handed to the store and forgotten.
 *
 * The rules, in the order they matter for attribution:
 * - A pod's first leases (one per address: a dual-stack pod has two) start at the time the API gives
 *   (status.startTime, else creationTimestamp), not when we happened to look: a pod that came up between two
 *   snapshots owns its IPs from its start.
 * - A pod present at tA and gone at tB ends its leases at its finish or deletion time when the API told us one
 *   (kept from the last time it was seen, by the store too: a run that resumes from the open leases knows it),
 *   else at tB; never before the lease began, never after tB. `metadata.deletionTimestamp` is the end of the
 *   grace period already: the API server sets it to the delete request's time plus gracePeriodSeconds, and the
 *   kubelet kills what still runs then (ObjectMeta in the API reference; `BeforeDelete`,
 *   k8s.io/apiserver/pkg/registry/rest/delete.go). A pod that stopped sooner loses its IP to the next holder,
 *   whose start cuts the lease back (below).
 * - A pod in a terminal phase (Succeeded / Failed) still lists its IP, but the IP has been released and may be
 *   held by a new pod already: its lease ends at the containers' `finishedAt`. Such a pod seen for the first time
 *   (it came and went while nobody watched) gets a closed lease from its start to its finish.
 * - A pod whose IP changes closes the old lease and opens a new one, both at the time of the change.
 * - IP reuse: two pods never hold one (non host-network) IP at once. When a pod claims an IP that another pod's
 *   open lease holds, the later starter wins and the other lease ends where the new one begins. A terminating pod
 *   whose object lingers (finalizers) after its IP went to a new pod is the usual case.
 * - Host-network pods use the node's address, shared by the node and every host-network pod on it: their leases
 *   are marked and never close or block another lease.
 */
import type {
  InventoryChange,
  InventorySink,
  Lease,
  LeaseOp,
  OpenLease,
  PodRecord,
} from '../model/workload.js';

export type { LeaseOp };

interface PodState {
  pod: PodRecord;
  /** ip → lease, open (end null) or closed while the pod still lives (terminal phase, superseded, IP changed). */
  readonly leases: Map<string, Lease>;
}

/** How long a closed lease can still be cut back by a new holder of its IP (see `#recentClose`). */
const RECENT_CLOSE_SECONDS = 3600;

export class LeaseHistory {
  readonly #pods = new Map<string, PodState>();
  /** ip → uid of the pod whose open, non host-network lease holds it. */
  readonly #holder = new Map<string, string>();
  /**
   * ip → the latest closed non host-network lease, kept for {@link RECENT_CLOSE_SECONDS}: a watch replayed after a
   * reconnect delivers "old pod deleted" before "new pod with the same IP", and the deletion's time (the replay)
   * can be later than the new pod's start; the old lease is then cut back to where the new one begins.
   */
  readonly #recentClose = new Map<string, Lease>();
  #closesSincePrune = 0;

  /** Resumes from the leases the store still has open (after a restart, and in every snapshot import). */
  constructor(open: readonly OpenLease[] = []) {
    for (const l of open) {
      let s = this.#pods.get(l.podUid);
      if (s === undefined) {
        s = { pod: podFromLease(l), leases: new Map() };
        this.#pods.set(l.podUid, s);
      } else {
        s.pod = { ...s.pod, ips: [...s.pod.ips, l.ip], deletedAt: s.pod.deletedAt ?? l.podDeletedAt };
      }
      s.leases.set(l.ip, l);
      if (!l.hostNetwork) this.#holder.set(l.ip, l.podUid);
    }
  }

  /** Number of pods kept in memory (live pods). */
  get livePods(): number {
    return this.#pods.size;
  }

  /** The leases currently open, in no particular order. */
  openLeases(): Lease[] {
    const out: Lease[] = [];
    for (const s of this.#pods.values()) for (const l of s.leases.values()) if (l.end === null) out.push(l);
    return out;
  }

  /**
   * A complete listing of the pods as of `at`: every known pod not in it is gone. With `namespaces`, the listing
   * is complete for those only (`kubectl get pods -n shop`): a pod of another namespace is not gone for being
   * absent from it.
   */
  replace(pods: readonly PodRecord[], at: number, namespaces?: readonly string[]): LeaseOp[] {
    const ops: LeaseOp[] = [];
    const present = new Set<string>();
    for (const p of pods) present.add(p.uid);
    const covered = namespaces === undefined ? null : new Set(namespaces);
    // Gone pods first; a new holder of a reused IP then cuts the old lease back to its own start.
    for (const [uid, s] of [...this.#pods]) {
      if (present.has(uid) || (covered !== null && !covered.has(s.pod.namespace))) continue;
      this.#remove(s.pod, at, ops);
    }
    for (const p of pods) this.#upsert(p, at, ops);
    return ops;
  }

  /** A watch ADDED / MODIFIED event seen at `at`. */
  upsert(pod: PodRecord, at: number): LeaseOp[] {
    const ops: LeaseOp[] = [];
    this.#upsert(pod, at, ops);
    return ops;
  }

  /** A watch DELETED event seen at `at`; `pod` is the object's final state. */
  remove(pod: PodRecord, at: number): LeaseOp[] {
    const ops: LeaseOp[] = [];
    this.#remove(pod, at, ops);
    return ops;
  }

  #upsert(pod: PodRecord, at: number, ops: LeaseOp[]): void {
    let s = this.#pods.get(pod.uid);
    const isNew = s === undefined;
    if (s === undefined) {
      s = { pod, leases: new Map() };
      this.#pods.set(pod.uid, s);
    }
    s.pod = pod;
    const terminal = pod.phase === 'Succeeded' || pod.phase === 'Failed';

    // Leases on IPs the pod no longer reports, or all of them once it is terminal.
    for (const [ip, l] of s.leases) {
      if (l.end !== null) continue;
      if (!terminal && pod.ips.includes(ip)) continue;
      const end = terminal ? clamp(pod.finishedAt ?? at, l.start, at) : Math.max(l.start, at);
      this.#close(s, l, end, ops);
    }

    // The addresses a pod shows when it is first seen are its own from its start: every one of them, since a
    // dual-stack pod lists one per family from the outset. An address that appears on a pod already known is a
    // change, held from now.
    const apiStart = isNew ? (pod.startedAt ?? pod.createdAt ?? at) : at;
    for (const ip of pod.ips) {
      if (s.leases.has(ip)) continue;
      const start = Math.min(apiStart, at);
      if (terminal) {
        const end = clamp(pod.finishedAt ?? at, start, at);
        const lease = leaseOf(pod, ip, start, end);
        if (!pod.hostNetwork) this.#claimFinished(pod, lease, ops);
        s.leases.set(ip, lease);
        ops.push({ op: 'open', lease });
        continue;
      }
      if (!pod.hostNetwork) {
        const other = this.#otherHolder(ip, pod.uid);
        if (other !== null) {
          const { holder, held } = other;
          // API timestamps have one-second resolution: on a tie the newcomer wins.
          if (held.start > start) {
            // The other pod started later: this claim is stale (e.g. a lingering terminating pod). Remember it
            // as a zero-length lease so later views of this pod do not retry it.
            s.leases.set(ip, leaseOf(pod, ip, start, start));
            continue;
          }
          this.#close(holder, held, Math.max(held.start, start), ops);
        }
        const prev = this.#recentClose.get(ip);
        if (prev !== undefined && prev.podUid !== pod.uid && prev.start > start) {
          // A pod that started later held the address since (a lingering terminating pod, rebuilt from its lease
          // by a later run, claims it from its own start): stale, as above. Cutting the later holder back would
          // give its traffic to this pod.
          s.leases.set(ip, leaseOf(pod, ip, start, start));
          continue;
        }
        this.#holder.set(ip, pod.uid);
        if (prev !== undefined && prev.podUid !== pod.uid && prev.end! > start)
          this.#cutBack(prev, Math.max(prev.start, start), ops);
      }
      const lease = leaseOf(pod, ip, start, null);
      s.leases.set(ip, lease);
      ops.push({ op: 'open', lease });
    }
  }

  /**
   * A finished pod seen for the first time (a Job pod that ran between two listings) held its address over
   * `lease`: a pod that started before it cannot have held the address past its start, whatever our late view of
   * that pod's end said (a pod gone from a listing ends at that listing when nothing told us sooner). Its lease is
   * cut back to where the finished one began; the finished one is then the latest close on the address.
   */
  #claimFinished(pod: PodRecord, lease: Lease, ops: LeaseOp[]): void {
    const ip = lease.ip;
    const other = this.#otherHolder(ip, pod.uid);
    // An open holder that started later took the address after the finished pod: nothing to cut.
    if (other !== null && other.held.start < lease.start)
      this.#close(other.holder, other.held, lease.start, ops);
    const prev = this.#recentClose.get(ip);
    if (prev !== undefined && prev.podUid !== pod.uid && prev.start < lease.start && prev.end! > lease.start)
      this.#cutBack(prev, lease.start, ops);
    const latest = this.#recentClose.get(ip);
    if (latest === undefined || latest.end! <= lease.end!) this.#recentClose.set(ip, lease);
  }

  /** The open lease another pod than `uid` holds `ip` by, with its pod, or null. */
  #otherHolder(ip: string, uid: string): { readonly holder: PodState; readonly held: Lease } | null {
    const holderUid = this.#holder.get(ip);
    if (holderUid === undefined || holderUid === uid) return null;
    const holder = this.#pods.get(holderUid);
    const held = holder?.leases.get(ip);
    return holder !== undefined && held !== undefined && held.end === null ? { holder, held } : null;
  }

  /** Ends `prev`, the latest closed lease on its address, earlier: at `end`, where another pod took the address. */
  #cutBack(prev: Lease, end: number, ops: LeaseOp[]): void {
    ops.push({ op: 'close', podUid: prev.podUid, ip: prev.ip, start: prev.start, end });
    this.#recentClose.set(prev.ip, { ...prev, end });
  }

  #remove(pod: PodRecord, at: number, ops: LeaseOp[]): void {
    const s = this.#pods.get(pod.uid);
    if (s === undefined) return;
    // The final object of a DELETED event knows more than the one kept; a snapshot diff passes the kept one.
    const when = pod.finishedAt ?? pod.deletedAt ?? s.pod.finishedAt ?? s.pod.deletedAt ?? at;
    for (const l of s.leases.values()) {
      if (l.end === null) this.#close(s, l, clamp(when, l.start, at), ops);
    }
    this.#pods.delete(pod.uid);
  }

  #close(s: PodState, l: Lease, end: number, ops: LeaseOp[]): void {
    const closed = { ...l, end };
    s.leases.set(l.ip, closed);
    if (this.#holder.get(l.ip) === l.podUid) this.#holder.delete(l.ip);
    ops.push({ op: 'close', podUid: l.podUid, ip: l.ip, start: l.start, end });
    if (l.hostNetwork) return;
    this.#recentClose.set(l.ip, closed);
    if (++this.#closesSincePrune >= 1024) {
      this.#closesSincePrune = 0;
      for (const [ip, c] of this.#recentClose)
        if (c.end! < end - RECENT_CLOSE_SECONDS) this.#recentClose.delete(ip);
    }
  }
}

function clamp(t: number, lo: number, hi: number): number {
  return Math.max(lo, Math.min(t, hi));
}

function leaseOf(pod: PodRecord, ip: string, start: number, end: number | null): Lease {
  return {
    ip,
    podUid: pod.uid,
    namespace: pod.namespace,
    podName: pod.name,
    workload: pod.workload,
    node: pod.node,
    hostNetwork: pod.hostNetwork,
    labels: pod.labels,
    ports: pod.ports,
    start,
    end,
  };
}

/** What is known of a pod from its stored open lease, enough to close it later. */
function podFromLease(l: OpenLease): PodRecord {
  return {
    uid: l.podUid,
    namespace: l.namespace,
    name: l.podName,
    workload: l.workload,
    node: l.node,
    hostNetwork: l.hostNetwork,
    ips: [l.ip],
    labels: l.labels,
    ports: l.ports,
    phase: '',
    createdAt: null,
    startedAt: null,
    deletedAt: l.podDeletedAt,
    finishedAt: null,
  };
}

/** Where lease writes go: the store's inventory (src/store/inventory-store.ts), in one transaction per call. */
export interface InventoryWriter {
  record(cluster: string, changes: readonly InventoryChange[], ops: readonly LeaseOp[]): void;
}

/**
 * The inventory sink the Kubernetes collector writes to: pod changes become lease opens and closes through a
 * {@link LeaseHistory}; each `apply` call (a snapshot, a re-list, one watch event) is one transaction.
 */
export class LeaseRecorder implements InventorySink {
  readonly #history: LeaseHistory;
  readonly #writer: InventoryWriter;
  readonly #cluster: string;
  #opened = 0;
  #closed = 0;

  constructor(writer: InventoryWriter, cluster: string, open: readonly OpenLease[]) {
    this.#writer = writer;
    this.#cluster = cluster;
    this.#history = new LeaseHistory(open);
  }

  get history(): LeaseHistory {
    return this.#history;
  }

  /** Leases opened and closed since this recorder started. */
  get counts(): { opened: number; closed: number } {
    return { opened: this.#opened, closed: this.#closed };
  }

  apply(changes: readonly InventoryChange[]): void {
    const ops: LeaseOp[] = [];
    for (const c of changes) {
      if (c.resource !== 'pods') continue;
      if (c.op === 'replace') ops.push(...this.#history.replace(c.items, c.at, c.namespaces));
      else if (c.op === 'upsert') ops.push(...this.#history.upsert(c.item, c.at));
      else ops.push(...this.#history.remove(c.item, c.at));
    }
    this.#writer.record(this.#cluster, changes, ops);
    for (const op of ops) {
      if (op.op === 'open') this.#opened++;
      else this.#closed++;
    }
  }
}
