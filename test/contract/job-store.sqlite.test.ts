import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqlMetadataStore } from '../../src/stores/metadata/sql-metadata-store.js';
import { changeStoreContract } from './change-store.contract.js';
import { jobStoreContract } from './job-store.contract.js';

async function open() {
  const dir = await mkdtemp(join(tmpdir(), 'berth-queue-'));
  const store = SqlMetadataStore.open({ kind: 'sqlite', path: join(dir, 'metadata.db') });
  await store.migrate();
  return { store, cleanup: async () => { await store.close(); await rm(dir, { recursive: true, force: true }); } };
}

jobStoreContract('sqlite', async () => {
  const { store, cleanup } = await open();
  return { jobs: store.jobs, cleanup };
});
changeStoreContract('sqlite', async () => {
  const { store, cleanup } = await open();
  return { store, cleanup };
});
