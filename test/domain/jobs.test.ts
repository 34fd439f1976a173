import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { JobRunner } from '../../src/domain/jobs.js';
import { purgeStaleUploads } from '../../src/domain/maintenance.js';
import { RegistryService } from '../../src/domain/registry-service.js';
import { isDomainError } from '../../src/domain/errors.js';
import { FsBlobStore } from '../../src/stores/blob/fs-blob-store.js';
import { SqlMetadataStore } from '../../src/stores/metadata/sql-metadata-store.js';
import { createTestDatabase, requirePostgres } from '../helpers/postgres.js';

async function sqliteStore() {
  const dir = await mkdtemp(join(tmpdir(), 'berth-jobs-'));
  const meta = SqlMetadataStore.open({ kind: 'sqlite', path: join(dir, 'berth.db') });
  await meta.migrate();
  return { dir, meta, async cleanup() { await meta.close(); await rm(dir, { recursive: true, force: true }); } };
}

describe('job runner', () => {
  test('runs due jobs once, retries failures later with the error recorded', async () => {
    const { meta, cleanup } = await sqliteStore();
    try {
      let now = 1_000_000;
      const seen: unknown[] = [];
      let failNext = true;
      const runner = new JobRunner({ meta, clock: () => now, retryBaseMs: 60_000 })
        .register('echo', async ({ job }) => void seen.push(job.payload))
        .register('flaky', async () => {
          if (failNext) {
            failNext = false;
            throw new Error('first attempt fails');
          }
          seen.push('flaky ok');
        });
      await meta.enqueueJob('echo', { n: 1 }, now);
      await meta.enqueueJob('echo', { n: 2 }, now + 10_000); // not due yet
      await meta.enqueueJob('flaky', null, now);
      assert.equal(await runner.drain(), 2);
      assert.deepEqual(seen, [{ n: 1 }]);
      now += 10_000;
      assert.equal(await runner.drain(), 1, 'the failed job waits for its retry time');
      assert.deepEqual(seen, [{ n: 1 }, { n: 2 }]);
      now += 60_000;
      assert.equal(await runner.drain(), 1);
      assert.deepEqual(seen, [{ n: 1 }, { n: 2 }, 'flaky ok']);
      assert.equal(await runner.drain(), 0, 'completed jobs are gone');
    } finally {
      await cleanup();
    }
  });

  test('a recurring job has one row however many nodes ensure it, and runs again after its interval', async () => {
    const { meta, cleanup } = await sqliteStore();
    try {
      let now = 5_000_000;
      let runs = 0;
      const make = () => new JobRunner({ meta, clock: () => now }).every('tick', 60_000, async () => void runs++);
      const a = make();
      const b = make();
      await a.ensureRecurring();
      await b.ensureRecurring();
      await a.ensureRecurring();
      assert.equal((await a.drain()) + (await b.drain()), 1);
      assert.equal(runs, 1);
      now += 59_000;
      assert.equal(await b.drain(), 0);
      now += 1_000;
      assert.equal(await b.drain(), 1);
      assert.equal(runs, 2);
    } finally {
      await cleanup();
    }
  });

  test('a recurring job with firstRunAfterInterval waits one interval on a store without its row (new, migrated, restored)', async () => {
    const { meta, cleanup } = await sqliteStore();
    try {
      let now = 9_000_000;
      let runs = 0;
      const runner = new JobRunner({ meta, clock: () => now }).every('expire', 3_600_000, async () => void runs++, { firstRunAfterInterval: true });
      await runner.ensureRecurring();
      assert.equal(await runner.drain(), 0, 'not at the first start');
      now += 3_599_000;
      assert.equal(await runner.drain(), 0);
      now += 1_000;
      assert.equal(await runner.drain(), 1, 'at its scheduled time');
      // A restart keeps the schedule the row has (one interval after the run).
      await new JobRunner({ meta, clock: () => now }).every('expire', 3_600_000, async () => void runs++, { firstRunAfterInterval: true }).ensureRecurring();
      assert.equal(await runner.drain(), 0);
      now += 3_600_000;
      assert.equal(await runner.drain(), 1);
      assert.equal(runs, 2);
    } finally {
      await cleanup();
    }
  });

  test('on PostgreSQL, two nodes draining together run each job exactly once', async (t) => {
    if (!(await requirePostgres(t))) return;
    const db = await createTestDatabase();
    const metaA = SqlMetadataStore.open({ kind: 'postgres', url: db.url });
    const metaB = SqlMetadataStore.open({ kind: 'postgres', url: db.url });
    try {
      await metaA.migrate();
      await metaB.migrate();
      const runs = new Map<number, number>();
      const handler = async ({ job }: { job: { payload: unknown } }) => {
        const n = (job.payload as { n: number }).n;
        runs.set(n, (runs.get(n) ?? 0) + 1);
        await new Promise((r) => setTimeout(r, 2));
      };
      for (let n = 0; n < 40; n++) await metaA.enqueueJob('work', { n }, Date.now() - 1);
      const a = new JobRunner({ meta: metaA }).register('work', handler);
      const b = new JobRunner({ meta: metaB }).register('work', handler);
      const [ranA, ranB] = await Promise.all([a.drain(), b.drain()]);
      assert.equal(ranA + ranB, 40);
      assert.equal(runs.size, 40);
      assert.ok([...runs.values()].every((count) => count === 1));
    } finally {
      await metaA.close();
      await metaB.close();
      await db.drop();
    }
  });

  test('a job held by a dead node is taken over once its lease expires', async () => {
    const { meta, cleanup } = await sqliteStore();
    try {
      let now = 1_000;
      await meta.enqueueJob('work', null, now);
      const claimed = await meta.claimJob(['work'], 'dead-node', now, 30_000);
      assert.ok(claimed);
      let ran = 0;
      const survivor = new JobRunner({ meta, clock: () => now, leaseMs: 30_000 }).register('work', async () => void ran++);
      assert.equal(await survivor.drain(), 0, 'still leased');
      now += 30_001;
      assert.equal(await survivor.drain(), 1);
      assert.equal(ran, 1);
    } finally {
      await cleanup();
    }
  });
});

describe('job runner wake-ups', () => {
  test('a started runner runs an enqueued job when it is due, not at the next poll', { timeout: 20_000 }, async () => {
    const { meta, cleanup } = await sqliteStore();
    // A poll of ten minutes: if enqueue did not wake the runner these jobs would wait that long
    // (and the test would time out).
    const runner = new JobRunner({ meta, pollMs: 600_000 });
    // The runner's timers do not keep a process alive (a server's sockets do); this test has none.
    const keepAlive = setInterval(() => {}, 1_000);
    try {
      const ran: { n: number; at: number }[] = [];
      let done!: () => void;
      const bothRan = new Promise<void>((resolve) => (done = resolve));
      runner.register('wake', async ({ job }) => {
        ran.push({ n: (job.payload as { n: number }).n, at: Date.now() });
        if (ran.length === 2) done();
      });
      runner.start();
      const start = Date.now();
      await runner.enqueue('wake', { n: 1 });
      await runner.enqueue('wake', { n: 2 }, start + 300);
      await bothRan;
      assert.deepEqual(ran.map((r) => r.n), [1, 2]);
      assert.ok(ran[1]!.at >= start + 300, 'the delayed job ran at its time, not before');
    } finally {
      clearInterval(keepAlive);
      await runner.stop();
      await cleanup();
    }
  });

  test('a wake-up timer that fires before the job is due by the runner\'s clock waits out the rest', { timeout: 20_000 }, async () => {
    // libuv's timers run on the loop's cached clock, which can trail Date.now() by a busy
    // loop turn; here the runner's clock trails the timer on purpose, by a whole wake-up.
    const { meta, cleanup } = await sqliteStore();
    let now = 1_000_000;
    const runner = new JobRunner({ meta, clock: () => now, pollMs: 600_000 });
    const keepAlive = setInterval(() => {}, 1_000);
    try {
      let ran = 0;
      runner.register('later', async () => void ran++);
      runner.start();
      await runner.enqueue('later', null, now + 100);
      await new Promise((resolve) => setTimeout(resolve, 150)); // the first timer has fired
      assert.equal(ran, 0, 'not run before its time by the runner\'s clock');
      now += 100; // now it is due: the timer set for the rest finds it
      for (const deadline = Date.now() + 5_000; ran === 0 && Date.now() < deadline; ) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(ran, 1, 'ran once due, without waiting for the ten-minute poll');
    } finally {
      clearInterval(keepAlive);
      await runner.stop();
      await cleanup();
    }
  });

  test('enqueue on a runner that is not started only stores the job (drain runs it)', async () => {
    const { meta, cleanup } = await sqliteStore();
    try {
      let ran = 0;
      const runner = new JobRunner({ meta }).register('later', async () => void ran++);
      await runner.enqueue('later', null);
      assert.equal(ran, 0);
      assert.equal(await runner.drain(), 1);
      assert.equal(ran, 1);
    } finally {
      await cleanup();
    }
  });
});

describe('purging abandoned uploads', () => {
  test('removes uploads idle past the cutoff and keeps fresh ones', async () => {
    const { dir, meta, cleanup } = await sqliteStore();
    try {
      const blobs = await new FsBlobStore(join(dir, 'storage')).init();
      const registry = new RegistryService({ blobs, meta, limits: { manifestMaxBytes: 4 << 20, maxPageSize: 1000 } });
      const old = await registry.startUpload('000000000000', 'team/app');
      await registry.appendToUpload('000000000000', 'team/app', old.id, Readable.from([Buffer.alloc(1000, 1)]));
      const cutoff = Date.now() + 1; // everything written so far counts as idle
      // File times come from a coarse kernel clock: leave a clear gap after the cutoff.
      await new Promise((r) => setTimeout(r, 50));
      const fresh = await registry.startUpload('000000000000', 'team/app');
      const purged = await purgeStaleUploads(blobs, meta, cutoff);
      assert.deepEqual(purged, { uploads: 1, bytes: 1000 });
      await assert.rejects(registry.uploadStatus('000000000000', 'team/app', old.id), (err) => isDomainError(err, 'BlobUploadUnknown'));
      assert.equal((await registry.uploadStatus('000000000000', 'team/app', fresh.id)).size, 0);
    } finally {
      await cleanup();
    }
  });
});
