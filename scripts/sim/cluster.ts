/**
 * A simulated EKS cluster with known truth, written as the real inputs egress-learner ingests: kubectl `List`
 * snapshots over time, VPC flow logs (custom v5 with header, both halves), Route 53 Resolver query logs (answers),
 * CoreDNS log lines (askers), squid access logs (a proxied namespace), an ip-ranges.json, plus `truth.json`
 * (what every workload really needs, the planted exfiltration endpoint, and the flows of the window and of the
 * held-out days after it) and `manifest.json` (which file goes to which collector).
 *
 * What makes the cluster hard, on purpose (issue 5):
 * - CDN names answer with a fresh address every hour, drawn from their provider's published prefix;
 * - S3 bucket names answer with any address of the regional S3 prefixes, per query;
 * - every Deployment rolls daily; a new pod takes the address its node freed most recently (the VPC CNI's warm
 *   pool hands freed IPs out again after a short cooldown), so pod IPs move between workloads;
 * - a CronJob's pod runs once a day for five minutes;
 * - a namespace reaches the internet only through squid (CONNECT host:443);
 * - with `snat`, pod traffic leaving the VPC carries its node's address (the VPC CNI default,
 *   AWS_VPC_K8S_CNI_EXTERNALSNAT=false); traffic inside the VPC keeps the pod's address;
 * - one pod of a many-replica Deployment talks to a planted endpoint for a few hours on one day of the window.
 *
 * Deterministic: everything comes from one seeded mulberry32 stream, walked in a fixed order.
 *
 * DNS, simplified: pods send their queries to the CoreDNS pods (that is the flow the logs show), and the Route 53
 * log names the asking pod (`dnsClient: 'pod'`, what egress-learner needs to attribute names to SNAT'd flows) or
 * the CoreDNS pod that forwarded the query (`dnsClient: 'coredns'`, the usual deployment, harder).
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { mulberry32 } from '../../src/util/prng.js';
import {
  corednsLine,
  dayOf,
  REGION,
  rfc3339,
  route53Line,
  squidConnectLine,
  VPC_FLOW_HEADER,
  vpcFlowLine,
  type DnsAnswerRecord,
  type FlowRecord,
} from './formats.js';
import type {
  Labels,
  PlantedEndpoint,
  PodEnd,
  SimFlow,
  Truth,
  TruthEndpoint,
  TruthWorkload,
} from './truth.js';

export interface SimOptions {
  readonly seed: number;
  /** Days of observation the rules are learned from, and held-out days they are judged on. */
  readonly windowDays: number;
  readonly afterDays: number;
  /** Application namespaces (`shop-1` …), each with frontend, backend, worker and a daily report CronJob. */
  readonly namespaces: number;
  /** Replicas of frontend and backend (the planted pod is one of backend's; at least 3). */
  readonly replicas: number;
  readonly nodes: number;
  /** Pod traffic leaving the VPC carries the node's address. */
  readonly snat: boolean;
  /** Seconds between inventory snapshots (there is always one at the window's start and end). */
  readonly snapshotEvery: number;
  /** Multiplies every connection rate (1: the default traffic). */
  readonly rate: number;
  readonly planted: 'raw-ip' | 'dga-name';
  /** The planted endpoint's port; null: an unusual one (4444 for the raw IP, 8444 for the name). */
  readonly plantedPort: number | null;
  readonly dnsClient: 'pod' | 'coredns';
  /**
   * CoreDNS runs the `log` plugin, so its query log names the asking pods. EKS's default Corefile has no `log`:
   * without it (and with `dnsClient: 'coredns'`), only the flows to the CoreDNS pods tell who asked.
   */
  readonly corednsLog: boolean;
  /** Window start, epoch seconds (a UTC midnight). */
  readonly start: number;
  /**
   * The CLOUDFRONT prefixes the two CDN names draw a fresh address from every hour, and the regional S3 prefixes
   * the bucket names draw from per query (all published in ip-ranges.json). Real ones range from /21 to /14.
   */
  readonly cdnCidrs: readonly [string, string];
  readonly s3Cidrs: readonly string[];
  /**
   * What ip-ranges.json publishes for the CDN, in place of `cdnCidrs` (null: the same): a wider prefix of which the
   * names draw from a small block only (CloudFront publishes /10s to /20s; one distribution's edges sit in a few).
   */
  readonly cdnPublished: readonly string[] | null;
  /**
   * Pods cache DNS answers (an application or glibc-less resolver cache): a connection within the cache time of
   * the pod's last lookup of a name reuses its address and sends no query. null: no cache; 0: each answer's TTL
   * (CloudFront 60 s, S3 5 s, SaaS 300 s, RDS 5 s); else that many seconds for every name (the JVM keeps 30 s).
   */
  readonly dnsCache: number | null;
  /**
   * The flow-log aggregation interval, seconds (60 or 600, `max-aggregation-interval`): a TCP connection's record
   * spans up to that long (a keep-alive connection), so a record's first/last seen cover more of a pod's life.
   */
  readonly flowInterval: number;
  /**
   * `ttlSecondsAfterFinished` of the CronJob's Jobs: the Job and its pod are deleted that long after finishing, so
   * a snapshot taken later never lists them (null: kept by `successfulJobsHistoryLimit`, listed for days).
   */
  readonly jobTtl: number | null;
  /**
   * A watch saw the Job pods the snapshots miss: each is written as a single object (`kubectl get pod x -o json`,
   * what a watch event carries) when it started running and when it finished, imported between the snapshots.
   */
  readonly jobWatch: boolean;
}

export const DEFAULT_SIM_OPTIONS: SimOptions = Object.freeze({
  seed: 5,
  windowDays: 7,
  afterDays: 2,
  namespaces: 3,
  replicas: 3,
  nodes: 4,
  snat: true,
  snapshotEvery: 6 * 3600,
  rate: 1,
  planted: 'raw-ip',
  plantedPort: null,
  dnsClient: 'pod',
  corednsLog: true,
  start: Date.UTC(2026, 2, 2) / 1000,
  cdnCidrs: ['205.251.192.0/19', '54.239.128.0/18'] as const,
  s3Cidrs: ['52.218.0.0/17', '3.5.64.0/21'],
  cdnPublished: null,
  dnsCache: null,
  flowInterval: 60,
  jobTtl: null,
  jobWatch: false,
});

/** Which file goes to which collector; k8s snapshots in the order they must be imported. */
export interface SimManifest {
  readonly snapshots: readonly { readonly file: string; readonly at: string }[];
  readonly vpcFlow: readonly string[];
  readonly route53: readonly string[];
  readonly coredns: readonly string[];
  readonly squid: readonly string[];
  readonly ipRanges: string;
  readonly truth: string;
  readonly vpcCidr: string;
  readonly since: string;
  readonly until: string;
}

// ── The network ─────────────────────────────────────────────────────────────────────────────────────────────

const VPC_CIDR = '10.0.0.0/16';
const VPC_RESOLVER = '10.0.0.2';
const SQUID = { ip: '10.0.100.10', port: 3128 };

/** Unrelated published prefixes listed in ip-ranges.json beside the ones the destinations draw from. */
const OTHER_PUBLISHED: readonly { cidr: string; service: string; region: string }[] = [
  { cidr: '3.248.0.0/13', service: 'EC2', region: REGION },
  { cidr: '52.16.0.0/15', service: 'EC2', region: REGION },
  { cidr: '52.94.248.0/22', service: 'AMAZON', region: REGION },
  { cidr: '15.177.0.0/18', service: 'ROUTE53_HEALTHCHECKS', region: 'GLOBAL' },
  { cidr: '13.248.118.0/24', service: 'GLOBALACCELERATOR', region: 'GLOBAL' },
];
const CDN_ASSETS = { name: 'assets.acme-shop.com', cname: 'd3k9x2p7q1m5ab.cloudfront.net' };
const CDN_MEDIA = { name: 'media.acme-img.com', cname: 'd1w8c4n6t2r0yz.cloudfront.net' };
const SAAS: Readonly<Record<string, readonly string[]>> = {
  'api.stripe.com': ['54.187.174.169', '54.187.205.235', '54.187.216.72'],
  'api.sendgrid.com': ['167.89.118.35'],
  'api.partner-billing.com': ['185.199.110.42', '185.199.111.42'],
};
const PROXIED: Readonly<Record<string, string>> = {
  'api.stripe.com': '54.187.174.169',
  'api.paypal.com': '151.101.1.35',
  'hooks.slack.com': '34.227.223.7',
};
/** The TTLs the names are answered with (CloudFront, S3 and RDS endpoints, SaaS APIs), for `dnsCache: 0`. */
const TTL: Partial<Record<TruthEndpoint['kind'], number>> = { cdn: 60, s3: 5, saas: 300, vpc: 5 };
const PLANTED_IP = '185.243.115.84';
const PLANTED_NAME = 'qx7v2m9k4p8z3w6t1n5b.cdn-sync.net';

// ── Small deterministic helpers ─────────────────────────────────────────────────────────────────────────────

type Rng = () => number;

/** FNV-1a of a string: seeds for values that must not depend on the order the stream is walked in. */
function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

function ipToInt(ip: string): number {
  return ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}

function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function cidrSize(cidr: string): number {
  return 2 ** (32 - Number(cidr.split('/')[1]));
}

/** An address of `cidr` chosen by `u` in [0, 1), never the first or last of the block. */
function addressIn(cidr: string, u: number): string {
  const [base, bits] = cidr.split('/');
  const size = 2 ** (32 - Number(bits));
  return intToIp(ipToInt(base!) + 1 + Math.floor(u * (size - 2)));
}

const HASH_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

function token(rnd: Rng, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += HASH_ALPHABET[Math.floor(rnd() * HASH_ALPHABET.length)];
  return s;
}

function uid(rnd: Rng): string {
  const hex = (n: number): string =>
    Array.from({ length: n }, () => Math.floor(rnd() * 16).toString(16)).join('');
  return `${hex(8)}-${hex(4)}-4${hex(3)}-a${hex(3)}-${hex(12)}`;
}

// ── The cluster model ───────────────────────────────────────────────────────────────────────────────────────

interface SimNode {
  readonly name: string;
  readonly ip: string;
  readonly eni: string;
  readonly instance: string;
  readonly subnet: string;
  readonly poolBase: number;
  nextFresh: number;
  /** Freed pod addresses, most recent last: the CNI hands the most recently freed one out first. */
  readonly free: { ip: string; freedAt: number }[];
}

/** How a workload's pods use one endpoint: mean seconds between connections per pod. */
interface Use {
  readonly endpoint: TruthEndpoint;
  readonly every: number;
}

interface WorkloadDef {
  readonly truth: TruthWorkload;
  readonly uses: Use[];
  readonly rolls: boolean;
  readonly containerPorts: PodEnd['ports'];
  readonly namespaceLabels: Labels;
}

interface SimPod {
  readonly uid: string;
  readonly name: string;
  readonly workload: WorkloadDef;
  readonly node: SimNode;
  readonly ip: string;
  readonly created: number;
  readonly start: number;
  /** Deletion (rolled away) or finish (Job pod); Infinity while it lives past the simulation. */
  end: number;
  readonly labels: Labels;
  /** The owning ReplicaSet or Job. */
  readonly owner: { readonly kind: 'ReplicaSet' | 'Job'; readonly name: string; readonly uid: string };
  readonly job: SimJob | null;
}

interface SimReplicaSet {
  readonly name: string;
  readonly uid: string;
  readonly hash: string;
  readonly workload: WorkloadDef;
  readonly created: number;
}

interface SimJob {
  readonly name: string;
  readonly uid: string;
  readonly workload: WorkloadDef;
  readonly scheduled: number;
  readonly finished: number;
  /** Deleted by the TTL-after-finished controller (Infinity: kept by the history limit). */
  readonly deleted: number;
}

const NAMESPACE_CREATED = Date.UTC(2026, 0, 5) / 1000;

class Cluster {
  readonly nodes: SimNode[] = [];
  readonly workloads: WorkloadDef[] = [];
  readonly endpoints: TruthEndpoint[] = [];
  readonly pods: SimPod[] = [];
  readonly #podsOf = new Map<WorkloadDef, SimPod[]>();
  readonly replicaSets: SimReplicaSet[] = [];
  readonly jobs: SimJob[] = [];
  readonly namespaces = new Map<string, Labels>();

  constructor(
    readonly opts: SimOptions,
    readonly rnd: Rng,
  ) {
    for (let i = 0; i < opts.nodes; i++) {
      const ip = `10.0.1.${10 + i}`;
      this.nodes.push({
        name: `ip-10-0-1-${10 + i}.${REGION}.compute.internal`,
        ip,
        eni: `eni-0${(0x5a1b2c3d40 + i).toString(16)}a7e`,
        instance: `i-0${(0x3e4f5a6b70 + i).toString(16)}c9d1`,
        subnet: `subnet-0${(0x1c2d3e4f + (i % 2)).toString(16)}`,
        poolBase: ipToInt(`10.0.${16 + i}.0`),
        nextFresh: 4,
        free: [],
      });
    }
    this.#define();
  }

  #endpoint(e: TruthEndpoint): TruthEndpoint {
    const known = this.endpoints.find((x) => x.id === e.id);
    if (known !== undefined) return known;
    this.endpoints.push(e);
    return e;
  }

  #workload(
    namespace: string,
    kind: 'Deployment' | 'CronJob',
    name: string,
    labels: Labels,
    replicas: number,
    uses: Use[],
    containerPorts: PodEnd['ports'],
    rolls = true,
  ): WorkloadDef {
    const w: WorkloadDef = {
      truth: {
        id: `${namespace}/${kind}/${name}`,
        namespace,
        kind,
        name,
        labels,
        replicas,
        endpoints: [...new Set(uses.map((u) => u.endpoint.id))],
      },
      uses,
      rolls,
      containerPorts,
      namespaceLabels: this.namespaces.get(namespace)!,
    };
    this.workloads.push(w);
    return w;
  }

  /** The workloads and endpoints of the cluster (see the module comment for why each exists). */
  #define(): void {
    const r = this.opts.replicas;
    this.namespaces.set('kube-system', { 'kubernetes.io/metadata.name': 'kube-system' });
    const dns = this.#endpoint({
      id: 'cluster-dns',
      kind: 'dns',
      name: null,
      cidrs: [],
      peer: 'kube-system/Deployment/coredns',
      port: 53,
      protocol: 'UDP',
      viaProxy: false,
    });
    const upstream = this.#endpoint({
      id: 'vpc-resolver',
      kind: 'upstream-dns',
      name: null,
      cidrs: [`${VPC_RESOLVER}/32`],
      peer: null,
      port: 53,
      protocol: 'UDP',
      viaProxy: false,
    });
    this.#workload(
      'kube-system',
      'Deployment',
      'coredns',
      { 'k8s-app': 'kube-dns', 'eks.amazonaws.com/component': 'coredns' },
      2,
      [{ endpoint: upstream, every: 300 }],
      [
        { name: 'dns', port: 53, protocol: 'UDP' },
        { name: 'dns-tcp', port: 53, protocol: 'TCP' },
        { name: 'metrics', port: 9153, protocol: 'TCP' },
      ],
      false,
    );

    const saas = (name: string): TruthEndpoint =>
      this.#endpoint({
        id: `saas/${name}`,
        kind: 'saas',
        name,
        cidrs: SAAS[name]!.map((a) => `${a}/32`),
        peer: null,
        port: 443,
        protocol: 'TCP',
        viaProxy: false,
      });
    const cdn = (c: typeof CDN_ASSETS, cidr: string): TruthEndpoint =>
      this.#endpoint({
        id: `cdn/${c.name}`,
        kind: 'cdn',
        name: c.name,
        cidrs: [cidr],
        peer: null,
        port: 443,
        protocol: 'TCP',
        viaProxy: false,
      });
    for (let i = 1; i <= this.opts.namespaces; i++) {
      const ns = `shop-${i}`;
      this.namespaces.set(ns, { 'kubernetes.io/metadata.name': ns, team: 'shop' });
      const backendId = `${ns}/Deployment/backend`;
      const peer = this.#endpoint({
        id: `${ns}/backend-http`,
        kind: 'peer',
        name: null,
        cidrs: [],
        peer: backendId,
        port: 8080,
        protocol: 'TCP',
        viaProxy: false,
      });
      const bucket = this.#endpoint({
        id: `${ns}/uploads-bucket`,
        kind: 's3',
        name: `acme-${ns}-uploads.s3.${REGION}.amazonaws.com`,
        cidrs: this.opts.s3Cidrs,
        peer: null,
        port: 443,
        protocol: 'TCP',
        viaProxy: false,
      });
      const rds = this.#endpoint({
        id: `${ns}/database`,
        kind: 'vpc',
        name: `${ns}-db.cluster-c9akciq32yz.${REGION}.rds.amazonaws.com`,
        cidrs: [`10.0.200.${10 + i}/32`],
        peer: null,
        port: 5432,
        protocol: 'TCP',
        viaProxy: false,
      });
      const http: PodEnd['ports'] = [{ name: 'http', port: 8080, protocol: 'TCP' }];
      this.#workload(
        ns,
        'Deployment',
        'frontend',
        { app: 'frontend', tier: 'web' },
        r,
        [
          { endpoint: peer, every: 120 },
          { endpoint: cdn(CDN_ASSETS, this.opts.cdnCidrs[0]), every: 300 },
          { endpoint: saas('api.stripe.com'), every: 900 },
          { endpoint: dns, every: 0 },
        ],
        http,
      );
      this.#workload(
        ns,
        'Deployment',
        'backend',
        { app: 'backend', tier: 'api' },
        r,
        [
          { endpoint: rds, every: 180 },
          { endpoint: bucket, every: 300 },
          { endpoint: saas('api.sendgrid.com'), every: 1800 },
          { endpoint: dns, every: 0 },
        ],
        http,
      );
      this.#workload(
        ns,
        'Deployment',
        'worker',
        { app: 'worker' },
        2,
        [
          { endpoint: bucket, every: 600 },
          { endpoint: cdn(CDN_MEDIA, this.opts.cdnCidrs[1]), every: 900 },
          { endpoint: rds, every: 600 },
          { endpoint: dns, every: 0 },
        ],
        [],
      );
      this.#workload(
        ns,
        'CronJob',
        'report',
        { app: 'report' },
        1,
        [
          { endpoint: saas('api.partner-billing.com'), every: 60 },
          { endpoint: bucket, every: 120 },
          { endpoint: rds, every: 60 },
          { endpoint: dns, every: 0 },
        ],
        [],
      );
    }

    this.namespaces.set('legacy', { 'kubernetes.io/metadata.name': 'legacy', egress: 'proxied' });
    const hop = this.#endpoint({
      id: 'legacy/squid',
      kind: 'proxy',
      name: null,
      cidrs: [`${SQUID.ip}/32`],
      peer: null,
      port: SQUID.port,
      protocol: 'TCP',
      viaProxy: false,
    });
    const proxied = (name: string): TruthEndpoint =>
      this.#endpoint({
        id: `legacy/proxied/${name}`,
        kind: 'proxied',
        name,
        cidrs: [],
        peer: null,
        port: 443,
        protocol: 'TCP',
        viaProxy: true,
      });
    this.#workload(
      'legacy',
      'Deployment',
      'checkout',
      { app: 'checkout' },
      2,
      [
        { endpoint: hop, every: 0 },
        { endpoint: proxied('api.stripe.com'), every: 300 },
        { endpoint: proxied('api.paypal.com'), every: 600 },
        { endpoint: proxied('hooks.slack.com'), every: 1800 },
      ],
      [],
    );
  }

  /** A pod address for a new pod on `node` at `t`: the most recently freed one past the cooldown, else a fresh one. */
  #allocate(node: SimNode, t: number): string {
    for (let i = node.free.length - 1; i >= 0; i--) {
      if (node.free[i]!.freedAt <= t - 30) return node.free.splice(i, 1)[0]!.ip;
    }
    return intToIp(node.poolBase + node.nextFresh++);
  }

  #release(pod: SimPod, t: number): void {
    pod.end = t;
    pod.node.free.push({ ip: pod.ip, freedAt: t });
  }

  #replicaSet(w: WorkloadDef, t: number): SimReplicaSet {
    const hash = token(this.rnd, 10);
    const rs: SimReplicaSet = {
      name: `${w.truth.name}-${hash}`,
      uid: uid(this.rnd),
      hash,
      workload: w,
      created: t,
    };
    this.replicaSets.push(rs);
    return rs;
  }

  #deploymentPod(rs: SimReplicaSet, t: number): SimPod {
    const node = this.nodes[Math.floor(this.rnd() * this.nodes.length)]!;
    const pod: SimPod = {
      uid: uid(this.rnd),
      name: `${rs.name}-${token(this.rnd, 5)}`,
      workload: rs.workload,
      node,
      ip: this.#allocate(node, t),
      created: t,
      start: t + 1,
      end: Infinity,
      labels: { ...rs.workload.truth.labels, 'pod-template-hash': rs.hash },
      owner: { kind: 'ReplicaSet', name: rs.name, uid: rs.uid },
      job: null,
    };
    this.#add(pod);
    return pod;
  }

  #add(pod: SimPod): void {
    this.pods.push(pod);
    const list = this.#podsOf.get(pod.workload);
    if (list === undefined) this.#podsOf.set(pod.workload, [pod]);
    else list.push(pod);
  }

  /** Pod lifecycles over the whole simulation: initial pods, daily rollouts at 02:00, the CronJob at 03:00. */
  schedule(until: number): void {
    const live = new Map<WorkloadDef, SimPod[]>();
    const deployments = this.workloads.filter((w) => w.truth.kind === 'Deployment');
    deployments.forEach((w, k) => {
      const t = (w.rolls ? this.opts.start - 2 * 86_400 : this.opts.start - 30 * 86_400) + k * 60;
      const rs = this.#replicaSet(w, t);
      live.set(
        w,
        Array.from({ length: w.truth.replicas }, (_, i) => this.#deploymentPod(rs, t + i * 5)),
      );
    });
    for (let day = this.opts.start; day < until; day += 86_400) {
      // Rolling updates, one workload after the other, one pod at a time (maxSurge 1, maxUnavailable 0).
      let t = day + 2 * 3600;
      for (const w of deployments) {
        if (!w.rolls) continue;
        const rs = this.#replicaSet(w, t);
        const old = live.get(w)!;
        const fresh: SimPod[] = [];
        for (const pod of old) {
          fresh.push(this.#deploymentPod(rs, t));
          this.#release(pod, t + 25);
          t += 40;
        }
        live.set(w, fresh);
        t += 300;
      }
      for (const w of this.workloads) {
        if (w.truth.kind !== 'CronJob') continue;
        const scheduled = day + 3 * 3600;
        const job: SimJob = {
          name: `${w.truth.name}-${Math.floor(scheduled / 60)}`,
          uid: uid(this.rnd),
          workload: w,
          scheduled,
          finished: scheduled + 2 + 300,
          deleted: this.opts.jobTtl === null ? Infinity : scheduled + 2 + 300 + this.opts.jobTtl,
        };
        this.jobs.push(job);
        const node = this.nodes[Math.floor(this.rnd() * this.nodes.length)]!;
        const pod: SimPod = {
          uid: uid(this.rnd),
          name: `${job.name}-${token(this.rnd, 5)}`,
          workload: w,
          node,
          ip: this.#allocate(node, scheduled),
          created: scheduled,
          start: scheduled + 2,
          end: Infinity,
          labels: {
            ...w.truth.labels,
            'batch.kubernetes.io/controller-uid': job.uid,
            'batch.kubernetes.io/job-name': job.name,
            'controller-uid': job.uid,
            'job-name': job.name,
          },
          owner: { kind: 'Job', name: job.name, uid: job.uid },
          job,
        };
        this.#add(pod);
        this.#release(pod, job.finished);
      }
    }
  }

  /** The pods of `w` live at `t`. */
  liveAt(w: WorkloadDef, t: number): SimPod[] {
    return (this.#podsOf.get(w) ?? []).filter((p) => p.start <= t && t < p.end);
  }

  workloadById(id: string): WorkloadDef {
    return this.workloads.find((w) => w.truth.id === id)!;
  }
}

// ── Traffic ─────────────────────────────────────────────────────────────────────────────────────────────────

/** Logs of the window, grouped by the file they go to. */
class Logs {
  readonly flows = new Map<string, { start: number; line: string }[]>();
  readonly route53 = new Map<string, { t: number; line: string }[]>();
  readonly coredns = new Map<string, { t: number; line: string }[]>();
  readonly squid = new Map<string, { t: number; line: string }[]>();

  flow(r: FlowRecord): void {
    const key = `${r.eni}/${dayOf(r.start)}`;
    let list = this.flows.get(key);
    if (list === undefined) this.flows.set(key, (list = []));
    list.push({ start: r.start, line: vpcFlowLine(r) });
  }

  add(map: Map<string, { t: number; line: string }[]>, t: number, line: string): void {
    const key = dayOf(t);
    let list = map.get(key);
    if (list === undefined) map.set(key, (list = []));
    list.push({ t, line });
  }
}

class FlowTable {
  readonly #rows = new Map<string, SimFlow>();

  add(f: Omit<SimFlow, 'count'>): void {
    const key = JSON.stringify([
      f.srcWorkload,
      f.podLabels,
      f.dstIp,
      f.dstName,
      f.dstPod?.labels ?? null,
      f.port,
      f.protocol,
      f.viaProxy,
      f.endpoint,
    ]);
    const row = this.#rows.get(key);
    this.#rows.set(key, { ...f, count: (row?.count ?? 0) + 1 });
  }

  rows(): SimFlow[] {
    return [...this.#rows.values()];
  }
}

class Traffic {
  readonly logs = new Logs();
  readonly window = new FlowTable();
  readonly heldOut = new FlowTable();
  readonly windowEnd: number;
  readonly end: number;
  readonly #coredns: WorkloadDef;
  /** Per pod, per name: the address a cached answer gave and until when it is kept (`dnsCache`). */
  readonly #cache = new Map<SimPod, Map<string, { ip: string; until: number }>>();

  constructor(
    readonly c: Cluster,
    readonly rnd: Rng,
  ) {
    this.windowEnd = c.opts.start + c.opts.windowDays * 86_400;
    this.end = this.windowEnd + c.opts.afterDays * 86_400;
    this.#coredns = c.workloadById('kube-system/Deployment/coredns');
  }

  #inWindow(t: number): boolean {
    return t >= this.c.opts.start && t < this.windowEnd;
  }

  #ephemeral(): number {
    return 32768 + Math.floor(this.rnd() * 28000);
  }

  /**
   * One connection's records: on the sender's ENI, the request and reply halves; for a destination pod on
   * another node, the same two on its ENI too. Pod-to-pod traffic inside one node never reaches an ENI and is not
   * logged (flow logs capture ENI traffic only).
   */
  #records(
    pod: SimPod,
    dstIp: string,
    dstNode: SimNode | null,
    port: number,
    protocol: 'TCP' | 'UDP',
    t: number,
  ): void {
    const external = !dstIp.startsWith('10.');
    if (dstNode === pod.node) return;
    const src = external && this.c.opts.snat ? pod.node.ip : pod.ip;
    const sport = this.#ephemeral();
    const proto = protocol === 'TCP' ? 6 : 17;
    const start = Math.floor(t);
    // A connection's record spans up to the aggregation interval (TCP keep-alive); never past its pod's end.
    const span = protocol === 'TCP' ? Math.max(60, this.c.opts.flowInterval) - 2 : 58;
    const end = Math.max(
      start + 1,
      Math.min(start + 1 + Math.floor(this.rnd() * span), Math.floor(pod.end) - 1),
    );
    const pk = 2 + Math.floor(this.rnd() * 20);
    const rpk = pk + Math.floor(this.rnd() * 10);
    const flags = protocol === 'TCP' ? [3, 19] : [0, 0];
    const path = external ? '8' : '1';
    const halves = (n: SimNode, outward: boolean): void => {
      const base = { eni: n.eni, instance: n.instance, subnet: n.subnet, protocol: proto, start, end };
      this.logs.flow({
        ...base,
        src,
        dst: dstIp,
        srcPort: sport,
        dstPort: port,
        packets: pk,
        bytes: pk * (80 + Math.floor(this.rnd() * 600)),
        tcpFlags: flags[0]!,
        direction: outward ? 'egress' : 'ingress',
        trafficPath: outward ? path : '-',
      });
      this.logs.flow({
        ...base,
        src: dstIp,
        dst: src,
        srcPort: port,
        dstPort: sport,
        packets: rpk,
        bytes: rpk * (200 + Math.floor(this.rnd() * 1200)),
        tcpFlags: flags[1]!,
        direction: outward ? 'ingress' : 'egress',
        trafficPath: outward ? '-' : '1',
      });
    };
    halves(pod.node, true);
    if (dstNode !== null) halves(dstNode, false);
  }

  #podEnd(p: SimPod): PodEnd {
    return {
      namespace: p.workload.truth.namespace,
      workload: p.workload.truth.id,
      labels: p.labels,
      namespaceLabels: p.workload.namespaceLabels,
      ports: p.workload.containerPorts,
    };
  }

  #record(
    pod: SimPod,
    t: number,
    f: Pick<
      SimFlow,
      'dstIp' | 'dstName' | 'dstPod' | 'port' | 'protocol' | 'viaProxy' | 'proxy' | 'endpoint' | 'planted'
    >,
  ): void {
    const table = this.#inWindow(t) ? this.window : t >= this.windowEnd && t < this.end ? this.heldOut : null;
    table?.add({
      srcWorkload: pod.workload.truth.id,
      namespace: pod.workload.truth.namespace,
      podLabels: pod.labels,
      namespaceLabels: pod.workload.namespaceLabels,
      ...f,
    });
  }

  /** A query for `name` from `pod` just before `t`: the DNS flow to a CoreDNS pod, its CoreDNS and Route 53 lines. */
  #lookup(pod: SimPod, name: string, t: number, answers: readonly DnsAnswerRecord[]): void {
    const servers = this.c.liveAt(this.#coredns, t);
    const server = servers[Math.floor(this.rnd() * servers.length)]!;
    const dnsEndpoint = 'cluster-dns';
    this.#record(pod, t, {
      dstIp: server.ip,
      dstName: null,
      dstPod: this.#podEnd(server),
      port: 53,
      protocol: 'UDP',
      viaProxy: false,
      proxy: null,
      endpoint: dnsEndpoint,
      planted: false,
    });
    if (!this.#inWindow(t)) return;
    const q = t - 0.05;
    const port = this.#ephemeral();
    this.#records(pod, server.ip, server.node, 53, 'UDP', q);
    this.logs.add(
      this.logs.coredns,
      q,
      corednsLine({ time: q, client: pod.ip, clientPort: port, id: Math.floor(this.rnd() * 65536), name }),
    );
    const viaPod = this.c.opts.dnsClient === 'pod';
    this.logs.add(
      this.logs.route53,
      q,
      route53Line({
        time: q,
        name,
        answers,
        client: viaPod ? pod.ip : server.ip,
        clientPort: viaPod ? port : this.#ephemeral(),
        instance: (viaPod ? pod : server).node.instance,
      }),
    );
  }

  /** The answers for a name at `t`, and the address the client connects to. */
  #resolve(e: TruthEndpoint, t: number): { answers: DnsAnswerRecord[]; ip: string } {
    switch (e.kind) {
      case 'cdn': {
        const cdn = e.name === CDN_ASSETS.name ? CDN_ASSETS : CDN_MEDIA;
        // A fresh pair of edge addresses every hour, the same for every client in that hour.
        const hour = Math.floor(t / 3600);
        const h = mulberry32(hash32(`${this.c.opts.seed}/${cdn.name}/${hour}`));
        const ips = [addressIn(e.cidrs[0]!, h()), addressIn(e.cidrs[0]!, h())];
        const answers: DnsAnswerRecord[] = [
          { type: 'CNAME', data: cdn.cname },
          ...ips.map((ip) => ({ type: 'A' as const, data: ip })),
        ];
        return { answers, ip: ips[Math.floor(this.rnd() * ips.length)]! };
      }
      case 's3': {
        // Any address of the regional prefixes, weighted by their size, per query.
        const total = e.cidrs.reduce((n, c) => n + cidrSize(c), 0);
        let u = this.rnd() * total;
        let cidr = e.cidrs[0]!;
        for (const c of e.cidrs) {
          if (u < cidrSize(c)) {
            cidr = c;
            break;
          }
          u -= cidrSize(c);
        }
        const ip = addressIn(cidr, this.rnd());
        return {
          answers: [
            { type: 'CNAME', data: `s3-r-w.${REGION}.amazonaws.com` },
            { type: 'A', data: ip },
          ],
          ip,
        };
      }
      case 'saas': {
        const ips = SAAS[e.name!]!;
        const first = Math.floor(this.rnd() * ips.length);
        const order = ips.map((_, i) => ips[(first + i) % ips.length]!);
        return { answers: order.map((ip) => ({ type: 'A', data: ip })), ip: order[0]! };
      }
      case 'vpc': {
        const ip = e.cidrs[0]!.split('/')[0]!;
        return { answers: [{ type: 'A', data: ip }], ip };
      }
      default:
        throw new Error(`no DNS for ${e.kind}`);
    }
  }

  /** The address `pod` connects to for `e` at `t`: from its DNS cache (no query), else from a lookup. */
  #cachedOrLookup(pod: SimPod, e: TruthEndpoint, t: number): string {
    const keep = this.c.opts.dnsCache;
    let mine = keep === null ? undefined : this.#cache.get(pod);
    const hit = mine?.get(e.name!);
    if (hit !== undefined && t < hit.until) return hit.ip;
    const { answers, ip } = this.#resolve(e, t);
    this.#lookup(pod, e.name!, t, answers);
    if (keep !== null) {
      if (mine === undefined) this.#cache.set(pod, (mine = new Map()));
      mine.set(e.name!, { ip, until: t + (keep > 0 ? keep : TTL[e.kind]!) });
    }
    return ip;
  }

  /** One connection of `pod` to `use`'s endpoint at `t`. */
  connect(pod: SimPod, e: TruthEndpoint, t: number): void {
    switch (e.kind) {
      case 'peer': {
        const targets = this.c.liveAt(this.c.workloadById(e.peer!), t);
        const dst = targets[Math.floor(this.rnd() * targets.length)]!;
        this.#record(pod, t, {
          dstIp: dst.ip,
          dstName: null,
          dstPod: this.#podEnd(dst),
          port: e.port,
          protocol: e.protocol,
          viaProxy: false,
          proxy: null,
          endpoint: e.id,
          planted: false,
        });
        if (this.#inWindow(t)) this.#records(pod, dst.ip, dst.node, e.port, e.protocol, t);
        return;
      }
      case 'upstream-dns':
      case 'proxy': {
        const ip = e.cidrs[0]!.split('/')[0]!;
        this.#record(pod, t, {
          dstIp: ip,
          dstName: null,
          dstPod: null,
          port: e.port,
          protocol: e.protocol,
          viaProxy: false,
          proxy: null,
          endpoint: e.id,
          planted: false,
        });
        if (this.#inWindow(t)) this.#records(pod, ip, null, e.port, e.protocol, t);
        return;
      }
      case 'proxied': {
        const origin = PROXIED[e.name!]!;
        this.#record(pod, t, {
          dstIp: origin,
          dstName: e.name,
          dstPod: null,
          port: e.port,
          protocol: e.protocol,
          viaProxy: true,
          proxy: SQUID,
          endpoint: e.id,
          planted: false,
        });
        // The hop to the proxy is a flow of its own, which the pod's NetworkPolicy must allow.
        this.connect(
          pod,
          this.c.endpoints.find((x) => x.kind === 'proxy')!,
          t,
        );
        if (this.#inWindow(t)) {
          this.logs.add(
            this.logs.squid,
            t + 0.2,
            squidConnectLine({
              time: t + 0.2,
              elapsedMs: 40 + Math.floor(this.rnd() * 2000),
              client: pod.ip,
              bytes: 800 + Math.floor(this.rnd() * 30000),
              host: e.name!,
              port: e.port,
              origin,
            }),
          );
        }
        return;
      }
      default: {
        const ip = this.#cachedOrLookup(pod, e, t);
        this.#record(pod, t, {
          dstIp: ip,
          dstName: e.name,
          dstPod: null,
          port: e.port,
          protocol: e.protocol,
          viaProxy: false,
          proxy: null,
          endpoint: e.id,
          planted: false,
        });
        if (this.#inWindow(t)) this.#records(pod, ip, null, e.port, e.protocol, t);
      }
    }
  }

  /** Every connection every pod opens from the window's start to the end of the held-out days. */
  run(): void {
    const { start, rate } = this.c.opts;
    for (const pod of this.c.pods) {
      const from = Math.max(pod.start + 2, start);
      const to = Math.min(pod.end - 2, this.end);
      if (from >= to) continue;
      for (const use of pod.workload.uses) {
        if (use.every === 0) continue; // DNS and the proxy hop come with the connections that need them
        const every = use.every / rate;
        for (let t = from + this.rnd() * every; t < to; t += every * (0.5 + this.rnd())) {
          this.connect(pod, use.endpoint, t);
        }
      }
    }
  }

  /** The compromised pod's connections to the planted endpoint, over [from, to). */
  plant(pod: SimPod, p: PlantedEndpoint, from: number, to: number): void {
    for (let t = from + this.rnd() * 120; t < to; t += 60 + this.rnd() * 120) {
      if (p.name !== null) this.#lookup(pod, p.name, t, [{ type: 'A', data: p.ip }]);
      this.#record(pod, t, {
        dstIp: p.ip,
        dstName: p.name,
        dstPod: null,
        port: p.port,
        protocol: 'TCP',
        viaProxy: false,
        proxy: null,
        endpoint: 'planted',
        planted: true,
      });
      if (this.#inWindow(t)) this.#records(pod, p.ip, null, p.port, 'TCP', t);
    }
  }
}

// ── Inventory snapshots ─────────────────────────────────────────────────────────────────────────────────────

function meta(
  name: string,
  namespace: string | null,
  uidText: string,
  created: number,
  extra: object = {},
): object {
  return {
    name,
    ...(namespace === null ? {} : { namespace }),
    uid: uidText,
    resourceVersion: String(hash32(uidText) % 10_000_000),
    creationTimestamp: rfc3339(created),
    ...extra,
  };
}

/** `kubectl get pods,nodes,services,namespaces,replicasets,jobs,deployments,cronjobs -A -o json` at `at`. */
function snapshot(c: Cluster, at: number): object {
  const items: object[] = [];
  for (const [ns, labels] of c.namespaces) {
    items.push({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: meta(ns, null, `ns-${ns}`, NAMESPACE_CREATED, { labels }),
      spec: { finalizers: ['kubernetes'] },
      status: { phase: 'Active' },
    });
  }
  for (const n of c.nodes) {
    items.push({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: meta(n.name, null, `node-${n.ip}`, NAMESPACE_CREATED, {
        labels: {
          'kubernetes.io/hostname': n.name,
          'kubernetes.io/os': 'linux',
          'node.kubernetes.io/instance-type': 'm6i.large',
          'topology.kubernetes.io/region': REGION,
          'topology.kubernetes.io/zone': `${REGION}${'abc'[c.nodes.indexOf(n) % 3]}`,
        },
      }),
      spec: { providerID: `aws:///${REGION}a/${n.instance}` },
      status: {
        addresses: [
          { type: 'InternalIP', address: n.ip },
          { type: 'InternalDNS', address: n.name },
          { type: 'Hostname', address: n.name },
        ],
      },
    });
  }
  const services: [string, string, string, Labels, object[]][] = [
    [
      'kube-system',
      'kube-dns',
      '172.20.0.10',
      { 'k8s-app': 'kube-dns' },
      [
        { name: 'dns', port: 53, protocol: 'UDP', targetPort: 53 },
        { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 53 },
      ],
    ],
  ];
  for (let i = 1; i <= c.opts.namespaces; i++) {
    services.push([
      `shop-${i}`,
      'backend',
      `172.20.${10 + i}.20`,
      { app: 'backend' },
      [{ name: 'http', port: 8080, protocol: 'TCP', targetPort: 'http' }],
    ]);
  }
  for (const [ns, name, ip, selector, ports] of services) {
    items.push({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(name, ns, `svc-${ns}-${name}`, NAMESPACE_CREATED),
      spec: { type: 'ClusterIP', clusterIP: ip, clusterIPs: [ip], selector, ports },
    });
  }
  for (const w of c.workloads) {
    const t = w.truth;
    if (t.kind === 'Deployment') {
      items.push({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: meta(t.name, t.namespace, `deploy-${t.id}`, NAMESPACE_CREATED, { labels: t.labels }),
        spec: {
          replicas: t.replicas,
          selector: { matchLabels: t.labels },
          template: { metadata: { labels: t.labels } },
        },
      });
    } else {
      items.push({
        apiVersion: 'batch/v1',
        kind: 'CronJob',
        metadata: meta(t.name, t.namespace, `cronjob-${t.id}`, NAMESPACE_CREATED, { labels: t.labels }),
        spec: {
          schedule: '0 3 * * *',
          successfulJobsHistoryLimit: 3,
          jobTemplate: { spec: { template: { metadata: { labels: t.labels } } } },
        },
      });
    }
  }
  // The current and the previous ReplicaSet of each Deployment (revisionHistoryLimit keeps more; two suffice).
  const byWorkload = new Map<WorkloadDef, SimReplicaSet[]>();
  for (const rs of c.replicaSets) {
    if (rs.created > at) continue;
    byWorkload.set(rs.workload, [...(byWorkload.get(rs.workload) ?? []), rs].slice(-2));
  }
  for (const list of byWorkload.values()) {
    list.forEach((rs, i) => {
      const t = rs.workload.truth;
      const replicas = i === list.length - 1 ? t.replicas : 0;
      items.push({
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        metadata: meta(rs.name, t.namespace, rs.uid, rs.created, {
          labels: { ...t.labels, 'pod-template-hash': rs.hash },
          ownerReferences: [
            {
              apiVersion: 'apps/v1',
              kind: 'Deployment',
              name: t.name,
              uid: `deploy-${t.id}`,
              controller: true,
              blockOwnerDeletion: true,
            },
          ],
        }),
        spec: { replicas },
        status: { replicas },
      });
    });
  }
  // Jobs kept by successfulJobsHistoryLimit: 3 (and not yet deleted by their TTL), with their pods.
  const jobs: SimJob[] = [];
  for (const w of c.workloads)
    jobs.push(...c.jobs.filter((j) => j.workload === w && j.scheduled <= at && j.deleted > at).slice(-3));
  for (const j of jobs) {
    const t = j.workload.truth;
    const done = j.finished <= at;
    items.push({
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: meta(j.name, t.namespace, j.uid, j.scheduled, {
        labels: { ...t.labels, 'batch.kubernetes.io/job-name': j.name, 'job-name': j.name },
        ownerReferences: [
          {
            apiVersion: 'batch/v1',
            kind: 'CronJob',
            name: t.name,
            uid: `cronjob-${t.id}`,
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      }),
      status: done ? { succeeded: 1, completionTime: rfc3339(j.finished) } : { active: 1 },
    });
  }
  for (const p of c.pods) {
    const isJobPod = p.job !== null;
    if (p.created > at) continue;
    if (isJobPod ? !jobs.includes(p.job!) : p.end <= at) continue;
    items.push(podItem(p, at));
  }
  return { apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: '' }, items };
}

/** A Pod object as the API shows it at `at` (in a listing, or alone as a watch event carries it). */
function podItem(p: SimPod, at: number): object {
  const isJobPod = p.job !== null;
  const finished = isJobPod && p.job!.finished <= at;
  const container = p.workload.truth.name;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: meta(p.name, p.workload.truth.namespace, p.uid, p.created, {
      labels: p.labels,
      ownerReferences: [
        {
          apiVersion: isJobPod ? 'batch/v1' : 'apps/v1',
          kind: p.owner.kind,
          name: p.owner.name,
          uid: p.owner.uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    }),
    spec: {
      nodeName: p.node.name,
      dnsPolicy: 'ClusterFirst',
      restartPolicy: isJobPod ? 'OnFailure' : 'Always',
      containers: [
        {
          name: container,
          image: `123456789012.dkr.ecr.${REGION}.amazonaws.com/${container}:1.4.2`,
          ports: p.workload.containerPorts.map((cp) => ({
            name: cp.name,
            containerPort: cp.port,
            protocol: cp.protocol,
          })),
        },
      ],
    },
    status: {
      phase: finished ? 'Succeeded' : 'Running',
      hostIP: p.node.ip,
      podIP: p.ip,
      podIPs: [{ ip: p.ip }],
      startTime: rfc3339(p.start),
      containerStatuses: [
        {
          name: container,
          ready: !finished,
          restartCount: 0,
          state: finished
            ? {
                terminated: {
                  exitCode: 0,
                  reason: 'Completed',
                  startedAt: rfc3339(p.start),
                  finishedAt: rfc3339(p.job!.finished),
                },
              }
            : { running: { startedAt: rfc3339(p.start) } },
        },
      ],
    },
  };
}

function ipRangesDocument(opts: SimOptions): object {
  const start = opts.start;
  const published = [
    ...(opts.cdnPublished ?? opts.cdnCidrs).map((cidr) => ({
      cidr,
      service: 'CLOUDFRONT',
      region: 'GLOBAL',
    })),
    ...opts.s3Cidrs.map((cidr) => ({ cidr, service: 'S3', region: REGION })),
    ...OTHER_PUBLISHED,
  ];
  return {
    syncToken: String(start - 86_400),
    createDate: rfc3339(start - 86_400)
      .replace(/[T:]/g, '-')
      .slice(0, 19),
    prefixes: published.flatMap((p) => {
      const entry = {
        ip_prefix: p.cidr,
        region: p.region,
        service: p.service,
        network_border_group: p.region,
      };
      // ip-ranges.json lists every service prefix under AMAZON as well.
      return p.service === 'AMAZON' ? [entry] : [{ ...entry, service: 'AMAZON' }, entry];
    }),
    ipv6_prefixes: [
      {
        ipv6_prefix: '2600:9000::/28',
        region: 'GLOBAL',
        service: 'CLOUDFRONT',
        network_border_group: 'GLOBAL',
      },
      { ipv6_prefix: '2a05:d07a:a000::/40', region: REGION, service: 'S3', network_border_group: REGION },
    ],
  };
}

// ── Entry points ────────────────────────────────────────────────────────────────────────────────────────────

/** Generates the cluster, writes every file under `dir` (emptied first) and returns the manifest and truth. */
export function generateCluster(
  dir: string,
  options: Partial<SimOptions> = {},
): { manifest: SimManifest; truth: Truth } {
  const opts: SimOptions = { ...DEFAULT_SIM_OPTIONS, ...options };
  if (opts.replicas < 3) throw new Error('replicas: at least 3 (the planted pod must be one of many)');
  const rnd = mulberry32(opts.seed);
  const cluster = new Cluster(opts, rnd);
  const windowEnd = opts.start + opts.windowDays * 86_400;
  const end = windowEnd + opts.afterDays * 86_400;
  cluster.schedule(end);
  const traffic = new Traffic(cluster, rnd);
  traffic.run();

  // The planted endpoint: one backend pod of shop-1, a few hours on one day in the middle of the window, and
  // again on the first held-out day (the attacker kept a foothold).
  const backend = cluster.workloadById('shop-1/Deployment/backend');
  const plantDay = opts.start + Math.floor(opts.windowDays / 2) * 86_400;
  const from = plantDay + 13 * 3600;
  const to = plantDay + 16 * 3600;
  const victim = cluster.liveAt(backend, from).sort((a, b) => (a.name < b.name ? -1 : 1))[0]!;
  const planted: PlantedEndpoint = {
    kind: opts.planted,
    ip: PLANTED_IP,
    name: opts.planted === 'dga-name' ? PLANTED_NAME : null,
    port: opts.plantedPort ?? (opts.planted === 'dga-name' ? 8444 : 4444),
    protocol: 'TCP',
    workload: backend.truth.id,
    pod: victim.name,
    from,
    to,
  };
  traffic.plant(victim, planted, from, to);
  if (opts.afterDays > 0) {
    const later = windowEnd + 13 * 3600;
    const again = cluster.liveAt(backend, later).sort((a, b) => (a.name < b.name ? -1 : 1))[0]!;
    traffic.plant(again, planted, later, later + 2 * 3600);
  }

  const root = resolve(dir);
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  const write = (rel: string, text: string): string => {
    const path = join(root, rel);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, text);
    return path;
  };

  const snapshots: { file: string; at: string }[] = [];
  const times = new Set<number>();
  for (let t = opts.start; t < windowEnd; t += opts.snapshotEvery) times.add(t);
  times.add(windowEnd);
  // What a watch saw of the Job pods, as single objects: running from its start, then finished.
  const watched: { t: number; pod: SimPod }[] = [];
  if (opts.jobWatch) {
    for (const p of cluster.pods) {
      if (p.job === null || p.start >= windowEnd || p.job.finished < opts.start) continue;
      watched.push({ t: p.start + 1, pod: p }, { t: p.job.finished + 1, pod: p });
    }
  }
  const views = [
    ...[...times].map((t) => ({ t, pod: null as SimPod | null })),
    ...watched.filter((w) => w.t >= opts.start && w.t <= windowEnd),
  ].sort((a, b) => a.t - b.t || (a.pod === null ? -1 : 1));
  for (const v of views) {
    const stamp = rfc3339(v.t).replace(/:/g, '');
    const file =
      v.pod === null
        ? write(`k8s/${stamp}.json`, `${JSON.stringify(snapshot(cluster, v.t), null, 1)}\n`)
        : write(`k8s/${stamp}-${v.pod.name}.json`, `${JSON.stringify(podItem(v.pod, v.t), null, 1)}\n`);
    snapshots.push({ file, at: rfc3339(v.t) });
  }
  const vpcFlow: string[] = [];
  for (const [key, list] of [...traffic.logs.flows].sort()) {
    list.sort((a, b) => a.start - b.start);
    vpcFlow.push(write(`vpcflow/${key}.log`, `${VPC_FLOW_HEADER}\n${list.map((x) => x.line).join('\n')}\n`));
  }
  const lines = (map: Map<string, { t: number; line: string }[]>, prefix: string): string[] =>
    [...map].sort().map(([day, list]) =>
      write(
        `${prefix}${day}.log`,
        `${list
          .sort((a, b) => a.t - b.t)
          .map((x) => x.line)
          .join('\n')}\n`,
      ),
    );
  const route53 = lines(traffic.logs.route53, 'dns/route53/');
  const coredns = opts.corednsLog ? lines(traffic.logs.coredns, 'dns/coredns/') : [];
  const squid = lines(traffic.logs.squid, 'squid/access-');
  const ipRanges = write('ip-ranges.json', `${JSON.stringify(ipRangesDocument(opts), null, 2)}\n`);

  const truth: Truth = {
    seed: opts.seed,
    window: { since: opts.start, until: windowEnd },
    after: { since: windowEnd, until: end },
    snat: opts.snat,
    vpcCidr: VPC_CIDR,
    workloads: cluster.workloads.map((w) => w.truth),
    endpoints: cluster.endpoints,
    planted,
    windowFlows: traffic.window.rows(),
    heldOut: traffic.heldOut.rows(),
  };
  const truthFile = write('truth.json', `${JSON.stringify(truth)}\n`);
  const manifest: SimManifest = {
    snapshots,
    vpcFlow,
    route53,
    coredns,
    squid,
    ipRanges,
    truth: truthFile,
    vpcCidr: VPC_CIDR,
    since: rfc3339(opts.start),
    until: rfc3339(windowEnd),
  };
  write('manifest.json', `${JSON.stringify(manifest, null, 2)}\n`);
  return { manifest, truth };
}

/** `node dist/scripts/sim/cluster.js <dir> [seed]`: writes a default-size cluster. */
if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const dir = process.argv[2] ?? 'sim-out';
  const seed = process.argv[3] === undefined ? DEFAULT_SIM_OPTIONS.seed : Number(process.argv[3]);
  const { manifest, truth } = generateCluster(dir, { seed });
  process.stdout.write(
    `wrote ${manifest.snapshots.length} snapshots, ${manifest.vpcFlow.length} flow-log files, ` +
      `${manifest.route53.length} Route 53 files, ${manifest.squid.length} squid files to ${dir}; ` +
      `${truth.heldOut.length} held-out flow shapes\n`,
  );
}
