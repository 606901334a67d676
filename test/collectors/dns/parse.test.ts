import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  CorednsParser,
  DnsmasqParser,
  parseCorednsLine,
  parseRoute53Line,
} from '../../../collectors/dns/index.js';
import type { DnsAnswer, DnsParseOutcome } from '../../../src/model/dns.js';
import { ingestDns } from '../../../src/ingest/dns-ingest.js';
import { expandPaths } from '../../../collectors/sources/open.js';
import { dnsmasqCollector } from '../../../collectors/dns/index.js';
import { dnsmasqReadOptions } from '../../../collectors/dns/dnsmasq.js';
import { parseTimeZone, type WallClockZone } from '../../../collectors/dns/local-time.js';
import { DnsStore } from '../../../src/store/dns-store.js';
import { Store } from '../../../src/store/store.js';
import { tempDir } from '../../helpers/tmp.js';
import { join } from 'node:path';

const fixture = (f: string): string[] =>
  readFileSync(new URL(`../../fixtures/dns/${f}`, import.meta.url), 'utf8')
    .split('\n')
    .filter((l) => l.length > 0);

function all(outcomes: readonly DnsParseOutcome[]): { answers: DnsAnswer[]; reasons: string[] } {
  const answers: DnsAnswer[] = [];
  const reasons: string[] = [];
  for (const o of outcomes) {
    if (o.kind === 'answers') answers.push(...o.values);
    else reasons.push(`${o.kind}:${o.reason}`);
  }
  return { answers, reasons };
}

const local = (y: number, mo: number, d: number, h: number, mi: number, s: number): number =>
  new Date(y, mo, d, h, mi, s).getTime() / 1000;

describe('dnsmasq', () => {
  it('reads the recipe lines: asked name, client, CNAME chain, NXDOMAIN, NODATA, REFUSED by serial', () => {
    const p = new DnsmasqParser({ year: 2026, reference: 0 });
    const { answers, reasons } = all(fixture('dnsmasq-extra.log').map((l) => p.parse(l)));
    const t = local(2026, 10, 23, 2, 37, 45);
    const a = (name: string, type: string, answer: string | null, rcode: string, time = t): DnsAnswer =>
      dnsmasqAnswer({ time, client: '127.0.0.1', name, type, answer, rcode });
    expect(answers).toEqual([
      a('example.test', 'A', '192.0.2.10', 'NOERROR', local(2026, 10, 23, 2, 37, 44)),
      a('example.test', 'AAAA', null, 'REFUSED'),
      a('alias.internal.test', 'CNAME', 'db.internal.test', 'NOERROR'),
      a('alias.internal.test', 'A', '192.0.2.20', 'NOERROR'),
      a('nope.internal.test', '', null, 'NXDOMAIN'),
      a('up.remote.test', 'A', '198.51.100.7', 'NOERROR'),
      a('up.remote.test', 'A', '198.51.100.7', 'NOERROR'),
      a('db.internal.test', '', null, 'NODATA'),
    ]);
    expect(reasons).toEqual([
      'skip:not_query',
      'skip:not_query',
      'skip:not_query',
      'skip:query',
      'skip:query',
      'skip:query',
      'skip:cname',
      'skip:forwarded',
      'skip:query',
      'skip:not_query',
    ]);
  });

  it('without extra, takes the client from the query line', () => {
    const p = new DnsmasqParser({ year: 2026, reference: 0 });
    p.parse('Nov 23 02:37:45 dnsmasq[30461]: query[A] up.remote.test from 10.0.0.7');
    p.parse('Nov 23 02:37:45 dnsmasq[30461]: forwarded up.remote.test to 127.0.0.1#15354');
    const r = p.parse('Nov 23 02:37:45 dnsmasq[30461]: reply up.remote.test is 198.51.100.7');
    expect(r.kind === 'answers' && r.values[0]!.client).toBe('10.0.0.7');
  });

  it('without extra, leaves the client unknown when two clients asked for the name at once', () => {
    const p = new DnsmasqParser({ year: 2026, reference: 0 });
    p.parse('Nov 23 02:37:45 dnsmasq[1]: query[A] up.remote.test from 10.0.0.7');
    p.parse('Nov 23 02:37:45 dnsmasq[1]: query[A] up.remote.test from 10.0.0.8');
    const r = p.parse('Nov 23 02:37:45 dnsmasq[1]: reply up.remote.test is 198.51.100.7');
    expect(r.kind === 'answers' && r.values[0]!.client).toBeNull();
  });

  it('rolls Dec into Jan of the next year with --year, and back a year from the mtime', () => {
    const p = new DnsmasqParser({ year: 2026, reference: 0 });
    const times = ['Dec 31 23:59:59', 'Jan  1 00:00:01'].map((s) => {
      const r = p.parse(`${s} dnsmasq[1]: 1 10.0.0.1/5 config a.test is 192.0.2.1`);
      return r.kind === 'answers' ? r.values[0]!.time : null;
    });
    expect(times).toEqual([local(2026, 11, 31, 23, 59, 59), local(2027, 0, 1, 0, 0, 1)]);
    const byMtime = new DnsmasqParser({ year: null, reference: local(2027, 0, 1, 0, 5, 0) });
    const r = byMtime.parse('Dec 31 23:59:59 dnsmasq[1]: 1 10.0.0.1/5 config a.test is 192.0.2.1');
    expect(r.kind === 'answers' && r.values[0]!.time).toBe(local(2026, 11, 31, 23, 59, 59));
  });

  it('reads the time in the zone given, not the zone of the machine running it', () => {
    const line = 'Dec  5 10:00:00 dnsmasq[1]: 1 10.1.1.10/4680 reply tz.example.com is 192.0.2.55';
    const at = (tz: string): number | null => {
      const r = new DnsmasqParser({ year: 2026, reference: 0, zone: parseTimeZone(tz)! }).parse(line);
      return r.kind === 'answers' ? r.values[0]!.time : null;
    };
    const utc = Date.UTC(2026, 11, 5, 10) / 1000;
    expect([at('UTC'), at('Europe/Berlin'), at('America/New_York'), at('+05:30'), at('-0400')]).toEqual([
      utc,
      utc - 3600,
      utc + 5 * 3600,
      utc - 5.5 * 3600,
      utc + 4 * 3600,
    ]);
    // The year from the file's mtime is the zone's: 00:05 on Jan 1 in Tokyo is still Dec 31 in UTC.
    const tokyo = new DnsmasqParser({
      year: null,
      reference: Date.UTC(2026, 11, 31, 15, 10) / 1000,
      zone: parseTimeZone('Asia/Tokyo')!,
    }).parse('Jan  1 00:05:00 dnsmasq[1]: 1 10.0.0.1/5 config a.test is 192.0.2.1');
    expect(tokyo.kind === 'answers' && tokyo.values[0]!.time).toBe(Date.UTC(2026, 11, 31, 15, 5) / 1000);
  });

  it('reads RFC 3339 syslog stamps with their own zone, and skips the other programs of the file', () => {
    // rsyslog's RSYSLOG_FileFormat, `journalctl -o short-iso` (+0100), and classic stamps in one file; --tz is
    // New York's, which only the classic lines take.
    const p = new DnsmasqParser({ year: 2026, reference: 0, zone: parseTimeZone('America/New_York')! });
    const { answers, reasons } = all(fixture('dnsmasq-syslog.log').map((l) => p.parse(l)));
    const a = (
      iso: string,
      client: string,
      name: string,
      type: string,
      answer: string | null,
      rcode: string,
    ) => dnsmasqAnswer({ time: Date.parse(iso) / 1000, client, name, type, answer, rcode });
    expect(answers).toEqual([
      {
        ...a('2026-11-23T01:37:44Z', '10.1.2.3', 'example.test', 'A', '192.0.2.10', 'NOERROR'),
        time: 1795397864 + 0.123456,
      },
      a('2026-11-23T01:37:46Z', '10.1.2.4', 'example.test', 'AAAA', null, 'NODATA'),
      a('2026-11-23T07:37:49Z', '10.1.2.5', 'api.example.test', 'A', '192.0.2.11', 'NOERROR'),
    ]);
    expect(reasons).toEqual([
      'skip:query',
      'skip:other_program',
      'skip:other_program',
      'skip:query',
      ...Array<string>(4).fill('skip:other_program'),
      'skip:query',
      // Feb 30; a stamp without its zone.
      'reject:bad_time',
      'reject:bad_time',
    ]);
  });

  it('keeps in its checkpoint the zone and year an input was first read with, also when resumed with others', () => {
    const line = 'Nov 23 02:37:44 dnsmasq[1]: 2 10.1.2.3/41476 reply api.example.com is 192.0.2.10';
    const first = new DnsmasqParser({ year: null, reference: 1_800_000_000, zone: parseTimeZone('UTC')! });
    expect(dnsmasqReadOptions(first.snapshot())).toBeNull();
    first.parse(line);
    expect(dnsmasqReadOptions(first.snapshot())).toEqual({ tz: 'UTC', year: null });
    const resumed = new DnsmasqParser(
      { year: 2026, reference: 1_800_000_000, zone: parseTimeZone('Europe/Berlin')! },
      first.snapshot(),
    );
    resumed.parse(line);
    expect(dnsmasqReadOptions(resumed.snapshot())).toEqual({ tz: 'UTC', year: null });
    // The descriptor compares a checkpoint's with a run's options; `Etc/UTC` and `Z` name UTC.
    const state = first.snapshot();
    const other = dnsmasqCollector.readWithOtherOptions!;
    expect(other({ tz: 'Europe/Berlin', year: '2026' }, state)).toEqual({
      readWith: '--tz UTC and no --year',
      given: '--tz Europe/Berlin and --year 2026',
    });
    expect(other({ tz: 'Etc/UTC' }, state)).toBeNull();
    expect(other({ tz: 'Z' }, state)).toBeNull();
    // RFC 3339 stamps need neither option; a checkpoint written before options were kept does not say.
    const rfc = new DnsmasqParser({ year: null, reference: 0, zone: parseTimeZone('UTC')! });
    rfc.parse('2026-11-23T02:37:44+01:00 node1 dnsmasq[1]: reply api.example.com is 192.0.2.10');
    expect(other({ tz: 'Europe/Berlin' }, rfc.snapshot())).toBeNull();
    const old = new DnsmasqParser({ year: null, reference: 0 }, '{"year":null,"lastMonth":-1}');
    old.parse(line);
    expect(old.snapshot()).toBe('{"year":null,"lastMonth":-1}');
    expect(other({ tz: 'Europe/Berlin' }, old.snapshot())).toBeNull();
  });

  it('quarantines broken lines with a bounded reason', () => {
    const p = new DnsmasqParser({ year: 2026, reference: 0 });
    expect(all(fixture('dnsmasq-broken.log').map((l) => p.parse(l))).reasons).toEqual([
      'reject:bad_name',
      'reject:bad_time',
      'reject:bad_client',
      'reject:bad_answer',
      'reject:bad_prefix',
      'skip:no_time',
    ]);
  });
});

/** An answer as dnsmasq logs it: no TTL. */
const dnsmasqAnswer = (
  a: Pick<DnsAnswer, 'time' | 'client' | 'name' | 'type' | 'answer' | 'rcode'>,
): DnsAnswer => ({
  ...a,
  ttl: null,
  sourceKind: 'dnsmasq',
});

/** What CoreDNS logs: who asked what at time 1000, without the answer. */
const question = (client: string, name: string, type: string, rcode = 'NOERROR'): DnsAnswer => ({
  time: 1000,
  client,
  name,
  type,
  answer: null,
  ttl: null,
  rcode,
  sourceKind: 'coredns',
});

describe('coredns', () => {
  it('reads default and custom log lines; `-` is SERVFAIL; no answers', () => {
    const { answers, reasons } = all(fixture('coredns.log').map((l) => parseCorednsLine(l, 1000)));
    const a = (name: string, type: string, rcode: string): DnsAnswer =>
      question('127.0.0.1', name, type, rcode);
    expect(answers).toEqual([
      a('db.internal.test', 'A', 'NOERROR'),
      a('nope.internal.test', 'A', 'SERVFAIL'),
      a('db.internal.test', 'A', 'NOERROR'),
      a('foo.tmpl.test', 'A', 'NOERROR'),
      a('foo.tmpl.test', 'AAAA', 'NXDOMAIN'),
      a('x.broken.test', 'A', 'SERVFAIL'),
      a('nope.internal.test', 'A', 'NXDOMAIN'),
    ]);
    expect(reasons.every((r) => r === 'skip:not_query')).toBe(true);
  });

  it('takes the time from a leading RFC 3339 stamp (kubectl logs --timestamps)', () => {
    const r = parseCorednsLine(
      '2026-11-23T02:37:41.5Z [INFO] [fd00::7]:52355 - 45465 "AAAA IN Api.Example.COM. udp 57 false 1232" NOERROR qr,rd,ra 66 0.0001s',
      0,
    );
    expect(r).toEqual({
      kind: 'answers',
      values: [
        {
          time: Date.UTC(2026, 10, 23, 2, 37, 41, 500) / 1000,
          client: 'fd00::7',
          name: 'api.example.com',
          type: 'AAAA',
          answer: null,
          ttl: null,
          rcode: 'NOERROR',
          sourceKind: 'coredns',
        },
      ],
    });
  });

  it('reads {combined} lines (the opcode after the duration) and custom ones with the type, never the class', () => {
    // Real CoreDNS 1.11.4 lines: `log . {combined}`, and custom formats that write {class} next to {type}.
    const { answers, reasons } = all(fixture('coredns-combined.log').map((l) => parseCorednsLine(l, 1000)));
    const a = question;
    expect(answers).toEqual([
      a('127.0.0.1', 'api.comb.test', 'A'),
      a('127.0.0.1', 'api.comb.test', 'AAAA'),
      a('127.0.0.1', 'api.comb.test', 'ANY'),
      a('127.0.0.1', 'nope.comb.test', 'A', 'SERVFAIL'),
      a('::1', 'api.comb.test', 'A'),
      a('127.0.0.1', 'api.c1.test', 'A'),
      a('127.0.0.1', 'api.c1.test', 'ANY'),
      a('127.0.0.1', 'api.c2.test', 'AAAA'),
      a('::1', 'api.c1.test', 'A'),
    ]);
    // The banner, the NOTIFY (opcode 4: a server announcing a zone change, not a lookup) and SIGTERM.
    expect(reasons).toEqual(Array<string>(9).fill('skip:not_query'));
  });

  it('never takes a class word for the record type', () => {
    const type = (line: string): string => {
      const r = parseCorednsLine(line, 0);
      return r.kind === 'answers' ? r.values[0]!.type : `${r.kind}:${r.reason}`;
    };
    expect(type('[INFO] 10.1.2.3:5353 CH TXT version.bind. NOERROR')).toBe('TXT');
    expect(type('[INFO] 10.1.2.3:5353 HS A api.example.com. NOERROR')).toBe('A');
    expect(type('[INFO] 10.1.2.3:5353 A ANY api.example.com. NOERROR')).toBe('A');
    expect(type('[INFO] 10.1.2.3:5353 ANY A api.example.com. NOERROR')).toBe('A');
    expect(type('[INFO] 10.1.2.3:5353 IN api.example.com. NOERROR')).toBe('reject:bad_type');
    // A default line with a Go duration (`6.96ms`, older CoreDNS), which the default pattern once refused.
    expect(
      type(
        '[INFO] 10.1.2.3:42537 - 13123 "AAAA IN api.example.com. udp 59 false 1232" NOERROR qr,rd,ra 100 6.96ms',
      ),
    ).toBe('AAAA');
    // A field added after the default ones: read by its words, `"A` being the type and `IN` the class.
    expect(
      type(
        '[INFO] 10.1.2.3:42537 - 13123 "A IN api.example.com. udp 59 false 1232" NOERROR qr,rd,ra 100 0.001s pod-a',
      ),
    ).toBe('A');
  });

  const at = (iso: string, client: string, name: string, type: string, rcode = 'NOERROR'): DnsAnswer => ({
    time: Date.parse(iso) / 1000,
    client,
    name,
    type,
    answer: null,
    ttl: null,
    rcode,
    sourceKind: 'coredns',
  });

  it("reads CRI container logs: the runtime's time, a split line joined, CoreDNS's other lines skipped", () => {
    const p = new CorednsParser(0);
    const out = fixture('coredns-cri.log').map((l) => p.parse(l));
    const { answers, reasons } = all(out);
    expect(answers).toEqual([
      { ...at('2026-11-23T02:37:41Z', '10.1.2.3', 'api.example.com', 'A'), time: 1795401461 + 0.123456789 },
      {
        ...at('2026-11-23T02:37:42Z', '10.1.2.3', 'api.example.com', 'AAAA'),
        time: 1795401462 + 0.123456789,
      },
      at('2026-11-23T01:37:43.500Z', 'fd00::7', 'split.example.com', 'A', 'NXDOMAIN'),
    ]);
    expect(reasons).toEqual([
      // Banner, plugin/reload, version, platform, maxprocs (stderr).
      ...Array<string>(5).fill('skip:not_query'),
      'skip:partial',
      // [WARNING], client-go's klog line, Reloading, plugin/health, Reloading complete.
      ...Array<string>(5).fill('skip:not_query'),
      'skip:blank',
      // A syslog line inside the wrapper, a line wrapped twice, Feb 30.
      'reject:bad_prefix',
      'reject:bad_prefix',
      'reject:bad_time',
    ]);
  });

  it('reads Docker json-file logs, a line split across two records joined', () => {
    const p = new CorednsParser(0);
    const { answers, reasons } = all(fixture('coredns-docker.log').map((l) => p.parse(l)));
    expect(answers).toEqual([
      { ...at('2026-11-23T02:37:41Z', '10.1.2.3', 'api.example.com', 'A'), time: 1795401461 + 0.123456789 },
      { ...at('2026-11-23T02:37:42Z', '10.1.2.4', 'split.example.com', 'AAAA'), time: 1795401462 + 0.000001 },
    ]);
    expect(reasons).toEqual([
      'skip:not_query',
      'skip:not_query',
      'skip:partial',
      'skip:not_query',
      'reject:invalid_json',
      'reject:invalid_json',
    ]);
  });

  it('joins a split line across a checkpoint: its start waits in the snapshot', () => {
    const [start, end] = fixture('coredns-cri.log').filter((l) =>
      l.startsWith('2026-11-23T02:37:43.5+01:00'),
    );
    const before = new CorednsParser(0);
    expect(before.snapshot()).toBeNull();
    expect(before.parse(start!)).toEqual({ kind: 'skip', reason: 'partial' });
    const after = new CorednsParser(0, before.snapshot());
    expect(after.parse(end!)).toEqual({
      kind: 'answers',
      values: [at('2026-11-23T01:37:43.500Z', 'fd00::7', 'split.example.com', 'A', 'NXDOMAIN')],
    });
    expect(after.snapshot()).toBeNull();
  });

  it('quarantines a line that is nothing CoreDNS writes, instead of skipping it', () => {
    const reason = (line: string): string => {
      const r = parseCorednsLine(line, 0);
      return r.kind === 'answers' ? 'answers' : `${r.kind}:${r.reason}`;
    };
    expect(reason('hello world')).toBe('reject:bad_prefix');
    expect(
      reason(
        '[pod/coredns-5d78c9869d-x2k8q/coredns] [INFO] 10.1.2.3:42537 - 13123 "A IN api.example.com. udp 59 false 1232" NOERROR qr,rd,ra 100 0.001s',
      ),
    ).toBe('reject:bad_prefix');
    // A stamp without a zone cannot be placed in time.
    expect(reason('2026-11-23T02:37:41 [INFO] 10.1.2.3:42537 A api.example.com. NOERROR')).toBe(
      'reject:bad_prefix',
    );
    expect(reason('[INFO] plugin/reload: Running configuration SHA512 = 591cf328')).toBe('skip:not_query');
    expect(reason('[WARNING] plugin/kubernetes: starting server with unsynced Kubernetes API')).toBe(
      'skip:not_query',
    );
  });

  it('quarantines broken lines', () => {
    expect(all(fixture('coredns-broken.log').map((l) => parseCorednsLine(l, 0))).reasons).toEqual([
      'reject:bad_client',
      'reject:bad_name',
      'reject:field_count',
      'reject:bad_name',
    ]);
  });
});

describe('route53', () => {
  it('records every answer under query_name; NOERROR without answers is NODATA', () => {
    const { answers, reasons } = all(fixture('route53.log').map((l) => parseRoute53Line(l)));
    const t = Date.UTC(2021, 1, 4, 17, 52) / 1000;
    const a = (
      time: number,
      client: string,
      name: string,
      type: string,
      answer: string | null,
      rcode: string,
    ): DnsAnswer => ({ time, client, name, type, answer, ttl: null, rcode, sourceKind: 'route53' });
    expect(answers).toEqual([
      a(t - 5, '4.5.64.102', '15.3.4.32.in-addr.arpa', 'PTR', '203.0.113.9', 'NOERROR'),
      a(t + 1, '10.0.1.17', 'www.example.com', 'CNAME', 'www.example.com.cdn.test', 'NOERROR'),
      a(t + 1, '10.0.1.17', 'www.example.com', 'A', '192.0.2.74', 'NOERROR'),
      a(t + 1, '10.0.1.17', 'www.example.com', 'A', '192.0.2.75', 'NOERROR'),
      a(t + 2, '10.0.1.17', 'nope.example.com', 'A', null, 'NXDOMAIN'),
      a(t + 3, '10.0.1.17', 'v4only.example.com', 'AAAA', null, 'NODATA'),
    ]);
    expect(reasons).toEqual(['skip:other_answer']);
  });

  it('quarantines broken lines', () => {
    expect(all(fixture('route53-broken.log').map((l) => parseRoute53Line(l))).reasons).toEqual([
      'reject:bad_ip',
      'reject:bad_time',
      'reject:bad_name',
      'reject:invalid_json',
    ]);
  });
});

describe('DnsStore.answersFor', () => {
  it('finds names that resolved to an address within the grace before a time, per client or any', async () => {
    const db = join(tempDir(), 'x.db');
    const store = new Store(db);
    try {
      const refs = await expandPaths([
        new URL('../../fixtures/dns/dnsmasq-extra.log', import.meta.url).pathname,
      ]);
      const r = await ingestDns(store, refs, {
        descriptor: dnsmasqCollector,
        parserOptions: { year: '2026' },
      });
      expect(r.error).toBeNull();
      const dns = new DnsStore(store);
      const t = local(2026, 10, 23, 2, 37, 45);
      expect(dns.answersFor('192.0.2.20', t + 60, 120).map((x) => [x.name, x.client, x.type])).toEqual([
        ['alias.internal.test', '127.0.0.1', 'A'],
      ]);
      expect(dns.answersFor('192.0.2.20', t + 600, 120)).toEqual([]);
      expect(dns.answersFor('192.0.2.20', t - 60, 120)).toEqual([]);
      expect(dns.answersFor('198.51.100.7', t + 1, 10, '10.9.9.9')).toEqual([]);
      expect(dns.answersFor('198.51.100.7', t + 1, 10, '127.0.0.1')[0]).toMatchObject({
        name: 'up.remote.test',
        count: 2,
        sourceKinds: ['dnsmasq'],
      });
    } finally {
      store.close();
    }
  });
});

describe('--tz', () => {
  const iso = (z: WallClockZone, ...a: [number, number, number, number, number, number]): string =>
    new Date(z.epoch(...a) * 1000).toISOString().replace('.000Z', 'Z');

  it('follows daylight saving: a skipped time reads as after the gap, a repeated one as its first occurrence', () => {
    const berlin = parseTimeZone('Europe/Berlin')!;
    expect([
      iso(berlin, 2026, 2, 29, 1, 30, 0),
      iso(berlin, 2026, 2, 29, 2, 30, 0), // skipped: 03:30 CEST
      iso(berlin, 2026, 2, 29, 3, 30, 0),
      iso(berlin, 2026, 9, 25, 2, 30, 0), // repeated: the CEST one
      iso(berlin, 2026, 9, 25, 3, 30, 0),
      iso(berlin, 2026, 6, 1, 12, 0, 0),
    ]).toEqual([
      '2026-03-29T00:30:00Z',
      '2026-03-29T01:30:00Z',
      '2026-03-29T01:30:00Z',
      '2026-10-25T00:30:00Z',
      '2026-10-25T02:30:00Z',
      '2026-07-01T10:00:00Z',
    ]);
    // Lord Howe Island moves by half an hour.
    const lordHowe = parseTimeZone('Australia/Lord_Howe')!;
    expect([iso(lordHowe, 2026, 9, 4, 2, 15, 0), iso(lordHowe, 2026, 9, 4, 2, 45, 0)]).toEqual([
      '2026-10-03T15:45:00Z',
      '2026-10-03T15:45:00Z',
    ]);
  });

  it('reads every quarter hour of a year as the machine clock set to that zone does', () => {
    const saved = process.env.TZ;
    try {
      for (const name of ['Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Kolkata']) {
        const zone = parseTimeZone(name)!;
        // Node re-reads the zone when TZ is assigned; the tests run in a process of their own (pool: forks).
        process.env.TZ = name;
        const misses: string[] = [];
        for (let m = 0; m < 365 * 96; m++) {
          const d = new Date(Date.UTC(2026, 0, 1) + m * 900_000);
          const a = [
            d.getUTCFullYear(),
            d.getUTCMonth(),
            d.getUTCDate(),
            d.getUTCHours(),
            d.getUTCMinutes(),
            0,
          ] as const;
          if (zone.epoch(...a) !== new Date(...a).getTime() / 1000) misses.push(`${name} ${d.toISOString()}`);
        }
        expect(misses).toEqual([]);
      }
    } finally {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    }
  });

  it('takes IANA names and UTC offsets, and nothing else', () => {
    expect(['UTC', 'Z', '+05:30', '-0400', '+14', 'Etc/GMT+5'].map((t) => parseTimeZone(t) !== null)).toEqual(
      [true, true, true, true, true, true],
    );
    expect(['Mars/Olympus', '+15:00', '+05:60', '5', 'CEST+1', ''].map(parseTimeZone)).toEqual([
      null,
      null,
      null,
      null,
      null,
      null,
    ]);
  });
});
