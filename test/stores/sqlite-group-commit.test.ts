import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import SQLite from 'better-sqlite3';
import { sql, type Kysely } from 'kysely';
import { SqlMetadataStore } from '../../src/stores/metadata/sql-metadata-store.js';
import { groupCommitOf, transact } from '../../src/stores/metadata/sqlite-group-commit.js';
import { createTestDatabase, requirePostgres } from '../helpers/postgres.js';

// Group commit (src/stores/metadata/sqlite-group-commit.ts) against a real SQLite file. "Durable"
// is checked the way it matters: a second, independent connection to the same file sees only
// committed data, so a row it can read has left the writer's transaction.

describe('SQLite group commit', () => {
  let dir: string;
  let store: SqlMetadataStore;
  let db: Kysely<any>;
  let observer: SQLite.Database;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-group-commit-'));
    store = SqlMetadataStore.open({ kind: 'sqlite', path: join(dir, 'metadata.db') });
    await store.migrate();
    db = store.db as unknown as Kysely<any>;
    await sql`create table gc_probe (id integer primary key, v text not null unique)`.execute(db);
    observer = new SQLite(join(dir, 'metadata.db'), { readonly: true });
  });
  after(async () => {
    observer.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  const seen = (v: string) => observer.prepare('select count(*) as n from gc_probe where v = ?').get(v) as { n: number };
  const insert = (v: string) =>
    transact(db, async (trx) => {
      await trx.insertInto('gc_probe').values({ v }).execute();
      return v;
    });

  test('concurrent transactions share one COMMIT, and each is committed when its call returns', async () => {
    const groupCommit = groupCommitOf(db)!;
    const before = { ...groupCommit.stats };
    const values = Array.from({ length: 16 }, (_, i) => `concurrent-${i}`);
    await Promise.all(
      values.map(async (v) => {
        await insert(v);
        assert.equal(seen(v).n, 1, `${v} is visible to another connection once transact() returned`);
      }),
    );
    const transactions = groupCommit.stats.transactions - before.transactions;
    const commits = groupCommit.stats.commits - before.commits;
    assert.equal(transactions, 16);
    assert.ok(commits >= 1 && commits < 16, `16 concurrent transactions took ${commits} COMMITs`);
  });

  test('a failing transaction rolls back alone; the others in its group commit', async () => {
    await insert('taken');
    const results = await Promise.allSettled([insert('group-a'), insert('taken'), insert('group-b'), transact(db, async (trx) => {
      await trx.insertInto('gc_probe').values({ v: 'thrown-after-write' }).execute();
      throw new Error('work failed');
    })]);
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled', 'rejected']);
    assert.match(String((results[1] as PromiseRejectedResult).reason), /UNIQUE/);
    assert.equal(seen('group-a').n, 1);
    assert.equal(seen('group-b').n, 1);
    assert.equal(seen('thrown-after-write').n, 0, 'the failed transaction left nothing behind');
    assert.equal(seen('taken').n, 1);
  });

  test('a transaction that waits across loop turns is not committed half-done by its group', async () => {
    const first = insert('before-slow');
    const slow = transact(db, async (trx) => {
      await trx.insertInto('gc_probe').values({ v: 'slow-partial' }).execute();
      await new Promise((resolve) => setTimeout(resolve, 30)); // several check phases pass
      throw new Error('slow work failed');
    });
    await assert.rejects(slow, /slow work failed/);
    await first;
    assert.equal(seen('before-slow').n, 1);
    assert.equal(seen('slow-partial').n, 0, 'the failed transaction left nothing behind');
  });

  test('a write outside a transaction commits the open group first and is itself committed at once', async () => {
    const pending = insert('grouped-before-autocommit');
    // Let the transaction run (it resolves its commit only at the next check phase)...
    await new Promise((resolve) => process.nextTick(resolve));
    await Promise.resolve();
    await db.insertInto('gc_probe').values({ v: 'autocommit' }).execute();
    assert.equal(seen('autocommit').n, 1, 'an autocommit write is visible as soon as it returns');
    await pending;
    assert.equal(seen('grouped-before-autocommit').n, 1);
  });

  test('a group that need not be durable commits without a WAL fsync; one durable member makes it wait for one', async () => {
    const groupCommit = groupCommitOf(db)!;
    const relaxed = (v: string) => transact(db, (trx) => trx.insertInto('gc_probe').values({ v }).execute(), { durable: false });
    let before = { ...groupCommit.stats };
    await Promise.all([relaxed('relaxed-1'), relaxed('relaxed-2')]);
    assert.equal(seen('relaxed-1').n + seen('relaxed-2').n, 2, 'committed: another connection sees both');
    assert.equal(groupCommit.stats.relaxedCommits - before.relaxedCommits, groupCommit.stats.commits - before.commits, 'every COMMIT of theirs skipped the fsync');
    assert.equal(groupCommit.stats.walSyncs, before.walSyncs, 'no WAL fsync');

    before = { ...groupCommit.stats };
    await Promise.all([relaxed('mixed-relaxed'), insert('mixed-durable')]);
    assert.equal(seen('mixed-relaxed').n + seen('mixed-durable').n, 2);
    assert.equal(groupCommit.stats.commits - before.commits, 1, 'one group');
    assert.equal(groupCommit.stats.relaxedCommits, before.relaxedCommits, 'its COMMIT counted as durable');
    assert.equal(groupCommit.stats.walSyncs - before.walSyncs, 1, 'and waited for one WAL fsync');
  });

  test('close commits what is pending', async () => {
    const file = join(dir, 'closing.db');
    const other = SqlMetadataStore.open({ kind: 'sqlite', path: file });
    await other.migrate();
    const odb = other.db as unknown as Kysely<any>;
    await sql`create table gc_probe (id integer primary key, v text not null unique)`.execute(odb);
    const inserted = odb.transaction().execute((trx) => trx.insertInto('gc_probe').values({ v: 'at-close' }).execute());
    await inserted;
    await other.close();
    const check = new SQLite(file, { readonly: true });
    try {
      assert.equal((check.prepare('select count(*) as n from gc_probe').get() as { n: number }).n, 1);
    } finally {
      check.close();
    }
  });
});

describe('transactions that need not be durable on PostgreSQL', () => {
  test('run with synchronous_commit off; the others keep the server\'s setting', async (t) => {
    if (!(await requirePostgres(t))) return;
    const database = await createTestDatabase();
    const store = SqlMetadataStore.open({ kind: 'postgres', url: database.url });
    try {
      const db = store.db as unknown as Kysely<any>;
      const setting = (durable: boolean) =>
        transact(db, async (trx) => (await sql<{ synchronous_commit: string }>`show synchronous_commit`.execute(trx)).rows[0]!.synchronous_commit, { durable });
      assert.equal(await setting(false), 'off');
      assert.equal(await setting(true), 'on');
      assert.equal(await setting(false), 'off');
      assert.equal(await setting(true), 'on', 'SET LOCAL ended with its transaction');
    } finally {
      await store.close();
      await database.drop();
    }
  });
});
