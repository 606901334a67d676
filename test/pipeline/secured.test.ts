/*
 * `collect kafka` against the secured listeners of the test broker (scripts/kafka.sh): SASL PLAIN and SCRAM
 * (SHA-256 and SHA-512) without and with TLS, TLS with a private CA, mutual TLS. Records are produced on the
 * plaintext listener; each run reads them through one secured listener with its own group and database, so
 * exact totals prove the options reached every connection kafkajs opened (metadata, group coordinator, fetch).
 * Refusals (a wrong password, an unknown user, an untrusted CA, a missing client certificate) must be one line on
 * stderr, exit 2, and quick: not kafkajs' whole retry budget.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { collectKafkaArgs } from '../../scripts/kafka-local.js';
import { vpcBytes } from '../helpers/vpc-lines.js';
import {
  createTopics,
  exactTotals,
  produce,
  securedBroker,
  startCollect,
  storeTotals,
  uniqueTopic,
  vpcMessages,
} from './kafka-harness.js';

const broker = securedBroker();
const RECORDS = 600;
const MESSAGES = 60;
let topic = '';

beforeAll(async () => {
  topic = uniqueTopic('secured');
  await createTopics(3, topic);
  await produce(topic, vpcMessages(0, RECORDS, RECORDS / MESSAGES, 3, 'mixed'));
});

interface Connect {
  readonly brokers: string;
  readonly flags: readonly string[];
  /** EGRESS_LEARNER_KAFKA_PASSWORD; unset when undefined. */
  readonly password?: string;
}

const sasl = (mechanism: string, username = broker.username): string[] => [
  '--sasl-mechanism',
  mechanism,
  '--sasl-username',
  username,
];
const tlsCa = (ca = broker.ca): string[] => ['--tls-ca', ca];
const clientCert = (): string[] => ['--tls-cert', broker.clientCert, '--tls-key', broker.clientKey];

/**
 * A temp directory removed when the test ends. The test's own hook, because the global `afterEach` of
 * test/helpers/tmp.ts does not know which of several concurrent tests it belongs to.
 */
function tempDir(ctx: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'el-kafka-'));
  ctx.onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs `collect kafka` on the shared topic through `c` into a fresh database, as its own group. */
async function run(ctx: TestContext, name: string, c: Connect, ...extra: string[]) {
  const db = join(tempDir(ctx), `${name}.db`);
  const started = performance.now();
  const r = startCollect(
    collectKafkaArgs(
      { quiet: true, db, brokers: c.brokers, topic, group: `${topic}-${name}` },
      ...c.flags,
      '--from-beginning',
      '--idle-exit',
      '1.5s',
      ...extra,
    ),
    c.password === undefined ? {} : { EGRESS_LEARNER_KAFKA_PASSWORD: c.password },
  );
  const code = await r.exited;
  return { code, stderr: r.stderr(), seconds: (performance.now() - started) / 1000, db };
}

// Concurrent: each run spends most of its time joining its group and waiting out --idle-exit.
describe.concurrent('collect kafka through a secured listener stores every record once', () => {
  const cases: [string, () => Connect][] = [
    [
      'SASL_PLAINTEXT, PLAIN',
      () => ({ brokers: broker.sasl, flags: sasl('plain'), password: broker.password }),
    ],
    [
      'SASL_PLAINTEXT, SCRAM-SHA-256',
      () => ({ brokers: broker.sasl, flags: sasl('scram-sha-256'), password: broker.password }),
    ],
    [
      'SASL_PLAINTEXT, SCRAM-SHA-512',
      () => ({ brokers: broker.sasl, flags: sasl('scram-sha-512'), password: broker.password }),
    ],
    ['SSL with the CA in --tls-ca', () => ({ brokers: broker.ssl, flags: tlsCa() })],
    [
      'SASL_SSL, SCRAM-SHA-512 over TLS',
      () => ({
        brokers: broker.saslSsl,
        flags: [...tlsCa(), ...sasl('scram-sha-512')],
        password: broker.password,
      }),
    ],
    [
      'mutual TLS with a client certificate',
      () => ({ brokers: broker.mtls, flags: [...tlsCa(), ...clientCert()] }),
    ],
  ];
  it.for(cases)('%s', async ([name, connect], ctx) => {
    const r = await run(ctx, name.replace(/\W+/g, '-'), connect());
    ctx.expect(r.stderr).toBe('');
    ctx.expect(r.code).toBe(0);
    ctx.expect(storeTotals(r.db, topic)).toEqual(exactTotals(RECORDS, MESSAGES));
  });
});

/** One line on stderr, no stack, exit 2, nothing stored, and well inside kafkajs' ~45 s of retries (a refusal
 * takes about 1.5 s). */
function expectRefused(r: Awaited<ReturnType<typeof run>>, brokers: string, message: RegExp): void {
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^egress-learner: kafka ${brokers.replace(/\./g, '\\.')}: `));
  expect(lines[0]).toMatch(message);
  expect(r.code).toBe(2);
  expect(storeTotals(r.db, topic).records).toBe(0);
  expect(r.seconds).toBeLessThan(20);
}

// One at a time, so that the time bound measures the refusal and not CPU contention.
describe('collect kafka refuses bad credentials and untrusted brokers in one line', () => {
  it('a wrong PLAIN password', async (ctx) => {
    const r = await run(ctx, 'bad-plain', { brokers: broker.sasl, flags: sasl('plain'), password: 'wrong' });
    expectRefused(r, broker.sasl, /SASL PLAIN authentication failed/);
  });

  it('a wrong SCRAM-SHA-256 password', async (ctx) => {
    const r = await run(ctx, 'bad-scram256', {
      brokers: broker.sasl,
      flags: sasl('scram-sha-256'),
      password: 'wrong',
    });
    expectRefused(r, broker.sasl, /SASL SCRAM SHA256 authentication failed.*invalid credentials/);
  });

  it('a SCRAM-SHA-512 user the broker does not know, over TLS', async (ctx) => {
    const r = await run(ctx, 'unknown-user', {
      brokers: broker.saslSsl,
      flags: [...tlsCa(), ...sasl('scram-sha-512', 'nobody')],
      password: broker.password,
    });
    expectRefused(r, broker.saslSsl, /SASL SCRAM SHA512 authentication failed/);
  });

  it('a CA that did not sign the broker certificate', async (ctx) => {
    const r = await run(ctx, 'other-ca', { brokers: broker.ssl, flags: tlsCa(broker.otherCa) });
    expectRefused(r, broker.ssl, /certificate is not trusted \(SELF_SIGNED_CERT_IN_CHAIN: .*--tls-ca$/);
  });

  it('--tls with the system CAs only, against a private CA', async (ctx) => {
    const r = await run(ctx, 'system-ca', { brokers: broker.ssl, flags: ['--tls'] });
    expectRefused(r, broker.ssl, /certificate is not trusted/);
  });

  it('no client certificate where the broker requires one', async (ctx) => {
    const r = await run(ctx, 'no-client-cert', { brokers: broker.mtls, flags: tlsCa() });
    expectRefused(r, broker.mtls, /TLS: the handshake failed \(ERR_SSL_.*--tls-cert and --tls-key$/);
  });
});

describe('two-stage pipeline through secured listeners', () => {
  it('stage 1 over SASL_SSL (transactions, group offsets) and stage 2 over mutual TLS: totals exact', async (ctx) => {
    const edges = `${topic}-edges`;
    await createTopics(2, edges);
    const stage1 = startCollect(
      collectKafkaArgs(
        { quiet: true, brokers: broker.saslSsl, topic, group: `${topic}-stage1` },
        ...tlsCa(),
        ...sasl('scram-sha-256'),
        '--from-beginning',
        '--idle-exit',
        '1.5s',
        '--emit-edges',
        edges,
      ),
      { EGRESS_LEARNER_KAFKA_PASSWORD: broker.password },
    );
    expect(await stage1.exited).toBe(0);
    expect(stage1.stderr()).toBe('');
    const db = join(tempDir(ctx), 'two-stage.db');
    const stage2 = startCollect(
      collectKafkaArgs(
        { quiet: true, db, brokers: broker.mtls, topic: edges, format: 'edges', group: `${topic}-stage2` },
        ...tlsCa(),
        ...clientCert(),
        '--from-beginning',
        '--idle-exit',
        '1.5s',
      ),
    );
    expect(await stage2.exited).toBe(0);
    expect(stage2.stderr()).toBe('');
    const t = storeTotals(db, edges);
    expect({ records: t.records, bytes: t.bytes, quarantined: t.quarantined }).toEqual({
      records: RECORDS,
      bytes: vpcBytes(RECORDS),
      quarantined: 0,
    });
  }, 60_000);
});
