/**
 * Host and port text as proxies log it: `host:port`, `[v6]:port`, bare names and IP literals. Shared by the
 * squid and Envoy parsers; both log a destination the client chose (Host header, CONNECT target, SNI), so
 * every value is checked here before it reaches an observation.
 */
import { canonicalIp } from './ip.js';

/** A destination split into an address (IP literal) or a host name, and a port when the text carried one. */
export interface Authority {
  readonly addr: string | null;
  readonly host: string | null;
  /** `null` when the text has no port; `-1` when it has one that is not a TCP port (1–65535). */
  readonly port: number | null;
}

const MAX_HOST = 253;

/**
 * Lower-cases a host name and strips one trailing dot. Returns null unless it is made of RFC 1123 labels
 * (letters, digits, inner hyphens; the underscore real DNS names carry is allowed too). Checked per character
 * because it runs once per line.
 */
export function normalizeHost(text: string): string | null {
  const host = text.endsWith('.') ? text.slice(0, -1) : text;
  const n = host.length;
  if (n === 0 || n > MAX_HOST) return null;
  let labelStart = 0;
  for (let i = 0; i <= n; i++) {
    const c = i === n ? 46 : host.charCodeAt(i);
    if (c === 46) {
      // Labels are 1–63 characters and neither start nor end with a hyphen.
      const len = i - labelStart;
      if (len === 0 || len > 63) return null;
      if (host.charCodeAt(labelStart) === 45 || host.charCodeAt(i - 1) === 45) return null;
      labelStart = i + 1;
      continue;
    }
    const ok = (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 45 || c === 95;
    if (!ok) return null;
  }
  return host.toLowerCase();
}

/** Parses a decimal TCP port (1–65535); -1 for anything else. */
export function parsePort(text: string): number {
  if (text.length === 0 || text.length > 5) return -1;
  let value = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    value = value * 10 + (c - 48);
  }
  return value >= 1 && value <= 65535 ? value : -1;
}

/**
 * Splits `host`, `host:port`, `[v6]`, `[v6]:port`, an IPv4 literal or a bare IPv6 literal. Returns null when the
 * host part is neither an IP literal nor a valid name. The port is `-1` when present but invalid, so callers can
 * tell `bad_port` from `bad_host`.
 */
export function parseAuthority(text: string): Authority | null {
  let hostText: string;
  let portText: string | null = null;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close === -1) return null;
    hostText = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (rest.length > 0) {
      if (!rest.startsWith(':')) return null;
      portText = rest.slice(1);
    }
    // Brackets hold an IPv6 address; an IPv4-mapped one (`[::ffff:10.1.2.9]:5555`, a dual-stack listener's
    // IPv4 peer) is that IPv4 address, as it is without brackets.
    const ip = hostText.includes(':') ? canonicalIp(hostText) : null;
    if (ip === null) return null;
    return { addr: ip, host: null, port: portText === null ? null : parsePort(portText) };
  }
  const firstColon = text.indexOf(':');
  if (firstColon !== -1 && text.indexOf(':', firstColon + 1) !== -1) {
    // More than one colon without brackets: only a bare IPv6 literal, which has no port.
    const v6 = canonicalIp(text);
    return v6 === null ? null : { addr: v6, host: null, port: null };
  }
  if (firstColon === -1) {
    hostText = text;
  } else {
    hostText = text.slice(0, firstColon);
    portText = text.slice(firstColon + 1);
  }
  const port = portText === null ? null : parsePort(portText);
  const ip = canonicalIp(hostText);
  if (ip !== null) return { addr: ip, host: null, port };
  const host = normalizeHost(hostText);
  if (host === null) return null;
  return { addr: null, host, port };
}

/**
 * Parses an `ip:port` / `[v6]:port` / bare-IP peer (squid `%<a`, Envoy `%UPSTREAM_HOST%`,
 * `%DOWNSTREAM_REMOTE_ADDRESS%`). Returns null when the text is not an IP address, e.g. a cluster or
 * parent-proxy name. A port outside 1–65535 (Envoy logs `10.1.2.3:0` for an address taken from
 * X-Forwarded-For) leaves the address and drops the port.
 */
export function parseIpEndpoint(
  text: string,
): { readonly addr: string; readonly port: number | null } | null {
  const a = parseAuthority(text);
  if (a === null || a.addr === null) return null;
  return { addr: a.addr, port: a.port === -1 ? null : a.port };
}
