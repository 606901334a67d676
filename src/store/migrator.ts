import type Database from 'better-sqlite3';
import { UsageError } from '../model/errors.js';
import { writeTransaction } from './write-transaction.js';

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

export interface MigrationResult {
  readonly applied: readonly number[];
  readonly current: number;
}

function schemaVersion(db: Database.Database): number {
  const row = db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null };
  return row.v ?? 0;
}

function latestVersion(migrations: readonly Migration[]): number {
  return migrations.reduce((m, x) => Math.max(m, x.version), 0);
}

/** A database written by a newer program may mean something else by the same tables: refuse it. */
function refuseNewer(current: number, migrations: readonly Migration[]): void {
  const latest = latestVersion(migrations);
  if (current > latest) {
    throw new UsageError(
      `database schema version ${current} is newer than this program knows (${latest}): upgrade egress-learner`,
      'db_schema',
    );
  }
}

/**
 * Refuses a database that holds another program's tables (any, but no `schema_migrations`): migrating it would add
 * this program's tables beside them, or fail half-way on a name both use.
 */
export function assertOwnDatabase(db: Database.Database, path: string): void {
  const names = db
    .prepare("SELECT name FROM sqlite_master WHERE substr(name, 1, 7) <> 'sqlite_'")
    .pluck()
    .all();
  if (names.length > 0 && !names.includes('schema_migrations'))
    throw new UsageError(
      `${path} is not an egress-learner database (it holds another program's tables)`,
      'db_schema',
    );
}

/**
 * For a connection that only reads (and so cannot migrate): the schema must be exactly this program's. Assumes
 * `schema_migrations` exists.
 */
export function assertCurrentSchema(
  db: Database.Database,
  migrations: readonly Migration[],
  path: string,
): void {
  const current = schemaVersion(db);
  refuseNewer(current, migrations);
  const latest = latestVersion(migrations);
  if (current < latest) {
    throw new UsageError(
      `database ${path} has schema version ${current}, older than this program's (${latest}): run a collect command on it once (it upgrades the schema), then read it`,
      'db_schema',
    );
  }
}

/**
 * Applies pending migrations in order, each in its own transaction together with its record in
 * `schema_migrations`, so a crash leaves the schema at a known version. A database newer than this program
 * is refused rather than written to.
 */
export function migrate(
  db: Database.Database,
  migrations: readonly Migration[],
  now: () => number,
): MigrationResult {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at REAL NOT NULL
  ) STRICT`);
  const current = schemaVersion(db);
  refuseNewer(current, migrations);
  const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  const applied: number[] = [];
  for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
    if (m.version <= current) continue;
    // Another process opening the same database may have applied it while this one waited for the lock.
    const ran = writeTransaction(db, () => {
      if (schemaVersion(db) >= m.version) return false;
      db.exec(m.sql);
      record.run(m.version, m.name, now());
      return true;
    })();
    if (ran) applied.push(m.version);
  }
  return { applied, current: Math.max(current, ...applied) };
}
