import { Command, Option } from 'commander';
import { InputError, UsageError } from '../model/errors.js';
import { kafkaConfig, SASL_MECHANISMS, SASL_PASSWORD_ENV } from '../pipeline/kafka-client.js';
import { KAFKA_FORMATS, kafkaFormat, type KafkaFormatName } from '../pipeline/kafka-format.js';
import { PipelineMetrics, serveMetrics } from '../pipeline/metrics.js';
import { consumeIntoStore, type KafkaIngestResult } from '../pipeline/store-consumer.js';
import { runBothStages } from '../pipeline/both-stages.js';
import { emitEdges } from '../pipeline/edge-producer.js';
import { checkTls } from '../pipeline/tls-check.js';
import { logger, openForWrite, say, type GlobalOptions } from './context.js';
import { parseDuration } from './time-window.js';

interface CollectKafkaOptions {
  readonly brokers: string;
  readonly topic: string;
  readonly format: KafkaFormatName;
  readonly group: string;
  readonly fromBeginning?: boolean;
  readonly deadLetterTopic?: string;
  readonly emitEdges?: string;
  readonly storeEdges?: boolean;
  readonly metricsPort?: string;
  readonly metricsHost: string;
  readonly idleExit?: string;
  readonly sessionTimeout: string;
  readonly bucket?: string;
  readonly fields?: string;
  readonly clientId?: string;
  readonly tls?: boolean;
  readonly tlsCa?: string;
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  readonly saslMechanism?: string;
  readonly saslUsername?: string;
  readonly output: string;
  readonly maxBytes: string;
}

/**
 * `collect kafka --brokers … --topic T --format F`: a member of a consumer group; run N copies and the
 * partitions spread over them. Into SQLite by default (offsets stored with the data); with `--emit-edges` it is
 * stage 1 of the two-stage pipeline and produces edge deltas instead.
 */
export function collectKafkaCommand(): Command {
  return new Command('kafka')
    .description('consume log lines from a Kafka topic as a consumer group (exactly once into the database)')
    .requiredOption('--brokers <host:port,...>', 'bootstrap brokers')
    .requiredOption('--topic <topic>', 'topic to read')
    .addOption(
      new Option('--format <format>', 'what the messages hold (edges: deltas from a stage-1 --emit-edges)')
        .choices([...KAFKA_FORMATS])
        .makeOptionMandatory(),
    )
    .option('--group <id>', 'consumer group id', 'egress-learner')
    .option('--from-beginning', 'read a partition never read before from its start (default: from its end)')
    .option('--dead-letter-topic <topic>', 'also re-publish messages with malformed lines here')
    .option(
      '--emit-edges <topic>',
      'stage 1: produce edge deltas to this topic (Kafka transactions) instead of writing the database',
    )
    .option(
      '--store-edges',
      'with --emit-edges: also run stage 2 in this process (group <group>-store), storing the deltas in the database',
    )
    .option(
      '--session-timeout <duration>',
      'how long the group waits for a silent member (a killed consumer) before moving its partitions',
      '10s',
    )
    .option('--metrics-port <port>', 'serve Prometheus metrics on /metrics (0: any free port)')
    .option('--metrics-host <address>', 'address for --metrics-port', '127.0.0.1')
    .option(
      '--idle-exit <duration>',
      'stop once no message arrived for this long (e.g. 30s); default: run until SIGTERM',
    )
    .option('--bucket <duration>', 'time bucket of stored edges, fixed per database (e.g. 1h, 15m)')
    .option('--fields <list>', 'vpc-flow: field names of a custom format without a header line')
    .option('--client-id <id>', 'Kafka client id', 'egress-learner')
    .option('--tls', 'connect with TLS (system CAs unless --tls-ca)')
    .option('--tls-ca <file>', 'PEM CA bundle for the brokers')
    .option('--tls-cert <file>', 'PEM client certificate (mutual TLS)')
    .option('--tls-key <file>', 'PEM client key')
    .addOption(
      new Option('--sasl-mechanism <mechanism>', 'SASL authentication').choices([...SASL_MECHANISMS]),
    )
    .option('--sasl-username <user>', `SASL user; the password is read from $${SASL_PASSWORD_ENV}`)
    .addOption(
      new Option('-o, --output <format>', 'summary format').choices(['text', 'json']).default('text'),
    )
    .addOption(
      new Option('--max-bytes <n>', 'fetch size per partition (one batch)').default('4194304').hideHelp(),
    )
    .addHelpText(
      'after',
      `
Message values may be plain lines (one or many), gzip-compressed lines, or JSON records as Fluent Bit
({"log": "<line>"}), Vector ({"message": "<line>"}) or CloudWatch Logs subscriptions (logEvents) deliver them.
SIGTERM or SIGINT finishes the batch in hand, commits it and leaves the group (exit 0).

Examples:
  egress-learner collect kafka --brokers kafka-0:9092,kafka-1:9092 --topic vpc-flow-logs --format vpc-flow
  egress-learner collect kafka --brokers kafka:9092 --topic flows --format vpc-flow --emit-edges edges   # stage 1
  egress-learner collect kafka --brokers kafka:9092 --topic edges --format edges --group writer         # stage 2
  egress-learner collect kafka --brokers kafka:9092 --topic flows --format vpc-flow --emit-edges edges --store-edges  # both`,
    )
    .action(async (opts: CollectKafkaOptions, self: Command) => {
      const g = self.optsWithGlobals<GlobalOptions>();
      const log = logger(g);
      const config = kafkaConfig(opts, log);
      const format = kafkaFormat(opts.format);
      const parserOptions: Record<string, string | undefined> = { fields: opts.fields };
      if (format.kind === 'observations') format.collector.createParser(parserOptions, null);
      const metricsPort = opts.metricsPort === undefined ? undefined : port(opts.metricsPort);
      const idleExitMs =
        opts.idleExit === undefined ? undefined : duration(opts.idleExit, '--idle-exit') * 1000;
      const maxBytes = Number(opts.maxBytes);
      const sessionTimeoutMs = duration(opts.sessionTimeout, '--session-timeout') * 1000;
      let bucket: number | undefined;
      if (opts.bucket !== undefined) {
        const d = parseDuration(opts.bucket);
        if (d === null || d < 1 || !Number.isInteger(d) || 86400 % d !== 0) {
          throw new UsageError(
            `--bucket ${JSON.stringify(opts.bucket)}: expected a duration that divides a day, e.g. 1h`,
          );
        }
        bucket = d;
      }
      if (opts.storeEdges === true && opts.emitEdges === undefined) {
        throw new UsageError('--store-edges runs stage 2 beside stage 1: it needs --emit-edges <topic>');
      }
      if (opts.emitEdges !== undefined && format.kind !== 'observations') {
        throw new UsageError(
          '--emit-edges reads flow or proxy logs (vpc-flow, squid, envoy); DNS and edges go to the database',
        );
      }

      const metrics = new PipelineMetrics(opts.topic);
      const storeEdges = opts.storeEdges === true ? opts.emitEdges : undefined;
      const storeMetrics = storeEdges !== undefined ? new PipelineMetrics(storeEdges) : null;
      const abort = new AbortController();
      const onSignal = (): void => abort.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      let server: Awaited<ReturnType<typeof serveMetrics>>['server'] | null = null;
      const started = performance.now();
      try {
        // A CA that does not sign the broker's certificate would otherwise cost kafkajs' whole retry budget.
        if (config.ssl !== undefined && config.ssl !== false && Array.isArray(config.brokers)) {
          await checkTls(config.brokers, config.ssl === true ? {} : config.ssl);
        }
        if (metricsPort !== undefined) {
          const s = await serveMetrics(
            storeMetrics !== null ? [metrics, storeMetrics] : metrics,
            metricsPort,
            opts.metricsHost,
          );
          server = s.server;
          log.info({ url: `http://${opts.metricsHost}:${s.port}/metrics` }, 'metrics');
          if (!g.quiet) say(g, `metrics: http://${opts.metricsHost}:${s.port}/metrics`);
        }
        const common = {
          kafka: config,
          topic: opts.topic,
          groupId: opts.group,
          fromBeginning: opts.fromBeginning === true,
          format,
          parserOptions,
          deadLetterTopic: opts.deadLetterTopic,
          metrics,
          log,
          signal: abort.signal,
          idleExitMs,
          sessionTimeoutMs,
          maxBytesPerPartition: Number.isInteger(maxBytes) && maxBytes > 0 ? maxBytes : undefined,
        };
        let result: KafkaIngestResult;
        let stored: KafkaIngestResult | null = null;
        if (storeEdges !== undefined) {
          const store = openForWrite(g, { memoryTemp: true });
          try {
            store.bucketSeconds(bucket);
            const both = await runBothStages(store, {
              ...common,
              edgesTopic: storeEdges,
              bucketSeconds: store.bucketSeconds(),
              storeGroupId: `${opts.group}-store`,
              storeMetrics: storeMetrics!,
            });
            result = both.emitted;
            stored = both.stored;
          } finally {
            store.close();
          }
        } else if (opts.emitEdges !== undefined) {
          result = await emitEdges({ ...common, edgesTopic: opts.emitEdges, bucketSeconds: bucket ?? 3600 });
        } else {
          const store = openForWrite(g, { memoryTemp: true });
          try {
            store.bucketSeconds(bucket);
            result = await consumeIntoStore(store, common);
          } finally {
            store.close();
          }
        }
        const seconds = (performance.now() - started) / 1000;
        report(g, opts, result, seconds, stored);
      } catch (err) {
        if (typeof (err as Error | null)?.name === 'string' && (err as Error).name.startsWith('KafkaJS')) {
          throw new InputError(`kafka ${opts.brokers}`, (err as Error).message, 'kafka');
        }
        throw err;
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        server?.close();
        // However the run ended (a signal, an error, an idle exit), the process must end even if a Kafka client
        // still holds a socket (a consumer that could not leave a group mid-rebalance after a broker restart):
        // everything worth keeping is committed by now. Unreferenced, the timer never delays a clean exit.
        setTimeout(
          () => process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0),
          5000,
        ).unref();
      }
    });
}

/**
 * The run's summary: JSON on stdout, or one line per stage on stderr. With both stages in one process, `store`
 * is stage 2's part (its counters are the raw records its deltas summed).
 */
function report(
  g: GlobalOptions,
  opts: CollectKafkaOptions,
  r: KafkaIngestResult,
  seconds: number,
  stored: KafkaIngestResult | null,
): void {
  if (opts.output === 'json') {
    const summary = (x: KafkaIngestResult) => ({
      messages: x.messages,
      batches: x.batches,
      edges: x.edges,
      conflicts: x.conflicts,
      totals: x.counts,
      reasons: Object.fromEntries(Object.entries(x.reasons).sort(([a], [b]) => (a < b ? -1 : 1))),
    });
    const doc = {
      format: opts.format,
      topic: opts.topic,
      seconds: Math.round(seconds * 1000) / 1000,
      ...summary(r),
      ...(stored !== null
        ? { store: { topic: opts.emitEdges, group: `${opts.group}-store`, ...summary(stored) } }
        : {}),
    };
    process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
  } else if (!g.quiet) {
    const fmt = (n: number): string => n.toLocaleString('en-US');
    const line = (topic: string, x: KafkaIngestResult): string => {
      const c = x.counts;
      return (
        `kafka ${topic}: read ${fmt(x.messages)} messages, ${fmt(c.records)} records in ${seconds.toFixed(1)} s: ` +
        `stored ${fmt(c.stored)}, skipped ${fmt(c.skipped)}, malformed ${fmt(c.malformed)}` +
        (c.malformed > 0 ? `; see 'egress-learner query quarantine'` : '') +
        '\n'
      );
    };
    say(g, line(opts.topic, r) + (stored !== null ? line(opts.emitEdges!, stored) : ''));
  }
}

function port(text: string): number {
  if (!/^\d+$/.test(text) || Number(text) > 65535) {
    throw new UsageError(`--metrics-port ${JSON.stringify(text)}: expected a port number (0-65535)`);
  }
  return Number(text);
}

function duration(text: string, flag: string): number {
  const d = parseDuration(text);
  if (d === null || d <= 0)
    throw new UsageError(`${flag} ${JSON.stringify(text)}: expected a duration, e.g. 30s`);
  return d;
}
