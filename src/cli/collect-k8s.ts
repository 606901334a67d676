import { stat } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { parseKubectlList, type SnapshotReject } from '../../collectors/kubernetes/snapshot.js';
import { readWholeText } from '../../collectors/sources/open.js';
import type { WatchLogEvent } from '../../collectors/kubernetes/watch.js';
import { LeaseRecorder } from '../identity/lease-history.js';
import { InputError, UsageError } from '../model/errors.js';
import type { InventoryChange } from '../model/workload.js';
import { InventoryStore } from '../store/inventory-store.js';
import type { Logger } from '../util/log.js';
import { logger, openForWrite, say, type GlobalOptions } from './context.js';
import { isoTime, parseInstant } from './time-window.js';

/** How far ahead of this clock a snapshot's time may be (another machine's clock, a file copied with its time). */
const FUTURE_SKEW_SECONDS = 300;

interface K8sOptions {
  readonly kubeconfig?: string;
  readonly context?: string;
  readonly once?: boolean;
  readonly snapshot?: string;
  readonly at?: string;
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
      'import `kubectl get pods,nodes,services,namespaces,replicasets,jobs -A -o json` output (a file, gzip or not, or - for stdin) instead of the API',
    )
    .option(
      '--at <time>',
      "the snapshot's time, RFC 3339 or a duration ago (default: the file's modification time)",
    )
    .addOption(
      new Option('-o, --output <format>', 'summary format').choices(['text', 'json']).default('text'),
    )
    .addHelpText(
      'after',
      `
Snapshots taken over time build the lease history; import them in time order. A pod in one snapshot and gone
from the next ends its lease between the two. The watcher needs get/list/watch on pods, nodes, services,
namespaces, replicasets and jobs: collectors/kubernetes/rbac/clusterrole.yaml.

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
      const summary =
        opts.snapshot !== undefined
          ? await importSnapshot(g, opts.snapshot, opts.at, now)
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
  readonly leasesOpened: number;
  readonly leasesClosed: number;
  readonly rejected: number;
  readonly rejects: readonly SnapshotReject[];
}

async function importSnapshot(
  g: GlobalOptions,
  path: string,
  atText: string | undefined,
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
      parsed.reason === 'bad_json'
        ? 'not JSON (expected `kubectl get … -o json` output)'
        : 'not a Kubernetes List (expected `kubectl get … -o json` output)',
      'snapshot_format',
    );
  }
  const s = parsed.snapshot;
  const changes: InventoryChange[] = [
    { op: 'replace', resource: 'namespaces', at, items: s.namespaces },
    { op: 'replace', resource: 'nodes', at, items: s.nodes },
    { op: 'replace', resource: 'services', at, items: s.services },
    { op: 'replace', resource: 'pods', at, items: s.pods },
  ];
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
    const recorder = new LeaseRecorder(inventory, '', inventory.openLeases(''));
    recorder.apply(changes);
    return {
      mode: 'snapshot',
      at: isoTime(at),
      pods: s.pods.length,
      nodes: s.nodes.length,
      services: s.services.length,
      namespaces: s.namespaces.length,
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
    (s.rejected > 0 ? `; ${s.rejected} malformed item${s.rejected === 1 ? '' : 's'} skipped` : '')
  );
}
