/**
 * The live inventory collector: list + watch of pods, nodes, services, namespaces, ReplicaSets and Jobs through
 * @kubernetes/client-node, delivered to an {@link InventorySink}.
 *
 * The Kubernetes list/watch contract (https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes):
 * a list returns a resourceVersion; a watch from it streams every later change. A dropped connection resumes
 * from the last resourceVersion seen (bookmarks keep it fresh), so nothing is missed. When the server no longer
 * has that version (etcd compacted it, or the watch cache moved on) it answers `410 Gone`, and the only way
 * back is a fresh list: that re-list is delivered as a complete `replace`, so a pod that appeared while we were
 * away is recorded with the times its object carries, and one that vanished is closed as of the re-list.
 *
 * ReplicaSets and Jobs are kept only as an owner index (Pod → ReplicaSet → Deployment, Job → CronJob); nothing
 * else is kept in memory, so memory follows the live objects.
 */
import {
  AppsV1Api,
  BatchV1Api,
  CoreV1Api,
  Watch,
  type KubeConfig,
  type V1Job,
  type V1Namespace,
  type V1Node,
  type V1Pod,
  type V1ReplicaSet,
  type V1Service,
} from '@kubernetes/client-node';
import { UsageError } from '../../src/model/errors.js';
import type {
  InventoryChange,
  InventoryResource,
  InventorySink,
  NamespaceRecord,
  NodeRecord,
  PodRecord,
  ServiceRecord,
} from '../../src/model/workload.js';
import {
  indexOwner,
  missingOwner,
  ownerKey,
  toNamespaceRecord,
  toNodeRecord,
  toPodRecord,
  toServiceRecord,
  unindexOwner,
  type MapOutcome,
  type OwnerIndex,
} from './inventory.js';

/** Watched in this order: owners before pods, so the first listing of pods resolves owners exactly. */
export const WATCHED_RESOURCES = ['replicasets', 'jobs', 'namespaces', 'nodes', 'services', 'pods'] as const;
export type WatchedResource = (typeof WATCHED_RESOURCES)[number];

const WATCH_PATHS: Record<WatchedResource, string> = {
  replicasets: '/apis/apps/v1/replicasets',
  jobs: '/apis/batch/v1/jobs',
  namespaces: '/api/v1/namespaces',
  nodes: '/api/v1/nodes',
  services: '/api/v1/services',
  pods: '/api/v1/pods',
};

/** What the watcher reports about itself (connection life, not per-object noise). */
export type WatchLogEvent =
  | {
      readonly type: 'listed';
      readonly resource: WatchedResource;
      readonly count: number;
      readonly rv: string;
    }
  | { readonly type: 'watch-start'; readonly resource: WatchedResource; readonly rv: string }
  | { readonly type: 'watch-closed'; readonly resource: WatchedResource; readonly error: string | null }
  | { readonly type: 'gone'; readonly resource: WatchedResource; readonly rv: string }
  | {
      readonly type: 'retry';
      readonly resource: WatchedResource;
      readonly delayMs: number;
      readonly error: string;
    }
  | {
      readonly type: 'reject';
      readonly resource: WatchedResource;
      readonly name: string;
      readonly reason: string;
    };

export interface InventoryWatcherOptions {
  readonly kubeConfig: KubeConfig;
  readonly sink: InventorySink;
  /** Cluster name stored with every workload; '' by default. */
  readonly cluster?: string;
  /** Epoch seconds; tests may pass a fixed clock. */
  readonly now?: () => number;
  /**
   * Start each watch from this resourceVersion instead of the list's (a resume point kept from an earlier run).
   * A version the server no longer has gives `410 Gone` and a re-list.
   */
  readonly resumeFrom?: Partial<Record<WatchedResource, string>>;
  /** Reconnect delays after an error, doubling from min to max. */
  readonly retryMinMs?: number;
  readonly retryMaxMs?: number;
  /** Items per list page (`limit`). */
  readonly pageSize?: number;
  readonly log?: (e: WatchLogEvent) => void;
}

/** Counts of one full listing. */
export interface ListingStats {
  readonly at: number;
  readonly counts: Readonly<Record<WatchedResource, number>>;
  readonly rejected: number;
}

interface ListResult {
  readonly items: unknown[];
  readonly rv: string;
}

interface Page {
  items: unknown[];
  metadata?: { resourceVersion?: string; _continue?: string };
}

type Lister = (p: { limit: number; _continue?: string }) => Promise<Page>;

export class InventoryWatcher {
  readonly #opts: InventoryWatcherOptions;
  readonly #cluster: string;
  readonly #now: () => number;
  readonly #listers: Record<WatchedResource, Lister>;
  readonly #apps: AppsV1Api;
  readonly #batch: BatchV1Api;
  readonly #index: OwnerIndex = new Map();
  /** Owners a GET could not find, so each is asked for once (cleared on every re-list). */
  readonly #ownerMisses = new Set<string>();
  readonly #rv = new Map<WatchedResource, string>();
  /** Events are applied strictly in arrival order, one at a time (an owner lookup may await). */
  #queue: Promise<void> = Promise.resolve();
  #rejected = 0;
  /** The first error the sink threw (e.g. the database failed): it stops the watcher and `run` rethrows it. */
  #fatal: { error: unknown } | null = null;
  readonly #stop = new AbortController();

  constructor(opts: InventoryWatcherOptions) {
    this.#opts = opts;
    this.#cluster = opts.cluster ?? '';
    this.#now = opts.now ?? (() => Date.now() / 1000);
    const core = opts.kubeConfig.makeApiClient(CoreV1Api);
    this.#apps = opts.kubeConfig.makeApiClient(AppsV1Api);
    this.#batch = opts.kubeConfig.makeApiClient(BatchV1Api);
    this.#listers = {
      replicasets: (p) => this.#apps.listReplicaSetForAllNamespaces(p),
      jobs: (p) => this.#batch.listJobForAllNamespaces(p),
      namespaces: (p) => core.listNamespace(p),
      nodes: (p) => core.listNode(p),
      services: (p) => core.listServiceForAllNamespaces(p),
      pods: (p) => core.listPodForAllNamespaces(p),
    };
  }

  /** Live pods' owners known (ReplicaSets + Jobs); memory grows with this and nothing else. */
  get ownerIndexSize(): number {
    return this.#index.size;
  }

  /**
   * Lists every resource once and delivers the result as one complete view (one transaction in the sink).
   * Errors (unreachable server, forbidden, bad credentials) throw a one-line `UsageError`.
   */
  async listAll(): Promise<ListingStats> {
    const lists = new Map<WatchedResource, ListResult>();
    for (const r of WATCHED_RESOURCES) {
      try {
        lists.set(r, await this.#list(r));
      } catch (err) {
        throw toUsageError(err, this.#opts.kubeConfig.getCurrentCluster()?.server ?? '', r);
      }
    }
    const at = this.#now();
    this.#index.clear();
    this.#ownerMisses.clear();
    const changes: InventoryChange[] = [];
    const counts = {} as Record<WatchedResource, number>;
    for (const r of WATCHED_RESOURCES) {
      const { items, rv } = lists.get(r)!;
      counts[r] = items.length;
      this.#rv.set(r, rv);
      this.#opts.log?.({ type: 'listed', resource: r, count: items.length, rv });
      const change = this.#replaceChange(r, items, at);
      if (change !== null) changes.push(change);
    }
    this.#opts.sink.apply(changes);
    return { at, counts, rejected: this.#rejected };
  }

  /**
   * Lists, then watches every resource until `signal` aborts; resumes after disconnects and re-lists after
   * `410 Gone`. Resolves once every watch has stopped and every received event is applied.
   */
  async run(signal: AbortSignal): Promise<ListingStats> {
    const stats = await this.listAll();
    for (const [r, rv] of Object.entries(this.#opts.resumeFrom ?? {})) {
      if (rv !== undefined) this.#rv.set(r as WatchedResource, rv);
    }
    const stop = AbortSignal.any([signal, this.#stop.signal]);
    await Promise.all(WATCHED_RESOURCES.map((r) => this.#watchLoop(r, stop)));
    await this.#queue;
    if (this.#fatal !== null) throw this.#fatal.error;
    return stats;
  }

  async #watchLoop(r: WatchedResource, signal: AbortSignal): Promise<void> {
    const minMs = this.#opts.retryMinMs ?? 500;
    const maxMs = this.#opts.retryMaxMs ?? 30_000;
    let delay = minMs;
    while (!signal.aborted) {
      const outcome = await this.#watchOnce(r, signal);
      await this.#queue;
      if (signal.aborted) break;
      if (outcome.kind === 'gone') {
        this.#opts.log?.({ type: 'gone', resource: r, rv: this.#rv.get(r) ?? '' });
        try {
          await this.#relist(r);
          delay = minMs;
          continue;
        } catch (err) {
          outcome.error = errorText(err);
        }
      }
      if (outcome.kind === 'closed' && outcome.error === null) {
        // A normal end (server-side timeout, or the connection dropped cleanly): resume at once.
        delay = minMs;
        continue;
      }
      this.#opts.log?.({ type: 'retry', resource: r, delayMs: delay, error: outcome.error ?? '' });
      await sleep(delay, signal);
      delay = Math.min(maxMs, delay * 2);
    }
  }

  #watchOnce(
    r: WatchedResource,
    signal: AbortSignal,
  ): Promise<{ kind: 'gone' | 'closed'; error: string | null }> {
    const rv = this.#rv.get(r) ?? '';
    this.#opts.log?.({ type: 'watch-start', resource: r, rv });
    return new Promise((resolve) => {
      let gone = false;
      let streamError: string | null = null;
      let controller: AbortController | null = null;
      const onAbort = (): void => controller?.abort();
      const done = (err: unknown): void => {
        signal.removeEventListener('abort', onAbort);
        const status = (err as { statusCode?: number } | null)?.statusCode;
        if (status === 410) gone = true;
        const error = err === null || err === undefined ? streamError : errorText(err);
        // An abort we asked for is not an error.
        const quiet = signal.aborted || (err instanceof Error && err.name === 'AbortError');
        this.#opts.log?.({ type: 'watch-closed', resource: r, error: quiet ? null : error });
        resolve({ kind: gone ? 'gone' : 'closed', error: quiet ? null : error });
      };
      new Watch(this.#opts.kubeConfig)
        .watch(
          WATCH_PATHS[r],
          { resourceVersion: rv, allowWatchBookmarks: true },
          (type: string, obj: unknown) => {
            if (type === 'ERROR') {
              // The server reports an expired resourceVersion as a Status object inside the stream.
              const st = obj as { code?: number; message?: string } | null;
              if (st?.code === 410) gone = true;
              else streamError = `watch error ${st?.code ?? '?'}: ${st?.message ?? ''}`;
              return;
            }
            const next = (obj as { metadata?: { resourceVersion?: string } } | null)?.metadata
              ?.resourceVersion;
            if (type === 'BOOKMARK') {
              if (typeof next === 'string') this.#rv.set(r, next);
              return;
            }
            const at = this.#now();
            this.#enqueue(async () => {
              await this.#applyEvent(r, type, obj, at);
              if (typeof next === 'string') this.#rv.set(r, next);
            });
          },
          done,
        )
        .then((c) => {
          controller = c;
          if (signal.aborted) c.abort();
          else signal.addEventListener('abort', onAbort, { once: true });
        }, done);
    });
  }

  #enqueue(task: () => Promise<void>): void {
    this.#queue = this.#queue.then(task).catch((error: unknown) => {
      this.#fatal ??= { error };
      this.#stop.abort();
    });
  }

  async #applyEvent(r: WatchedResource, type: string, obj: unknown, at: number): Promise<void> {
    if (type !== 'ADDED' && type !== 'MODIFIED' && type !== 'DELETED') return;
    const deleted = type === 'DELETED';
    if (r === 'replicasets' || r === 'jobs') {
      const kind = r === 'replicasets' ? 'ReplicaSet' : 'Job';
      if (deleted) unindexOwner(this.#index, kind, obj as V1ReplicaSet);
      else indexOwner(this.#index, kind, obj as V1ReplicaSet | V1Job);
      return;
    }
    if (r === 'pods') await this.#fetchMissingOwner(obj as V1Pod);
    const mapped = this.#map(r, obj);
    if (mapped === null) return;
    const op = deleted ? 'delete' : 'upsert';
    this.#opts.sink.apply([{ op, resource: r, at, item: mapped } as InventoryChange]);
  }

  /**
   * Watch streams are independent, so a pod can arrive before its new ReplicaSet or Job. One GET (allowed by the
   * shipped ClusterRole) settles the owner instead of attributing the pod to the wrong workload.
   */
  async #fetchMissingOwner(pod: V1Pod): Promise<void> {
    const missing = missingOwner(pod, this.#index);
    if (missing === null) return;
    const key = ownerKey(missing.namespace, missing.kind, missing.name);
    if (this.#ownerMisses.has(key)) return;
    try {
      const p = { name: missing.name, namespace: missing.namespace };
      const owner =
        missing.kind === 'ReplicaSet'
          ? await this.#apps.readNamespacedReplicaSet(p)
          : await this.#batch.readNamespacedJob(p);
      indexOwner(this.#index, missing.kind, owner);
    } catch {
      // Gone already or not readable: resolveWorkload falls back to the pod's own labels and references.
      this.#ownerMisses.add(key);
    }
  }

  async #relist(r: WatchedResource): Promise<void> {
    const { items, rv } = await this.#list(r);
    const at = this.#now();
    this.#rv.set(r, rv);
    this.#opts.log?.({ type: 'listed', resource: r, count: items.length, rv });
    if (r === 'replicasets' || r === 'jobs') {
      const kind = r === 'replicasets' ? 'ReplicaSet' : 'Job';
      for (const key of [...this.#index.keys()]) if (key.split('/')[1] === kind) this.#index.delete(key);
      this.#ownerMisses.clear();
      for (const item of items) indexOwner(this.#index, kind, item as V1ReplicaSet | V1Job);
      return;
    }
    if (r === 'pods') for (const item of items) await this.#fetchMissingOwner(item as V1Pod);
    const change = this.#replaceChange(r, items, at);
    if (change !== null) {
      const apply = (): Promise<void> => {
        this.#opts.sink.apply([change]);
        return Promise.resolve();
      };
      this.#enqueue(apply);
      await this.#queue;
    }
  }

  /** For owners: fills the index; for the rest: the complete `replace` change. */
  #replaceChange(r: WatchedResource, items: readonly unknown[], at: number): InventoryChange | null {
    if (r === 'replicasets' || r === 'jobs') {
      const kind = r === 'replicasets' ? 'ReplicaSet' : 'Job';
      for (const item of items) indexOwner(this.#index, kind, item as V1ReplicaSet | V1Job);
      return null;
    }
    const records: unknown[] = [];
    for (const item of items) {
      const m = this.#map(r, item);
      if (m !== null) records.push(m);
    }
    return { op: 'replace', resource: r, at, items: records } as InventoryChange;
  }

  #map(r: InventoryResource, obj: unknown): PodRecord | NodeRecord | ServiceRecord | NamespaceRecord | null {
    let out: MapOutcome<PodRecord | NodeRecord | ServiceRecord | NamespaceRecord>;
    switch (r) {
      case 'pods':
        out = toPodRecord(obj as V1Pod, this.#index, this.#cluster);
        break;
      case 'nodes':
        out = toNodeRecord(obj as V1Node);
        break;
      case 'services':
        out = toServiceRecord(obj as V1Service);
        break;
      case 'namespaces':
        out = toNamespaceRecord(obj as V1Namespace);
        break;
    }
    if (out.ok) return out.value;
    this.#rejected++;
    const meta = (obj as { metadata?: { name?: string; namespace?: string } } | null)?.metadata;
    const name = meta?.namespace ? `${meta.namespace}/${meta.name ?? ''}` : (meta?.name ?? '');
    this.#opts.log?.({ type: 'reject', resource: r, name, reason: out.reason });
    return null;
  }

  /** A complete, paged list. A `410` on a continue token (the snapshot expired mid-list) restarts it. */
  async #list(r: WatchedResource): Promise<ListResult> {
    const limit = this.#opts.pageSize ?? 500;
    for (let attempt = 0; ; attempt++) {
      const items: unknown[] = [];
      let cont: string | undefined;
      let rv = '';
      try {
        do {
          const page = await this.#listers[r](cont === undefined ? { limit } : { limit, _continue: cont });
          for (const item of page.items) items.push(item);
          rv = page.metadata?.resourceVersion ?? rv;
          cont = page.metadata?._continue || undefined;
        } while (cont !== undefined);
        return { items, rv };
      } catch (err) {
        if (statusOf(err) !== 410 || attempt >= 2) throw err;
      }
    }
  }
}

function statusOf(err: unknown): number | null {
  const e = err as { code?: unknown; statusCode?: unknown } | null;
  if (typeof e?.code === 'number') return e.code;
  if (typeof e?.statusCode === 'number') return e.statusCode;
  return null;
}

/** One line about an API error: the Status message for HTTP errors, the socket error otherwise. */
export function errorText(err: unknown): string {
  const status = statusOf(err);
  if (status !== null) {
    const body = (err as { body?: unknown }).body;
    let message: unknown = undefined;
    if (typeof body === 'string') {
      try {
        message = (JSON.parse(body) as { message?: unknown }).message;
      } catch {
        message = body;
      }
    } else if (typeof body === 'object' && body !== null) {
      message = (body as { message?: unknown }).message;
    }
    return `HTTP ${status}${typeof message === 'string' && message !== '' ? `: ${message}` : ''}`;
  }
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : null;
  const msg = typeof e?.message === 'string' ? e.message.split('\n')[0]! : String(err);
  return code !== null && !msg.includes(code) ? `${code}: ${msg}` : msg;
}

function toUsageError(err: unknown, server: string, r: WatchedResource): UsageError {
  const status = statusOf(err);
  if (status === 401) {
    return new UsageError(`Kubernetes API ${server}: not authenticated (${errorText(err)})`, 'k8s_auth');
  }
  if (status === 403) {
    return new UsageError(
      `Kubernetes API ${server}: not allowed to list ${r} (${errorText(err)}); bind collectors/kubernetes/rbac/clusterrole.yaml`,
      'k8s_forbidden',
    );
  }
  if (status !== null)
    return new UsageError(`Kubernetes API ${server}: listing ${r} failed: ${errorText(err)}`, 'k8s_api');
  return new UsageError(
    `cannot reach the Kubernetes API server ${server}: ${errorText(err)}`,
    'k8s_unreachable',
  );
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      resolve();
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
