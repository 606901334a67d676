/**
 * Name folding: many subdomains of one registrable domain become `*.domain`, but only past a threshold
 * (`--wildcard-min`), since a wildcard also opens every name nobody was seen using. The registrable domain comes
 * from the public suffix list including its private section, so `bucket.s3.amazonaws.com` is its own domain:
 * folding buckets into `*.s3.amazonaws.com` would open every attacker's bucket too.
 */
import { tldts } from '../util/lazy.js';

export interface FoldedName {
  /** The exact name, or `*.domain`. */
  readonly host: string;
  /** The exact names behind it, sorted. */
  readonly names: readonly string[];
}

/** The registrable domain of `name`, or null for a bare public suffix or an unknown shape. */
export function registrableDomain(name: string): string | null {
  return tldts().getDomain(name, { allowPrivateDomains: true }) ?? null;
}

/**
 * Folds `names` (distinct, normalized) per registrable domain: the proper subdomains of a domain fold into
 * `*.domain` when there are at least `min` of them; the domain itself always stays exact (`*.d` does not match
 * `d`). Output sorted by host.
 */
export function foldNames(names: readonly string[], min: number): FoldedName[] {
  const byDomain = new Map<string, string[]>();
  const out: FoldedName[] = [];
  for (const name of new Set(names)) {
    const domain = registrableDomain(name);
    if (domain === null || domain === name) {
      out.push({ host: name, names: [name] });
      continue;
    }
    const list = byDomain.get(domain);
    if (list === undefined) byDomain.set(domain, [name]);
    else list.push(name);
  }
  for (const [domain, subs] of byDomain) {
    subs.sort();
    if (min > 0 && subs.length >= min) out.push({ host: `*.${domain}`, names: subs });
    else for (const s of subs) out.push({ host: s, names: [s] });
  }
  return out.sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0));
}
