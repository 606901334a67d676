/**
 * IP address text handling shared by every parser. Addresses are stored in one canonical text form so that
 * the same host written two ways aggregates into one edge: IPv4 as a dotted quad without leading zeros, IPv6
 * as RFC 5952 (lower case, no leading zeros, longest zero run compressed).
 */

/**
 * Returns the canonical IPv4 text, or null. Octets with leading zeros are refused, not normalized: some resolvers
 * read `010` as octal 8, so the text is ambiguous.
 */
export function canonicalIpv4(text: string): string | null {
  return ipv4Number(text) === null ? null : text;
}

/**
 * The unsigned 32-bit number of a canonical dotted-quad IPv4 address (see `canonicalIpv4`), or null for any other
 * text. Hand-rolled because it runs once or twice per input line.
 */
export function ipv4Number(text: string): number | null {
  const n = text.length;
  if (n < 7 || n > 15) return null;
  let octets = 0;
  let address = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= n; i++) {
    const c = i === n ? 46 : text.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || value > 255) return null;
      address = address * 256 + value;
      octets++;
      value = 0;
      digits = 0;
      continue;
    }
    if (c < 48 || c > 57) return null;
    if (digits === 1 && value === 0) return null;
    value = value * 10 + (c - 48);
    digits++;
    if (digits > 3) return null;
  }
  return octets === 4 ? address : null;
}

/** Dotted-quad text of an IPv4 address given as an unsigned 32-bit number. */
export function ipv4Text(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
}

/**
 * Whether addresses under each /16 prefix are private (see `isPrivateIp`): every range that decides it is a /16 or
 * wider, so one load answers for an address, with none of the branches only rare addresses take.
 */
const PRIVATE_16 = new Uint8Array(65536);
for (const [first, last] of [
  ['0.0', '0.255'],
  ['10.0', '10.255'],
  ['100.64', '100.127'], // CGNAT
  ['127.0', '127.255'],
  ['169.254', '169.254'], // link-local
  ['172.16', '172.31'],
  ['192.168', '192.168'],
  ['224.0', '255.255'], // multicast (224/4, mDNS, SSDP), reserved 240/4 and the broadcast address
]) {
  const prefix = (ab: string): number => ab.split('.').reduce((p, o) => p * 256 + Number(o), 0);
  PRIVATE_16.fill(1, prefix(first!), prefix(last!) + 1);
}

/** `isPrivateIp` for an IPv4 address given as an unsigned 32-bit number. */
export function isPrivateIpv4(value: number): boolean {
  return PRIVATE_16[value >>> 16] === 1;
}

/** Parses IPv6 text (with optional embedded IPv4 tail) into 8 hextets, or null. Zone ids are refused. */
export function parseIpv6(text: string): number[] | null {
  if (text.length < 2 || text.length > 45 || text.includes('%')) return null;
  let head = text;
  let tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.indexOf('.', lastColon) !== -1) {
    const v4 = canonicalIpv4(text.slice(lastColon + 1));
    if (v4 === null) return null;
    const o = v4.split('.').map(Number) as [number, number, number, number];
    tail = [(o[0] << 8) | o[1], (o[2] << 8) | o[3]];
    head = text.slice(0, lastColon + 1);
    if (head.endsWith(':') && !head.endsWith('::')) head = head.slice(0, -1);
  }
  const dbl = head.indexOf('::');
  if (dbl !== -1 && head.indexOf('::', dbl + 1) !== -1) return null;
  const parseGroups = (s: string): number[] | null => {
    if (s === '') return [];
    const out: number[] = [];
    for (const g of s.split(':')) {
      if (g.length === 0 || g.length > 4 || !/^[0-9a-fA-F]+$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  let groups: number[];
  if (dbl === -1) {
    const all = parseGroups(head);
    if (all === null) return null;
    groups = all.concat(tail);
    if (groups.length !== 8) return null;
  } else {
    const left = parseGroups(head.slice(0, dbl));
    const right = parseGroups(head.slice(dbl + 2));
    if (left === null || right === null) return null;
    const known = left.length + right.length + tail.length;
    if (known > 7) return null;
    groups = left.concat(new Array<number>(8 - known).fill(0), right, tail);
  }
  return groups;
}

const COLON = 0x3a;
const SPACE = 0x20;

/** The value of a hex digit's byte, or -1. */
function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const lower = c | 0x20;
  return lower >= 97 && lower <= 102 ? lower - 87 : -1;
}

/**
 * Reads IPv6 text from `b[from]` up to a space or `to` into `out` (8 hextets) and returns where it stopped, or -1
 * unless the text is hex groups and at most one `::`, which `parseIpv6` reads the same way. An embedded IPv4 tail, a
 * zone or anything else gives -1, and the caller decides with `canonicalIp`: this is the byte parsers' hot path.
 */
export function readIpv6Bytes(b: Uint8Array, from: number, to: number, out: Uint16Array): number {
  let groups = 0;
  /** How many groups came before the `::`, or -1 for none yet. */
  let gap = -1;
  let i = from;
  if (i + 1 < to && b[i] === COLON && b[i + 1] === COLON) {
    gap = 0;
    i += 2;
  }
  while (i < to && b[i] !== SPACE) {
    const start = i;
    let value = 0;
    for (let h; i < to && (h = hexDigit(b[i]!)) >= 0; i++) value = value * 16 + h;
    if (i === start || i - start > 4 || groups === 8) return -1;
    out[groups++] = value;
    if (i === to || b[i] === SPACE) break;
    if (b[i] !== COLON) return -1;
    i++;
    if (i < to && b[i] === COLON) {
      if (gap >= 0) return -1;
      gap = groups;
      i++;
    } else if (i === to || b[i] === SPACE) {
      return -1; // a group must follow a single colon
    }
  }
  if (gap < 0) return groups === 8 ? i : -1;
  // `::` stands for one zero group or more: the groups after it move to the end.
  if (groups > 7) return -1;
  const tail = groups - gap;
  for (let k = 1; k <= tail; k++) out[8 - k] = out[groups - k]!;
  out.fill(0, gap, 8 - tail);
  return i;
}

/** True for an IPv4-mapped address (::ffff:0:0/96): it is the IPv4 host in its last two hextets. */
export function isMappedIpv4(h: ArrayLike<number>): boolean {
  return h[0] === 0 && h[1] === 0 && h[2] === 0 && h[3] === 0 && h[4] === 0 && h[5] === 0xffff;
}

/** `isPrivateIp` for an IPv6 address given as its 8 hextets (not IPv4-mapped). */
export function isPrivateIpv6(h: ArrayLike<number>): boolean {
  const first = h[0]!;
  if (first === 0)
    return h[1] === 0 && h[2] === 0 && h[3] === 0 && h[4] === 0 && h[5] === 0 && h[6] === 0 && h[7] === 1;
  return (first & 0xfe00) === 0xfc00 || (first & 0xffc0) === 0xfe80 || (first & 0xff00) === 0xff00;
}

/** Formats 8 hextets per RFC 5952; IPv4-mapped addresses keep their dotted tail (RFC 5952 §5). */
export function formatIpv6(groups: readonly number[]): string {
  if (
    groups[0] === 0 &&
    groups[1] === 0 &&
    groups[2] === 0 &&
    groups[3] === 0 &&
    groups[4] === 0 &&
    groups[5] === 0xffff
  ) {
    const a = groups[6]!;
    const b = groups[7]!;
    return `::ffff:${a >> 8}.${a & 255}.${b >> 8}.${b & 255}`;
  }
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number): string =>
    groups
      .slice(from, to)
      .map((g) => g.toString(16))
      .join(':');
  if (bestStart === -1) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLen, 8)}`;
}

/**
 * Canonical texts of IPv6 addresses seen lately, by their input text: logs repeat a few thousand addresses
 * millions of times, and parsing one costs microseconds. Cleared when full, which bounds it.
 */
const IPV6_SEEN = new Map<string, string>();
const IPV6_SEEN_MAX = 4096;

export function canonicalIpv6(text: string): string | null {
  const seen = IPV6_SEEN.get(text);
  if (seen !== undefined) return seen;
  const groups = parseIpv6(text);
  if (groups === null) return null;
  const canonical = formatIpv6(groups);
  if (IPV6_SEEN.size === IPV6_SEEN_MAX) IPV6_SEEN.clear();
  // A copy for the key: `text` may be a slice of a whole decoded buffer, which the map must not keep alive.
  IPV6_SEEN.set(Buffer.from(text, 'latin1').toString('latin1'), canonical);
  return canonical;
}

/**
 * Canonical text of an IPv4 or IPv6 address, or null when `text` is not one. An IPv4-mapped address
 * (`::ffff:a.b.c.d`, how a dual-stack proxy logs an IPv4 client) is that IPv4 host, and is written as one: it
 * must match the pod that held the IPv4 address, and `--src` filters on it.
 */
export function canonicalIp(text: string): string | null {
  if (text.indexOf(':') === -1) return canonicalIpv4(text);
  const v6 = canonicalIpv6(text);
  return v6 !== null && v6.startsWith('::ffff:') && v6.indexOf('.') !== -1 ? v6.slice(7) : v6;
}

export function ipFamily(canonical: string): 4 | 6 {
  return canonical.indexOf(':') === -1 ? 4 : 6;
}

/**
 * True for addresses that never route on the internet (RFC 1918, CGNAT, loopback, link-local, ULA, multicast,
 * broadcast): such a destination is never classed `internet`. Used as the last hint for which side of a flow is
 * local when a format does not say.
 */
export function isPrivateIp(canonical: string): boolean {
  if (canonical.indexOf(':') === -1) {
    // Reads the first two octets by character: this runs for both addresses of every flow-log record.
    let i = 0;
    let a = 0;
    for (let c = canonical.charCodeAt(i); c !== 46 && i < 4; c = canonical.charCodeAt(++i))
      a = a * 10 + c - 48;
    let b = 0;
    for (let c = canonical.charCodeAt(++i); c !== 46 && i < 8; c = canonical.charCodeAt(++i))
      b = b * 10 + c - 48;
    return isPrivateIpv4(((a << 24) | (b << 16)) >>> 0);
  }
  // ::1, unique local fc00::/7, link-local fe80::/10 and multicast ff00::/8, read from the first hextet (canonical
  // text drops its leading zeros, so `fc::1` is 00fc:: and not unique local).
  if (canonical === '::1') return true;
  const colon = canonical.indexOf(':');
  if (colon !== 4) return false;
  const first = parseInt(canonical.slice(0, 4), 16);
  return (first & 0xfe00) === 0xfc00 || (first & 0xffc0) === 0xfe80 || (first & 0xff00) === 0xff00;
}
