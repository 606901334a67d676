/**
 * Envoy access-log lines → observations. Two encodings, told apart per line:
 *
 * - the default text format (Envoy 1.40, `configuration/observability/access_log/usage`):
 *   `[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS%
 *   %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%"
 *   "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"`, a real line:
 *   `[2026-11-23T02:38:55.737Z] "CONNECT - HTTP/1.1" 200 DC 20 20 1 - "-" "-" "54db619c-5573-4ed5-8ddc-4e3e65800ff3" "127.0.0.1:17777" "127.0.0.1:17777"`
 * - Istio's default text format (its `EnvoyTextLogFormat`, 1.9 on): after the flags, `%RESPONSE_CODE_DETAILS%
 *   %CONNECTION_TERMINATION_DETAILS% "%UPSTREAM_TRANSPORT_FAILURE_REASON%"` (1.3 to 1.8: `"%DYNAMIC_METADATA(istio.mixer:status)%"`
 *   for the two details), and after the upstream host `%UPSTREAM_CLUSTER% %UPSTREAM_LOCAL_ADDRESS%
 *   %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%`, as in Istio's docs:
 *   `[2020-11-25T21:26:18.409Z] "GET /status/418 HTTP/1.1" 418 - via_upstream - "-" 0 135 4 4 "-" "curl/7.73.0-DEV" "84961386-6d84-929d-98bd-c5aee93b5c88" "httpbin:8000" "10.44.1.27:80" outbound|8000||httpbin.foo.svc.cluster.local 10.44.1.23:37652 10.0.45.184:8000 10.44.1.23:46520 - default`
 * - a `json_format` line (starts with `{`), with the key names Envoy's docs and Istio's JSON access log use
 *   (`start_time`, `authority`, `upstream_host`, `downstream_remote_address`, `requested_server_name`, …):
 *   `{"authority":"nope.test","bytes_received":0,"bytes_sent":0,"downstream_remote_address":"127.0.0.1:44208","duration":0,"method":"GET","path":"/","protocol":"HTTP/1.1","response_code":404,"response_flags":"NR","start_time":"2026-11-23T02:38:55.592Z","upstream_host":null}`
 *
 * Mapping: `src` is the downstream peer (JSON, Istio) or the last X-Forwarded-For hop, the one Envoy appends with
 * `use_remote_address`; Envoy's text format logs no downstream address. The destination is the authority (`host:port` for CONNECT), else the TLS SNI, else the
 * upstream host; Envoy's `BYTES_RECEIVED` (from downstream, the opener) is `bytesOut` and `BYTES_SENT` is `bytesIn`.
 * The user agent and X-Forwarded-For are client text and are never split: the text format does not escape
 * quotes in them, so the fields after them are read from the end of the line.
 */
import { MAX_EPOCH_SECONDS, observation, PROTOCOL } from '../../src/model/observation.js';
import { ParseOutcome } from '../../src/model/parse-outcome.js';
import { parseRfc3339Ms } from '../../src/model/rfc3339.js';
import type { Authority } from '../../src/model/authority.js';
import { normalizeHost, parseAuthority, parseIpEndpoint } from '../../src/model/authority.js';

/** Why a line is malformed. Bounded: these strings are quarantine reasons and metric tags. */
export const ENVOY_REJECT_REASONS = [
  'field_count',
  'bad_json',
  'bad_time',
  'bad_status',
  'bad_flags',
  'bad_bytes',
  'bad_duration',
  'bad_host',
  'bad_port',
] as const;
export type EnvoyRejectReason = (typeof ENVOY_REJECT_REASONS)[number];

/** Why a well-formed line carries no destination. Counted, not quarantined. */
export const ENVOY_SKIP_REASONS = [
  /** Empty or whitespace-only line. */
  'blank',
  /** No authority, SNI or upstream host: Envoy answered before it knew where the request was going (`DPE`, …). */
  'no_destination',
] as const;
export type EnvoySkipReason = (typeof ENVOY_SKIP_REASONS)[number];

type Outcome = ParseOutcome<EnvoyRejectReason>;

/**
 * The default text format up to the opening quote of X-Forwarded-For: the request line and the numbers are
 * Envoy's own. The rest is read by hand from the end of the line (see `parseText`): X-Forwarded-For and the user
 * agent are client text that Envoy does not escape, and a regex with two free-text groups backtracks
 * quadratically on a line full of `" "`.
 */
const TEXT_HEAD_RE = /^\[([^\]]*)\] "(\S*) (\S*) (\S*)" (\S+) (\S+) (\S+) (\S+) (\S+) (\S+) "/;
/**
 * Istio's default text format up to the same quote: after the flags, the response code and connection
 * termination details (Istio 1.9 on) or the quoted mixer status (1.3 to 1.8), then the quoted upstream transport
 * failure reason, before the numbers. Six fields follow the upstream host (ISTIO_TRAILING_FIELDS).
 */
const ISTIO_HEAD_RE =
  /^\[([^\]]*)\] "(\S*) (\S*) (\S*)" (\S+) (\S+) (?:(\S+) (\S+)|"[^"]*") "[^"]*" (\S+) (\S+) (\S+) (\S+) "/;
const ISTIO_TRAILING_FIELDS = 6;
const DIGITS_RE = /^\d{1,15}$/;
const FLAGS_RE = /^[A-Z]+(?:,[A-Z]+)*$/;

/** Parses one Envoy access-log line (default text format or JSON). Pure; never throws. */
export function parseEnvoyLine(text: string): Outcome {
  const line = text.trim();
  if (line.length === 0) return ParseOutcome.skip('blank');
  return line.charCodeAt(0) === 123 ? parseJson(line) : parseText(line);
}

/** The fields both encodings share, as logged (`-` / null already turned into `null`). */
interface Fields {
  readonly startTime: string | null;
  readonly responseCode: string | null;
  readonly responseFlags: string | null;
  readonly bytesReceived: string | null;
  readonly bytesSent: string | null;
  readonly duration: string | null;
  readonly xForwardedFor: string | null;
  readonly authority: string | null;
  readonly upstreamHost: string | null;
  readonly downstreamAddress: string | null;
  readonly serverName: string | null;
  readonly details: string | null;
  readonly terminationDetails: string | null;
  /** The upstream cluster (Istio's text format, JSON `upstream_cluster`). */
  readonly cluster: string | null;
}

function parseText(line: string): Outcome {
  const m = TEXT_HEAD_RE.exec(line);
  if (m !== null) {
    const tail = quotedTail(line, m[0].length, line.length);
    if (tail === null) return ParseOutcome.reject('field_count');
    return build({
      startTime: m[1]!,
      responseCode: dash(m[5]!),
      responseFlags: dash(m[6]!),
      bytesReceived: dash(m[7]!),
      bytesSent: dash(m[8]!),
      duration: dash(m[9]!),
      ...tail,
      downstreamAddress: null,
      serverName: null,
      details: null,
      terminationDetails: null,
      cluster: null,
    });
  }
  const istio = ISTIO_HEAD_RE.exec(line);
  if (istio === null) return ParseOutcome.reject('field_count');
  // Istio's six fields after the upstream host hold no spaces: %UPSTREAM_CLUSTER% %UPSTREAM_LOCAL_ADDRESS%
  // %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%.
  const after: string[] = [];
  let end = line.length;
  for (let i = 0; i < ISTIO_TRAILING_FIELDS; i++) {
    const space = line.lastIndexOf(' ', end - 1);
    if (space < istio[0].length) return ParseOutcome.reject('field_count');
    after.unshift(line.slice(space + 1, end));
    end = space;
  }
  const tail = quotedTail(line, istio[0].length, end);
  if (tail === null) return ParseOutcome.reject('field_count');
  return build({
    startTime: istio[1]!,
    responseCode: dash(istio[5]!),
    responseFlags: dash(istio[6]!),
    bytesReceived: dash(istio[9]!),
    bytesSent: dash(istio[10]!),
    duration: dash(istio[11]!),
    ...tail,
    downstreamAddress: dash(after[3]!),
    serverName: dash(after[4]!),
    details: istio[7] === undefined ? null : dash(istio[7]),
    terminationDetails: istio[8] === undefined ? null : dash(istio[8]),
    cluster: dash(after[0]!),
  });
}

/**
 * `"%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"` in
 * `line[head - 1, end)`, head just past the first quote; null when it is not that. Five quoted fields, four `" "`
 * between them: more means a format with fields added (which would shift the fields read from the end and store
 * the line under the wrong host), or client text holding `" "`; neither reads safely, so the line goes to
 * quarantine.
 */
function quotedTail(
  line: string,
  head: number,
  end: number,
): Pick<Fields, 'xForwardedFor' | 'authority' | 'upstreamHost'> | null {
  let separators = 0;
  for (let i = line.indexOf('" "', head - 1); i !== -1 && i < end; i = line.indexOf('" "', i + 2))
    separators++;
  if (separators !== 4) return null;
  // From the end: the request id, authority and upstream host, which hold no quotes.
  const fields: string[] = [];
  for (let i = 0; i < 3; i++) {
    if (line.charCodeAt(end - 1) !== 34) return null;
    const open = line.lastIndexOf('"', end - 2);
    if (open < head || line.charCodeAt(open - 1) !== 32) return null;
    fields.push(line.slice(open + 1, end - 1));
    end = open - 1;
  }
  // What is left is `"<x-forwarded-for>" "<user-agent>"`, starting at the quote before head.
  if (end - head < 5 || line.charCodeAt(end - 1) !== 34) return null;
  return {
    xForwardedFor: dash(line.slice(head, line.indexOf('"', head))),
    authority: dash(fields[1]!),
    upstreamHost: dash(fields[0]!),
  };
}

function parseJson(line: string): Outcome {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return ParseOutcome.reject('bad_json');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return ParseOutcome.reject('bad_json');
  const o = value as Record<string, unknown>;
  return build({
    startTime: str(o['start_time']),
    responseCode: str(o['response_code']),
    responseFlags: str(o['response_flags']),
    bytesReceived: str(o['bytes_received']),
    bytesSent: str(o['bytes_sent']),
    duration: str(o['duration']),
    xForwardedFor: str(o['x_forwarded_for']),
    authority: str(o['authority']),
    upstreamHost: str(o['upstream_host']),
    // The direct peer first: without `use_remote_address` Envoy fills `downstream_remote_address` from the
    // client's own X-Forwarded-For (a real line: `"downstream_remote_address":"10.1.2.3:0"`), so a pod could
    // name another workload there. Only the socket peer is Envoy's own observation.
    downstreamAddress: str(o['downstream_direct_remote_address']) ?? str(o['downstream_remote_address']),
    serverName: str(o['requested_server_name']),
    details: str(o['response_code_details']),
    terminationDetails: str(o['connection_termination_details']),
    cluster: str(o['upstream_cluster']),
  });
}

function build(f: Fields): Outcome {
  const startMs = f.startTime === null ? null : parseRfc3339Ms(f.startTime);
  if (startMs === null || startMs > MAX_EPOCH_SECONDS * 1000) return ParseOutcome.reject('bad_time');
  if (f.responseCode !== null && !DIGITS_RE.test(f.responseCode)) return ParseOutcome.reject('bad_status');
  const flags = f.responseFlags;
  if (flags !== null && !FLAGS_RE.test(flags)) return ParseOutcome.reject('bad_flags');
  const bytesOut = count(f.bytesReceived);
  const bytesIn = count(f.bytesSent);
  if (bytesOut < 0 || bytesIn < 0) return ParseOutcome.reject('bad_bytes');
  const duration = count(f.duration);
  if (duration < 0) return ParseOutcome.reject('bad_duration');

  let authority: Authority | null = null;
  if (f.authority !== null) {
    authority = parseAuthority(f.authority);
    if (authority === null) return ParseOutcome.reject('bad_host');
    if (authority.port === -1) return ParseOutcome.reject('bad_port');
  }
  let sni: string | null = null;
  if (authority === null && f.serverName !== null) {
    sni = normalizeHost(f.serverName);
    if (sni === null) return ParseOutcome.reject('bad_host');
  }
  // Not an IP endpoint (an internal listener, a pipe): no address, but not a malformed line either.
  const upstream = f.upstreamHost === null ? null : parseIpEndpoint(f.upstreamHost);
  if (authority === null && sni === null && upstream === null) return ParseOutcome.skip('no_destination');

  const dstHost = authority !== null ? authority.host : sni;
  const dstAddr = authority !== null && authority.addr !== null ? authority.addr : (upstream?.addr ?? null);
  const dstPort = authority?.port ?? upstream?.port ?? (sni !== null ? 443 : 80);

  let srcAddr: string | null = null;
  let srcPort: number | null = null;
  const downstream = f.downstreamAddress === null ? null : parseIpEndpoint(f.downstreamAddress);
  if (downstream !== null) {
    srcAddr = downstream.addr;
    srcPort = downstream.port;
  } else if (f.xForwardedFor !== null) {
    // The right-most hop: with `use_remote_address` Envoy appends the peer it saw there, while every hop left of
    // it is what the client wrote (a pod could name another workload). An unreadable value is only absent.
    const hop = f.xForwardedFor.slice(f.xForwardedFor.lastIndexOf(',') + 1).trim();
    srcAddr = parseIpEndpoint(hop)?.addr ?? null;
  }

  return ParseOutcome.observation(
    observation({
      sourceKind: 'envoy',
      start: startMs / 1000,
      end: (startMs + duration) / 1000,
      srcAddr,
      srcPort,
      dstAddr,
      dstHost,
      dstPort,
      protocol: PROTOCOL.tcp,
      action: refused(f, upstream) ? 'reject' : 'accept',
      direction: 'egress',
      orientation: 'proxy',
      reply: false,
      bytesOut,
      bytesIn,
    }),
  );
}

/**
 * True when Envoy itself refused the request: no route (`NR`), external authorization denied (`UAEX`), an RBAC
 * policy, or Istio's `BlackHoleCluster` (a mesh that allows only registered destinations). The HTTP RBAC filter sets no response flag; JSON logs carry `rbac_access_denied_matched_policy[…]`
 * in the response (or, for the network filter, connection-termination) details. The default text format has no
 * details, so a 403 that never reached an upstream host (`"-"`) counts as Envoy's own refusal: a real line is
 * `"GET /x HTTP/1.1" 403 - 0 19 0 - … "denied.test" "-"`. Upstream failures (`UF`, `UH`, …) and an upstream's
 * own 403 were allowed by the proxy and are accepts.
 */
function refused(f: Fields, upstream: { readonly addr: string } | null): boolean {
  if (f.responseFlags !== null) {
    for (const flag of f.responseFlags.split(',')) {
      if (flag === 'NR' || flag === 'UAEX') return true;
    }
  }
  if (f.details?.startsWith('rbac_access_denied') === true) return true;
  if (f.terminationDetails?.startsWith('rbac_access_denied') === true) return true;
  // Istio's outbound policy REGISTRY_ONLY sends a destination outside the registry there.
  if (f.cluster === 'BlackHoleCluster') return true;
  return f.responseCode === '403' && upstream === null;
}

/** Text fields log an absent value as `-`. */
function dash(text: string): string | null {
  return text === '-' || text === '' ? null : text;
}

/** A JSON value as text: numbers as Envoy typed them, strings as-is, `null`/`-`/other types as absent. */
function str(value: unknown): string | null {
  if (typeof value === 'string') return dash(value);
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : null;
  return null;
}

/** A non-negative integer count; absent is 0, anything else -1. */
function count(text: string | null): number {
  if (text === null) return 0;
  return DIGITS_RE.test(text) ? Number(text) : -1;
}
