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
 * Container logs: kubelet's node files (`/var/log/containers/*.log`, `/var/log/pods/…`) wrap each line CoreDNS
 * wrote. CRI runtimes (containerd, CRI-O) write `<RFC 3339 time> <stdout|stderr> <P|F> <line>`, where `P` is
 * the start of a line the runtime split (at 16 KiB) and `F` its end or a whole line:
 *
 *   `2026-11-23T02:37:41.123456789Z stdout F [INFO] 10.1.2.3:42537 - 13123 "A IN api.example.com. udp 59 false 1232" NOERROR qr,rd,ra 100 0.001s`
 *
 * Docker's json-file driver writes `{"log":"<line>\n","stream":"stdout","time":"<RFC 3339>"}`, a split line's
 * parts without the `\n`. Both are unwrapped and a split line joined again.
 *
 * Time: CoreDNS writes none. A leading RFC 3339 stamp (`kubectl logs --timestamps`, most log shippers), else
 * the container runtime's, is used; without one every line gets the reference time (the file's mtime, or now
 * for stdin), which places the asking pod within the file's span, no closer.
 *
 * An rcode of `-` means no plugin wrote a response (a `hosts` miss without `fallthrough`, a failed upstream);
 * the server then answers SERVFAIL, which is what is recorded.
 */
import { normalizeHost, parseIpEndpoint } from '../../src/model/authority.js';
import { dnsAnswer, DnsParseOutcome, normalizeDnsType, type DnsLineParser } from '../../src/model/dns.js';
import { parseRfc3339, RFC3339_RE } from '../../src/model/rfc3339.js';

export const COREDNS_REJECT_REASONS = [
  'field_count',
  'bad_client',
  'bad_type',
  'bad_name',
  'bad_time',
  /**
   * Nothing CoreDNS or a container runtime writes: another prefix (syslog, `kubectl logs --prefix`), a second
   * wrapper, another program's output.
   */
  'bad_prefix',
  /** Starts as a Docker json-file record (`{`) but is not one. */
  'invalid_json',
] as const;
export type CorednsRejectReason = (typeof COREDNS_REJECT_REASONS)[number];

export const COREDNS_SKIP_REASONS = [
  'blank',
  /**
   * What CoreDNS writes besides queries: the start-up banner, `maxprocs:`, `[INFO] plugin/reload: …`,
   * `[INFO] Reloading`, `[WARNING]` / `[ERROR]` messages, client-go's klog lines; and a query whose opcode
   * (`{combined}`) is not QUERY: a NOTIFY or UPDATE asks for no address.
   */
  'not_query',
  /** The start of a line a container runtime split (CRI `P`, Docker without `\n`): read with its end. */
  'partial',
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
/** A leading RFC 3339 stamp and the space after it. */
const STAMP_RE = /^(\d{4}-\d{2}-\d{2}T\S+) /;
/** CRI: `<time> <stream> <P|F> <line>`; the line may be empty. */
const CRI_RE = /^(\S+) (stdout|stderr) ([PF])(?: (.*))?$/;
/** CoreDNS's own messages at other levels than the log plugin's `[INFO]`. */
const OTHER_LEVEL_RE = /^\[(?:DEBUG|WARNING|ERROR|FATAL)\] /;
/** `[INFO]` messages that are not queries: plugins' (`plugin/reload: …`), signals, caddy's `Reloading [complete]`. */
const INFO_MESSAGE_RE = /^(?:plugin\/|SIG[A-Z]+[: ]|Reloading(?: complete)?$)/;
/**
 * Lines CoreDNS writes without a level (coremain/run.go, core/dnsserver): `CoreDNS-1.11.4`,
 * `linux/amd64, go1.26.8, <commit>`, one `zone:port` per server block and bound address (`.:53`,
 * `internal.test.:15355 on 127.0.0.1`, `tls://.:853`), automaxprocs'
 * `maxprocs: Leaving GOMAXPROCS=2: CPU quota undefined`; and client-go's klog lines through the kubernetes
 * plugin (`E1123 02:37:44.123456       1 reflector.go:138] …`).
 */
const UNLEVELLED_RE =
  /^(?:CoreDNS-\d.*|[a-z0-9]+\/[a-z0-9_]+, go\S*,.*|(?:[a-z]+:\/\/)?\S*:\d{1,5}(?: on \S+)?|maxprocs: .*|[IWEF]\d{4} \d{2}:\d{2}:\d{2}\.\d+ +\d+ \S+\] .*)$/;
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
/** A split line longer than this is cut: no query line comes near it, and the parser's state stays small. */
const MAX_JOINED = 64 * 1024;

/** One line as CoreDNS wrote it, out of the container runtime's wrapper. */
interface Unwrapped {
  /** The runtime's time, or null when the line was not wrapped. */
  readonly time: number | null;
  readonly stream: 'stdout' | 'stderr' | null;
  /** The runtime split the line: this is not its end. */
  readonly partial: boolean;
  readonly text: string;
}

/**
 * Parses one CoreDNS log line on its own, unwrapping a container runtime's wrapper; never throws. A split line's
 * start is a `partial` skip: a `CorednsParser` reading the whole input joins it to its end.
 */
export function parseCorednsLine(text: string, reference: number): Outcome {
  return new CorednsParser(reference).parse(text);
}

/**
 * Reads an input's lines in order, unwrapping a container runtime's wrapper; a line the runtime split is joined to
 * its end, also across a checkpoint (the start waits in the snapshot).
 */
export class CorednsParser implements DnsLineParser {
  readonly #reference: number;
  /** Per stream: the start of a split line, waiting for its end. */
  #partial: Record<string, string> = {};

  constructor(reference: number, resumeState: string | null = null) {
    this.#reference = reference;
    if (resumeState !== null) this.#partial = readState(resumeState);
  }

  snapshot(): string | null {
    return Object.keys(this.#partial).length > 0 ? JSON.stringify({ partial: this.#partial }) : null;
  }

  parse(text: string): Outcome {
    const u = unwrap(text);
    if ('kind' in u) return u;
    let line = u.text;
    const stream = u.stream;
    if (stream !== null) {
      const start = this.#partial[stream];
      if (start !== undefined) {
        line = (start + line).slice(0, MAX_JOINED);
        delete this.#partial[stream];
      }
      if (u.partial) {
        this.#partial[stream] = line.slice(0, MAX_JOINED);
        return DnsParseOutcome.skip('partial');
      }
    }
    return parseMessage(line, u.time ?? this.#reference);
  }
}

function readState(text: string): Record<string, string> {
  try {
    const v = JSON.parse(text) as { partial?: unknown };
    const out: Record<string, string> = {};
    if (typeof v.partial === 'object' && v.partial !== null) {
      for (const [k, s] of Object.entries(v.partial)) {
        if ((k === 'stdout' || k === 'stderr') && typeof s === 'string') out[k] = s;
      }
    }
    return out;
  } catch {
    return {};
  }
}

/** Takes a CRI or Docker json-file wrapper off a line; a line without one comes back as it is. */
function unwrap(text: string): Unwrapped | Outcome {
  const line = text.trim();
  if (line.length === 0) return DnsParseOutcome.skip('blank');
  if (line.charCodeAt(0) === 123) return unwrapDocker(line);
  const c = CRI_RE.exec(line);
  if (c !== null && RFC3339_RE.test(c[1]!)) {
    const time = parseRfc3339(c[1]!);
    if (time === null) return DnsParseOutcome.reject('bad_time');
    return { time, stream: c[2] as 'stdout' | 'stderr', partial: c[3] === 'P', text: c[4] ?? '' };
  }
  return { time: null, stream: null, partial: false, text: line };
}

/** `{"log":"[INFO] …\n","stream":"stdout","time":"2026-11-23T02:37:41.123456789Z"}` (Docker's json-file). */
function unwrapDocker(line: string): Unwrapped | Outcome {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return DnsParseOutcome.reject('invalid_json');
  }
  if (typeof v !== 'object' || v === null) return DnsParseOutcome.reject('invalid_json');
  const r = v as Record<string, unknown>;
  const log = r['log'];
  const stream = r['stream'];
  const stamp = r['time'];
  if (typeof log !== 'string' || (stream !== 'stdout' && stream !== 'stderr') || typeof stamp !== 'string') {
    return DnsParseOutcome.reject('invalid_json');
  }
  const time = parseRfc3339(stamp);
  if (time === null) return DnsParseOutcome.reject('bad_time');
  const partial = !log.endsWith('\n');
  return { time, stream, partial, text: partial ? log : log.trimEnd() };
}

/** One line as CoreDNS wrote it (after any wrapper), placed at `time` unless it carries its own stamp. */
function parseMessage(text: string, fallbackTime: number): Outcome {
  let line = text.trim();
  if (line.length === 0) return DnsParseOutcome.skip('blank');
  let time = fallbackTime;
  const s = STAMP_RE.exec(line);
  if (s !== null && RFC3339_RE.test(s[1]!)) {
    const t = parseRfc3339(s[1]!);
    if (t === null) return DnsParseOutcome.reject('bad_time');
    time = t;
    line = line.slice(s[0].length);
  }
  if (!line.startsWith(LEVEL)) {
    return OTHER_LEVEL_RE.test(line) || UNLEVELLED_RE.test(line)
      ? DnsParseOutcome.skip('not_query')
      : DnsParseOutcome.reject('bad_prefix');
  }
  line = line.slice(LEVEL.length);
  if (INFO_MESSAGE_RE.test(line)) return DnsParseOutcome.skip('not_query');

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
