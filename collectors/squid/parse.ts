/**
 * Squid access-log lines → observations. Three layouts, told apart per line so a mixed or migrated log still
 * reads:
 *
 * - native `squid` (`%ts.%03tu %6tr %>a %Ss/%03>Hs %<st %rm %ru %[un %Sh/%<a %mt`), squid 5.7:
 *   `1795401424.342      1 127.0.0.1 TCP_TUNNEL/200 59 CONNECT api.allowed.test:17777 - HIER_DIRECT/127.0.0.1 -`
 * - `common` (`%>a %[ui %[un [%tl] "%rm %ru HTTP/%rv" %>Hs %<st %Ss:%Sh`):
 *   `127.0.0.1 - - [25/Nov/2026:02:35:43 +0000] "GET http://origin.test:18099/ HTTP/1.1" 200 2906 TCP_MISS:HIER_DIRECT`
 * - `combined`: `common` with `"%{Referer}>h" "%{User-Agent}>h"` before the last field. squid does not escape
 *   quotes inside them (a real line: `"ua "quoted" x"`), so those two are never split, only stepped over.
 *
 * Mapping: the client (`%>a`) is `src`; the destination is the CONNECT target or the absolute URL's authority.
 * `%<st` (bytes squid sent to the client, headers included) is `bytesIn`; the formats carry no request size.
 * `%Sh/%<a` is the next hop: with `HIER_DIRECT` (or `ORIGINAL_DST`, interception) it is the origin server's
 * address, with a parent or sibling hierarchy code it is another proxy, which is not the destination.
 */
import { MONTH_INDEX as MONTHS } from '../../src/model/months.js';
import { MAX_EPOCH_SECONDS, observation, PROTOCOL } from '../../src/model/observation.js';
import { ParseOutcome } from '../../src/model/parse-outcome.js';
import { canonicalIp } from '../../src/model/ip.js';
import { parseAuthority, parseIpEndpoint } from '../../src/model/authority.js';

/** Why a line is malformed. Bounded: these strings are quarantine reasons and metric tags. */
export const SQUID_REJECT_REASONS = [
  'field_count',
  'bad_time',
  'bad_elapsed',
  'bad_ip',
  'bad_status',
  'bad_bytes',
  'bad_request',
  'bad_url',
  'bad_host',
  'bad_port',
  'bad_hierarchy',
] as const;
export type SquidRejectReason = (typeof SQUID_REJECT_REASONS)[number];

/** Why a well-formed line carries no destination. Counted, not quarantined. */
export const SQUID_SKIP_REASONS = [
  /** Empty or whitespace-only line. */
  'blank',
  /** `-`: no request was read. */
  'no_url',
  /** `error:transaction-end-before-headers`, `error:invalid-request`, …: squid's placeholder for a failed parse. */
  'error_url',
  /** `/path`: an intercepted or origin-form request without a Host squid could use. */
  'relative_url',
  /**
   * `TCP_DENIED/407`: squid asked the client to authenticate, and the client asks again with credentials. Not a
   * policy decision: counted as a reject, every host would show up rejected once behind an authenticating proxy.
   */
  'auth_challenge',
] as const;
export type SquidSkipReason = (typeof SQUID_SKIP_REASONS)[number];

type Outcome = ParseOutcome<SquidRejectReason>;

/** Default ports of the schemes squid proxies (squid's `AnyP::UriScheme::defaultPort`). */
const SCHEME_PORTS: Readonly<Record<string, number>> = {
  http: 80,
  https: 443,
  ws: 80,
  wss: 443,
  ftp: 21,
  gopher: 70,
  whois: 43,
};

/** Hierarchy codes whose peer is the origin server itself. */
const DIRECT_HIERARCHIES = new Set(['HIER_DIRECT', 'ORIGINAL_DST']);

const WHITESPACE = /\s+/;
/** `client ident user [time] "method url version" status bytes [referer ua] code:hier`; see the module doc. */
const COMMON_RE =
  /^(\S+) (\S+) (\S+) \[([^\]]*)\] "([^\s"]+) ([^\s"]+)(?: [^\s"]*)?" (\S+) (\S+) (?:(.*) )?(\S+)$/;
const NATIVE_TIME_RE = /^(\d{1,12})(?:\.(\d{1,3}))?$/;
const DIGITS_RE = /^\d{1,15}$/;
/** `%tl`: `25/Nov/2026:02:35:43 +0000`. */
const LOCAL_TIME_RE = /^(\d{2})\/([A-Z][a-z]{2})\/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$/;

/**
 * Parses one squid access-log line (native, common or combined). Pure; never throws.
 */
export function parseSquidLine(text: string): Outcome {
  const line = text.trim();
  if (line.length === 0) return ParseOutcome.skip('blank');
  const c = line.charCodeAt(0);
  // Native lines start with the epoch seconds; common/combined with the client address.
  const firstSpace = line.indexOf(' ');
  const first = firstSpace === -1 ? line : line.slice(0, firstSpace);
  if (c >= 48 && c <= 57 && NATIVE_TIME_RE.test(first)) return parseNative(line);
  return parseCommon(line);
}

function parseNative(line: string): Outcome {
  const f = line.split(WHITESPACE);
  // Ten fields; a site that appended fields to its `squid` logformat still reads.
  if (f.length < 10) return ParseOutcome.reject('field_count');
  const t = NATIVE_TIME_RE.exec(f[0]!);
  if (t === null) return ParseOutcome.reject('bad_time');
  const fraction = t[2] ?? '';
  const endMs = Number(t[1]) * 1000 + (fraction === '' ? 0 : Number(fraction.padEnd(3, '0')));
  if (endMs > MAX_EPOCH_SECONDS * 1000) return ParseOutcome.reject('bad_time');
  const elapsedText = f[1]!;
  if (!DIGITS_RE.test(elapsedText)) return ParseOutcome.reject('bad_elapsed');
  const elapsed = Number(elapsedText);
  const src = canonicalIp(f[2]!);
  if (src === null) return ParseOutcome.reject('bad_ip');
  const codeStatus = f[3]!;
  const slash = codeStatus.indexOf('/');
  if (slash <= 0 || !DIGITS_RE.test(codeStatus.slice(slash + 1))) return ParseOutcome.reject('bad_status');
  const code = codeStatus.slice(0, slash);
  const status = codeStatus.slice(slash + 1);
  const bytesText = f[4]!;
  if (!DIGITS_RE.test(bytesText)) return ParseOutcome.reject('bad_bytes');
  const hierPeer = f[8]!;
  const hierSlash = hierPeer.indexOf('/');
  if (hierSlash <= 0) return ParseOutcome.reject('bad_hierarchy');
  const hierarchy = stripTimeout(hierPeer.slice(0, hierSlash));
  const peer = hierPeer.slice(hierSlash + 1);
  return build(
    f[5]!,
    f[6]!,
    src,
    (endMs - elapsed) / 1000,
    endMs / 1000,
    code,
    status,
    Number(bytesText),
    DIRECT_HIERARCHIES.has(hierarchy) ? peer : null,
  );
}

function parseCommon(line: string): Outcome {
  const m = COMMON_RE.exec(line);
  if (m === null) return ParseOutcome.reject('field_count');
  const src = canonicalIp(m[1]!);
  if (src === null) return ParseOutcome.reject('bad_ip');
  const time = parseLocalTime(m[4]!);
  if (time === null || time > MAX_EPOCH_SECONDS) return ParseOutcome.reject('bad_time');
  if (!DIGITS_RE.test(m[7]!)) return ParseOutcome.reject('bad_status');
  const bytesText = m[8]!;
  if (!DIGITS_RE.test(bytesText)) return ParseOutcome.reject('bad_bytes');
  const middle = m[9];
  // Combined: `"referer" "user-agent"`; anything else between the bytes and the last field is not this format.
  if (middle !== undefined && !(middle.length >= 7 && middle.startsWith('"') && middle.endsWith('"'))) {
    return ParseOutcome.reject('field_count');
  }
  const codeHier = m[10]!;
  const colon = codeHier.indexOf(':');
  if (colon <= 0) return ParseOutcome.reject('bad_hierarchy');
  // `%Ss:%Sh` carries no peer address, so only an IP-literal URL gives a dstAddr.
  return build(m[5]!, m[6]!, src, time, time, codeHier.slice(0, colon), m[7]!, Number(bytesText), null);
}

/** Squid 2 prefixed the hierarchy code with `TIMEOUT_` when a peer selection timed out. */
function stripTimeout(hierarchy: string): string {
  return hierarchy.startsWith('TIMEOUT_') ? hierarchy.slice(8) : hierarchy;
}

/** Shared tail of both layouts: destination from the request, action from the result code. */
function build(
  method: string,
  url: string,
  src: string,
  start: number,
  end: number,
  code: string,
  status: string,
  bytes: number,
  directPeer: string | null,
): Outcome {
  if (url === '-') return ParseOutcome.skip('no_url');
  if (status === '407' && isDenied(code)) return ParseOutcome.skip('auth_challenge');
  if (url.startsWith('error:')) return ParseOutcome.skip('error_url');
  if (url.startsWith('/')) return ParseOutcome.skip('relative_url');
  if (method.length === 0 || method === '-') return ParseOutcome.reject('bad_request');

  let authorityText: string;
  let defaultPort: number | null = null;
  const schemeEnd = url.indexOf('://');
  if (schemeEnd > 0) {
    const scheme = url.slice(0, schemeEnd).toLowerCase();
    defaultPort = SCHEME_PORTS[scheme] ?? null;
    const rest = url.slice(schemeEnd + 3);
    let stop = rest.length;
    for (let i = 0; i < rest.length; i++) {
      const ch = rest.charCodeAt(i);
      if (ch === 47 || ch === 63 || ch === 35) {
        stop = i;
        break;
      }
    }
    authorityText = rest.slice(0, stop);
    const at = authorityText.lastIndexOf('@');
    if (at !== -1) authorityText = authorityText.slice(at + 1);
  } else if (url.indexOf('/') === -1) {
    // Authority form: the CONNECT target `host:port` or `[v6]:port`.
    authorityText = url;
  } else {
    return ParseOutcome.reject('bad_url');
  }
  if (authorityText.length === 0) return ParseOutcome.reject('bad_url');
  const authority = parseAuthority(authorityText);
  if (authority === null) return ParseOutcome.reject('bad_host');
  if (authority.port === -1) return ParseOutcome.reject('bad_port');
  const port = authority.port ?? defaultPort;
  // A CONNECT target without a port is not something squid forwards.
  if (schemeEnd <= 0 && port === null) return ParseOutcome.reject('bad_port');

  let dstAddr = authority.addr;
  if (dstAddr === null && directPeer !== null) {
    // `%<a` is `-` when squid never connected (denied, DNS failure).
    dstAddr = parseIpEndpoint(directPeer)?.addr ?? null;
  }
  return ParseOutcome.observation(
    observation({
      sourceKind: 'squid',
      start,
      end,
      srcAddr: src,
      srcPort: null,
      dstAddr,
      dstHost: authority.host,
      dstPort: port,
      protocol: PROTOCOL.tcp,
      action: isDenied(code) ? 'reject' : 'accept',
      direction: 'egress',
      orientation: 'proxy',
      // A proxy logs each request once, from the client's side.
      reply: false,
      bytesIn: bytes,
    }),
  );
}

/** `TCP_DENIED`, `TCP_DENIED_REPLY`, `UDP_DENIED`, …: squid refused the request by policy. */
function isDenied(code: string): boolean {
  return code.includes('_DENIED');
}

/** `%tl` as epoch seconds, without allocating a Date. */
function parseLocalTime(text: string): number | null {
  const m = LOCAL_TIME_RE.exec(text);
  if (m === null) return null;
  const month = MONTHS[m[2]!];
  if (month === undefined) return null;
  const day = Number(m[1]);
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  const second = Number(m[6]);
  const offH = Number(m[8]);
  const offM = Number(m[9]);
  if (day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60 || offH > 23 || offM > 59) return null;
  const utcMs = Date.UTC(Number(m[3]), month, day, hour, minute, second);
  const offset = (offH * 3600 + offM * 60) * (m[7] === '-' ? -1 : 1);
  return utcMs / 1000 - offset;
}
