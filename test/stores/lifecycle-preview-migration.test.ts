import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { Migrator, type Kysely } from 'kysely';
import { defaultRepositorySettings } from '../../src/stores/ecr-store.js';
import { migrationProvider } from '../../src/stores/metadata/migrations.js';
import { SqlEcrStore } from '../../src/stores/metadata/sql-ecr-store.js';
import { SqlMetadataStore } from '../../src/stores/metadata/sql-metadata-store.js';
import { createTestDatabase, requirePostgres } from '../helpers/postgres.js';

// Migration 0031_lifecycle_preview_results over previews stored by 0021_lifecycle (results
// as one JSON column): a COMPLETE one becomes EXPIRED, one IN_PROGRESS is finished by its
// job into the new table, on both engines.

async function upgrade(meta: SqlMetadataStore): Promise<void> {
  const db = meta.db as unknown as Kysely<any>;
  const before = await new Migrator({ db, provider: migrationProvider(meta.kind) }).migrateTo('0030_image_storage_class');
  assert.equal(before.error, undefined);
  const ecr = new SqlEcrStore(meta.db);
  const complete = (await ecr.createRepository('123456789012', 'm/complete', defaultRepositorySettings, [], 1))!;
  const running = (await ecr.createRepository('123456789012', 'm/running', defaultRepositorySettings, [], 1))!;
  const old = JSON.stringify([{ imageTags: ['v1'], imageDigest: `sha256:${'a'.repeat(64)}`, imagePushedAt: new Date(5).toISOString(), action: { type: 'EXPIRE' }, appliedRulePriority: 1, storageClass: 'STANDARD' }]);
  await db
    .insertInto('ecr_lifecycle_previews')
    .values([
      { repository_id: complete.id, policy_text: 'policy-c', status: 'COMPLETE', results: old, created_at: 100 },
      { repository_id: running.id, policy_text: 'policy-r', status: 'IN_PROGRESS', results: '[]', created_at: 200 },
    ])
    .execute();

  await meta.migrate();
  assert.deepEqual(await ecr.getLifecyclePreviewPage(complete.id, { tagStatus: 'ANY' }, { limit: 10 }), { preview: { policyText: 'policy-c', status: 'EXPIRED', createdAt: 100 }, results: [], summary: null });
  assert.equal(await ecr.beginLifecyclePreview(complete.id, 'policy-c2', 300, 0), true, 'an expired preview is replaced by the next');
  const result = { digest: `sha256:${'b'.repeat(64)}`, tags: [], pushedAt: 7, action: 'TRANSITION' as const, targetStorageClass: 'ARCHIVE' as const, rulePriority: 2, storageClass: 'STANDARD' as const };
  assert.equal(await ecr.finishLifecyclePreview(running.id, 200, 'COMPLETE', [result]), true, 'the job of a preview started before the upgrade finishes it');
  assert.deepEqual(await ecr.getLifecyclePreviewPage(running.id, { tagStatus: 'ANY' }, { limit: 10 }), {
    preview: { policyText: 'policy-r', status: 'COMPLETE', createdAt: 200 },
    results: [result],
    summary: { expiring: 0, transitioning: [{ targetStorageClass: 'ARCHIVE', count: 1 }] },
  });
  const columns = (await db.introspection.getTables()).find((t) => t.name === 'ecr_lifecycle_previews')!.columns.map((c) => c.name);
  assert.ok(!columns.includes('results'), 'the JSON column is gone');
}

test('0031 on SQLite: COMPLETE previews expire, running ones finish into rows', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'berth-migration-'));
  const meta = SqlMetadataStore.open({ kind: 'sqlite', path: join(dir, 'meta.db') });
  try {
    await upgrade(meta);
  } finally {
    await meta.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('0031 on PostgreSQL: COMPLETE previews expire, running ones finish into rows', async (t: TestContext) => {
  if (!(await requirePostgres(t))) return;
  const database = await createTestDatabase();
  const meta = SqlMetadataStore.open({ kind: 'postgres', url: database.url, poolSize: 2 });
  try {
    await upgrade(meta);
  } finally {
    await meta.close();
    await database.drop();
  }
});
