/*
 * Both stages in one process (`collect kafka … --emit-edges <topic> --store-edges`): raw topic → stage 1 (Kafka
 * transactions) → edges topic → stage 2 (SQLite), side by side. Exact accounting as for two processes: every
 * record produced is stored once, after an idle exit and after a SIGKILL mid-stream and a restart.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { collectKafkaArgs } from '../../scripts/kafka-local.js';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { vpcBytes } from '../helpers/vpc-lines.js';
import {
  createTopics,
  kafkaBootstrap,
  produce,
  startCollect,
  storeTotals,
  uniqueTopic,
  vpcMessages,
  waitFor,
} from './kafka-harness.js';

const brokers = kafkaBootstrap();

/** Small fetches make many transactions and commits, so a kill lands mid-stream; a short session hands on soon. */
const FAULT_OPTIONS = ['--from-beginning', '--max-bytes', '8192', '--session-timeout', '6s'];

function bothStages(db: string, raw: string, edges: string, ...extra: string[]): string[] {
  return collectKafkaArgs({ db, brokers, topic: raw }, '--emit-edges', edges, '--store-edges', ...extra);
}

/** Stored records, bytes and quarantined lines: what the raw records must add up to. */
function stored(db: string, edges: string) {
  const t = storeTotals(db, edges);
  return { records: t.records, bytes: t.bytes, quarantined: t.quarantined };
}

const exact = (n: number) => ({ records: n, bytes: vpcBytes(n), quarantined: 0 });

interface Summary {
  messages: number;
  edges: number;
  totals: { records: number; stored: number };
  store: { topic: string; group: string; edges: number; totals: { records: number; stored: number } };
}

describe('both stages in one process', () => {
  it('drains the raw topic through the edges topic into SQLite and exits on its own when idle', async () => {
    const db = join(tempDir(), 'idle.db');
    const raw = uniqueTopic('both');
    const edges = `${raw}-edges`;
    await createTopics(4, raw);
    await createTopics(2, edges);
    await produce(raw, vpcMessages(0, 6000, 20, 4, 'mixed'));
    const run = startCollect(
      bothStages(db, raw, edges, '--quiet', '--from-beginning', '--idle-exit', '1.5s', '-o', 'json'),
    );
    expect(await run.exited).toBe(0);
    expect(run.stderr()).toBe('');
    const summary = JSON.parse(run.stdout()) as Summary;
    expect(summary.messages).toBe(300);
    expect(summary.totals).toMatchObject({ records: 6000, stored: 6000 });
    expect(summary.store).toMatchObject({
      topic: edges,
      group: `${raw}-store`,
      totals: { records: 6000, stored: 6000 },
    });
    expect(stored(db, edges)).toEqual(exact(6000));
    // Stage 2 writes each delta once (or fewer, summed within a fetch), and at least one row per stored edge.
    const d = new Database(db, { readonly: true });
    const rows = d.prepare('SELECT COUNT(*) AS n FROM edges').get() as { n: number };
    d.close();
    expect(summary.store.edges).toBeLessThanOrEqual(summary.edges);
    expect(summary.store.edges).toBeGreaterThanOrEqual(rows.n);
    expect(rows.n).toBeGreaterThan(0);
  });

  it('splits a large fetch into sends the broker accepts (its record batches stay under 1 MB)', async () => {
    const db = join(tempDir(), 'large.db');
    const raw = uniqueTopic('large');
    const edges = `${raw}-edges`;
    await createTopics(1, raw, edges);
    // About 9,000 distinct edges and 3,000 quarantined lines in one fetch: megabytes of deltas for one partition.
    const junk = Array.from({ length: 3000 }, (_, i) => `junk ${i} ${'x'.repeat(180)}`).join('\n');
    // Sent in parts: one send to one partition is one record batch, which the 1 MB limit bounds for us too.
    const messages = [...vpcMessages(0, 40_000, 100, 1, 'lines'), { value: Buffer.from(junk) }];
    for (let i = 0; i < messages.length; i += 40) await produce(raw, messages.slice(i, i + 40));
    const run = startCollect(
      bothStages(
        db,
        raw,
        edges,
        '--quiet',
        '--from-beginning',
        '--max-bytes',
        '16777216',
        '--idle-exit',
        '1.5s',
      ),
    );
    expect(await run.exited).toBe(0);
    expect(run.stderr()).toBe('');
    expect(stored(db, edges)).toEqual({ ...exact(40_000), quarantined: 3000 });
  });

  it('refuses --store-edges without --emit-edges in one line', () => {
    const r = cli([
      '--db',
      join(tempDir(), 'u.db'),
      ...collectKafkaArgs({ brokers, topic: 't' }, '--store-edges'),
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('--store-edges');
  });

  it('SIGKILL mid-stream, then a restart: totals exact, metrics for both topics, exit 0 on SIGTERM', async () => {
    const db = join(tempDir(), 'kill.db');
    const raw = uniqueTopic('both-kill');
    const edges = `${raw}-edges`;
    await createTopics(4, raw);
    await createTopics(2, edges);
    const n = 30_000;
    await produce(raw, vpcMessages(0, n, 20, 4, 'mixed'));

    const first = startCollect(bothStages(db, raw, edges, '--quiet', ...FAULT_OPTIONS));
    await waitFor('stage 2 stored some', () => stored(db, edges).records > 0, 60_000);
    first.child.kill('SIGKILL');
    await first.exited;
    const partial = stored(db, edges).records;
    expect(partial).toBeLessThan(n);

    // Not --quiet: the metrics address is read from stderr.
    const second = startCollect(bothStages(db, raw, edges, ...FAULT_OPTIONS, '--metrics-port', '0'));
    const url = await waitFor(
      'metrics url',
      () => /metrics: (http:\/\/\S+)/.exec(second.stderr())?.[1],
      20_000,
    );
    await waitFor('every record through both stages', () => stored(db, edges).records >= n, 90_000).catch(
      (err: unknown) => {
        console.log(stored(db, edges), second.stderr().slice(-3000));
        throw err;
      },
    );
    // Some time for a double count to show, had there been one.
    await new Promise((r) => setTimeout(r, 1500));
    const metrics = await (await fetch(url)).text();
    expect(metrics.match(/^# TYPE egress_learner_kafka_records_total /gm)).toHaveLength(1);
    expect(metrics).toMatch(new RegExp(`^egress_learner_kafka_records_total\\{topic="${raw}"\\} \\d+$`, 'm'));
    expect(metrics).toMatch(
      new RegExp(`^egress_learner_kafka_records_total\\{topic="${edges}"\\} \\d+$`, 'm'),
    );
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    expect(second.stderr()).toMatch(new RegExp(`kafka ${raw}: read [\\d,]+ messages`));
    expect(second.stderr()).toMatch(new RegExp(`kafka ${edges}: read [\\d,]+ messages`));

    expect(stored(db, edges)).toEqual(exact(n));
    const status = JSON.parse(cli(['--db', db, 'query', 'ingest-status', '-o', 'json']).stdout) as {
      records: number;
    }[];
    // Stage 2's counters are the raw records stage 1 read: each counted once across the kill.
    expect(status.reduce((s, x) => s + x.records, 0)).toBe(n);
  }, 180_000);
});
