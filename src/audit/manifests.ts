import { readdirSync, readFileSync, statSync, type Dirent, type Stats } from 'node:fs';
import { join } from 'node:path';
import { yaml } from '../util/lazy.js';
import { InputError } from '../model/errors.js';
import { isProtocol } from './connection-set.js';
import { parseLabels, type Labels } from './label-selector.js';
import { ManifestError } from './manifest-error.js';
import { parseNetworkPolicy, type NetworkPolicy } from './networkpolicy.js';
import type { ContainerPort, PodPeer } from './peer.js';
import { MAX_PORT, MIN_PORT } from './port-set.js';

/**
 * Reads a folder (or one file) of Kubernetes manifests into what NetworkPolicy evaluation needs: namespaces
 * with labels, one representative pod per workload, and the policies. Everything else (Services, RBAC,
 * OpenShift Routes, …) is ignored.
 */

/** Kinds that own a pod template; each becomes one workload peer named after the object. */
export const TEMPLATE_KINDS = [
  'Deployment',
  'ReplicaSet',
  'ReplicationController',
  'StatefulSet',
  'DaemonSet',
  'Job',
  'CronJob',
] as const;

/** A workload as the connection list names it, with the pod that stands for all of its replicas. */
export interface WorkloadPeer {
  readonly namespace: string;
  readonly name: string;
  /** The object's kind, a controller owner's kind, or `Pod` for a pod without one. */
  readonly kind: string;
  /** `<namespace>/<name>[<Kind>]` */
  readonly id: string;
  readonly pod: PodPeer;
  /** The file the representative pod was read from. */
  readonly file: string;
}

export interface Manifests {
  /** Every namespace declared or used, with its labels (`kubernetes.io/metadata.name` always present). */
  readonly namespaces: ReadonlyMap<string, Labels>;
  /** Ordered by id. */
  readonly workloads: readonly WorkloadPeer[];
  readonly policies: readonly NetworkPolicy[];
  /** Why objects that look relevant were left out (see {@link foreignPolicy}), one line each, for warnings. */
  readonly skipped: readonly string[];
}

/** A decoded object and the file it came from. */
export interface SourcedObject {
  readonly file: string;
  readonly object: Record<string, unknown>;
}

const MANIFEST_FILE = /\.(ya?ml|json)$/i;

/** Kubernetes sets this label on every namespace (since 1.22), and selectors commonly match on it. */
const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The one-line reason a path could not be read, as the collectors word it. */
function fsReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (code === 'ENOENT') return 'no such file or directory';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  return code ?? (err instanceof Error ? err.message : String(err));
}

function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

/**
 * Every `*.yaml`, `*.yml` and `*.json` file under `path` (or `path` itself), sorted so that reading is
 * deterministic. Hidden entries (`.git/`) are left out, symbolic links followed, dangling ones skipped.
 */
export function manifestFiles(path: string): string[] {
  let top: Stats;
  try {
    top = statSync(path);
  } catch (err) {
    throw new InputError(path, fsReason(err), 'unreadable');
  }
  if (!top.isDirectory()) return [path];
  const out: string[] = [];
  const walk = (dir: string, depth: number): void => {
    // A link cycle would otherwise recurse forever; no manifest tree is this deep.
    if (depth > 64)
      throw new InputError(dir, 'directories nested too deep (a symbolic link loop?)', 'unreadable');
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch (err) {
      throw new InputError(dir, fsReason(err), 'unreadable');
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const full = join(dir, e.name);
      const st = e.isSymbolicLink() ? statOrNull(full) : e;
      if (st === null) continue;
      if (st.isDirectory()) walk(full, depth + 1);
      else if (st.isFile() && MANIFEST_FILE.test(e.name)) out.push(full);
    }
  };
  walk(path, 0);
  return out;
}

function firstLine(text: string): string {
  return text.split('\n', 1)[0]!.trim();
}

/**
 * Decodes one file into objects: JSON for `.json`, else every YAML document. `List`/`PodList`/… are flattened,
 * and an item without `kind` takes it from its list (`PodList` items are Pods). Non-objects are skipped.
 */
export function parseManifestText(text: string, file: string): Record<string, unknown>[] {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const roots: unknown[] = [];
  if (/\.json$/i.test(file)) {
    try {
      roots.push(JSON.parse(body));
    } catch (err) {
      throw new InputError(file, `invalid JSON: ${firstLine((err as Error).message)}`, 'bad_manifest');
    }
  } else {
    // Duplicate keys are accepted, the last one winning, like the non-strict Go decoding netpol-analyzer uses.
    for (const doc of yaml().parseAllDocuments(body, { uniqueKeys: false })) {
      const problem = doc.errors[0];
      if (problem !== undefined) {
        throw new InputError(file, `invalid YAML: ${firstLine(problem.message)}`, 'bad_manifest');
      }
      try {
        roots.push(doc.toJS({ maxAliasCount: 1000 }));
      } catch (err) {
        throw new InputError(file, `invalid YAML: ${yamlValueProblem(err as Error)}`, 'bad_manifest');
      }
    }
  }
  const out: Record<string, unknown>[] = [];
  const flatten = (v: unknown, defaultKind: string | null): void => {
    if (Array.isArray(v)) {
      for (const item of v) flatten(item, defaultKind);
      return;
    }
    if (!isRecord(v)) return;
    const kind = typeof v.kind === 'string' ? v.kind : defaultKind;
    if (kind === null) return;
    if (kind.endsWith('List') && Array.isArray(v.items)) {
      flatten(v.items, kind === 'List' ? null : kind.slice(0, -'List'.length));
      return;
    }
    out.push(v.kind === kind ? v : { ...v, kind });
  };
  for (const root of roots) flatten(root, null);
  return out;
}

/**
 * A problem found while building values (an alias to nothing, an alias bomb). `- *.example.org:80`, as the
 * EgressRuleSet proposal writes a wildcard target, is an alias in YAML: the message says to quote it.
 */
function yamlValueProblem(err: Error): string {
  const alias = /^Unresolved alias \(the anchor must be set before the alias\): (\S+)/.exec(err.message);
  if (alias !== null)
    return `*${alias[1]} is an alias to no anchor; quote a value that begins with *, as in "*${alias[1]}"`;
  return firstLine(err.message);
}

/**
 * Calico, Antrea and others name a kind NetworkPolicy too, with other fields and meanings (a Calico `action: Deny`
 * rule read as a Kubernetes one would allow everything): a NetworkPolicy of another API group is left out, and
 * this says why. An object without `apiVersion` (an item of a typed list) is taken as the Kubernetes one.
 */
export function foreignPolicy(obj: Record<string, unknown>, file: string): string | null {
  const version = obj.apiVersion;
  if (obj.kind !== 'NetworkPolicy' || typeof version !== 'string') return null;
  if (/^(networking\.k8s\.io|extensions)\/[^/]+$/.test(version)) return null;
  const meta = metadataOf(obj);
  const name = `${typeof meta.namespace === 'string' ? `${meta.namespace}/` : ''}${String(meta.name ?? '')}`;
  return `${file}: ${version} NetworkPolicy ${name} is not a Kubernetes NetworkPolicy (networking.k8s.io/v1): skipped`;
}

function metadataOf(obj: Record<string, unknown>): Record<string, unknown> {
  return isRecord(obj.metadata) ? obj.metadata : {};
}

function namespaceOf(obj: Record<string, unknown>): string {
  const ns = metadataOf(obj).namespace;
  // kubectl puts an object without a namespace into `default`.
  return typeof ns === 'string' && ns !== '' ? ns : 'default';
}

function nameOf(obj: Record<string, unknown>, kind: string): string {
  const name = metadataOf(obj).name;
  if (typeof name !== 'string' || name === '') throw new ManifestError(`${kind}: metadata.name is missing`);
  return name;
}

/**
 * A field read the way Go's encoding/json (and so netpol-analyzer) reads it: the exact key, else a key that
 * differs only in case. Manifests in the wild carry `containerport:` and tools that decode with Go accept it.
 */
function goField(obj: Record<string, unknown>, name: string): unknown {
  if (Object.hasOwn(obj, name)) return obj[name];
  const lower = name.toLowerCase();
  for (const k of Object.keys(obj)) if (k.toLowerCase() === lower) return obj[k];
  return undefined;
}

function containerPorts(podSpec: unknown, where: string): ContainerPort[] {
  if (!isRecord(podSpec) || !Array.isArray(podSpec.containers)) return [];
  const out: ContainerPort[] = [];
  podSpec.containers.forEach((c: unknown, ci) => {
    if (!isRecord(c) || c.ports === undefined || c.ports === null) return;
    if (!Array.isArray(c.ports)) throw new ManifestError(`${where}.containers[${ci}].ports: expected a list`);
    c.ports.forEach((p: unknown, pi) => {
      const at = `${where}.containers[${ci}].ports[${pi}]`;
      if (!isRecord(p)) throw new ManifestError(`${at}: expected {name, containerPort, protocol}`);
      const port = goField(p, 'containerPort');
      // Nothing can refer to a port without a number; skip it rather than refuse the workload.
      if (port === undefined || port === null) return;
      if (typeof port !== 'number' || !Number.isInteger(port) || port < MIN_PORT || port > MAX_PORT) {
        throw new ManifestError(
          `${at}.containerPort: ${JSON.stringify(port)} is not a port number (1-65535)`,
        );
      }
      // A container port's protocol defaults to TCP, as in Kubernetes.
      const protocol = goField(p, 'protocol') ?? 'TCP';
      if (!isProtocol(protocol)) {
        throw new ManifestError(`${at}.protocol: ${JSON.stringify(protocol)} is not one of TCP, UDP, SCTP`);
      }
      const name = goField(p, 'name');
      out.push({ name: typeof name === 'string' && name !== '' ? name : null, port, protocol });
    });
  });
  return out;
}

/** The pod template of a workload object (a CronJob's sits one level deeper, in its job template). */
function podTemplate(obj: Record<string, unknown>, kind: string): Record<string, unknown> {
  const spec = isRecord(obj.spec) ? obj.spec : {};
  const jobSpec = kind === 'CronJob' && isRecord(spec.jobTemplate) ? spec.jobTemplate.spec : spec;
  const template = isRecord(jobSpec) ? jobSpec.template : undefined;
  return isRecord(template) ? template : {};
}

/**
 * The peer a Pod object belongs to: its controller owner (a Deployment's pods sit under their ReplicaSet), or
 * the pod itself. Static pods name their Node as owner; that is no workload.
 */
function podOwner(obj: Record<string, unknown>, podName: string): { name: string; kind: string } {
  const refs = metadataOf(obj).ownerReferences;
  if (Array.isArray(refs)) {
    for (const ref of refs) {
      if (!isRecord(ref) || ref.controller !== true) continue;
      if (ref.kind === 'Node' || typeof ref.name !== 'string' || ref.name === '') break;
      return { name: ref.name, kind: typeof ref.kind === 'string' && ref.kind !== '' ? ref.kind : 'Pod' };
    }
  }
  return { name: podName, kind: 'Pod' };
}

interface PendingWorkload {
  readonly namespace: string;
  readonly name: string;
  readonly kind: string;
  readonly labels: Labels;
  readonly ports: readonly ContainerPort[];
  readonly file: string;
}

/**
 * Builds the evaluation model from decoded objects. Pure: throws `InputError` naming the object's file for an
 * object that cannot be evaluated.
 */
export function buildManifests(objects: readonly SourcedObject[]): Manifests {
  const declared = new Map<string, Labels>();
  const pending: PendingWorkload[] = [];
  const policies: NetworkPolicy[] = [];
  const skipped: string[] = [];
  for (const { file, object } of objects) {
    const kind = object.kind;
    const foreign = foreignPolicy(object, file);
    if (foreign !== null) {
      skipped.push(foreign);
      continue;
    }
    try {
      if (kind === 'Namespace') {
        const name = nameOf(object, 'Namespace');
        const labels = parseLabels(metadataOf(object).labels, `Namespace ${name}: metadata.labels`);
        declared.set(name, labels);
      } else if (kind === 'NetworkPolicy') {
        policies.push(parseNetworkPolicy(object));
      } else if (kind === 'Pod') {
        const podName = nameOf(object, 'Pod');
        const where = `Pod ${namespaceOf(object)}/${podName}`;
        pending.push({
          namespace: namespaceOf(object),
          ...podOwner(object, podName),
          labels: parseLabels(metadataOf(object).labels, `${where}: metadata.labels`),
          ports: containerPorts(object.spec, `${where}: spec`),
          file,
        });
      } else if (typeof kind === 'string' && (TEMPLATE_KINDS as readonly string[]).includes(kind)) {
        const name = nameOf(object, kind);
        const where = `${kind} ${namespaceOf(object)}/${name}`;
        const template = podTemplate(object, kind);
        pending.push({
          namespace: namespaceOf(object),
          name,
          kind,
          labels: parseLabels(metadataOf(template).labels, `${where}: pod template metadata.labels`),
          ports: containerPorts(template.spec, `${where}: pod template spec`),
          file,
        });
      }
    } catch (err) {
      // Parser messages start with the object (`NetworkPolicy ns/name: spec.ingress[0]…`); add the file.
      if (err instanceof ManifestError) throw new InputError(file, err.message, 'bad_manifest');
      throw err;
    }
  }

  const namespaces = new Map<string, Labels>();
  const namespaceLabels = (name: string): Labels => {
    let labels = namespaces.get(name);
    if (labels === undefined) {
      const given = declared.get(name) ?? {};
      // Declared or not, a namespace carries its name label; an explicit value in the manifest wins.
      labels = Object.freeze(
        Object.hasOwn(given, NAMESPACE_NAME_LABEL)
          ? { ...given }
          : { ...given, [NAMESPACE_NAME_LABEL]: name },
      );
      namespaces.set(name, labels);
    }
    return labels;
  };
  for (const name of declared.keys()) namespaceLabels(name);
  for (const p of policies) namespaceLabels(p.namespace);

  // Replicas of one workload are alike, so the first pod read stands for all of them.
  const byId = new Map<string, WorkloadPeer>();
  for (const w of pending) {
    const id = `${w.namespace}/${w.name}[${w.kind}]`;
    if (byId.has(id)) continue;
    const pod: PodPeer = Object.freeze({
      kind: 'pod',
      namespace: w.namespace,
      labels: Object.freeze(w.labels),
      namespaceLabels: namespaceLabels(w.namespace),
      ports: Object.freeze(w.ports),
    });
    byId.set(
      id,
      Object.freeze({ namespace: w.namespace, name: w.name, kind: w.kind, id, pod, file: w.file }),
    );
  }
  const workloads = [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { namespaces, workloads, policies, skipped };
}

/** Reads every manifest file under `path` (a folder, searched recursively, or one file). */
export function readManifests(path: string): Manifests {
  const files = manifestFiles(path);
  if (files.length === 0)
    throw new InputError(path, 'no *.yaml, *.yml or *.json files found', 'no_manifests');
  const objects: SourcedObject[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new InputError(file, fsReason(err), 'unreadable');
    }
    for (const object of parseManifestText(text, file)) objects.push({ file, object });
  }
  return buildManifests(objects);
}
