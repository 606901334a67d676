/**
 * Deterministic generator of realistic VPC flow-log files (default format, version 2) for the benchmark.
 *
 * The traffic model, in short:
 * - ~120 nodes (one primary ENI each) in 10.0.0.0/16 carrying ~3,000 pod addresses, grouped into ~300
 *   workloads; each workload has its own working set of destinations drawn from a Zipf-like popularity curve,
 *   plus a small share of "anything" lookups so the long tail of destinations gets touched.
 * - ~40,000 destinations: VPC-internal services (10.x, databases, caches, brokers, the VPC resolver), AWS-like
 *   public ranges (S3, DynamoDB, ELB, CloudFront …), SaaS / internet hosts, a small share of IPv6.
 * - Conversations are logged from the client ENI's point of view, in both halves: the request (client
 *   ephemeral port → server port) and the reply (server port → client ephemeral port). Public destinations are
 *   mostly seen behind the node's SNAT address, like the AWS VPC CNI default.
 * - Some REJECTs (egress denied by a security group / NACL, inbound internet scans), ~0.5% NODATA / SKIPDATA.
 * - One day of time with a diurnal load curve; each record spans part of a 60 s aggregation window.
 *
 * The file starts with the S3-export header line. Both `flows-<N>.log` and `flows-<N>.log.gz` are written in
 * one streaming pass; existing complete files are reused.
 */
import { createWriteStream, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import type { WriteStream } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createGzip } from 'node:zlib';
import type { Gzip } from 'node:zlib';
import { Command } from 'commander';
import { mulberry32 } from '../src/util/prng.js';

export const FLOW_LOG_HEADER =
  'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status';

export interface GenerateOptions {
  records: number;
  outDir: string;
  seed: number;
  /** Regenerate even when both files exist. */
  force?: boolean;
  /** Progress messages go here (stderr by default); pass `() => {}` to silence. */
  log?: (message: string) => void;
}

export interface GenerateResult {
  plainPath: string;
  gzipPath: string;
  records: number;
  /** false when both files already existed and were reused. */
  generated: boolean;
  /** Wall seconds spent generating (0 when reused). */
  seconds: number;
}

export const DEFAULT_RECORDS = 2_000_000;
export const DEFAULT_SEED = 20240501;
export const DEFAULT_OUT_DIR = 'bench-data';

/** 2024-05-01T00:00:00Z — a fixed day so output is deterministic. */
const DAY_START = 1714521600;
const ACCOUNT_ID = '123456789012';

export function flowLogPaths(outDir: string, records: number): { plainPath: string; gzipPath: string } {
  const plainPath = resolve(outDir, `flows-${records}.log`);
  return { plainPath, gzipPath: `${plainPath}.gz` };
}

export { mulberry32 };

type Rng = () => number;

function int(rng: Rng, lo: number, hiInclusive: number): number {
  return lo + Math.floor(rng() * (hiInclusive - lo + 1));
}

/** Cumulative-weight sampler; O(log n) per draw. */
class Sampler<T> {
  private readonly cdf: Float64Array;
  private readonly total: number;
  constructor(
    private readonly items: readonly T[],
    weights: readonly number[],
  ) {
    this.cdf = new Float64Array(items.length);
    let sum = 0;
    for (let i = 0; i < items.length; i++) {
      sum += weights[i] ?? 0;
      this.cdf[i] = sum;
    }
    this.total = sum;
  }
  draw(rng: Rng): T {
    const x = rng() * this.total;
    let lo = 0;
    let hi = this.cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.cdf[mid] as number) <= x) lo = mid + 1;
      else hi = mid;
    }
    return this.items[lo] as T;
  }
}

function zipfWeights(n: number, s: number): number[] {
  const w = new Array<number>(n);
  for (let k = 0; k < n; k++) w[k] = 1 / Math.pow(k + 1, s);
  return w;
}

function hex(rng: Rng, digits: number): string {
  let out = '';
  for (let i = 0; i < digits; i++) out += '0123456789abcdef'[Math.floor(rng() * 16)];
  return out;
}

/** Kind of traffic a destination serves; decides protocol, sizes and reply behaviour. */
type Service = 'https' | 'http' | 'dns' | 'ntp' | 'db' | 'cache' | 'broker' | 'app' | 'kubelet' | 'icmp';

interface Destination {
  addr: string;
  port: number;
  protocol: number; // 6 tcp, 17 udp, 1 icmp
  service: Service;
  /** Outside the VPC: seen behind the node's SNAT address most of the time. */
  external: boolean;
  /** Egress to it is denied (security group / NACL), so flows are REJECT with no reply half. */
  denied: boolean;
}

interface Node {
  eni: string;
  addr: string;
  v6prefix: string;
}

interface Pod {
  addr: string;
  node: Node;
  v6addr: string;
}

interface Workload {
  pods: Pod[];
  dests: Sampler<Destination>;
  /** Share of this workload's traffic that goes outside its usual working set. */
  roam: number;
}

interface Model {
  nodes: Node[];
  workloads: Sampler<Workload>;
  anyDest: Sampler<Destination>;
  scanners: string[];
  minuteCdf: Float64Array;
}

const SERVICE_PORTS: Record<
  Exclude<Service, 'https' | 'http' | 'dns' | 'ntp' | 'kubelet' | 'icmp'>,
  number[]
> = {
  db: [5432, 5432, 5432, 3306, 27017, 9200],
  cache: [6379, 6379, 11211],
  broker: [9092, 9092, 5672, 4222],
  app: [8080, 8080, 8443, 9090, 3000, 50051, 80, 443],
};

function buildModel(rng: Rng): Model {
  // Nodes: 10.0.<0..63>.<x> primary addresses, one ENI each.
  const nodes: Node[] = [];
  const nodeCount = 120;
  for (let i = 0; i < nodeCount; i++) {
    nodes.push({
      eni: `eni-0${hex(rng, 16)}`,
      addr: `10.0.${int(rng, 0, 63)}.${int(rng, 4, 250)}`,
      v6prefix: `2600:1f18:${hex(rng, 3)}:${int(rng, 1, 0xfff).toString(16)}`,
    });
  }
  // Pods: secondary addresses on the nodes, 10.0.64.0 - 10.0.255.255.
  const podAddrs = new Set<string>();
  const pods: Pod[] = [];
  while (pods.length < 3000) {
    const addr = `10.0.${int(rng, 64, 255)}.${int(rng, 1, 254)}`;
    if (podAddrs.has(addr)) continue;
    podAddrs.add(addr);
    const node = nodes[int(rng, 0, nodes.length - 1)] as Node;
    pods.push({ addr, node, v6addr: `${node.v6prefix}::${int(rng, 1, 0xffff).toString(16)}` });
  }

  // Destinations, most popular first (index = Zipf rank).
  const dests: Destination[] = [];
  const seen = new Set<string>();
  const add = (d: Omit<Destination, 'denied'> & { denied?: boolean }): void => {
    const key = `${d.addr}|${d.port}|${d.protocol}`;
    if (seen.has(key)) return;
    seen.add(key);
    dests.push({ denied: false, ...d });
  };
  // The head: VPC resolver, kube-dns, API server, the big databases, S3 / STS / ECR style endpoints.
  add({ addr: '10.0.0.2', port: 53, protocol: 17, service: 'dns', external: false });
  add({ addr: '172.20.0.10', port: 53, protocol: 17, service: 'dns', external: false });
  add({ addr: '172.20.0.1', port: 443, protocol: 6, service: 'https', external: false });
  add({ addr: '10.0.0.2', port: 53, protocol: 6, service: 'dns', external: false });
  const awsV4 = [
    '52.216',
    '52.217',
    '3.5',
    '54.231',
    '52.94',
    '52.119',
    '18.200',
    '35.180',
    '13.32',
    '99.86',
  ];
  const saasV4 = [
    '140.82',
    '151.101',
    '104.16',
    '172.64',
    '142.250',
    '34.120',
    '185.199',
    '23.185',
    '199.232',
  ];
  const extV6 = ['2600:1f18', '2600:9000', '2606:4700', '2a04:4e42', '2607:f8b0'];
  const target = 40_000;
  let guard = 0;
  while (dests.length < target && guard++ < target * 4) {
    const r = rng();
    if (r < 0.3) {
      // VPC-internal services in other subnets / peered VPCs.
      const roll = rng();
      const service: Service = roll < 0.3 ? 'db' : roll < 0.5 ? 'cache' : roll < 0.65 ? 'broker' : 'app';
      const ports = SERVICE_PORTS[service];
      add({
        addr: `10.${int(rng, 0, 3)}.${int(rng, 0, 255)}.${int(rng, 1, 254)}`,
        port: ports[int(rng, 0, ports.length - 1)] as number,
        protocol: 6,
        service,
        external: false,
      });
    } else if (r < 0.62) {
      const p = awsV4[int(rng, 0, awsV4.length - 1)] as string;
      const https = rng() < 0.93;
      add({
        addr: `${p}.${int(rng, 0, 255)}.${int(rng, 1, 254)}`,
        port: https ? 443 : 80,
        protocol: 6,
        service: https ? 'https' : 'http',
        external: true,
      });
    } else if (r < 0.95) {
      const p = saasV4[int(rng, 0, saasV4.length - 1)] as string;
      const roll = rng();
      const service: Service = roll < 0.85 ? 'https' : roll < 0.97 ? 'http' : roll < 0.99 ? 'ntp' : 'icmp';
      const port = service === 'https' ? 443 : service === 'http' ? 80 : service === 'ntp' ? 123 : 0;
      add({
        addr: `${p}.${int(rng, 0, 255)}.${int(rng, 1, 254)}`,
        port,
        protocol: service === 'ntp' ? 17 : service === 'icmp' ? 1 : 6,
        service,
        external: true,
        denied: rng() < 0.04,
      });
    } else if (r < 0.98) {
      const p = extV6[int(rng, 0, extV6.length - 1)] as string;
      add({
        addr: `${p}:${int(rng, 1, 0xffff).toString(16)}::${int(rng, 1, 0xffff).toString(16)}`,
        port: 443,
        protocol: 6,
        service: 'https',
        external: true,
      });
    } else {
      // Node-to-node: kubelet, node exporters.
      const n = nodes[int(rng, 0, nodes.length - 1)] as Node;
      const kubelet = rng() < 0.6;
      add({
        addr: n.addr,
        port: kubelet ? 10250 : 9100,
        protocol: 6,
        service: kubelet ? 'kubelet' : 'app',
        external: false,
      });
    }
  }
  // Shuffle everything after the fixed head so popularity does not follow kind.
  for (let i = dests.length - 1; i > 4; i--) {
    const j = 4 + Math.floor(rng() * (i - 3));
    const t = dests[i] as Destination;
    dests[i] = dests[j] as Destination;
    dests[j] = t;
  }
  const anyDest = new Sampler(dests, zipfWeights(dests.length, 1.0));

  // Workloads: pods grouped into apps of very different sizes and chattiness.
  const workloads: Workload[] = [];
  const weights: number[] = [];
  let p = 0;
  while (p < pods.length) {
    const size = Math.min(pods.length - p, Math.max(1, Math.round(Math.exp(rng() * 3.2))));
    const wpods = pods.slice(p, p + size);
    p += size;
    const setSize = int(rng, 3, 60);
    const picks: Destination[] = [dests[0] as Destination, dests[1] as Destination];
    for (let i = 0; i < setSize; i++) picks.push(anyDest.draw(rng));
    // Also some uniformly picked (not only popular) destinations: the long tail is spread across workloads.
    for (let i = 0; i < setSize; i++) picks.push(dests[int(rng, 0, dests.length - 1)] as Destination);
    // Zipf over the working set; the two resolvers get ~20% of the conversations between them.
    const pw = [0, 0, ...zipfWeights(picks.length - 2, 0.9)];
    const rest = pw.reduce((a, b) => a + b, 0);
    pw[0] = rest * 0.16;
    pw[1] = rest * 0.09;
    workloads.push({ pods: wpods, dests: new Sampler(picks, pw), roam: 0.04 + rng() * 0.12 });
    weights.push(size * (0.2 + rng() * 2));
  }

  const scanners: string[] = [];
  for (let i = 0; i < 500; i++)
    scanners.push(`${int(rng, 1, 223)}.${int(rng, 0, 255)}.${int(rng, 0, 255)}.${int(rng, 1, 254)}`);

  // Diurnal load: a minute-resolution CDF over the day (quiet at night, busy in the afternoon).
  const minuteCdf = new Float64Array(1440);
  let sum = 0;
  for (let m = 0; m < 1440; m++) {
    sum += 1 + 0.6 * Math.sin(((m - 600) / 1440) * 2 * Math.PI) + 0.05 * rng();
    minuteCdf[m] = sum;
  }
  for (let m = 0; m < 1440; m++) minuteCdf[m] = (minuteCdf[m] as number) / sum;

  return { nodes, workloads: new Sampler(workloads, weights), anyDest, scanners, minuteCdf };
}

/** Maps a fraction of the file (0..1) to an offset in seconds within the day, following the load curve. */
function timeOf(model: Model, frac: number, cursor: { minute: number }): number {
  const cdf = model.minuteCdf;
  while (cursor.minute < 1439 && (cdf[cursor.minute] as number) < frac) cursor.minute++;
  const lo = cursor.minute === 0 ? 0 : (cdf[cursor.minute - 1] as number);
  const hi = cdf[cursor.minute] as number;
  const within = hi > lo ? (frac - lo) / (hi - lo) : 0;
  return cursor.minute * 60 + Math.min(59, Math.max(0, Math.floor(within * 60)));
}

function sizes(rng: Rng, service: Service): [number, number, number, number] {
  // [requestPackets, requestBytes, replyPackets, replyBytes]
  switch (service) {
    case 'dns': {
      const q = int(rng, 1, 3);
      return [q, q * int(rng, 60, 110), q, q * int(rng, 90, 400)];
    }
    case 'ntp':
      return [1, 76, 1, 76];
    case 'icmp': {
      const n = int(rng, 1, 5);
      return [n, n * 84, n, n * 84];
    }
    default: {
      const req = Math.max(1, Math.round(Math.exp(rng() * 5)));
      const rep = Math.max(1, Math.round(req * (0.6 + rng() * 2.5)));
      const reqSz = service === 'db' || service === 'cache' ? int(rng, 60, 400) : int(rng, 52, 900);
      const repSz = int(rng, 52, 1448);
      return [req, req * reqSz, rep, rep * repSz];
    }
  }
}

interface Sink {
  plain: WriteStream;
  gzip: Gzip;
  gzOut: WriteStream;
}

function write(stream: NodeJS.WritableStream, chunk: string): Promise<void> | null {
  if (stream.write(chunk)) return null;
  return new Promise((res) => stream.once('drain', () => res()));
}

async function writeBoth(sink: Sink, chunk: string): Promise<void> {
  const a = write(sink.plain, chunk);
  const b = write(sink.gzip, chunk);
  if (a) await a;
  if (b) await b;
}

function finish(stream: NodeJS.WritableStream): Promise<void> {
  return new Promise((res, rej) => {
    stream.once('error', rej);
    stream.once('finish', () => res());
    stream.end();
  });
}

function closed(stream: WriteStream): Promise<void> {
  return new Promise((res, rej) => {
    if (stream.closed) return res();
    stream.once('error', rej);
    stream.once('close', () => res());
  });
}

/** Generates the files (or reuses them) and returns where they are. */
export async function generateFlowLogs(options: GenerateOptions): Promise<GenerateResult> {
  const { records, seed } = options;
  const log = options.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  if (!Number.isInteger(records) || records < 1) throw new Error(`--records must be a positive integer`);
  if (!Number.isSafeInteger(seed)) throw new Error(`--seed must be an integer`);
  const { plainPath, gzipPath } = flowLogPaths(options.outDir, records);
  if (!options.force && existsSync(plainPath) && existsSync(gzipPath)) {
    return { plainPath, gzipPath, records, generated: false, seconds: 0 };
  }
  mkdirSync(resolve(options.outDir), { recursive: true });
  const tmpPlain = `${plainPath}.partial`;
  const tmpGzip = `${gzipPath}.partial`;
  const started = process.hrtime.bigint();
  log(`generating ${records} flow-log records (seed ${seed}) → ${plainPath}{,.gz}`);

  try {
    return await writeFiles(options, { plainPath, gzipPath, tmpPlain, tmpGzip, started, log });
  } catch (err) {
    rmSync(tmpPlain, { force: true });
    rmSync(tmpGzip, { force: true });
    throw err;
  }
}

async function writeFiles(
  options: GenerateOptions,
  f: {
    plainPath: string;
    gzipPath: string;
    tmpPlain: string;
    tmpGzip: string;
    started: bigint;
    log: (m: string) => void;
  },
): Promise<GenerateResult> {
  const { records, seed } = options;
  const { plainPath, gzipPath, tmpPlain, tmpGzip, started, log } = f;
  const rng = mulberry32(seed);
  const model = buildModel(rng);
  const plain = createWriteStream(tmpPlain, { highWaterMark: 1 << 20 });
  const gzOut = createWriteStream(tmpGzip, { highWaterMark: 1 << 20 });
  const gzip = createGzip({ level: 6, chunkSize: 1 << 16 });
  gzip.pipe(gzOut);
  const sink: Sink = { plain, gzip, gzOut };

  const V = `2 ${ACCOUNT_ID} `;
  const cursor = { minute: 0 };
  let buf = `${FLOW_LOG_HEADER}\n`;
  let emitted = 0;
  let nextProgress = 5_000_000;
  const line = (s: string): void => {
    buf += s;
    emitted++;
  };

  while (emitted < records) {
    const t = DAY_START + timeOf(model, emitted / records, cursor);
    const windowStart = t - (t % 60);
    const start = windowStart + int(rng, 0, 40);
    const end = Math.min(windowStart + 60 + int(rng, 0, 4), start + int(rng, 1, 60));
    const r = rng();

    if (r < 0.005) {
      // NODATA (no traffic on the ENI in the window) or SKIPDATA (records dropped).
      const node = model.nodes[int(rng, 0, model.nodes.length - 1)] as Node;
      const status = rng() < 0.7 ? 'NODATA' : 'SKIPDATA';
      line(`${V}${node.eni} - - - - - - - ${windowStart} ${windowStart + 60} - ${status}\n`);
    } else if (r < 0.012) {
      // Inbound scan from the internet to a node, rejected by the security group.
      const node = model.nodes[int(rng, 0, model.nodes.length - 1)] as Node;
      const src = model.scanners[int(rng, 0, model.scanners.length - 1)] as string;
      const ports = [22, 23, 3389, 445, 8080, 6379, 2375, 10250];
      const dport = ports[int(rng, 0, ports.length - 1)] as number;
      line(
        `${V}${node.eni} ${src} ${node.addr} ${int(rng, 1024, 65535)} ${dport} 6 1 40 ${start} ${end} REJECT OK\n`,
      );
    } else {
      const w = model.workloads.draw(rng);
      const pod = w.pods[int(rng, 0, w.pods.length - 1)] as Pod;
      const d = rng() < w.roam ? model.anyDest.draw(rng) : w.dests.draw(rng);
      const v6 = d.addr.includes(':');
      // Host-network pods and SNAT: external v4 traffic mostly carries the node's address.
      const client = v6 ? pod.v6addr : d.external && rng() < 0.8 ? pod.node.addr : pod.addr;
      const eni = pod.node.eni;
      const eph = d.protocol === 1 ? 0 : int(rng, 32768, 60999);
      const dport = d.protocol === 1 ? 0 : d.port;
      const [qp, qb, rp, rb] = sizes(rng, d.service);
      const rejected = d.denied || rng() < 0.003;
      if (rejected) {
        // A denied SYN (or retries of it): only the request half, small.
        const n = int(rng, 1, 3);
        line(
          `${V}${eni} ${client} ${d.addr} ${eph} ${dport} ${d.protocol} ${n} ${n * 60} ${start} ${end} REJECT OK\n`,
        );
      } else {
        line(
          `${V}${eni} ${client} ${d.addr} ${eph} ${dport} ${d.protocol} ${qp} ${qb} ${start} ${end} ACCEPT OK\n`,
        );
        if (emitted < records && rng() < 0.97) {
          // The reply half, as the same ENI sees it; its times differ slightly.
          const rs = Math.min(end, start + int(rng, 0, 1));
          line(
            `${V}${eni} ${d.addr} ${client} ${dport} ${eph} ${d.protocol} ${rp} ${rb} ${rs} ${end} ACCEPT OK\n`,
          );
        }
      }
    }

    if (buf.length >= 1 << 16) {
      await writeBoth(sink, buf);
      buf = '';
      if (emitted >= nextProgress) {
        const s = Number(process.hrtime.bigint() - started) / 1e9;
        log(`  ${emitted} records, ${s.toFixed(1)} s`);
        nextProgress += 5_000_000;
      }
    }
  }
  if (buf.length > 0) await writeBoth(sink, buf);
  await Promise.all([finish(plain), finish(gzip)]);
  await Promise.all([closed(plain), closed(gzOut)]);
  renameSync(tmpPlain, plainPath);
  renameSync(tmpGzip, gzipPath);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  log(`generated ${records} records in ${seconds.toFixed(1)} s (${Math.round(records / seconds)} records/s)`);
  return { plainPath, gzipPath, records, generated: true, seconds };
}

/** Accepts 2000000, 2e6, 2_000_000, 2M, 20m, 500k. */
export function parseCount(text: string): number {
  const m = /^([0-9_.e+]+)\s*([kKmM]?)$/.exec(text.trim());
  const base = m ? Number((m[1] as string).replace(/_/g, '')) : NaN;
  const mult = m?.[2] ? (m[2].toLowerCase() === 'k' ? 1e3 : 1e6) : 1;
  const n = Math.round(base * mult);
  if (!Number.isFinite(n) || n < 1) throw new Error(`not a record count: ${text}`);
  return n;
}

async function main(argv: string[]): Promise<void> {
  const program = new Command()
    .name('gen-flowlogs')
    .description('Write a deterministic, realistic VPC flow-log file (v2 default format), plain and gzip.')
    .option('--records <n>', 'number of records (lines after the header)', String(DEFAULT_RECORDS))
    .option('--out <dir>', 'output directory', DEFAULT_OUT_DIR)
    .option('--seed <n>', 'PRNG seed', String(DEFAULT_SEED))
    .option('--force', 'regenerate even if the files exist', false)
    .addHelpText('after', '\nExample:\n  node dist/scripts/gen-flowlogs.js --records 20M --out bench-data');
  program.parse(argv);
  const o = program.opts<{ records: string; out: string; seed: string; force: boolean }>();
  const result = await generateFlowLogs({
    records: parseCount(o.records),
    outDir: o.out,
    seed: Number(o.seed),
    force: o.force,
  });
  if (!result.generated) process.stderr.write(`reusing ${result.plainPath}{,.gz}\n`);
  process.stdout.write(`${result.plainPath}\n${result.gzipPath}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main(process.argv).catch((err: unknown) => {
    process.stderr.write(`gen-flowlogs: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
