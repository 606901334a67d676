import { existsSync } from 'node:fs';
import { UsageError } from '../model/errors.js';
import { Store, type StoreOptions } from '../store/store.js';
import {
  createLogger,
  LOG_FORMATS,
  LOG_LEVELS,
  type LogFormat,
  type Logger,
  type LogLevel,
} from '../util/log.js';

/** Options every command accepts (set on the root program). */
export interface GlobalOptions {
  readonly db?: string;
  readonly quiet?: boolean;
  readonly logLevel: string;
  readonly logFormat: string;
}

export const DEFAULT_DB = './egress-learner.db';

/** pino's level numbers, which `--log-format json` lines carry. */
const LEVEL_NUMBERS = { info: 30, warn: 40, error: 50 } as const;

/**
 * A message for the person running the command (a summary, a warning, an error), on stderr: as text, or with
 * `--log-format json` one JSON line per line of text, in the shape the logger writes, so that whatever ships
 * stderr to a log system reads JSON only.
 */
export function say(
  g: Pick<GlobalOptions, 'logFormat'> & Partial<Pick<GlobalOptions, 'logLevel'>>,
  text: string,
  level: keyof typeof LEVEL_NUMBERS = 'info',
): void {
  // `--log-level warn` keeps summaries off stderr as it keeps info lines; `silent` keeps even errors off (the exit
  // code still tells).
  if (g.logLevel !== undefined && LEVEL_NUMBERS[level] < threshold(g.logLevel)) return;
  if (g.logFormat !== 'json') {
    process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
    return;
  }
  for (const line of text.split('\n')) {
    if (line !== '')
      process.stderr.write(
        `${JSON.stringify({ level: LEVEL_NUMBERS[level], time: Date.now(), msg: line })}\n`,
      );
  }
}

function threshold(logLevel: string): number {
  if (logLevel === 'silent') return Infinity;
  return logLevel in LEVEL_NUMBERS ? LEVEL_NUMBERS[logLevel as keyof typeof LEVEL_NUMBERS] : 0;
}

export function dbPath(g: GlobalOptions): string {
  // An empty EGRESS_LEARNER_DB is unset; an empty --db is a mistake (a variable that expanded to nothing), and
  // SQLite would open a temporary database for it.
  if (g.db === '') throw new UsageError('--db is empty: name a database file', 'db_open');
  return g.db ?? (process.env.EGRESS_LEARNER_DB || DEFAULT_DB);
}

export function oneOf<T extends string>(list: readonly T[], value: string, flag: string): T {
  if ((list as readonly string[]).includes(value)) return value as T;
  throw new UsageError(`${flag} ${JSON.stringify(value)}: expected one of ${list.join(', ')}`);
}

/** A flag value that must be a whole number of at least 1. */
export function positiveInt(text: string, flag: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1) {
    throw new UsageError(`${flag} ${JSON.stringify(text)}: expected a positive integer`);
  }
  if (Number(text) > Number.MAX_SAFE_INTEGER) {
    throw new UsageError(`${flag} ${text}: too large (at most ${Number.MAX_SAFE_INTEGER})`);
  }
  return Number(text);
}

export function logger(g: GlobalOptions): Logger {
  const level =
    g.quiet && g.logLevel === 'info' ? 'warn' : oneOf<LogLevel>(LOG_LEVELS, g.logLevel, '--log-level');
  return createLogger(level, oneOf<LogFormat>(LOG_FORMATS, g.logFormat, '--log-format'));
}

/** Opens the database for writing, creating it if needed. */
export function openForWrite(
  g: GlobalOptions,
  opts: Pick<StoreOptions, 'cacheMb' | 'memoryTemp'> = {},
): Store {
  return new Store(dbPath(g), opts);
}

/** Opens an existing database for reading; a missing file is a usage error, not an empty result. */
export function openForRead(g: GlobalOptions): Store {
  const path = dbPath(g);
  if (!existsSync(path)) {
    throw new UsageError(
      `database ${path} does not exist (run 'egress-learner collect …' first, or pass --db)`,
      'no_db',
    );
  }
  return new Store(path, { readonly: true });
}
