import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsBlobStore } from '../../src/stores/blob/fs-blob-store.js';
import { blobStoreContract } from './blob-store.contract.js';

blobStoreContract('fs', async () => {
  const root = await mkdtemp(join(tmpdir(), 'berth-blobs-'));
  const cleanup = () => rm(root, { recursive: true, force: true });
  return { store: await new FsBlobStore(root).init(), cleanup, loseStorage: cleanup };
});
