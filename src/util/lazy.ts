import { createRequire } from 'node:module';
import type * as CliProgress from 'cli-progress';
import type * as Kafkajs from 'kafkajs';
import type * as Pino from 'pino';
import type * as Tldts from 'tldts';
import type * as Yaml from 'yaml';

const require = createRequire(import.meta.url);

/**
 * A package loaded on first use instead of at start-up. The CLI imports its whole command tree to parse a command
 * line, and the packages below took about 150 ms of every run's start between them, while most runs use none of
 * them (`collect vpc-flow`, `query flows` as a table). Each ships CommonJS, so `require` loads it synchronously
 * where it is first needed, and callers stay synchronous.
 */
function lazy<T>(id: string): () => T {
  let module: T | undefined;
  return () => (module ??= require(id) as T);
}

export const yaml = lazy<typeof Yaml>('yaml');
export const tldts = lazy<typeof Tldts>('tldts');
export const kafkajs = lazy<typeof Kafkajs>('kafkajs');
export const pino = lazy<typeof Pino>('pino');
export const cliProgress = lazy<typeof CliProgress>('cli-progress');
