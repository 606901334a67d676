import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { LineParser } from '../../src/model/collector.js';
import { BatchReader, type KafkaRecord } from '../../src/pipeline/batch-reader.js';
import { kafkaFormat, type KafkaFormat } from '../../src/pipeline/kafka-format.js';
import { mutatedLine } from '../helpers/fuzz-lines.js';
import { V2_HEADER, vpcRecord } from '../helpers/vpc-lines.js';

/**
 * The consumer reads a flow-log value straight from its bytes where the byte parser can; this holds it to what
 * reading every line as text gives (the reference: the same parser without `parseBytes`).
 */
const VPC = kafkaFormat('vpc-flow');

function textOnly(format: KafkaFormat): KafkaFormat {
  if (format.kind !== 'observations') throw new Error('an observations format');
  const c = format.collector;
  return {
    ...format,
    collector: {
      ...c,
      createParser(options, state): LineParser {
        const p = c.createParser(options, state);
        return {
          parse: (t) => p.parse(t),
          parseInto: (t, into) => p.parseInto!(t, into),
          snapshot: () => p.snapshot!(),
        };
      },
    },
  };
}

const V5_HEADER =
  'version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport dstport pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status flow-direction traffic-path';
const REAL = [
  vpcRecord(1),
  vpcRecord(2),
  vpcRecord(97),
  '2 123456789012 eni-0a1b2c3d4e5f60718 2001:db8::10 2606:4700::6810:85e5 50412 443 6 12 3400 1763596800 1763596860 ACCEPT OK',
  '2 123456789012 eni-0a1b2c3d4e5f60718 - - - - - - - 1763596800 1763596860 - NODATA',
  V2_HEADER,
  V5_HEADER,
  '5 vpc-0a1b2c3d subnet-0a1b2c3d i-0a1b2c3d4e5f60718 eni-0a1b2c3d4e5f60718 123456789012 IPv4 10.0.1.5 52.216.10.5 43418 443 10.0.1.5 52.216.10.5 6 840 10 1763596800 1763596860 ACCEPT 2 OK egress 8',
  '5 vpc-0a1b2c3d subnet-0a1b2c3d i-0a1b2c3d4e5f60718 eni-0a1b2c3d4e5f60718 123456789012 IPv4 52.216.10.5 10.0.1.5 443 43418 52.216.10.5 10.0.1.5 6 4200 9 1763596800 1763596860 ACCEPT 18 OK ingress -',
  JSON.stringify({ log: vpcRecord(3), stream: 'stdout' }),
  JSON.stringify({
    messageType: 'DATA_MESSAGE',
    logEvents: [{ message: vpcRecord(4) }, { message: 'nonsense' }],
  }),
  `  ${vpcRecord(5)}`,
  '',
  'not a flow record',
];

function readAll(format: KafkaFormat, values: readonly Buffer[]) {
  const reader = new BatchReader(format, {}, 3600, null);
  reader.resetPartition(0, null);
  const messages: KafkaRecord[] = values.map((value, i) => ({ offset: String(i), value, timestamp: '0' }));
  const { sums } = reader.readBatch('flows', 0, messages);
  const edges = reader.edges.drain().sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
  return { edges, sums, state: reader.parserState(0) };
}

describe('BatchReader: flow-log values read from bytes', () => {
  it('gives what reading every line as text gives: edges, counters, quarantine, dead letters, parser state', () => {
    const lines = fc.oneof(fc.constantFrom(...REAL), mutatedLine(REAL));
    const value = fc
      .tuple(
        fc.array(lines, { minLength: 1, maxLength: 12 }),
        fc.constantFrom('\n', '\r\n'),
        fc.boolean(),
        fc.boolean(),
      )
      .map(([l, eol, last, gzip]) => {
        const b = Buffer.from(l.join(eol) + (last ? eol : ''), 'utf8');
        return gzip ? gzipSync(b) : b;
      });
    fc.assert(
      fc.property(fc.array(value, { minLength: 1, maxLength: 6 }), (values) => {
        expect(readAll(VPC, values)).toEqual(readAll(textOnly(VPC), values));
      }),
      { numRuns: 400 },
    );
  });

  it('takes plain records from bytes (every record stored) and numbers the lines it cannot read as the text path does', () => {
    const value = Buffer.from(
      [vpcRecord(1), '', vpcRecord(2), 'garbage here', vpcRecord(3), ''].join('\r\n'),
    );
    const { sums, edges } = readAll(VPC, [value, Buffer.alloc(0), gzipSync(value)]);
    expect(sums.counts.records).toBe(8);
    expect(sums.counts.stored).toBe(6);
    expect(sums.counts.malformed).toBe(2);
    expect(sums.quarantine.map((q) => [q.sourceName, q.lineNo, q.raw])).toEqual([
      ['flows/0@0', 3, 'garbage here'],
      ['flows/0@2', 3, 'garbage here'],
    ]);
    expect(sums.deadLetters.map((d) => d.offset)).toEqual([0, 2]);
    const bytes = (i: number) => Number(vpcRecord(i).split(' ')[9]);
    const total = edges.reduce((s, e) => s + e.bytesOut + e.bytesIn, 0);
    expect(total).toBe(2 * (bytes(1) + bytes(2) + bytes(3)));
    expect(sums.firstTime).not.toBeNull();
  });

  it('refuses a binary value whole, as one record, before reading any line of it', () => {
    const value = Buffer.concat([Buffer.from(`${vpcRecord(1)}\n`), Buffer.from([0x00, 0x01])]);
    const sums = readAll(VPC, [value]).sums;
    expect(sums.counts).toMatchObject({ records: 1, stored: 0, malformed: 1 });
    expect(sums.reasons).toEqual({ not_text: 1 });
  });
});
