import type Database from 'better-sqlite3';
import { Command, Option } from 'commander';
import { connectivity, formatConnlistJson } from '../audit/connectivity.js';
import { readManifests, TEMPLATE_KINDS } from '../audit/manifests.js';
import {
  clusterNetworkPolicies,
  emptyPolicySet,
  readPolicySet,
  type PolicySet,
} from '../audit/policy-set.js';
import type { NetworkPolicy } from '../audit/networkpolicy.js';
import { PodIndex } from '../audit/pod-index.js';
import { replayOutcome, type ReplayRow } from '../audit/replay.js';
import { protocolLabel } from '../model/endpoint.js';
import { InputError, KnownError, UsageError } from '../model/errors.js';
import type { FlowFilter } from '../store/flow-query.js';
import {
  attributedEdges,
  leasesInWindow,
  namespaceLabels,
  podLabels,
  services,
} from '../store/infer-query.js';
import { say, type GlobalOptions } from './context.js';
import { OUTPUT_FORMATS, parseOutputFormat, writeRows } from './output.js';
import { collect, openAttributed, parseFilter, withFilterOptions } from './query.js';
import { isoTime } from './time-window.js';

/** `audit connectivity` prints a list of pairs; JSON keeps the nested `allowed` ranges, the table its text. */
const CONNECTIVITY_FORMATS = ['table', 'json'] as const;
type ConnectivityFormat = (typeof CONNECTIVITY_FORMATS)[number];

/** `audit`: check policies before they are enforced. */
export function auditCommand(now: () => number): Command {
  const cmd = new Command('audit').description(
    'replay observed traffic against policies (what would they deny?), or list what manifests allow',
  );
  cmd.addCommand(replayCommand(now), { isDefault: true });
  cmd.addCommand(connectivityCommand());
  return cmd;
}

/** Thrown to exit 3: the replay found traffic the policies would deny (not an error, a finding). */
export class WouldDeny extends KnownError {
  readonly code = 'would_deny';
  readonly exitCode = 3;
}

/** Namespace labels keyed by namespace name (one cluster per database). */
function byNamespace(m: Map<string, Record<string, string>>): Map<string, Record<string, string>> {
  return new Map([...m].map(([k, v]) => [k.slice(k.indexOf('/') + 1), v]));
}

const REPLAY_COLUMNS = [
  'verdict',
  'sender',
  'target',
  'port',
  'protocol',
  'via',
  'flows',
  'lastSeen',
  'by',
  'reason',
];

/** The options that name policy layers, shared by `audit` and `report`. */
export function withPolicyOptions(cmd: Command): Command {
  return cmd
    .option(
      '--policies <path>',
      'NetworkPolicy / EgressRuleSet / security-group files or folders (repeatable)',
      collect,
    )
    .option(
      '--candidates <dir>',
      "a 'suggest --out' folder: replay against the candidates (repeatable)",
      collect,
    )
    .option('--from-cluster', "add the cluster's NetworkPolicies, read through the Kubernetes API")
    .option(
      '--kubeconfig <file>',
      'kubeconfig for --from-cluster (default: $KUBECONFIG, ~/.kube/config, in-cluster)',
    )
    .option('--context <name>', 'kubeconfig context for --from-cluster');
}

/** The layers the options name, or null when they name none; what was left out is said as a warning. */
export async function loadPolicyLayers(
  g: GlobalOptions,
  opts: Record<string, unknown>,
): Promise<PolicySet | null> {
  const paths = [
    ...((opts.policies as string[] | undefined) ?? []),
    ...((opts.candidates as string[] | undefined) ?? []),
  ];
  if (paths.length === 0 && opts.fromCluster !== true) return null;
  const set = emptyPolicySet();
  for (const p of paths) {
    const before = set.files.length;
    readPolicySet([p], set);
    for (const why of set.skipped.splice(0)) say(g, `egress-learner: warning: ${why}`, 'warn');
    // An audit against nothing would pass whatever the traffic: a path that holds no layer is a mistake.
    if (set.files.length === before)
      throw new InputError(
        p,
        'no NetworkPolicy, EgressRuleSet or security-group rules found (searched *.yaml, *.yml, *.json)',
        'no_policies',
      );
  }
  if (opts.fromCluster === true) {
    // The Kubernetes client takes about a second to load: only cluster reads pay for it.
    const { loadKubeConfig } = await import('../../collectors/kubernetes/kubeconfig.js');
    const kc = loadKubeConfig({
      kubeconfig: opts.kubeconfig as string | undefined,
      context: opts.context as string | undefined,
    });
    set.networkPolicies.push(...(await clusterNetworkPolicies(kc)));
  }
  return set;
}

/** Replays the window's edges (an open, attribution-refreshed database) against `set`. */
export function replayStore(
  db: Database.Database,
  set: PolicySet,
  filter: FlowFilter,
): { rows: ReplayRow[]; idle: NetworkPolicy[] } {
  const leases = leasesInWindow(db, filter.since ?? -Infinity, filter.until ?? Infinity);
  return replayOutcome(
    attributedEdges(db, filter),
    set,
    byNamespace(namespaceLabels(db)),
    podLabels(db),
    new PodIndex(leases, services(db)),
  );
}

function replayCommand(now: () => number): Command {
  return withPolicyOptions(
    withFilterOptions(
      new Command('replay').description(
        'replay observed egress against policies: per workload, what would be denied and which rule allows the rest',
      ),
      // Egress policies judge egress: the replay reads egress edges only.
      ['direction'],
    ),
  )
    .option('--denied-only', 'list only traffic that would be denied')
    .addOption(new Option('-o, --output <format>', 'output format').choices(OUTPUT_FORMATS).default('table'))
    .addHelpText(
      'after',
      `
Exit code 3 when any observed traffic would be denied (0 when none), so CI and cron jobs can gate on it.

Examples:
  egress-learner audit --since 7d --candidates candidates/
  egress-learner audit --since 24h --from-cluster --policies extra-policies/ --denied-only -o json`,
    )
    .action(async (opts: Record<string, unknown>, self: Command) => {
      const g = self.optsWithGlobals<GlobalOptions>();
      const filter = parseFilter(opts, now());
      const format = parseOutputFormat(String(opts.output));
      const set = await loadPolicyLayers(g, opts);
      if (set === null)
        throw new UsageError('nothing to audit against: give --policies, --candidates or --from-cluster');
      const { store } = await openAttributed(g, opts, now, true);
      let rows: ReplayRow[];
      let idle: NetworkPolicy[];
      try {
        ({ rows, idle } = replayStore(store.db, set, filter));
      } finally {
        store.close();
      }
      // An audit that judged nothing passes whatever the policies say: say so rather than pass in silence.
      if (rows.length === 0)
        say(
          g,
          'egress-learner: warning: audit: no observed traffic in the window matches the filters: nothing was judged',
          'warn',
        );
      if (idle.length > 0 && rows.length > 0)
        say(
          g,
          `egress-learner: warning: audit: ${idle.length} NetworkPolicies select none of the pods judged (check their namespace and podSelector): ${idle
            .slice(0, 10)
            .map((p) => `${p.namespace}/${p.name}`)
            .join(', ')}${idle.length > 10 ? ', …' : ''}`,
          'warn',
        );
      const shown = (opts.deniedOnly === true ? rows.filter((r) => r.verdict === 'denied') : rows).map(
        (r) => ({
          ...r,
          protocol: protocolLabel(r.protocol),
          // RFC 3339, as every query's JSON gives times.
          firstSeen: isoTime(r.firstSeen),
          lastSeen: isoTime(r.lastSeen),
        }),
      );
      if (format === 'json') process.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
      else
        writeRows(
          process.stdout,
          shown.map((r) => ({
            verdict: r.verdict,
            sender: r.sender,
            target: r.target,
            port: r.port,
            protocol: r.protocol,
            via: r.via,
            flows: r.flows,
            lastSeen: r.lastSeen,
            by: r.layers.flatMap((l) => l.allowedBy).join('; '),
            reason: r.layers
              .map((l) => l.reason)
              .filter((x) => x !== '')
              .join('; '),
          })),
          REPLAY_COLUMNS,
          format,
        );
      const denied = rows.filter((r) => r.verdict === 'denied');
      if (denied.length > 0) {
        const workloads = new Set(denied.map((r) => r.sender)).size;
        throw new WouldDeny(
          `audit: ${denied.length} observed conversations of ${workloads} senders would be denied (of ${rows.length} replayed against ${set.files.length} policy files${opts.fromCluster === true ? ' and the cluster' : ''})`,
        );
      }
      if (g.quiet !== true)
        say(g, `audit: nothing observed would be denied (${rows.length} conversations replayed)\n`);
    });
}

function connectivityCommand(): Command {
  return new Command('connectivity')
    .description(
      'list the connections the NetworkPolicies in a folder of manifests allow between its workloads and external addresses',
    )
    .argument('<path>', 'folder (searched recursively for *.yaml, *.yml, *.json) or one manifest file')
    .addOption(
      new Option('-o, --output <format>', 'output format').choices(CONNECTIVITY_FORMATS).default('table'),
    )
    .addHelpText(
      'after',
      `
Pairs that are not listed may not connect at all. A workload is <namespace>/<name>[<Kind>]; an external peer is
an address range, cut at the bounds of the ipBlocks the policies name.

Examples:
  egress-learner audit connectivity k8s/manifests/
  egress-learner audit connectivity k8s/manifests/ -o json | jq '.[] | select(.dst | startswith("payments/"))'`,
    )
    .action((path: string, opts: { output: ConnectivityFormat }, self: Command) => {
      const manifests = readManifests(path);
      const g = self.optsWithGlobals<GlobalOptions>();
      for (const why of manifests.skipped) say(g, `egress-learner: warning: ${why}`, 'warn');
      // Connections run between workloads (and external ranges): without one the list is empty whatever the
      // policies say, which must not pass for "nothing may connect".
      if (manifests.workloads.length === 0)
        say(
          g,
          `egress-learner: warning: ${path} holds no workload (a Pod, or one of ${TEMPLATE_KINDS.join(', ')}): no connection to list`,
          'warn',
        );
      const entries = connectivity(manifests);
      if (opts.output === 'json') {
        process.stdout.write(formatConnlistJson(entries));
        return;
      }
      writeRows(
        process.stdout,
        entries.map((e) => ({ src: e.src, dst: e.dst, conn: e.conn })),
        ['src', 'dst', 'conn'],
        'table',
      );
    });
}
