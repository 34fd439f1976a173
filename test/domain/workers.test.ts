import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { threadId } from 'node:worker_threads';
import { runInWorker } from '../../src/domain/workers.js';

const work = new URL('./worker-work.js', import.meta.url);

test('work runs in another thread and its answer comes back', async () => {
  const result = await runInWorker<{ threadId: number; digest: string }>(work, 'hashRounds', { rounds: 1000 });
  assert.notEqual(result.threadId, threadId, 'not on the event loop thread');
  let data = Buffer.from('berth');
  for (let i = 0; i < 1000; i++) data = createHash('sha256').update(data).digest();
  assert.equal(result.digest, data.toString('hex'));
});

test('the event loop keeps turning while a worker computes', async () => {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  try {
    await runInWorker(work, 'hashRounds', { rounds: 300_000 });
  } finally {
    clearInterval(timer);
  }
  assert.ok(ticks > 0, 'timers fired while the work ran');
});

test('a failure comes back as an error with its name and message; a missing export is an error', async () => {
  await assert.rejects(runInWorker(work, 'fails', null), { name: 'RangeError', message: 'the layer is corrupt' });
  await assert.rejects(runInWorker(work, 'nothing', null), /has no function nothing/);
});

test('aborting terminates a worker that never answers', async () => {
  const abort = new AbortController();
  const running = runInWorker(work, 'spins', null, { signal: abort.signal });
  setTimeout(() => abort.abort(new Error('scan cancelled')), 200);
  await assert.rejects(running, /scan cancelled/);
});
