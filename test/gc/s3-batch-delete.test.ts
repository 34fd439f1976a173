import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { DeleteBucketPolicyCommand, HeadObjectCommand, PutBucketPolicyCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { collectGarbage } from '../../src/domain/gc.js';
import { RegistryService } from '../../src/domain/registry-service.js';
import { SqlMetadataStore } from '../../src/stores/metadata/sql-metadata-store.js';
import { openTestS3Store, rawS3Client, removePrefix, requireS3 } from '../helpers/s3.js';

// The collector deletes S3 bytes with DeleteObjects (1000 keys a request) and reads the
// engine's answer key by key: a key the engine refuses (here a bucket policy denies
// deleting it, in a bucket of the test's own) is not counted as freed, keeps its mark,
// and is deleted by a later run once the engine lets it.

const REGISTRY = '000000000000';
const sha256 = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

test('deleteMany: existing and missing keys in one request are all gone', async (t) => {
  if (!requireS3(t)) return;
  const fixture = await openTestS3Store();
  t.after(() => fixture.cleanup());
  const { store } = fixture;
  const stored = [randomBytes(10), randomBytes(20), randomBytes(30)];
  for (const [i, data] of stored.entries()) {
    await store.createUpload(`u${i}`);
    await store.appendUpload(`u${i}`, 0, Readable.from([data]));
    await store.commitUpload(`u${i}`, sha256(data));
  }
  const missing = [sha256(Buffer.from('never')), sha256(Buffer.from('stored'))];
  const digests = [...stored.map(sha256), ...missing];
  const before = store.requestCounts.get('DeleteObjects') ?? 0;
  const gone = await store.deleteMany(digests);
  assert.equal((store.requestCounts.get('DeleteObjects') ?? 0) - before, 1, 'one request');
  assert.deepEqual([...gone].sort(), [...digests].sort());
  for (const data of stored) assert.equal(await store.stat(sha256(data)), null);
  assert.deepEqual([...(await store.deleteMany([]))], []);
});

test('GC: a key the engine refuses to delete is not freed, keeps its mark, and goes in a later run', async (t) => {
  if (!requireS3(t)) return;
  const bucket = `berth-test-deny-${randomBytes(4).toString('hex')}`;
  const fixture = await openTestS3Store({ bucket, createBucket: true });
  const s3 = rawS3Client();
  const dir = await mkdtemp(join(tmpdir(), 'berth-gcdeny-'));
  const meta = SqlMetadataStore.open({ kind: 'sqlite', path: join(dir, 'metadata.db') });
  await meta.migrate();
  t.after(async () => {
    await s3.send(new DeleteBucketPolicyCommand({ Bucket: bucket })).catch(() => {});
    s3.destroy();
    await meta.close();
    await rm(dir, { recursive: true, force: true });
    await fixture.cleanup();
    await removePrefix(bucket, '', true);
  });
  const { store } = fixture;
  const key = (digest: string) => `${store.prefix}blobs/sha256/${digest.slice('sha256:'.length)}`;

  // Two blobs pushed and never referenced, and 30 orphan byte objects with no row at all.
  const registry = new RegistryService({ blobs: store, meta, limits: { manifestMaxBytes: 4 << 20, maxPageSize: 1000 } });
  const pushed = [randomBytes(100), randomBytes(200)];
  for (const data of pushed) await registry.uploadMonolithic(REGISTRY, 'app', sha256(data), Readable.from([data]), data.length);
  const orphans = Array.from({ length: 30 }, () => randomBytes(50));
  for (const data of orphans) await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key(sha256(data)), Body: data, ContentLength: data.length }));
  // The engine refuses to delete one pushed blob and one orphan.
  const refused = [sha256(pushed[0]!), sha256(orphans[7]!)];
  const policy = { Version: '2012-10-17', Statement: [{ Effect: 'Deny', Principal: '*', Action: 's3:DeleteObject', Resource: refused.map((d) => `arn:aws:s3:::${bucket}/${key(d)}`) }] };
  await s3.send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: JSON.stringify(policy) }));
  await new Promise((resolve) => setTimeout(resolve, 1100)); // the engine's timestamps are in seconds

  const deletesBefore = store.requestCounts.get('DeleteObject') ?? 0;
  const first = await collectGarbage(store, meta, { graceMs: 0 });
  assert.equal(first.blobsDeleted, 1);
  assert.equal(first.orphansDeleted, 29);
  assert.equal(first.deleteFailures, 2);
  assert.equal(first.bytesFreed, 200 + 29 * 50, 'refused bytes are not counted as freed');
  assert.equal((store.requestCounts.get('DeleteObject') ?? 0) - deletesBefore, 0, 'no single-object deletes');
  for (const digest of refused) {
    await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key(digest) })); // still there
  }
  const marks = await meta.listStaleMarks(Date.now() + 1, 100);
  assert.deepEqual(marks.map((m) => m.digest).sort(), [...refused].sort(), 'their marks stay');
  // A run within the mark lease leaves them alone; the refused keys are not retried in a loop.
  const second = await collectGarbage(store, meta, { graceMs: 0 });
  assert.equal(second.blobsDeleted + second.orphansDeleted + second.deleteFailures, 0);

  // Still refused after the lease: the stale-mark pass tries once and stops.
  const stuck = await collectGarbage(store, meta, { graceMs: 0, markLeaseMs: 0 });
  assert.equal(stuck.deleteFailures, 2);
  assert.equal((await meta.listStaleMarks(Date.now() + 1, 100)).length, 2);

  await s3.send(new DeleteBucketPolicyCommand({ Bucket: bucket }));
  const third = await collectGarbage(store, meta, { graceMs: 0, markLeaseMs: 0 });
  assert.equal(third.deleteFailures, 0);
  assert.deepEqual(await meta.listStaleMarks(Date.now() + 1, 100), []);
  for (const digest of refused) assert.equal(await store.stat(digest), null);
  const left = [];
  for await (const b of store.list()) left.push(b.digest);
  assert.deepEqual(left, []);
});
