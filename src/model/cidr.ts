import { canonicalIp, canonicalIpv4, parseIpv6 } from './ip.js';

/** A parsed CIDR block: its family, network bytes and prefix length. */
export interface Cidr {
  readonly family: 4 | 6;
  readonly bytes: Uint8Array;
  readonly prefix: number;
  /** Canonical text, network address first: `10.0.0.0/8`. */
  readonly text: string;
}

/** Address bytes (4 for IPv4, 16 for IPv6) of a canonical or non-canonical address, or null. */
/** Orders addresses as bytes: IPv4 before IPv6, then numerically. */
export function compareAddressBytes(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return a.length - b.length;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

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

export function cidrContains(cidr: Cidr, addr: Uint8Array): boolean {
  if (addr.length !== cidr.bytes.length) return false;
  const full = cidr.prefix >> 3;
  for (let i = 0; i < full; i++) if (addr[i] !== cidr.bytes[i]) return false;
  const rest = cidr.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (addr[full]! & mask) === (cidr.bytes[full]! & mask);
}
