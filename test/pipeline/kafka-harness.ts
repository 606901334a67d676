/**
 * The real broker the suite starts on 127.0.0.1 (`bash scripts/kafka.sh up`, run by scripts/test.sh), and what
 * the pipeline tests do with it: topics of several partitions, known records produced, totals read back.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import { Kafka, logLevel, type Admin, type Message } from 'kafkajs';
import { afterAll } from 'vitest';
import { bootstrapOf, roundRobinMessages } from '../../scripts/kafka-local.js';
import { CLI } from '../helpers/cli.js';
import { vpcBytes, vpcRecord, V2_HEADER } from '../helpers/vpc-lines.js';

process.env.KAFKAJS_NO_PARTITIONER_WARNING = '1';

export const KAFKA_ENV_FILE = process.env.KAFKA_TEST_ENV_FILE ?? '/tmp/kafka-test-run/env';

export function kafkaBootstrap(): string {
  if (process.env.KAFKA_BOOTSTRAP) return process.env.KAFKA_BOOTSTRAP;
  if (!existsSync(KAFKA_ENV_FILE)) {
    throw new Error(
      `no Kafka broker for the pipeline tests: ${KAFKA_ENV_FILE} is missing; run \`bash scripts/kafka.sh up\``,
    );
  }
  return bootstrapOf(KAFKA_ENV_FILE);
}

/**
 * The secured listeners of the same broker, from the env file `scripts/kafka.sh up` writes: addresses, the SASL
 * user (known to PLAIN and both SCRAM mechanisms), the test CA, a CA that signed nothing, a client certificate.
 */
export interface SecuredBroker {
  readonly sasl: string;
  readonly ssl: string;
  readonly saslSsl: string;
  readonly mtls: string;
  readonly username: string;
  readonly password: string;
  readonly ca: string;
  readonly otherCa: string;
  readonly clientCert: string;
  readonly clientKey: string;
}

export function securedBroker(): SecuredBroker {
  if (!existsSync(KAFKA_ENV_FILE)) kafkaBootstrap();
  const vars = new Map<string, string>();
  for (const m of readFileSync(KAFKA_ENV_FILE, 'utf8').matchAll(/^export (\w+)=(.*)$/gm))
    vars.set(m[1]!, m[2]!);
  const v = (name: string): string => {
    const value = vars.get(name);
    if (value === undefined) {
      throw new Error(
        `${KAFKA_ENV_FILE} names no ${name}: restart the broker (bash scripts/kafka.sh stop && … up)`,
      );
    }
    return value;
  };
  return {
    sasl: v('KAFKA_SASL_BOOTSTRAP'),
    ssl: v('KAFKA_SSL_BOOTSTRAP'),
    saslSsl: v('KAFKA_SASL_SSL_BOOTSTRAP'),
    mtls: v('KAFKA_MTLS_BOOTSTRAP'),
    username: v('KAFKA_SASL_USERNAME'),
    password: v('KAFKA_SASL_PASSWORD'),
    ca: v('KAFKA_TLS_CA'),
    otherCa: v('KAFKA_TLS_OTHER_CA'),
    clientCert: v('KAFKA_TLS_CLIENT_CERT'),
    clientKey: v('KAFKA_TLS_CLIENT_KEY'),
  };
}

export function kafka(): Kafka {
  return new Kafka({
    clientId: 'egress-learner-test',
    brokers: [kafkaBootstrap()],
    logLevel: logLevel.NOTHING,
  });
}

export function uniqueTopic(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

export async function withAdmin<T>(f: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = kafka().admin();
  await admin.connect();
  try {
    return await f(admin);
  } finally {
    await admin.disconnect();
  }
}

export async function createTopics(partitions: number, ...topics: string[]): Promise<void> {
  await withAdmin((a) =>
    a.createTopics({
      waitForLeaders: true,
      topics: topics.map((topic) => ({ topic, numPartitions: partitions })),
    }),
  );
}

/** How records are packed into message values: a few shapes a shipper really produces. */
export type Packing = 'lines' | 'gzip' | 'fluent-bit' | 'mixed';

/**
 * Messages carrying records `from..to-1` (vpcRecord), `perMessage` lines each, round-robin over `partitions`.
 * Every partition's first message starts with the v2 header line, as a Firehose S3-style batch would.
 */
export function vpcMessages(
  from: number,
  to: number,
  perMessage: number,
  partitions: number,
  packing: Packing,
): Message[] {
  return roundRobinMessages(from, to, perMessage, partitions, (i, end, k) => {
    const lines: string[] = [];
    for (let j = i; j < end; j++) lines.push(vpcRecord(j));
    const shape = packing === 'mixed' ? (['lines', 'gzip', 'fluent-bit'] as const)[k % 3]! : packing;
    if (shape === 'fluent-bit') {
      return Buffer.from(lines.map((l) => JSON.stringify({ '@timestamp': 1.7e9, log: l })).join('\n'));
    }
    const text = Buffer.from(`${lines.join('\n')}\n`);
    return shape === 'gzip' ? gzipSync(text) : text;
  });
}

export async function produce(topic: string, messages: Message[]): Promise<void> {
  const producer = kafka().producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    for (let i = 0; i < messages.length; i += 500) {
      await producer.send({ topic, acks: -1, messages: messages.slice(i, i + 500) });
    }
  } finally {
    await producer.disconnect();
  }
}

export { V2_HEADER };

export interface StoreTotals {
  /** flows + replies: one per stored record. */
  readonly records: number;
  readonly bytes: number;
  readonly quarantined: number;
  /** Sum of kafka_offsets.next_offset over the topic's partitions. */
  readonly nextOffsets: number;
}

/** What storeTotals reads once records `0..records-1` (vpcRecord) are stored exactly once, none quarantined. */
export function exactTotals(records: number, nextOffsets: number): StoreTotals {
  return { records, bytes: vpcBytes(records), quarantined: 0, nextOffsets };
}

export function storeTotals(db: string, topic: string): StoreTotals {
  if (!existsSync(db)) return { records: 0, bytes: 0, quarantined: 0, nextOffsets: 0 };
  const d = new Database(db, { readonly: true, fileMustExist: true });
  d.pragma('busy_timeout = 10000');
  try {
    // A collector that just started may not have created the schema yet.
    const hasOffsets =
      d.prepare("SELECT 1 FROM sqlite_master WHERE name = 'kafka_offsets'").get() !== undefined;
    if (!hasOffsets) return { records: 0, bytes: 0, quarantined: 0, nextOffsets: 0 };
    const e = d
      .prepare(
        'SELECT COALESCE(SUM(flows + replies), 0) AS r, COALESCE(SUM(bytes_out + bytes_in), 0) AS b FROM edges',
      )
      .get() as { r: number; b: number };
    const q = d.prepare('SELECT COUNT(*) AS n FROM quarantine').get() as { n: number };
    const o = d
      .prepare('SELECT COALESCE(SUM(next_offset), 0) AS n FROM kafka_offsets WHERE topic = ?')
      .get(topic) as {
      n: number;
    };
    return { records: e.r, bytes: e.b, quarantined: q.n, nextOffsets: o.n };
  } finally {
    d.close();
  }
}

export async function waitFor<T>(
  what: string,
  f: () => T | null | undefined | false,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = f();
    if (v !== null && v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A collect process running in the background, with its stderr kept for assertions. */
export interface Running {
  readonly child: ChildProcess;
  readonly stderr: () => string;
  readonly stdout: () => string;
  readonly exited: Promise<number | null>;
}

/** Collect processes still running; a test that failed midway leaves them behind (see below). */
const running = new Set<ChildProcess>();

// A consumer outlives a failed test otherwise: it retries its broker forever, past the end of the run. After the
// file, not after each test: some files run their tests concurrently, and one test's end must not stop another's.
afterAll(() => {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
});

export function startCollect(args: readonly string[], env: Record<string, string> = {}): Running {
  const child = spawn(process.execPath, [CLI, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, EGRESS_LEARNER_DB: '', ...env },
  });
  running.add(child);
  child.on('exit', () => running.delete(child));
  let err = '';
  let out = '';
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  // 'close', not 'exit': by then stdout and stderr are read to their end.
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, stderr: () => err, stdout: () => out, exited };
}

/** Restarts the broker keeping its data (scripts/kafka.sh restart): 5-10 s. */
export function restartBroker(): void {
  execFileSync('bash', [fileURLToPath(new URL('../../scripts/kafka.sh', import.meta.url)), 'restart'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}
