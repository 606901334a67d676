/**
 * EgressRuleSets (zalando.org/v1, ../shared/seeds/zalando-…): `spec.targets` of `host:port`, where the host may be
 * `*.domain`, or `*` alone for the proposal's world access (`*:80`: any host on that port). The union of every set
 * is the egress proxy's allow-list, so a proxied request passes when any target of any set matches its host and
 * port exactly (ports never wildcard).
 */
import { normalizeHost, parsePort } from '../model/authority.js';
import { ManifestError } from './manifest-error.js';

export interface EgressTarget {
  /** Lower-case name, `*.domain`, or `*` (any host). */
  readonly host: string;
  readonly port: number;
}

export interface EgressRuleSet {
  readonly namespace: string;
  readonly name: string;
  readonly targets: readonly EgressTarget[];
}

export interface TargetMatch {
  readonly set: EgressRuleSet;
  readonly target: EgressTarget;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses one EgressRuleSet object; a malformed target is a ManifestError naming it. */
export function parseEgressRuleSet(obj: Record<string, unknown>): EgressRuleSet {
  const meta = isRecord(obj.metadata) ? obj.metadata : {};
  const name = typeof meta.name === 'string' ? meta.name : '';
  const namespace = typeof meta.namespace === 'string' ? meta.namespace : 'default';
  const spec = isRecord(obj.spec) ? obj.spec : {};
  const raw = Array.isArray(spec.targets) ? spec.targets : [];
  const targets = raw.map((t, i): EgressTarget => {
    const text = typeof t === 'string' ? t : '';
    const colon = text.lastIndexOf(':');
    const hostText = colon < 0 ? '' : text.slice(0, colon);
    const wildcard = hostText.startsWith('*.');
    const host = hostText === '*' ? '*' : normalizeHost(wildcard ? hostText.slice(2) : hostText);
    const port = colon < 0 ? -1 : parsePort(text.slice(colon + 1));
    if (host === null || port < 0)
      throw new ManifestError(
        `EgressRuleSet ${namespace}/${name}: spec.targets[${i}] ${JSON.stringify(t)} is not host:port`,
      );
    return { host: wildcard ? `*.${host}` : host, port };
  });
  return { namespace, name, targets };
}

/** Does `target` allow `host:port`? `*.d` matches every name below d, not d itself; `*` matches any host. */
export function targetMatches(target: EgressTarget, host: string, port: number): boolean {
  if (target.port !== port) return false;
  if (target.host === '*') return true;
  if (target.host.startsWith('*.')) return host.endsWith(target.host.slice(1));
  return target.host === host;
}

/** The first target (sets and targets in their given order) that allows `host:port`, or null. */
export function matchEgress(sets: readonly EgressRuleSet[], host: string, port: number): TargetMatch | null {
  for (const set of sets)
    for (const target of set.targets) if (targetMatches(target, host, port)) return { set, target };
  return null;
}
