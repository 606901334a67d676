import { describe, expect, it } from 'vitest';
import { decodeEdgeDelta, encodeEdgeDelta, type EdgeDelta } from '../../src/pipeline/edge-delta.js';

const T0 = 1_763_596_800; // 2025-11-20T00:00:00Z

const delta: EdgeDelta = {
  v: 1,
  source: 'flows/3',
  offsets: [1200, 1999],
  bucketSeconds: 3600,
  counts: { records: 800, stored: 797, skipped: 1, malformed: 2 },
  firstTime: T0 + 12.5,
  lastTime: T0 + 3540,
  edges: [
    {
      bucket: T0,
      srcAddr: '10.0.1.5',
      dstAddr: '52.216.10.5',
      dstHost: '',
      dstPort: 443,
      protocol: 6,
      action: 'accept',
      direction: 'egress',
      flows: 400,
      replies: 390,
      packetsOut: 4000,
      bytesOut: 336_000,
      packetsIn: 3900,
      bytesIn: 5_000_000_000, // beyond 32 bits
      firstSeen: T0 + 12.5,
      lastSeen: T0 + 3540,
      sources: 1,
    },
    {
      bucket: T0,
      srcAddr: '10.0.1.6',
      dstAddr: '',
      dstHost: 'api.github.com',
      dstPort: 443,
      protocol: 6,
      action: 'reject',
      direction: 'ingress',
      flows: 7,
      replies: 0,
      packetsOut: 0,
      bytesOut: 0,
      packetsIn: 0,
      bytesIn: 0,
      firstSeen: T0 + 60,
      lastSeen: T0 + 60,
      sources: 6,
    },
  ],
  quarantine: [
    {
      sourceId: 'kafka:flows/3@1500',
      sourceName: 'flows/3@1500',
      kind: 'vpc-flow',
      lineNo: 2,
      reason: 'field_count',
      raw: 'this is not a "flow" line\twith a tab and ünïcödé',
    },
  ],
};

describe('edge deltas between stage 1 and stage 2', () => {
  it('decodes what it encodes, field for field', () => {
    expect(decodeEdgeDelta(encodeEdgeDelta(delta))).toEqual({ kind: 'delta', value: delta });
  });

  it('keeps a delta without edges, quarantine or times (a batch of skipped lines)', () => {
    const empty: EdgeDelta = {
      ...delta,
      counts: { records: 3, stored: 0, skipped: 3, malformed: 0 },
      firstTime: null,
      lastTime: null,
      edges: [],
      quarantine: [],
    };
    expect(decodeEdgeDelta(encodeEdgeDelta(empty))).toEqual({ kind: 'delta', value: empty });
  });

  it('writes edges as 17-field arrays in the documented order, not as objects', () => {
    const doc = JSON.parse(encodeEdgeDelta(delta)) as { edges: unknown[][] };
    expect(doc.edges[1]).toEqual([
      T0,
      '10.0.1.6',
      '',
      'api.github.com',
      443,
      6,
      'reject',
      'ingress',
      7,
      0,
      0,
      0,
      0,
      0,
      T0 + 60,
      T0 + 60,
      6,
    ]);
  });
});

describe('decodeEdgeDelta refuses what is not a version-1 delta, as bad_delta, without throwing', () => {
  const good = JSON.parse(encodeEdgeDelta(delta)) as Record<string, unknown> & { edges: unknown[][] };
  const withEdge = (i: number, value: unknown) => ({
    ...good,
    edges: [good.edges[0]!.map((x, j) => (j === i ? value : x))],
  });
  const cases: [string, string][] = [
    ['not JSON', '{"v":1,"source":'],
    [
      'a raw log line',
      '2 123456789012 eni-0a1b2c3d4e5f60718 10.0.1.5 52.216.10.5 43418 443 6 10 840 1 2 ACCEPT OK',
    ],
    ['JSON null', 'null'],
    ['a JSON array', '[1,2,3]'],
    ['another version', JSON.stringify({ ...good, v: 2 })],
    ['no source', JSON.stringify({ ...good, source: undefined })],
    ['one offset', JSON.stringify({ ...good, offsets: [1200] })],
    ['a string offset', JSON.stringify({ ...good, offsets: ['1200', 1999] })],
    ['no bucket width', JSON.stringify({ ...good, bucketSeconds: null })],
    ['a counter missing', JSON.stringify({ ...good, counts: { records: 1, stored: 1, skipped: 0 } })],
    ['a counter as text', JSON.stringify({ ...good, counts: { ...(good.counts as object), stored: '797' } })],
    ['edges not a list', JSON.stringify({ ...good, edges: {} })],
    ['no quarantine list', JSON.stringify({ ...good, quarantine: undefined })],
    ['an edge of 16 fields', JSON.stringify({ ...good, edges: [good.edges[0]!.slice(0, 16)] })],
    ['an edge as an object', JSON.stringify({ ...good, edges: [delta.edges[0]] })],
    ['an unknown action', JSON.stringify(withEdge(6, 'allow'))],
    ['an unknown direction', JSON.stringify(withEdge(7, 'sideways'))],
    ['a port as text', JSON.stringify(withEdge(4, '443'))],
    ['a null counter', JSON.stringify(withEdge(12, null))],
    // Numbers the store packs into an edge's key: out of range they would land on another edge.
    ['a port past 65535', JSON.stringify(withEdge(4, 65536))],
    ['a negative port', JSON.stringify(withEdge(4, -1))],
    ['a fractional port', JSON.stringify(withEdge(4, 443.5))],
    ['a protocol past 255', JSON.stringify(withEdge(5, 256))],
    ['a bucket off the bucket width', JSON.stringify(withEdge(0, T0 + 60))],
    ['a bucket past 32-bit bucket indexes', JSON.stringify(withEdge(0, 3600 * 2 ** 32))],
    ['a negative bucket', JSON.stringify(withEdge(0, -3600))],
    ['a zero bucket width', JSON.stringify({ ...good, bucketSeconds: 0 })],
    ['a negative byte count', JSON.stringify(withEdge(11, -5))],
    ['a fractional flow count', JSON.stringify(withEdge(8, 1.5))],
    [
      'a negative record count',
      JSON.stringify({ ...good, counts: { ...(good.counts as object), records: -1 } }),
    ],
    ['no source kind', JSON.stringify(withEdge(16, 0))],
    ['a source-kind mask past 31 bits', JSON.stringify(withEdge(16, 2 ** 31))],
    ['a numeric address', JSON.stringify(withEdge(1, 167772421))],
    // Text that is not a canonical address would be a new key; a number-like one would pass for an IPv4 address.
    ['an address of digits', JSON.stringify(withEdge(1, '3232235777'))],
    ['a non-canonical address', JSON.stringify(withEdge(2, '010.0.0.1'))],
    ['a host name as address', JSON.stringify(withEdge(2, 'example.com'))],
    [
      'a quarantine row without raw',
      JSON.stringify({ ...good, quarantine: [{ ...delta.quarantine[0]!, raw: undefined }] }),
    ],
    ['a quarantine row that is null', JSON.stringify({ ...good, quarantine: [null] })],
  ];
  it.each(cases)('%s', (_what, text) => {
    expect(decodeEdgeDelta(text)).toEqual({ kind: 'reject', reason: 'bad_delta' });
  });
});
