/**
 * CoreDNS `log` plugin lines → DNS answers without an address: CoreDNS logs which client (in a cluster, which
 * pod) asked for which name and the rcode, but not the answer. CoreDNS 1.11.4, default format
 * (`{remote}:{port} - {>id} "{type} {class} {name} {proto} {size} {>do} {>bufsize}" {rcode} {>rflags} {rsize}
 * {duration}`), from shared recipes/proxy-and-dns.md:
 *
 *   `[INFO] 127.0.0.1:52355 - 45465 "A IN db.internal.test. udp 57 false 1232" NOERROR qr,aa,rd 66 0.00017436s`
 *
 * and the common custom form `log . "{remote}:{port} {type} {name} {rcode} {>rflags} {duration}"`:
 *
 *   `[INFO] 127.0.0.1:42747 A foo.tmpl.test. NOERROR qr,aa,rd 0.000239767s`
 *
 * A custom line is read by its tokens: the client first, then a record type, a fully qualified name (`{name}`
 * always ends in a dot) and a response code anywhere after it.
 *
 * Time: CoreDNS writes none. A leading RFC 3339 stamp (`kubectl logs --timestamps`, most log shippers) is used;
 * without one every line gets the reference time (the file's mtime, or now for stdin), which places the asking
 * pod within the file's span, no closer.
 *
 * An rcode of `-` means no plugin wrote a response (a `hosts` miss without `fallthrough`, a failed upstream);
 * the server then answers SERVFAIL, which is what is recorded.
 */
import { normalizeHost, parseIpEndpoint } from '../../src/model/authority.js';
import { dnsAnswer, DnsParseOutcome, normalizeDnsType } from '../../src/model/dns.js';

export const COREDNS_REJECT_REASONS = [
  'field_count',
  'bad_client',
  'bad_type',
  'bad_name',
  'bad_time',
] as const;
export type CorednsRejectReason = (typeof COREDNS_REJECT_REASONS)[number];

export const COREDNS_SKIP_REASONS = [
  'blank',
  /** `[ERROR] plugin/errors: …`, start-up banners, `plugin/reload`: not a query line. */
  'not_query',
] as const;
export type CorednsSkipReason = (typeof COREDNS_SKIP_REASONS)[number];

type Outcome = DnsParseOutcome<CorednsRejectReason>;

/** `[INFO] remote:port - id "TYPE CLASS name proto size do bufsize" rcode rflags rsize duration`. */
const DEFAULT_RE =
  /^(\S+) - \d{1,5} "(\S+) (\S+) (\S+) (\S+) \d+ (?:true|false) \d+" (\S+) (\S+) \d+ [\d.]+s$/;
/** `2026-11-23T02:37:41.123456789Z ` (fraction and offset optional). */
const STAMP_RE = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})) /;
const RCODES = new Set([
  'NOERROR',
  'FORMERR',
  'SERVFAIL',
  'NXDOMAIN',
  'NOTIMP',
  'REFUSED',
  'YXDOMAIN',
  'YXRRSET',
  'NXRRSET',
  'NOTAUTH',
  'NOTZONE',
  'BADSIG',
]);
const TYPE_WORD_RE = /^(?:[A-Z][A-Z0-9]{0,9}|TYPE\d{1,5})$/;
const LEVEL = '[INFO] ';

/** Parses one CoreDNS log line. Pure except for the reference time it is built with; never throws. */
export function parseCorednsLine(text: string, reference: number): Outcome {
  let line = text.trim();
  if (line.length === 0) return DnsParseOutcome.skip('blank');
  let time = reference;
  const s = STAMP_RE.exec(line);
  if (s !== null) {
    const ms = Date.parse(s[1]!);
    if (Number.isNaN(ms)) return DnsParseOutcome.reject('bad_time');
    time = ms / 1000;
    line = line.slice(s[0].length);
  }
  if (!line.startsWith(LEVEL)) return DnsParseOutcome.skip('not_query');
  line = line.slice(LEVEL.length);
  // Plugin messages (`[INFO] plugin/reload: …`) have no client address.
  if (line.startsWith('plugin/') || line.startsWith('SIG')) return DnsParseOutcome.skip('not_query');

  const d = DEFAULT_RE.exec(line);
  if (d !== null) return build(time, d[1]!, d[2]!, d[4]!, d[6]!);

  const f = line.split(' ');
  if (f.length < 3) return DnsParseOutcome.reject('field_count');
  let type: string | null = null;
  let name: string | null = null;
  let rcode = '';
  for (let i = 1; i < f.length; i++) {
    const t = f[i]!;
    if (name === null && t.length > 1 && t.endsWith('.')) name = t;
    else if (type === null && name === null && TYPE_WORD_RE.test(t) && !RCODES.has(t)) type = t;
    else if (name !== null && rcode === '' && (RCODES.has(t) || t === '-')) rcode = t;
  }
  if (type === null) return DnsParseOutcome.reject('bad_type');
  if (name === null) return DnsParseOutcome.reject('bad_name');
  return build(time, f[0]!, type, name, rcode);
}

function build(time: number, remote: string, typeText: string, nameText: string, rcodeText: string): Outcome {
  const client = parseIpEndpoint(remote);
  if (client === null) return DnsParseOutcome.reject('bad_client');
  const type = normalizeDnsType(typeText);
  if (type === null) return DnsParseOutcome.reject('bad_type');
  // The root (`.`) is a valid question but no name a rule could carry.
  const name = normalizeHost(nameText);
  if (name === null) return DnsParseOutcome.reject('bad_name');
  const rcode = rcodeText === '-' ? 'SERVFAIL' : rcodeText;
  return DnsParseOutcome.answers([
    dnsAnswer({
      time,
      client: client.addr,
      name,
      type,
      answer: null,
      ttl: null,
      rcode,
      sourceKind: 'coredns',
    }),
  ]);
}
