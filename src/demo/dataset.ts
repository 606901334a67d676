/**
 * The embedded demo dataset: three days of a small EKS-like cluster, in the formats the collectors read.
 * Generated, not stored, so it stays small in the repository and identical on every run.
 *
 * - shop/checkout (Deployment, 2 replicas, rolled out daily; pod IPs are reused, once by cart) talks to an
 *   RDS address in the VPC, to cart on 8080, to an S3 bucket whose addresses rotate inside the regional S3
 *   prefix, and to a CDN name that hands out a new CloudFront address every hour.
 * - shop/cart calls Stripe (two fixed addresses); batch/report (a CronJob) calls GitHub once a day.
 * - Pod traffic to the internet leaves through the node's address (the VPC CNI's SNAT): the flow logs show the
 *   node; CoreDNS logs show which pod asked for which name; the Route 53 Resolver log shows the answers CoreDNS
 *   got. Together they name both the pod and the destination.
 * - corp/crm reaches SaaS names only through the egress squid (10.0.5.5:3128).
 * - On the last day one checkout pod sends to a raw address on port 4444: the planted exfiltration.
 * - A few broken lines show quarantine.
 */
import { mulberry32 } from '../util/prng.js';
import {
  corednsLine,
  ipRangesDocument,
  listDocument,
  namespaceObject,
  nodeObject,
  ownerObject,
  podObject,
  route53Line,
  serviceObject,
  squidLine,
  VPC_FIELDS,
  vpcFlowLines,
} from './formats.js';

export interface DemoFile {
  readonly name: string;
  /** The collect command that reads it, and its extra arguments. */
  readonly collect: readonly string[];
  readonly text: string;
}

export const DEMO_START = Date.UTC(2026, 10, 20) / 1000;
export const DEMO_DAYS = 3;
export const DEMO_END = DEMO_START + DEMO_DAYS * 86_400;

const HOUR = 3600;
const DAY = 86_400;
const NODES = { 'node-a': '10.0.0.11', 'node-b': '10.0.0.12' } as const;
type NodeName = keyof typeof NODES;
const COREDNS = '10.0.1.2';
const RDS = '10.0.20.5';
const PROXY = '10.0.5.5';
const STRIPE = ['54.187.174.169', '54.187.216.72'];
const GITHUB = '140.82.112.3';
const EXFIL = '203.0.113.66';

interface DemoPod {
  readonly namespace: string;
  readonly name: string;
  readonly workload: string;
  readonly owner: { kind: 'ReplicaSet' | 'Job'; name: string; top: { kind: string; name: string } } | null;
  readonly labels: Record<string, string>;
  readonly node: NodeName;
  readonly ip: string;
  readonly start: number;
  readonly end: number;
}

/** Every pod of the three days, with when it ran. */
function pods(): DemoPod[] {
  const out: DemoPod[] = [];
  const rs = (ns: string, deploy: string, hash: string) => ({
    kind: 'ReplicaSet' as const,
    name: `${deploy}-${hash}`,
    top: { kind: 'Deployment', name: deploy },
  });
  out.push({
    namespace: 'kube-system',
    name: 'coredns-5d78c9869d-x2k8q',
    workload: 'coredns',
    owner: rs('kube-system', 'coredns', '5d78c9869d'),
    labels: { 'k8s-app': 'kube-dns', 'pod-template-hash': '5d78c9869d' },
    node: 'node-a',
    ip: COREDNS,
    start: DEMO_START - 10 * DAY,
    end: DEMO_END + DAY,
  });
  const checkoutIps = [
    ['10.0.1.17', '10.0.2.17'],
    ['10.0.1.18', '10.0.2.18'],
    ['10.0.1.19', '10.0.2.17'],
  ];
  const cartIps = ['10.0.1.30', '10.0.1.17', '10.0.1.30'];
  for (let d = 0; d < DEMO_DAYS; d++) {
    const from = d === 0 ? DEMO_START - DAY : DEMO_START + d * DAY;
    const to = d === DEMO_DAYS - 1 ? DEMO_END + DAY : DEMO_START + (d + 1) * DAY;
    const hash = ['7c9d5f6b8', '6f4b8c7d9', '58d7c9f6b'][d]!;
    checkoutIps[d]!.forEach((ip, i) =>
      out.push({
        namespace: 'shop',
        name: `checkout-${hash}-${['a1b2c', 'd3e4f'][i]}`,
        workload: 'checkout',
        owner: rs('shop', 'checkout', hash),
        labels: { app: 'checkout', tier: 'web', 'pod-template-hash': hash },
        node: i === 0 ? 'node-a' : 'node-b',
        ip,
        start: from,
        end: to,
      }),
    );
    const cartHash = ['9b8c7d6e5', '8a7b6c5d4', '7f6e5d4c3'][d]!;
    out.push({
      namespace: 'shop',
      name: `cart-${cartHash}-q9w8e`,
      workload: 'cart',
      owner: rs('shop', 'cart', cartHash),
      labels: { app: 'cart', tier: 'api', 'pod-template-hash': cartHash },
      node: 'node-a',
      ip: cartIps[d]!,
      start: from,
      end: to,
    });
    const job = `report-${29_389_000 + d}`;
    out.push({
      namespace: 'batch',
      name: `${job}-k7j6h`,
      workload: 'report',
      owner: { kind: 'Job', name: job, top: { kind: 'CronJob', name: 'report' } },
      labels: { app: 'report', 'batch.kubernetes.io/job-name': job },
      node: 'node-b',
      ip: `10.0.2.${40 + d}`,
      start: DEMO_START + d * DAY + 2 * HOUR,
      end: DEMO_START + d * DAY + 2 * HOUR + 600,
    });
  }
  for (const [i, ip] of ['10.0.2.21', '10.0.2.22'].entries()) {
    out.push({
      namespace: 'corp',
      name: `crm-5f6d7c8b9-${['m1n2b', 'v3c4x'][i]}`,
      workload: 'crm',
      owner: rs('corp', 'crm', '5f6d7c8b9'),
      labels: { app: 'crm', 'pod-template-hash': '5f6d7c8b9' },
      node: 'node-b',
      ip,
      start: DEMO_START - 5 * DAY,
      end: DEMO_END + DAY,
    });
  }
  return out;
}

/** Snapshot times: every six hours, plus one while the daily report job runs. */
function snapshotTimes(): number[] {
  const out: number[] = [];
  for (let d = 0; d < DEMO_DAYS; d++) {
    const day = DEMO_START + d * DAY;
    out.push(day + 1, day + 2 * HOUR + 300, day + 6 * HOUR, day + 12 * HOUR, day + 18 * HOUR);
  }
  out.push(DEMO_END);
  return out;
}

function snapshot(all: readonly DemoPod[], at: number): string {
  const running = all.filter((p) => p.start <= at && p.end > at);
  const owners = new Map<string, Record<string, unknown>>();
  for (const p of running) {
    if (p.owner !== null)
      owners.set(
        `${p.namespace}/${p.owner.name}`,
        ownerObject(p.owner.kind, p.namespace, p.owner.name, p.owner.top),
      );
  }
  const items = [
    ...['shop', 'corp', 'batch', 'kube-system', 'default'].map((n) =>
      namespaceObject(
        n,
        n === 'corp' ? { team: 'corp', egress: 'proxy' } : n === 'shop' ? { team: 'shop' } : {},
        DEMO_START - 30 * DAY,
      ),
    ),
    ...Object.entries(NODES).map(([n, ip]) => nodeObject(n, ip, DEMO_START - 30 * DAY)),
    serviceObject('shop', 'cart', '172.20.10.10', { app: 'cart' }, DEMO_START - 30 * DAY),
    ...owners.values(),
    ...running.map((p) =>
      podObject({
        namespace: p.namespace,
        name: p.name,
        uid: `uid-${p.name}`,
        owner: p.owner === null ? null : { kind: p.owner.kind, name: p.owner.name },
        labels: p.labels,
        node: p.node,
        ip: p.ip,
        started: p.start,
      }),
    ),
  ];
  return listDocument(items);
}

function iso(t: number): string {
  return new Date(t * 1000).toISOString().replace('.000Z', 'Z');
}

interface Logs {
  flows: string[];
  route53: string[];
  coredns: string[];
  squid: string[];
}

/** Generates the traffic of every pod over the three days. */
function traffic(all: readonly DemoPod[]): Logs {
  const rnd = mulberry32(7);
  const logs: Logs = { flows: [VPC_FIELDS], route53: [], coredns: [], squid: [] };
  const port = () => 32768 + Math.floor(rnd() * 28000);
  const flow = (src: string, dst: string, dstPort: number, t: number, protocol = 6) => {
    const packets = 3 + Math.floor(rnd() * 20);
    logs.flows.push(
      ...vpcFlowLines({
        src,
        dst,
        srcPort: port(),
        dstPort,
        protocol,
        start: Math.floor(t),
        packets,
        bytes: packets * (60 + Math.floor(rnd() * 1200)),
        replyPackets: packets + 2,
        replyBytes: (packets + 2) * 900,
      }),
    );
  };
  /** A pod resolves `name` through CoreDNS, which asks Route 53 and gets `answers`. */
  const resolve = (pod: DemoPod, name: string, answers: readonly string[], t: number) => {
    logs.coredns.push(corednsLine(t, pod.ip, port(), Math.floor(rnd() * 65535), name));
    logs.route53.push(route53Line(t + 0.002, COREDNS, name, answers));
    flow(pod.ip, COREDNS, 53, t, 17);
  };
  /** Internet-bound traffic leaves with the node's address (SNAT). */
  const out = (pod: DemoPod, dst: string, dstPort: number, t: number) =>
    flow(NODES[pod.node], dst, dstPort, t);
  const live = (p: DemoPod, t: number) => p.start <= t && p.end > t;
  const cdnAt = (t: number) => {
    const h = Math.floor((t - DEMO_START) / HOUR);
    return `13.32.${(h * 5) % 16}.${(h * 37 + 11) % 250}`;
  };
  const s3At = (t: number) => {
    const r = mulberry32(Math.floor(t / 1800));
    return `54.231.${Math.floor(r() * 256)}.${1 + Math.floor(r() * 250)}`;
  };

  for (let t = DEMO_START; t < DEMO_END; t += 300) {
    for (const p of all.filter((x) => live(x, t))) {
      const j = t + Math.floor(rnd() * 200);
      if (p.workload === 'checkout') {
        if ((t / 300) % 2 === 0) flow(p.ip, RDS, 5432, j);
        const cart = all.find((x) => x.workload === 'cart' && live(x, t))!;
        flow(p.ip, cart.ip, 8080, j + 5);
        if ((t / 300) % 6 === 0) {
          const s3 = s3At(j);
          resolve(p, 'shop-assets.s3.us-east-1.amazonaws.com', [s3], j + 10);
          out(p, s3, 443, j + 11);
        }
        if ((t / 300) % 4 === 1) {
          const cdn = cdnAt(j);
          resolve(p, 'static.shopcdn.net', [cdn], j + 20);
          out(p, cdn, 443, j + 21);
        }
        const lastDay = t >= DEMO_END - DAY;
        if (lastDay && p.node === 'node-b' && (t - DEMO_START) % (3 * HOUR) === 0)
          out(p, EXFIL, 4444, j + 30);
      } else if (p.workload === 'cart' && (t / 300) % 3 === 0) {
        resolve(p, 'api.stripe.com', STRIPE, j);
        out(p, STRIPE[Math.floor(rnd() * 2)]!, 443, j + 1);
      } else if (p.workload === 'report' && t === p.start) {
        resolve(p, 'api.github.com', [GITHUB], j);
        out(p, GITHUB, 443, j + 1);
      } else if (p.workload === 'crm' && (t / 300) % 2 === 0) {
        const target = ['crm.example-saas.com:443', 'login.example-saas.com:443', 'api.hubapi.com:443'][
          Math.floor(rnd() * 3)
        ]!;
        flow(p.ip, PROXY, 3128, j);
        logs.squid.push(
          squidLine(j + 0.5, p.ip, 'CONNECT', target, 800 + Math.floor(rnd() * 20000), '198.51.100.10'),
        );
      }
    }
  }
  // Broken lines: quarantined with file, line and reason, never lost silently.
  logs.flows.push(
    '5 123456789012 eni-0a1b2c3d4e5f60718 10.0.1.17 not-an-ip 40000 443 6 1 60 1763600000 1763600060 ACCEPT OK',
  );
  logs.squid.push(`${(DEMO_START + 5100).toFixed(3)} garbage line that is not squid`);
  logs.squid.sort();
  return logs;
}

/** The demo's input files, in the order they are collected (inventory first, then DNS, flows and proxy logs). */
export function demoFiles(): DemoFile[] {
  const all = pods();
  const files: DemoFile[] = snapshotTimes().map((t, i) => ({
    name: `k8s/snapshot-${String(i).padStart(2, '0')}.json`,
    collect: ['k8s', '--snapshot', '{}', '--at', iso(t)],
    text: snapshot(all, t),
  }));
  const logs = traffic(all);
  files.push(
    {
      name: 'aws/ip-ranges.json',
      collect: ['aws-inventory', '{}'],
      text: ipRangesDocument(
        [
          { cidr: '13.32.0.0/20', service: 'CLOUDFRONT', region: 'GLOBAL' },
          { cidr: '13.32.0.0/15', service: 'AMAZON', region: 'GLOBAL' },
          { cidr: '54.231.0.0/16', service: 'S3', region: 'us-east-1' },
          { cidr: '54.231.0.0/16', service: 'AMAZON', region: 'us-east-1' },
          { cidr: '52.94.0.0/22', service: 'DYNAMODB', region: 'us-east-1' },
        ],
        DEMO_START,
      ),
    },
    {
      name: 'dns/coredns.log',
      collect: ['dns', '--format', 'coredns', '{}'],
      text: `${logs.coredns.join('\n')}\n`,
    },
    {
      name: 'dns/route53.log',
      collect: ['dns', '--format', 'route53', '{}'],
      text: `${logs.route53.join('\n')}\n`,
    },
    {
      name: 'vpcflow/eni-0a1b2c3d4e5f60718.log',
      collect: ['vpc-flow', '{}'],
      text: `${logs.flows.join('\n')}\n`,
    },
    { name: 'squid/access.log', collect: ['squid', '{}'], text: `${logs.squid.join('\n')}\n` },
  );
  return files;
}
