import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli } from '../helpers/cli.js';

const T0 = Date.parse('2026-03-02T10:00:00Z') / 1000;
const iso = (t: number): string => new Date(t * 1000).toISOString().replace('.000Z', 'Z');

/** One Route 53 Resolver answer: `client` asked `name`, got `address`. */
function answer(t: number, name: string, address: string, client = '10.0.1.5'): string {
  return JSON.stringify({
    version: '1.100000',
    account_id: '111122223333',
    region: 'us-east-1',
    vpc_id: 'vpc-1',
    query_timestamp: iso(t),
    query_name: `${name}.`,
    query_type: 'A',
    query_class: 'IN',
    rcode: 'NOERROR',
    answers: [{ Rdata: address, Type: 'A', Class: 'IN' }],
    srcaddr: client,
    srcport: '40000',
    transport: 'UDP',
    srcids: { instance: 'i-1' },
  });
}

/** A v2 flow record from 10.0.1.5 to `dst`:443 at `t`. */
const flow = (t: number, dst: string): string =>
  `2 111122223333 eni-1 10.0.1.5 ${dst} 40001 443 6 10 840 ${t} ${t + 30} ACCEPT OK`;

describe('query flows --dst <host> on flow logs', () => {
  // One database for every case: collected once, then only read.
  const dir = mkdtempSync(join(tmpdir(), 'el-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const db = join(dir, 'x.db');
  writeFileSync(
    join(dir, 'dns.log'),
    [
      answer(T0, 'api.example.test', '198.51.100.7'),
      answer(T0, 'other.test', '198.51.100.8'),
      // Asked by another client: still names the address.
      answer(T0 + 600, 'cdn.example.test', '198.51.100.9', '10.0.9.9'),
    ].join('\n') + '\n',
  );
  writeFileSync(
    join(dir, 'flows.log'),
    [
      flow(T0 + 5, '198.51.100.7'),
      // Hours later on the same address: a connection outlives its answer's TTL.
      flow(T0 + 5 * 3600, '198.51.100.7'),
      flow(T0 + 10, '198.51.100.8'),
      flow(T0 + 700, '198.51.100.9'),
      // Before any answer named it, and two days after: no name.
      flow(T0 - 7200, '198.51.100.9'),
      flow(T0 + 2 * 86_400 + 3600, '198.51.100.7'),
      flow(T0 + 20, '203.0.113.1'),
    ].join('\n') + '\n',
  );
  expect(cli(['collect', 'dns', '--format', 'route53', '-q', '--db', db, join(dir, 'dns.log')]).code).toBe(0);
  expect(cli(['collect', 'vpc-flow', '-q', '--db', db, join(dir, 'flows.log')]).code).toBe(0);
  // The proxy logged another name for a request to the same address (a CDN's shared address).
  writeFileSync(
    join(dir, 'access.log'),
    `${T0 + 30}.000 120 10.0.1.5 TCP_TUNNEL/200 5000 CONNECT api.other.test:443 - HIER_DIRECT/198.51.100.7 -\n`,
  );
  expect(cli(['collect', 'squid', '-q', '--db', db, join(dir, 'access.log')]).code).toBe(0);

  const seen = (...dst: string[]): string[] => {
    const r = cli(['query', 'flows', '--db', db, ...dst.flatMap((d) => ['--dst', d]), '-o', 'json']);
    expect(r.stderr).toBe('');
    return (JSON.parse(r.stdout) as { dst: string; bucket: string }[])
      .map((e) => `${e.dst} ${e.bucket}`)
      .sort();
  };

  it('matches flows to addresses DNS gave for the name, within a day of the answer', () => {
    expect(seen('api.example.test')).toEqual([
      `198.51.100.7 ${iso(T0)}`,
      `198.51.100.7 ${iso(T0 + 5 * 3600)}`,
    ]);
    expect(seen('other.test')).toEqual([`198.51.100.8 ${iso(T0)}`]);
  });

  it('matches *.suffix against the names asked, from any client', () => {
    expect(seen('*.example.test')).toEqual([
      `198.51.100.7 ${iso(T0)}`,
      `198.51.100.7 ${iso(T0 + 5 * 3600)}`,
      `198.51.100.9 ${iso(T0)}`,
    ]);
    // The flow logs' five, and the proxy's request (named by its own host).
    expect(seen('*.test', '203.0.113.1')).toHaveLength(6);
  });

  it('names a row the proxy logged by its logged host only', () => {
    const hosts = (dst: string): (string | null)[] => {
      const r = cli(['query', 'flows', '--db', db, '--dst', dst, '--group-by', 'host', '-o', 'json']);
      return (JSON.parse(r.stdout) as { host: string | null }[]).map((e) => e.host).sort();
    };
    expect(hosts('api.example.test')).toEqual([null]);
    expect(hosts('api.other.test')).toEqual(['api.other.test']);
  });

  it('leaves names no answer gave unmatched', () => {
    expect(seen('example.test')).toEqual([]);
    expect(seen('*.nowhere.test')).toEqual([]);
  });
});
