import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Edge } from '../../src/model/edge.js';
import { columnsOf, edgesOf } from '../../src/model/edge-columns.js';

const edgeArb: fc.Arbitrary<Edge> = fc.record({
  bucket: fc.integer({ min: 0, max: 2_000_000_000 }).map((t) => t - (t % 3600)),
  srcAddr: fc.constantFrom('', '10.0.0.1', '2001:db8::1'),
  dstAddr: fc.constantFrom('', '192.0.2.1', '10.0.0.1'),
  dstHost: fc.constantFrom('', 'api.example.com'),
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

describe('EdgeColumns', () => {
  it('gives back every edge it was built from, in order, with the empty string at index 0 only', () => {
    fc.assert(
      fc.property(fc.array(edgeArb, { maxLength: 50 }), (edges) => {
        const cols = columnsOf(edges);
        expect(Array.from(edgesOf(cols), (e) => ({ ...e }))).toEqual(edges);
        expect(cols.strings[0]).toBe('');
        expect(cols.strings.indexOf('', 1)).toBe(-1);
      }),
    );
  });
});
