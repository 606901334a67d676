/**
 * The policy layers an audit replays traffic against, read from files, folders, a `suggest --out` folder of
 * candidates, or the cluster: NetworkPolicies, EgressRuleSets and AWS security-group egress rules. Everything
 * else in those folders (CRDs, Cilium policies, CloudFormation, endpoints.json) is not a layer and is skipped.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { InputError } from '../model/errors.js';
import { parseEgressRuleSet, type EgressRuleSet } from './egressruleset.js';
import { ManifestError } from './manifest-error.js';
import { foreignPolicy, manifestFiles, parseManifestText } from './manifests.js';
import { parseNetworkPolicy, type NetworkPolicy } from './networkpolicy.js';
import type { Cidr } from '../model/cidr.js';
import {
  parseDescribeSecurityGroups,
  parseIpPermissions,
  parsePrefixListEntries,
  type SecurityGroupRule,
} from './security-group.js';

export interface PolicySet {
  readonly networkPolicies: NetworkPolicy[];
  readonly egressRuleSets: EgressRuleSet[];
  readonly securityGroupRules: SecurityGroupRule[];
  /** Managed prefix lists the rules may name, by id (from `<pl-id>.json`). */
  readonly prefixLists: Map<string, Cidr[]>;
  /** Files read, for the report. */
  readonly files: string[];
  /** Objects left out, one line each (see `foreignPolicy`), for warnings. */
  readonly skipped: string[];
}

export function emptyPolicySet(): PolicySet {
  return {
    networkPolicies: [],
    egressRuleSets: [],
    securityGroupRules: [],
    prefixLists: new Map(),
    files: [],
    skipped: [],
  };
}

const GROUP_FILE = /^(sg-[0-9a-f]{8,17})\.json$/;
const PREFIX_LIST_FILE = /^(pl-[0-9a-f]{8,17})\.json$/;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Adds one file's layers to `set`. */
function addFile(set: PolicySet, file: string): void {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new InputError(file, (err as NodeJS.ErrnoException).code ?? String(err), 'unreadable');
  }
  try {
    if (/\.json$/i.test(file)) {
      let doc: unknown;
      try {
        doc = JSON.parse(text);
      } catch (err) {
        throw new InputError(file, `invalid JSON: ${(err as Error).message.split('\n')[0]}`, 'bad_manifest');
      }
      const group = GROUP_FILE.exec(basename(file));
      if (Array.isArray(doc) && group !== null) {
        set.securityGroupRules.push(...parseIpPermissions(group[1]!, doc, group[1]!));
        set.files.push(file);
        return;
      }
      const prefixList = PREFIX_LIST_FILE.exec(basename(file));
      if (isRecord(doc) && prefixList !== null) {
        set.prefixLists.set(prefixList[1]!, parsePrefixListEntries(doc, prefixList[1]!));
        set.files.push(file);
        return;
      }
      if (isRecord(doc) && Array.isArray(doc.SecurityGroups)) {
        set.securityGroupRules.push(...parseDescribeSecurityGroups(doc));
        set.files.push(file);
        return;
      }
    }
    let used = false;
    for (const obj of parseManifestText(text, file)) {
      const foreign = foreignPolicy(obj, file);
      if (foreign !== null) {
        set.skipped.push(foreign);
        continue;
      }
      if (obj.kind === 'NetworkPolicy') set.networkPolicies.push(parseNetworkPolicy(obj));
      else if (obj.kind === 'EgressRuleSet') set.egressRuleSets.push(parseEgressRuleSet(obj));
      else continue;
      used = true;
    }
    if (used) set.files.push(file);
  } catch (err) {
    if (err instanceof ManifestError) throw new InputError(file, err.message, err.code);
    throw err;
  }
}

/** Reads every layer under the given files or folders (searched recursively). */
export function readPolicySet(paths: readonly string[], into: PolicySet = emptyPolicySet()): PolicySet {
  for (const p of paths) for (const f of manifestFiles(p)) addFile(into, f);
  return into;
}

/** The NetworkPolicies in force in the cluster, through the Kubernetes API. */
export async function clusterNetworkPolicies(kc: KubeConfig): Promise<NetworkPolicy[]> {
  // Loaded here, not at the top: the client takes about a second to load, which only cluster reads should pay.
  const { NetworkingV1Api } = await import('@kubernetes/client-node');
  const api = kc.makeApiClient(NetworkingV1Api);
  const out: NetworkPolicy[] = [];
  let cont: string | undefined;
  do {
    let page;
    try {
      page = await api.listNetworkPolicyForAllNamespaces({ limit: 500, _continue: cont });
    } catch (err) {
      // Unreachable server, refused credentials, missing RBAC: one line naming the server, not a stack.
      const server = kc.getCurrentCluster()?.server ?? 'the cluster';
      const code = (err as { code?: unknown }).code;
      const why = String((err as Error).message ?? err)
        .split('\n')[0]!
        .slice(0, 200);
      throw new InputError(
        server,
        `cannot list NetworkPolicies${typeof code === 'number' ? ` (HTTP ${code})` : ''}: ${why}`,
        'cluster',
      );
    }
    for (const item of page.items) {
      try {
        out.push(parseNetworkPolicy({ ...item, apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy' }));
      } catch (err) {
        const where = `${item.metadata?.namespace ?? ''}/${item.metadata?.name ?? ''}`;
        throw new InputError(`cluster NetworkPolicy ${where}`, (err as Error).message, 'bad_manifest');
      }
    }
    cont = page.metadata?._continue || undefined;
  } while (cont !== undefined);
  return out;
}
