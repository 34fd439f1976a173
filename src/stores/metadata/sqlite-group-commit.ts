import type SQLite from 'better-sqlite3';
import type { Kysely, SqliteDatabase, SqliteStatement, Transaction } from 'kysely';

/**
 * Group commit for SQLite behind kysely.
 *
 * better-sqlite3 is synchronous: with `synchronous=FULL` every COMMIT fsyncs the WAL on the
 * event loop (3-4 ms on this machine), and nothing else in the process runs meanwhile. Eight
 * concurrent manifest pushes therefore cost eight fsyncs back to back.
 *
 * Here kysely's `begin` / `commit` / `rollback` become a SAVEPOINT inside one outer
 * transaction that stays open until the event loop's next "check" phase (setImmediate), when
 * a single COMMIT makes every transaction that joined it durable with one fsync. A
 * transaction's caller must not report success before that COMMIT: store code runs
 * transactions through `transact()` below, which waits for it. A transaction that fails
 * rolls back to its savepoint and leaves the others in the group alone.
 *
 * Outside transactions: a statement that writes first commits the open group (so it runs in
 * autocommit, durable on its own, as before); a read runs inside the open group and may see
 * changes that commit moments later. If that COMMIT failed (I/O error, disk full), such a
 * read would have seen data that is gone; the writers' callers all get the error.
 */
export class SqliteGroupCommit {
  private open = false; // an outer transaction is open
  private inTransaction = false; // a kysely transaction holds its savepoint
  private group: Group | null = null;
  private lastJoined: Promise<void> = Promise.resolve();
  private flushScheduled = false;
  /** Transactions and COMMITs so far (for tests and the bench). */
  readonly stats = { transactions: 0, commits: 0 };

  constructor(private readonly database: SQLite.Database) {}

  /** A kysely-facing database object; `prepare` is the only way kysely reaches SQLite. */
  wrap(prepare: (sql: string) => SqliteStatement): SqliteDatabase {
    const control = (run: () => void): SqliteStatement =>
      ({
        reader: false,
        all: () => [],
        iterate: () => [][Symbol.iterator](),
        run: () => {
          run();
          return { changes: 0, lastInsertRowid: 0 };
        },
      }) as unknown as SqliteStatement;
    const begin = control(() => this.begin());
    const commit = control(() => this.commit());
    const rollback = control(() => this.rollback());
    return {
      close: () => {
        this.flush();
        this.database.close();
      },
      prepare: (sql: string): SqliteStatement => {
        if (sql === 'begin') return begin;
        if (sql === 'commit') return commit;
        if (sql === 'rollback') return rollback;
        const statement = prepare(sql);
        // A write outside any transaction must not ride on the open group: commit it first.
        if (this.open && !this.inTransaction && !(statement as unknown as SQLite.Statement).readonly) this.flush();
        return statement;
      },
    };
  }

  /** Resolves once the group the last transaction joined has committed (rejects if it failed). */
  durable(): Promise<void> {
    return this.lastJoined;
  }

  /** Commits the open group now (called on close, and before a write outside a transaction). */
  flush(): void {
    // Never while a transaction holds its savepoint (one that awaits something else, across
    // a loop turn): COMMIT would publish its half-done work. Its commit or rollback
    // schedules the flush again.
    if (!this.open || this.inTransaction) return;
    const group = this.group!;
    this.open = false;
    this.group = null;
    try {
      this.database.exec('COMMIT');
      this.stats.commits += 1;
      group.resolve();
    } catch (err) {
      if (this.database.inTransaction) this.database.exec('ROLLBACK');
      group.reject(err as Error);
    }
  }

  private begin(): void {
    if (!this.open) {
      this.database.exec('BEGIN');
      this.open = true;
      this.group = newGroup();
    }
    this.database.exec('SAVEPOINT berth_tx');
    this.inTransaction = true;
  }

  private commit(): void {
    this.inTransaction = false;
    this.database.exec('RELEASE berth_tx');
    this.stats.transactions += 1;
    this.lastJoined = this.group!.promise;
    this.scheduleFlush();
  }

  private rollback(): void {
    this.inTransaction = false;
    if (!this.database.inTransaction) {
      // SQLite already rolled back the whole outer transaction (some errors do): every
      // transaction in the group is lost, and their callers must hear so.
      this.failGroup(new Error('SQLite rolled back the transaction group after an error'));
      return;
    }
    this.database.exec('ROLLBACK TO berth_tx');
    this.database.exec('RELEASE berth_tx');
    this.scheduleFlush();
  }

  private failGroup(err: Error): void {
    const group = this.group;
    this.open = false;
    this.group = null;
    group?.reject(err);
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }
}

interface Group {
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: Error) => void;
}

function newGroup(): Group {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Nobody may be waiting (a rolled-back group member, a caller that skipped transact()):
  // a failed group must not crash the process as an unhandled rejection.
  promise.catch(() => {});
  return { promise, resolve, reject };
}

const groupCommits = new WeakMap<object, SqliteGroupCommit>();

/** Ties a Kysely instance to its group commit, so transact() can find it. */
export function registerGroupCommit(db: Kysely<any>, groupCommit: SqliteGroupCommit): void {
  groupCommits.set(db, groupCommit);
}

/**
 * Runs `work` in a transaction and returns once its changes are durable. On PostgreSQL (and
 * SQLite without group commit) that is when kysely's COMMIT returns; with group commit, when
 * the group it joined has committed.
 */
export async function transact<DB, T>(db: Kysely<DB>, work: (trx: Transaction<DB>) => Promise<T>): Promise<T> {
  const result = await db.transaction().execute(work);
  const groupCommit = groupCommits.get(db);
  if (groupCommit) await groupCommit.durable();
  return result;
}

/** The group commit behind a Kysely instance, if it has one (SQLite). */
export function groupCommitOf(db: Kysely<any>): SqliteGroupCommit | undefined {
  return groupCommits.get(db);
}
