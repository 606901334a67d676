/**
 * Reads the output of
 *   kubectl get pods,nodes,services,namespaces,replicasets,jobs -A -o json
 * (a `{"apiVersion":"v1","kind":"List","items":[…]}` whose items are of mixed kinds) into inventory records.
 * A typed list (`PodList` from the API, whose items carry no `kind`) is read too, and so is `-o yaml` output.
 * `kubectl get pod web -o json` prints the one object, not a List: it is read as one item, and marked as such,
 * since it lists nothing else. ReplicaSets and Jobs are only used for owner resolution. Kinds it does not use
 * (Deployments, Events, …) are counted as ignored; a malformed item is reported with its position and reason,
 * and never stops the rest.
 */
import type { V1Job, V1Namespace, V1Node, V1Pod, V1ReplicaSet, V1Service } from '@kubernetes/client-node';
import type { NamespaceRecord, NodeRecord, PodRecord, ServiceRecord } from '../../src/model/workload.js';
import { yaml } from '../../src/util/lazy.js';
import {
  indexOwner,
  toNamespaceRecord,
  toNodeRecord,
  toPodRecord,
  toServiceRecord,
  type InventoryRejectReason,
  type OwnerIndex,
} from './inventory.js';

export const SNAPSHOT_REJECT_REASONS = ['missing_kind'] as const;
export type SnapshotRejectReason = InventoryRejectReason | (typeof SNAPSHOT_REJECT_REASONS)[number];

/** One item that could not be used. */
export interface SnapshotReject {
  /** Position in `items`. */
  readonly index: number;
  readonly kind: string;
  /** `namespace/name` or `name` when the item has one, else ''. */
  readonly name: string;
  readonly reason: SnapshotRejectReason;
}

export interface KubeSnapshot {
  readonly pods: readonly PodRecord[];
  readonly nodes: readonly NodeRecord[];
  readonly services: readonly ServiceRecord[];
  readonly namespaces: readonly NamespaceRecord[];
}

/**
 * What a document is: `list`, a listing (`kubectl get pods …`), complete for what it covers; `object`, one object
 * fetched by name (`kubectl get pod web`), which says nothing of any other.
 */
export type SnapshotShape = 'list' | 'object';

export type SnapshotParseResult =
  | {
      readonly ok: true;
      readonly shape: SnapshotShape;
      readonly snapshot: KubeSnapshot;
      readonly rejects: readonly SnapshotReject[];
      /** Items of kinds the inventory does not use. */
      readonly ignored: number;
    }
  | { readonly ok: false; readonly reason: 'bad_syntax' | 'not_kubernetes' };

/** Parses a `kubectl get … -o json` (or `-o yaml`) document. Pure; never throws. */
export function parseKubectlList(text: string, cluster = ''): SnapshotParseResult {
  const doc = decode(text);
  if (doc === undefined) return { ok: false, reason: 'bad_syntax' };
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    return { ok: false, reason: 'not_kubernetes' };
  const kind = (doc as { kind?: unknown }).kind;
  const listed = (doc as { items?: unknown }).items;
  let items: unknown[];
  let shape: SnapshotShape;
  if (Array.isArray(listed)) {
    items = listed;
    shape = 'list';
  } else if (typeof kind === 'string' && kind !== '' && !kind.endsWith('List')) {
    items = [doc];
    shape = 'object';
  } else {
    return { ok: false, reason: 'not_kubernetes' };
  }
  // `PodList` → every item is a Pod; `List` → each item names its kind.
  const itemKind =
    typeof kind === 'string' && kind !== 'List' && kind.endsWith('List')
      ? kind.slice(0, -'List'.length)
      : null;
  const kinds: string[] = [];
  for (const item of items) {
    const k = typeof item === 'object' && item !== null ? (item as { kind?: unknown }).kind : undefined;
    kinds.push(typeof k === 'string' ? k : (itemKind ?? ''));
  }

  const rejects: SnapshotReject[] = [];
  const index: OwnerIndex = new Map();
  // Owners first: a pod listed before its ReplicaSet must still resolve to the Deployment.
  for (let i = 0; i < items.length; i++) {
    const kind = kinds[i]!;
    if (kind !== 'ReplicaSet' && kind !== 'Job') continue;
    if (!indexOwner(index, kind, items[i] as V1ReplicaSet | V1Job)) {
      rejects.push({ index: i, kind, name: nameOf(items[i]), reason: 'missing_name' });
    }
  }
  const pods: PodRecord[] = [];
  const nodes: NodeRecord[] = [];
  const services: ServiceRecord[] = [];
  const namespaces: NamespaceRecord[] = [];
  let ignored = 0;
  for (let i = 0; i < items.length; i++) {
    const kind = kinds[i]!;
    const item = items[i];
    let reason: SnapshotRejectReason | null = null;
    switch (kind) {
      case 'Pod': {
        const r = toPodRecord(item as V1Pod, index, cluster);
        if (r.ok) pods.push(r.value);
        else reason = r.reason;
        break;
      }
      case 'Node': {
        const r = toNodeRecord(item as V1Node);
        if (r.ok) nodes.push(r.value);
        else reason = r.reason;
        break;
      }
      case 'Service': {
        const r = toServiceRecord(item as V1Service);
        if (r.ok) services.push(r.value);
        else reason = r.reason;
        break;
      }
      case 'Namespace': {
        const r = toNamespaceRecord(item as V1Namespace);
        if (r.ok) namespaces.push(r.value);
        else reason = r.reason;
        break;
      }
      case 'ReplicaSet':
      case 'Job':
        break;
      case '':
        reason = 'missing_kind';
        break;
      default:
        ignored++;
    }
    if (reason !== null) rejects.push({ index: i, kind, name: nameOf(item), reason });
  }
  return { ok: true, shape, snapshot: { pods, nodes, services, namespaces }, rejects, ignored };
}

/**
 * The document as JSON, else as YAML (`kubectl get -o yaml`); undefined when it is neither. JSON goes first: it is
 * what kubectl is told to print, and JSON.parse reads a large listing many times faster. The YAML package is loaded
 * only for a document JSON refused (src/util/lazy.ts), so that every other command starts without it.
 */
function decode(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    // not JSON: perhaps YAML
  }
  try {
    // The core schema keeps RFC 3339 times as the strings the JSON form has (YAML 1.1 would make Dates of them).
    return yaml().parse(text, { schema: 'core' });
  } catch {
    return undefined;
  }
}

/**
 * The namespaces a snapshot is a complete listing of, or null for the whole cluster. A snapshot holding Namespace
 * objects is taken as the documented `kubectl get pods,nodes,services,namespaces,replicasets,jobs -A`. Without
 * them (`kubectl get pods -n shop`, or `-A` without `namespaces`) it speaks only for the namespaces its pods and
 * services are in: kubectl prints nothing for a namespace it was not asked about, and a pod absent from the
 * file there has not ended. (kubectl lists cluster-scoped kinds whole even with `-n`, so a listing of some
 * namespaces must leave `namespaces` out; the README says so.)
 */
export function coveredNamespaces(s: KubeSnapshot): readonly string[] | null {
  if (s.namespaces.length > 0) return null;
  const covered = new Set<string>();
  for (const p of s.pods) covered.add(p.namespace);
  for (const v of s.services) covered.add(v.namespace);
  return [...covered].sort();
}

function nameOf(item: unknown): string {
  const meta = typeof item === 'object' && item !== null ? (item as { metadata?: unknown }).metadata : null;
  if (typeof meta !== 'object' || meta === null) return '';
  const { name, namespace } = meta as { name?: unknown; namespace?: unknown };
  if (typeof name !== 'string') return '';
  return typeof namespace === 'string' && namespace !== '' ? `${namespace}/${name}` : name;
}
