/**
 * Turns the addresses behind one destination into the CIDRs an ipBlock or security-group rule opens, driven by
 * evidence: a stable set of addresses stays exact (/32, /128); a name whose answers rotate (CDNs, S3, load
 * balancers) folds to the provider's published prefix that covered its rotation, else to the covering prefix of
 * what was observed. Widening is bounded by the budget (`--max-prefix`) and never reaches the whole address
 * space unless a person allowed it.
 */
import { addressBytes, compareAddressBytes, parseCidr } from '../model/cidr.js';
import type { FoldedCidr } from '../model/endpoint.js';
import type { PrefixTable } from '../identity/prefix-table.js';

/** One published prefix (ip-ranges.json or a list of the same shape). */
export interface PublishedPrefix {
  readonly cidr: string;
  readonly service: string;
  readonly region: string;
}

export interface FoldOptions {
  readonly published: PrefixTable<PublishedPrefix>;
  /** Widest prefix a fold may open, per family. */
  readonly maxPrefix4: number;
  readonly maxPrefix6: number;
}

/** Where an address was seen: the time buckets it was answered or connected to in. */
export type AddressSightings = ReadonlyMap<string, ReadonlySet<number>>;

/**
 * True when the addresses rotate: over the window the destination used clearly more distinct addresses than it
 * ever used at once (in one bucket). A fixed set of A records (always the same 2–4 addresses) is not rotation;
 * a CDN handing out a fresh address every hour is.
 */
export function rotates(sightings: AddressSightings): {
  rotating: boolean;
  distinct: number;
  maxAtOnce: number;
} {
  const perBucket = new Map<number, number>();
  for (const buckets of sightings.values()) {
    for (const b of buckets) perBucket.set(b, (perBucket.get(b) ?? 0) + 1);
  }
  let maxAtOnce = 0;
  for (const n of perBucket.values()) maxAtOnce = Math.max(maxAtOnce, n);
  const distinct = sightings.size;
  return {
    rotating: distinct >= 3 && distinct > Math.max(2, Math.ceil(1.5 * maxAtOnce)),
    distinct,
    maxAtOnce,
  };
}

/** The CIDR of `bytes` cut to `prefix` bits, in canonical text. */
function cidrOf(bytes: Uint8Array, prefix: number): string {
  const out = Uint8Array.from(bytes);
  for (let bit = prefix; bit < out.length * 8; bit++) out[bit >> 3]! &= ~(0x80 >> (bit & 7));
  const addr =
    out.length === 4
      ? Array.from(out).join('.')
      : Array.from({ length: 8 }, (_, i) => ((out[i * 2]! << 8) | out[i * 2 + 1]!).toString(16)).join(':');
  return parseCidr(`${addr}/${prefix}`)!.text;
}

/** Length of the common leading bits of two equally long addresses. */
function commonBits(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) {
    const x = a[i]! ^ b[i]!;
    if (x !== 0) return i * 8 + Math.clz32(x) - 24;
  }
  return a.length * 8;
}

/** Sorts CIDR texts by family, then network address, then prefix length. */
export function compareCidrs(a: string, b: string): number {
  const ca = parseCidr(a)!;
  const cb = parseCidr(b)!;
  return compareAddressBytes(ca.bytes, cb.bytes) || ca.prefix - cb.prefix;
}

function exactCidr(addr: string, reason: string): FoldedCidr {
  const bytes = addressBytes(addr)!;
  return { cidr: cidrOf(bytes, bytes.length * 8), basis: 'exact', addresses: 1, provider: '', reason };
}

/**
 * The CIDRs that cover `sightings` (canonical addresses → buckets). `label` names the destination in the reasons.
 * Unparsable addresses are ignored (inference only hands in canonical ones).
 */
export function foldAddresses(sightings: AddressSightings, opts: FoldOptions): FoldedCidr[] {
  const addrs = [...sightings.keys()].filter((a) => addressBytes(a) !== null);
  if (addrs.length === 0) return [];
  const r = rotates(sightings);
  if (!r.rotating) {
    const why =
      addrs.length === 1
        ? 'one stable address'
        : `stable set of ${addrs.length} addresses (at most ${r.maxAtOnce} at once)`;
    return addrs.map((a) => exactCidr(a, why)).sort((a, b) => compareCidrs(a.cidr, b.cidr));
  }
  const moved = `rotated through ${r.distinct} addresses, at most ${r.maxAtOnce} at once`;
  const published = new Map<string, { prefix: PublishedPrefix; length: number; inside: Uint8Array[] }>();
  const rest: Uint8Array[] = [];
  for (const a of addrs) {
    const bytes = addressBytes(a)!;
    const budget = bytes.length === 4 ? opts.maxPrefix4 : opts.maxPrefix6;
    const hit = opts.published.lookup(a);
    const entry = hit === null ? null : pickSpecific(hit.values);
    if (hit !== null && entry !== null && hit.prefix >= budget) {
      const cur = published.get(entry.cidr);
      if (cur === undefined)
        published.set(entry.cidr, { prefix: entry, length: hit.prefix, inside: [bytes] });
      else cur.inside.push(bytes);
    } else rest.push(bytes);
  }
  const out: FoldedCidr[] = [];
  for (const [cidr, { prefix, length, inside }] of published) {
    const count = inside.length;
    const provider = `${prefix.service} ${prefix.region}`;
    const block = drawnBlock(inside, length);
    out.push(
      block === null
        ? {
            cidr,
            basis: 'published',
            addresses: count,
            provider,
            reason: `${moved}; ${count} of them inside the published ${provider} prefix ${cidr}`,
          }
        : {
            cidr: block,
            basis: 'observed',
            addresses: count,
            provider,
            reason: `${moved}; all ${count} inside ${block} of the published ${provider} prefix ${cidr}, too many to be there by chance`,
          },
    );
  }
  out.push(...coverObserved(rest, opts, moved));
  return out.sort((a, b) => compareCidrs(a.cidr, b.cidr));
}

/**
 * How unlikely a concentration of addresses must be before a fold trusts it: the chance that addresses drawn
 * evenly from a wider block all land in one block of the observed size.
 */
const DRAW_CHANCE = 1e-6;

/**
 * The block a name really draws its addresses from, when they all sit in a small part of the published prefix
 * (`publishedBits` long): a provider publishes a /19 or a /12, one distribution or bucket rotates through a few
 * /24s of it. Null when the published prefix itself is the answer.
 *
 * The n addresses are covered by a block C. Had they been drawn evenly from a block B of 2^k × C's size, all n
 * would land in one C-sized block with chance about (2^-k)^(n-1); every B for which that is at least
 * {@link DRAW_CHANCE} stays plausible, so the fold opens the widest of them (never wider than the published
 * prefix): a handful of addresses keeps the whole prefix, hundreds in one /22 open that /22.
 */
function drawnBlock(inside: Uint8Array[], publishedBits: number): string | null {
  if (inside.length < 2) return null;
  const sorted = [...inside].sort(compareAddressBytes);
  const first = sorted[0]!;
  const cover = commonBits(first, sorted[sorted.length - 1]!);
  const wider = Math.floor(Math.log2(1 / DRAW_CHANCE) / (inside.length - 1));
  const bits = Math.max(publishedBits, cover - wider);
  return bits > publishedBits ? cidrOf(first, bits) : null;
}

/** Prefer the entry naming a service over the generic `AMAZON` one, then the first by name. */
function pickSpecific(values: readonly PublishedPrefix[]): PublishedPrefix | null {
  let best: PublishedPrefix | null = null;
  for (const v of values) {
    if (best === null) best = v;
    else if (best.service === 'AMAZON' && v.service !== 'AMAZON') best = v;
    else if (
      (best.service === 'AMAZON') === (v.service === 'AMAZON') &&
      v.service + v.region < best.service + best.region
    )
      best = v;
  }
  return best;
}

/**
 * Addresses outside any usable published prefix: grouped by the budget-sized block they fall in, each group
 * covered by its smallest prefix. A lone address in its block stays exact.
 */
function coverObserved(addrs: Uint8Array[], opts: FoldOptions, moved: string): FoldedCidr[] {
  const groups = new Map<string, Uint8Array[]>();
  for (const b of addrs) {
    const budget = b.length === 4 ? opts.maxPrefix4 : opts.maxPrefix6;
    const key = cidrOf(b, budget);
    const g = groups.get(key);
    if (g === undefined) groups.set(key, [b]);
    else g.push(b);
  }
  const out: FoldedCidr[] = [];
  for (const [block, g] of groups) {
    g.sort(compareAddressBytes);
    if (g.length === 1) {
      const only = g[0]!;
      out.push({
        cidr: cidrOf(only, only.length * 8),
        basis: 'exact',
        addresses: 1,
        provider: '',
        reason: `${moved}; the only one seen in ${block}`,
      });
      continue;
    }
    const first = g[0]!;
    const last = g[g.length - 1]!;
    const prefix = commonBits(first, last);
    const cidr = cidrOf(first, prefix);
    out.push({
      cidr,
      basis: 'observed',
      addresses: g.length,
      provider: '',
      reason: `${moved}; ${g.length} of them covered by ${cidr} (no published prefix; budget /${first.length === 4 ? opts.maxPrefix4 : opts.maxPrefix6})`,
    });
  }
  return out;
}
