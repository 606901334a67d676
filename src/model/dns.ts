/**
 * DNS answers: what a resolver told a client a name resolved to. They turn flow-log addresses back into names
 * (a flow to X from W at t is attributed to N when W got X in an answer for N within the answer's TTL before
 * t), so they are a record type of their own beside `Observation`, not a flow.
 */
import type { SourceKind } from './observation.js';

/** The formats that produce DNS answers; a subset of SOURCE_KINDS. */
export const DNS_SOURCE_KINDS = ['route53', 'coredns', 'dnsmasq'] as const;
export type DnsSourceKind = (typeof DNS_SOURCE_KINDS)[number] & SourceKind;

/**
 * Record types kept by name. Anything else is stored as `TYPE<n>` or the log's own mnemonic when it is a short
 * upper-case word, so an unknown type never widens what the answer column can hold.
 */
/**
 * How long before a flow an answer given to any client may still name its address: a connection outlives the TTL of
 * the answer that opened it. Inference falls back to it when no closer asker is known; `query flows --dst` uses it.
 */
export const DNS_NAME_REACH = 86_400;

export const DNS_TYPES = [
  'A',
  'AAAA',
  'CNAME',
  'HTTPS',
  'SVCB',
  'MX',
  'NS',
  'PTR',
  'SRV',
  'TXT',
  'SOA',
] as const;

/**
 * One answer as a resolver log states it. `name` is the name the client asked for (RFC 1123-validated,
 * lower-case, no trailing dot): the name a workload uses is the one a rule must carry, so a CNAME chain's
 * addresses are recorded under the asked name, and the chain itself as `CNAME` answers. `answer` is a canonical
 * IP for A/AAAA, a validated name for CNAME, and null for NXDOMAIN / NODATA or a log that carries no answer
 * (CoreDNS). Times are epoch seconds. Absent values are `null`, never missing keys.
 */
export interface DnsAnswer {
  readonly time: number;
  /** Canonical address of the asking client (for CoreDNS in a cluster: the pod), null when unknown. */
  readonly client: string | null;
  readonly name: string;
  /** Question type for an empty answer, else the answer record's type. */
  readonly type: string;
  readonly answer: string | null;
  /** Seconds; null when the format does not log it. */
  readonly ttl: number | null;
  /** `NOERROR`, `NXDOMAIN`, `SERVFAIL`, `REFUSED`, …; `NODATA` is NOERROR with no answer of the type. */
  readonly rcode: string;
  readonly sourceKind: DnsSourceKind;
}

/** Builds an answer with every field in the same order (one object shape on the hot path). */
export function dnsAnswer(fields: DnsAnswer): DnsAnswer {
  return {
    time: fields.time,
    client: fields.client,
    name: fields.name,
    type: fields.type,
    answer: fields.answer,
    ttl: fields.ttl,
    rcode: fields.rcode,
    sourceKind: fields.sourceKind,
  };
}

/**
 * What a DNS line parser returns: the answers of one line (a Route 53 line carries several), or a skip / reject
 * as in `ParseOutcome`. `reason` is a member of the parser's bounded `as const` list.
 */
export type DnsParseOutcome<R extends string = string> =
  | { readonly kind: 'answers'; readonly values: readonly DnsAnswer[] }
  | { readonly kind: 'skip'; readonly reason: string }
  | { readonly kind: 'reject'; readonly reason: R };

export const DnsParseOutcome = Object.freeze({
  answers: (values: readonly DnsAnswer[]): DnsParseOutcome<never> => ({ kind: 'answers', values }),
  skip: (reason: string): DnsParseOutcome<never> => ({ kind: 'skip', reason }),
  reject: <R extends string>(reason: R): DnsParseOutcome<R> => ({ kind: 'reject', reason }),
});

/** Parses one line of a DNS log. Some formats keep state across lines (dnsmasq correlates a reply with its query). */
export interface DnsLineParser {
  parse(text: string): DnsParseOutcome;
  /** State that must survive a resume from a checkpoint, or null. */
  snapshot?(): string | null;
}

/** `collect dns --format <name>`: what a DNS format tells the CLI and the ingest about itself. */
export interface DnsCollectorDescriptor {
  readonly name: DnsSourceKind;
  readonly sourceKind: DnsSourceKind;
  readonly description: string;
  /** One real line of the format, quoted in help. */
  readonly sample: string;
  createParser(
    options: Readonly<Record<string, string | undefined>>,
    resumeState?: string | null,
  ): DnsLineParser;
  /**
   * For an input read before, given the parser state its checkpoint keeps: the options it was read with where
   * they differ from `options`, both as flags (`--tz UTC`, `--tz Europe/Berlin`); else null. The lines read then
   * are not read again, so they keep what those options made of them.
   */
  readWithOtherOptions?(
    options: Readonly<Record<string, string | undefined>>,
    parserState: string | null,
  ): { readonly readWith: string; readonly given: string } | null;
}

/** The aggregate the store keeps: client × name × answer × type × time bucket. Absent values are ''. */
export interface DnsAnswerAggregate {
  readonly bucket: number;
  readonly client: string;
  readonly name: string;
  readonly type: string;
  readonly answer: string;
  readonly rcode: string;
  readonly count: number;
  readonly firstSeen: number;
  readonly lastSeen: number;
  /** Smallest TTL seen; null when no line carried one. */
  readonly minTtl: number | null;
  /** Bit mask over SOURCE_KINDS. */
  readonly sources: number;
}

/** A record type from a log: upper-case mnemonic (`A`, `TYPE65`), or null when it is not one. */
export function normalizeDnsType(text: string): string | null {
  if (text.length === 0 || text.length > 10) return null;
  const t = text.toUpperCase();
  for (let i = 0; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (!((c >= 65 && c <= 90) || (c >= 48 && c <= 57))) return null;
  }
  return t;
}

/** A host name as a filter takes it: an exact name, or `*.suffix` for the suffix and every name under it. */
export const HOST_FILTER =
  /^(\*\.)?([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.?$/i;
