import { test } from 'node:test';
import { SqlMetadataStore } from '../../src/stores/metadata/sql-metadata-store.js';
import { createTestDatabase, postgresAvailable, requirePostgres } from '../helpers/postgres.js';
import { changeStoreContract } from './change-store.contract.js';
import { jobStoreContract } from './job-store.contract.js';

async function open() {
  const database = await createTestDatabase();
  const store = SqlMetadataStore.open({ kind: 'postgres', url: database.url });
  await store.migrate();
  return { store, cleanup: async () => { await store.close(); await database.drop(); } };
}

if (await postgresAvailable()) {
  jobStoreContract('postgres', async () => {
    const { store, cleanup } = await open();
    return { jobs: store.jobs, cleanup };
  });
  changeStoreContract('postgres', async () => open());
} else {
  test('JobStore and ChangeStore contracts: postgres', async (t) => {
    await requirePostgres(t);
  });
}
