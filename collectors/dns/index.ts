/**
 * The DNS collectors: resolver logs that turn flow-log addresses back into names. Route 53 Resolver query logs
 * and dnsmasq carry answers; CoreDNS's `log` plugin carries only which client asked for which name. See each
 * format's module for its field mapping; all three produce `DnsAnswer`s (src/model/dns.ts).
 *
 * Options every format receives: `reference`, epoch seconds no line is later than (the CLI passes the file's
 * mtime, or now for stdin), `year` (dnsmasq: the year of the first line, which wins over `reference`) and `tz`
 * (dnsmasq: the zone its host wrote times in, which its lines do not say).
 */
import type { DnsCollectorDescriptor, DnsLineParser } from '../../src/model/dns.js';
import { UsageError } from '../../src/model/errors.js';
import { CorednsParser } from './coredns.js';
import { dnsmasqReadOptions, DnsmasqParser } from './dnsmasq.js';
import { LOCAL_ZONE, parseTimeZone, type WallClockZone } from './local-time.js';
import { parseRoute53Line } from './route53.js';

export { COREDNS_REJECT_REASONS, COREDNS_SKIP_REASONS, CorednsParser, parseCorednsLine } from './coredns.js';
export { DNSMASQ_REJECT_REASONS, DNSMASQ_SKIP_REASONS, DnsmasqParser } from './dnsmasq.js';
export { parseRoute53Line, ROUTE53_REJECT_REASONS, ROUTE53_SKIP_REASONS } from './route53.js';

type Options = Readonly<Record<string, string | undefined>>;

function reference(options: Options): number {
  const text = options['reference'];
  const t = text === undefined ? NaN : Number(text);
  return Number.isFinite(t) ? t : Date.now() / 1000;
}

function year(options: Options): number | null {
  const text = options['year'];
  if (text === undefined) return null;
  if (!/^\d{4}$/.test(text) || Number(text) < 1970) {
    throw new UsageError(`--year ${JSON.stringify(text)}: expected a four-digit year`);
  }
  return Number(text);
}

function zone(options: Options): WallClockZone {
  const text = options['tz'];
  if (text === undefined) return LOCAL_ZONE;
  const z = parseTimeZone(text);
  if (z === null) {
    throw new UsageError(
      `--tz ${JSON.stringify(text)}: expected an IANA time zone (Europe/Berlin, UTC) or a UTC offset (+05:30)`,
    );
  }
  return z;
}

const route53Parser: DnsLineParser = Object.freeze({ parse: parseRoute53Line });

export const route53Collector: DnsCollectorDescriptor = Object.freeze({
  name: 'route53',
  sourceKind: 'route53',
  description: 'Route 53 Resolver query logs (JSON lines, S3 or Firehose export)',
  sample:
    '{"version":"1.100000","account_id":"111122223333","region":"us-east-1","vpc_id":"vpc-7example","query_timestamp":"2021-02-04T17:51:55Z","query_name":"example.com.","query_type":"A","query_class":"IN","rcode":"NOERROR","answers":[{"Rdata":"192.0.2.74","Type":"A","Class":"IN"}],"srcaddr":"172.31.45.7","srcport":"56067","transport":"UDP","srcids":{"instance":"i-0d15cd0d3example"}}',
  createParser: (): DnsLineParser => route53Parser,
});

export const corednsCollector: DnsCollectorDescriptor = Object.freeze({
  name: 'coredns',
  sourceKind: 'coredns',
  description:
    'CoreDNS log plugin lines ({common}, {combined} or custom format; as written, or in CRI / Docker container logs; client and name, no answers)',
  sample:
    '[INFO] 127.0.0.1:52355 - 45465 "A IN db.internal.test. udp 57 false 1232" NOERROR qr,aa,rd 66 0.00017436s',
  createParser: (options: Options, resumeState?: string | null): DnsLineParser =>
    new CorednsParser(reference(options), resumeState ?? null),
});

export const dnsmasqCollector: DnsCollectorDescriptor = Object.freeze({
  name: 'dnsmasq',
  sourceKind: 'dnsmasq',
  description: 'dnsmasq --log-queries[=extra] lines (query, forwarded, reply/cached/config)',
  sample: 'Nov 23 02:37:45 dnsmasq[30463]: 11 127.0.0.1/39888 reply up.remote.test is 198.51.100.7',
  createParser: (options: Options, resumeState?: string | null): DnsLineParser =>
    new DnsmasqParser(
      { year: year(options), reference: reference(options), zone: zone(options) },
      resumeState ?? null,
    ),
  readWithOtherOptions: (options: Options, parserState: string | null) => {
    const was = dnsmasqReadOptions(parserState);
    if (was === null) return null;
    const tz = zone(options).name;
    const y = year(options);
    const readWith: string[] = [];
    const given: string[] = [];
    if (was.tz !== tz) {
      readWith.push(`--tz ${was.tz}`);
      given.push(`--tz ${tz}${options['tz'] === undefined ? " (this machine's zone)" : ''}`);
    }
    if (was.year !== y) {
      readWith.push(was.year === null ? 'no --year' : `--year ${was.year}`);
      given.push(y === null ? 'no --year' : `--year ${y}`);
    }
    return readWith.length === 0 ? null : { readWith: readWith.join(' and '), given: given.join(' and ') };
  },
});

export const DNS_COLLECTORS: readonly DnsCollectorDescriptor[] = [
  route53Collector,
  corednsCollector,
  dnsmasqCollector,
];

export function dnsCollectorNamed(name: string): DnsCollectorDescriptor | undefined {
  return DNS_COLLECTORS.find((c) => c.name === name);
}
