/**
 * `npm run bench:kafka`: the Kafka consumer against the local broker (scripts/kafka.sh), beside the file-ingest
 * rate of the same records.
 *
 *   file       collect vpc-flow <file>                          records/s (the foundation benchmark's path)
 *   backlog    collect kafka on a topic already holding them     records/s per consumer (one instance)
 *   live       producer at a fixed rate, consumer running        end-to-end lag: produce → committed in SQLite
 *   stages     stage 1 (--emit-edges) then stage 2 (--format edges) on the same backlog: records/s summed into
 *              edge deltas, and the deltas/s the one SQLite writer stores
 *
 * Options: --records N (default 500000), --partitions P (4), --lines-per-message L (100), --rate R records/s for
 * the live run (default 50000).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { Command } from 'commander';
import { Kafka, logLevel, type Message } from 'kafkajs';
import { DEFAULT_SEED, generateFlowLogs } from '../gen-flowlogs.js';
import { bootstrapOf, collectKafkaArgs, roundRobinMessages, type CollectKafka } from '../kafka-local.js';

interface KafkaSummary {
  readonly seconds: number;
  readonly messages: number;
  readonly edges: number;
  readonly totals: { readonly records: number };
}

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';
const here = dirname(fileURLToPath(import.meta.url));
/** dist/scripts/bench → repository root. */
const repoRoot = resolve(here, '..', '..', '..');
const elMain = join(repoRoot, 'dist', 'src', 'cli', 'main.js');

function bootstrap(): string {
  const envFile = execFileSync('bash', [join(repoRoot, 'scripts', 'kafka.sh'), 'up'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
  return bootstrapOf(envFile);
}

function pack(
  lines: readonly string[],
  from: number,
  to: number,
  perMessage: number,
  partitions: number,
): Message[] {
  return roundRobinMessages(from, to, perMessage, partitions, (i, end) => lines.slice(i, end).join('\n'));
}

function storedRecords(db: string): number {
  if (!existsSync(db)) return 0;
  const d = new Database(db, { readonly: true });
  try {
    if (d.prepare("SELECT 1 FROM sqlite_master WHERE name = 'kafka_offsets'").get() === undefined) return 0;
    return (d.prepare('SELECT COALESCE(SUM(records), 0) AS n FROM sources').get() as { n: number }).n;
  } finally {
    d.close();
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const o = new Command()
    .option('--records <n>', 'records', '500000')
    .option('--partitions <n>', 'partitions', '4')
    .option('--lines-per-message <n>', 'lines per message', '100')
    .option('--rate <n>', 'live run: records/s produced', '50000')
    .parse()
    .opts<{ records: string; partitions: string; linesPerMessage: string; rate: string }>();
  const n = Number(o.records);
  const partitions = Number(o.partitions);
  const per = Number(o.linesPerMessage);
  const rate = Number(o.rate);
  const brokers = bootstrap();
  const work = mkdtempSync(join(tmpdir(), 'el-bench-kafka-'));
  try {
    const gen = await generateFlowLogs({
      outDir: join(repoRoot, 'bench-data'),
      records: Math.max(n, 2_000_000),
      seed: DEFAULT_SEED,
    });
    const all = readFileSync(gen.plainPath, 'utf8').split('\n');
    // The header line (if any) plus n records.
    const lines = all.slice(0, n + (all[0]!.startsWith('version') ? 1 : 0)).filter((l) => l !== '');
    const file = join(work, 'flows.log');
    writeFileSync(file, `${lines.join('\n')}\n`);
    const records = lines.filter((l) => !l.startsWith('version')).length;

    // 1. File ingest, the foundation path.
    let t = performance.now();
    const r = spawnSync(
      process.execPath,
      [elMain, '--quiet', '--db', join(work, 'file.db'), 'collect', 'vpc-flow', file],
      { stdio: 'inherit' },
    );
    if (r.status !== 0) throw new Error('file ingest failed');
    const fileRate = records / ((performance.now() - t) / 1000);

    // 2. Backlog: everything on the topic first, then one consumer drains it.
    const kafka = new Kafka({ clientId: 'bench', brokers: [brokers], logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    const topic = `bench-${Date.now()}`;
    const live = `${topic}-live`;
    await admin.createTopics({
      waitForLeaders: true,
      topics: [topic, live].map((x) => ({ topic: x, numPartitions: partitions })),
    });
    await admin.disconnect();
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const msgs = pack(lines, 0, lines.length, per, partitions);
    t = performance.now();
    for (let i = 0; i < msgs.length; i += 200)
      await producer.send({ topic, acks: -1, messages: msgs.slice(i, i + 200) });
    const produceRate = records / ((performance.now() - t) / 1000);

    const idle = 2;
    /** Drains a topic with `collect kafka … --idle-exit`; the JSON summary, and its rate without the idle wait. */
    const drainRun = (c: CollectKafka, ...extra: string[]): { summary: KafkaSummary; seconds: number } => {
      const out = spawnSync(
        process.execPath,
        [
          elMain,
          ...collectKafkaArgs(c, '--from-beginning', '--idle-exit', `${idle}s`, '-o', 'json', ...extra),
        ],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
      );
      if (out.status !== 0) throw new Error(`collect kafka on ${c.topic} failed`);
      const summary = JSON.parse(out.stdout) as KafkaSummary;
      return { summary, seconds: summary.seconds - idle };
    };
    const backlog = drainRun({ quiet: true, db: join(work, 'kafka.db'), brokers, topic });
    const consumeRate = backlog.summary.totals.records / backlog.seconds;

    // 2b. The two stages on the same backlog, one after the other, so each is timed alone.
    const edgesTopic = `${topic}-edges`;
    const edgesAdmin = kafka.admin();
    await edgesAdmin.connect();
    await edgesAdmin.createTopics({
      waitForLeaders: true,
      topics: [{ topic: edgesTopic, numPartitions: partitions }],
    });
    await edgesAdmin.disconnect();
    const stage1 = drainRun(
      { quiet: true, db: join(work, 'stages.db'), brokers, topic, group: `${topic}-stage1` },
      '--emit-edges',
      edgesTopic,
    );
    const stage2 = drainRun({
      quiet: true,
      db: join(work, 'stages.db'),
      brokers,
      topic: edgesTopic,
      format: 'edges',
    });
    const stage1Rate = stage1.summary.totals.records / stage1.seconds;
    const deltas = stage1.summary.edges;
    const written = stage2.summary.edges;
    const stage2Rate = written / stage2.seconds;

    // 3. Live: the consumer runs; records arrive at `rate`; lag = time from a record's send to its commit.
    const liveDb = join(work, 'live.db');
    const child = spawn(
      process.execPath,
      [elMain, ...collectKafkaArgs({ quiet: true, db: liveDb, brokers, topic: live }, '--from-beginning')],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    await sleep(3000); // group join
    const liveMsgs = pack(lines, 0, lines.length, per, partitions);
    const chunk = Math.max(1, Math.round(rate / per / 10)); // 10 sends per second
    const lags: number[] = [];
    const sentAt: { records: number; at: number }[] = [];
    let sent = 0;
    const started = performance.now();
    const poll = setInterval(() => {
      const stored = storedRecords(liveDb);
      const now = performance.now();
      // The oldest send not yet stored: how long ago it was sent is the current end-to-end lag.
      const pending = sentAt.find((s) => s.records > stored);
      lags.push(pending === undefined ? 0 : now - pending.at);
    }, 100);
    for (let i = 0; i < liveMsgs.length; i += chunk) {
      const batch = liveMsgs.slice(i, i + chunk);
      await producer.send({ topic: live, acks: -1, messages: batch });
      sent += batch.reduce(
        (s, m) =>
          s +
          String(m.value)
            .split('\n')
            .filter((l) => !l.startsWith('version')).length,
        0,
      );
      sentAt.push({ records: sent, at: performance.now() });
      const due = started + ((i + chunk) * per * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
    }
    const lastSent = performance.now();
    while (storedRecords(liveDb) < sent) await sleep(20);
    const drain = performance.now() - lastSent;
    clearInterval(poll);
    child.kill('SIGTERM');
    await new Promise((r) => child.on('exit', r));
    await producer.disconnect();
    lags.sort((a, b) => a - b);
    const pct = (p: number): number => lags[Math.min(lags.length - 1, Math.floor(lags.length * p))] ?? 0;

    const fmt = (x: number): string => Math.round(x).toLocaleString('en-US');
    process.stdout.write(
      [
        `records: ${fmt(records)}; topic of ${partitions} partitions, ${per} lines per message`,
        `file ingest (collect vpc-flow):            ${fmt(fileRate)} records/s`,
        `kafka produce (kafkajs, acks=all):         ${fmt(produceRate)} records/s`,
        `kafka consume, 1 consumer, backlog:        ${fmt(consumeRate)} records/s (group join included)`,
        `stage 1 (--emit-edges), 1 instance:        ${fmt(stage1Rate)} records/s into ${fmt(deltas)} edge deltas ` +
          `(${(records / Math.max(1, deltas)).toFixed(1)} records per delta)`,
        `stage 2 (--format edges), the one writer:  ${fmt(stage2Rate)} edge rows/s upserted into SQLite ` +
          `(${fmt(stage2.summary.totals.records / stage2.seconds)} raw records/s)`,
        `kafka live at ${fmt(rate)} records/s: end-to-end lag p50 ${fmt(pct(0.5))} ms, p99 ${fmt(pct(0.99))} ms, ` +
          `max ${fmt(pct(1))} ms; drained ${fmt(drain)} ms after the last send`,
      ].join('\n') + '\n',
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
