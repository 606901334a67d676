import fc from 'fast-check';
import { describe, it, expect } from 'vitest';
import { DEFAULT_LAYOUT, KNOWN_FIELDS, V2_FIELDS } from '../../../collectors/vpcflow/fields.js';
import { VpcFlowLineParser } from '../../../collectors/vpcflow/index.js';
import {
  VPC_FLOW_REJECT_REASONS,
  VPC_FLOW_SKIP_REASONS,
  parseVpcFlowLine,
} from '../../../collectors/vpcflow/parse.js';
import { canonicalIp } from '../../../src/model/ip.js';
import type { ParseOutcome } from '../../../src/model/parse-outcome.js';

const RUNS = { numRuns: 2000 };

/** Every outcome is one of the three kinds, and skip / reject reasons come from the bounded lists. */
function expectBounded(outcome: ParseOutcome): void {
  if (outcome.kind === 'reject') expect(VPC_FLOW_REJECT_REASONS).toContain(outcome.reason);
  else if (outcome.kind === 'skip') expect(VPC_FLOW_SKIP_REASONS).toContain(outcome.reason);
  else expect(outcome.kind).toBe('observation');
}

/** Tokens that look like flow log fields, and some that nearly do. */
const token = fc.oneof(
  fc.constantFrom('-', 'ACCEPT', 'REJECT', 'OK', 'NODATA', 'SKIPDATA', 'ingress', 'egress', 'IPv4', 'IPv6'),
  fc.constantFrom(...KNOWN_FIELDS),
  fc.ipV4(),
  fc.ipV6(),
  fc.nat().map(String),
  fc.bigInt({ min: 0n, max: 2n ** 64n }).map(String),
  fc.integer().map(String),
  fc.string({ maxLength: 8 }),
);
const tokenLine = fc
  .tuple(fc.array(token, { minLength: 0, maxLength: 32 }), fc.constantFrom(' ', '  ', '\t', ','))
  .map(([tokens, separator]) => tokens.join(separator));

describe('parseVpcFlowLine never throws', () => {
  it('returns a bounded outcome for any string', () => {
    fc.assert(
      fc.property(fc.string(), (text) => expectBounded(parseVpcFlowLine(text, DEFAULT_LAYOUT))),
      RUNS,
    );
  });

  it('returns a bounded outcome for any full-Unicode string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) =>
        expectBounded(parseVpcFlowLine(text, DEFAULT_LAYOUT)),
      ),
      RUNS,
    );
  });

  it('returns a bounded outcome for lines of flow-log-like tokens', () => {
    fc.assert(
      fc.property(tokenLine, (text) => expectBounded(parseVpcFlowLine(text, DEFAULT_LAYOUT))),
      RUNS,
    );
  });

  it('keeps a stateful parser bounded across random headers and records', () => {
    const header = fc.shuffledSubarray([...KNOWN_FIELDS], { minLength: 1 }).map((names) => names.join(' '));
    fc.assert(
      fc.property(fc.array(fc.oneof(header, tokenLine, fc.string()), { maxLength: 20 }), (lines) => {
        const parser = new VpcFlowLineParser();
        for (const line of lines) expectBounded(parser.parse(line));
      }),
      { numRuns: 500 },
    );
  });
});

describe('generated valid records', () => {
  const record = fc.record({
    src: fc.oneof(fc.ipV4(), fc.ipV6()),
    dst: fc.oneof(fc.ipV4(), fc.ipV6()),
    srcPort: fc.integer({ min: 0, max: 65535 }),
    dstPort: fc.integer({ min: 0, max: 65535 }),
    protocol: fc.integer({ min: 0, max: 255 }),
    packets: fc.nat(),
    bytes: fc.maxSafeNat(),
    start: fc.integer({ min: 0, max: 4_000_000_000 }),
    duration: fc.nat({ max: 600 }),
    action: fc.constantFrom('ACCEPT', 'REJECT'),
  });

  it('parse back to their fields, flipped or not', () => {
    fc.assert(
      fc.property(record, (r) => {
        const line = [
          2,
          '123456789010',
          'eni-1235b8ca123456789',
          r.src,
          r.dst,
          r.srcPort,
          r.dstPort,
          r.protocol,
          r.packets,
          r.bytes,
          r.start,
          r.start + r.duration,
          r.action,
          'OK',
        ].join(' ');
        const outcome = parseVpcFlowLine(line, DEFAULT_LAYOUT);
        if (outcome.kind !== 'observation') throw new Error(`${line}: ${JSON.stringify(outcome)}`);
        const o = outcome.value;
        const logged = {
          src: [o.srcAddr, o.srcPort],
          dst: [o.dstAddr, o.dstPort],
          packets: o.packetsOut + o.packetsIn,
          bytes: o.bytesOut + o.bytesIn,
        };
        if (o.reply) [logged.src, logged.dst] = [logged.dst, logged.src];
        expect(logged).toEqual({
          src: [canonicalIp(r.src), r.srcPort],
          dst: [canonicalIp(r.dst), r.dstPort],
          packets: r.packets,
          bytes: r.bytes,
        });
        expect(o.reply ? [o.packetsOut, o.bytesOut] : [o.packetsIn, o.bytesIn]).toEqual([0, 0]);
        expect([o.start, o.end, o.protocol, o.action]).toEqual([
          r.start,
          r.start + r.duration,
          r.protocol,
          r.action.toLowerCase(),
        ]);
        expect([o.sourceKind, o.accountId, o.interfaceId]).toEqual([
          'vpcflow',
          '123456789010',
          'eni-1235b8ca123456789',
        ]);
      }),
      RUNS,
    );
  });

  it('parse the same in any field order announced by a header', () => {
    fc.assert(
      fc.property(
        record,
        fc.shuffledSubarray([...V2_FIELDS], { minLength: V2_FIELDS.length }),
        (r, order) => {
          const values: Record<string, string | number> = {
            version: 2,
            'account-id': '123456789010',
            'interface-id': 'eni-1235b8ca123456789',
            srcaddr: r.src,
            dstaddr: r.dst,
            srcport: r.srcPort,
            dstport: r.dstPort,
            protocol: r.protocol,
            packets: r.packets,
            bytes: r.bytes,
            start: r.start,
            end: r.start + r.duration,
            action: r.action,
            'log-status': 'OK',
          };
          const v2 = V2_FIELDS.map((name) => values[name]).join(' ');
          const shuffled = order.map((name) => values[name]).join(' ');
          const parser = new VpcFlowLineParser();
          expect(parser.parse(order.join(' '))).toEqual({ kind: 'skip', reason: 'header' });
          expect(parser.parse(shuffled)).toEqual(parseVpcFlowLine(v2, DEFAULT_LAYOUT));
        },
      ),
      { numRuns: 500 },
    );
  });
});
