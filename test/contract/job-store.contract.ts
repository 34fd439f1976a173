import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { JobStore } from '../../src/stores/job-store.js';

// One contract suite for every JobStore backend (SQLite, PostgreSQL). Tests keep apart by
// giving each its own job kinds.

export interface JobStoreFixture {
  jobs: JobStore;
  cleanup(): Promise<void>;
}

export function jobStoreContract(name: string, make: () => Promise<JobStoreFixture>): void {
  describe(`JobStore contract: ${name}`, () => {
    let fixture: JobStoreFixture | undefined;
    let jobs: JobStore;
    before(async () => {
      fixture = await make();
      jobs = fixture.jobs;
    });
    after(async () => {
      await fixture?.cleanup();
    });

    test('claimJob hands out a job once it is due, with its payload and attempt count', async () => {
      const kind = uniqueId('job');
      const payload = { repository: 'team/app', digests: ['sha256:aa', 'sha256:bb'], n: 3, nested: { ok: true } };
      const id = await jobs.enqueueJob(kind, payload, NOW + 1000);
      assert.equal(typeof id, 'number');
      assert.equal(await jobs.claimJob([kind], 'w1', NOW, 30_000), null, 'not before run_at');
      assert.equal(await jobs.claimJob([uniqueId('job')], 'w1', NOW + 1000, 30_000), null, 'not for another kind');
      assert.equal(await jobs.claimJob([], 'w1', NOW + 1000, 30_000), null, 'not for no kinds');
      assert.deepEqual(await jobs.claimJob([uniqueId('job'), kind], 'w1', NOW + 1000, 30_000), { id, kind, payload, attempts: 1 });
      await jobs.completeJob(id, 'w1');
      assert.equal(await jobs.claimJob([kind], 'w2', NOW + 10_000_000, 30_000), null, 'a completed job is gone');

      const second = await jobs.enqueueJob(kind, null, NOW);
      assert.notEqual(second, id);
      assert.deepEqual(await jobs.claimJob([kind], 'w1', NOW, 30_000), { id: second, kind, payload: null, attempts: 1 });
      await jobs.completeJob(second, 'w1');
    });

    test('a claimed job is not claimed again until its lease expires, then it is', async () => {
      const kind = uniqueId('job');
      const id = await jobs.enqueueJob(kind, { n: 1 }, NOW);
      const t0 = NOW + 100;
      assert.equal((await jobs.claimJob([kind], 'w1', t0, 1000))?.id, id);
      assert.equal(await jobs.claimJob([kind], 'w2', t0, 1000), null);
      assert.equal(await jobs.claimJob([kind], 'w2', t0 + 999, 1000), null, 'the lease still holds');
      assert.deepEqual(await jobs.claimJob([kind], 'w2', t0 + 1001, 1000), { id, kind, payload: { n: 1 }, attempts: 2 }, 'the lease expired');

      // w1 lost its lease: its completion and failure change nothing.
      await jobs.completeJob(id, 'w1');
      await jobs.failJob(id, 'w1', 'late', t0);
      assert.equal(await jobs.claimJob([kind], 'w3', t0 + 1500, 1000), null, "w2's lease still holds");
      assert.equal((await jobs.claimJob([kind], 'w3', t0 + 2002, 1000))?.id, id, 'the job was still there');
      await jobs.completeJob(id, 'w3');
      assert.equal(await jobs.claimJob([kind], 'w4', t0 + 10_000_000, 1000), null);
    });

    test('failJob releases the job and reschedules it', async () => {
      const kind = uniqueId('job');
      const id = await jobs.enqueueJob(kind, 'payload', NOW);
      assert.equal((await jobs.claimJob([kind], 'w1', NOW, 60_000))?.attempts, 1);
      await jobs.failJob(id, 'w1', 'boom '.repeat(1000), NOW + 5000);
      assert.equal(await jobs.claimJob([kind], 'w2', NOW + 4999, 60_000), null, 'not before retryAt');
      assert.deepEqual(await jobs.claimJob([kind], 'w2', NOW + 5000, 60_000), { id, kind, payload: 'payload', attempts: 2 }, 'free again at retryAt, lease or not');
      await jobs.completeJob(id, 'w2');
    });

    test('concurrent claimers never get the same job', async () => {
      const kind = uniqueId('job');
      const ids = new Set<number>();
      for (let i = 0; i < 10; i++) ids.add(await jobs.enqueueJob(kind, { i }, NOW));
      const claims = await Promise.all(Array.from({ length: 20 }, (_, i) => jobs.claimJob([kind], `w${i}`, NOW, 60_000)));
      const claimed = claims.filter((c) => c !== null).map((c) => c.id);
      assert.equal(claimed.length, 10, 'every job is claimed once');
      assert.deepEqual(new Set(claimed), ids, 'by exactly one claimer each');
      for (const [i, c] of claims.entries()) if (c) await jobs.completeJob(c.id, `w${i}`);
      assert.equal(await jobs.claimJob([kind], 'w', NOW + 10_000_000, 60_000), null);
    });

    test('a held lease is renewed only by its holder; a lost one is not', async () => {
      const kind = uniqueId('job');
      const id = await jobs.enqueueJob(kind, null, NOW);
      assert.equal((await jobs.claimJob([kind], 'w1', NOW, 1000))?.id, id);
      assert.equal(await jobs.renewJobLease(id, 'w1', NOW + 5000), true);
      assert.equal(await jobs.claimJob([kind], 'w2', NOW + 2000, 1000), null, 'the renewed lease holds past the first expiry');
      assert.equal(await jobs.renewJobLease(id, 'w2', NOW + 9000), false, 'not by another owner');
      assert.equal((await jobs.claimJob([kind], 'w2', NOW + 5001, 1000))?.id, id, 'taken over once the renewed lease expires');
      assert.equal(await jobs.renewJobLease(id, 'w1', NOW + 99_000), false, 'the old holder lost it');
      await jobs.completeJob(id, 'w2');
    });

    test('a buried job is never claimed, is listed as dead with its error, and runs again once retried', async () => {
      const kind = uniqueId('job');
      const id = await jobs.enqueueJob(kind, { n: 7 }, NOW);
      assert.equal((await jobs.claimJob([kind], 'w1', NOW, 60_000))?.id, id);
      await jobs.buryJob(id, 'w1', 'gave up', NOW + 1);
      assert.equal(await jobs.claimJob([kind], 'w2', NOW + 10_000_000, 60_000), null, 'dead jobs are not claimed');
      const dead = await jobs.listJobs({ state: 'dead', kind, limit: 10 }, NOW + 2);
      assert.equal(dead.length, 1);
      assert.deepEqual({ id: dead[0]!.id, state: dead[0]!.state, lastError: dead[0]!.lastError, deadAt: dead[0]!.deadAt, payload: dead[0]!.payload }, { id, state: 'dead', lastError: 'gave up', deadAt: NOW + 1, payload: { n: 7 } });
      assert.deepEqual(await jobs.listJobs({ state: 'pending', kind, limit: 10 }, NOW + 2), []);
      assert.equal(await jobs.retryJob(id, NOW + 3), true);
      assert.equal(await jobs.retryJob(id + 1_000_000, NOW + 3), false, 'no such job');
      assert.deepEqual(await jobs.claimJob([kind], 'w3', NOW + 3, 60_000), { id, kind, payload: { n: 7 }, attempts: 1 }, 'a fresh attempt count');
      await jobs.completeJob(id, 'w3');
    });

    test('a job can be dead from the start (a change a subscriber could not take)', async () => {
      const kind = uniqueId('job');
      const id = await jobs.enqueueDeadJob(kind, { seq: 42 }, 'handler failed 10 times', NOW);
      assert.equal(await jobs.claimJob([kind], 'w1', NOW + 1_000_000, 60_000), null);
      const [listed] = await jobs.listJobs({ kind, limit: 10 }, NOW);
      assert.equal(listed?.id, id);
      assert.equal(listed?.state, 'dead');
      const stats = (await jobs.jobQueueStats(NOW + 500)).filter((s) => s.kind === kind);
      assert.deepEqual(stats, [{ kind, state: 'dead', count: 1, oldestDueAgeMs: 500 }]);
    });
  });
}

const NOW = 1_767_225_600_000; // 2026-01-01, a fixed clock: stores take time from their callers

let counter = 0;
function uniqueId(prefix: string): string {
  return `${prefix}-${process.pid}-${++counter}-${randomBytes(4).toString('hex')}`;
}
