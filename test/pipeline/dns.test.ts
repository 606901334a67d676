/*
 * Route 53 Resolver and CoreDNS logs over Kafka: the same real-format lines are read once from a file
 * (`collect dns --format …`) and once from a 3-partition topic (`collect kafka --format …`), packed as shippers
 * pack them (plain lines, gzip batches, CloudWatch Logs subscription records, Vector and Fluent Bit envelopes).
 * Both databases must hold the same DNS answers, row for row, and the same quarantined lines; a second Kafka
 * run (another group) must add nothing, because the database's offsets decide.
 */
import { mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import type { Message } from 'kafkajs';
import { describe, it, type ExpectStatic } from 'vitest';
import { collectKafkaArgs } from '../../scripts/kafka-local.js';
import { corednsLine, route53Line } from '../../src/demo/formats.js';
import { cli } from '../helpers/cli.js';
import { T0 } from '../helpers/vpc-lines.js';
import { createTopics, kafkaBootstrap, produce, startCollect, uniqueTopic } from './kafka-harness.js';

const brokers = kafkaBootstrap();

/**
 * CoreDNS lines without a stamp are placed at the reference time: a file's mtime, a message's timestamp. Both
 * are set to this, so that the two ingests can agree.
 */
const REFERENCE = T0 + 86_400;

const fixture = (f: string): string[] =>
  readFileSync(new URL(`../fixtures/dns/${f}`, import.meta.url), 'utf8')
    .split('\n')
    .filter((l) => l !== '');

const NAMES = [
  'api.github.com',
  's3.eu-west-1.amazonaws.com',
  'db.internal.test',
  'example.org',
  'nope.invalid',
];

/** The captured fixtures (good and broken lines) among generated ones spanning several hourly buckets. */
function withFixtures(generated: string[], fixtures: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < generated.length; i++) {
    out.push(generated[i]!);
    if (i % 20 === 7 && fixtures.length > 0) out.push(fixtures.shift()!);
  }
  return [...out, ...fixtures];
}

function route53Lines(): string[] {
  const generated: string[] = [];
  for (let i = 0; i < 240; i++) {
    const name = NAMES[i % NAMES.length]!;
    const answers = name === 'nope.invalid' ? [] : [`192.0.2.${(i % 4) + 10}`, `192.0.2.${(i % 3) + 20}`];
    generated.push(route53Line(T0 + i * 97, `10.0.${i % 3}.${10 + (i % 5)}`, name, answers));
  }
  return withFixtures(generated, [...fixture('route53.log'), ...fixture('route53-broken.log')]);
}

function corednsLines(): string[] {
  const generated: string[] = [];
  for (let i = 0; i < 240; i++) {
    generated.push(
      corednsLine(T0 + i * 97, `10.1.${i % 3}.${10 + (i % 5)}`, 40000 + i, 1000 + i, NAMES[i % 5]!),
    );
  }
  // The fixture's undated lines (CoreDNS writes no time) take the reference time.
  return withFixtures(generated, [...fixture('coredns.log'), ...fixture('coredns-broken.log')]);
}

type Packing = (lines: string[]) => Buffer;

const plain: Packing = (lines) => Buffer.from(`${lines.join('\n')}\n`);
const gzip: Packing = (lines) => gzipSync(plain(lines));
/** A CloudWatch Logs subscription record (Route 53 Resolver query logging to a log group), gzip-compressed. */
const cloudWatch: Packing = (lines) =>
  gzipSync(
    JSON.stringify({
      messageType: 'DATA_MESSAGE',
      owner: '123456789012',
      logGroup: '/aws/route53/resolver-query-logs',
      logStream: 'vpc-0a1b2c3d_rqlc-0123456789abcdef',
      subscriptionFilters: ['to-kafka'],
      logEvents: lines.map((message, i) => ({
        id: String(36_000_000 + i),
        timestamp: REFERENCE * 1000,
        message,
      })),
    }),
  );
/** Vector's `json` codec: one event per line. */
const vector: Packing = (lines) =>
  Buffer.from(lines.map((message) => JSON.stringify({ message, source_type: 'aws_s3' })).join('\n'));
/** Fluent Bit's kafka output for a container log: the line with its newline, in `log`. */
const fluentBit: Packing = (lines) =>
  Buffer.from(
    lines.map((l) => JSON.stringify({ '@timestamp': REFERENCE, log: `${l}\n`, stream: 'stdout' })).join('\n'),
  );

/** Messages of 1 to 7 lines, round-robin over 3 partitions, packed by turns, all stamped at REFERENCE. */
function messages(lines: readonly string[], packings: readonly Packing[]): Message[] {
  const out: Message[] = [];
  for (let i = 0, k = 0; i < lines.length; k++) {
    const n = (k % 7) + 1;
    out.push({
      partition: k % 3,
      timestamp: String(REFERENCE * 1000),
      value: packings[k % packings.length]!(lines.slice(i, i + n)),
    });
    i += n;
  }
  return out;
}

interface Totals {
  readonly records: number;
  readonly stored: number;
  readonly skipped: number;
  readonly malformed: number;
}

/** Everything a DNS ingest leaves behind, minus where a line came from (a file line, or a topic offset). */
function dnsContents(db: string) {
  const d = new Database(db, { readonly: true, fileMustExist: true });
  try {
    return {
      answers: d
        .prepare(
          'SELECT bucket, client, name, type, answer, rcode, count, first_seen, last_seen, min_ttl, sources FROM dns_answers ORDER BY bucket, client, name, type, answer, rcode',
        )
        .all(),
      quarantine: d.prepare('SELECT kind, reason, raw FROM quarantine ORDER BY kind, reason, raw').all(),
      edges: (d.prepare('SELECT COUNT(*) AS n FROM edges').get() as { n: number }).n,
    };
  } finally {
    d.close();
  }
}

async function collectKafka(expect: ExpectStatic, db: string, topic: string, format: string, group: string) {
  const run = startCollect(
    collectKafkaArgs(
      { quiet: true, db, brokers, topic, format, group },
      '--from-beginning',
      '--idle-exit',
      '1.5s',
      '-o',
      'json',
    ),
  );
  const code = await run.exited;
  expect(run.stderr()).toBe('');
  expect(code).toBe(0);
  return JSON.parse(run.stdout()) as { messages: number; totals: Totals; reasons: Record<string, number> };
}

describe.concurrent('DNS logs over Kafka give the same answers as the same lines from a file', () => {
  const cases: [string, () => string[], Packing[], Totals][] = [
    [
      'route53',
      route53Lines,
      [plain, cloudWatch, vector, gzip],
      // 240 generated + 5 captured + 4 broken lines; the TXT answer is skipped.
      { records: 249, stored: 244, skipped: 1, malformed: 4 },
    ],
    [
      'coredns',
      corednsLines,
      [fluentBit, plain, gzip],
      // 240 generated + 12 captured (3 start-up banner lines, an [ERROR] and a shutdown line skipped) + 4 broken.
      { records: 256, stored: 247, skipped: 5, malformed: 4 },
    ],
  ];
  // The test context's expect and hook: concurrent tests must not share the global ones.
  it.for(cases)('%s', async ([format, makeLines, packings, expected], { expect, onTestFinished }) => {
    const dir = mkdtempSync(join(tmpdir(), 'el-kafka-dns-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const lines = makeLines();
    const file = join(dir, `${format}.log`);
    writeFileSync(file, `${lines.join('\n')}\n`);
    utimesSync(file, REFERENCE, REFERENCE);
    const fileDb = join(dir, 'file.db');
    const fromFile = cli([
      '--quiet',
      '--db',
      fileDb,
      'collect',
      'dns',
      '--format',
      format,
      file,
      '-o',
      'json',
    ]);
    expect(fromFile.stderr).toBe('');
    expect(fromFile.code).toBe(0);
    expect((JSON.parse(fromFile.stdout) as { totals: Totals }).totals).toEqual(expected);

    const topic = uniqueTopic(format);
    await createTopics(3, topic);
    const produced = messages(lines, packings);
    await produce(topic, produced);
    const kafkaDb = join(dir, 'kafka.db');
    const first = await collectKafka(expect, kafkaDb, topic, format, topic);
    expect(first.messages).toBe(produced.length);
    expect(first.totals).toEqual(expected);

    const want = dnsContents(fileDb);
    expect(want.answers.length).toBeGreaterThan(20);
    expect(want.quarantine).toHaveLength(expected.malformed);
    expect(dnsContents(kafkaDb)).toEqual(want);

    // Another group starts from the beginning as far as Kafka knows; the database's offsets say all was read.
    const again = await collectKafka(expect, kafkaDb, topic, format, `${topic}-again`);
    expect(again.totals).toEqual({ records: 0, stored: 0, skipped: 0, malformed: 0 });
    expect(dnsContents(kafkaDb)).toEqual(want);
  });
});
