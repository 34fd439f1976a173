import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { serviceActor } from '../../src/domain/actor.js';
import type { Changes } from '../../src/domain/events/change.js';
import type { SqlMetadataStore } from '../../src/stores/metadata/sql-metadata-store.js';
import { transact } from '../../src/stores/metadata/sqlite-group-commit.js';

// One contract suite for the change feed's store (the transactional outbox) on every SQL
// backend: changes commit with their transaction or not at all, readers see them in commit
// order, cursors are held by one owner at a time.

export interface ChangeStoreFixture {
  store: SqlMetadataStore;
  cleanup(): Promise<void>;
}

const actor = serviceActor('contract-test');

function changesFor(registryId: string, n: number, now = NOW): Changes {
  return { actor, now, events: Array.from({ length: n }, (_, i) => ({ type: 'test.change', registryId, region: 'us-east-1', repository: `repo-${i}`, detail: { i } })) };
}

export function changeStoreContract(name: string, make: () => Promise<ChangeStoreFixture>): void {
  describe(`ChangeStore contract: ${name}`, () => {
    let fixture: ChangeStoreFixture | undefined;
    let store: SqlMetadataStore;
    before(async () => {
      fixture = await make();
      store = fixture.store;
    });
    after(async () => {
      await fixture?.cleanup();
    });

    /** The changes of one registry, from the whole feed. */
    async function feedOf(registryId: string, after = 0) {
      const all = [];
      for (let page = await store.changes.readChanges(after, 500); page.length > 0; page = await store.changes.readChanges(page[page.length - 1]!.seq, 500)) all.push(...page);
      return all.filter((c) => c.registryId === registryId);
    }

    test('a transaction appends its changes with its work, with actor, time and unique ids', async () => {
      const registryId = uniqueId('reg');
      const start = await store.changes.latestSeq();
      await transact(store.db, async (trx) => trx.selectFrom('repositories').select('id').limit(1).execute(), { changes: changesFor(registryId, 3) });
      const seen = await feedOf(registryId, start);
      assert.equal(seen.length, 3);
      assert.deepEqual(seen.map((c) => c.detail), [{ i: 0 }, { i: 1 }, { i: 2 }]);
      assert.deepEqual(seen[0]!.actor, actor);
      assert.equal(seen[0]!.time, NOW);
      assert.equal(new Set(seen.map((c) => c.id)).size, 3, 'ids are unique');
      assert.ok(seen[0]!.seq < seen[1]!.seq && seen[1]!.seq < seen[2]!.seq);
      assert.equal(await store.changes.latestSeq(), seen[2]!.seq);
    });

    test('a transaction that fails appends nothing; changes made from the result may be none', async () => {
      const registryId = uniqueId('reg');
      await assert.rejects(
        transact(store.db, async () => {
          throw new Error('the change fails');
        }, { changes: changesFor(registryId, 2) }),
        /the change fails/,
      );
      await transact(store.db, async () => 'nothing changed', { changes: (r) => (r === 'nothing changed' ? null : changesFor(registryId, 1)) });
      assert.deepEqual(await feedOf(registryId), []);
    });

    test('concurrent writers: every change is read once, in seq order, and none appears behind the cursor later', async () => {
      const registryId = uniqueId('reg');
      let cursor = await store.changes.latestSeq();
      const read: number[] = [];
      let writing = true;
      const reader = (async () => {
        while (writing || (await store.changes.readChanges(cursor, 1)).length > 0) {
          const page = await store.changes.readChanges(cursor, 50);
          for (const c of page) {
            assert.ok(c.seq > cursor, 'in order');
            if (c.registryId === registryId) read.push(c.detail.i as number);
            cursor = c.seq;
          }
          await new Promise((r) => setImmediate(r));
        }
      })();
      const writers = Array.from({ length: 40 }, (_, w) =>
        transact(store.db, async (trx) => {
          await trx.selectFrom('repositories').select('id').limit(1).execute();
          await new Promise((r) => setTimeout(r, w % 3));
        }, { changes: { actor, now: NOW, events: [{ type: 'test.change', registryId, region: 'us-east-1', repository: null, detail: { i: w } }] } }),
      );
      await Promise.all(writers);
      writing = false;
      await reader;
      assert.deepEqual([...read].sort((a, b) => a - b), Array.from({ length: 40 }, (_, i) => i), 'each change read exactly once');
      const late = await feedOf(registryId);
      assert.equal(late.length, 40);
    });

    test('purge deletes old changes only behind every subscriber (runs before any other subscription exists)', async () => {
      const registryId = uniqueId('reg');
      const name = uniqueId('sub');
      await transact(store.db, async () => undefined, { changes: changesFor(registryId, 3, OLD) });
      const mine = await feedOf(registryId);
      // A subscriber that has passed only the first one holds back the rest.
      await store.changes.leaseSubscription(name, 'n', NOW, 60_000, mine[0]!.seq);
      await store.changes.purgeChanges(OLD + 1, 10_000);
      assert.deepEqual((await feedOf(registryId)).map((c) => c.seq), mine.slice(1).map((c) => c.seq));
      await store.changes.advanceSubscription(name, 'n', mine[2]!.seq, NOW);
      await store.changes.purgeChanges(OLD + 1, 10_000);
      assert.deepEqual(await feedOf(registryId), [], 'every subscriber has passed them');
      assert.ok((await feedOf('')).length === 0);
    });
    test('a subscription is held by one owner at a time, moves forward only, and is taken over when its lease expires', async () => {
      const name = uniqueId('sub');
      const first = await store.changes.leaseSubscription(name, 'node-a', NOW, 1000, 17);
      assert.equal(first?.position, 17, 'created where asked');
      assert.equal(await store.changes.leaseSubscription(name, 'node-b', NOW + 10, 1000, 0), null, 'held by node-a');
      assert.equal(await store.changes.advanceSubscription(name, 'node-b', 30, NOW), false, 'only the holder moves it');
      assert.equal(await store.changes.advanceSubscription(name, 'node-a', 30, NOW), true);
      assert.equal(await store.changes.advanceSubscription(name, 'node-a', 20, NOW), false, 'never backwards');
      await store.changes.recordSubscriptionFailure(name, 'node-a', 'boom', NOW);
      const taken = await store.changes.leaseSubscription(name, 'node-b', NOW + 1001, 1000, 0);
      assert.equal(taken?.position, 30);
      assert.equal(taken?.failures, 1);
      assert.equal(taken?.lastError, 'boom');
      assert.equal(await store.changes.advanceSubscription(name, 'node-a', 40, NOW), false, 'the old holder lost it');
      await store.changes.releaseSubscription(name, 'node-b');
      assert.equal((await store.changes.leaseSubscription(name, 'node-a', NOW + 1002, 1000, 0))?.position, 30, 'released: anyone may take it');
      const listed = (await store.changes.listSubscriptions()).find((s) => s.name === name);
      assert.equal(listed?.leaseOwner, 'node-a');
    });

  });
}

const NOW = 1_767_225_600_000;
const OLD = 1_000_000_000_000;

let counter = 0;
function uniqueId(prefix: string): string {
  return `${prefix}-${process.pid}-${++counter}-${randomBytes(4).toString('hex')}`;
}
