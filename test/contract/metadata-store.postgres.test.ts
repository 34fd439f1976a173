import { test } from 'node:test';
import { SqlMetadataStore } from '../../src/stores/metadata/sql-metadata-store.js';
import { createTestDatabase, postgresAvailable, requirePostgres } from '../helpers/postgres.js';
import { metadataStoreContract } from './metadata-store.contract.js';

if (await postgresAvailable()) {
  metadataStoreContract('postgres', async () => {
    const database = await createTestDatabase();
    const store = SqlMetadataStore.open({ kind: 'postgres', url: database.url });
    await store.migrate();
    return { store, cleanup: () => database.drop() };
  });
} else {
  // Skipped with the reason, or a failure under CI=true.
  test('MetadataStore contract: postgres', async (t) => {
    await requirePostgres(t);
  });
}
