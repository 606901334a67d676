import { Writable } from 'node:stream';
import type { Logger } from 'pino';
import { pino } from './lazy.js';

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export type { Logger };

const LEVEL_NAMES: Record<number, string> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
};

/**
 * Logs go to stderr (data goes to stdout). JSON is pino's own line format; text reformats those lines for a
 * person. Disabled levels cost one comparison inside pino.
 */
export function createLogger(
  level: LogLevel,
  format: LogFormat,
  stream: NodeJS.WritableStream = process.stderr,
): Logger {
  if (format === 'json') return pino().pino({ level, base: null }, stream);
  const text = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line === '') continue;
        const { level: lv, time, msg, ...rest } = JSON.parse(line) as Record<string, unknown>;
        const fields = Object.entries(rest)
          .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
          .join(' ');
        const when = new Date(time as number).toISOString();
        stream.write(
          `${when} ${LEVEL_NAMES[lv as number] ?? lv} ${String(msg ?? '')}${fields ? ` ${fields}` : ''}\n`,
        );
      }
      done();
    },
  });
  return pino().pino({ level, base: null }, text);
}
