import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { openTestS3Store, removePrefix, requireS3, s3TestEnv } from '../helpers/s3.js';
import { blobStoreContract } from './blob-store.contract.js';

// The blob-store contract against a real S3 engine; each fixture has a prefix of its own.
if (s3TestEnv()) {
  blobStoreContract('s3', async () => {
    const { store, cleanup } = await openTestS3Store();
    return { store, cleanup };
  });
} else {
  test('s3 blob store contract', (t) => {
    requireS3(t);
  });
}

// The fixtures share one bucket, so losing the storage needs a bucket of its own.
test('s3 ping rejects once the bucket is gone', async (t) => {
  if (!requireS3(t)) return;
  const bucket = `berth-ping-${randomBytes(4).toString('hex')}`;
  const { store } = await openTestS3Store({ bucket });
  try {
    await store.ping();
    await removePrefix(bucket, '', true);
    await assert.rejects(store.ping(), (err: unknown) => (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404);
  } finally {
    await store.close();
    // Gone already, unless the test failed before removing it.
    await removePrefix(bucket, '', true).catch(() => {});
  }
});
