import { addressBytes } from '../model/cidr.js';
import { formatIpv6 } from '../model/ip.js';

/**
 * Inclusive address ranges, as bigints so that IPv4 and IPv6 share one arithmetic. An `ipBlock` (cidr minus
 * excepts) is a sorted list of disjoint ranges of one family; the connection list names external peers by range.
 */

export type IpFamily = 4 | 6;

/** Addresses `first..last` inclusive of one family. */
export interface IpRange {
  readonly family: IpFamily;
  readonly first: bigint;
  readonly last: bigint;
}

const BITS: Record<IpFamily, number> = { 4: 32, 6: 128 };

function maxAddress(family: IpFamily): bigint {
  return (1n << BigInt(BITS[family])) - 1n;
}

/** Every address of a family: `0.0.0.0-255.255.255.255` or `::-ffff:…:ffff`. */
export function wholeFamily(family: IpFamily): IpRange {
  return { family, first: 0n, last: maxAddress(family) };
}

/** The family and numeric value of an IPv4 or IPv6 address, or null when `text` is not one. */
export function parseAddress(text: string): { family: IpFamily; value: bigint } | null {
  const bytes = addressBytes(text);
  if (bytes === null) return null;
  let value = 0n;
  for (const b of bytes) value = (value << 8n) | BigInt(b);
  return { family: bytes.length === 4 ? 4 : 6, value };
}

/**
 * The range of `a.b.c.d/n` or `x::/n`. Host bits are masked rather than refused, as Go's net.ParseCIDR does for
 * the Kubernetes API server and netpol-analyzer (`10.0.0.1/8` is `10.0.0.0/8`). The prefix is required.
 */
export function parseCidrRange(text: string): IpRange | null {
  const slash = text.indexOf('/');
  if (slash === -1) return null;
  const addr = parseAddress(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (addr === null || !/^\d{1,3}$/.test(prefixText)) return null;
  const bits = BITS[addr.family];
  const prefix = Number(prefixText);
  if (prefix > bits) return null;
  const hostMask = (1n << BigInt(bits - prefix)) - 1n;
  const first = addr.value & ~hostMask & maxAddress(addr.family);
  return { family: addr.family, first, last: first | hostMask };
}

export function formatAddress(family: IpFamily, value: bigint): string {
  if (family === 4) {
    return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 255n)).join('.');
  }
  const groups: number[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) groups.push(Number((value >> shift) & 0xffffn));
  return formatIpv6(groups);
}

/** `10.0.0.0-10.255.255.255`: the inclusive form a connection list names an external peer by. */
export function formatRange(r: IpRange): string {
  return `${formatAddress(r.family, r.first)}-${formatAddress(r.family, r.last)}`;
}

function compareRanges(a: IpRange, b: IpRange): number {
  if (a.family !== b.family) return a.family - b.family;
  return a.first < b.first ? -1 : a.first > b.first ? 1 : 0;
}

/** Sorts by family then start, and merges overlapping or adjacent ranges. */
export function normalizeRanges(ranges: readonly IpRange[]): IpRange[] {
  const sorted = [...ranges].sort(compareRanges);
  const out: IpRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && last.family === r.family && r.first <= last.last + 1n) {
      if (r.last > last.last) out[out.length - 1] = { family: r.family, first: last.first, last: r.last };
    } else {
      out.push(r);
    }
  }
  return out;
}

/** `from` minus every range of `remove` (ranges of another family remove nothing). */
export function subtractRanges(from: readonly IpRange[], remove: readonly IpRange[]): IpRange[] {
  let current = normalizeRanges(from);
  for (const cut of remove) {
    const next: IpRange[] = [];
    for (const r of current) {
      if (r.family !== cut.family || cut.last < r.first || cut.first > r.last) {
        next.push(r);
        continue;
      }
      if (cut.first > r.first) next.push({ family: r.family, first: r.first, last: cut.first - 1n });
      if (cut.last < r.last) next.push({ family: r.family, first: cut.last + 1n, last: r.last });
    }
    current = next;
  }
  return current;
}

/** True when every address of `inner` lies in one of `outer` (which must be normalized: disjoint, merged). */
export function rangeWithin(inner: IpRange, outer: readonly IpRange[]): boolean {
  for (const r of outer) {
    if (r.family === inner.family && r.first <= inner.first && inner.last <= r.last) return true;
  }
  return false;
}

/**
 * Cuts the whole address space of `family` at the start and at the end + 1 of every range in `ranges`, so each
 * piece lies wholly inside or wholly outside each of them.
 */
export function cutFamily(family: IpFamily, ranges: readonly IpRange[]): IpRange[] {
  const max = maxAddress(family);
  const cuts = new Set<bigint>([0n]);
  for (const r of ranges) {
    if (r.family !== family) continue;
    cuts.add(r.first);
    if (r.last < max) cuts.add(r.last + 1n);
  }
  const starts = [...cuts].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return starts.map((first, i) => ({
    family,
    first,
    last: i + 1 < starts.length ? starts[i + 1]! - 1n : max,
  }));
}
