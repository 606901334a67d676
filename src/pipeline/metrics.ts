/**
 * The consumer's counters in the Prometheus text format (version 0.0.4), served by node:http on `/metrics`.
 * Rates come from the counters (`rate(egress_learner_kafka_records_total[1m])`); the records/s gauge is the
 * same over the last ten seconds, for a person looking at the page.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Bounded error kinds: a raw exception message never becomes a label value. */
export const PIPELINE_ERRORS = ['kafka', 'store', 'dead_letter', 'conflict'] as const;
export type PipelineError = (typeof PIPELINE_ERRORS)[number];

interface PartitionGauge {
  lag: number;
  nextOffset: number;
}

const RATE_WINDOW_MS = 10_000;

export class PipelineMetrics {
  readonly #topic: string;
  #records = 0;
  #messages = 0;
  #stored = 0;
  #malformed = 0;
  #commits = 0;
  #commitSeconds = 0;
  #rebalances = 0;
  readonly #errors: Record<PipelineError, number> = { kafka: 0, store: 0, dead_letter: 0, conflict: 0 };
  readonly #partitions = new Map<number, PartitionGauge>();
  /** (time ms, records total) samples for the records/s gauge. */
  #samples: [number, number][] = [];
  readonly #now: () => number;

  constructor(topic: string, now: () => number = () => performance.now()) {
    this.#topic = topic;
    this.#now = now;
  }

  batch(p: {
    partition: number;
    messages: number;
    records: number;
    stored: number;
    malformed: number;
    nextOffset: number;
    highWatermark: number;
    commitSeconds: number;
  }): void {
    this.#messages += p.messages;
    this.#records += p.records;
    this.#stored += p.stored;
    this.#malformed += p.malformed;
    this.#commits++;
    this.#commitSeconds += p.commitSeconds;
    this.lag(p.partition, p.nextOffset, p.highWatermark);
    const t = this.#now();
    this.#samples.push([t, this.#records]);
    while (this.#samples.length > 2 && this.#samples[0]![0] < t - RATE_WINDOW_MS) this.#samples.shift();
  }

  lag(partition: number, nextOffset: number, highWatermark: number): void {
    this.#partitions.set(partition, { nextOffset, lag: Math.max(0, highWatermark - nextOffset) });
  }

  /** A partition went to another consumer: its gauges are no longer this one's to report. */
  forget(partition: number): void {
    this.#partitions.delete(partition);
  }

  error(kind: PipelineError): void {
    this.#errors[kind]++;
  }

  rebalance(): void {
    this.#rebalances++;
  }

  get records(): number {
    return this.#records;
  }

  /** Sum of lag over the partitions this consumer holds. */
  get totalLag(): number {
    let n = 0;
    for (const p of this.#partitions.values()) n += p.lag;
    return n;
  }

  recordsPerSecond(): number {
    const s = this.#samples;
    if (s.length < 2) return 0;
    const [t0, r0] = s[0]!;
    const [t1, r1] = s[s.length - 1]!;
    return t1 > t0 ? ((r1 - r0) * 1000) / (t1 - t0) : 0;
  }

  render(): string {
    return renderMetrics([this]);
  }

  /** The metric families with this consumer's samples, in a fixed order. */
  families(): MetricFamily[] {
    const t = JSON.stringify(this.#topic);
    const parts = [...this.#partitions.entries()].sort((a, b) => a[0] - b[0]);
    return [
      family('egress_learner_kafka_messages_total', 'counter', 'Kafka messages read.', [
        [`topic=${t}`, this.#messages],
      ]),
      family('egress_learner_kafka_records_total', 'counter', 'Log records (lines) read from messages.', [
        [`topic=${t}`, this.#records],
      ]),
      family(
        'egress_learner_kafka_records_stored_total',
        'counter',
        'Records summed into edges or answers.',
        [[`topic=${t}`, this.#stored]],
      ),
      family('egress_learner_kafka_records_malformed_total', 'counter', 'Records quarantined.', [
        [`topic=${t}`, this.#malformed],
      ]),
      family('egress_learner_kafka_records_per_second', 'gauge', 'Records read per second, last 10 s.', [
        [`topic=${t}`, Math.round(this.recordsPerSecond())],
      ]),
      family('egress_learner_kafka_commits_total', 'counter', 'Batches committed.', [
        [`topic=${t}`, this.#commits],
      ]),
      family('egress_learner_kafka_commit_seconds_total', 'counter', 'Time spent committing batches.', [
        [`topic=${t}`, Math.round(this.#commitSeconds * 1e6) / 1e6],
      ]),
      family('egress_learner_kafka_rebalances_total', 'counter', 'Partition assignments received.', [
        [`topic=${t}`, this.#rebalances],
      ]),
      family(
        'egress_learner_kafka_errors_total',
        'counter',
        'Errors by kind: kafka (client), store (SQLite), dead_letter (produce), conflict (partition moved).',
        PIPELINE_ERRORS.map((k) => [`topic=${t},kind="${k}"`, this.#errors[k]]),
      ),
      family(
        'egress_learner_kafka_lag',
        'gauge',
        'Messages behind the partition end at the last fetch.',
        parts.map(([p, g]) => [`topic=${t},partition="${p}"`, g.lag]),
      ),
      family(
        'egress_learner_kafka_next_offset',
        'gauge',
        'The next offset to read (stored with the data).',
        parts.map(([p, g]) => [`topic=${t},partition="${p}"`, g.nextOffset]),
      ),
    ];
  }
}

/** One metric: its name, type and help, and its samples as (label text, value). */
export interface MetricFamily {
  readonly name: string;
  readonly type: 'counter' | 'gauge';
  readonly help: string;
  readonly samples: readonly (readonly [string, number])[];
}

function family(
  name: string,
  type: MetricFamily['type'],
  help: string,
  samples: readonly (readonly [string, number])[],
): MetricFamily {
  return { name, type, help, samples };
}

/**
 * Several consumers on one page (both stages in one process): each family's HELP and TYPE once, then every
 * consumer's samples, told apart by their `topic` label. The text format allows a family only once.
 */
export function renderMetrics(all: readonly PipelineMetrics[]): string {
  const lines: string[] = [];
  const byConsumer = all.map((m) => m.families());
  const first = byConsumer[0] ?? [];
  for (let i = 0; i < first.length; i++) {
    const f = first[i]!;
    lines.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`);
    for (const families of byConsumer) {
      for (const [labels, v] of families[i]!.samples) lines.push(`${f.name}{${labels}} ${v}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** Serves `/metrics`; port 0 picks a free one (the bound port is returned). */
export async function serveMetrics(
  metrics: PipelineMetrics | readonly PipelineMetrics[],
  port: number,
  host: string,
): Promise<{ server: Server; port: number }> {
  const all = Array.isArray(metrics) ? (metrics as readonly PipelineMetrics[]) : [metrics as PipelineMetrics];
  const server = createServer((req, res) => {
    if (req.method === 'GET' && (req.url === '/metrics' || req.url === '/')) {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
      res.end(renderMetrics(all));
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return { server, port: (server.address() as AddressInfo).port };
}
