import fc from 'fast-check';
import { ipv4Number, parseIpv6 } from '../../src/model/ip.js';
import { describe, expect, it } from 'vitest';
import { EdgeAggregator } from '../../src/ingest/aggregate.js';
import { addressRanks } from '../../src/ingest/edge-order.js';
import type { Edge } from '../../src/model/edge.js';
import { observation, type Observation } from '../../src/model/observation.js';

/** The obvious aggregation, to check the hash table against. */
function reference(obs: readonly Observation[], bucketSeconds: number): Edge[] {
  const m = new Map<string, Edge & Record<string, unknown>>();
  for (const o of obs) {
    const bucket = Math.floor(o.start / bucketSeconds) * bucketSeconds;
    // Absent and empty are one value in an edge key ('' / 0), as in the store.
    const k = JSON.stringify([
      bucket,
      o.srcAddr ?? '',
      o.dstAddr ?? '',
      o.dstHost ?? '',
      o.dstPort ?? 0,
      o.protocol ?? 0,
      o.action,
      o.direction,
    ]);
    const e = m.get(k) ?? {
      bucket,
      srcAddr: o.srcAddr ?? '',
      dstAddr: o.dstAddr ?? '',
      dstHost: o.dstHost ?? '',
      dstPort: o.dstPort ?? 0,
      protocol: o.protocol ?? 0,
      action: o.action,
      direction: o.direction,
      flows: 0,
      replies: 0,
      packetsOut: 0,
      bytesOut: 0,
      packetsIn: 0,
      bytesIn: 0,
      firstSeen: o.start,
      lastSeen: o.start,
      sources: 0,
    };
    m.set(k, {
      ...e,
      flows: e.flows + (o.reply ? 0 : 1),
      replies: e.replies + (o.reply ? 1 : 0),
      packetsOut: e.packetsOut + o.packetsOut,
      bytesOut: e.bytesOut + o.bytesOut,
      packetsIn: e.packetsIn + o.packetsIn,
      bytesIn: e.bytesIn + o.bytesIn,
      firstSeen: Math.min(e.firstSeen, o.start),
      lastSeen: Math.max(e.lastSeen, o.end),
      sources: e.sources | (o.sourceKind === 'vpcflow' ? 1 : o.sourceKind === 'squid' ? 2 : 4),
    });
  }
  return sortEdges([...m.values()]);
}

function sortEdges(edges: Edge[]): Edge[] {
  const key = (e: Edge): string =>
    JSON.stringify([e.bucket, e.srcAddr, e.dstAddr, e.dstHost, e.dstPort, e.protocol, e.action, e.direction]);
  return edges.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

const obsArb = fc.record({
  sourceKind: fc.constantFrom('vpcflow' as const, 'squid' as const, 'envoy' as const),
  // Mostly within hours; sometimes decades apart, more minute buckets than a sort digit ranges over.
  start: fc.oneof(
    { weight: 4, arbitrary: fc.integer({ min: 1_763_596_800, max: 1_763_596_800 + 5 * 3600 }) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 2_000_000_000 }) },
  ),
  dur: fc.integer({ min: 0, max: 600 }),
  // Text order and number order disagree on 10.0.0.9 / 10.0.0.10 and on 9.9.9.9 / 192.0.2.1.
  src: fc.constantFrom('10.0.0.9', '10.0.0.10', '2001:db8::1', null),
  dst: fc.constantFrom('192.0.2.1', '192.0.2.200', '9.9.9.9', '', null),
  host: fc.constantFrom(null, 'api.example.com', 'a.b.example.org'),
  port: fc.constantFrom(null, 0, 53, 443, 65535),
  protocol: fc.constantFrom(null, 1, 6, 17, 255),
  action: fc.constantFrom('accept' as const, 'reject' as const),
  direction: fc.constantFrom('egress' as const, 'ingress' as const),
  reply: fc.boolean(),
  n: fc.nat({ max: 1_000_000 }),
});

type ObsRow = typeof obsArb extends fc.Arbitrary<infer T> ? T : never;

const toObs = (r: ObsRow): Observation =>
  observation({
    sourceKind: r.sourceKind,
    start: r.start,
    end: r.start + r.dur,
    srcAddr: r.src,
    dstAddr: r.dst,
    dstHost: r.host,
    dstPort: r.port,
    protocol: r.protocol,
    action: r.action,
    direction: r.direction,
    reply: r.reply,
    packetsOut: r.n % 7,
    bytesOut: r.n,
    packetsIn: r.n % 5,
    bytesIn: r.n * 2,
  });

describe('addressRanks', () => {
  it('orders IPv4 addresses by number before any text, whether or not they fit the packed sort', () => {
    const address = fc.oneof(fc.ipV4(), fc.ipV6(), fc.constant(''));
    fc.assert(
      fc.property(fc.uniqueArray(address, { maxLength: 60 }), (strings) => {
        // As the aggregator holds them: IPv4 addresses as their numbers.
        const values = strings.map((s) => ipv4Number(s) ?? s);
        const packed = addressRanks(values);
        expect(addressRanks(values, 1)).toEqual(packed); // too many values to pack: the comparison sort
        const byRank = [...strings].sort((a, b) => packed[strings.indexOf(a)]! - packed[strings.indexOf(b)]!);
        const v4 = byRank.filter((x) => ipv4Number(x) !== null);
        expect(byRank.slice(0, v4.length)).toEqual(v4);
        expect(v4.map((x) => ipv4Number(x)!)).toEqual(v4.map((x) => ipv4Number(x)!).sort((a, b) => a - b));
        const rest = byRank.slice(v4.length);
        expect(rest).toEqual([...rest].sort());
      }),
    );
  });
});

describe('EdgeAggregator', () => {
  it('sums exactly as the obvious map does, for any observations', () => {
    fc.assert(
      fc.property(
        fc.array(obsArb, { maxLength: 300 }),
        fc.constantFrom(60, 900, 3600),
        (rows, bucketSeconds) => {
          const obs = rows.map(toObs);
          const agg = new EdgeAggregator(bucketSeconds);
          for (const o of obs) agg.add(o);
          const inOrder = Array.from(agg.drainInOrder(), (e) => ({ ...e }));
          expect(sortEdges([...inOrder])).toEqual(reference(obs, bucketSeconds));
          // Drained in the store's primary-key order, as SQLite compares the columns: an IPv4 address is stored as
          // its number, and numbers sort before text.
          const stored = (addr: string): string => {
            const n = ipv4Number(addr);
            return n === null ? `1${addr}` : `0${String(n).padStart(10, '0')}`;
          };
          const tuple = (e: Edge): (string | number)[] => [
            e.bucket,
            stored(e.srcAddr),
            stored(e.dstAddr),
            e.dstHost,
            e.dstPort,
            e.protocol,
            e.action,
            e.direction,
          ];
          for (let i = 1; i < inOrder.length; i++) {
            const a = tuple(inOrder[i - 1]!);
            const b = tuple(inOrder[i]!);
            const j = a.findIndex((v, n) => v !== b[n]);
            expect(j !== -1 && a[j]! < b[j]!).toBe(true);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('keeps one edge per address whether a flow came as keys (addFlow, ipv6Key) or as text', () => {
    // A few addresses, so that both paths meet the same ones often; IPv6 as a parser would hand it in.
    const address = fc.constantFrom('10.0.0.9', '192.0.2.1', '9.9.9.9', '2001:db8::1', 'fd00::7', '::1');
    fc.assert(
      fc.property(
        fc.array(fc.tuple(address, address, fc.boolean(), fc.boolean(), fc.nat({ max: 5 * 3600 })), {
          maxLength: 200,
        }),
        (flows) => {
          const numeric = new EdgeAggregator(3600);
          const text = new EdgeAggregator(3600);
          const key = (ip: string): number =>
            ipv4Number(ip) ?? numeric.ipv6Key(Uint16Array.from(parseIpv6(ip)!));
          const start = 1_763_596_800;
          flows.forEach(([src, dst, reply, asText, t], i) => {
            const o = observation({
              sourceKind: 'vpcflow',
              start: start + t,
              end: start + t + 60,
              srcAddr: src,
              dstAddr: dst,
              dstPort: 443,
              protocol: 6,
              action: 'accept',
              direction: 'egress',
              reply,
              packetsOut: reply ? 0 : 2,
              bytesOut: reply ? 0 : i,
              packetsIn: reply ? 2 : 0,
              bytesIn: reply ? i : 0,
            });
            text.add(o);
            // Half of them through the byte parser's path, into the aggregator that also sees text.
            if (asText) numeric.add(o);
            else
              numeric.addFlow(
                key(src),
                key(dst),
                443,
                6,
                false,
                false,
                reply,
                2,
                i,
                start + t,
                start + t + 60,
                1,
              );
          });
          const drain = (a: EdgeAggregator): Edge[] => Array.from(a.drainInOrder(), (e) => ({ ...e }));
          expect(drain(numeric)).toEqual(drain(text));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('keeps every edge through growth past its initial capacity, and starts empty after a drain', () => {
    const agg = new EdgeAggregator(3600);
    const obs: Observation[] = [];
    for (let i = 0; i < 70_000; i++) {
      obs.push(
        observation({
          sourceKind: 'vpcflow',
          start: 1_763_596_800 + (i % 48) * 1800,
          srcAddr: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
          dstAddr: '198.51.100.7',
          dstPort: 443,
          protocol: 6,
          bytesOut: i,
        }),
      );
    }
    for (const o of obs) agg.add(o);
    for (const o of obs.slice(0, 1000)) agg.add(o);
    expect(agg.size).toBe(70_000);
    const edges = agg.drain();
    expect(edges.reduce((s, e) => s + e.bytesOut, 0)).toBe(
      obs.reduce((s, o) => s + o.bytesOut, 0) + 999 * 500,
    );
    expect(agg.size).toBe(0);
    expect(agg.drain()).toEqual([]);
  });

  it('drains a port scan (one long run of one source, destination and bucket) in port order', () => {
    const agg = new EdgeAggregator(3600);
    const ports = Array.from({ length: 500 }, (_, i) => (i * 7919) % 65535);
    for (const port of ports)
      agg.addFlow(0x0a000001, 0x0a000002, port, 6, true, false, false, 1, 60, 3600, 3601, 1);
    const drained = Array.from(agg.drainInOrder(), (e) => e.dstPort);
    expect(drained).toEqual([...new Set(ports)].sort((a, b) => a - b));
  });

  it('merges partial results into the same edges', () => {
    const a = new EdgeAggregator(3600);
    const b = new EdgeAggregator(3600);
    const o = toObs({
      sourceKind: 'squid',
      start: 1_763_596_800,
      dur: 5,
      src: '10.0.0.9',
      dst: '192.0.2.1',
      host: 'api.example.com',
      port: 443,
      protocol: 6,
      action: 'accept',
      direction: 'egress',
      reply: false,
      n: 10,
    });
    a.add(o);
    b.add(o);
    b.add({ ...o, sourceKind: 'envoy' });
    a.merge(b.drain());
    expect(a.drain()).toEqual([expect.objectContaining({ flows: 3, bytesOut: 30, sources: 2 | 4 })]);
  });
});
