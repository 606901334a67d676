import { canonicalIp, canonicalIpv4, parseIpv6 } from './ip.js';

/** A parsed CIDR block: its family, network bytes and prefix length. */
export interface Cidr {
  readonly family: 4 | 6;
  readonly bytes: Uint8Array;
  readonly prefix: number;
  /** Canonical text, network address first: `10.0.0.0/8`. */
  readonly text: string;
}

/** Orders addresses as bytes: IPv4 before IPv6, then numerically. */
export function compareAddressBytes(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return a.length - b.length;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

/** Address bytes (4 for IPv4, 16 for IPv6) of a canonical or non-canonical address, or null. */
export function addressBytes(text: string): Uint8Array | null {
  if (text.indexOf(':') === -1) {
    const v4 = canonicalIpv4(text);
    if (v4 === null) return null;
    return Uint8Array.from(v4.split('.').map(Number));
  }
  const groups = parseIpv6(text);
  if (groups === null) return null;
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[i * 2] = groups[i]! >> 8;
    out[i * 2 + 1] = groups[i]! & 255;
  }
  return out;
}

/** Parses `a.b.c.d/n`, `x::/n` or a bare address (a host prefix). Host bits must be zero. */
export function parseCidr(text: string): Cidr | null {
  const slash = text.indexOf('/');
  const addr = slash === -1 ? text : text.slice(0, slash);
  const bytes = addressBytes(addr);
  if (bytes === null) return null;
  const family = bytes.length === 4 ? 4 : 6;
  const max = family === 4 ? 32 : 128;
  let prefix = max;
  if (slash !== -1) {
    const p = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p)) return null;
    prefix = Number(p);
    if (prefix > max) return null;
  }
  for (let bit = prefix; bit < max; bit++) {
    if (bytes[bit >> 3]! & (0x80 >> (bit & 7))) return null;
  }
  return { family, bytes, prefix, text: `${canonicalIp(addr)}/${prefix}` };
}

/**
 * {@link parseCidr} for an address or block a person typed to select stored addresses. Stored addresses are
 * canonical, and an IPv4-mapped IPv6 address (`::ffff:10.0.0.6`, as dual-stack proxies log IPv4 clients) is stored
 * as its IPv4 address: so a block inside `::ffff:0:0/96` (prefix 96 or more) is read as the IPv4 block it maps,
 * `::ffff:10.0.0.0/104` as `10.0.0.0/8`. It would otherwise match nothing, silently.
 */
export function parseAddressFilter(text: string): Cidr | null {
  const c = parseCidr(text);
  if (c === null || c.family === 4 || c.prefix < 96) return c;
  for (let i = 0; i < 10; i++) if (c.bytes[i] !== 0) return c;
  if (c.bytes[10] !== 0xff || c.bytes[11] !== 0xff) return c;
  const v4 = c.bytes.slice(12);
  return { family: 4, bytes: v4, prefix: c.prefix - 96, text: `${v4.join('.')}/${c.prefix - 96}` };
}

export function cidrContains(cidr: Cidr, addr: Uint8Array): boolean {
  if (addr.length !== cidr.bytes.length) return false;
  const full = cidr.prefix >> 3;
  for (let i = 0; i < full; i++) if (addr[i] !== cidr.bytes[i]) return false;
  const rest = cidr.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (addr[full]! & mask) === (cidr.bytes[full]! & mask);
}
