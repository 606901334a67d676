/**
 * From edges to endpoints: who needs what, with evidence. One pass over the window's accepted egress edges
 * attributes each to its sender and a raw destination (a peer workload, a name, or an address); SNAT'd flows
 * (attributed to a node, with candidate pods) are narrowed in a second pass, once every exact endpoint is known.
 * Then per sender and port, names fold into wildcards, addresses into prefixes, and each endpoint gets its
 * confidence, thresholds and suspicion flags.
 */
import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';
import { parseCidr } from '../model/cidr.js';
import type {
  Destination,
  Endpoint,
  Evidence,
  FoldedCidr,
  InboundEndpoint,
  InferenceResult,
  InferenceSettings,
  NameEvidence,
  RuleProtocol,
  Sender,
  SenderEvidence,
} from '../model/endpoint.js';
import { destinationKey, RULE_PROTOCOL_NUMBERS } from '../model/endpoint.js';
import { SOURCE_KINDS, edgeVia, type SourceKind } from '../model/observation.js';
import { serviceSelects, targetPorts, workloadId, type Workload } from '../model/workload.js';
import { PrefixTable } from '../identity/prefix-table.js';
import type { FlowFilter } from '../store/flow-query.js';
import {
  addressAnswers,
  cloudPrefixes,
  attributedEdges,
  leasesInWindow,
  nameQuestions,
  namespaceLabels,
  nodeAddresses,
  services,
  type InferenceEdge,
  type ServiceView,
} from '../store/infer-query.js';
import { foldAddresses, type PublishedPrefix } from './fold-addresses.js';
import { foldNames } from './fold-names.js';
import { Holders, NameIndex, upTo, type AnswerClient, type NameAskers, type NameMatch } from './names.js';
import { hostSender, workloadProfiles, workloadSender, type WorkloadProfile } from './senders.js';
import { highEntropyLabel, suspicionsOf } from './suspicion.js';

export interface InferOptions extends Omit<InferenceSettings, 'since' | 'until'> {
  readonly since: number;
  readonly until: number;
  /** Further filters (namespaces, workloads, …) on the edges learned from. */
  readonly filter?: FlowFilter;
  /** Provider prefixes given with `--ip-ranges`, on top of those stored by `collect aws-inventory`. */
  readonly prefixes?: readonly PublishedPrefix[];
}

/** What inference could not use, for the summary line. */
export interface InferenceStats {
  readonly edges: number;
  readonly flows: number;
  readonly unattributedFlows: number;
  readonly candidateFlows: number;
}

const SENDER_WEIGHT: Record<SenderEvidence, number> = {
  exact: 1,
  'dns-client': 0.9,
  consistent: 0.8,
  candidate: 0.4,
};
const NAME_WEIGHT: Record<NameEvidence, number> = { proxy: 1, dns: 1, 'dns-stale': 0.8, none: 1 };
/** Provider lists whose prefixes hold addresses anyone can rent: nameless addresses never fold into them. */
const UNFOLDABLE_SERVICES: ReadonlySet<string> = new Set(['AMAZON', 'EC2']);
/** Distinct nameless addresses inside one managed service's published prefix before they fold into it. */
const FOLD_MIN = 3;

/** Destination classes whose traffic from a pod leaves through its node's address (SNAT). */
const OUTSIDE_VPC: ReadonlySet<string> = new Set(['internet', 'cloud-service']);
const SENDER_RANK: SenderEvidence[] = ['exact', 'dns-client', 'consistent', 'candidate'];
const NAME_RANK: NameEvidence[] = ['proxy', 'dns', 'none', 'dns-stale'];

/** Who asked for a name, DNS servers replaced by the pods seen sending them queries ({@link Inference.#forwarded}). */
interface Forwarded extends NameAskers {
  readonly talked?: ReadonlySet<string>;
  /** Nodes the forwarding DNS servers ran on: their own node's pods reach them unseen by flow logs. */
  readonly forwarderNodes?: ReadonlySet<string>;
  /** The forwarding DNS servers' workloads: never the consumers of what they forwarded. */
  readonly forwarders?: ReadonlySet<string>;
}

/** A raw destination before folding: a peer workload, a name, or an address. */
type Raw =
  | { readonly kind: 'peer'; readonly workload: Workload }
  | { readonly kind: 'name'; readonly name: string }
  | { readonly kind: 'addr'; readonly addr: string; readonly dstClass: string; readonly dstName: string };

/**
 * A raw destination of one edge, with how its name was known and the port it is reached on: the edge's, except
 * for traffic to a ClusterIP, which reaches the Service's pods on its targetPort.
 */
interface RawTarget {
  readonly raw: Raw;
  readonly name: NameEvidence;
  readonly match: NameMatch | null;
  readonly port: number;
}

function rawKey(r: Raw): string {
  switch (r.kind) {
    case 'peer':
      return `peer:${r.workload.cluster}/${r.workload.namespace}/${r.workload.kind}/${r.workload.name}`;
    case 'name':
      return `name:${r.name}`;
    case 'addr':
      return `addr:${r.addr}`;
  }
}

/** Running totals of one (sender, raw destination, port, protocol, via). */
class Acc {
  flows = 0;
  packets = 0;
  bytes = 0;
  first = Infinity;
  last = -Infinity;
  sources = 0;
  readonly days = new Set<number>();
  readonly pods = new Set<string>();
  /** Observed destination address → buckets. */
  readonly addrs = new Map<string, Set<number>>();
  sender: SenderEvidence = 'candidate';
  name: NameEvidence = 'dns-stale';

  constructor(
    readonly senderId: string,
    readonly raw: Raw,
    readonly port: number,
    readonly protocol: RuleProtocol,
    readonly via: 'direct' | 'proxy',
  ) {}

  /** `pods`: the sending pods when the edge itself does not name one (SNAT'd flows narrowed by who asked DNS). */
  add(
    e: InferenceEdge,
    sender: SenderEvidence,
    name: NameEvidence,
    share = 1,
    pods?: ReadonlySet<string>,
  ): void {
    this.flows += e.flows * share;
    this.packets += e.packets * share;
    this.bytes += e.bytes * share;
    this.first = Math.min(this.first, e.firstSeen);
    this.last = Math.max(this.last, e.lastSeen);
    this.sources |= e.sources;
    this.days.add(Math.floor(e.bucket / 86_400));
    if (e.srcPod !== '' && sender === 'exact') this.pods.add(`${e.srcNamespace}/${e.srcPod}`);
    for (const p of pods ?? []) this.pods.add(p);
    if (e.dstAddr !== '' && this.via === 'direct') {
      let b = this.addrs.get(e.dstAddr);
      if (b === undefined) this.addrs.set(e.dstAddr, (b = new Set()));
      b.add(e.bucket);
    }
    if (SENDER_RANK.indexOf(sender) < SENDER_RANK.indexOf(this.sender)) this.sender = sender;
    if (NAME_RANK.indexOf(name) < NAME_RANK.indexOf(this.name)) this.name = name;
  }

  merge(o: Acc): void {
    this.flows += o.flows;
    this.packets += o.packets;
    this.bytes += o.bytes;
    this.first = Math.min(this.first, o.first);
    this.last = Math.max(this.last, o.last);
    this.sources |= o.sources;
    for (const d of o.days) this.days.add(d);
    for (const p of o.pods) this.pods.add(p);
    for (const [a, bs] of o.addrs) {
      let b = this.addrs.get(a);
      if (b === undefined) this.addrs.set(a, (b = new Set()));
      for (const x of bs) b.add(x);
    }
    if (SENDER_RANK.indexOf(o.sender) < SENDER_RANK.indexOf(this.sender)) this.sender = o.sender;
    if (NAME_RANK.indexOf(o.name) < NAME_RANK.indexOf(this.name)) this.name = o.name;
  }
}

function kindsOf(mask: number): SourceKind[] {
  return SOURCE_KINDS.filter((_, i) => (mask & (1 << i)) !== 0);
}

function fingerprint(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

function workloadOf(id: string, cluster: string): Workload | null {
  const parts = id.split('/');
  if (parts.length !== 3) return null;
  return { cluster, namespace: parts[0]!, kind: parts[1]!, name: parts[2]! };
}

export function infer(
  db: Database.Database,
  opts: InferOptions,
): { result: InferenceResult; stats: InferenceStats } {
  return new Inference(db, opts).run();
}

class Inference {
  readonly #accs = new Map<string, Acc>();
  readonly #inbound = new Map<string, Acc>();
  readonly #senders = new Map<string, Sender>();
  readonly #profiles: Map<string, WorkloadProfile>;
  readonly #nsLabels: Map<string, Record<string, string>>;
  readonly #services: Map<string, ServiceView>;
  readonly #holders: Holders;
  readonly #names: NameIndex;
  readonly #published = new PrefixTable<PublishedPrefix>();
  /**
   * Pods' flows to DNS servers running as pods (port 53), by server address: who a forwarding CoreDNS pod asked
   * the resolver for, when only the resolver's log names clients.
   */
  readonly #dnsTalkers = new Map<string, { workload: string; pod: string; first: number; last: number }[]>();
  /** Workloads seen serving DNS to pods (and the cluster DNS by its label): forwarders, not consumers. */
  readonly #dnsServers = new Set<string>();
  /** Node-attributed edges, narrowed once every exact endpoint is known. */
  readonly #pending: { edge: InferenceEdge; raws: RawTarget[] }[] = [];
  /** {@link Inference.#forwarded}'s answers, by the askers they were made from. */
  readonly #forwardedOf = new WeakMap<NameAskers, Forwarded>();
  /** The longest span of any edge in {@link #dnsTalkers}. */
  #talkerReach = 0;
  #edges = 0;
  #flows = 0;
  #unattributed = 0;
  #candidateFlows = 0;
  #dataStart = Infinity;
  #dataEnd = -Infinity;

  constructor(
    readonly db: Database.Database,
    readonly opts: InferOptions,
  ) {
    const leases = leasesInWindow(db, opts.since, opts.until);
    this.#profiles = workloadProfiles(leases);
    this.#nsLabels = namespaceLabels(db);
    this.#services = services(db);
    this.#holders = new Holders(leases, nodeAddresses(db));
    const lookback = opts.dnsGrace + 86_400;
    this.#names = new NameIndex(
      addressAnswers(db, opts.since, opts.until, lookback),
      nameQuestions(db, opts.since, opts.until, lookback),
      this.#holders,
      opts.dnsGrace,
    );
    for (const p of [...cloudPrefixes(db), ...(opts.prefixes ?? [])]) {
      const c = parseCidr(p.cidr);
      if (c !== null) this.#published.add(c, { ...p, cidr: c.text });
    }
  }

  run(): { result: InferenceResult; stats: InferenceStats } {
    const filter: FlowFilter = { ...this.opts.filter, since: this.opts.since, until: this.opts.until };
    for (const e of attributedEdges(this.db, { ...filter, action: 'accept' })) this.#take(e);
    this.#narrow();
    const endpoints = this.#endpoints();
    const used = new Set(endpoints.map((e) => e.sender));
    const senders = [...this.#senders.values()].filter((s) => used.has(s.id)).sort((a, b) => cmp(a.id, b.id));
    return {
      result: {
        settings: {
          since: this.opts.since,
          until: this.opts.until,
          maxPrefix4: this.opts.maxPrefix4,
          maxPrefix6: this.opts.maxPrefix6,
          allowAny: this.opts.allowAny,
          wildcardMin: this.opts.wildcardMin,
          minFlows: this.opts.minFlows,
          minDays: this.opts.minDays,
          dnsGrace: this.opts.dnsGrace,
        },
        // The edges' own sightings, not clamped to the window: an edge straddling a relative --since would put the
        // moving window start in every header.
        observed: this.#dataStart <= this.#dataEnd ? { first: this.#dataStart, last: this.#dataEnd } : null,
        senders,
        endpoints,
        inbound: this.#inboundEndpoints(),
        dns: this.#kubeDns(),
      },
      stats: {
        edges: this.#edges,
        flows: this.#flows,
        unattributedFlows: this.#unattributed,
        candidateFlows: this.#candidateFlows,
      },
    };
  }

  #take(e: InferenceEdge): void {
    const protocol = RULE_PROTOCOL_NUMBERS[e.protocol];
    if (protocol === undefined) return;
    this.#edges++;
    this.#flows += e.flows;
    this.#dataStart = Math.min(this.#dataStart, e.firstSeen);
    this.#dataEnd = Math.max(this.#dataEnd, e.lastSeen);
    const toPod = e.dstKind === 'workload' && e.dstClass === 'pod';
    if (toPod && e.port === 53 && e.srcKind === 'workload' && e.dstAddr !== '') {
      this.#dnsServers.add(e.dstName);
      let talkers = this.#dnsTalkers.get(e.dstAddr);
      if (talkers === undefined) this.#dnsTalkers.set(e.dstAddr, (talkers = []));
      talkers.push({
        workload: e.srcWorkloadId,
        pod: e.srcPod === '' ? '' : `${e.srcNamespace}/${e.srcPod}`,
        first: e.firstSeen,
        last: e.lastSeen,
      });
    }
    if (toPod && e.srcKind !== 'workload' && e.srcAddr !== '')
      this.#inboundAcc(e, protocol).add(e, 'exact', 'none');
    switch (e.srcKind) {
      case 'workload': {
        const id = this.#workloadSender(e);
        if (id === null) break;
        // An address several names resolved to: its flows are shared among them, not counted once per name.
        const raws = this.#raws(e, id, e.srcNode);
        for (const r of raws) this.#acc(id, r, e, protocol).add(e, 'exact', r.name, 1 / raws.length);
        return;
      }
      case 'instance': {
        const sender = hostSender(e.srcWorkloadId, 'instance', JSON.parse(e.srcSecurityGroups) as string[]);
        if (!this.#senders.has(sender.id)) this.#senders.set(sender.id, sender);
        const raws = this.#raws(e, null, '');
        for (const r of raws) this.#acc(sender.id, r, e, protocol).add(e, 'exact', r.name, 1 / raws.length);
        return;
      }
      case 'node':
      case 'ambiguous':
        if (e.srcNode !== '' || e.srcCandidates !== '[]') {
          this.#pending.push({ edge: e, raws: this.#raws(e, null, e.srcNode) });
          return;
        }
        break;
    }
    this.#unattributed += e.flows;
  }

  /** Registers the edge's source workload as a sender; null when the inventory has no profile of it. */
  #workloadSender(e: InferenceEdge): string | null {
    const id = e.srcWorkloadId;
    if (this.#senders.has(id)) return id;
    const profile = this.#profiles.get(id);
    const w = workloadOf(id, e.srcCluster);
    if (w === null) return null;
    const p: WorkloadProfile = profile ?? {
      workload: w,
      selector: {},
      pods: 0,
      maxReplicas: 0,
      hostNetwork: false,
      ports: [],
    };
    this.#senders.set(id, workloadSender(p, this.#nsLabels.get(`${w.cluster}/${w.namespace}`) ?? {}));
    return id;
  }

  /** The raw destinations of an edge: a peer, the proxy's name, DNS names of the address, or the address. */
  #raws(e: InferenceEdge, workload: string | null, node: string): RawTarget[] {
    const port = e.port;
    const addr = (): RawTarget => ({
      raw: { kind: 'addr', addr: e.dstAddr, dstClass: e.dstClass, dstName: e.dstName },
      name: 'none',
      match: null,
      port,
    });
    if (e.dstHost !== '')
      return [{ raw: { kind: 'name', name: e.dstHost }, name: 'proxy', match: null, port }];
    // A request the proxy logged to an address: the proxy matches that literal, whatever DNS named it.
    if (edgeVia(e.dstHost, e.sources) === 'proxy') return e.dstAddr === '' ? [] : [addr()];
    if (e.dstKind === 'workload' && e.dstClass === 'pod') {
      const w = workloadOf(e.dstName, e.dstCluster) ?? {
        cluster: e.dstCluster,
        namespace: e.dstNamespace,
        kind: e.dstWorkloadKind,
        name: e.dstWorkloadName,
      };
      return [{ raw: { kind: 'peer', workload: w }, name: 'none', match: null, port }];
    }
    if (e.dstClass === 'service') {
      const peers = this.#servicePeers(e);
      if (peers.length > 0)
        return peers.map((p) => ({
          raw: { kind: 'peer', workload: p.workload },
          name: 'none',
          match: null,
          port: p.port,
        }));
    }
    if (e.dstAddr === '') return [];
    const m = this.#names.namesFor(e.dstAddr, e.firstSeen, e.lastSeen, workload, node);
    if (m !== null)
      return m.names.map((n) => ({ raw: { kind: 'name', name: n }, name: m.evidence, match: m, port }));
    return [addr()];
  }

  /**
   * The workloads whose pods the edge's Service (`namespace/name`) selects, each with the port its pods receive
   * the traffic on: NetworkPolicy and Cilium see the destination after kube-proxy's translation to the targetPort.
   * A port the Service does not list (inventory collected before its ports were stored), or a named targetPort
   * none of the workload's pods declares, keeps the port as observed.
   */
  #servicePeers(e: InferenceEdge): { workload: Workload; port: number }[] {
    const service = this.#services.get(e.dstName);
    if (service === undefined) return [];
    const ns = e.dstName.split('/')[0]!;
    const protocol = RULE_PROTOCOL_NUMBERS[e.protocol];
    const out: { workload: Workload; port: number }[] = [];
    for (const p of this.#profiles.values()) {
      if (p.workload.namespace !== ns || !serviceSelects(service.selector, p.selector)) continue;
      const ports =
        protocol === 'TCP' || protocol === 'UDP' || protocol === 'SCTP'
          ? targetPorts(service.ports, e.port, protocol, p.ports)
          : [];
      for (const port of ports.length > 0 ? ports : [e.port]) out.push({ workload: p.workload, port });
    }
    return out;
  }

  #acc(senderId: string, target: RawTarget, e: InferenceEdge, protocol: RuleProtocol): Acc {
    const raw = target.raw;
    const via = edgeVia(e.dstHost, e.sources);
    const port = protocol === 'ICMP' || protocol === 'ICMPv6' ? 0 : target.port;
    const key = `${senderId}\u0000${rawKey(raw)}\u0000${port}\u0000${protocol}\u0000${via}`;
    let a = this.#accs.get(key);
    if (a === undefined) this.#accs.set(key, (a = new Acc(senderId, raw, port, protocol, via)));
    return a;
  }

  /**
   * SNAT'd and straddling flows: the candidate pods that asked DNS for the destination's name (`dns-client`),
   * else the candidates already known to use the destination (`consistent`), else every candidate workload and
   * the node itself (`candidate`, low confidence): a rule must not break a pod just because its traffic left
   * through the node's address.
   */
  #narrow(): void {
    const dns = this.#kubeDns();
    if (dns !== null)
      for (const p of this.#profiles.values())
        if (p.workload.namespace === dns.namespace && p.selector['k8s-app'] === 'kube-dns')
          this.#dnsServers.add(workloadId(p.workload));
    for (const talkers of this.#dnsTalkers.values()) {
      talkers.sort((a, b) => a.first - b.first);
      for (const t of talkers) this.#talkerReach = Math.max(this.#talkerReach, t.last - t.first);
    }
    const known = new Set<string>();
    for (const a of this.#accs.values()) known.add(`${a.senderId}\u0000${rawKey(a.raw)}`);
    for (const { edge: e, raws } of this.#pending) {
      const protocol = RULE_PROTOCOL_NUMBERS[e.protocol]!;
      const candidates = [
        ...new Set(
          (JSON.parse(e.srcCandidates) as { workload: string; hostNetwork: boolean }[])
            .filter((c) => !c.hostNetwork)
            .map((c) => c.workload),
        ),
      ].sort();
      const askersOf = (r: RawTarget): Forwarded | undefined =>
        this.#forwarded(r.raw.kind === 'name' ? r.match?.byName.get(r.raw.name) : undefined);
      // The VPC CNI translates only traffic leaving the VPC: a node address talking to a pod, a node or a
      // VPC-internal peer is the node itself (kubelet, host-network daemons), not one of its pods.
      if (e.srcKind === 'node' && !OUTSIDE_VPC.has(e.dstClass) && e.srcNode !== '') {
        for (const r of raws) this.#nodeAcc(e, r, protocol).add(e, 'exact', r.name);
        continue;
      }
      // An address answered for several names: when candidates asked for some of them, the flow went to those.
      const asked = raws.filter((r) => candidates.some((w) => askersOf(r)?.askers.has(w) === true));
      const kept = asked.length > 0 && asked.length < raws.length ? asked : raws;
      for (const r of kept) {
        const own = askersOf(r);
        let askers = candidates.filter((w) => own?.askers.has(w) === true);
        if (askers.length === 0 && r.raw.kind === 'name') {
          // No candidate asked while the answer was live, but one may have asked earlier and cached the address.
          const name = r.raw.name;
          const earlier = r.match?.earlier?.(name);
          askers = candidates.filter(
            (w) =>
              !this.#dnsServers.has(w) &&
              (earlier?.has(w) === true || this.#names.askedEarlier(name, w, e.firstSeen)),
          );
        }
        // Candidates that sent queries to the DNS server the resolver saw asking, when it forwarded for pods; a
        // server on the flow's own node hides its neighbours' queries, so it narrows nothing.
        const hidden = own?.forwarderNodes?.has(e.srcNode) === true || e.srcNode === '';
        const talked = hidden ? [] : candidates.filter((w) => own?.talked?.has(w) === true);
        const served = candidates.filter((w) => own?.forwarders?.has(w) !== true);
        const pool = talked.length > 0 ? talked : served;
        const consistent = pool.filter((w) => known.has(`${w}\u0000${rawKey(r.raw)}`));
        let chosen: string[];
        let how: SenderEvidence;
        if (askers.length === 0 && r.match?.nodeAsked === true && e.srcNode !== '') {
          this.#nodeAcc(e, r, protocol).add(e, 'exact', r.name);
          continue;
        }
        if (askers.length > 0) [chosen, how] = [askers, 'dns-client'];
        else if (consistent.length > 0) [chosen, how] = [consistent, 'consistent'];
        else [chosen, how] = [pool, 'candidate'];
        this.#credit(e, r, protocol, chosen, how, 1 / kept.length, own?.askerPods);
        if (how === 'candidate' && e.srcNode !== '') {
          // Nobody could be named: the node's own rule set (security groups) needs it too, as unexplained.
          this.#nodeAcc(e, r, protocol).add(e, 'candidate', r.name);
          this.#candidateFlows += chosen.length > 0 ? e.flows : 0;
        }
      }
    }
  }

  /** Credits `share` of a narrowed edge's flows to `chosen`, split evenly. */
  #credit(
    e: InferenceEdge,
    r: RawTarget,
    protocol: RuleProtocol,
    chosen: readonly string[],
    how: SenderEvidence,
    share: number,
    askerPods?: ReadonlyMap<string, ReadonlySet<string>>,
  ): void {
    for (const w of chosen) {
      const id = this.#registerCandidate(w, e.srcCluster);
      const pods = how === 'dns-client' ? askerPods?.get(w) : undefined;
      if (id !== null) this.#acc(id, r, e, protocol).add(e, how, r.name, share / chosen.length, pods);
    }
  }

  /**
   * The askers of a name without the DNS servers among them: a CoreDNS pod the resolver logged as the client
   * forwarded for pods, and never consumes the answer itself. Without CoreDNS's own query log, the flows to it say
   * which pods may have asked (`talkers`: every pod that sent it queries around the answer; with hourly edges, a
   * weak hint that narrows the candidates, not a DNS client). Pods that share the server's node reach it without
   * crossing an ENI and stay unseen, so a server on the flow's node narrows nothing. A DNS server is a workload
   * seen receiving port 53 from pods, or the cluster DNS by its `k8s-app: kube-dns` label.
   */
  #forwarded(who: NameAskers | undefined): Forwarded | undefined {
    if (who === undefined) return who;
    // A pure function of `who` once the talkers are sorted: asked for again by every edge the answer narrows.
    let out = this.#forwardedOf.get(who);
    if (out === undefined) this.#forwardedOf.set(who, (out = this.#forwardedUncached(who)));
    return out;
  }

  #forwardedUncached(who: NameAskers): Forwarded {
    const serves = (c: AnswerClient): boolean => c.workload !== null && this.#dnsServers.has(c.workload);
    if (!who.clients.some(serves)) return who;
    const askers = new Set<string>();
    const askerPods = new Map<string, Set<string>>();
    const talked = new Set<string>();
    const forwarderNodes = new Set<string>();
    const forwarders = new Set<string>();
    for (const c of who.clients) {
      if (!serves(c)) {
        if (c.workload === null) continue;
        askers.add(c.workload);
        let pods = askerPods.get(c.workload);
        if (pods === undefined) askerPods.set(c.workload, (pods = new Set()));
        if (c.pod !== '') pods.add(c.pod);
        continue;
      }
      forwarderNodes.add(c.node);
      forwarders.add(c.workload!);
      const talkers = this.#dnsTalkers.get(c.client) ?? [];
      // Sorted by first sighting in #narrow; each edge lies within one bucket, so none reaches back further.
      for (let i = upTo(talkers, (t) => t.first, c.last) - 1; i >= 0; i--) {
        const t = talkers[i]!;
        if (t.first < c.first - this.opts.dnsGrace - this.#talkerReach) break;
        if (t.last >= c.first - this.opts.dnsGrace) talked.add(t.workload);
      }
    }
    return { askers, askerPods, clients: who.clients, talked, forwarderNodes, forwarders };
  }

  /** Non-pod clients of a pod workload, by destination workload, client address, port and protocol. */
  #inboundAcc(e: InferenceEdge, protocol: RuleProtocol): Acc {
    const port = protocol === 'ICMP' || protocol === 'ICMPv6' ? 0 : e.port;
    const key = `${e.dstName}\u0000${e.srcAddr}\u0000${port}\u0000${protocol}`;
    let a = this.#inbound.get(key);
    if (a === undefined) {
      const raw: Raw = { kind: 'addr', addr: e.srcAddr, dstClass: e.srcKind, dstName: e.srcWorkloadId };
      this.#inbound.set(key, (a = new Acc(e.dstName, raw, port, protocol, 'direct')));
    }
    return a;
  }

  /** The inbound endpoints: one per destination workload, client, port and protocol. */
  #inboundEndpoints(): InboundEndpoint[] {
    const out: InboundEndpoint[] = [];
    for (const a of this.#inbound.values()) {
      const raw = a.raw as Extract<Raw, { kind: 'addr' }>;
      const destination = workloadOf(a.senderId, '');
      const c = parseCidr(raw.addr);
      if (destination === null || c === null) continue;
      out.push({
        id: fingerprint(`inbound|${a.senderId}|${c.text}|${a.port}/${a.protocol}`),
        destination,
        source: raw.dstName,
        cidrs: [
          { cidr: c.text, basis: 'exact', addresses: 1, provider: '', reason: `client ${raw.dstName}` },
        ],
        port: a.port,
        protocol: a.protocol,
        evidence: {
          flows: flowShare(a.flows),
          packets: Math.round(a.packets),
          bytes: Math.round(a.bytes),
          firstSeen: a.first,
          lastSeen: a.last,
          days: a.days.size,
          pods: 0,
          sources: kindsOf(a.sources),
          sender: 'exact',
          name: 'none',
          addresses: 1,
        },
      });
    }
    return out.sort(
      (x, y) =>
        cmp(workloadId(x.destination), workloadId(y.destination)) ||
        cmp(x.source, y.source) ||
        cmp(x.cidrs[0]!.cidr, y.cidrs[0]!.cidr) ||
        x.port - y.port ||
        cmp(x.protocol, y.protocol),
    );
  }

  /** The accumulator of the edge's node as a sender (registered on first use). */
  #nodeAcc(e: InferenceEdge, target: RawTarget, protocol: RuleProtocol): Acc {
    const node = hostSender(`node/${e.srcNode}`, 'node', JSON.parse(e.srcSecurityGroups) as string[]);
    if (!this.#senders.has(node.id)) this.#senders.set(node.id, node);
    return this.#acc(node.id, target, e, protocol);
  }

  #registerCandidate(id: string, cluster: string): string | null {
    if (this.#senders.has(id)) return id;
    const w = workloadOf(id, cluster);
    if (w === null) return null;
    const p = this.#profiles.get(id) ?? {
      workload: w,
      selector: {},
      pods: 0,
      maxReplicas: 0,
      hostNetwork: false,
      ports: [],
    };
    this.#senders.set(id, workloadSender(p, this.#nsLabels.get(`${w.cluster}/${w.namespace}`) ?? {}));
    return id;
  }

  /** Folds the accumulators per sender, port, protocol and path into endpoints. */
  #endpoints(): Endpoint[] {
    const groups = new Map<string, Acc[]>();
    for (const a of this.#accs.values()) {
      const key = `${a.senderId}\u0000${a.port}\u0000${a.protocol}\u0000${a.via}`;
      const g = groups.get(key);
      if (g === undefined) groups.set(key, [a]);
      else g.push(a);
    }
    const out: Endpoint[] = [];
    for (const accs of groups.values()) {
      const sender = this.#senders.get(accs[0]!.senderId)!;
      for (const [destination, acc] of this.#destinations(accs))
        out.push(this.#endpoint(sender, destination, acc));
    }
    return out.sort(
      (a, b) =>
        cmp(a.sender, b.sender) ||
        cmp(destinationKey(a.destination), destinationKey(b.destination)) ||
        a.port - b.port ||
        cmp(a.protocol, b.protocol) ||
        cmp(a.via, b.via),
    );
  }

  /** One sender × port × protocol × path: its peers, folded names and (folded) addresses. */
  *#destinations(accs: readonly Acc[]): Generator<[Destination, Acc]> {
    const names = new Map<string, Acc>();
    const addrs: Acc[] = [];
    for (const a of accs) {
      if (a.raw.kind === 'peer') {
        const p = this.#profiles.get(
          `${a.raw.workload.namespace}/${a.raw.workload.kind}/${a.raw.workload.name}`,
        );
        yield [
          {
            kind: 'peer',
            workload: a.raw.workload,
            selector: p?.selector ?? {},
            namespaceLabels:
              this.#nsLabels.get(`${a.raw.workload.cluster}/${a.raw.workload.namespace}`) ?? {},
          },
          a,
        ];
      } else if (a.raw.kind === 'name') names.set(a.raw.name, a);
      else addrs.push(a);
    }
    // Generated-looking names never hide inside a wildcard: they stay exact, to be flagged on their own.
    const plain = new Set([...names.keys()].filter((n) => highEntropyLabel(n) === null));
    const folded = [
      ...foldNames([...plain], this.opts.wildcardMin),
      ...[...names.keys()].filter((n) => !plain.has(n)).map((n) => ({ host: n, names: [n] })),
    ];
    for (const f of folded) {
      const acc = new Acc(
        accs[0]!.senderId,
        { kind: 'name', name: f.host },
        accs[0]!.port,
        accs[0]!.protocol,
        accs[0]!.via,
      );
      const sightings = new Map<string, Set<number>>();
      for (const n of f.names) {
        const a = names.get(n)!;
        acc.merge(a);
        for (const [addr, buckets] of this.#names.addressesOf(n)) {
          let s = sightings.get(addr);
          if (s === undefined) sightings.set(addr, (s = new Set()));
          for (const b of buckets) s.add(b);
        }
      }
      for (const [addr, buckets] of acc.addrs) {
        let s = sightings.get(addr);
        if (s === undefined) sightings.set(addr, (s = new Set()));
        for (const b of buckets) s.add(b);
      }
      const cidrs = acc.via === 'proxy' ? [] : this.#fold(sightings);
      yield [{ kind: 'host', host: f.host, names: f.names, cidrs }, acc];
    }
    yield* this.#addressDestinations(addrs);
  }

  /**
   * Addresses without a name: exact, except that several inside one published prefix of a cloud service fold to
   * it (S3 and other regional endpoints hand out addresses across their prefix).
   */
  *#addressDestinations(addrs: readonly Acc[]): Generator<[Destination, Acc]> {
    const byPrefix = new Map<string, { prefix: PublishedPrefix; accs: Acc[] }>();
    const single: Acc[] = [];
    for (const a of addrs) {
      const raw = a.raw as Extract<Raw, { kind: 'addr' }>;
      // A proxied request names its address as its host: a target holds one address, never a prefix.
      const hit =
        raw.dstClass === 'cloud-service' && a.via === 'direct' ? this.#published.lookup(raw.addr) : null;
      if (hit === null || hit.prefix < this.#budget(raw.addr.includes(':') ? 6 : 4)) {
        single.push(a);
        continue;
      }
      // EC2 ranges (and AMAZON, their superset) are rented by anyone: a few raw addresses in them say nothing
      // about the rest. Only a managed service's own prefix (S3, DynamoDB, CloudFront…) is worth folding into.
      const prefix = hit.values.find((v) => !UNFOLDABLE_SERVICES.has(v.service));
      if (prefix === undefined) {
        single.push(a);
        continue;
      }
      const g = byPrefix.get(prefix.cidr);
      if (g === undefined) byPrefix.set(prefix.cidr, { prefix, accs: [a] });
      else g.accs.push(a);
    }
    for (const { prefix, accs } of byPrefix.values()) {
      if (accs.length < FOLD_MIN) {
        single.push(...accs);
        continue;
      }
      const acc = new Acc(accs[0]!.senderId, accs[0]!.raw, accs[0]!.port, accs[0]!.protocol, accs[0]!.via);
      for (const a of accs) acc.merge(a);
      const cidr: FoldedCidr = {
        cidr: prefix.cidr,
        basis: 'published',
        addresses: accs.length,
        provider: `${prefix.service} ${prefix.region}`,
        reason: `${accs.length} distinct addresses without a name, all inside the published ${prefix.service} ${prefix.region} prefix ${prefix.cidr}`,
      };
      yield [
        {
          kind: 'address',
          cidrs: [cidr],
          dstClass: 'cloud-service',
          dstName: `${prefix.service} ${prefix.region}`,
        },
        acc,
      ];
    }
    for (const a of single) {
      const raw = a.raw as Extract<Raw, { kind: 'addr' }>;
      const c = parseCidr(raw.addr)!;
      yield [
        {
          kind: 'address',
          cidrs: [
            {
              cidr: c.text,
              basis: 'exact',
              addresses: 1,
              provider: '',
              reason: 'one address, no name seen for it',
            },
          ],
          dstClass: raw.dstClass,
          dstName: raw.dstName,
        },
        a,
      ];
    }
  }

  /** Address folding within the budget; a fold that would open everything is cut back unless allowed. */
  #fold(sightings: Map<string, Set<number>>): FoldedCidr[] {
    return foldAddresses(sightings, {
      published: this.#published,
      maxPrefix4: this.#budget(4),
      maxPrefix6: this.#budget(6),
    });
  }

  /** The widest prefix a fold may open; without --allow-any at most half the address space (0 reads as 1). */
  #budget(family: 4 | 6): number {
    const max = family === 4 ? this.opts.maxPrefix4 : this.opts.maxPrefix6;
    return this.opts.allowAny ? max : Math.max(1, max);
  }

  #endpoint(sender: Sender, destination: Destination, acc: Acc): Endpoint {
    const addresses =
      destination.kind === 'host'
        ? new Set([
            ...acc.addrs.keys(),
            ...destination.names.flatMap((n) => [...this.#names.addressesOf(n).keys()]),
          ]).size
        : destination.kind === 'address'
          ? destination.cidrs.reduce((n, c) => n + c.addresses, 0)
          : acc.addrs.size;
    const evidence: Evidence = {
      flows: flowShare(acc.flows),
      packets: Math.round(acc.packets),
      bytes: Math.round(acc.bytes),
      firstSeen: acc.first,
      lastSeen: acc.last,
      days: acc.days.size,
      pods: acc.pods.size,
      sources: kindsOf(acc.sources),
      sender: acc.sender,
      name: destination.kind === 'host' ? acc.name : 'none',
      addresses,
    };
    const rep = 0.5 + 0.5 * Math.min(1, (evidence.days - 1 + Math.log10(acc.flows + 1)) / 3);
    const confidence =
      Math.round(SENDER_WEIGHT[evidence.sender] * NAME_WEIGHT[evidence.name] * rep * 100) / 100;
    const rare =
      (this.opts.minFlows > 0 && evidence.flows < this.opts.minFlows) ||
      (this.opts.minDays > 0 && evidence.days < this.opts.minDays);
    // What was observed, not what was asked for: 14 days asked of 1 day of data must not make everything new.
    const span = Math.min(this.opts.until, this.#dataEnd) - Math.max(this.opts.since, this.#dataStart);
    const suspicions = suspicionsOf(sender, destination, acc.port, evidence, {
      dataEnd: Math.min(this.opts.until, this.#dataEnd),
      span,
      dnsSeen: this.#names.size > 0,
    });
    const key = `${sender.id}|${destinationKey(destination)}|${acc.port}/${acc.protocol}|${acc.via}`;
    return {
      id: fingerprint(key),
      sender: sender.id,
      destination,
      port: acc.port,
      protocol: acc.protocol,
      via: acc.via,
      evidence,
      confidence,
      rare,
      suspicions,
    };
  }

  /** The cluster DNS workload (CoreDNS / kube-dns by its conventional label), when the inventory has it. */
  #kubeDns(): InferenceResult['dns'] {
    const hits = [...this.#profiles.values()]
      .filter((p) => p.selector['k8s-app'] === 'kube-dns')
      .sort((a, b) => cmp(a.workload.namespace, b.workload.namespace));
    const p = hits[0];
    return p === undefined ? null : { namespace: p.workload.namespace, selector: { 'k8s-app': 'kube-dns' } };
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * A flow whose sender could be one of several workloads (behind a node's SNAT) counts a share for each, so an
 * endpoint's flows may be fractional: kept to two decimals, since a whole number would show a share below one half
 * as no flow at all.
 */
function flowShare(flows: number): number {
  return Math.round(flows * 100) / 100;
}
