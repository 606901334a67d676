import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import type { KafkaConfig, logCreator, SASLOptions } from 'kafkajs';
import { kafkajs } from '../util/lazy.js';
import { UsageError } from '../model/errors.js';
import type { Logger } from '../util/log.js';

export const SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;
export type SaslMechanism = (typeof SASL_MECHANISMS)[number];

/** The environment variable holding the SASL password: a password on the command line is visible in `ps`. */
export const SASL_PASSWORD_ENV = 'EGRESS_LEARNER_KAFKA_PASSWORD';

/** Connection options as the CLI takes them. */
export interface KafkaConnectOptions {
  /** `host:port,…` */
  readonly brokers: string;
  readonly clientId?: string | undefined;
  readonly tls?: boolean | undefined;
  /** PEM files. */
  readonly tlsCa?: string | undefined;
  readonly tlsCert?: string | undefined;
  readonly tlsKey?: string | undefined;
  readonly saslMechanism?: string | undefined;
  readonly saslUsername?: string | undefined;
}

const BROKER = /^[A-Za-z0-9.\-_[\]:]+:\d{1,5}$/;

function readPem(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new UsageError(`${flag} ${path}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
}

/** Validates the options once, before any connection, and builds the kafkajs client configuration. */
export function kafkaConfig(
  o: KafkaConnectOptions,
  log: Logger,
  env: NodeJS.ProcessEnv = process.env,
): KafkaConfig {
  const brokers = o.brokers
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b !== '');
  if (brokers.length === 0 || brokers.some((b) => !BROKER.test(b))) {
    throw new UsageError(`--brokers ${JSON.stringify(o.brokers)}: expected host:port[,host:port…]`);
  }
  let ssl: ConnectionOptions | boolean | undefined;
  if (o.tls || o.tlsCa !== undefined || o.tlsCert !== undefined || o.tlsKey !== undefined) {
    if ((o.tlsCert === undefined) !== (o.tlsKey === undefined)) {
      throw new UsageError('--tls-cert and --tls-key go together (a client certificate needs its key)');
    }
    ssl = {
      ...(o.tlsCa !== undefined ? { ca: [readPem(o.tlsCa, '--tls-ca')] } : {}),
      ...(o.tlsCert !== undefined ? { cert: readPem(o.tlsCert, '--tls-cert') } : {}),
      ...(o.tlsKey !== undefined ? { key: readPem(o.tlsKey, '--tls-key') } : {}),
    };
  }
  let sasl: SASLOptions | undefined;
  if (o.saslMechanism !== undefined) {
    const mechanism = o.saslMechanism as SaslMechanism;
    if (!SASL_MECHANISMS.includes(mechanism)) {
      throw new UsageError(
        `--sasl-mechanism ${JSON.stringify(o.saslMechanism)}: expected one of ${SASL_MECHANISMS.join(', ')}`,
      );
    }
    const password = env[SASL_PASSWORD_ENV];
    if (o.saslUsername === undefined || password === undefined) {
      throw new UsageError(
        `--sasl-mechanism needs --sasl-username and the password in $${SASL_PASSWORD_ENV}`,
      );
    }
    sasl = { mechanism, username: o.saslUsername, password } as SASLOptions;
  }
  return {
    clientId: o.clientId ?? 'egress-learner',
    brokers,
    ...(ssl !== undefined ? { ssl } : {}),
    ...(sasl !== undefined ? { sasl } : {}),
    // A broker restart takes 5-10 s; ride it out rather than crash the consumer after kafkajs' default ~9 s.
    retry: { initialRetryTime: 300, retries: 12, maxRetryTime: 5_000 },
    logLevel: kafkajs().logLevel.WARN,
    logCreator: kafkaLogCreator(log),
  };
}

/**
 * kafkajs logs retriable conditions at ERROR (a coordinator that is loading, a broker that restarts) and retries
 * them itself, so its log is debug detail here. Two things a person needs to see: a consumer crash (it says why the
 * consumer restarts, or, when it does not, the command fails with that error anyway), and, once per broker, that
 * a broker cannot be reached (the retries take most of a minute before the command gives up, silent otherwise).
 */
export function kafkaLogCreator(log: Logger): logCreator {
  return () => {
    const unreachable = new Set<string>();
    return ({ level, log: entry }) => {
      const { message, ...rest } = entry;
      const fields = { kafka: true, ...rest };
      const broker = typeof rest['broker'] === 'string' ? rest['broker'] : '';
      if (level <= kafkajs().logLevel.ERROR && message.startsWith('Crash')) log.warn(fields, message);
      else if (
        level <= kafkajs().logLevel.ERROR &&
        message.startsWith('Connection error') &&
        !unreachable.has(broker)
      ) {
        unreachable.add(broker);
        log.warn({ broker }, `cannot reach the broker (${message}); retrying`);
      } else log.debug(fields, message);
    };
  };
}
