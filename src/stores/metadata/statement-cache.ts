import type SQLite from 'better-sqlite3';
import type { SqliteDatabase, SqliteStatement } from 'kysely';

/**
 * better-sqlite3 behind kysely, with prepared statements reused by SQL text. Kysely
 * prepares every query afresh; on the hot read paths (manifest GET, blob HEAD) preparing
 * cost more than running. Statements are only ever used by one query at a time (kysely
 * holds a per-connection mutex), so sharing them is safe. The cache is bounded: the
 * oldest statement goes when it is full (queries with variable IN lists vary in text).
 */
export function withStatementCache(database: SQLite.Database, capacity = 500): SqliteDatabase {
  return { close: () => void database.close(), prepare: cachedPrepare(database, capacity) };
}

/** `database.prepare`, reusing statements by SQL text (bounded, least recently used goes). */
export function cachedPrepare(database: SQLite.Database, capacity = 500): (sql: string) => SqliteStatement {
  const cache = new Map<string, SqliteStatement>();
  return (sql: string): SqliteStatement => {
      let statement = cache.get(sql);
      if (statement) {
        // Refresh its place so the most used statements stay.
        cache.delete(sql);
      } else {
        statement = database.prepare(sql) as unknown as SqliteStatement;
        if (cache.size >= capacity) cache.delete(cache.keys().next().value!);
      }
      cache.set(sql, statement);
      return statement;
  };
}
