import { Writable } from 'node:stream';
import { logLevel } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { kafkaLogCreator } from '../../src/pipeline/kafka-client.js';
import { createLogger } from '../../src/util/log.js';

function capture(): { lines: () => { level: number; msg: string; broker?: string }[]; stream: Writable } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString();
      done();
    },
  });
  const lines = () =>
    text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { level: number; msg: string; broker?: string });
  return { lines, stream };
}

describe("kafkajs's log", () => {
  it('says once per broker that it cannot be reached, and keeps retries and noise at debug', async () => {
    const out = capture();
    const log = createLogger('info', 'json', out.stream);
    // One creator per client: keep it, as kafkajs does.
    const write = kafkaLogCreator(log)(logLevel.WARN);
    const at = (level: logLevel, message: string, extra: Record<string, unknown> = {}) =>
      write({
        namespace: 'Connection',
        level,
        label: '',
        log: { timestamp: '', logger: 'kafkajs', message, ...extra },
      });
    for (let i = 0; i < 3; i++) {
      at(logLevel.ERROR, 'Connection error: connect ECONNREFUSED 127.0.0.1:1', { broker: '127.0.0.1:1' });
      at(logLevel.ERROR, 'Connection error: connect ECONNREFUSED 127.0.0.1:2', { broker: '127.0.0.1:2' });
    }
    at(logLevel.ERROR, 'The coordinator is loading and hence can not process requests');
    at(logLevel.ERROR, 'Crash: KafkaJSNumberOfRetriesExceeded: Connection error');
    at(logLevel.INFO, 'Consumer has joined the group');
    await new Promise((r) => setImmediate(r));
    expect(out.lines().map((l) => [l.level, l.broker ?? null, l.msg.split(' (')[0]])).toEqual([
      [40, '127.0.0.1:1', 'cannot reach the broker'],
      [40, '127.0.0.1:2', 'cannot reach the broker'],
      [40, null, 'Crash: KafkaJSNumberOfRetriesExceeded: Connection error'],
    ]);
  });
});
