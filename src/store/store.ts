import { statSync } from 'node:fs';
import { basename } from 'node:path';
import Database from 'better-sqlite3';
import type { Checkpoint, Edge, IngestCounts, QuarantineRow, ShortHead } from '../model/edge.js';
import { orderedOf, type OrderedEdges } from '../model/edge-table.js';
import { ConcurrentIngestError, UsageError } from '../model/errors.js';
import { EdgeWriter } from './edge-writer.js';
import { assertCurrentSchema, assertOwnDatabase, migrate } from './migrator.js';
import { MIGRATIONS } from './migrations/index.js';
import { registerFunctions } from './sql-functions.js';
import { writeTransaction } from './write-transaction.js';

/**
 * What one transaction writes: edge deltas, quarantined lines and the checkpoints that cover them, one per input
 * (several small inputs share a commit), applied in order.
 */
export interface Batch {
  /** Edges as an aggregator sums them, in key order (`EdgeOrderer`), or one by one. */
  readonly edges: OrderedEdges | Iterable<Edge>;
  readonly quarantine: readonly QuarantineRow[];
  readonly checkpoints: readonly Checkpoint[];
  /** Writes of another record path (DNS answers), run inside this transaction before the checkpoint. */
  readonly extra?: (() => void) | undefined;
}

/** A source's stored progress, read back before ingesting it again. */
export interface SourceState {
  readonly sourceId: string;
  readonly fingerprintLength: number;
  readonly kind: string;
  readonly name: string;
  readonly lineNo: number;
  readonly byteOffset: number;
  readonly done: boolean;
  readonly parserState: string | null;
  readonly counts: IngestCounts;
  readonly firstTime: number | null;
  readonly lastTime: number | null;
  /** The input's size on disk when last read (compressed, for gzip); null for stdin or not known. */
  readonly rawSize: number | null;
  readonly startedAt: number;
  readonly updatedAt: number;
}

export interface StoreOptions {
  readonly readonly?: boolean;
  /** Wall clock for bookkeeping columns (epoch seconds); tests pass a fixed one. */
  readonly now?: () => number;
  /** SQLite page cache of this connection, in MB (default 32). */
  readonly cacheMb?: number;
  /**
   * Temporary files in memory (`temp_store = MEMORY`), for a connection that only ingests. Each multi-row upsert keeps
   * a statement journal (the pages it changed, to undo it alone), which SQLite spills to a temporary file past 64 KiB
   * and then writes page by page for the rest of the transaction: 200 000 writes for 2M flow records, a fifth of the
   * write time. Not for connections that sort large results, whose sorter would then hold them in memory too.
   */
  readonly memoryTemp?: boolean;
}

const DEFAULT_BUCKET_SECONDS = 3600;

/**
 * The SQLite database: schema, writes and reads. Every statement is prepared once here. WAL mode lets
 * readers (`query flows`) run while a collector writes.
 */
export class Store {
  readonly db: Database.Database;
  readonly path: string;
  readonly #now: () => number;
  readonly #edges: EdgeWriter;
  readonly #insertQuarantine: Database.Statement;
  readonly #upsertSource: Database.Statement;
  readonly #getSource: Database.Statement;
  readonly #forgetQuarantine: Database.Statement;
  readonly #resetCounts: Database.Statement;
  readonly #shortLengths: Database.Statement;
  readonly #getMeta: Database.Statement;
  readonly #setMeta: Database.Statement;
  readonly #writeBatch: (batch: Batch) => number;
  #maxSpan: number;

  constructor(path: string, opts: StoreOptions = {}) {
    this.path = path;
    this.#now = opts.now ?? (() => Date.now() / 1000);
    // SQLite would say "disk I/O error" or "unable to open database file".
    const st = statSync(path, { throwIfNoEntry: false });
    if (st?.isDirectory() === true)
      throw new UsageError(`--db ${path} is a directory: name a database file in it`, 'db_open');
    // A device (`--db /dev/null`) fails deep inside SQLite with "disk I/O error"; a named pipe blocks the open
    // until something writes to it, which may be never.
    if (st !== undefined && !st.isFile())
      throw new UsageError(
        `--db ${path} is not a regular file (a device or pipe): name a database file`,
        'db_open',
      );
    try {
      this.db = new Database(path, {
        readonly: opts.readonly ?? false,
        fileMustExist: opts.readonly ?? false,
      });
    } catch (err) {
      throw new UsageError(`cannot open database ${path}: ${(err as Error).message}`, 'db_open');
    }
    try {
      this.db.pragma('busy_timeout = 10000');
      if (!opts.readonly) {
        // Before WAL mode or any table is written: another program's database is refused untouched.
        assertOwnDatabase(this.db, path);
        this.db.pragma('journal_mode = WAL');
        // NORMAL in WAL mode survives a process crash; only an OS crash can lose the last commits.
        this.db.pragma('synchronous = NORMAL');
      }
      this.db.pragma(`cache_size = -${(opts.cacheMb ?? 32) * 1024}`);
      registerFunctions(this.db);
      if (!opts.readonly) migrate(this.db, MIGRATIONS, this.#now);
      else this.#assertSchema();
      // After the migrations: a migration may copy a whole table in one statement.
      if (opts.memoryTemp === true) this.db.pragma('temp_store = MEMORY');
    } catch (err) {
      this.db.close();
      throw knownSqliteError(err, path);
    }

    this.#edges = new EdgeWriter(this.db);
    this.#insertQuarantine = this.db.prepare(`
      INSERT OR IGNORE INTO quarantine (source_id, line_no, source_name, kind, reason, raw, at)
      VALUES (?, ?, ?, ?, ?, ?, ?)`);
    this.#upsertSource = this.db.prepare(`
      INSERT INTO sources (source_id, fingerprint_len, kind, name, line_no, byte_offset, done, parser_state,
                           records, stored, skipped, malformed, first_time, last_time, started_at, updated_at,
                           ends_line, raw_size)
      VALUES (@sourceId, @fingerprintLength, @kind, @name, @lineNo, @byteOffset, @done, @parserState,
              @records, @stored, @skipped, @malformed, @firstTime, @lastTime, @now, @now, @endsLine, @rawSize)
      ON CONFLICT DO UPDATE SET
        name = excluded.name,
        raw_size = excluded.raw_size,
        line_no = excluded.line_no,
        byte_offset = excluded.byte_offset,
        done = excluded.done,
        parser_state = excluded.parser_state,
        records = records + excluded.records,
        stored = stored + excluded.stored,
        skipped = skipped + excluded.skipped,
        malformed = malformed + excluded.malformed,
        first_time = MIN(COALESCE(first_time, excluded.first_time), COALESCE(excluded.first_time, first_time)),
        last_time = MAX(COALESCE(last_time, excluded.last_time), COALESCE(excluded.last_time, last_time)),
        updated_at = excluded.updated_at`);
    this.#getSource = this.db.prepare('SELECT * FROM sources WHERE source_id = ?');
    this.#forgetQuarantine = this.db.prepare('DELETE FROM quarantine WHERE source_id = ?');
    this.#resetCounts = this.db.prepare(`
      UPDATE sources SET records = 0, stored = 0, skipped = 0, malformed = 0, first_time = NULL, last_time = NULL
      WHERE source_id = ?`);
    this.#shortLengths = this.db.prepare(`
      SELECT DISTINCT fingerprint_len AS length, COALESCE(ends_line, 0) AS endsLine FROM sources
      WHERE kind = ? AND fingerprint_len < ?`);
    this.#getMeta = this.db.prepare('SELECT value FROM meta WHERE key = ?');
    this.#setMeta = this.db.prepare(
      'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT DO UPDATE SET value = excluded.value',
    );

    this.#maxSpan = Number((this.#getMeta.get('max_span') as { value: string } | undefined)?.value ?? 0);
    this.#writeBatch = writeTransaction(this.db, (batch: Batch): number => {
      // Each input's compare-and-set; a refused one rolls back the whole batch. Two checkpoints of one input (a copy
      // of it read in the same run) chain: the later one starts where the earlier one ends.
      const lineNow = new Map<string, number>();
      for (const c of batch.checkpoints) {
        const stored = this.#getSource.get(c.sourceId) as SourceRow | undefined;
        const at = lineNow.get(c.sourceId) ?? stored?.line_no ?? null;
        if (at !== c.previousLineNo) throw new ConcurrentIngestError(c.name);
        // A re-read ends where the first read did: only the stored count tells whether another re-read got there first.
        if (c.restart === true && stored !== undefined && stored.stored !== 0)
          throw new ConcurrentIngestError(c.name);
        if (c.restart === true) {
          this.#forgetQuarantine.run(c.sourceId);
          this.#resetCounts.run(c.sourceId);
        }
        lineNow.set(c.sourceId, c.lineNo);
      }
      const { rows: n, span } = this.#edges.write(
        'order' in batch.edges ? batch.edges : orderedOf(batch.edges),
      );
      if (span > this.#maxSpan) {
        this.#maxSpan = Math.ceil(span);
        this.#setMeta.run('max_span', String(this.#maxSpan));
      }
      const now = this.#now();
      for (const q of batch.quarantine) {
        this.#insertQuarantine.run(q.sourceId, q.lineNo, q.sourceName, q.kind, q.reason, q.raw, now);
      }
      batch.extra?.();
      for (const c of batch.checkpoints) {
        this.#upsertSource.run({
          sourceId: c.sourceId,
          fingerprintLength: c.fingerprintLength,
          kind: c.kind,
          name: c.name,
          lineNo: c.lineNo,
          byteOffset: c.byteOffset,
          done: c.done ? 1 : 0,
          parserState: c.parserState,
          records: c.delta.records,
          stored: c.delta.stored,
          skipped: c.delta.skipped,
          malformed: c.delta.malformed,
          firstTime: c.firstTime,
          lastTime: c.lastTime,
          now,
          endsLine: c.endsLine === true ? 1 : c.endsLine === false ? 0 : null,
          rawSize: c.rawSize ?? null,
        });
      }
      return n;
    });
  }

  #assertSchema(): void {
    const row = this.db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'")
      .get();
    if (row === undefined)
      throw new UsageError(`${this.path} is not an egress-learner database`, 'db_schema');
    assertCurrentSchema(this.db, MIGRATIONS, this.path);
  }

  /**
   * Writes edge deltas, quarantined lines and the checkpoint atomically; returns the number of edge rows. Edges
   * in primary-key order (as `EdgeAggregator.drainInOrder` gives them) walk the B-tree forward.
   */
  writeBatch(batch: Batch): number {
    try {
      return this.#writeBatch(batch);
    } catch (err) {
      throw knownSqliteError(err, this.path);
    }
  }

  /** Fingerprint lengths under `full` that sources of this kind were first seen with (see `ShortLengths`). */
  shortFingerprintLengths(kind: string, full: number): ShortHead[] {
    return (this.#shortLengths.all(kind, full) as { length: number; endsLine: number }[]).map((r) => ({
      length: r.length,
      endsLine: r.endsLine === 1,
    }));
  }

  checkpointOf(sourceId: string): SourceState | null {
    const r = this.#getSource.get(sourceId) as SourceRow | undefined;
    return r === undefined ? null : toSourceState(r);
  }

  /**
   * The time-bucket width, fixed when the database first stores data: edges of different widths would not
   * add up. Asking for another width later is a usage error.
   */
  bucketSeconds(requested?: number): number {
    const row = this.#getMeta.get('bucket_seconds') as { value: string } | undefined;
    if (row !== undefined) {
      const stored = Number(row.value);
      if (requested !== undefined && requested !== stored) {
        throw new UsageError(
          `this database aggregates in ${stored} s buckets; --bucket ${requested}s would not add up (use another --db)`,
          'bucket_mismatch',
        );
      }
      return stored;
    }
    const value = requested ?? DEFAULT_BUCKET_SECONDS;
    if (!this.db.readonly) this.#setMeta.run('bucket_seconds', String(value));
    return value;
  }

  /** A value of the `meta` table, or null. */
  meta(key: string): string | null {
    return (this.#getMeta.get(key) as { value: string } | undefined)?.value ?? null;
  }

  setMeta(key: string, value: string): void {
    this.#setMeta.run(key, value);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

/**
 * SQLite errors a user can cause (a file that is not a database, a database another process holds locked, a
 * read-only file or a full disk) become one-line usage errors; anything else stays a bug.
 */
export function knownSqliteError(err: unknown, path: string): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return err;
  if (code === 'SQLITE_READONLY_DIRECTORY') {
    // A WAL database needs its -shm file beside it, even to be read.
    return new UsageError(
      `cannot use database ${path}: its folder is read-only, and SQLite must create ${basename(path)}-shm beside it (make the folder writable, or copy the database elsewhere)`,
      'db_readonly',
    );
  }
  // Extended result codes (SQLITE_READONLY_DBMOVED, SQLITE_CANTOPEN_ISDIR, …) are cases of their primary code.
  switch (/^SQLITE_[A-Z]+/.exec(code)?.[0]) {
    case 'SQLITE_NOTADB':
    case 'SQLITE_CORRUPT':
      return new UsageError(
        `${path} is not an egress-learner database (not SQLite, or damaged)`,
        'db_not_database',
      );
    case 'SQLITE_BUSY':
    case 'SQLITE_LOCKED':
      return new UsageError(
        `${path} is locked by another writer for more than 10 s; try again when it is done`,
        'db_busy',
      );
    case 'SQLITE_READONLY':
    case 'SQLITE_CANTOPEN':
    case 'SQLITE_PERM':
      return new UsageError(`cannot write to database ${path} (read-only file or folder)`, 'db_readonly');
    case 'SQLITE_FULL':
      return new UsageError(`the disk holding ${path} is full`, 'db_full');
    default:
      return err;
  }
}

interface SourceRow {
  source_id: string;
  fingerprint_len: number;
  kind: string;
  name: string;
  line_no: number;
  byte_offset: number;
  done: number;
  parser_state: string | null;
  records: number;
  stored: number;
  skipped: number;
  malformed: number;
  first_time: number | null;
  last_time: number | null;
  raw_size: number | null;
  started_at: number;
  updated_at: number;
}

export function toSourceState(r: SourceRow): SourceState {
  return {
    sourceId: r.source_id,
    fingerprintLength: r.fingerprint_len,
    kind: r.kind,
    name: r.name,
    lineNo: r.line_no,
    byteOffset: r.byte_offset,
    done: r.done === 1,
    parserState: r.parser_state,
    counts: { records: r.records, stored: r.stored, skipped: r.skipped, malformed: r.malformed },
    firstTime: r.first_time,
    lastTime: r.last_time,
    rawSize: r.raw_size ?? null,
    startedAt: r.started_at,
    updatedAt: r.updated_at,
  };
}
