import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_LAYOUT,
  KNOWN_FIELDS,
  VpcFlowLineParser,
  parseVpcFlowLine,
} from '../../../collectors/vpcflow/index.js';
import { layoutOf, type FieldLayout } from '../../../collectors/vpcflow/fields.js';
import { parseVpcFlowBytes } from '../../../collectors/vpcflow/parse-bytes.js';
import { IPV6_KEYS, type FlowSink } from '../../../src/model/collector.js';
import { formatIpv6, ipv4Text } from '../../../src/model/ip.js';

/** What the byte path handed its sink, in the terms an `Observation` uses. */
function readBytes(line: string, layout: FieldLayout): Record<string, unknown> | null {
  let got: Record<string, unknown> | null = null;
  const v6: string[] = [];
  const text = (address: number): string =>
    address < IPV6_KEYS ? ipv4Text(address) : v6[address - IPV6_KEYS]!;
  const sink: FlowSink = {
    ipv6Key: (hextets) => IPV6_KEYS + v6.push(formatIpv6(Array.from(hextets))) - 1,
    flow(src, dst, dstPort, protocol, reject, ingress, reply, packets, bytes, start, end) {
      got = {
        src: text(src),
        dst: text(dst),
        dstPort,
        protocol,
        reject,
        ingress,
        reply,
        packets,
        bytes,
        start,
        end,
      };
    },
  };
  const buf = Buffer.from(`junk\n${line}\nmore`, 'utf8');
  const from = 5;
  const accepted = parseVpcFlowBytes(buf, from, from + Buffer.byteLength(line), layout, sink);
  expect(accepted).toBe(got !== null);
  return got;
}

/** The same, from the text parser's observation; null for a skip or reject. */
function readText(line: string, layout: FieldLayout): Record<string, unknown> | null {
  const out = parseVpcFlowLine(line, layout);
  if (out.kind !== 'observation') return null;
  const o = out.value;
  return {
    src: o.srcAddr,
    dst: o.dstAddr,
    dstPort: o.dstPort ?? 0,
    protocol: o.protocol ?? 0,
    reject: o.action === 'reject',
    ingress: o.direction === 'ingress',
    reply: o.reply,
    packets: o.reply ? o.packetsIn : o.packetsOut,
    bytes: o.reply ? o.bytesIn : o.bytesOut,
    start: o.start,
    end: o.end,
  };
}

/** A byte-path result must equal the text path's; a line the byte path declines may be anything. */
function expectAgreement(line: string, layout: FieldLayout): boolean {
  const bytes = readBytes(line, layout);
  if (bytes !== null) expect(bytes).toEqual(readText(line, layout));
  return bytes !== null;
}

const V5 = layoutOf(
  'version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport dstport pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status flow-direction traffic-path'.split(
    ' ',
  ),
);

const octet = fc.oneof(
  fc.integer({ min: 0, max: 255 }).map(String),
  fc.constantFrom('00', '01', '256', '1a', ''),
);
/** Mostly valid, sometimes not: the two paths must agree on both. */
const mostly = <T>(valid: fc.Arbitrary<T>, other: fc.Arbitrary<T>): fc.Arbitrary<T> =>
  fc.oneof({ arbitrary: valid, weight: 9 }, { arbitrary: other, weight: 1 });
/** IPv6 as logs may write it: any RFC 4291 form, in either case, IPv4-mapped, private, and broken. */
const ipv6ish = fc.oneof(
  fc.ipV6(),
  fc.ipV6().map((a) => a.toUpperCase()),
  fc.constantFrom(
    '::1',
    '::',
    '2001:db8::1',
    '2001:db8:0:0:0:0:0:1',
    '1::',
    'fc00::5',
    'fe80::1',
    'ff02::1',
    '::ffff:a00:1',
    '::ffff:c000:201',
    '::FFFF:10.0.0.1',
    'fe80::1%eth0',
    ':::',
    '1:::2',
    ':1',
    '1:',
    '1::2::3',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7::8',
    '12345::1',
    '2001:db8::g',
  ),
);
const ipv4ish = mostly(
  fc.oneof(fc.ipV4(), fc.constantFrom('10.0.0.1', '172.16.5.4', '192.168.1.1', '100.64.0.1', '169.254.1.1')),
  fc.oneof(
    fc.tuple(octet, octet, octet, octet).map((o) => o.join('.')),
    fc.constantFrom('-', '1.2.3.4.5'),
  ),
);
const address = fc.oneof({ arbitrary: ipv4ish, weight: 4 }, { arbitrary: ipv6ish, weight: 1 });
const num = mostly(
  fc.nat().map(String),
  fc.constantFrom('-', '9007199254740991', '9007199254740992', '12345678901234567', 'x', '01', ''),
);
const port = mostly(
  fc.oneof(
    fc.constantFrom('22', '80', '443', '3306', '53', '0', '33000', '49152'),
    fc.integer({ min: 0, max: 65535 }).map(String),
  ),
  fc.constantFrom('-', '65536', '1e3', '+1'),
);
const flags = mostly(fc.constantFrom('0', '2', '3', '18', '19', '1', '4'), fc.constantFrom('256', '-'));

describe('VPC flow byte parser', () => {
  it('reads the AWS documentation examples as the text parser does', () => {
    const lines = [
      '2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK',
      '2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 1418530010 1418530070 REJECT OK',
      '2 123456789010 eni-1235b8ca123456789 203.0.113.12 172.31.16.139 0 0 1 4 336 1432917027 1432917142 ACCEPT OK',
      '2 123456789010 eni-1235b8ca123456789 172.31.16.139 203.0.113.12 0 0 1 4 336 1432917094 1432917142 REJECT OK',
    ];
    for (const line of lines) expect(expectAgreement(line, DEFAULT_LAYOUT)).toBe(true);
    // A CRLF line is its line without the CR, as the text path gets it.
    expect(readBytes(`${lines[0]}\r`, DEFAULT_LAYOUT)).toEqual(readText(lines[0]!, DEFAULT_LAYOUT));
    // Bytes the text path keeps inside a field do not change what the fields that are read say; a tab splits the
    // field there, so the byte path leaves that line to the text path (which then counts one field too many).
    expect(expectAgreement(lines[0]!.replace('eni-', 'eni-\u00e9'), DEFAULT_LAYOUT)).toBe(true);
    expect(expectAgreement(lines[0]!.replace('eni-', 'eni-\t'), DEFAULT_LAYOUT)).toBe(false);
    expect(readText(lines[0]!.replace('eni-', 'eni-\t'), DEFAULT_LAYOUT)).toBeNull();
    const v5 =
      '5 vpc-1 subnet-2 i-3 eni-4 123456789010 IPv4 10.0.1.5 52.95.128.1 40001 443 10.0.1.5 52.95.128.1 6 5000 10 1418530010 1418530070 ACCEPT 3 OK egress 8';
    expect(expectAgreement(v5, V5)).toBe(true);
    expect(readBytes(v5, V5)).toMatchObject({
      src: '10.0.1.5',
      dst: '52.95.128.1',
      dstPort: 443,
      reply: false,
      ingress: false,
    });
  });

  it('reads IPv6 addresses as the text parser writes them, and an IPv4-mapped one as its IPv4 address', () => {
    const v6 =
      '2 123456789010 eni-1 2001:DB8:0:0:0:0:0:2 2001:db8::1 443 40000 6 1 2 1418530010 1418530070 ACCEPT OK';
    expect(expectAgreement(v6, DEFAULT_LAYOUT)).toBe(true);
    // The reply half of a call from a private address: flipped, and egress (the private side is local).
    expect(readBytes(v6.replace('2001:db8::1', 'fd00::7'), DEFAULT_LAYOUT)).toMatchObject({
      src: 'fd00::7',
      dst: '2001:db8::2',
      reply: true,
      ingress: false,
    });
    expect(readBytes(v6.replace('2001:DB8:0:0:0:0:0:2', '::ffff:a00:2'), DEFAULT_LAYOUT)).toMatchObject({
      dst: '10.0.0.2',
    });
  });

  it('declines what only the text parser may judge: headers, NODATA, unusual addresses, trailing white space, doubled spaces', () => {
    for (const line of [
      'version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status',
      '2 123456789010 eni-1 - - - - - - - 1431280876 1431280934 - NODATA',
      '2 123456789010 eni-1 ::ffff:10.0.0.1 2001:db8::2 443 40000 6 1 2 1418530010 1418530070 ACCEPT OK',
      '2 123456789010 eni-1 fe80::1%eth0 2001:db8::2 443 40000 6 1 2 1418530010 1418530070 ACCEPT OK',
      '2 123456789010 eni-1 10.0.0.1 10.0.0.2 40000 443 6 1 2 1418530010 1418530070 ACCEPT OK\t',
      '2 123456789010 eni-1 10.0.0.1 10.0.0.2 40000 443 6 1 2 1418530010 1418530070 ACCEPT OK\t\r',
      '2 123456789010 eni-1 10.0.0.1  10.0.0.2 40000 443 6 1 2 1418530010 1418530070 ACCEPT OK',
      '2 123456789010 eni-1 010.0.0.1 10.0.0.2 40000 443 6 1 2 1418530010 1418530070 ACCEPT OK',
      '2 123456789010 eni-1 10.0.0.1 10.0.0.2 40000 443 6 1 2 1418530010 1418530070 ACCEPT',
      '2 123456789010 eni-1 10.0.0.1 10.0.0.2 40000 443 6 1 2 1418530010 1418530070 ACCEPT OK OK',
      '',
    ])
      expect(readBytes(line, DEFAULT_LAYOUT)).toBeNull();
  });

  it('agrees with the text parser on generated version 2 records', () => {
    const time = mostly(fc.integer({ min: 0, max: 4_102_444_800 }), fc.constantFrom(4_102_444_801, -1));
    const record = fc.tuple(
      mostly(fc.constant('2'), fc.constantFrom('3', 'x')),
      mostly(fc.constant('eni-1'), fc.string({ unit: 'binary', minLength: 1 })),
      address,
      address,
      port,
      port,
      mostly(fc.constantFrom('6', '17', '1'), fc.constantFrom('256', '-')),
      num,
      num,
      time,
      mostly(fc.nat({ max: 600 }), fc.constant(-5)),
      mostly(fc.constantFrom('ACCEPT', 'REJECT'), fc.constantFrom('accept', '-')),
      mostly(fc.constant('OK'), fc.constantFrom('NODATA', 'SKIPDATA', 'ok')),
      mostly(fc.constant(0), fc.constantFrom(1, 2)),
    );
    let accepted = 0;
    fc.assert(
      fc.property(record, (r) => {
        const [version, eni, src, dst, sp, dp, proto, packets, bytes, start, duration, action, status, cut] =
          r;
        const end = start < 0 ? '-' : String(start + duration);
        const fields = [version, '123456789010', eni, src, dst, sp, dp, proto, packets, bytes];
        const all = [...fields, start < 0 ? '-' : String(start), end, action, status];
        // Now and then a field too few or too many.
        const line = (cut === 1 ? all.slice(0, -1) : cut === 2 ? [...all, 'OK'] : all).join(' ');
        if (expectAgreement(line, DEFAULT_LAYOUT)) accepted++;
      }),
      { numRuns: 3000 },
    );
    // The generator makes valid lines often enough that the byte path is really exercised.
    expect(accepted).toBeGreaterThan(300);
  });

  it('agrees with the text parser on generated version 5 records in any field order', () => {
    const record = fc.record({
      src: address,
      dst: address,
      pktSrc: address,
      pktDst: address,
      srcPort: port,
      dstPort: port,
      flags,
      direction: mostly(fc.constantFrom('ingress', 'egress'), fc.constantFrom('-', 'sideways')),
      path: mostly(fc.constantFrom('1', '8'), fc.constantFrom('-', '300')),
      start: mostly(fc.constant('1418530010'), fc.constantFrom('-', '1418530200')),
      end: mostly(fc.constant('1418530070'), fc.constantFrom('-', '1418530000')),
    });
    const order = fc.shuffledSubarray([...V5.names], { minLength: V5.names.length });
    let accepted = 0;
    fc.assert(
      fc.property(record, order, (r, names) => {
        const layout = layoutOf(names);
        const value: Record<string, string> = {
          version: '5',
          'vpc-id': 'vpc-1',
          'subnet-id': 'subnet-1',
          'instance-id': 'i-1',
          'interface-id': 'eni-1',
          'account-id': '123456789010',
          type: 'IPv4',
          srcaddr: r.src,
          dstaddr: r.dst,
          srcport: r.srcPort,
          dstport: r.dstPort,
          'pkt-srcaddr': r.pktSrc,
          'pkt-dstaddr': r.pktDst,
          protocol: '6',
          bytes: '100',
          packets: '2',
          start: r.start,
          end: r.end,
          action: 'ACCEPT',
          'tcp-flags': r.flags,
          'log-status': 'OK',
          'flow-direction': r.direction,
          'traffic-path': r.path,
        };
        if (expectAgreement(names.map((n) => value[n]).join(' '), layout)) accepted++;
      }),
      { numRuns: 3000 },
    );
    expect(accepted).toBeGreaterThan(300);
  });

  it('reads with the layout a header line announced, through the line parser', () => {
    const parser = new VpcFlowLineParser();
    const header = [...KNOWN_FIELDS].filter((f) => V5.names.includes(f)).join(' ');
    expect(parser.parse(header)).toEqual({ kind: 'skip', reason: 'header' });
    const line = parser.layout.names
      .map(
        (n) =>
          ({
            srcaddr: '10.0.0.9',
            dstaddr: '10.0.0.10',
            srcport: '40000',
            dstport: '5432',
            start: '1418530010',
            end: '1418530070',
            action: 'ACCEPT',
            'log-status': 'OK',
            'flow-direction': 'egress',
            'tcp-flags': '2',
            'traffic-path': '1',
            'pkt-srcaddr': '-',
            'pkt-dstaddr': '-',
          })[n] ?? '1',
      )
      .join(' ');
    let port = -1;
    const buf = Buffer.from(line);
    expect(
      parser.parseBytes(buf, 0, buf.length, { ipv6Key: () => IPV6_KEYS, flow: (_s, _d, p) => (port = p) }),
    ).toBe(true);
    expect(port).toBe(5432);
  });
});
