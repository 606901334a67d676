/**
 * `npm run sim`: judges egress-learner on a simulated cluster with known truth (issue 5). Generates the cluster
 * (cluster.ts), runs the built CLI over the window exactly as a user would (fresh database, `collect` every input,
 * `suggest --kinds networkpolicy,egressruleset`), then replays the held-out days' flows against the generated
 * NetworkPolicies and EgressRuleSets with an evaluator of its own (evaluate.ts), next to a per-IP /32 baseline
 * learned from the same window.
 *
 * The bar: ≥ 99.9 % of the held-out legitimate flows allowed; the IPv4 space the rules open within 2× the space
 * the workloads really draw from; the planted endpoint flagged and not allowed. Exit code 1 when it is missed.
 *
 * The baseline learns one /32 per (workload, destination address, port, protocol) the window saw, with the
 * window's true attribution (kinder than it would be from SNAT'd logs), and one exact host:port per proxied
 * name; it is judged on pod addresses as a CNI that applies ipBlocks to pods would.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Command } from 'commander';
import { DEFAULT_SIM_OPTIONS, generateCluster, type SimManifest, type SimOptions } from './cluster.js';
import {
  connectionAllowed,
  egressRanges,
  ipv4Size,
  loadEgressRuleSets,
  loadNetworkPolicies,
  parseCidrRange,
  parseIp,
  ruleSetsAllow,
  selectorMatches,
  type AddrRange,
  type Policy,
  type Remote,
  type RuleSet,
} from './evaluate.js';
import type { SimFlow, Truth } from './truth.js';

const here = dirname(fileURLToPath(import.meta.url));

/** The built CLI: from scripts/sim (vitest) or dist/scripts/sim (npm run sim), always the compiled one. */
export function defaultCli(): string {
  const fromSource = resolve(here, '..', '..', 'dist', 'src', 'cli', 'main.js');
  return existsSync(fromSource) ? fromSource : resolve(here, '..', '..', 'src', 'cli', 'main.js');
}

export interface PipelineOptions {
  readonly cli?: string;
  /** Directory for the database and the suggestions (created; the database is replaced). */
  readonly work: string;
  readonly log?: (line: string) => void;
}

/** Where the pipeline left its results. */
export interface PipelineRun {
  readonly db: string;
  readonly out: string;
  readonly seconds: Readonly<Record<string, number>>;
  /** The `suggest` summary line. */
  readonly summary: string;
}

/** Runs the CLI over the window: fresh database, every collector, then `suggest`. Throws on a failed step. */
export function runPipeline(manifest: SimManifest, opts: PipelineOptions): PipelineRun {
  const cli = opts.cli ?? defaultCli();
  mkdirSync(opts.work, { recursive: true });
  const db = join(opts.work, 'sim.db');
  const out = join(opts.work, 'suggest');
  for (const f of [db, `${db}-wal`, `${db}-shm`]) rmSync(f, { force: true });
  rmSync(out, { recursive: true, force: true });
  const seconds: Record<string, number> = {};
  const run = (step: string, args: string[]): string => {
    const t0 = Date.now();
    const r = spawnSync(process.execPath, [cli, ...args, '--db', db], {
      encoding: 'utf8',
      env: { ...process.env, EGRESS_LEARNER_DB: '' },
      maxBuffer: 64 * 1024 * 1024,
    });
    seconds[step] = (seconds[step] ?? 0) + (Date.now() - t0) / 1000;
    if (r.status !== 0) {
      throw new Error(
        `egress-learner ${args.slice(0, 3).join(' ')} failed (${r.status}): ${r.stderr.trim().slice(0, 2000)}`,
      );
    }
    return r.stderr.trim();
  };
  for (const s of manifest.snapshots)
    run('collect k8s', ['collect', 'k8s', '-q', '--snapshot', s.file, '--at', s.at]);
  opts.log?.(`imported ${manifest.snapshots.length} inventory snapshots`);
  run('collect vpc-flow', ['collect', 'vpc-flow', '-q', ...manifest.vpcFlow]);
  run('collect dns', ['collect', 'dns', '-q', '--format', 'route53', ...manifest.route53]);
  if (manifest.coredns.length > 0)
    run('collect dns', ['collect', 'dns', '-q', '--format', 'coredns', ...manifest.coredns]);
  if (manifest.squid.length > 0) run('collect squid', ['collect', 'squid', '-q', ...manifest.squid]);
  opts.log?.('collected flow, DNS and proxy logs');
  const summary = run('suggest', [
    'suggest',
    '--since',
    manifest.since,
    '--until',
    manifest.until,
    '--ip-ranges',
    manifest.ipRanges,
    '--vpc-cidr',
    manifest.vpcCidr,
    '--out',
    out,
    '--kinds',
    'networkpolicy,egressruleset',
  ]);
  return { db, out, seconds, summary };
}

// ── Scoring ─────────────────────────────────────────────────────────────────────────────────────────────────

/** The parts of `<out>/endpoints.json` the scorer reads (src/model/endpoint.ts). */
interface LearnedEndpoint {
  readonly id: string;
  readonly sender: string;
  readonly destination:
    | { kind: 'peer'; workload: { namespace: string; kind: string; name: string } }
    | { kind: 'host'; host: string; names: string[]; cidrs: { cidr: string }[] }
    | { kind: 'address'; cidrs: { cidr: string }[]; dstClass: string };
  readonly port: number;
  readonly protocol: string;
  readonly via: 'direct' | 'proxy';
  readonly rare: boolean;
  readonly suspicions: readonly { code: string; detail: string }[];
}

interface EndpointsFile {
  readonly endpoints: readonly LearnedEndpoint[];
  readonly stats?: { flows: number; unattributedFlows: number; candidateFlows: number };
}

/** Held-out flows that were denied, grouped by sender and truth endpoint, with the reason found. */
export interface DeniedGroup {
  readonly srcWorkload: string;
  readonly endpoint: string;
  readonly flows: number;
  readonly example: string;
  readonly reason: string;
}

export interface Score {
  readonly legit: { readonly flows: number; readonly allowed: number; readonly share: number };
  readonly denied: readonly DeniedGroup[];
  /**
   * IPv4 addresses the rules open: over the union of every egress ipBlock (the bar), and summed per workload (what
   * each workload's pods may reach; a workload no egress policy selects counts as the whole space).
   */
  readonly addressSpace: {
    readonly opened: number;
    readonly truth: number;
    readonly ratio: number;
    readonly perWorkload: { readonly opened: number; readonly truth: number; readonly ratio: number };
  };
  readonly planted: {
    readonly allowed: boolean;
    readonly learned: boolean;
    readonly flagged: boolean;
    readonly suspicions: readonly string[];
  };
  readonly baseline: {
    readonly allowed: number;
    readonly share: number;
    readonly opened: number;
    readonly ratio: number;
    readonly plantedAllowed: boolean;
    readonly perWorkloadOpened: number;
  };
  /** Held-out legitimate flows per truth endpoint kind: how many, and the share each side allows. */
  readonly byKind: readonly {
    readonly kind: string;
    readonly flows: number;
    readonly share: number;
    readonly baseline: number;
  }[];
  readonly stats: EndpointsFile['stats'] | null;
  /** Empty when the bar is met. */
  readonly failures: readonly string[];
}

export const BAR = Object.freeze({ minShare: 0.999, maxRatio: 2 });

function sourceOf(f: SimFlow): {
  namespace: string;
  labels: SimFlow['podLabels'];
  namespaceLabels: SimFlow['namespaceLabels'];
  workload: string;
} {
  return {
    namespace: f.namespace,
    labels: f.podLabels,
    namespaceLabels: f.namespaceLabels,
    workload: f.srcWorkload,
  };
}

function remoteOf(f: SimFlow): Remote {
  return f.dstPod !== null ? { kind: 'pod', pod: f.dstPod } : { kind: 'ip', ip: f.dstIp };
}

/** Does the generated pair (NetworkPolicies, EgressRuleSets) allow one flow? */
export function flowAllowed(
  policies: readonly Policy[],
  sets: readonly RuleSet[],
  f: SimFlow,
): { allowed: boolean; why: string } {
  if (f.viaProxy) {
    const hop = connectionAllowed(
      policies,
      sourceOf(f),
      { kind: 'ip', ip: f.proxy!.ip },
      f.proxy!.port,
      'TCP',
    );
    if (!hop.allowed)
      return { allowed: false, why: `egress to the proxy ${f.proxy!.ip}:${f.proxy!.port} denied` };
    if (!ruleSetsAllow(sets, f.namespace, f.dstName!, f.port))
      return {
        allowed: false,
        why: `no EgressRuleSet target of ${f.namespace} matches ${f.dstName}:${f.port}`,
      };
    return { allowed: true, why: '' };
  }
  const v = connectionAllowed(policies, sourceOf(f), remoteOf(f), f.port, f.protocol);
  if (v.allowed) return { allowed: true, why: '' };
  return {
    allowed: false,
    why: !v.egress.allowed ? 'egress denied' : 'ingress at the destination pod denied',
  };
}

function inCidrs(cidrs: readonly { cidr: string }[], ip: string): boolean {
  const a = parseIp(ip);
  if (a === null) return false;
  return cidrs.some((c) => {
    const r = parseCidrRange(c.cidr);
    return r !== null && r.family === a.family && r.first <= a.value && a.value <= r.last;
  });
}

function state(e: LearnedEndpoint): string {
  return e.rare
    ? 'rare'
    : e.suspicions.length > 0
      ? `flagged (${e.suspicions.map((s) => s.code).join(', ')})`
      : 'enabled';
}

/** Why inference (or emission) did not open a denied flow, from what endpoints.json says about its sender. */
function diagnose(f: SimFlow, why: string, learned: readonly LearnedEndpoint[]): string {
  const mine = learned.filter((e) => e.sender === f.srcWorkload);
  if (mine.length === 0) return `${why}; no endpoint at all learned for sender ${f.srcWorkload}`;
  const samePort = mine.filter((e) => e.port === f.port && e.protocol === f.protocol);
  if (f.dstPod !== null) {
    const hit = samePort.filter(
      (e) =>
        e.destination.kind === 'peer' &&
        `${e.destination.workload.namespace}/${e.destination.workload.kind}/${e.destination.workload.name}` ===
          f.dstPod!.workload,
    );
    if (hit.length === 0) return `${why}; peer ${f.dstPod.workload}:${f.port} not learned for this sender`;
    return `${why}; peer learned (${hit.map(state).join('; ')}) but the policies do not allow it`;
  }
  if (f.viaProxy) {
    const hit = samePort.filter(
      (e) => e.via === 'proxy' && e.destination.kind === 'host' && e.destination.names.includes(f.dstName!),
    );
    return hit.length === 0
      ? `${why}; proxied name ${f.dstName}:${f.port} not learned`
      : `${why}; proxied name learned (${hit.map(state).join('; ')})`;
  }
  const byName =
    f.dstName === null
      ? []
      : samePort.filter((e) => e.destination.kind === 'host' && e.destination.names.includes(f.dstName!));
  const byAddr = samePort.filter(
    (e) => e.destination.kind !== 'peer' && inCidrs(e.destination.cidrs, f.dstIp),
  );
  if (byAddr.length > 0)
    return `${why}; ${f.dstIp} is covered by learned endpoints (${byAddr.map(state).join('; ')})`;
  if (byName.length > 0) {
    const d = byName[0]!.destination as { cidrs: { cidr: string }[] };
    return `${why}; name ${f.dstName} learned (${byName.map(state).join('; ')}) but its CIDRs [${d.cidrs.map((c) => c.cidr).join(', ')}] do not cover ${f.dstIp}`;
  }
  if (f.dstName !== null) {
    const other = mine.filter(
      (e) => e.destination.kind === 'host' && e.destination.names.includes(f.dstName!),
    );
    if (other.length > 0) return `${why}; name ${f.dstName} learned on other ports only`;
    const anyone = learned.filter(
      (e) => e.destination.kind === 'host' && e.destination.names.includes(f.dstName!),
    );
    if (anyone.length > 0)
      return `${why}; name ${f.dstName} learned for other senders only (${[...new Set(anyone.map((e) => e.sender))].slice(0, 3).join(', ')})`;
    return `${why}; name ${f.dstName} not attributed to any sender (its addresses stayed nameless)`;
  }
  return `${why}; address ${f.dstIp}:${f.port} not learned for this sender`;
}

function truthRanges(truth: Truth, only: ReadonlySet<string> | null = null): AddrRange[] {
  const out: AddrRange[] = [];
  for (const e of truth.endpoints) {
    if (e.viaProxy || (only !== null && !only.has(e.id))) continue;
    for (const c of e.cidrs) out.push(parseCidrRange(c)!);
  }
  return out;
}

/** Scores the suggestions in `out` against `truth`. Pure apart from reading `out`. */
export function scoreRun(truth: Truth, out: string): Score {
  const policies = loadNetworkPolicies(join(out, 'networkpolicy'));
  const sets = loadEgressRuleSets(join(out, 'egressruleset'));
  const endpoints = JSON.parse(readFileSync(join(out, 'endpoints.json'), 'utf8')) as EndpointsFile;

  const kindOf = new Map(truth.endpoints.map((e) => [e.id, e.kind as string]));
  const baselineAllows = baselineAllower(truth);
  const kinds = new Map<string, { flows: number; allowed: number; baseline: number }>();
  let flows = 0;
  let allowed = 0;
  const denied = new Map<
    string,
    { srcWorkload: string; endpoint: string; flows: number; example: string; reason: string }
  >();
  for (const f of truth.heldOut) {
    if (f.planted) continue;
    flows += f.count;
    const v = flowAllowed(policies, sets, f);
    const k = kindOf.get(f.endpoint) ?? '?';
    const acc = kinds.get(k) ?? { flows: 0, allowed: 0, baseline: 0 };
    kinds.set(k, acc);
    acc.flows += f.count;
    if (v.allowed) acc.allowed += f.count;
    if (baselineAllows(f)) acc.baseline += f.count;
    if (v.allowed) {
      allowed += f.count;
      continue;
    }
    const key = `${f.srcWorkload}\u0000${f.endpoint}`;
    const g = denied.get(key);
    if (g !== undefined) g.flows += f.count;
    else
      denied.set(key, {
        srcWorkload: f.srcWorkload,
        endpoint: f.endpoint,
        flows: f.count,
        example: `${f.dstName ?? f.dstPod?.workload ?? f.dstIp} ${f.dstIp}:${f.port}/${f.protocol}`,
        reason: diagnose(f, v.why, endpoints.endpoints),
      });
  }

  const opened = ipv4Size(egressRanges(policies));
  const truthSize = ipv4Size(truthRanges(truth));
  const perWorkload = { opened: 0, truth: 0 };
  for (const w of truth.workloads) {
    const selecting = policies.filter(
      (p) => p.isolates.egress && p.namespace === w.namespace && selectorMatches(p.podSelector, w.labels),
    );
    perWorkload.opened += selecting.length === 0 ? 2 ** 32 : ipv4Size(egressRanges(selecting));
    perWorkload.truth += ipv4Size(truthRanges(truth, new Set(w.endpoints)));
  }

  // The planted endpoint: its held-out flows, plus one from the Deployment's plain pod labels.
  const p = truth.planted;
  const w = truth.workloads.find((x) => x.id === p.workload)!;
  const nsLabels = truth.heldOut.find((f) => f.namespace === w.namespace)?.namespaceLabels ?? {
    'kubernetes.io/metadata.name': w.namespace,
  };
  const plantedFlows: SimFlow[] = [
    ...truth.heldOut.filter((f) => f.planted),
    {
      srcWorkload: w.id,
      namespace: w.namespace,
      podLabels: w.labels,
      namespaceLabels: nsLabels,
      dstIp: p.ip,
      dstName: p.name,
      dstPod: null,
      port: p.port,
      protocol: 'TCP',
      viaProxy: false,
      proxy: null,
      endpoint: 'planted',
      planted: true,
      count: 1,
    },
  ];
  const plantedAllowed =
    plantedFlows.some((f) => flowAllowed(policies, sets, f).allowed) ||
    (p.name !== null && ruleSetsAllow(sets, null, p.name, p.port));
  const plantedLearned = endpoints.endpoints.filter(
    (e) =>
      e.port === p.port &&
      e.destination.kind !== 'peer' &&
      (inCidrs(e.destination.cidrs, p.ip) ||
        (e.destination.kind === 'host' && p.name !== null && e.destination.names.includes(p.name))),
  );
  const planted = {
    allowed: plantedAllowed,
    learned: plantedLearned.length > 0,
    flagged: plantedLearned.length > 0 && plantedLearned.every((e) => e.suspicions.length > 0),
    suspicions: [...new Set(plantedLearned.flatMap((e) => e.suspicions.map((s) => s.code)))].sort(),
  };

  const baseline = scoreBaseline(truth, truthSize);
  const share = flows === 0 ? 1 : allowed / flows;
  const ratio = truthSize === 0 ? Infinity : opened / truthSize;
  const failures: string[] = [];
  if (share < BAR.minShare)
    failures.push(`${pct(share)} of held-out legitimate flows allowed (bar ${pct(BAR.minShare)})`);
  if (ratio > BAR.maxRatio)
    failures.push(`address space ${ratio.toFixed(2)}× the truth (bar ${BAR.maxRatio}×)`);
  if (planted.allowed) failures.push('the planted endpoint is allowed');
  if (!planted.flagged)
    failures.push(
      planted.learned
        ? 'the planted endpoint is learned but not flagged'
        : 'the planted endpoint was not learned, so not flagged',
    );
  return {
    legit: { flows, allowed, share },
    denied: [...denied.values()].sort((a, b) => b.flows - a.flows),
    addressSpace: {
      opened,
      truth: truthSize,
      ratio,
      perWorkload: { ...perWorkload, ratio: perWorkload.opened / perWorkload.truth },
    },
    planted,
    baseline,
    byKind: [...kinds]
      .map(([kind, a]) => ({
        kind,
        flows: a.flows,
        share: a.allowed / a.flows,
        baseline: a.baseline / a.flows,
      }))
      .sort((a, b) => b.flows - a.flows),
    stats: endpoints.stats ?? null,
    failures,
  };
}

/** The per-IP baseline's rules: one /32 per (workload, address, port, protocol) of the window, one host:port per proxied name. */
function baselineRules(truth: Truth): { direct: Set<string>; proxied: Set<string>; addrs: Set<string> } {
  const direct = new Set<string>();
  const proxied = new Set<string>();
  const addrs = new Set<string>();
  for (const f of truth.windowFlows) {
    if (f.viaProxy) proxied.add(`${f.namespace}|${f.dstName}|${f.port}`);
    else {
      direct.add(`${f.srcWorkload}|${f.dstIp}|${f.port}|${f.protocol}`);
      if (parseIp(f.dstIp)?.family === 4) addrs.add(f.dstIp);
    }
  }
  return { direct, proxied, addrs };
}

/** Does the per-IP baseline allow a flow? */
export function baselineAllower(truth: Truth): (f: SimFlow) => boolean {
  const { direct, proxied } = baselineRules(truth);
  return (f) =>
    f.viaProxy
      ? direct.has(`${f.srcWorkload}|${f.proxy!.ip}|${f.proxy!.port}|TCP`) &&
        proxied.has(`${f.namespace}|${f.dstName}|${f.port}`)
      : direct.has(`${f.srcWorkload}|${f.dstIp}|${f.port}|${f.protocol}`);
}

/** The per-IP baseline's score on the held-out days. */
export function scoreBaseline(truth: Truth, truthSize: number): Score['baseline'] {
  const { direct, addrs } = baselineRules(truth);
  const perWorkload = new Set<string>();
  for (const key of direct) {
    const [w, ip] = key.split('|');
    if (parseIp(ip!)?.family === 4) perWorkload.add(`${w}|${ip}`);
  }
  const allows = baselineAllower(truth);
  let flows = 0;
  let allowed = 0;
  for (const f of truth.heldOut) {
    if (f.planted) continue;
    flows += f.count;
    if (allows(f)) allowed += f.count;
  }
  const p = truth.planted;
  return {
    allowed,
    share: flows === 0 ? 1 : allowed / flows,
    opened: addrs.size,
    ratio: truthSize === 0 ? Infinity : addrs.size / truthSize,
    plantedAllowed: direct.has(`${p.workload}|${p.ip}|${p.port}|TCP`),
    perWorkloadOpened: perWorkload.size,
  };
}

function pct(x: number): string {
  return `${(100 * x).toFixed(2)} %`;
}

/** The score as a small table, then what was denied and why, then the verdict. */
export function renderScore(s: Score, opts: Partial<SimOptions> = {}): string {
  const o = { ...DEFAULT_SIM_OPTIONS, ...opts };
  const n = (x: number): string => x.toLocaleString('en-US');
  const rows: [string, string, string][] = [
    ['', 'egress-learner', 'per-IP /32 baseline'],
    [
      'held-out legit flows allowed',
      `${pct(s.legit.share)} (${n(s.legit.allowed)}/${n(s.legit.flows)})`,
      `${pct(s.baseline.share)} (${n(s.baseline.allowed)}/${n(s.legit.flows)})`,
    ],
    [
      'IPv4 addresses opened',
      `${n(s.addressSpace.opened)} (${s.addressSpace.ratio.toFixed(2)}× truth ${n(s.addressSpace.truth)})`,
      `${n(s.baseline.opened)} (${s.baseline.ratio.toFixed(3)}×)`,
    ],
    [
      'IPv4 per workload, summed',
      `${n(s.addressSpace.perWorkload.opened)} (${s.addressSpace.perWorkload.ratio.toFixed(2)}× truth ${n(s.addressSpace.perWorkload.truth)})`,
      n(s.baseline.perWorkloadOpened),
    ],
    ['planted endpoint allowed', s.planted.allowed ? 'YES' : 'no', s.baseline.plantedAllowed ? 'YES' : 'no'],
    [
      'planted endpoint flagged',
      s.planted.flagged
        ? `yes (${s.planted.suspicions.join(', ')})`
        : s.planted.learned
          ? 'NO'
          : 'NO (not learned)',
      '-',
    ],
  ];
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max(...rows.map((r) => r[1].length));
  const lines = [
    `simulated cluster: seed ${o.seed}, ${o.windowDays}-day window + ${o.afterDays} day(s) after, ${o.namespaces} namespace(s), SNAT ${o.snat ? 'on' : 'off'}, DNS client ${o.dnsClient}, planted ${o.planted}` +
      (o.corednsLog ? '' : ', no CoreDNS query log') +
      (o.dnsCache === null ? '' : `, DNS cache ${o.dnsCache === 0 ? 'TTL' : `${o.dnsCache} s`}`) +
      (o.flowInterval === 60 ? '' : `, flow interval ${o.flowInterval} s`) +
      (o.jobTtl === null ? '' : `, job TTL ${o.jobTtl} s${o.jobWatch ? ' (watched)' : ''}`) +
      (o.cdnPublished === null ? '' : `, CDN published ${o.cdnPublished.join(',')}`),
    '',
    ...rows.map((r) => `${r[0].padEnd(w0)}  ${r[1].padEnd(w1)}  ${r[2]}`),
  ];
  const head = 'held-out legit flows by destination kind';
  const label = (k: Score['byKind'][number]): string => `  ${k.kind} (${n(k.flows)} flows)`;
  const kw = Math.max(head.length, ...s.byKind.map((k) => label(k).length)) + 2;
  lines.push('', `${head.padEnd(kw)}${'learned'.padStart(9)}  ${'baseline'.padStart(9)}`);
  for (const k of s.byKind) {
    lines.push(`${label(k).padEnd(kw)}${pct(k.share).padStart(9)}  ${pct(k.baseline).padStart(9)}`);
  }
  if (s.stats !== null && s.stats !== undefined) {
    lines.push(
      '',
      `inference: ${n(s.stats.flows)} flows, ${n(s.stats.unattributedFlows)} unattributed, ${n(s.stats.candidateFlows)} attributed to candidates only`,
    );
  }
  if (s.denied.length > 0) {
    lines.push('', 'denied held-out flows (sender, truth endpoint, flows: reason):');
    for (const d of s.denied.slice(0, 20))
      lines.push(`  ${d.srcWorkload}  ${d.endpoint}  ${n(d.flows)}  e.g. ${d.example}: ${d.reason}`);
    if (s.denied.length > 20) lines.push(`  … and ${s.denied.length - 20} more groups`);
  }
  lines.push('', s.failures.length === 0 ? 'bar met' : `bar MISSED: ${s.failures.join('; ')}`);
  return `${lines.join('\n')}\n`;
}

/** Generate, run, score: the whole simulation. `dir` keeps the inputs and results (a temp dir otherwise). */
export function simulate(
  options: Partial<SimOptions>,
  run: { dir?: string; cli?: string; log?: (line: string) => void } = {},
): { score: Score; truth: Truth; pipeline: PipelineRun; dir: string } {
  const dir = run.dir ?? mkdtempSync(join(tmpdir(), 'el-sim-'));
  const { manifest, truth } = generateCluster(join(dir, 'input'), options);
  run.log?.(`generated the cluster in ${join(dir, 'input')}`);
  const pipeline = runPipeline(manifest, { cli: run.cli, work: join(dir, 'run'), log: run.log });
  return { score: scoreRun(truth, pipeline.out), truth, pipeline, dir };
}

function main(argv: string[]): number {
  const program = new Command('sim')
    .description(
      'simulate a cluster with known truth, learn rules from its window, score them on the days after',
    )
    .option('--seed <n>', 'PRNG seed', String(DEFAULT_SIM_OPTIONS.seed))
    .option('--window-days <n>', 'days of observation', String(DEFAULT_SIM_OPTIONS.windowDays))
    .option('--after-days <n>', 'held-out days', String(DEFAULT_SIM_OPTIONS.afterDays))
    .option('--namespaces <n>', 'application namespaces', String(DEFAULT_SIM_OPTIONS.namespaces))
    .option('--replicas <n>', 'frontend/backend replicas (≥ 3)', String(DEFAULT_SIM_OPTIONS.replicas))
    .option('--nodes <n>', 'nodes', String(DEFAULT_SIM_OPTIONS.nodes))
    .option('--no-snat', 'pods keep their own address when leaving the VPC (external SNAT)')
    .option(
      '--snapshot-hours <n>',
      'hours between inventory snapshots',
      String(DEFAULT_SIM_OPTIONS.snapshotEvery / 3600),
    )
    .option('--rate <x>', 'connection rate multiplier', String(DEFAULT_SIM_OPTIONS.rate))
    .option('--planted <kind>', 'raw-ip or dga-name', DEFAULT_SIM_OPTIONS.planted)
    .option('--planted-port <n>', "the planted endpoint's port (default: 4444 for raw-ip, 8444 for dga-name)")
    .option(
      '--dns-client <who>',
      'whom Route 53 logs as the asker: pod or coredns',
      DEFAULT_SIM_OPTIONS.dnsClient,
    )
    .option(
      '--cdn-cidrs <a,b>',
      'CLOUDFRONT prefixes of the two CDN names',
      DEFAULT_SIM_OPTIONS.cdnCidrs.join(','),
    )
    .option('--s3-cidrs <list>', 'regional S3 prefixes of the buckets', DEFAULT_SIM_OPTIONS.s3Cidrs.join(','))
    .option('--no-coredns-log', "CoreDNS logs no queries (EKS's default Corefile has no `log` plugin)")
    .option(
      '--cdn-published <list>',
      'CLOUDFRONT prefixes ip-ranges.json publishes, wider than the blocks the names draw from (default: --cdn-cidrs)',
    )
    .option(
      '--dns-cache [seconds]',
      "pods cache DNS answers: for each answer's TTL, or for the seconds given (fewer queries precede flows)",
    )
    .option(
      '--flow-interval <seconds>',
      'flow-log aggregation interval: 60 or 600 (a TCP record spans up to that long)',
      String(DEFAULT_SIM_OPTIONS.flowInterval),
    )
    .option(
      '--job-ttl <seconds>',
      "the CronJob's ttlSecondsAfterFinished: its Jobs and pods are gone before the next snapshot",
    )
    .option(
      '--job-watch',
      'a watch saw the Job pods: each is imported as a single object when it runs and ends',
    )
    .option('--dir <dir>', 'keep inputs and results here (default: a temp directory, removed)')
    .option('--json', 'print the score as JSON');
  program.parse(argv);
  const o = program.opts<Record<string, string | boolean | undefined>>();
  const num = (k: string): number => Number(o[k]);
  const options: Partial<SimOptions> = {
    seed: num('seed'),
    windowDays: num('windowDays'),
    afterDays: num('afterDays'),
    namespaces: num('namespaces'),
    replicas: num('replicas'),
    nodes: num('nodes'),
    snat: o.snat !== false,
    snapshotEvery: num('snapshotHours') * 3600,
    rate: num('rate'),
    planted: o.planted as SimOptions['planted'],
    plantedPort: o.plantedPort === undefined ? null : num('plantedPort'),
    dnsClient: o.dnsClient as SimOptions['dnsClient'],
    corednsLog: o.corednsLog !== false,
    cdnCidrs: String(o.cdnCidrs).split(',') as unknown as SimOptions['cdnCidrs'],
    s3Cidrs: String(o.s3Cidrs).split(','),
    cdnPublished: o.cdnPublished === undefined ? null : String(o.cdnPublished).split(','),
    dnsCache: o.dnsCache === undefined ? null : o.dnsCache === true ? 0 : num('dnsCache'),
    flowInterval: num('flowInterval'),
    jobTtl: o.jobTtl === undefined ? null : num('jobTtl'),
    jobWatch: o.jobWatch === true,
  };
  const keep = typeof o.dir === 'string' ? resolve(o.dir) : undefined;
  const log = (line: string): void => void process.stderr.write(`sim: ${line}\n`);
  const dir = keep ?? mkdtempSync(join(tmpdir(), 'el-sim-'));
  let score: Score;
  try {
    const r = simulate(options, { dir, log });
    score = r.score;
    const steps = Object.entries(r.pipeline.seconds)
      .map(([k, v]) => `${k} ${v.toFixed(1)} s`)
      .join(', ');
    log(`${steps}; ${r.pipeline.summary}`);
  } finally {
    if (keep === undefined) rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(o.json === true ? `${JSON.stringify(score, null, 2)}\n` : renderScore(score, options));
  return score.failures.length === 0 ? 0 : 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  try {
    process.exitCode = main(process.argv);
  } catch (err) {
    process.stderr.write(`sim: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 2;
  }
}
