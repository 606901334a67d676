import type Database from 'better-sqlite3';

/**
 * `fn` as a transaction that takes the database's write lock at BEGIN (BEGIN IMMEDIATE), for every transaction
 * that writes. better-sqlite3's default BEGIN is deferred: the transaction starts as a reader, and when another
 * connection commits before its first write, WAL mode cannot upgrade it and fails at once with
 * SQLITE_BUSY_SNAPSHOT instead of waiting out busy_timeout. Two writers on one database (two Kafka consumers, a
 * collect beside a suggest) then fail each other's batches; with IMMEDIATE the later one waits its turn.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- better-sqlite3's own bound for a transaction's function
export function writeTransaction<F extends (...args: any[]) => unknown>(
  db: Database.Database,
  fn: F,
): Database.Transaction<F>['immediate'] {
  return db.transaction(fn).immediate;
}
