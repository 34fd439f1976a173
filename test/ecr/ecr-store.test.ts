import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqlEcrStore } from '../../src/stores/metadata/sql-ecr-store.js';
import { SqlMetadataStore } from '../../src/stores/metadata/sql-metadata-store.js';
import { ecrStoreContract } from '../contract/ecr-store.contract.js';
import { createTestDatabase, requirePostgres } from '../helpers/postgres.js';

ecrStoreContract('sqlite', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-ecr-store-'));
  const meta = SqlMetadataStore.open({ kind: 'sqlite', path: join(dir, 'meta.db') });
  await meta.migrate();
  return {
    meta,
    ecr: new SqlEcrStore(meta.db),
    async cleanup() {
      await meta.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

ecrStoreContract('postgres', async (t) => {
  if (!(await requirePostgres(t))) return null;
  const database = await createTestDatabase();
  const meta = SqlMetadataStore.open({ kind: 'postgres', url: database.url, poolSize: 2 });
  await meta.migrate();
  return {
    meta,
    ecr: new SqlEcrStore(meta.db),
    async cleanup() {
      await meta.close();
      await database.drop();
    },
  };
});
