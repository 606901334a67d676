/**
 * The local broker of scripts/kafka.sh and the `collect kafka` command line run against it, shared by
 * `npm run bench:kafka` (./bench/kafka.ts) and the pipeline tests (test/pipeline/). Here, not in the tests'
 * harness, because scripts do not import tests.
 */
import { readFileSync } from 'node:fs';
import type { Message } from 'kafkajs';

/** The bootstrap address in the env file `scripts/kafka.sh up` writes. */
export function bootstrapOf(envFile: string): string {
  const m = /KAFKA_BOOTSTRAP=(\S+)/.exec(readFileSync(envFile, 'utf8'));
  if (!m) throw new Error(`${envFile} names no KAFKA_BOOTSTRAP`);
  return m[1]!;
}

export interface CollectKafka {
  readonly brokers: string;
  readonly topic: string;
  /** The database; stage 1 (`--emit-edges`) writes none. */
  readonly db?: string;
  readonly quiet?: boolean;
  readonly format?: string;
  /**
   * Default: the topic. A group per topic, because one group over several topics would make every run's
   * rebalance wait for the others.
   */
  readonly group?: string;
}

/**
 * `collect kafka` arguments (without the program): global options first, then the command, then `extra`, which
 * comes last so that an option repeated there wins.
 */
export function collectKafkaArgs(c: CollectKafka, ...extra: string[]): string[] {
  return [
    ...(c.quiet === true ? ['--quiet'] : []),
    ...(c.db !== undefined ? ['--db', c.db] : []),
    'collect',
    'kafka',
    '--brokers',
    c.brokers,
    '--topic',
    c.topic,
    '--format',
    c.format ?? 'vpc-flow',
    '--group',
    c.group ?? c.topic,
    ...extra,
  ];
}

/**
 * Records `from..to-1` as messages of `perMessage` records each, round-robin over `partitions` (the k-th
 * message to partition k % partitions); `value` packs the records `i..end-1` of the k-th message.
 */
export function roundRobinMessages(
  from: number,
  to: number,
  perMessage: number,
  partitions: number,
  value: (i: number, end: number, k: number) => Buffer | string,
): Message[] {
  const out: Message[] = [];
  for (let i = from, k = 0; i < to; i += perMessage, k++) {
    out.push({ partition: k % partitions, value: value(i, Math.min(to, i + perMessage), k) });
  }
  return out;
}
