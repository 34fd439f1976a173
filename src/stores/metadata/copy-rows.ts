import { sql, type Kysely } from 'kysely';
import type { SqlMetadataStore } from './sql-metadata-store.js';

// Copies the registry's metadata rows from one SQL store to another (SQLite to PostgreSQL,
// typically), table by table in foreign-key order, keeping primary keys. Re-running it is
// safe: a row already in the target is updated to the source's values, so an interrupted
// copy resumes and a second run picks up what changed meanwhile.
//
// Not copied: uploads in progress (their staged bytes are not migrated), ECR layer-upload
// bookkeeping that hangs off them, background jobs (each node schedules its own) and
// lifecycle policy previews (transient results: start a new one). Access-key and session
// secrets are copied sealed as they are: the target's nodes need the source's server key.

interface TableSpec {
  name: string;
  /** The primary key columns: order of the copy and the conflict target. */
  key: string[];
}

export const copiedTables: readonly TableSpec[] = [
  { name: 'accounts', key: ['id'] },
  { name: 'iam_users', key: ['user_id'] },
  { name: 'iam_roles', key: ['role_id'] },
  { name: 'iam_access_keys', key: ['access_key_id'] },
  { name: 'iam_sessions', key: ['access_key_id'] },
  { name: 'iam_managed_policies', key: ['policy_id'] },
  { name: 'iam_inline_policies', key: ['owner_id', 'name'] },
  { name: 'iam_policy_attachments', key: ['owner_id', 'policy_arn'] },
  { name: 'repositories', key: ['id'] },
  { name: 'blobs', key: ['digest'] },
  { name: 'repository_blobs', key: ['repository_id', 'digest'] },
  { name: 'manifests', key: ['repository_id', 'digest'] },
  { name: 'manifest_references', key: ['repository_id', 'manifest_digest', 'child_digest'] },
  { name: 'tags', key: ['repository_id', 'name'] },
  { name: 'ecr_repository_settings', key: ['repository_id'] },
  { name: 'ecr_resource_tags', key: ['repository_id', 'key'] },
  { name: 'ecr_repository_policies', key: ['repository_id'] },
  { name: 'ecr_registry_policies', key: ['registry_id'] },
  { name: 'ecr_account_settings', key: ['registry_id', 'name'] },
  { name: 'ecr_creation_templates', key: ['registry_id', 'prefix'] },
  { name: 'ecr_lifecycle_policies', key: ['repository_id'] },
  { name: 'ecr_image_pulls', key: ['repository_id', 'digest'] },
  { name: 'shared_secrets', key: ['name'] },
];

const PAGE = 500;

export class MetadataCopyConflict extends Error {
  override readonly name = 'MetadataCopyConflict';
}

/**
 * Copies every table; `progress` hears each table's running row count. Throws
 * MetadataCopyConflict when the target holds a different repository under a copied id
 * (it is not an empty database, nor an earlier copy of this source).
 */
export async function copyMetadataRows(
  source: SqlMetadataStore,
  target: SqlMetadataStore,
  progress: (table: string, rows: number, done: boolean) => void = () => {},
): Promise<Record<string, number>> {
  const from = source.db as unknown as Kysely<any>;
  const to = target.db as unknown as Kysely<any>;
  await checkRepositoryIds(from, to);
  await checkIdentityNames(from, to);
  const counts: Record<string, number> = {};
  for (const table of copiedTables) {
    let rows = 0;
    for (let offset = 0; ; offset += PAGE) {
      let query = from.selectFrom(table.name).selectAll();
      for (const column of table.key) query = query.orderBy(column);
      const page = (await query.limit(PAGE).offset(offset).execute()) as Record<string, unknown>[];
      if (page.length === 0) break;
      const columns = Object.keys(page[0]!);
      const others = columns.filter((c) => !table.key.includes(c));
      await to
        .insertInto(table.name)
        .values(page)
        .onConflict((oc) => {
          const target = oc.columns(table.key as never);
          return others.length === 0 ? target.doNothing() : target.doUpdateSet(Object.fromEntries(others.map((c) => [c, sql.ref(`excluded.${c}`)])));
        })
        .execute();
      rows += page.length;
      progress(table.name, rows, false);
      if (page.length < PAGE) break;
    }
    counts[table.name] = rows;
    progress(table.name, rows, true);
  }
  // Ids were copied as they are: move PostgreSQL's sequence past them, or the next
  // repository created on the target would collide.
  if (target.kind === 'postgres') {
    await sql`select setval(pg_get_serial_sequence('repositories', 'id'), greatest((select max(id) from repositories), 1))`.execute(to);
  }
  return counts;
}

async function checkRepositoryIds(from: Kysely<any>, to: Kysely<any>): Promise<void> {
  const existing = new Map<number, string>();
  for (const row of (await to.selectFrom('repositories').select(['id', 'registry_id', 'name']).execute()) as { id: number; registry_id: string; name: string }[]) {
    existing.set(Number(row.id), `${row.registry_id}/${row.name}`);
  }
  if (existing.size === 0) return;
  for (const row of (await from.selectFrom('repositories').select(['id', 'registry_id', 'name']).execute()) as { id: number; registry_id: string; name: string }[]) {
    const there = existing.get(Number(row.id));
    if (there !== undefined && there !== `${row.registry_id}/${row.name}`) {
      throw new MetadataCopyConflict(`the target database holds repository ${there} under id ${row.id}, where the source has ${row.registry_id}/${row.name}: migrate into an empty database`);
    }
  }
}

/**
 * A target whose nodes already started (and made their own admin user, say) holds users or
 * roles with the source's names under other ids: copying would break IAM's unique names.
 */
async function checkIdentityNames(from: Kysely<any>, to: Kysely<any>): Promise<void> {
  for (const [table, id, what] of [['iam_users', 'user_id', 'user'], ['iam_roles', 'role_id', 'role']] as const) {
    const existing = new Map<string, string>();
    for (const row of (await to.selectFrom(table).select([id, 'account_id', 'name', 'name_key']).execute()) as Record<string, string>[]) {
      existing.set(`${row.account_id}/${row.name_key}`, row[id]!);
    }
    if (existing.size === 0) continue;
    for (const row of (await from.selectFrom(table).select([id, 'account_id', 'name', 'name_key']).execute()) as Record<string, string>[]) {
      const there = existing.get(`${row.account_id}/${row.name_key}`);
      if (there !== undefined && there !== row[id]) {
        throw new MetadataCopyConflict(
          `the target database already has an IAM ${what} named ${row.name} in account ${row.account_id} (a node on it has started?): migrate into an empty database, before starting the target's nodes`,
        );
      }
    }
  }
}
