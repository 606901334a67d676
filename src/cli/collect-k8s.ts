import { stat } from 'node:fs/promises';
import { Command, Option } from 'commander';
import {
  coveredNamespaces,
  parseKubectlList,
  type KubeSnapshot,
  type SnapshotParseResult,
  type SnapshotReject,
} from '../../collectors/kubernetes/snapshot.js';
import { readWholeText } from '../../collectors/sources/open.js';
import type { WatchLogEvent } from '../../collectors/kubernetes/watch.js';
import { LeaseRecorder } from '../identity/lease-history.js';
import { InputError, UsageError } from '../model/errors.js';
import type { InventoryChange, Lease } from '../model/workload.js';
import { InventoryStore } from '../store/inventory-store.js';
import type { Logger } from '../util/log.js';
import { logger, openForWrite, say, type GlobalOptions } from './context.js';
import { FUTURE_SKEW_SECONDS, isoTime, parseInstant } from './time-window.js';

interface K8sOptions {
  readonly kubeconfig?: string;
  readonly context?: string;
  readonly once?: boolean;
  readonly snapshot?: string;
  readonly at?: string;
  readonly allowEmpty?: boolean;
  readonly output: string;
}

/** `collect k8s`: the Kubernetes inventory (pods, nodes, services, namespaces) and the pod-IP lease history. */
export function k8sCommand(now: () => number = () => Date.now() / 1000): Command {
  return new Command('k8s')
    .description(
      'record which pod (and workload) held which IP when, from the Kubernetes API or a kubectl snapshot',
    )
    .option(
      '--kubeconfig <file>',
      'kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster service account)',
    )
    .option('--context <name>', 'kubeconfig context to use')
    .option(
      '--once',
      'list everything once, record it and exit (default: keep watching until SIGINT/SIGTERM)',
    )
    .option(
      '--snapshot <file>',
      'import `kubectl get pods,nodes,services,namespaces,replicasets,jobs -A -o json` (or -o yaml) output (a file, gzip or not, or - for stdin) instead of the API',
    )
    .option(
      '--at <time>',
      "the snapshot's time, RFC 3339 or a duration ago (default: the file's modification time)",
    )
    .option(
      '--allow-empty',
      'import a snapshot that holds no pod as the whole cluster without pods: every lease ends (refused otherwise)',
    )
    .addOption(
      new Option('-o, --output <format>', 'summary format').choices(['text', 'json']).default('text'),
    )
    .addHelpText(
      'after',
      `
Snapshots taken over time build the lease history; import them in time order. A pod in one snapshot and gone
from the next ends its lease between the two, if the next one covers its namespace: a snapshot holding
Namespace objects covers the whole cluster, one without them (kubectl get pods -n shop) only the namespaces
of its pods and services; with -n, leave namespaces out (kubectl lists them all even then). Nodes, namespaces
and services are updated only from a snapshot that lists some. A snapshot holding no pod is refused.
A single object (kubectl get pod web -o json) is recorded as seen and ends no other pod's lease.

The watcher needs get/list/watch on pods, nodes, services, namespaces, replicasets and jobs:
collectors/kubernetes/rbac/clusterrole.yaml.

Examples:
  egress-learner collect k8s --once
  egress-learner collect k8s --context prod-eu --kubeconfig ~/.kube/config
  kubectl get pods,nodes,services,namespaces,replicasets,jobs -A -o json > inv.json
  egress-learner collect k8s --snapshot inv.json --at 2025-03-01T12:00:00Z`,
    )
    .action(async (opts: K8sOptions, self: Command) => {
      const g = self.optsWithGlobals<GlobalOptions>();
      const log = logger(g);
      if (opts.at !== undefined && opts.snapshot === undefined) {
        throw new UsageError('--at applies to --snapshot only (a live listing is timed by the clock)');
      }
      if (opts.allowEmpty === true && opts.snapshot === undefined) {
        throw new UsageError(
          '--allow-empty applies to --snapshot only (a live listing is the whole cluster)',
        );
      }
      const summary =
        opts.snapshot !== undefined
          ? await importSnapshot(g, opts.snapshot, opts.at, opts.allowEmpty === true, now)
          : await watchCluster(g, opts, log, now);
      if (opts.output === 'json') process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
      else if (!g.quiet) say(g, summaryLine(summary));
    });
}

interface K8sSummary {
  readonly mode: 'snapshot' | 'once' | 'watch';
  readonly at: string;
  readonly pods: number;
  readonly nodes: number;
  readonly services: number;
  readonly namespaces: number;
  /**
   * The namespaces a snapshot was complete for; null: the whole cluster (always so for the API); []: none, a single
   * object (`kubectl get pod web`).
   */
  readonly coveredNamespaces: readonly string[] | null;
  readonly leasesOpened: number;
  readonly leasesClosed: number;
  readonly rejected: number;
  readonly rejects: readonly SnapshotReject[];
}

async function importSnapshot(
  g: GlobalOptions,
  path: string,
  atText: string | undefined,
  allowEmpty: boolean,
  now: () => number,
): Promise<K8sSummary> {
  const text = await readWholeText(path, 'snapshot_read');
  const t = now();
  // Standard input has no modification time: the snapshot is as of now, unless --at says otherwise.
  const mtime = path === '-' ? t : (await stat(path)).mtimeMs / 1000;
  const at = atText === undefined ? mtime : parseInstant(atText, t, '--at');
  // Snapshots are recorded in time order: one from the future would refuse every real one after it.
  if (at > t + FUTURE_SKEW_SECONDS) {
    throw new UsageError(
      atText === undefined
        ? `${path} was modified in the future (${isoTime(Math.round(at))}): pass --at with the time it was taken`
        : `--at ${isoTime(Math.round(at))} is in the future`,
      'snapshot_future',
    );
  }
  const parsed = parseKubectlList(text);
  if (!parsed.ok) {
    throw new InputError(
      path,
      parsed.reason === 'bad_syntax'
        ? 'neither JSON nor YAML (expected `kubectl get … -o json` or `-o yaml` output)'
        : 'not a Kubernetes List or object (expected `kubectl get … -o json` or `-o yaml` output)',
      'snapshot_format',
    );
  }
  const s = parsed.snapshot;
  let covered: readonly string[] | null;
  let changes: InventoryChange[];
  if (parsed.shape === 'object') {
    covered = [];
    changes = objectChanges(path, parsed, allowEmpty, at);
  } else {
    // kubectl prints an empty List for a wrong context or namespace; taken as a listing, it would end every lease,
    // and snapshots go in time order, so no older one could put them back.
    if (s.pods.length === 0 && !allowEmpty) {
      const skipped = parsed.rejects.length;
      throw new UsageError(
        `${path} holds no pod${skipped > 0 ? ` (${skipped} malformed item${skipped === 1 ? '' : 's'} skipped)` : ''}: nothing recorded; check the kubectl context and namespace, or pass --allow-empty if the cluster has none`,
        'snapshot_empty',
      );
    }
    covered = s.pods.length === 0 ? null : coveredNamespaces(s);
    changes = listChanges(s, covered, at);
  }
  const store = openForWrite(g);
  try {
    const inventory = new InventoryStore(store.db);
    const last = inventory.lastAt('');
    if (last !== null && at < last) {
      throw new UsageError(
        `snapshot time ${isoTime(at)} is before the latest recorded inventory (${isoTime(last)}): import snapshots in time order, or pass --at`,
        'snapshot_order',
      );
    }
    const open = inventory.openLeases('');
    const recorder = new LeaseRecorder(inventory, '', open);
    recorder.apply(changes);
    const ended = countEnded(open, recorder.history.openLeases());
    // A single object can end only its own leases (it finished, or changed address): nothing to warn about.
    if (parsed.shape === 'list' && ended * 2 > open.length) {
      const why =
        covered !== null
          ? `in the namespaces it covers (${listed(covered)})`
          : s.pods.length === 0
            ? 'as a cluster without pods (--allow-empty)'
            : 'as a listing of the whole cluster (it holds Namespace objects; with kubectl get -n, leave namespaces out)';
      say(g, `egress-learner: warning: ${path} ended ${ended} of ${open.length} open leases, ${why}`, 'warn');
    }
    return {
      mode: 'snapshot',
      at: isoTime(at),
      pods: s.pods.length,
      nodes: s.nodes.length,
      services: s.services.length,
      namespaces: s.namespaces.length,
      coveredNamespaces: covered,
      leasesOpened: recorder.counts.opened,
      leasesClosed: recorder.counts.closed,
      rejected: parsed.rejects.length,
      rejects: parsed.rejects,
    };
  } finally {
    store.close();
  }
}

async function watchCluster(
  g: GlobalOptions,
  opts: K8sOptions,
  log: Logger,
  now: () => number,
): Promise<K8sSummary> {
  // The Kubernetes client takes about a second to load: only commands that talk to the cluster pay for it.
  const { loadKubeConfig } = await import('../../collectors/kubernetes/kubeconfig.js');
  const { InventoryWatcher } = await import('../../collectors/kubernetes/watch.js');
  const kubeConfig = loadKubeConfig({ kubeconfig: opts.kubeconfig, context: opts.context });
  const store = openForWrite(g);
  const abort = new AbortController();
  const onSignal = (): void => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const inventory = new InventoryStore(store.db);
    const recorder = new LeaseRecorder(inventory, '', inventory.openLeases(''));
    const watcher = new InventoryWatcher({
      kubeConfig,
      sink: recorder,
      now,
      log: (e) => logWatchEvent(log, e),
    });
    const stats = opts.once ? await watcher.listAll() : await watcher.run(abort.signal);
    return {
      mode: opts.once ? 'once' : 'watch',
      at: isoTime(stats.at),
      pods: stats.counts.pods,
      nodes: stats.counts.nodes,
      services: stats.counts.services,
      namespaces: stats.counts.namespaces,
      coveredNamespaces: null,
      leasesOpened: recorder.counts.opened,
      leasesClosed: recorder.counts.closed,
      rejected: stats.rejected,
      rejects: [],
    };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    store.close();
  }
}

/** A listing's changes: complete for the namespaces `covered` (null: the whole cluster). */
function listChanges(s: KubeSnapshot, covered: readonly string[] | null, at: number): InventoryChange[] {
  const scope = covered === null ? {} : { namespaces: covered };
  // Nodes, namespaces, services: a kind the snapshot holds none of was not asked for, and ends nothing.
  const changes: InventoryChange[] = [];
  if (s.namespaces.length > 0)
    changes.push({ op: 'replace', resource: 'namespaces', at, items: s.namespaces });
  if (s.nodes.length > 0) changes.push({ op: 'replace', resource: 'nodes', at, items: s.nodes });
  if (s.services.length > 0) {
    changes.push({ op: 'replace', resource: 'services', at, items: s.services, ...scope });
  }
  changes.push({ op: 'replace', resource: 'pods', at, items: s.pods, ...scope });
  return changes;
}

/**
 * One object fetched by name (`kubectl get pod web -o json`) is a sighting of that object, as a watch event is: it
 * is recorded (a new pod's lease opens from its start, a terminating one's deletion time is kept), and nothing
 * else ends, not even in its namespace: kubectl was asked for this pod, not for the namespace's.
 */
function objectChanges(
  path: string,
  parsed: Extract<SnapshotParseResult, { ok: true }>,
  allowEmpty: boolean,
  at: number,
): InventoryChange[] {
  if (allowEmpty) {
    throw new UsageError(
      `--allow-empty applies to a List; ${path} is a single object, which ends no lease`,
      'snapshot_object',
    );
  }
  const s = parsed.snapshot;
  const changes: InventoryChange[] = [
    ...s.namespaces.map((item) => ({ op: 'upsert', resource: 'namespaces', at, item }) as const),
    ...s.nodes.map((item) => ({ op: 'upsert', resource: 'nodes', at, item }) as const),
    ...s.services.map((item) => ({ op: 'upsert', resource: 'services', at, item }) as const),
    ...s.pods.map((item) => ({ op: 'upsert', resource: 'pods', at, item }) as const),
  ];
  if (changes.length === 0) {
    const bad = parsed.rejects[0];
    throw new UsageError(
      bad !== undefined
        ? `${path} is a single ${bad.kind || 'object'} that cannot be read (${bad.reason}): nothing recorded`
        : `${path} is a single object of a kind the inventory does not keep: nothing recorded (expected a Pod, Node, Service or Namespace, or a List)`,
      'snapshot_object',
    );
  }
  return changes;
}

/** How many of the leases open before a view are no longer open after it. */
function countEnded(before: readonly Lease[], after: readonly Lease[]): number {
  const key = (l: Lease): string => `${l.podUid} ${l.ip} ${l.start}`;
  const still = new Set(after.map(key));
  let ended = 0;
  for (const l of before) if (!still.has(key(l))) ended++;
  return ended;
}

/** Up to three names, then how many more. */
function listed(names: readonly string[]): string {
  return names.length <= 3
    ? names.join(', ')
    : `${names.slice(0, 3).join(', ')} and ${names.length - 3} more`;
}

function logWatchEvent(log: Logger, e: WatchLogEvent): void {
  switch (e.type) {
    case 'listed':
      log.debug({ resource: e.resource, count: e.count, rv: e.rv }, 'listed');
      return;
    case 'watch-start':
      log.debug({ resource: e.resource, rv: e.rv }, 'watching');
      return;
    case 'watch-closed':
      if (e.error !== null) log.warn({ resource: e.resource, error: e.error }, 'watch closed');
      else log.debug({ resource: e.resource }, 'watch closed');
      return;
    case 'gone':
      log.info({ resource: e.resource, rv: e.rv }, '410 Gone: re-listing');
      return;
    case 'retry':
      log.warn({ resource: e.resource, delayMs: e.delayMs, error: e.error }, 'reconnecting');
      return;
    case 'reject':
      log.warn({ resource: e.resource, name: e.name, reason: e.reason }, 'malformed object skipped');
      return;
  }
}

function summaryLine(s: K8sSummary): string {
  return (
    `k8s ${s.mode} at ${s.at}: ${s.pods} pods, ${s.nodes} nodes, ${s.services} services, ${s.namespaces} namespaces; ` +
    `leases opened ${s.leasesOpened}, closed ${s.leasesClosed}` +
    (s.coveredNamespaces === null
      ? ''
      : s.coveredNamespaces.length === 0
        ? ' (a single object: other pods keep their leases)'
        : ` (covers namespaces ${listed(s.coveredNamespaces)})`) +
    (s.rejected > 0 ? `; ${s.rejected} malformed item${s.rejected === 1 ? '' : 's'} skipped` : '')
  );
}
