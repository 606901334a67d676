/**
 * dnsmasq `--log-queries` / `--log-queries=extra` lines → DNS answers. dnsmasq 2.90, `extra`, written to a
 * `--log-facility` file (shared recipes/proxy-and-dns.md):
 *
 *   `Nov 23 02:37:45 dnsmasq[30463]: 7 127.0.0.1/46800 query[A] alias.internal.test from 127.0.0.1`
 *   `Nov 23 02:37:45 dnsmasq[30463]: 7 127.0.0.1/46800 config alias.internal.test is <CNAME>`
 *   `Nov 23 02:37:45 dnsmasq[30463]: 7 127.0.0.1/46800 config db.internal.test is 192.0.2.20`
 *
 * Layout: `<Mon dd HH:MM:SS> [host] dnsmasq[pid]: [<serial> <client>/<port>] <message>`; the part in brackets
 * is what `extra` adds. Through syslog the time may be RFC 3339 instead (rsyslog's `RSYSLOG_FileFormat`
 * template; `journalctl -o short-iso` writes the offset as `+0100`):
 *
 *   `2026-11-23T02:37:44.123456+01:00 node1 dnsmasq[30463]: query[A] example.test from 10.1.2.3`
 *
 * Such a time carries its year and zone. Other programs' lines in the same file (`dnsmasq-dhcp[…]:`,
 * `systemd[1]:`, `kernel:`) are skipped. Messages: `query[TYPE] name from client`, `forwarded name to server`, and
 * `<source> name is <value>` where source is reply / cached / config / a hosts-file path / DHCP and value is an
 * address, `<CNAME>` (the next line names the target), NXDOMAIN, NODATA[-IPv4|-IPv6], an error rcode, or
 * `<TYPE>` for a record dnsmasq does not print. Anything else (start-up, `using nameserver`) is skipped.
 *
 * Correlation: a reply line belongs to its query by the `extra` serial and client. Without `extra` there is no
 * serial; answer lines of one lookup are written together, so a chain is followed line by line, and the client
 * is the one that last asked for the name, unless two clients asked for it at nearly the same time (then it is
 * unknown: a guess would attribute a name to the wrong workload).
 *
 * The file has no year and no zone; see local-time.ts. dnsmasq logs no TTL. The zone and year an input's lines
 * were read with are kept in its checkpoint (`DnsmasqReadOptions`), so that a later run given others can say so.
 */
import { normalizeHost } from '../../src/model/authority.js';
import { dnsAnswer, DnsParseOutcome, normalizeDnsType, type DnsAnswer } from '../../src/model/dns.js';
import { canonicalIp, ipFamily } from '../../src/model/ip.js';
import { LOCAL_ZONE, SyslogClock, type WallClockZone, type YearState } from './local-time.js';
import { parseRfc3339 } from '../../src/model/rfc3339.js';

/** Why a line is malformed. Bounded: these are quarantine reasons. */
export const DNSMASQ_REJECT_REASONS = [
  'bad_time',
  'bad_prefix',
  'bad_serial',
  'bad_client',
  'bad_name',
  'bad_type',
  'bad_answer',
] as const;
export type DnsmasqRejectReason = (typeof DNSMASQ_REJECT_REASONS)[number];

/** Why a well-formed line yields no answer. Counted, not quarantined. */
export const DNSMASQ_SKIP_REASONS = [
  'blank',
  /** Start-up, `using nameserver`, statistics, DHCP: not a DNS answer. */
  'not_query',
  /** `query[A] …`: kept only to correlate the replies. */
  'query',
  'forwarded',
  /** `name is <CNAME>`: the target is on the next line, which records the chain. */
  'cname',
  /** `error is REFUSED` for a query this parser did not see. */
  'uncorrelated_error',
  /** `<HTTPS>`, `<SRV>`, `duplicate`, `truncated`: nothing that names an address. */
  'other_answer',
  /** `dnsmasq[pid]: …` on stderr (`--log-facility=-`): no timestamp to place the answer in time. */
  'no_time',
  /** A syslog line of another program (`dnsmasq-dhcp[…]:`, `systemd[1]:`, `kernel:`) in the same file. */
  'other_program',
] as const;
export type DnsmasqSkipReason = (typeof DNSMASQ_SKIP_REASONS)[number];

type Outcome = DnsParseOutcome<DnsmasqRejectReason>;

export interface DnsmasqOptions {
  /** The year of the first line; else the year comes from `reference`. */
  readonly year: number | null;
  /** Epoch seconds no line is later than (the file's mtime, or now). */
  readonly reference: number;
  /** The zone the log's host wrote its times in (`--tz`); default: this machine's. */
  readonly zone?: WallClockZone;
}

/** A syslog time: `Nov 23 02:37:41` (1), or RFC 3339 (2), checked by `parseRfc3339`. */
const TIME = String.raw`(?:([A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2})|(\d{4}-\d{2}-\d{2}T\S+))`;
/**
 * What placed an input's classic stamps in time: the zone (its name: `--tz`, or this machine's zone when none
 * was given) and `--year` (null: the year came from the file's mtime).
 */
export interface DnsmasqReadOptions {
  readonly tz: string;
  readonly year: number | null;
}

/** `<time> [host] dnsmasq[pid]: message`; `[pid]` is absent in some syslog setups. */
const LINE_RE = new RegExp(String.raw`^${TIME} (?:\S+ )?dnsmasq(?:\[\d+\])?: (.*)$`);
/** `<time> [host] program[pid]: ` of any other program; a host name holds no `:` or brackets. */
const OTHER_PROGRAM_RE = new RegExp(String.raw`^${TIME} (?:[^\s:[\]]+ )?[^\s:[\]]+(?:\[\d+\])?: `);
const NO_TIME_RE = /^dnsmasq(?:\[\d+\])?: /;
const EXTRA_RE = /^(\d{1,10}) (\S+)\/(\d{1,5}) (.*)$/;
const QUERY_RE = /^query\[([A-Za-z0-9]{1,10})\] (\S+) from (\S+)$/;
const ANSWER_RE = /^(reply|cached|cached-stale|config|DHCP|DHCPv6|\/\S+) (\S+) is (\S+)(?: .*)?$/;
const ERROR_RCODES = new Set(['REFUSED', 'SERVFAIL', 'NOTIMP', 'FORMERR', 'NXDOMAIN']);
/** Queries remembered for correlation; the oldest are dropped past this, so memory stays bounded. */
const MAX_PENDING = 4096;
/** Plain mode: two clients asking for one name within this many seconds make the reply's client unknown. */
const AMBIGUOUS_SECONDS = 2;

interface Lookup {
  /** The name the client asked for. */
  asked: string;
  qtype: string | null;
  /** Names of the CNAME chain so far, the asked name first. */
  chain: string[];
  /** The previous line was `<CNAME>`: this line's name is its target. */
  cnamePending: boolean;
}

interface Asker {
  client: string | null;
  time: number;
}

/** Parses dnsmasq log lines in file order; keeps bounded per-query state, so one parser per source. */
export class DnsmasqParser {
  readonly #clock: SyslogClock;
  /** Extra mode: `serial client` → lookup; plain mode: the key `''`. */
  readonly #lookups = new Map<string, Lookup>();
  /** Plain mode: name → who asked for it last. */
  readonly #askers = new Map<string, Asker>();
  readonly #options: DnsmasqReadOptions;
  /**
   * The options the input's first classic stamp was read with (RFC 3339 stamps need none), null before one; kept
   * from the checkpoint when resumed, whatever this run is given: the lines stored then were placed by them, and a
   * run that reads nothing new must not make them look right.
   */
  #readWith: DnsmasqReadOptions | null;
  /** False when resumed from a checkpoint written before the options were kept: they are not known. */
  readonly #knowsOptions: boolean;

  constructor(opts: DnsmasqOptions, resumeState: string | null = null) {
    const state = readState(resumeState);
    this.#clock = new SyslogClock(opts.year, opts.reference, state.clock, opts.zone);
    this.#options = { tz: (opts.zone ?? LOCAL_ZONE).name, year: opts.year };
    this.#knowsOptions = resumeState === null || state.readWith !== undefined;
    this.#readWith = state.readWith ?? null;
  }

  snapshot(): string | null {
    const clock = this.#clock.state;
    if (!this.#knowsOptions) return JSON.stringify(clock);
    return JSON.stringify({ year: clock.year, lastMonth: clock.lastMonth, readWith: this.#readWith });
  }

  parse(text: string): Outcome {
    const line = text.trimEnd();
    if (line.length === 0) return DnsParseOutcome.skip('blank');
    const m = LINE_RE.exec(line);
    if (m === null) {
      if (OTHER_PROGRAM_RE.test(line)) return DnsParseOutcome.skip('other_program');
      return NO_TIME_RE.test(line) ? DnsParseOutcome.skip('no_time') : DnsParseOutcome.reject('bad_prefix');
    }
    let time: number | null;
    if (m[1] !== undefined) {
      time = this.#clock.parse(m[1]);
      if (this.#readWith === null && this.#knowsOptions) this.#readWith = this.#options;
    } else {
      time = parseRfc3339(m[2]!);
    }
    if (time === null) return DnsParseOutcome.reject('bad_time');
    let message = m[3]!;
    let key = '';
    let client: string | null = null;
    const x = EXTRA_RE.exec(message);
    if (x !== null) {
      client = canonicalIp(x[2]!);
      if (client === null) return DnsParseOutcome.reject('bad_client');
      key = `${x[1]!} ${client}`;
      message = x[4]!;
    } else if (message.charCodeAt(0) >= 48 && message.charCodeAt(0) <= 57) {
      // Starts with a digit but is not `serial client/port`: a mangled extra prefix.
      return DnsParseOutcome.reject('bad_serial');
    }

    if (message.startsWith('query[')) return this.#query(message, key, time);
    if (message.startsWith('forwarded ')) return DnsParseOutcome.skip('forwarded');
    const a = ANSWER_RE.exec(message);
    if (a === null) return DnsParseOutcome.skip('not_query');
    return this.#answer(a[2]!, a[3]!, key, client, time);
  }

  #query(message: string, key: string, time: number): Outcome {
    const q = QUERY_RE.exec(message);
    if (q === null) return DnsParseOutcome.reject('bad_name');
    const qtype = normalizeDnsType(q[1]!);
    if (qtype === null) return DnsParseOutcome.reject('bad_type');
    const name = normalizeHost(q[2]!);
    if (name === null) return DnsParseOutcome.reject('bad_name');
    const from = canonicalIp(q[3]!);
    if (from === null) return DnsParseOutcome.reject('bad_client');
    this.#remember(this.#lookups, key, { asked: name, qtype, chain: [name], cnamePending: false });
    if (key === '') {
      const prev = this.#askers.get(name);
      const ambiguous = prev !== undefined && prev.client !== from && time - prev.time <= AMBIGUOUS_SECONDS;
      this.#askers.delete(name);
      this.#remember(this.#askers, name, { client: ambiguous ? null : from, time });
    }
    return DnsParseOutcome.skip('query');
  }

  #answer(nameText: string, value: string, key: string, client: string | null, time: number): Outcome {
    let lookup = this.#lookups.get(key);
    // `config error is REFUSED`: dnsmasq writes the literal word `error` instead of the name.
    if (nameText === 'error') {
      if (lookup === undefined || !ERROR_RCODES.has(value)) return DnsParseOutcome.skip('uncorrelated_error');
      return this.#emit([], lookup, client, time, null, value);
    }
    const name = normalizeHost(nameText);
    if (name === null) return DnsParseOutcome.reject('bad_name');

    const out: DnsAnswer[] = [];
    const inChain =
      lookup !== undefined && (lookup.cnamePending || lookup.chain.includes(name) || lookup.asked === name);
    if (!inChain) {
      lookup = { asked: name, qtype: null, chain: [name], cnamePending: false };
      this.#remember(this.#lookups, key, lookup);
    } else if (lookup!.cnamePending && !lookup!.chain.includes(name)) {
      lookup!.chain.push(name);
      out.push(this.#build(lookup!, client, time, 'CNAME', name, 'NOERROR', key));
    }
    const l = lookup!;
    l.cnamePending = false;

    if (value === '<CNAME>') {
      l.cnamePending = true;
      return out.length > 0 ? DnsParseOutcome.answers(out) : DnsParseOutcome.skip('cname');
    }
    const ip = canonicalIp(value);
    if (ip !== null) {
      out.push(this.#build(l, client, time, ipFamily(ip) === 4 ? 'A' : 'AAAA', ip, 'NOERROR', key));
      return DnsParseOutcome.answers(out);
    }
    if (value === 'NODATA' || value === 'NODATA-IPv4' || value === 'NODATA-IPv6') {
      const type = l.qtype ?? (value === 'NODATA-IPv4' ? 'A' : value === 'NODATA-IPv6' ? 'AAAA' : '');
      out.push(this.#build(l, client, time, type, null, 'NODATA', key));
      return DnsParseOutcome.answers(out);
    }
    if (ERROR_RCODES.has(value)) return this.#emit(out, l, client, time, null, value, key);
    if (name.endsWith('.in-addr.arpa') || name.endsWith('.ip6.arpa')) {
      const target = normalizeHost(value);
      if (target === null) return DnsParseOutcome.reject('bad_answer');
      out.push(this.#build(l, client, time, 'PTR', target, 'NOERROR', key));
      return DnsParseOutcome.answers(out);
    }
    if (value.startsWith('<') && value.endsWith('>')) {
      return out.length > 0 ? DnsParseOutcome.answers(out) : DnsParseOutcome.skip('other_answer');
    }
    if (value === 'duplicate' || value === 'truncated') {
      return out.length > 0 ? DnsParseOutcome.answers(out) : DnsParseOutcome.skip('other_answer');
    }
    return DnsParseOutcome.reject('bad_answer');
  }

  #emit(
    out: DnsAnswer[],
    l: Lookup,
    client: string | null,
    time: number,
    answer: string | null,
    rcode: string,
    key = '',
  ): Outcome {
    out.push(this.#build(l, client, time, l.qtype ?? '', answer, rcode, key));
    return DnsParseOutcome.answers(out);
  }

  #build(
    l: Lookup,
    client: string | null,
    time: number,
    type: string,
    answer: string | null,
    rcode: string,
    key: string,
  ): DnsAnswer {
    let who = client;
    if (key === '' && who === null) {
      const asker = this.#askers.get(l.asked);
      // A reply long after the last query for the name is a cache refresh nobody is waiting for.
      if (asker !== undefined && time - asker.time <= 60) who = asker.client;
    }
    return dnsAnswer({
      time,
      client: who,
      name: l.asked,
      type,
      answer,
      ttl: null,
      rcode,
      sourceKind: 'dnsmasq',
    });
  }

  #remember<V>(map: Map<string, V>, key: string, value: V): void {
    map.set(key, value);
    if (map.size > MAX_PENDING) {
      const oldest = map.keys().next().value;
      if (oldest !== undefined) map.delete(oldest);
    }
  }
}

/**
 * A checkpoint's parser state: the year state, and the options its classic stamps were read with (null: none read
 * yet; undefined: a checkpoint written before they were kept).
 */
function readState(text: string | null): {
  clock: YearState | null;
  readWith: DnsmasqReadOptions | null | undefined;
} {
  if (text === null) return { clock: null, readWith: undefined };
  try {
    const v = JSON.parse(text) as Partial<YearState> & { readWith?: unknown };
    const clock =
      typeof v.lastMonth === 'number'
        ? { year: typeof v.year === 'number' ? v.year : null, lastMonth: v.lastMonth }
        : null;
    return { clock, readWith: 'readWith' in v ? readOptions(v.readWith) : undefined };
  } catch {
    return { clock: null, readWith: undefined };
  }
}

function readOptions(v: unknown): DnsmasqReadOptions | null {
  if (typeof v !== 'object' || v === null) return null;
  const { tz, year } = v as Record<string, unknown>;
  if (typeof tz !== 'string' || (year !== null && typeof year !== 'number')) return null;
  return { tz, year };
}

/** The options a checkpoint's parser state says its input's classic stamps were read with; null when it does not say. */
export function dnsmasqReadOptions(parserState: string | null): DnsmasqReadOptions | null {
  return readState(parserState).readWith ?? null;
}
