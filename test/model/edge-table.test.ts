import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Edge } from '../../src/model/edge.js';
import { edgesOf, K_DST, K_HOST, K_SRC, orderedOf } from '../../src/model/edge-table.js';

const edgeArb: fc.Arbitrary<Edge> = fc.record({
  // Up to the latest instant observations may carry, past 2^31: the key holds a bucket as an unsigned 32-bit number.
  bucket: fc.integer({ min: 0, max: 4_102_444_800 }).map((t) => t - (t % 3600)),
  srcAddr: fc.constantFrom('', '10.0.0.1', '2001:db8::1'),
  dstAddr: fc.constantFrom('', '192.0.2.1', '10.0.0.1'),
  // A host name may look like an address; it is still a name, and stays text.
  dstHost: fc.constantFrom('', 'api.example.com', '10.0.0.1'),
  dstPort: fc.integer({ min: 0, max: 65535 }),
  protocol: fc.integer({ min: 0, max: 255 }),
  action: fc.constantFrom('accept' as const, 'reject' as const),
  direction: fc.constantFrom('egress' as const, 'ingress' as const),
  flows: fc.nat(),
  replies: fc.nat(),
  packetsOut: fc.nat(),
  bytesOut: fc.maxSafeNat(),
  packetsIn: fc.nat(),
  bytesIn: fc.maxSafeNat(),
  firstSeen: fc.double({ min: 0, max: 2e9, noNaN: true }),
  lastSeen: fc.double({ min: 0, max: 2e9, noNaN: true }),
  sources: fc.integer({ min: 0, max: 255 }),
});

describe('EdgeTable', () => {
  it('gives back every edge it was built from, in order, with the empty string at index 0 only', () => {
    fc.assert(
      fc.property(fc.array(edgeArb, { maxLength: 50 }), (edges) => {
        const table = orderedOf(edges);
        expect(Array.from(edgesOf(table), (e) => ({ ...e }))).toEqual(edges);
        expect(table.values[0]).toBe('');
        expect(table.values.indexOf('', 1)).toBe(-1);
      }),
    );
  });

  it('walks the rows in the order given, not as stored', () => {
    fc.assert(
      fc.property(fc.array(edgeArb, { minLength: 1, maxLength: 30 }), (edges) => {
        const table = orderedOf(edges);
        const reversed = { ...table, order: table.order.slice().reverse() };
        expect(Array.from(edgesOf(reversed), (e) => ({ ...e }))).toEqual([...edges].reverse());
      }),
    );
  });

  it('holds IPv4 addresses as their numbers, as edge_rows stores them, and host names as text', () => {
    const base = {
      bucket: 0,
      dstPort: 443,
      protocol: 6,
      action: 'accept' as const,
      direction: 'egress' as const,
    };
    const counters = { flows: 1, replies: 0, packetsOut: 1, bytesOut: 1, packetsIn: 0, bytesIn: 0 };
    const table = orderedOf([
      {
        ...base,
        ...counters,
        srcAddr: '10.0.0.1',
        dstAddr: '2001:db8::1',
        dstHost: '10.0.0.1',
        firstSeen: 0,
        lastSeen: 0,
        sources: 1,
      },
    ]);
    expect(table.values[table.keys[K_SRC]!]).toBe(0x0a000001);
    expect(table.values[table.keys[K_DST]!]).toBe('2001:db8::1');
    expect(table.values[table.keys[K_HOST]!]).toBe('10.0.0.1');
  });
});
