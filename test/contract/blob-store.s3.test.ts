import { test } from 'node:test';
import { openTestS3Store, requireS3, s3TestEnv } from '../helpers/s3.js';
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
