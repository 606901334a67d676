import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { linesOfValue, MAX_VALUE_BYTES } from '../../src/pipeline/message-lines.js';

const FLOW =
  '2 123456789012 eni-0a1b2c3d4e5f60718 10.0.1.5 52.216.10.5 43418 443 6 10 840 1763596800 1763596860 ACCEPT OK';
const SQUID =
  '1763596800.123    412 10.0.1.5 TCP_TUNNEL/200 5230 CONNECT api.github.com:443 - HIER_DIRECT/140.82.112.3 -';
const ROUTE53 =
  '{"version":"1.100000","account_id":"111122223333","region":"us-east-1","vpc_id":"vpc-7example","query_timestamp":"2021-02-04T17:52:01Z","query_name":"www.example.com.","query_type":"A","query_class":"IN","rcode":"NOERROR","answers":[{"Rdata":"192.0.2.74","Type":"A","Class":"IN"}],"srcaddr":"10.0.1.17","srcport":"51270","transport":"UDP","srcids":{"instance":"i-0d15cd0d3example"}}';
const COREDNS =
  '[INFO] 127.0.0.1:52355 - 45465 "A IN db.internal.test. udp 57 false 1232" NOERROR qr,aa,rd 66 0.00017436s';

const lines = (...l: string[]) => ({ kind: 'lines', lines: l });
const of = (text: string) => linesOfValue(Buffer.from(text));

describe('linesOfValue: plain text', () => {
  it('reads a tombstone and an empty value as no lines', () => {
    expect(linesOfValue(null)).toEqual(lines());
    expect(linesOfValue(Buffer.alloc(0))).toEqual(lines());
  });

  it('reads one line with or without its newline', () => {
    expect(of(FLOW)).toEqual(lines(FLOW));
    expect(of(`${FLOW}\n`)).toEqual(lines(FLOW));
  });

  it('splits a batch on newlines, drops CRs and blank lines, keeps order and inner spaces', () => {
    expect(of(`${FLOW}\r\n\r\n${SQUID}\n\n${COREDNS}\r\n`)).toEqual(lines(FLOW, SQUID, COREDNS));
  });
});

describe('linesOfValue: gzip', () => {
  it('decompresses a gzip batch (found by its magic bytes) into the same lines as the plain one', () => {
    const text = `${FLOW}\n${SQUID}\n`;
    expect(linesOfValue(gzipSync(Buffer.from(text)))).toEqual(of(text));
  });

  it('refuses a truncated gzip value as bad_gzip', () => {
    expect(linesOfValue(gzipSync(Buffer.from(`${FLOW}\n`.repeat(50))).subarray(0, 20))).toEqual({
      kind: 'reject',
      reason: 'bad_gzip',
    });
  });

  it('refuses a value that inflates beyond MAX_VALUE_BYTES as value_too_large (a gzip bomb)', () => {
    const bomb = gzipSync(Buffer.alloc(MAX_VALUE_BYTES + 1, 0x61));
    expect(bomb.length).toBeLessThan(1024 * 1024);
    expect(linesOfValue(bomb)).toEqual({ kind: 'reject', reason: 'value_too_large' });
  });
});

describe('linesOfValue: shippers’ JSON envelopes', () => {
  it('unwraps Fluent Bit records ({"log": …}), one per line, dropping the trailing newline of the log', () => {
    const record = (log: string) =>
      JSON.stringify({
        '@timestamp': 1763596800.123,
        log,
        stream: 'stdout',
        time: '2025-11-20T00:00:00.123Z',
      });
    expect(of(`${record(`${COREDNS}\n`)}\n${record(SQUID)}`)).toEqual(lines(COREDNS, SQUID));
  });

  it('splits an envelope whose text holds several lines', () => {
    expect(of(JSON.stringify({ log: `${FLOW}\r\n${SQUID}\n\n` }))).toEqual(lines(FLOW, SQUID));
  });

  it('unwraps Vector json-codec events ({"message": …})', () => {
    const event = JSON.stringify({ message: FLOW, source_type: 'file', timestamp: '2025-11-20T00:00:00Z' });
    expect(of(event)).toEqual(lines(FLOW));
  });

  it('reads "log" before "message" when a record has both', () => {
    expect(of(JSON.stringify({ message: 'ignored', log: SQUID }))).toEqual(lines(SQUID));
  });

  it('unwraps a gzip CloudWatch Logs subscription record into its log events, in order', () => {
    const record = {
      messageType: 'DATA_MESSAGE',
      owner: '123456789012',
      logGroup: '/aws/route53/resolver-query-logs',
      logStream: 'vpc-7example_rqlc-0123456789abcdef',
      subscriptionFilters: ['to-kafka'],
      logEvents: [
        { id: '1', timestamp: 1612461121000, message: ROUTE53 },
        { id: '2', timestamp: 1612461122000 }, // no message: nothing to read
        { id: '3', timestamp: 1612461123000, message: ROUTE53.replace('www.', 'api.') },
      ],
    };
    expect(linesOfValue(gzipSync(Buffer.from(JSON.stringify(record))))).toEqual(
      lines(ROUTE53, ROUTE53.replace('www.', 'api.')),
    );
  });

  it('reads a CloudWatch Logs CONTROL_MESSAGE (the reachability probe) as no lines', () => {
    const probe = {
      messageType: 'CONTROL_MESSAGE',
      owner: 'CloudwatchLogs',
      logGroup: '',
      logStream: '',
      subscriptionFilters: [],
      logEvents: [],
    };
    expect(linesOfValue(gzipSync(Buffer.from(JSON.stringify(probe))))).toEqual(lines());
    expect(of(JSON.stringify({ messageType: 'CONTROL_MESSAGE' }))).toEqual(lines());
  });

  it('keeps a JSON object that is no envelope as the line itself (Route 53 records are JSON lines)', () => {
    expect(of(`${ROUTE53}\n${ROUTE53}`)).toEqual(lines(ROUTE53, ROUTE53));
  });

  it('keeps an indented envelope-looking line as its inner line (leading spaces do not hide JSON)', () => {
    expect(of(`   ${JSON.stringify({ log: FLOW })}`)).toEqual(lines(FLOW));
  });

  it('reads a value mixing plain lines, envelopes and JSON records line by line', () => {
    const value = [FLOW, JSON.stringify({ log: SQUID }), ROUTE53, JSON.stringify({ message: COREDNS })].join(
      '\n',
    );
    expect(of(value)).toEqual(lines(FLOW, SQUID, ROUTE53, COREDNS));
  });
});

describe('linesOfValue: garbage', () => {
  it('refuses a value with NUL bytes (Avro, protobuf, another codec) as not_text', () => {
    expect(linesOfValue(Buffer.from([0x4f, 0x62, 0x6a, 0x01, 0x00, 0x02]))).toEqual({
      kind: 'reject',
      reason: 'not_text',
    });
    // Also after decompression.
    expect(linesOfValue(gzipSync(Buffer.from([0x61, 0x00, 0x62])))).toEqual({
      kind: 'reject',
      reason: 'not_text',
    });
  });

  it('passes broken JSON, JSON arrays and envelopes with a non-string payload through as lines for the parser to refuse', () => {
    const broken = '{"log": "unterminated';
    const array = '[{"log":"x"}]';
    const objectLog = '{"log":{"nested":true}}';
    const numberMessage = '{"message":42}';
    expect(of([broken, array, objectLog, numberMessage].join('\n'))).toEqual(
      lines(broken, array, objectLog, numberMessage),
    );
  });

  it('drops an envelope whose payload is empty: it carries no line', () => {
    expect(of(`${JSON.stringify({ log: '' })}\n${JSON.stringify({ message: '\n' })}`)).toEqual(lines());
  });
});
