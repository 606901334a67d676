/**
 * Route 53 Resolver (VPC Resolver) query logs → DNS answers. One JSON object per line, as the S3 and Firehose
 * destinations write them (docs.aws.amazon.com/Route53/latest/DeveloperGuide/resolver-query-logs-format.html;
 * the documented example, on one line):
 *
 *   `{"srcaddr":"4.5.64.102","vpc_id":"vpc-7example","answers":[{"Rdata":"203.0.113.9","Type":"PTR","Class":"IN"}],
 *   "query_name":"15.3.4.32.in-addr.arpa.","query_class":"IN","srcids":{"instance":"i-0d15cd0d3example"},
 *   "rcode":"NOERROR","query_type":"PTR","transport":"UDP","version":"1.100000","account_id":"111122223333",
 *   "srcport":"56067","query_timestamp":"2021-02-04T17:51:55Z","region":"us-east-1"}`
 *
 * Every answer is recorded under `query_name`, the name the client asked for; a CNAME chain appears as `CNAME`
 * answers followed by the addresses of its end. The format carries no TTL. `srcaddr` is the asking instance or
 * ENI address (with the VPC CNI, a pod's own address; with node-local DNS caches, the node's).
 */
import { normalizeHost } from '../../src/model/authority.js';
import { dnsAnswer, DnsParseOutcome, normalizeDnsType, type DnsAnswer } from '../../src/model/dns.js';
import { canonicalIp } from '../../src/model/ip.js';

export const ROUTE53_REJECT_REASONS = [
  'invalid_json',
  'bad_time',
  'bad_name',
  'bad_type',
  'bad_rcode',
  'bad_ip',
  'bad_answer',
] as const;
export type Route53RejectReason = (typeof ROUTE53_REJECT_REASONS)[number];

export const ROUTE53_SKIP_REASONS = [
  'blank',
  /** Only answers that name no address or host (TXT, MX, HTTPS, …). */
  'other_answer',
] as const;
export type Route53SkipReason = (typeof ROUTE53_SKIP_REASONS)[number];

type Outcome = DnsParseOutcome<Route53RejectReason>;

const RCODE_RE = /^[A-Z]{3,10}$/;
const NAME_TYPES = new Set(['CNAME', 'PTR', 'NS', 'DNAME']);

/** Parses one Route 53 Resolver query-log line. Pure; never throws. */
export function parseRoute53Line(text: string): Outcome {
  const line = text.trim();
  if (line.length === 0) return DnsParseOutcome.skip('blank');
  if (line.charCodeAt(0) !== 123) return DnsParseOutcome.reject('invalid_json');
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return DnsParseOutcome.reject('invalid_json');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return DnsParseOutcome.reject('invalid_json');
  const r = v as Record<string, unknown>;

  const stamp = r['query_timestamp'];
  const ms = typeof stamp === 'string' ? Date.parse(stamp) : NaN;
  if (Number.isNaN(ms)) return DnsParseOutcome.reject('bad_time');
  const time = ms / 1000;
  const name = typeof r['query_name'] === 'string' ? normalizeHost(r['query_name']) : null;
  if (name === null) return DnsParseOutcome.reject('bad_name');
  const qtype = typeof r['query_type'] === 'string' ? normalizeDnsType(r['query_type']) : null;
  if (qtype === null) return DnsParseOutcome.reject('bad_type');
  const rcode = r['rcode'];
  if (typeof rcode !== 'string' || !RCODE_RE.test(rcode)) return DnsParseOutcome.reject('bad_rcode');
  let client: string | null = null;
  const src = r['srcaddr'];
  if (src !== undefined && src !== null && src !== '-') {
    client = typeof src === 'string' ? canonicalIp(src) : null;
    if (client === null) return DnsParseOutcome.reject('bad_ip');
  }
  const answers = r['answers'] ?? [];
  if (!Array.isArray(answers)) return DnsParseOutcome.reject('bad_answer');

  const out: DnsAnswer[] = [];
  for (let i = 0; i < answers.length; i++) {
    const a = answers[i] as unknown;
    if (typeof a !== 'object' || a === null) return DnsParseOutcome.reject('bad_answer');
    const rdata = (a as Record<string, unknown>)['Rdata'];
    const typeText = (a as Record<string, unknown>)['Type'];
    if (typeof rdata !== 'string' || typeof typeText !== 'string')
      return DnsParseOutcome.reject('bad_answer');
    const type = normalizeDnsType(typeText);
    if (type === null) return DnsParseOutcome.reject('bad_type');
    let answer: string | null;
    if (type === 'A' || type === 'AAAA') {
      answer = canonicalIp(rdata);
      if (answer === null) return DnsParseOutcome.reject('bad_ip');
    } else if (NAME_TYPES.has(type)) {
      answer = normalizeHost(rdata);
      if (answer === null) return DnsParseOutcome.reject('bad_answer');
    } else {
      continue;
    }
    out.push(dnsAnswer({ time, client, name, type, answer, ttl: null, rcode, sourceKind: 'route53' }));
  }
  if (out.length === 0) {
    if (answers.length > 0) return DnsParseOutcome.skip('other_answer');
    // NOERROR without answers is NODATA: the name exists, not with this type.
    const code = rcode === 'NOERROR' ? 'NODATA' : rcode;
    out.push(
      dnsAnswer({
        time,
        client,
        name,
        type: qtype,
        answer: null,
        ttl: null,
        rcode: code,
        sourceKind: 'route53',
      }),
    );
  }
  return DnsParseOutcome.answers(out);
}
