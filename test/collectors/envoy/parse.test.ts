import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { envoyCollector } from '../../../collectors/envoy/index.js';
import { ENVOY_REJECT_REASONS, ENVOY_SKIP_REASONS, parseEnvoyLine } from '../../../collectors/envoy/parse.js';
import type { Observation } from '../../../src/model/observation.js';
import type { ParseOutcome } from '../../../src/model/parse-outcome.js';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../fixtures/envoy');

function fixtureLines(name: string): string[] {
  return readFileSync(path.join(FIXTURES, name), 'utf8')
    .split('\n')
    .filter((l) => l.length > 0);
}

interface Expect {
  start: number;
  durationMs: number;
  srcAddr: string | null;
  srcPort?: number | null;
  dstAddr: string | null;
  dstHost: string | null;
  dstPort: number;
  action: 'accept' | 'reject';
  bytesOut: number;
  bytesIn: number;
}

/** Every field spelled out, so a missing or renamed key in the parser shows up here. */
function envoyObs(f: Expect): ParseOutcome {
  const value: Observation = {
    sourceKind: 'envoy',
    start: f.start,
    end: Math.round(f.start * 1000 + f.durationMs) / 1000,
    srcAddr: f.srcAddr,
    srcPort: f.srcPort ?? null,
    dstAddr: f.dstAddr,
    dstHost: f.dstHost,
    dstPort: f.dstPort,
    protocol: 6,
    action: f.action,
    direction: 'egress',
    orientation: 'proxy',
    reply: false,
    packetsOut: 0,
    bytesOut: f.bytesOut,
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

const skip = (reason: string): ParseOutcome => ({ kind: 'skip', reason });
const reject = (reason: string): ParseOutcome => ({ kind: 'reject', reason });

/** 2026-11-23T02:38:55Z (recipe run) and 2026-11-25T02:38:54Z / 02:39:38Z (test/helpers/proxies.ts runs). */
const T23 = 1795401535;
const T25 = 1795574334;
const T25B = 1795574378;

describe('parseEnvoyLine, default text format', () => {
  it('maps every line of the recipe and of a real Envoy 1.40 run', () => {
    expect(fixtureLines('text.log').map((l) => parseEnvoyLine(l))).toEqual([
      envoyObs({
        start: T23 + 0.567,
        durationMs: 1,
        srcAddr: null,
        dstAddr: '127.0.0.1',
        dstHost: 'origin.test',
        dstPort: 18080,
        action: 'accept',
        bytesOut: 0,
        bytesIn: 6,
      }),
      envoyObs({
        start: T23 + 0.592,
        durationMs: 0,
        srcAddr: null,
        dstAddr: null,
        dstHost: 'nope.test',
        dstPort: 80,
        action: 'reject',
        bytesOut: 0,
        bytesIn: 0,
      }),
      // UF: the route allowed it, the upstream refused the connection.
      envoyObs({
        start: T23 + 0.602,
        durationMs: 0,
        srcAddr: null,
        dstAddr: '127.0.0.1',
        dstHost: 'dead.test',
        dstPort: 1,
        action: 'accept',
        bytesOut: 0,
        bytesIn: 98,
      }),
      envoyObs({
        start: T23 + 0.737,
        durationMs: 1,
        srcAddr: null,
        dstAddr: '127.0.0.1',
        dstHost: null,
        dstPort: 17777,
        action: 'accept',
        bytesOut: 20,
        bytesIn: 20,
      }),
      envoyObs({
        start: T25 + 0.087,
        durationMs: 6,
        srcAddr: '10.1.2.3',
        dstAddr: '127.0.0.1',
        dstHost: 'origin.test',
        dstPort: 45819,
        action: 'accept',
        bytesOut: 0,
        bytesIn: 6,
      }),
      // RBAC: a 403 that never reached an upstream.
      envoyObs({
        start: T25 + 0.125,
        durationMs: 0,
        srcAddr: null,
        dstAddr: null,
        dstHost: 'denied.test',
        dstPort: 80,
        action: 'reject',
        bytesOut: 0,
        bytesIn: 19,
      }),
      envoyObs({
        start: T25 + 0.143,
        durationMs: 3,
        srcAddr: null,
        dstAddr: '127.0.0.1',
        dstHost: 'echo.test',
        dstPort: 42743,
        action: 'accept',
        bytesOut: 18,
        bytesIn: 18,
      }),
      // Unescaped quotes in the user agent. X-Forwarded-For's last hop is the one Envoy appends; the IPv6 one
      // before it is what the client wrote.
      envoyObs({
        start: T25B + 0.518,
        durationMs: 6,
        srcAddr: '10.0.0.1',
        dstAddr: '127.0.0.1',
        dstHost: 'origin.test',
        dstPort: 41075,
        action: 'accept',
        bytesOut: 0,
        bytesIn: 6,
      }),
      skip('no_destination'),
    ]);
  });

  it('reads a TCP proxy line, which names only the upstream host', () => {
    expect(
      parseEnvoyLine(
        '[2026-11-23T02:38:55.000Z] "- - -" 0 - 120 340 1500 - "-" "-" "-" "-" "[2001:db8::5]:5432"',
      ),
    ).toEqual(
      envoyObs({
        start: T23,
        durationMs: 1500,
        srcAddr: null,
        dstAddr: '2001:db8::5',
        dstHost: null,
        dstPort: 5432,
        action: 'accept',
        bytesOut: 120,
        bytesIn: 340,
      }),
    );
  });

  it('takes the source from the hop Envoy appends to X-Forwarded-For, not one the client wrote', () => {
    const line = (xff: string) =>
      `[2026-11-23T02:38:55.000Z] "CONNECT - HTTP/1.1" 200 DC 900000 20 1 - "${xff}" "-" "-" "drop.evil.example:443" "198.51.100.9:443"`;
    const src = (xff: string) => {
      const r = parseEnvoyLine(line(xff));
      return r.kind === 'observation' ? r.value.srcAddr : r.kind;
    };
    // A pod at 10.1.2.66 claims to be 10.1.2.3.
    expect(src('10.1.2.3, 10.1.2.66')).toBe('10.1.2.66');
    expect(src('10.1.2.66')).toBe('10.1.2.66');
    // A dual-stack listener's IPv4 peer, bracketed with its port, is that IPv4 address.
    expect(src('[::ffff:10.1.2.9]:5555')).toBe('10.1.2.9');
    expect(src('::ffff:10.1.2.9')).toBe('10.1.2.9');
    expect(src('-')).toBeNull();
  });

  it('marks an external-authorization denial as a reject', () => {
    const r = parseEnvoyLine(
      '[2026-11-23T02:38:55.000+02:00] "GET / HTTP/1.1" 403 UAEX 0 0 2 - "-" "-" "-" "api.example.com:8443" "-"',
    );
    expect(r).toEqual(
      envoyObs({
        start: T23 - 7200,
        durationMs: 2,
        srcAddr: null,
        dstAddr: null,
        dstHost: 'api.example.com',
        dstPort: 8443,
        action: 'reject',
        bytesOut: 0,
        bytesIn: 0,
      }),
    );
  });

  it('accepts an upstream 403', () => {
    const r = parseEnvoyLine(
      '[2026-11-23T02:38:55.000Z] "GET / HTTP/1.1" 403 - 0 9 2 1 "-" "-" "-" "api.example.com" "203.0.113.7:443"',
    );
    expect(r.kind === 'observation' && r.value.action).toBe('accept');
  });
});

describe('parseEnvoyLine, Istio text format', () => {
  const at = (iso: string): number => Date.parse(iso) / 1000;

  it('reads the default format of Istio 1.9 on, with the downstream peer and SNI it adds', () => {
    // The line of Istio's access-log task (istio.io, "Envoy Access Logs").
    expect(
      parseEnvoyLine(
        '[2020-11-25T21:26:18.409Z] "GET /status/418 HTTP/1.1" 418 - via_upstream - "-" 0 135 4 4 "-" "curl/7.73.0-DEV" "84961386-6d84-929d-98bd-c5aee93b5c88" "httpbin:8000" "10.44.1.27:80" outbound|8000||httpbin.foo.svc.cluster.local 10.44.1.23:37652 10.0.45.184:8000 10.44.1.23:46520 - default',
      ),
    ).toEqual(
      envoyObs({
        start: at('2020-11-25T21:26:18.409Z'),
        durationMs: 4,
        srcAddr: '10.44.1.23',
        srcPort: 46520,
        dstAddr: '10.44.1.27',
        dstHost: 'httpbin',
        dstPort: 8000,
        action: 'accept',
        bytesOut: 0,
        bytesIn: 135,
      }),
    );
    // TLS passed through an egress gateway: no authority, the SNI names the destination.
    expect(
      parseEnvoyLine(
        '[2021-03-01T10:00:00.000Z] "- - -" 0 - - - "-" 839 4123 1022 - "-" "-" "-" "-" "151.101.1.67:443" outbound|443||edition.cnn.com 10.44.2.7:51234 10.44.2.7:8443 10.44.1.23:51230 edition.cnn.com -',
      ),
    ).toEqual(
      envoyObs({
        start: at('2021-03-01T10:00:00Z'),
        durationMs: 1022,
        srcAddr: '10.44.1.23',
        srcPort: 51230,
        dstAddr: '151.101.1.67',
        dstHost: 'edition.cnn.com',
        dstPort: 443,
        action: 'accept',
        bytesOut: 839,
        bytesIn: 4123,
      }),
    );
  });

  it('reads the format of Istio 1.3 to 1.8, with the mixer status', () => {
    const r = parseEnvoyLine(
      '[2020-03-01T10:00:00.000Z] "GET /get HTTP/1.1" 200 - "-" "-" 0 20 5 4 "-" "curl/7.64.0" "id-1" "httpbin.org" "34.198.8.19:80" outbound|80||httpbin.org 10.1.0.9:41234 34.198.8.19:80 10.1.0.5:51200 - -',
    );
    expect(
      r.kind === 'observation' && [r.value.srcAddr, r.value.dstHost, r.value.dstAddr, r.value.bytesIn],
    ).toEqual(['10.1.0.5', 'httpbin.org', '34.198.8.19', 20]);
  });

  it('marks an RBAC denial its details name as a reject', () => {
    const r = parseEnvoyLine(
      '[2021-03-01T10:00:00.000Z] "GET /x HTTP/1.1" 403 - rbac_access_denied_matched_policy[none] - "-" 0 19 0 - "-" "curl" "id-2" "api.example.com" "-" outbound|443||api.example.com - 10.0.9.9:443 10.1.0.5:51201 - -',
    );
    expect(r.kind === 'observation' && [r.value.action, r.value.dstHost]).toEqual([
      'reject',
      'api.example.com',
    ]);
  });

  it('marks a destination Istio sent to its BlackHoleCluster (outbound policy REGISTRY_ONLY) as a reject', () => {
    const line = (cluster: string) =>
      `[2021-03-01T10:00:00.000Z] "GET / HTTP/1.1" 502 - direct_response - "-" 0 0 0 - "-" "curl" "id-3" "httpbin.org" "-" ${cluster} - 34.6.192.113:80 10.1.0.5:51202 - block_all`;
    const action = (cluster: string) => {
      const r = parseEnvoyLine(line(cluster));
      return r.kind === 'observation' ? r.value.action : r.kind;
    };
    expect(action('BlackHoleCluster')).toBe('reject');
    expect(action('PassthroughCluster')).toBe('accept');
    const json = parseEnvoyLine(
      '{"start_time":"2021-03-01T10:00:00Z","authority":"httpbin.org","response_code":502,"upstream_cluster":"BlackHoleCluster"}',
    );
    expect(json.kind === 'observation' && json.value.action).toBe('reject');
  });

  it('quarantines a line missing one of the fields after the upstream host', () => {
    expect(
      parseEnvoyLine(
        '[2021-03-01T10:00:00.000Z] "GET / HTTP/1.1" 200 - via_upstream - "-" 0 1 1 1 "-" "-" "-" "a.example.com" "1.2.3.4:80" 10.0.0.1:1 10.0.0.2:80 10.1.0.5:5 - -',
      ),
    ).toEqual(reject('field_count'));
  });
});

describe('parseEnvoyLine, JSON format', () => {
  it('maps every line of the recipe and of a real Envoy 1.40 run', () => {
    expect(fixtureLines('json.log').map((l) => parseEnvoyLine(l))).toEqual([
      envoyObs({
        start: T23 + 0.592,
        durationMs: 0,
        srcAddr: '127.0.0.1',
        srcPort: 44208,
        dstAddr: null,
        dstHost: 'nope.test',
        dstPort: 80,
        action: 'reject',
        bytesOut: 0,
        bytesIn: 0,
      }),
      // downstream_remote_address came from X-Forwarded-For; the direct peer wins.
      envoyObs({
        start: T25B + 0.518,
        durationMs: 6,
        srcAddr: '127.0.0.1',
        srcPort: 34774,
        dstAddr: '127.0.0.1',
        dstHost: 'origin.test',
        dstPort: 41075,
        action: 'accept',
        bytesOut: 0,
        bytesIn: 6,
      }),
      envoyObs({
        start: T25B + 0.534,
        durationMs: 5,
        srcAddr: '127.0.0.1',
        srcPort: 34782,
        dstAddr: '127.0.0.1',
        dstHost: null,
        dstPort: 36637,
        action: 'accept',
        bytesOut: 4,
        bytesIn: 4,
      }),
      skip('no_destination'),
      skip('no_destination'),
      envoyObs({
        start: T25 + 0.087,
        durationMs: 6,
        srcAddr: '127.0.0.1',
        srcPort: 52942,
        dstAddr: '127.0.0.1',
        dstHost: 'origin.test',
        dstPort: 45819,
        action: 'accept',
        bytesOut: 0,
        bytesIn: 6,
      }),
      envoyObs({
        start: T25 + 0.125,
        durationMs: 0,
        srcAddr: '127.0.0.1',
        srcPort: 52948,
        dstAddr: null,
        dstHost: 'denied.test',
        dstPort: 80,
        action: 'reject',
        bytesOut: 0,
        bytesIn: 19,
      }),
      envoyObs({
        start: T25 + 0.129,
        durationMs: 12,
        srcAddr: '127.0.0.1',
        srcPort: 52954,
        dstAddr: '127.0.0.1',
        dstHost: 'dead.test',
        dstPort: 42535,
        action: 'accept',
        bytesOut: 0,
        bytesIn: 98,
      }),
    ]);
  });

  it('reads Istio-style lines: string numbers, SNI, IPv6 peers', () => {
    const line = JSON.stringify({
      start_time: '2026-11-23T02:38:55.250Z',
      method: null,
      path: null,
      protocol: null,
      response_code: '0',
      response_flags: '-',
      response_code_details: '-',
      connection_termination_details: '-',
      bytes_received: '517',
      bytes_sent: '46259',
      duration: '1234',
      x_forwarded_for: null,
      authority: null,
      upstream_host: '203.0.113.10:443',
      downstream_remote_address: '[2001:db8::a]:51000',
      requested_server_name: 'API.Example.com.',
      upstream_cluster: 'outbound|443||api.example.com',
    });
    expect(parseEnvoyLine(line)).toEqual(
      envoyObs({
        start: T23 + 0.25,
        durationMs: 1234,
        srcAddr: '2001:db8::a',
        srcPort: 51000,
        dstAddr: '203.0.113.10',
        dstHost: 'api.example.com',
        dstPort: 443,
        action: 'accept',
        bytesOut: 517,
        bytesIn: 46259,
      }),
    );
  });

  it('defaults the port of an SNI-only line to 443', () => {
    const r = parseEnvoyLine(
      '{"start_time":"2026-11-23T02:38:55Z","requested_server_name":"api.example.com","upstream_host":null}',
    );
    expect(r.kind === 'observation' && [r.value.dstHost, r.value.dstAddr, r.value.dstPort]).toEqual([
      'api.example.com',
      null,
      443,
    ]);
  });

  it('marks a network RBAC denial as a reject', () => {
    const r = parseEnvoyLine(
      '{"start_time":"2026-11-23T02:38:55Z","response_code":0,"response_flags":"-","connection_termination_details":"rbac_access_denied_matched_policy[none]","upstream_host":"203.0.113.10:443","requested_server_name":"api.example.com"}',
    );
    expect(r.kind === 'observation' && r.value.action).toBe('reject');
  });
});

describe('parseEnvoyLine, broken lines', () => {
  const cases: [string, ParseOutcome][] = [
    ['[2026-11-23T02:38:55.567Z] "GET /x HTTP/1.1" 200 - 0 6 1 1 "-" "curl/7.88.1"', reject('field_count')],
    // The default format with a field added at the end: read from the end, it would lose or misplace the host.
    [
      '[2023-11-14T22:13:24.000Z] "GET / HTTP/1.1" 200 - 0 19 1 - "10.0.1.5" "curl/8.0" "x" "j.example.com" "1.2.3.4:80" "outbound|80||j.example.com"',
      reject('field_count'),
    ],
    [
      '[2023-11-14T22:13:24.000Z] "GET / HTTP/1.1" 200 - 0 19 1 - "10.0.1.5" "curl/8.0" "x" "k.example.com" "1.2.3.5:80" "-"',
      reject('field_count'),
    ],
    // Client text that could pass for fields (a user agent holding `" "`) is not trusted either.
    [
      '[2023-11-14T22:13:24.000Z] "GET / HTTP/1.1" 200 - 0 19 1 - "-" "ua" "r" "fake.example.com" "-" "x" "real.example.com" "1.2.3.4:80"',
      reject('field_count'),
    ],
    [
      '[2026-11-23 02:38:55.567] "GET /x HTTP/1.1" 200 - 0 6 1 1 "-" "-" "-" "origin.test" "127.0.0.1:18080"',
      reject('bad_time'),
    ],
    [
      '[2026-13-23T02:38:55.567Z] "GET /x HTTP/1.1" 200 - 0 6 1 1 "-" "-" "-" "origin.test" "127.0.0.1:18080"',
      reject('bad_time'),
    ],
    [
      '[2026-11-23T02:38:55.567Z] "GET /x HTTP/1.1" OK - 0 6 1 1 "-" "-" "-" "origin.test" "127.0.0.1:18080"',
      reject('bad_status'),
    ],
    [
      '[2026-11-23T02:38:55.567Z] "GET /x HTTP/1.1" 200 nr 0 6 1 1 "-" "-" "-" "origin.test" "127.0.0.1:18080"',
      reject('bad_flags'),
    ],
    [
      '[2026-11-23T02:38:55.567Z] "GET /x HTTP/1.1" 200 - 0 6x 1 1 "-" "-" "-" "origin.test" "127.0.0.1:18080"',
      reject('bad_bytes'),
    ],
    [
      '[2026-11-23T02:38:55.567Z] "GET /x HTTP/1.1" 200 - 0 6 1.5 1 "-" "-" "-" "origin.test" "127.0.0.1:18080"',
      reject('bad_duration'),
    ],
    [
      '[2026-11-23T02:38:55.567Z] "GET /x HTTP/1.1" 200 - 0 6 1 1 "-" "-" "-" "origin test" "127.0.0.1:18080"',
      reject('bad_host'),
    ],
    [
      '[2026-11-23T02:38:55.567Z] "GET /x HTTP/1.1" 200 - 0 6 1 1 "-" "-" "-" "origin.test:0" "127.0.0.1:18080"',
      reject('bad_port'),
    ],
    ['{"start_time":"2026-11-23T02:38:55Z",', reject('bad_json')],
    ['{"a":1} trailing', reject('bad_json')],
    ['{"authority":"a.test"}', reject('bad_time')],
    ['{"start_time":"2026-11-23T02:38:55Z","authority":"a.test","bytes_sent":-1}', reject('bad_bytes')],
    ['{"start_time":"2026-11-23T02:38:55Z","requested_server_name":"bad name"}', reject('bad_host')],
    ['{"start_time":"2026-11-23T02:38:55Z","upstream_host":"envoy://internal"}', skip('no_destination')],
    ['', skip('blank')],
    ['garbage', reject('field_count')],
  ];
  it.each(cases)('%s', (line, outcome) => {
    expect(parseEnvoyLine(line)).toEqual(outcome);
  });

  it('uses only the bounded reason lists', () => {
    const reasons = new Set<string>([...ENVOY_REJECT_REASONS, ...ENVOY_SKIP_REASONS]);
    for (const [line] of cases) {
      const r = parseEnvoyLine(line);
      expect(r.kind !== 'observation' && reasons.has(r.reason)).toBe(true);
    }
  });
});

describe('envoyCollector', () => {
  it('describes itself with a sample line its parser reads', () => {
    expect(envoyCollector.name).toBe('envoy');
    expect(envoyCollector.sourceKind).toBe('envoy');
    const parser = envoyCollector.createParser({});
    expect(parser.parse(envoyCollector.sample).kind).toBe('observation');
  });
});
