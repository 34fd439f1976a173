import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqlMetadataStore } from '../../src/stores/metadata/sql-metadata-store.js';
import { metadataStoreContract } from './metadata-store.contract.js';

metadataStoreContract('sqlite', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-meta-'));
  const store = SqlMetadataStore.open({ kind: 'sqlite', path: join(dir, 'metadata.db') });
  await store.migrate();
  return { store, cleanup: () => rm(dir, { recursive: true, force: true }) };
});
