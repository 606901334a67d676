import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { describe, it, expect } from 'vitest';
import {
  DEFAULT_LAYOUT,
  KNOWN_FIELDS,
  V2_FIELDS,
  parseFieldList,
} from '../../../collectors/vpcflow/fields.js';
import type { FieldLayout } from '../../../collectors/vpcflow/fields.js';
import { VpcFlowLineParser, vpcFlowCollector } from '../../../collectors/vpcflow/index.js';
import {
  isServicePort,
  localSide,
  openerByPorts,
  openerByTcpFlags,
  orient,
} from '../../../collectors/vpcflow/orient.js';
import {
  VPC_FLOW_REJECT_REASONS,
  parseVpcFlowHeader,
  parseVpcFlowLine,
} from '../../../collectors/vpcflow/parse.js';
import { UsageError } from '../../../src/model/errors.js';
import { observation } from '../../../src/model/observation.js';
import type { Observation } from '../../../src/model/observation.js';
import { ParseOutcome } from '../../../src/model/parse-outcome.js';

/** The lines of a fixture file, without the final newline. */
function fixture(name: string): string[] {
  const text = readFileSync(new URL(`../../fixtures/vpcflow/${name}`, import.meta.url), 'utf8');
  return text.replace(/\n$/, '').split('\n');
}

function parseAll(lines: readonly string[], parser = new VpcFlowLineParser()): ParseOutcome[] {
  return lines.map((line) => parser.parse(line));
}

/** The expected outcome for a VPC flow observation; unspecified fields take the factory defaults. */
function seen(fields: Partial<Observation>): ParseOutcome {
  return ParseOutcome.observation(observation({ sourceKind: 'vpcflow', ...fields }));
}

function layout(fields: string): FieldLayout {
  const result = parseFieldList(fields);
  if (!result.ok) throw new Error(result.error);
  return result.layout;
}

function valueOf(outcome: ParseOutcome): Observation {
  if (outcome.kind !== 'observation')
    throw new Error(`expected an observation, got ${JSON.stringify(outcome)}`);
  return outcome.value;
}

const SSH_ACCEPT =
  '2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK';

describe('parseVpcFlowLine, default format (AWS flow log record examples)', () => {
  it('reads accepted and rejected records, NODATA and SKIPDATA, ICMP and IPv6', () => {
    const v2 = { accountId: '123456789010', interfaceId: 'eni-1235b8ca123456789' } as const;
    expect(parseAll(fixture('default-format.log'))).toEqual([
      seen({
        ...v2,
        start: 1418530010,
        end: 1418530070,
        srcAddr: '172.31.16.139',
        srcPort: 20641,
        dstAddr: '172.31.16.21',
        dstPort: 22,
        protocol: 6,
        action: 'accept',
        direction: 'egress',
        orientation: 'ports',
        packetsOut: 20,
        bytesOut: 4249,
      }),
      seen({
        ...v2,
        start: 1418530010,
        end: 1418530070,
        srcAddr: '172.31.9.69',
        srcPort: 49761,
        dstAddr: '172.31.9.12',
        dstPort: 3389,
        protocol: 6,
        action: 'reject',
        direction: 'egress',
        orientation: 'ports',
        packetsOut: 20,
        bytesOut: 4249,
      }),
      ParseOutcome.skip('nodata'),
      ParseOutcome.skip('skipdata'),
      // ICMP carries no ports and no tcp-flags: taken as logged; the private side is local, so the ping in
      // is ingress and the (rejected) answer out is, as far as a flow log can tell, egress.
      seen({
        ...v2,
        start: 1432917027,
        end: 1432917142,
        srcAddr: '203.0.113.12',
        srcPort: 0,
        dstAddr: '172.31.16.139',
        dstPort: 0,
        protocol: 1,
        action: 'accept',
        direction: 'ingress',
        orientation: 'as-logged',
        packetsOut: 4,
        bytesOut: 336,
      }),
      seen({
        ...v2,
        start: 1432917094,
        end: 1432917142,
        srcAddr: '172.31.16.139',
        srcPort: 0,
        dstAddr: '203.0.113.12',
        dstPort: 0,
        protocol: 1,
        action: 'reject',
        direction: 'egress',
        orientation: 'as-logged',
        packetsOut: 4,
        bytesOut: 336,
      }),
      seen({
        ...v2,
        start: 1477913708,
        end: 1477913820,
        srcAddr: '2001:db8:1234:a100:8d6e:3477:df66:f105',
        srcPort: 34892,
        dstAddr: '2001:db8:1234:a102:3304:8879:34cf:4071',
        dstPort: 22,
        protocol: 6,
        action: 'accept',
        direction: 'egress',
        orientation: 'ports',
        packetsOut: 54,
        bytesOut: 8855,
      }),
    ]);
  });

  it('quarantines broken records with a bounded reason each', () => {
    const outcomes = fixture('broken.log').map((line) => parseVpcFlowLine(line, DEFAULT_LAYOUT));
    expect(outcomes.map((o) => (o.kind === 'reject' ? o.reason : o.kind))).toEqual([
      'field_count', // log-status cut off
      'field_count', // one field too many
      'bad_ip', // 172.31.16.300
      'bad_ip', // IPv6 with a zone id
      'bad_port', // 70000
      'bad_port', // 0x50
      'bad_protocol', // 256
      'bad_count', // -20 packets
      'bad_count', // bytes beyond 2^53
      'bad_time', // end before start
      'bad_time', // 1e9
      'bad_action', // ALLOW
      'bad_log_status', // FAILED
      'missing_field', // srcaddr '-' on an OK record
      'missing_field', // start '-' on an OK record
      'field_count', // truncated line
      'field_count', // not a flow log at all
    ]);
    for (const o of outcomes) if (o.kind === 'reject') expect(VPC_FLOW_REJECT_REASONS).toContain(o.reason);
  });

  it('reads a line with CRLF, tabs or doubled spaces the same as a tidy one', () => {
    const tidy = parseVpcFlowLine(SSH_ACCEPT, DEFAULT_LAYOUT);
    expect(tidy.kind).toBe('observation');
    expect(parseVpcFlowLine(`${SSH_ACCEPT}\r`, DEFAULT_LAYOUT)).toEqual(tidy);
    expect(parseVpcFlowLine(`  ${SSH_ACCEPT.replaceAll(' ', ' \t ')}  `, DEFAULT_LAYOUT)).toEqual(tidy);
    // Tab-separated (a TSV export), with no space at all and nothing at either end.
    expect(parseVpcFlowLine(SSH_ACCEPT.replaceAll(' ', '\t'), DEFAULT_LAYOUT)).toEqual(tidy);
  });

  it('calls a record wrapped in tab-separated columns (CloudWatch text output) a field_count, not a bad field', () => {
    // Split on spaces alone it has 14 fields, the first and last holding tabs.
    const wrapped = `EVENTS\t3823847584\t1418530070000\teni-1235b8ca123456789-all\t${SSH_ACCEPT}\t1418530071000`;
    expect(parseVpcFlowLine(wrapped, DEFAULT_LAYOUT)).toEqual(ParseOutcome.reject('field_count'));
  });

  it('skips blank lines', () => {
    expect(parseVpcFlowLine('', DEFAULT_LAYOUT)).toEqual(ParseOutcome.skip('blank'));
    expect(parseVpcFlowLine(' \t\r', DEFAULT_LAYOUT)).toEqual(ParseOutcome.skip('blank'));
  });

  it('skips a header line, even with the layout it does not match', () => {
    expect(parseVpcFlowLine(V2_FIELDS.join(' '), DEFAULT_LAYOUT)).toEqual(ParseOutcome.skip('header'));
    expect(parseVpcFlowLine(fixture('traffic-path-v5.log')[0]!, DEFAULT_LAYOUT)).toEqual(
      ParseOutcome.skip('header'),
    );
  });

  it('stores IPv6 addresses in RFC 5952 form', () => {
    const line =
      '2 123456789010 eni-1235b8ca123456789 2001:DB8:0:0:0:0:0:1 2001:0db8:0000:0000:0000:0000:0000:00ff ' +
      '51000 443 6 5 500 1477913708 1477913820 ACCEPT OK';
    const value = valueOf(parseVpcFlowLine(line, DEFAULT_LAYOUT));
    expect([value.srcAddr, value.dstAddr]).toEqual(['2001:db8::1', '2001:db8::ff']);
  });

  it('treats a no-flow record as NODATA when the format has no log-status', () => {
    const fields = layout('version interface-id srcaddr dstaddr srcport dstport start end action');
    expect(parseVpcFlowLine('2 eni-1235b8ca123456789 - - - - 1431280876 1431280934 -', fields)).toEqual(
      ParseOutcome.skip('nodata'),
    );
  });

  it('builds observations with the key order of the observation() factory (one hidden class)', () => {
    const value = valueOf(parseVpcFlowLine(SSH_ACCEPT, DEFAULT_LAYOUT));
    expect(Object.keys(value)).toEqual(Object.keys(observation({ sourceKind: 'vpcflow' })));
  });
});

describe('parseVpcFlowLine, custom formats', () => {
  const v3ids = {
    accountId: '123456789010',
    interfaceId: 'eni-1235b8ca123456789',
    instanceId: 'i-01234567890123456',
    vpcId: 'vpc-abcdefab012345678',
    subnetId: 'subnet-aaaaaaaa012345678',
    pktSrcAddr: '52.213.180.42',
    pktDstAddr: '10.0.0.62',
  } as const;
  // Every record of the example is one conversation: 52.213.180.42 (internet) opens to 10.0.0.62:5001.
  const inbound = {
    ...v3ids,
    srcAddr: '52.213.180.42',
    dstAddr: '10.0.0.62',
    dstPort: 5001,
    protocol: 6,
    action: 'accept',
    direction: 'ingress',
  } as const;
  const firstWindow = { start: 1566848875, end: 1566848933 } as const;

  it('flips a SYN-ACK reply half into its request edge, with its traffic as bytesIn (v3 TCP flag sequence)', () => {
    expect(parseAll(fixture('tcp-flags-v3.log'))).toEqual([
      ParseOutcome.skip('header'),
      seen({
        ...inbound,
        ...firstWindow,
        srcPort: 43416,
        orientation: 'tcp-flags',
        packetsOut: 8,
        bytesOut: 568,
      }),
      seen({
        ...inbound,
        ...firstWindow,
        srcPort: 43416,
        orientation: 'tcp-flags',
        reply: true,
        packetsIn: 7,
        bytesIn: 376,
      }),
      seen({
        ...inbound,
        ...firstWindow,
        srcPort: 43418,
        orientation: 'tcp-flags',
        packetsOut: 70,
        bytesOut: 100701,
      }),
      seen({
        ...inbound,
        ...firstWindow,
        srcPort: 43418,
        orientation: 'tcp-flags',
        reply: true,
        packetsIn: 12,
        bytesIn: 632,
      }),
      // FIN-only windows say nothing about the opener: the ports do (5001 registered, 43418 ephemeral).
      seen({
        ...inbound,
        start: 1566848933,
        end: 1566849113,
        srcPort: 43418,
        orientation: 'ports',
        reply: true,
        packetsIn: 1219,
        bytesIn: 63388,
      }),
      seen({
        ...inbound,
        start: 1566848933,
        end: 1566849113,
        srcPort: 43418,
        orientation: 'ports',
        packetsOut: 15774,
        bytesOut: 23294588,
      }),
      // A short connection: SYN|FIN (3) on the client's half, SYN-ACK|FIN (19) on the server's.
      seen({
        ...inbound,
        start: 1566933133,
        end: 1566933193,
        srcPort: 43638,
        orientation: 'tcp-flags',
        packetsOut: 17,
        bytesOut: 1260,
      }),
      seen({
        ...inbound,
        start: 1566933133,
        end: 1566933193,
        srcPort: 43638,
        orientation: 'tcp-flags',
        reply: true,
        packetsIn: 14,
        bytesIn: 967,
      }),
    ]);
  });

  it('takes the local side from flow-direction and keeps traffic-path (v5 service name example)', () => {
    const ids = {
      accountId: '123456789012',
      interfaceId: 'eni-1235b8ca123456789',
      instanceId: 'i-0c50d5961bcb2d47b',
      vpcId: 'vpc-abcdefab012345678',
      subnetId: 'subnet-aaaaaaaa012345678',
    } as const;
    // The instance calls S3: both halves are the instance's egress edge to 52.95.128.179:80.
    const toS3 = {
      ...ids,
      start: 1616729292,
      end: 1616729349,
      srcAddr: '10.0.0.71',
      srcPort: 34210,
      dstAddr: '52.95.128.179',
      dstPort: 80,
      protocol: 6,
      action: 'accept',
      direction: 'egress',
      orientation: 'tcp-flags',
      pktSrcAddr: '10.0.0.71',
      pktDstAddr: '52.95.128.179',
    } as const;
    expect(parseAll(fixture('traffic-path-v5.log'))).toEqual([
      ParseOutcome.skip('header'),
      seen({ ...toS3, reply: true, packetsIn: 14, bytesIn: 15044, flowDirection: 'ingress' }),
      seen({ ...toS3, packetsOut: 7, bytesOut: 471, flowDirection: 'egress', trafficPath: 8 }),
    ]);
  });

  it('swaps pkt-srcaddr and pkt-dstaddr along with a flipped record (v4, transit gateway interfaces)', () => {
    const common = {
      accountId: '123456789010',
      vpcId: 'vpc-abcdefab012345678',
      start: 1616729292,
      end: 1616729349,
      protocol: 6,
      action: 'accept',
      direction: 'egress',
      orientation: 'tcp-flags',
      dstAddr: '10.40.2.236',
      dstPort: 80,
      srcPort: 39812,
      pktSrcAddr: '10.20.33.164',
      pktDstAddr: '10.40.2.236',
    } as const;
    expect(parseAll(fixture('custom-v4.log'))).toEqual([
      ParseOutcome.skip('header'),
      seen({
        ...common,
        interfaceId: 'eni-11111111111111111',
        subnetId: 'subnet-11111111aaaaaaaaa',
        srcAddr: '10.40.1.175',
      }),
      seen({
        ...common,
        interfaceId: 'eni-22222222222222222',
        subnetId: 'subnet-22222222bbbbbbbbb',
        srcAddr: '10.40.2.31',
        reply: true,
      }),
    ]);
  });

  it('rejects every record under a header that lacks start (the AWS transit gateway format)', () => {
    expect(parseAll(fixture('transit-gateway-v3.log'))).toEqual([
      ParseOutcome.reject('layout_missing_field'),
      ParseOutcome.reject('layout_missing_field'),
      ParseOutcome.reject('layout_missing_field'),
    ]);
  });

  it('reads flow-direction ingress as a remote opener when the ports name the server', () => {
    const fields = layout(
      'version srcaddr dstaddr srcport dstport protocol start end tcp-flags action flow-direction',
    );
    expect(
      parseVpcFlowLine('5 198.51.100.7 10.0.0.71 51000 443 6 1616729292 1616729349 0 ACCEPT ingress', fields),
    ).toEqual(
      seen({
        start: 1616729292,
        end: 1616729349,
        srcAddr: '198.51.100.7',
        srcPort: 51000,
        dstAddr: '10.0.0.71',
        dstPort: 443,
        protocol: 6,
        action: 'accept',
        direction: 'ingress',
        orientation: 'ports',
        flowDirection: 'ingress',
      }),
    );
  });

  it('ignores unknown but well-formed fields', () => {
    const fields = layout('version srcaddr dstaddr start action resource-id encryption-status');
    const value = valueOf(parseVpcFlowLine('10 10.0.0.1 10.0.0.2 1616729292 ACCEPT eni-123 0', fields));
    expect([value.srcAddr, value.dstAddr, value.start, value.end]).toEqual([
      '10.0.0.1',
      '10.0.0.2',
      1616729292,
      1616729292,
    ]);
  });
});

describe('orientation', () => {
  const line = (src: string, dst: string, sp: number, dp: number, proto = 6): string =>
    `2 123456789010 eni-1235b8ca123456789 ${src} ${dst} ${sp} ${dp} ${proto} 3 300 1418530010 1418530070 ACCEPT OK`;
  const parsed = (text: string): Observation => valueOf(parseVpcFlowLine(text, DEFAULT_LAYOUT));

  it('flips a reply from a registered port to an ephemeral one (database answer)', () => {
    const value = parsed(line('10.0.2.9', '10.0.1.5', 5432, 40000));
    expect(value).toMatchObject({ srcAddr: '10.0.1.5', srcPort: 40000, dstAddr: '10.0.2.9', dstPort: 5432 });
    expect(value).toMatchObject({
      reply: true,
      orientation: 'ports',
      packetsIn: 3,
      bytesIn: 300,
      bytesOut: 0,
    });
  });

  it('flips a DNS answer from port 53 and calls it egress of the private client', () => {
    const value = parsed(line('8.8.8.8', '10.0.1.7', 53, 41000, 17));
    expect(value).toMatchObject({ srcAddr: '10.0.1.7', dstAddr: '8.8.8.8', dstPort: 53, protocol: 17 });
    expect(value).toMatchObject({ direction: 'egress', orientation: 'ports', reply: true });
  });

  it('prefers the well-known port over a registered one as the server', () => {
    expect(parsed(line('10.0.0.5', '10.0.0.9', 8080, 443))).toMatchObject({
      srcPort: 8080,
      dstPort: 443,
      reply: false,
    });
  });

  it('keeps a record as logged when both ports are equal', () => {
    expect(parsed(line('10.0.0.5', '10.0.0.9', 50000, 50000))).toMatchObject({
      srcAddr: '10.0.0.5',
      orientation: 'as-logged',
      reply: false,
    });
  });

  it('folds both halves of a conversation between two ports of one class into one edge', () => {
    for (const [client, server] of [
      [41000, 50051],
      [12345, 8080],
      [40000, 35000],
    ] as const) {
      const request = parsed(line('10.0.1.7', '10.0.2.9', client, server));
      const reply = parsed(line('10.0.2.9', '10.0.1.7', server, client));
      expect(request).toMatchObject({
        srcAddr: '10.0.1.7',
        dstPort: server,
        reply: false,
        orientation: 'ports',
      });
      expect(reply).toMatchObject({
        srcAddr: '10.0.1.7',
        dstPort: server,
        reply: true,
        orientation: 'ports',
      });
    }
  });

  it('calls a public opener to a private side ingress', () => {
    expect(parsed(line('198.51.100.7', '10.0.0.9', 50000, 22))).toMatchObject({ direction: 'ingress' });
  });

  it('reads SYN as the opener and SYN-ACK (also OR-ed with FIN) as the responder', () => {
    expect(openerByTcpFlags(2)).toBe('src');
    expect(openerByTcpFlags(3)).toBe('src');
    expect(openerByTcpFlags(18)).toBe('dst');
    expect(openerByTcpFlags(19)).toBe('dst');
    expect(openerByTcpFlags(1)).toBeNull();
    expect(openerByTcpFlags(4)).toBeNull();
    expect(openerByTcpFlags(0)).toBeNull();
  });

  it('lets tcp-flags overrule the ports', () => {
    // A SYN from port 443 to an ephemeral port: odd, but the SYN proves who opened.
    expect(orient('10.0.0.1', '10.0.0.2', 443, 50000, 2, null)).toEqual({
      flip: false,
      direction: 'egress',
      basis: 'tcp-flags',
    });
  });

  it('orients by ports as its rules say, for any two ports', () => {
    // The rules, written as the doc comment states them.
    const cls = (p: number): number => (p < 1024 ? 3 : p < 32768 ? 2 : 1);
    const service = (p: number): boolean => isServicePort(p);
    const rule = (s: number, d: number): string | null => {
      if (s === 0 || d === 0 || s === d) return null;
      if (cls(s) !== cls(d)) return cls(d) > cls(s) ? 'src' : 'dst';
      if (cls(s) === 3) return null;
      if (service(s) !== service(d)) return service(s) ? 'dst' : 'src';
      return d < s ? 'src' : 'dst';
    };
    const port = fc.oneof(
      fc.integer({ min: 0, max: 65535 }),
      fc.constantFrom(0, 22, 443, 1023, 1024, 3306, 5432, 8080, 29999, 30000, 32767, 32768, 50051, 65535),
    );
    fc.assert(
      fc.property(port, port, (s, d) => {
        expect(openerByPorts(s, d)).toBe(rule(s, d));
      }),
      { numRuns: 5000 },
    );
  });

  it('has no port evidence for port 0, a missing port or a tie', () => {
    expect(openerByPorts(0, 0)).toBeNull();
    expect(openerByPorts(null, 443)).toBeNull();
    expect(openerByPorts(22, 443)).toBeNull();
    expect(openerByPorts(40000, 443)).toBe('src');
    expect(openerByPorts(443, 40000)).toBe('dst');
    // One class on both sides: a known service port answers, else the lower port does; equal ports say nothing.
    expect(openerByPorts(12345, 8080)).toBe('src');
    expect(openerByPorts(8080, 12345)).toBe('dst');
    expect(openerByPorts(41000, 50051)).toBe('src');
    expect(openerByPorts(50051, 41000)).toBe('dst');
    expect(openerByPorts(2000, 9092)).toBe('src');
    expect(openerByPorts(40000, 35000)).toBe('src');
    expect(openerByPorts(35000, 40000)).toBe('dst');
    expect(openerByPorts(5000, 5000)).toBeNull();
    // A load balancer calls a NodePort from a lower port.
    expect(openerByPorts(5555, 31000)).toBe('src');
    expect(openerByPorts(31000, 5555)).toBe('dst');
    expect(openerByPorts(20000, 30080)).toBe('src');
  });

  it('takes flow-direction over address privacy for the local side', () => {
    expect(localSide('10.0.0.1', '52.95.128.179', 'ingress')).toBe('dst');
    expect(localSide('52.95.128.179', '10.0.0.1', 'egress')).toBe('src');
    expect(localSide('10.0.0.1', '52.95.128.179', null)).toBe('src');
    expect(localSide('10.0.0.1', '10.0.0.2', null)).toBeNull();
  });
});

describe('parseFieldList and parseVpcFlowHeader', () => {
  it('reads space-separated, comma-separated and ${…} field lists alike', () => {
    const expected = layout('version srcaddr dstaddr start action');
    expect(layout('version,srcaddr, dstaddr,start,action')).toEqual(expected);
    expect(layout('${version} ${srcaddr} ${dstaddr} ${start} ${action}')).toEqual(expected);
    expect(expected).toMatchObject({ fieldCount: 5, srcaddr: 1, dstaddr: 2, start: 3, action: 4, end: -1 });
  });

  it('explains a bad field list', () => {
    expect(parseFieldList('')).toEqual({ ok: false, error: 'the field list is empty' });
    expect(parseFieldList('srcaddr dstaddr start action Bytes')).toMatchObject({ ok: false });
    expect(parseFieldList('srcaddr dstaddr start action srcaddr')).toMatchObject({ ok: false });
    expect(parseFieldList('instance-id interface-id srcaddr dstaddr pkt-srcaddr pkt-dstaddr')).toEqual({
      ok: false,
      error: 'the field list lacks start, action (needed for every record)',
    });
  });

  it('reads the default layout as the version 2 order', () => {
    expect(DEFAULT_LAYOUT.names).toEqual(V2_FIELDS);
    expect(DEFAULT_LAYOUT).toMatchObject({ srcaddr: 3, dstaddr: 4, start: 10, action: 12, logStatus: 13 });
  });

  it('recognises a header by its field names, never a data line', () => {
    expect(parseVpcFlowHeader(KNOWN_FIELDS.join(' '))?.fieldCount).toBe(KNOWN_FIELDS.length);
    expect(parseVpcFlowHeader(SSH_ACCEPT)).toBeNull();
    expect(parseVpcFlowHeader('hello world')).toBeNull();
    expect(parseVpcFlowHeader('srcaddr srcaddr')).toBeNull();
    expect(parseVpcFlowHeader('')).toBeNull();
  });
});

describe('vpcFlowCollector', () => {
  it('describes itself with a sample line that parses', () => {
    expect(vpcFlowCollector).toMatchObject({ name: 'vpc-flow', sourceKind: 'vpcflow' });
    expect(vpcFlowCollector.options.map((o) => o.flags)).toEqual(['--fields <list>']);
    expect(vpcFlowCollector.createParser({}).parse(vpcFlowCollector.sample).kind).toBe('observation');
  });

  it('reads lines with the --fields order', () => {
    const parser = vpcFlowCollector.createParser({ fields: '${srcaddr} ${dstaddr} ${start} ${action}' });
    expect(parser.parse('10.0.0.1 10.0.0.2 1616729292 REJECT')).toEqual(
      seen({
        srcAddr: '10.0.0.1',
        dstAddr: '10.0.0.2',
        start: 1616729292,
        end: 1616729292,
        action: 'reject',
      }),
    );
  });

  it('refuses a bad --fields with a usage error', () => {
    expect(() => vpcFlowCollector.createParser({ fields: 'srcaddr dstaddr' })).toThrow(UsageError);
    expect(() => vpcFlowCollector.createParser({ fields: 'srcaddr dstaddr' })).toThrow(
      '--fields: the field list lacks start, action (needed for every record)',
    );
  });

  it('saves as resume state the layout a header gave, never the --fields one', () => {
    const wrong = vpcFlowCollector.createParser({ fields: 'srcaddr dstaddr start action' });
    expect(wrong.parse('10.0.0.1 10.0.0.2 1616729292 REJECT extra').kind).toBe('reject');
    // A run resumed with corrected --fields reads with them, not with the saved layout.
    const state = wrong.snapshot!();
    expect(state).toBeNull();
    const fields = 'srcaddr dstaddr start action log-status';
    const right = vpcFlowCollector.createParser({ fields }, state);
    expect(right.parse('10.0.0.1 10.0.0.2 1616729292 REJECT OK').kind).toBe('observation');
    // A header's layout outlives the --fields of a resumed run: the lines after it were written with it.
    expect(right.parse('srcaddr dstaddr srcport dstport protocol start end action').kind).toBe('skip');
    const header = right.snapshot!();
    expect(header).toBe('srcaddr dstaddr srcport dstport protocol start end action');
    const resumed = vpcFlowCollector.createParser({ fields }, header);
    expect(resumed.parse('10.0.0.1 10.0.0.2 40000 443 6 1616729292 1616729300 ACCEPT').kind).toBe(
      'observation',
    );
    expect(resumed.snapshot!()).toBe(header);
  });

  it('reads a CloudWatch Logs export, whose lines start with the time CloudWatch received them', () => {
    const records = [
      SSH_ACCEPT,
      '2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA',
    ];
    const stamped = records.map((r, i) => `2015-05-10T17:4${i}:00.000Z ${r}`);
    const parser = new VpcFlowLineParser();
    expect(parseAll(stamped, parser)).toEqual(parseAll(records));
    expect(parser.snapshot()).toBe(`timestamp ${V2_FIELDS.join(' ')}`);
    // The byte reader follows the layout, and a resumed run keeps it.
    const flows: number[] = [];
    const sink = { ipv6Key: () => 0, flow: (_s: number, _d: number, port: number) => void flows.push(port) };
    const line = Buffer.from(stamped[0]!);
    expect(parser.parseBytes(line, 0, line.length, sink)).toBe(true);
    expect(flows).toEqual([22]);
    const resumed = vpcFlowCollector.createParser({}, parser.snapshot());
    expect(resumed.parse(stamped[0]!)).toEqual(parseAll(records)[0]);
    // A time in front of a record with a field too many, or a time at its end, is not a CloudWatch line.
    for (const line of [`2015-05-10T17:40:00Z ${SSH_ACCEPT} x`, `${SSH_ACCEPT} 2015-05-10T17:40:00Z`]) {
      expect(new VpcFlowLineParser().parse(line)).toEqual(ParseOutcome.reject('field_count'));
    }
  });

  it('switches layout at each header of concatenated S3 exports', () => {
    const lines = [
      V2_FIELDS.join(' '),
      SSH_ACCEPT,
      ...fixture('traffic-path-v5.log'),
      ...fixture('transit-gateway-v3.log'),
      ...fixture('tcp-flags-v3.log').slice(0, 2),
    ];
    expect(
      parseAll(lines, new VpcFlowLineParser()).map((o) => (o.kind === 'observation' ? o.kind : o.reason)),
    ).toEqual([
      'header',
      'observation',
      'header',
      'observation',
      'observation',
      'layout_missing_field', // the bad header itself
      'layout_missing_field',
      'layout_missing_field',
      'header', // a usable header ends the bad stretch
      'observation',
    ]);
  });
});
