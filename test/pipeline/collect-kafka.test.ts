import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { collectKafkaArgs } from '../../scripts/kafka-local.js';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { vpcBytes, vpcRecord } from '../helpers/vpc-lines.js';
import {
  createTopics,
  exactTotals,
  kafka,
  kafkaBootstrap,
  produce,
  restartBroker,
  startCollect,
  storeTotals,
  uniqueTopic,
  vpcMessages,
  waitFor,
  withAdmin,
} from './kafka-harness.js';

const brokers = kafkaBootstrap();

function args(db: string, topic: string, ...extra: string[]): string[] {
  return collectKafkaArgs({ quiet: true, db, brokers, topic }, ...extra);
}

function collect(db: string, topic: string, ...extra: string[]) {
  return cli([...args(db, topic, '--idle-exit', '1.5s', ...extra)]);
}

describe('collect kafka into SQLite', () => {
  it('stores every record of a 4-partition topic once, whatever the value shape', async () => {
    const db = join(tempDir(), 'k.db');
    const topic = uniqueTopic('flows');
    await createTopics(4, topic);
    await produce(topic, vpcMessages(0, 3000, 10, 4, 'mixed'));
    const r = collect(db, topic, '--from-beginning', '-o', 'json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout) as { messages: number; totals: { records: number; stored: number } };
    expect(summary.messages).toBe(300);
    expect(summary.totals.stored).toBe(3000);
    expect(storeTotals(db, topic)).toEqual(exactTotals(3000, 300));

    // The database's offsets decide, not the group's: a new group id (Kafka would start it from the beginning)
    // reads nothing again, and new records are read exactly once.
    await produce(topic, vpcMessages(3000, 3400, 10, 4, 'lines'));
    expect(collect(db, topic, '--from-beginning', '--group', 'another-group').code).toBe(0);
    expect(storeTotals(db, topic)).toEqual(exactTotals(3400, 340));

    const status = cli(['--db', db, 'query', 'ingest-status', '-o', 'json']);
    expect(status.code).toBe(0);
    const rows = JSON.parse(status.stdout) as { name: string; records: number; line: number; lag?: number }[];
    const kafkaRows = rows.filter((x) => x.name.startsWith(`kafka:${topic}/`));
    expect(kafkaRows.map((x) => x.name).sort()).toEqual([0, 1, 2, 3].map((p) => `kafka:${topic}/${p}`));
    expect(kafkaRows.reduce((s, x) => s + x.records, 0)).toBe(3400);
    expect(kafkaRows.reduce((s, x) => s + x.line, 0)).toBe(340);
    expect(kafkaRows.map((x) => x.lag)).toEqual([0, 0, 0, 0]);
  });

  it('quarantines poison messages, dead-letters them, and keeps the partition moving', async () => {
    const db = join(tempDir(), 'p.db');
    const topic = uniqueTopic('poison');
    const dlq = `${topic}-dlq`;
    await createTopics(2, topic, dlq);
    const good = vpcMessages(0, 200, 10, 2, 'lines');
    await produce(topic, [
      ...good.slice(0, 10),
      // A bad line among good ones, a truncated gzip value, a binary value: partition 0's offsets 5-7, before more good data.
      { partition: 0, value: `${vpcRecord(200)}\nthis is not a flow log line\n${vpcRecord(201)}\n` },
      { partition: 0, value: gzipSync(Buffer.from(vpcRecord(202))).subarray(0, 12) },
      { partition: 0, value: Buffer.from([0, 1, 2, 3, 0xff]) },
      ...good.slice(10),
    ]);
    const r = collect(db, topic, '--from-beginning', '--dead-letter-topic', dlq, '-o', 'json');
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout) as {
      totals: { malformed: number };
      reasons: Record<string, number>;
    };
    expect(summary.totals.malformed).toBe(3);
    expect(summary.reasons).toMatchObject({ bad_gzip: 1, not_text: 1 });
    const t = storeTotals(db, topic);
    // The good lines of the mixed message count; the partition read past the poison to its end (23 messages).
    expect(t).toMatchObject({ records: 202, bytes: vpcBytes(202), quarantined: 3, nextOffsets: 23 });

    const q = cli(['--db', db, 'query', 'quarantine', '-o', 'json']);
    const rows = JSON.parse(q.stdout) as { source: string; line: number; reason: string; raw: string }[];
    expect(rows.map((x) => [x.source, x.line]).sort()).toEqual([
      [`${topic}/0@5`, 2],
      [`${topic}/0@6`, 0],
      [`${topic}/0@7`, 0],
    ]);
    expect(rows.find((x) => x.line === 2)!.raw).toBe('this is not a flow log line');

    const consumer = kafka().consumer({ groupId: `${dlq}-reader` });
    await consumer.connect();
    await consumer.subscribe({ topic: dlq, fromBeginning: true });
    const seen: string[] = [];
    await consumer.run({
      eachMessage: async ({ message }) => {
        seen.push(
          `${message.headers!['egress-learner-offset']!.toString()}:${message.headers!['egress-learner-reason']!.toString()}`,
        );
      },
    });
    await waitFor('3 dead letters', () => seen.length >= 3, 20_000);
    await consumer.disconnect();
    expect(seen.sort()).toEqual(['5:field_count', '6:bad_gzip', '7:not_text'].sort());
  });

  it('serves Prometheus metrics and stops on SIGTERM after committing, exit 0', async () => {
    const db = join(tempDir(), 'm.db');
    const topic = uniqueTopic('metrics');
    await createTopics(3, topic);
    await produce(topic, vpcMessages(0, 900, 10, 3, 'lines'));
    // Not --quiet: the metrics address and the closing summary are read from stderr.
    const run = startCollect(
      collectKafkaArgs({ db, brokers, topic }, '--from-beginning', '--metrics-port', '0'),
    );
    const url = await waitFor('metrics url', () => /metrics: (http:\/\/\S+)/.exec(run.stderr())?.[1], 20_000);
    await waitFor('all records', () => storeTotals(db, topic).records === 900, 30_000);
    const text = await (await fetch(url)).text();
    expect(text).toContain(`egress_learner_kafka_records_total{topic="${topic}"} 900`);
    for (const p of [0, 1, 2])
      expect(text).toContain(`egress_learner_kafka_lag{topic="${topic}",partition="${p}"} 0`);
    expect(text).toMatch(/egress_learner_kafka_errors_total\{topic="[^"]+",kind="store"\} 0/);
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    expect(run.stderr()).toMatch(/read 90 messages, 900 records/);
    expect(storeTotals(db, topic)).toMatchObject({ records: 900, nextOffsets: 90 });
  });

  it('ends the run with one line and exit 1 when another process keeps the database locked', async () => {
    const db = join(tempDir(), 'locked.db');
    const topic = uniqueTopic('locked');
    await createTopics(2, topic);
    // Not --quiet: the assignment is read from stderr, to lock the database only once the consumer runs.
    const run = startCollect(collectKafkaArgs({ db, brokers, topic }, '--from-beginning'));
    await waitFor('assigned', () => /partitions assigned/.test(run.stderr()), 30_000);
    const holder = new Database(db);
    try {
      holder.exec('BEGIN IMMEDIATE');
      await produce(topic, vpcMessages(0, 200, 10, 2, 'lines'));
      // The first batch waits out busy_timeout (10 s); then the run ends on its own, without a signal.
      const code = await Promise.race([run.exited, sleep(45_000).then(() => 'still running')]);
      if (code === 'still running') run.child.kill('SIGKILL');
      expect(code).toBe(1);
      const lines = run.stderr().trim().split('\n');
      expect(lines.at(-1)).toBe(
        `egress-learner: ${db} is locked by another writer for more than 10 s; try again when it is done`,
      );
      expect(run.stderr()).not.toContain('internal error');
    } finally {
      holder.close();
    }
    expect(storeTotals(db, topic)).toMatchObject({ records: 0, nextOffsets: 0 });
  }, 90_000);

  it('refuses bad options in one line: unknown format, bad brokers', () => {
    const db = join(tempDir(), 'u.db');
    const refused = (brokersArg: string, format: string, ...extra: string[]) =>
      cli([
        '--db',
        db,
        'collect',
        'kafka',
        '--brokers',
        brokersArg,
        '--topic',
        't',
        '--format',
        format,
        ...extra,
      ]);
    const bad = refused('nohostport', 'vpc-flow');
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toContain('--brokers');
    const sasl = refused(brokers, 'squid', '--sasl-mechanism', 'plain');
    expect(sasl.code).toBe(1);
    expect(sasl.stderr).toContain('EGRESS_LEARNER_KAFKA_PASSWORD');
  });
});

/*
 * Exact accounting under faults: a known set of records is produced, a consumer is killed, the broker restarts,
 * a second consumer joins; at the end SQLite holds every record exactly once (flows + replies and bytes both
 * match what was produced, so neither a lost nor a double-counted batch can hide).
 */
/**
 * Small fetches make many small transactions, so a kill lands mid-stream; a short session hands a killed
 * member's partitions on soon.
 */
const FAULT_OPTIONS = ['--from-beginning', '--max-bytes', '8192', '--session-timeout', '6s'];

function collectArgs(db: string, topic: string, ...extra: string[]): string[] {
  return collectKafkaArgs({ db, brokers, topic }, ...FAULT_OPTIONS, ...extra);
}

function explainExits(exits: readonly (number | null)[], a: string, b: string): void {
  console.log('exit codes', exits, '\n--- A\n', a.slice(-3000), '\n--- B\n', b.slice(-3000));
}

describe('collect kafka under faults', () => {
  it('SIGKILL mid-stream, then a restart: nothing lost, nothing counted twice', async () => {
    const db = join(tempDir(), 'kill.db');
    const topic = uniqueTopic('kill');
    await createTopics(4, topic);
    const n = 40_000;
    await produce(topic, vpcMessages(0, n, 20, 4, 'lines'));
    const first = startCollect(collectArgs(db, topic, '--quiet'));
    await waitFor('some batches committed', () => storeTotals(db, topic).nextOffsets >= 100, 30_000);
    first.child.kill('SIGKILL');
    await first.exited;
    const partial = storeTotals(db, topic);
    expect(partial.records).toBeGreaterThan(0);
    expect(partial.records).toBeLessThan(n);
    const second = startCollect(collectArgs(db, topic, '--quiet', '--idle-exit', '1.5s'));
    expect(await second.exited).toBe(0);
    expect(storeTotals(db, topic)).toEqual(exactTotals(n, n / 20));
  });

  it('a broker restart mid-stream and a second consumer joining: totals exact, both exit 0 on SIGTERM', async () => {
    const db = join(tempDir(), 'rebalance.db');
    const topic = uniqueTopic('rebalance');
    await createTopics(4, topic);
    const n = 24_000;
    await produce(topic, vpcMessages(0, n / 2, 20, 4, 'gzip'));
    const a = startCollect(collectArgs(db, topic));
    await waitFor('A assigned', () => /partitions assigned/.test(a.stderr()), 30_000);
    await waitFor('A committed some', () => storeTotals(db, topic).nextOffsets >= 40, 30_000);

    restartBroker();
    // More records while A reconnects; then B joins the group and takes half the partitions.
    await produce(topic, vpcMessages(n / 2, (n * 3) / 4, 20, 4, 'gzip'));
    const b = startCollect(collectArgs(db, topic));
    // A timeout shows what both consumers said, to tell a stuck rebalance from a lost batch.
    const explain = (err: unknown): never => {
      console.log(
        storeTotals(db, topic),
        '\n--- A\n',
        a.stderr().slice(-3000),
        '\n--- B\n',
        b.stderr().slice(-3000),
      );
      throw err;
    };
    await waitFor(
      'B assigned partitions',
      () => /partitions assigned.*partitions=\[\d/.test(b.stderr()),
      60_000,
    ).catch(explain);
    await produce(topic, vpcMessages((n * 3) / 4, n, 20, 4, 'gzip'));
    await waitFor('every record stored', () => storeTotals(db, topic).nextOffsets === n / 20, 90_000).catch(
      explain,
    );

    a.child.kill('SIGTERM');
    b.child.kill('SIGTERM');
    const exits = [await a.exited, await b.exited];
    // An unclean stop shows what both consumers said last (a run that ended early, a leave that timed out).
    if (exits[0] !== 0 || exits[1] !== 0) explainExits(exits, a.stderr(), b.stderr());
    expect(exits).toEqual([0, 0]);
    expect(storeTotals(db, topic)).toEqual(exactTotals(n, n / 20));
    // A was assigned again when B joined (a rebalance really happened).
    expect(a.stderr().match(/partitions assigned/g)!.length).toBeGreaterThanOrEqual(2);
  }, 180_000);
});

describe('two-stage pipeline: raw topic → stage 1 (Kafka transactions) → edges topic → stage 2 (SQLite)', () => {
  it('SIGKILL of a stage-1 and of a stage-2 worker mid-stream: totals exact', async () => {
    const db = join(tempDir(), 'two.db');
    const raw = uniqueTopic('raw');
    const edges = `${raw}-edges`;
    await createTopics(4, raw);
    await createTopics(2, edges);
    const n = 30_000;
    await produce(raw, vpcMessages(0, n, 20, 4, 'mixed'));
    const stage1 = (...extra: string[]) =>
      startCollect(
        collectKafkaArgs(
          { quiet: true, brokers, topic: raw, group: `${raw}-stage1` },
          ...FAULT_OPTIONS,
          '--emit-edges',
          edges,
          ...extra,
        ),
      );
    const stage2 = (...extra: string[]) =>
      startCollect(
        collectKafkaArgs(
          { quiet: true, db, brokers, topic: edges, format: 'edges', group: `${raw}-stage2` },
          ...FAULT_OPTIONS,
          ...extra,
        ),
      );

    const committed = async (): Promise<number> =>
      withAdmin(async (a) =>
        (await a.fetchOffsets({ groupId: `${raw}-stage1`, topics: [raw] }))[0]!.partitions.reduce(
          (sum, p) => sum + Math.max(0, Number(p.offset)),
          0,
        ),
      );
    // Stage 1 alone first, killed once some of its transactions committed.
    const s1 = stage1();
    for (let c = 0; c < 100;) {
      await new Promise((r) => setTimeout(r, 100));
      c = await committed();
    }
    s1.child.kill('SIGKILL');
    await s1.exited;
    expect(await committed()).toBeLessThan(n / 20);

    // Then both stages; stage 2 killed once it stored part of the deltas.
    const s1b = stage1('--idle-exit', '3s');
    const s2 = stage2();
    await waitFor('stage 2 stored some', () => storeTotals(db, edges).records > 0, 60_000);
    s2.child.kill('SIGKILL');
    await s2.exited;
    expect(await s1b.exited).toBe(0);
    expect(storeTotals(db, edges).records).toBeLessThan(n);

    const s2b = stage2();
    await waitFor(
      'every record through both stages',
      () => storeTotals(db, edges).records >= n,
      60_000,
    ).catch(async (err: unknown) => {
      console.log(storeTotals(db, edges), await committed(), s2b.stderr().slice(-2000));
      throw err;
    });
    // Some time for a double count to show, had there been one.
    await new Promise((r) => setTimeout(r, 1500));
    s2b.child.kill('SIGTERM');
    expect(await s2b.exited).toBe(0);
    const t = storeTotals(db, edges);
    expect({ records: t.records, bytes: t.bytes, quarantined: t.quarantined }).toEqual({
      records: n,
      bytes: vpcBytes(n),
      quarantined: 0,
    });
    const status = JSON.parse(cli(['--db', db, 'query', 'ingest-status', '-o', 'json']).stdout) as {
      records: number;
    }[];
    // Stage 2's counters are the raw records stage 1 read.
    expect(status.reduce((s, x) => s + x.records, 0)).toBe(n);
  }, 150_000);
});
