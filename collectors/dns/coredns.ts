/**
 * CoreDNS `log` plugin lines → DNS answers without an address: CoreDNS logs which client (in a cluster, which
 * pod) asked for which name and the rcode, but not the answer. CoreDNS 1.11.4, default format `{common}`
 * (`{remote}:{port} - {>id} "{type} {class} {name} {proto} {size} {>do} {>bufsize}" {rcode} {>rflags} {rsize}
 * {duration}`, plugin/log/log.go `CommonLogFormat`), from shared recipes/proxy-and-dns.md:
 *
 *   `[INFO] 127.0.0.1:52355 - 45465 "A IN db.internal.test. udp 57 false 1232" NOERROR qr,aa,rd 66 0.00017436s`
 *
 * `log . {combined}` adds the query's opcode, quoted (`CombinedLogFormat = CommonLogFormat + " \"{>opcode}\""`):
 *
 *   `[INFO] [::1]:51129 - 4242 "A IN api.comb.test. udp 31 false 512" NOERROR qr,aa,rd 60 0.000111185s "0"`
 *
 * and the common custom form `log . "{remote}:{port} {type} {name} {rcode} {>rflags} {duration}"`:
 *
 *   `[INFO] 127.0.0.1:42747 A foo.tmpl.test. NOERROR qr,aa,rd 0.000239767s`
 *
 * A custom line is read by its words: the client first, then a fully qualified name (`{name}` always ends in a
 * dot), a record type before or after it, and a response code after it. A class (`IN`, `CH`, `HS`) is never
 * the type. Real lines of `{remote}:{port} {class} {type} {name} {rcode} {>rflags} {duration}` and
 * `{remote}:{port} {name} {class} {type} {rcode} {duration}` (CoreDNS 1.11.4):
 *
 *   `[INFO] 127.0.0.1:44629 IN A api.c1.test. NOERROR qr,aa,rd 0.000461826s`
 *   `[INFO] 127.0.0.1:48121 api.c2.test. IN AAAA NOERROR 0.000109213s`
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
  /**
   * `[ERROR] plugin/errors: …`, start-up banners, `plugin/reload`: not a query line; a query whose opcode
   * (`{combined}`) is not QUERY: a NOTIFY or UPDATE asks for no address.
   */
  'not_query',
] as const;
export type CorednsSkipReason = (typeof COREDNS_SKIP_REASONS)[number];

type Outcome = DnsParseOutcome<CorednsRejectReason>;

/**
 * `remote:port - id "TYPE CLASS name proto size do bufsize" rcode rflags rsize duration ["opcode"]`. Duration is
 * `0.00017436s` in current versions and a Go duration (`6.96ms`) in older ones; `rflags` is empty for a reply
 * without a flag set.
 */
const DEFAULT_RE =
  /^(\S+) - \d{1,5} "(\S+) (\S+) (\S+) (\S+) \d+ (?:true|false) \d+" (\S+) (\S*) \d+ \S+(?: "(\d{1,2})")?$/;
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
/**
 * Classes (RFC 1035 3.2.4, RFC 2136 NONE, RFC 3597 CLASSnnn). `ANY` is a class and a type (qtype 255, which
 * clients do ask): it is read as the class only when another type word is next to it.
 */
const CLASS_WORD_RE = /^(?:IN|CH|CS|HS|NONE|CLASS\d{1,5})$/;
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
  if (d !== null) {
    // {combined}: opcode 0 is QUERY; 4 NOTIFY and 5 UPDATE come from other servers and ask for no address.
    if (d[8] !== undefined && d[8] !== '0') return DnsParseOutcome.skip('not_query');
    return build(time, d[1]!, d[2]!, d[4]!, d[6]!);
  }

  const f = line.split(' ');
  if (f.length < 3) return DnsParseOutcome.reject('field_count');
  let type: string | null = null;
  let any = false;
  let name: string | null = null;
  let rcode = '';
  for (let i = 1; i < f.length; i++) {
    // A default-like line the regex missed (a format with a field added) still reads by its words: `"A` is A.
    const t = stripQuotes(f[i]!);
    if (name === null && t.length > 1 && t.endsWith('.')) {
      name = t;
    } else if (RCODES.has(t) || t === '-') {
      if (name !== null && rcode === '') rcode = t;
    } else if (type === null && TYPE_WORD_RE.test(t)) {
      // Before the name or after it (`{name} {class} {type}`), but never the class.
      if (t === 'ANY') any = true;
      else if (!CLASS_WORD_RE.test(t)) type = t;
    }
  }
  if (type === null && any) type = 'ANY';
  if (type === null) return DnsParseOutcome.reject('bad_type');
  if (name === null) return DnsParseOutcome.reject('bad_name');
  return build(time, f[0]!, type, name, rcode);
}

function stripQuotes(t: string): string {
  let from = 0;
  let to = t.length;
  if (to > 0 && t.charCodeAt(0) === 34) from = 1;
  if (to > from && t.charCodeAt(to - 1) === 34) to--;
  return from === 0 && to === t.length ? t : t.slice(from, to);
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
