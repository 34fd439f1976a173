import type { Changes } from '../../domain/events/change.js';
import { appendChanges, changesCommitted } from './change-log.js';
import type SQLite from 'better-sqlite3';
import { open, type FileHandle } from 'node:fs/promises';
import { sql, type Kysely, type SqliteDatabase, type SqliteStatement, type Transaction } from 'kysely';

/**
 * Group commit for SQLite behind kysely.
 *
 * better-sqlite3 is synchronous: with `synchronous=FULL` every COMMIT fsyncs the WAL on the
 * event loop (3-4 ms on an idle disk, far more while it writes blobs), and nothing else in
 * the process runs meanwhile. Eight concurrent manifest pushes therefore cost eight fsyncs
 * back to back, and every other request waits behind each of them.
 *
 * Here kysely's `begin` / `commit` / `rollback` become a SAVEPOINT inside one outer
 * transaction that stays open until the event loop's next "check" phase (setImmediate), when
 * a single COMMIT commits every transaction that joined it. A transaction that fails rolls
 * back to its savepoint and leaves the others in the group alone.
 *
 * With the WAL (the store's default), that outer transaction runs at `synchronous=NORMAL`:
 * its COMMIT writes the WAL but does not fsync it. The fsync (fdatasync of the WAL file)
 * then runs on libuv's thread pool, off the event loop, and the group's transactions are
 * durable once it returns. While it runs, the next group stays open and gathers what
 * arrives, and commits when it returns: one COMMIT and one fsync for all of it. A
 * transaction's caller must not report success before that: store code runs transactions
 * through `transact()` below, which waits for it. SQLite stays consistent at NORMAL (WAL
 * frames are checksummed; a checkpoint syncs the WAL before copying it), so what the extra
 * fsync adds is exactly FULL's durability, minus the blocked loop.
 *
 * A transaction may be committed without being made durable (`transact(..., { durable:
 * false })`): bookkeeping that a crash may lose because nothing depends on it surviving,
 * such as an upload's session row before its blob is acknowledged. A group made only of such
 * transactions skips the fsync; the next durable group's fsync covers it, since the WAL is
 * written in order.
 *
 * Outside transactions: a statement that writes first commits the open group, then runs in
 * autocommit at the connection's own level (FULL: durable on its own, fsync on the loop, as
 * before). A read runs inside the open group and may see changes that are committed or made
 * durable moments later. If that COMMIT or fsync failed (I/O error, disk full), such a read
 * would have seen data that may be gone; the writers' callers all get the error.
 */
export class SqliteGroupCommit {
  private open = false; // an outer transaction is open
  private inTransaction = false; // a kysely transaction holds its savepoint
  private group: Group | null = null;
  private lastJoined: Promise<void> = Promise.resolve();
  private flushScheduled = false;
  private currentIsRelaxed = false; // the transaction holding the savepoint need not be durable
  /** Where the fsync runs off the loop: the WAL file, or null (no WAL: COMMIT syncs as configured). */
  private readonly walPath: string | null;
  private readonly setNormal: SQLite.Statement | null = null;
  private readonly setConfigured: SQLite.Statement | null = null;
  private wal: FileHandle | null = null;
  private syncing = false;
  private awaitingSync: Group[] = [];
  private closed = false;
  /** Transactions, COMMITs, COMMITs that needed no fsync, and WAL fsyncs run off the loop (for tests and the bench). */
  readonly stats = { transactions: 0, commits: 0, relaxedCommits: 0, walSyncs: 0 };

  constructor(private readonly database: SQLite.Database) {
    const configured = Number(database.pragma('synchronous', { simple: true }));
    const wal = String(database.pragma('journal_mode', { simple: true })).toLowerCase() === 'wal';
    // Only where the fsync is ours to move: the WAL is on and the connection asks for FULL or EXTRA.
    this.walPath = wal && !database.memory && configured > 1 ? `${database.name}-wal` : null;
    if (this.walPath) {
      this.setNormal = database.prepare('PRAGMA synchronous = NORMAL');
      this.setConfigured = database.prepare(`PRAGMA synchronous = ${configured}`);
    }
  }

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
        this.closed = true;
        // A WAL fsync still running closes the file when it is done.
        if (!this.syncing) void this.closeWal();
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

  /** Resolves once the group the last transaction joined is committed, and durable if it had to be (rejects if either failed). */
  committed(): Promise<void> {
    return this.lastJoined;
  }

  /**
   * Commits the open group: now when forced (on close, and before a write outside a
   * transaction); otherwise (at the check phase) only when no WAL fsync is running. While
   * one runs the group keeps gathering transactions, and commits when it returns, so one
   * COMMIT and one fsync serve everything that arrived meanwhile.
   */
  flush(force = true): void {
    // Never while a transaction holds its savepoint (one that awaits something else, across
    // a loop turn): COMMIT would publish its half-done work. Its commit or rollback
    // schedules the flush again.
    if (!this.open || this.inTransaction) return;
    if (!force && this.syncing) return;
    const group = this.group!;
    this.open = false;
    this.group = null;
    try {
      this.database.exec('COMMIT');
    } catch (err) {
      if (this.database.inTransaction) this.database.exec('ROLLBACK');
      this.setConfigured?.run();
      group.reject(err as Error);
      return;
    }
    this.setConfigured?.run();
    this.stats.commits += 1;
    if (group.durableMembers === 0) this.stats.relaxedCommits += 1;
    if (group.durableMembers === 0 || !this.walPath) group.resolve();
    else this.syncWal(group);
  }

  /** Called inside a transaction: it need not be durable (see the class comment). */
  relaxCurrent(): void {
    if (this.inTransaction) this.currentIsRelaxed = true;
  }

  private begin(): void {
    if (!this.open) {
      // The level can only change outside a transaction: the group's COMMIT will not fsync.
      this.setNormal?.run();
      try {
        this.database.exec('BEGIN');
      } catch (err) {
        this.setConfigured?.run(); // writes outside a group stay at the connection's own level
        throw err;
      }
      this.open = true;
      this.group = newGroup();
    }
    this.database.exec('SAVEPOINT berth_tx');
    this.inTransaction = true;
  }

  private commit(): void {
    this.inTransaction = false;
    this.database.exec('RELEASE berth_tx');
    if (!this.currentIsRelaxed) this.group!.durableMembers += 1;
    this.currentIsRelaxed = false;
    this.stats.transactions += 1;
    this.lastJoined = this.group!.promise;
    this.scheduleFlush();
  }

  private rollback(): void {
    this.inTransaction = false;
    this.currentIsRelaxed = false;
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
    this.setConfigured?.run();
    group?.reject(err);
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush(false);
    });
  }

  /**
   * Makes the group durable with an fdatasync of the WAL on the thread pool. One runs at a
   * time; a group forced to commit meanwhile waits for the next one.
   */
  private syncWal(group: Group): void {
    this.awaitingSync.push(group);
    if (this.syncing) return;
    this.syncing = true;
    void this.runSyncs();
  }

  private async runSyncs(): Promise<void> {
    while (this.awaitingSync.length > 0) {
      const batch = this.awaitingSync;
      this.awaitingSync = [];
      try {
        await this.fdatasyncWal();
        this.stats.walSyncs += 1;
        for (const g of batch) g.resolve();
      } catch (err) {
        for (const g of batch) g.reject(err as Error);
      }
    }
    this.syncing = false;
    if (this.closed) await this.closeWal();
    // The group that gathered while the disk was busy commits now.
    else this.flush(false);
  }

  private async fdatasyncWal(): Promise<void> {
    // Opened once and kept: SQLite deletes the WAL only when the last connection to the
    // database closes, and this one stays open until close(), so the file is the same one
    // for as long as there are commits to sync.
    if (!this.wal) this.wal = await open(this.walPath!, 'r');
    await this.wal.datasync();
  }

  private async closeWal(): Promise<void> {
    const handle = this.wal;
    this.wal = null;
    await handle?.close().catch(() => {});
  }
}

interface Group {
  /** Transactions in the group that must be durable: any makes the group wait for a WAL fsync. */
  durableMembers: number;
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
  return { durableMembers: 0, promise, resolve, reject };
}

const groupCommits = new WeakMap<object, SqliteGroupCommit>();
const postgresDatabases = new WeakSet<object>();

/** Ties a Kysely instance to its group commit, so transact() can find it. */
export function registerGroupCommit(db: Kysely<any>, groupCommit: SqliteGroupCommit): void {
  groupCommits.set(db, groupCommit);
}

/** Marks a Kysely instance as PostgreSQL, so transact() can relax a commit there. */
export function registerPostgres(db: Kysely<any>): void {
  postgresDatabases.add(db);
}

export interface TransactOptions<T = unknown> {
  /**
   * The change feed's events for this change, appended in the same transaction (the
   * transactional outbox): given as they are, or made from the work's result (null: none).
   */
  changes?: Changes | null | ((result: T) => Changes | null);
  /**
   * false: the change must be committed (visible, consistent) but need not survive a crash
   * or power cut, because nothing acknowledged depends on it. SQLite commits it without an
   * fsync (when no durable transaction shares its group); PostgreSQL with
   * `synchronous_commit = off`. Either way a later durable commit makes it durable too.
   * Default true.
   */
  durable?: boolean;
}

/**
 * Runs `work` in a transaction and returns once its changes are committed, and durable
 * unless `options.durable` is false. On PostgreSQL (and SQLite without group commit) that
 * is when kysely's COMMIT returns; with group commit, when the group it joined has committed.
 */
export async function transact<DB, T>(db: Kysely<DB>, work: (trx: Transaction<DB>) => Promise<T>, options: TransactOptions<T> = {}): Promise<T> {
  const groupCommit = groupCommits.get(db);
  // A change with events is always durable: a subscriber must never see one a crash undoes.
  const relaxed = options.durable === false && !options.changes;
  let appended = 0;
  const result = await db.transaction().execute(async (trx) => {
    if (relaxed && groupCommit) groupCommit.relaxCurrent();
    else if (relaxed && postgresDatabases.has(db)) await sql`SET LOCAL synchronous_commit = off`.execute(trx);
    const value = await work(trx);
    const changes = typeof options.changes === 'function' ? options.changes(value) : options.changes;
    if (changes) appended = await appendChanges(db, trx as Transaction<any>, changes);
    return value;
  });
  if (groupCommit) await groupCommit.committed();
  if (appended > 0) changesCommitted(db, appended);
  return result;
}

/** The group commit behind a Kysely instance, if it has one (SQLite). */
export function groupCommitOf(db: Kysely<any>): SqliteGroupCommit | undefined {
  return groupCommits.get(db);
}
