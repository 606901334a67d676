import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { squidCollector } from '../../../collectors/squid/index.js';
import { parseSquidLine, SQUID_REJECT_REASONS, SQUID_SKIP_REASONS } from '../../../collectors/squid/parse.js';
import type { Observation } from '../../../src/model/observation.js';
import type { ParseOutcome } from '../../../src/model/parse-outcome.js';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../fixtures/squid');

function fixtureLines(name: string): string[] {
  return readFileSync(path.join(FIXTURES, name), 'utf8')
    .split('\n')
    .filter((l) => l.length > 0);
}

/** Every field spelled out, so a missing or renamed key in the parser shows up here. */
function squidObs(f: {
  start: number;
  end: number;
  srcAddr: string;
  dstAddr: string | null;
  dstHost: string | null;
  dstPort: number | null;
  action: 'accept' | 'reject';
  bytesIn: number;
}): ParseOutcome {
  const value: Observation = {
    sourceKind: 'squid',
    start: f.start,
    end: f.end,
    srcAddr: f.srcAddr,
    srcPort: null,
    dstAddr: f.dstAddr,
    dstHost: f.dstHost,
    dstPort: f.dstPort,
    protocol: 6,
    action: f.action,
    direction: 'egress',
    orientation: 'proxy',
    reply: false,
    packetsOut: 0,
    bytesOut: 0,
    packetsIn: 0,
    bytesIn: f.bytesIn,
    accountId: null,
    interfaceId: null,
    instanceId: null,
    vpcId: null,
    subnetId: null,
    flowDirection: null,
    trafficPath: null,
    pktSrcAddr: null,
    pktDstAddr: null,
  };
  return { kind: 'observation', value };
}

type Row = [
  end: number,
  elapsedMs: number,
  src: string,
  dstAddr: string | null,
  dstHost: string | null,
  dstPort: number | null,
  action: 'accept' | 'reject',
  bytesIn: number,
];

function native(row: Row): ParseOutcome {
  const [end, elapsed, srcAddr, dstAddr, dstHost, dstPort, action, bytesIn] = row;
  return squidObs({
    start: Math.round(end * 1000 - elapsed) / 1000,
    end,
    srcAddr,
    dstAddr,
    dstHost,
    dstPort,
    action,
    bytesIn,
  });
}

const skip = (reason: string): ParseOutcome => ({ kind: 'skip', reason });
const reject = (reason: string): ParseOutcome => ({ kind: 'reject', reason });

describe('parseSquidLine, native squid format', () => {
  it('maps every line of the recipe and of a real squid 5.7 run', () => {
    const lines = fixtureLines('native.log');
    expect(lines.map((l) => parseSquidLine(l))).toEqual([
      // recipe lines (shared recipes/proxy-and-dns.md)
      native([1795401345.683, 7, '127.0.0.1', '127.0.0.1', null, 18080, 'accept', 355]),
      native([1795401345.708, 1, '127.0.0.1', '127.0.0.1', null, 18080, 'accept', 646]),
      native([1795401345.721, 1, '127.0.0.1', null, 'foo.blocked.test', 80, 'reject', 3473]),
      native([1795401345.868, 1, '127.0.0.1', '127.0.0.1', null, 17777, 'accept', 59]),
      native([1795401346.022, 0, '127.0.0.1', null, 'foo.blocked.test', 443, 'reject', 3477]),
      native([1795401424.342, 1, '127.0.0.1', '127.0.0.1', 'api.allowed.test', 17777, 'accept', 59]),
      native([1795401424.612, 0, '127.0.0.1', null, 'other.example.test', 17777, 'reject', 3473]),
      native([1795401425.776, 1000, '127.0.0.1', null, 'nx.allowed.test', 18080, 'accept', 3474]),
      native([1795401425.789, 1, '127.0.0.1', '127.0.0.1', 'api.allowed.test', 1, 'accept', 0]),
      native([1795401406.067, 5009, '127.0.0.1', '127.0.0.2', null, 17777, 'reject', 3455]),
      // test/helpers/proxies.ts squid, IPv4 and IPv6 clients
      native([1795574368.896, 3, '127.0.0.1', '127.0.0.1', 'origin.test', 40185, 'accept', 271]),
      native([1795574368.908, 1, '::1', '127.0.0.1', null, 40185, 'accept', 282]),
      native([1795574368.91, 0, '::1', '127.0.0.1', 'origin.test', 40185, 'accept', 282]),
      native([1795574368.912, 0, '127.0.0.1', null, 'foo.blocked.test', 80, 'reject', 3468]),
      native([1795574368.915, 1, '127.0.0.1', null, 'foo.blocked.test', 443, 'reject', 3470]),
      native([1795574368.916, 1, '::1', '127.0.0.1', 'echo.test', 36901, 'accept', 57]),
      native([1795574368.918, 0, '127.0.0.1', null, 'foo.blocked.test', 443, 'reject', 3472]),
      native([1795574368.919, 0, '127.0.0.1', '::1', null, 36901, 'accept', 0]),
      skip('error_url'),
      skip('relative_url'),
      skip('error_url'),
    ]);
  });

  it('puts the start elapsed milliseconds before the log time', () => {
    const r = parseSquidLine(
      '1795401406.067   5009 127.0.0.1 TCP_DENIED/403 3455 CONNECT 127.0.0.2:17777 - HIER_NONE/- text/html',
    );
    expect(r.kind === 'observation' && [r.value.start, r.value.end]).toEqual([
      1795401401.058, 1795401406.067,
    ]);
  });

  it('takes dstAddr from a direct peer but not from a parent proxy', () => {
    const direct = parseSquidLine(
      '1795401424.342      1 10.0.0.5 TCP_MISS/200 1200 GET http://Api.Example.COM./v1 - HIER_DIRECT/203.0.113.9 application/json',
    );
    const parent = parseSquidLine(
      '1795401424.342      1 10.0.0.5 TCP_MISS/200 1200 GET http://api.example.com/v1 - FIRSTUP_PARENT/10.9.9.9 application/json',
    );
    const intercepted = parseSquidLine(
      '1795401424.342      1 10.0.0.5 TCP_MISS/200 1200 GET http://api.example.com/v1 - ORIGINAL_DST/203.0.113.9 application/json',
    );
    const base = {
      start: 1795401424.341,
      end: 1795401424.342,
      srcAddr: '10.0.0.5',
      dstHost: 'api.example.com',
      dstPort: 80,
      action: 'accept' as const,
      bytesIn: 1200,
    };
    expect(direct).toEqual(squidObs({ ...base, dstAddr: '203.0.113.9' }));
    expect(parent).toEqual(squidObs({ ...base, dstAddr: null }));
    expect(intercepted).toEqual(squidObs({ ...base, dstAddr: '203.0.113.9' }));
  });

  it('reads schemes, user info, IPv6 literals and a named user', () => {
    const at = (url: string, method = 'GET') =>
      parseSquidLine(
        `1795401424.342      0 2001:DB8::0:1 TCP_MISS/200 10 ${method} ${url} alice HIER_DIRECT/- -`,
      );
    const o = (dstAddr: string | null, dstHost: string | null, dstPort: number | null) =>
      squidObs({
        start: 1795401424.342,
        end: 1795401424.342,
        srcAddr: '2001:db8::1',
        dstAddr,
        dstHost,
        dstPort,
        action: 'accept',
        bytesIn: 10,
      });
    expect(at('https://user:pw@files.example.com/a')).toEqual(o(null, 'files.example.com', 443));
    expect(at('ftp://ftp.example.com/pub/')).toEqual(o(null, 'ftp.example.com', 21));
    expect(at('wss://ws.example.com:8443/socket')).toEqual(o(null, 'ws.example.com', 8443));
    expect(at('ws://ws.example.com')).toEqual(o(null, 'ws.example.com', 80));
    expect(at('http://[2001:db8::0:10]:8080/x')).toEqual(o('2001:db8::10', null, 8080));
    expect(at('[2001:db8::10]:443', 'CONNECT')).toEqual(o('2001:db8::10', null, 443));
    expect(at('HTTP://EXAMPLE.org?q')).toEqual(o(null, 'example.org', 80));
    // A scheme squid knows no default port for keeps the destination, without a port.
    expect(at('cache_object://squid.local/info')).toEqual(o(null, 'squid.local', null));
  });

  it('marks every *_DENIED code as a reject', () => {
    for (const code of ['TCP_DENIED', 'TCP_DENIED_REPLY', 'UDP_DENIED']) {
      const r = parseSquidLine(
        `1795401424.342      0 127.0.0.1 ${code}/403 10 GET http://x.test/ - HIER_NONE/- text/html`,
      );
      expect(r.kind === 'observation' && r.value.action).toBe('reject');
    }
  });

  it('counts a proxy-auth challenge (TCP_DENIED/407) as a skip, not a reject, in both formats', () => {
    expect(
      parseSquidLine(
        '1795401424.342      0 127.0.0.1 TCP_DENIED/407 3900 CONNECT x.test:443 - HIER_NONE/- text/html',
      ),
    ).toEqual(skip('auth_challenge'));
    expect(
      parseSquidLine(
        '127.0.0.1 - - [23/Nov/2026:02:37:04 +0000] "CONNECT x.test:443 HTTP/1.1" 407 3900 TCP_DENIED:HIER_NONE',
      ),
    ).toEqual(skip('auth_challenge'));
    // Proxy-Authorization accepted, then refused by an ACL: a reject.
    const denied = parseSquidLine(
      '1795401424.342      0 127.0.0.1 TCP_DENIED/403 3900 CONNECT x.test:443 alice HIER_NONE/- text/html',
    );
    expect(denied.kind === 'observation' && denied.value.action).toBe('reject');
  });

  it('skips lines that are squid lines but name no destination', () => {
    expect(parseSquidLine('1795401424.342      0 127.0.0.1 NONE_NONE/400 0 NONE - - HIER_NONE/- -')).toEqual(
      skip('no_url'),
    );
    expect(parseSquidLine('   ')).toEqual(skip('blank'));
  });
});

describe('parseSquidLine, common and combined formats', () => {
  const t = 1795574368;
  const o = (
    srcAddr: string,
    dstAddr: string | null,
    dstHost: string | null,
    dstPort: number,
    action: 'accept' | 'reject',
    bytesIn: number,
  ) => squidObs({ start: t, end: t, srcAddr, dstAddr, dstHost, dstPort, action, bytesIn });
  // The same eleven requests as the native fixture's second run; `%Ss:%Sh` logs no peer address.
  const expected = [
    o('127.0.0.1', null, 'origin.test', 40185, 'accept', 271),
    o('::1', '127.0.0.1', null, 40185, 'accept', 282),
    o('::1', null, 'origin.test', 40185, 'accept', 282),
    o('127.0.0.1', null, 'foo.blocked.test', 80, 'reject', 3468),
    o('127.0.0.1', null, 'foo.blocked.test', 443, 'reject', 3470),
    o('::1', null, 'echo.test', 36901, 'accept', 57),
    o('127.0.0.1', null, 'foo.blocked.test', 443, 'reject', 3472),
    o('127.0.0.1', '::1', null, 36901, 'accept', 0),
    skip('error_url'),
    skip('relative_url'),
    skip('error_url'),
  ];

  it('maps a real common log', () => {
    expect(fixtureLines('common.log').map((l) => parseSquidLine(l))).toEqual(expected);
  });

  it('maps a real combined log, unescaped quotes in the user agent included', () => {
    const lines = fixtureLines('combined.log');
    expect(lines[0]).toContain('"egress "learner" test"');
    expect(lines.map((l) => parseSquidLine(l))).toEqual(expected);
  });

  it('applies the time zone offset of %tl', () => {
    const r = parseSquidLine(
      '10.0.0.7 - bob [24/Nov/2026:21:39:28 -0500] "CONNECT api.example.com:443 HTTP/1.1" 200 5120 TCP_TUNNEL:HIER_DIRECT',
    );
    expect(r).toEqual(
      squidObs({
        start: t,
        end: t,
        srcAddr: '10.0.0.7',
        dstAddr: null,
        dstHost: 'api.example.com',
        dstPort: 443,
        action: 'accept',
        bytesIn: 5120,
      }),
    );
  });
});

describe('parseSquidLine, broken lines', () => {
  const cases: [string, ParseOutcome][] = [
    ['1795401345.683      7 127.0.0.1 TCP_MISS/200 355 GET', reject('field_count')],
    [
      '1795401345.68x      7 127.0.0.1 TCP_MISS/200 355 GET http://a.test/ - HIER_DIRECT/1.2.3.4 -',
      reject('field_count'),
    ],
    [
      '1795401345.6833      7 127.0.0.1 TCP_MISS/200 355 GET http://a.test/ - HIER_DIRECT/1.2.3.4 -',
      reject('field_count'),
    ],
    [
      '1795401345.683     -7 127.0.0.1 TCP_MISS/200 355 GET http://a.test/ - HIER_DIRECT/1.2.3.4 -',
      reject('bad_elapsed'),
    ],
    [
      '1795401345.683      7 127.0.0.300 TCP_MISS/200 355 GET http://a.test/ - HIER_DIRECT/1.2.3.4 -',
      reject('bad_ip'),
    ],
    [
      '1795401345.683      7 127.0.0.1 TCP_MISS 355 GET http://a.test/ - HIER_DIRECT/1.2.3.4 -',
      reject('bad_status'),
    ],
    [
      '1795401345.683      7 127.0.0.1 TCP_MISS/200 3x5 GET http://a.test/ - HIER_DIRECT/1.2.3.4 -',
      reject('bad_bytes'),
    ],
    [
      '1795401345.683      7 127.0.0.1 TCP_MISS/200 355 GET http://a.test/ - HIER_DIRECT -',
      reject('bad_hierarchy'),
    ],
    [
      '1795401345.683      7 127.0.0.1 TCP_MISS/200 355 GET http://a..test/ - HIER_DIRECT/1.2.3.4 -',
      reject('bad_host'),
    ],
    [
      '1795401345.683      7 127.0.0.1 TCP_MISS/200 355 GET http://a.test:99999/ - HIER_DIRECT/1.2.3.4 -',
      reject('bad_port'),
    ],
    [
      '1795401345.683      7 127.0.0.1 TCP_MISS/200 355 GET http:///x - HIER_DIRECT/1.2.3.4 -',
      reject('bad_url'),
    ],
    [
      '1795401345.683      7 127.0.0.1 TCP_MISS/200 355 CONNECT a.test - HIER_DIRECT/1.2.3.4 -',
      reject('bad_port'),
    ],
    [
      '1795401345.683      7 127.0.0.1 TCP_MISS/200 355 GET a.test/x - HIER_DIRECT/1.2.3.4 -',
      reject('bad_url'),
    ],
    ['127.0.0.1 - - [25/Nov/2026:02:39:28 +0000] "GET http://a.test/ HTTP/1.1" 200', reject('field_count')],
    [
      '127.0.0.1 - - [25/Nov/2026:02:39:28 +0000] "GET http://a.test/ HTTP/1.1" 200 271 junk TCP_MISS:HIER_DIRECT',
      reject('field_count'),
    ],
    [
      '127.0.0.1 - - [25/Nov/2026:02:39:28] "GET http://a.test/ HTTP/1.1" 200 271 TCP_MISS:HIER_DIRECT',
      reject('bad_time'),
    ],
    [
      '127.0.0.1 - - [25/Foo/2026:02:39:28 +0000] "GET http://a.test/ HTTP/1.1" 200 271 TCP_MISS:HIER_DIRECT',
      reject('bad_time'),
    ],
    [
      'localhost - - [25/Nov/2026:02:39:28 +0000] "GET http://a.test/ HTTP/1.1" 200 271 TCP_MISS:HIER_DIRECT',
      reject('bad_ip'),
    ],
    [
      '127.0.0.1 - - [25/Nov/2026:02:39:28 +0000] "GET http://a.test/ HTTP/1.1" OK 271 TCP_MISS:HIER_DIRECT',
      reject('bad_status'),
    ],
    [
      '127.0.0.1 - - [25/Nov/2026:02:39:28 +0000] "GET http://a.test/ HTTP/1.1" 200 - TCP_MISS:HIER_DIRECT',
      reject('bad_bytes'),
    ],
    [
      '127.0.0.1 - - [25/Nov/2026:02:39:28 +0000] "GET http://a.test/ HTTP/1.1" 200 271 TCP_MISS',
      reject('bad_hierarchy'),
    ],
    ['not a log line', reject('field_count')],
  ];
  it.each(cases)('%s', (line, outcome) => {
    expect(parseSquidLine(line)).toEqual(outcome);
  });

  it('uses only the bounded reason lists', () => {
    const reasons = new Set<string>([...SQUID_REJECT_REASONS, ...SQUID_SKIP_REASONS]);
    for (const [line] of cases) {
      const r = parseSquidLine(line);
      expect(r.kind !== 'observation' && reasons.has(r.reason)).toBe(true);
    }
  });
});

describe('squidCollector', () => {
  it('describes itself with a sample line its parser reads', () => {
    expect(squidCollector.name).toBe('squid');
    expect(squidCollector.sourceKind).toBe('squid');
    const parser = squidCollector.createParser({});
    expect(parser.parse(squidCollector.sample).kind).toBe('observation');
  });
});
