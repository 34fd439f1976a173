import { sql, type Kysely, type Transaction } from 'kysely';
import type { Changes, ChangesFor } from '../../domain/events/change.js';
import { transact } from './sqlite-group-commit.js';
import { tagIsImmutable } from '../../domain/ecr/tag-mutability.js';
import {
  defaultRepositorySettings,
  type CreationTemplateRecord,
  type EcrRepository,
  type EcrStore,
  type ImageIdRecord,
  type ImageRecord,
  type ImageStatus,
  type ImageStatusFilter,
  type KeysetPage,
  type LayerUploadRecord,
  type LifecycleImageRecord,
  type LifecyclePolicyRecord,
  type LifecyclePreviewPage,
  type LifecyclePreviewRecord,
  type LifecyclePreviewResultFilter,
  type LifecyclePreviewResultRecord,
  type LifecyclePreviewSummary,
  type RepositorySettings,
  type ResourceTag,
  type TagStatus,
} from '../ecr-store.js';
import type { Database } from './schema.js';

// Tables of migration 0010_ecr.
export interface EcrTables {
  ecr_repository_settings: { repository_id: number; settings: string };
  ecr_resource_tags: { repository_id: number; key: string; value: string };
  ecr_repository_policies: { repository_id: number; policy_text: string };
  ecr_registry_policies: { registry_id: string; policy_text: string };
  ecr_account_settings: { registry_id: string; name: string; value: string };
  ecr_creation_templates: { registry_id: string; prefix: string; template: string; created_at: number; updated_at: number };
  ecr_layer_uploads: { upload_id: string; last_part_size: number; undersized_part: number; parts: number };
  ecr_image_pulls: { repository_id: number; digest: string; pulled_at: number };
  // 0021_lifecycle
  ecr_lifecycle_policies: { repository_id: number; policy_text: string; updated_at: number };
  ecr_lifecycle_previews: { repository_id: number; policy_text: string; status: string; created_at: number };
  // 0031_lifecycle_preview_results
  ecr_lifecycle_preview_results: {
    repository_id: number;
    image_digest: string;
    image_tags: string;
    image_pushed_at: number;
    action_type: string;
    target_storage_class: string | null;
    applied_rule_priority: number;
    storage_class: string;
  };
}

/** Rows per INSERT of preview results (8 values each, well under both engines' limits). */
const previewResultBatch = 500;

type Db = Kysely<Database & EcrTables>;

function parseSettings(text: string | null | undefined): RepositorySettings {
  return text ? { ...defaultRepositorySettings, ...(JSON.parse(text) as Partial<RepositorySettings>) } : defaultRepositorySettings;
}

/**
 * True when `tag` exists in the repository, is immutable there, and points at another
 * manifest. Runs inside the transaction that would move the tag.
 */
export async function immutableTagConflict(trx: Transaction<Database>, repositoryId: number, tag: string, digest: string): Promise<boolean> {
  const t = trx as unknown as Transaction<Database & EcrTables>;
  const row = await t.selectFrom('ecr_repository_settings').select('settings').where('repository_id', '=', repositoryId).executeTakeFirst();
  if (!row || !tagIsImmutable(parseSettings(row.settings), tag)) return false;
  // Claim the tag if it is free; a concurrent claimer waits on the key, then sees ours.
  await t
    .insertInto('tags')
    .values({ repository_id: repositoryId, name: tag, manifest_digest: digest, updated_at: Date.now() })
    .onConflict((oc) => oc.columns(['repository_id', 'name']).doNothing())
    .execute();
  const current = await t.selectFrom('tags').select('manifest_digest').where('repository_id', '=', repositoryId).where('name', '=', tag).executeTakeFirst();
  return current !== undefined && current.manifest_digest !== digest;
}

export class SqlEcrStore implements EcrStore {
  private readonly db: Db;

  constructor(db: Kysely<Database>) {
    this.db = db as unknown as Db;
  }

  /** Runs a write as it is, or in a transaction with the change feed's events for it. */
  private write<T>(changes: Changes | null | undefined | ((result: T) => Changes | null), work: (db: Db) => Promise<T>): Promise<T> {
    if (!changes) return work(this.db);
    return transact(this.db, (trx) => work(trx as unknown as Db), { changes });
  }

  // ---- repositories ----

  async createRepository(registryId: string, name: string, settings: RepositorySettings, tags: ResourceTag[], now: number, changes?: ChangesFor<EcrRepository | null>): Promise<EcrRepository | null> {
    return transact(this.db, async (trx) => {
      const inserted = await trx
        .insertInto('repositories')
        .values({ registry_id: registryId, name, created_at: now })
        .onConflict((oc) => oc.columns(['registry_id', 'name']).doNothing())
        .returning(['id'])
        .executeTakeFirst();
      if (!inserted) return null;
      await trx.insertInto('ecr_repository_settings').values({ repository_id: inserted.id, settings: JSON.stringify(settings) }).execute();
      if (tags.length > 0) {
        await trx
          .insertInto('ecr_resource_tags')
          .values(tags.map((t) => ({ repository_id: inserted.id, key: t.key, value: t.value })))
          .execute();
      }
      return { id: inserted.id, registryId, name, createdAt: now, settings };
    }, { changes });
  }

  private repositoryQuery(registryId: string) {
    return this.db
      .selectFrom('repositories as r')
      .leftJoin('ecr_repository_settings as s', 's.repository_id', 'r.id')
      .select(['r.id', 'r.registry_id', 'r.name', 'r.created_at', 's.settings'])
      .where('r.registry_id', '=', registryId);
  }

  async getRepository(registryId: string, name: string): Promise<EcrRepository | null> {
    const row = await this.repositoryQuery(registryId).where('r.name', '=', name).executeTakeFirst();
    return row ? toRepository(row) : null;
  }

  async listRepositories(registryId: string, page: KeysetPage<string>): Promise<EcrRepository[]> {
    let q = this.repositoryQuery(registryId);
    if (page.after !== undefined) q = q.where('r.name', '>', page.after);
    const rows = await q.orderBy('r.name').limit(page.limit).execute();
    return rows.map(toRepository);
  }

  async putRepositorySettings(repositoryId: number, settings: RepositorySettings, changes?: ChangesFor<void>): Promise<void> {
    return this.write(changes, async (db) => {
      const text = JSON.stringify(settings);
      await db
        .insertInto('ecr_repository_settings')
        .values({ repository_id: repositoryId, settings: text })
        .onConflict((oc) => oc.column('repository_id').doUpdateSet({ settings: text }))
        .execute();
    });
  }

  async deleteRepository(repositoryId: number, force: boolean, changes?: ChangesFor<'deleted' | 'not-empty' | 'missing'>): Promise<'deleted' | 'not-empty' | 'missing'> {
    return transact(this.db, async (trx) => {
      if (!force) {
        const image = await trx.selectFrom('manifests').select('digest').where('repository_id', '=', repositoryId).limit(1).executeTakeFirst();
        if (image) return 'not-empty';
      }
      // Children first: tags and references hang off manifests, which hang off the repository.
      await trx.deleteFrom('tags').where('repository_id', '=', repositoryId).execute();
      await trx.deleteFrom('manifests').where('repository_id', '=', repositoryId).execute();
      const result = await trx.deleteFrom('repositories').where('id', '=', repositoryId).executeTakeFirst();
      return Number(result.numDeletedRows) > 0 ? 'deleted' : 'missing';
    }, { changes });
  }

  // ---- resource tags ----

  async listResourceTags(repositoryId: number): Promise<ResourceTag[]> {
    const rows = await this.db.selectFrom('ecr_resource_tags').select(['key', 'value']).where('repository_id', '=', repositoryId).orderBy('key').execute();
    return rows;
  }

  async putResourceTags(repositoryId: number, tags: ResourceTag[], max: number): Promise<boolean> {
    return transact(this.db, async (trx) => {
      for (const t of tags) {
        await trx
          .insertInto('ecr_resource_tags')
          .values({ repository_id: repositoryId, key: t.key, value: t.value })
          .onConflict((oc) => oc.columns(['repository_id', 'key']).doUpdateSet({ value: t.value }))
          .execute();
      }
      const { n } = await trx
        .selectFrom('ecr_resource_tags')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('repository_id', '=', repositoryId)
        .executeTakeFirstOrThrow();
      if (Number(n) > max) throw new TooMany();
      return true;
    }).catch((err) => {
      if (err instanceof TooMany) return false;
      throw err;
    });
  }

  async deleteResourceTags(repositoryId: number, keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    await this.db.deleteFrom('ecr_resource_tags').where('repository_id', '=', repositoryId).where('key', 'in', keys).execute();
  }

  // ---- policies and settings ----

  async getRepositoryPolicy(repositoryId: number): Promise<string | null> {
    const row = await this.db.selectFrom('ecr_repository_policies').select('policy_text').where('repository_id', '=', repositoryId).executeTakeFirst();
    return row?.policy_text ?? null;
  }

  async putRepositoryPolicy(repositoryId: number, text: string, changes?: ChangesFor<void>): Promise<void> {
    return this.write(changes, async (db) => {
      await db
        .insertInto('ecr_repository_policies')
        .values({ repository_id: repositoryId, policy_text: text })
        .onConflict((oc) => oc.column('repository_id').doUpdateSet({ policy_text: text }))
        .execute();
    });
  }

  async deleteRepositoryPolicy(repositoryId: number, changes?: ChangesFor<string | null>): Promise<string | null> {
    return this.write(changes, async (db) => {
      const row = await db.deleteFrom('ecr_repository_policies').where('repository_id', '=', repositoryId).returning('policy_text').executeTakeFirst();
      return row?.policy_text ?? null;
    });
  }

  async getRegistryPolicy(registryId: string): Promise<string | null> {
    const row = await this.db.selectFrom('ecr_registry_policies').select('policy_text').where('registry_id', '=', registryId).executeTakeFirst();
    return row?.policy_text ?? null;
  }

  async putRegistryPolicy(registryId: string, text: string, changes?: ChangesFor<void>): Promise<void> {
    return this.write(changes, async (db) => {
      await db
        .insertInto('ecr_registry_policies')
        .values({ registry_id: registryId, policy_text: text })
        .onConflict((oc) => oc.column('registry_id').doUpdateSet({ policy_text: text }))
        .execute();
    });
  }

  async deleteRegistryPolicy(registryId: string, changes?: ChangesFor<string | null>): Promise<string | null> {
    return this.write(changes, async (db) => {
      const row = await db.deleteFrom('ecr_registry_policies').where('registry_id', '=', registryId).returning('policy_text').executeTakeFirst();
      return row?.policy_text ?? null;
    });
  }

  async getAccountSetting(registryId: string, name: string): Promise<string | null> {
    const row = await this.db.selectFrom('ecr_account_settings').select('value').where('registry_id', '=', registryId).where('name', '=', name).executeTakeFirst();
    return row?.value ?? null;
  }

  async putAccountSetting(registryId: string, name: string, value: string): Promise<void> {
    await this.db
      .insertInto('ecr_account_settings')
      .values({ registry_id: registryId, name, value })
      .onConflict((oc) => oc.columns(['registry_id', 'name']).doUpdateSet({ value }))
      .execute();
  }

  // ---- creation templates ----

  async createTemplate(registryId: string, record: CreationTemplateRecord): Promise<boolean> {
    const row = await this.db
      .insertInto('ecr_creation_templates')
      .values({ registry_id: registryId, prefix: record.prefix, template: JSON.stringify(record.template), created_at: record.createdAt, updated_at: record.updatedAt })
      .onConflict((oc) => oc.columns(['registry_id', 'prefix']).doNothing())
      .returning('prefix')
      .executeTakeFirst();
    return row !== undefined;
  }

  async getTemplate(registryId: string, prefix: string): Promise<CreationTemplateRecord | null> {
    const row = await this.db.selectFrom('ecr_creation_templates').selectAll().where('registry_id', '=', registryId).where('prefix', '=', prefix).executeTakeFirst();
    return row ? toTemplate(row) : null;
  }

  async listTemplates(registryId: string, page: KeysetPage<string>): Promise<CreationTemplateRecord[]> {
    let q = this.db.selectFrom('ecr_creation_templates').selectAll().where('registry_id', '=', registryId);
    if (page.after !== undefined) q = q.where('prefix', '>', page.after);
    const rows = await q.orderBy('prefix').limit(page.limit).execute();
    return rows.map(toTemplate);
  }

  async updateTemplate(registryId: string, record: CreationTemplateRecord): Promise<boolean> {
    const result = await this.db
      .updateTable('ecr_creation_templates')
      .set({ template: JSON.stringify(record.template), updated_at: record.updatedAt })
      .where('registry_id', '=', registryId)
      .where('prefix', '=', record.prefix)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async deleteTemplate(registryId: string, prefix: string): Promise<CreationTemplateRecord | null> {
    const row = await this.db.deleteFrom('ecr_creation_templates').where('registry_id', '=', registryId).where('prefix', '=', prefix).returningAll().executeTakeFirst();
    return row ? toTemplate(row) : null;
  }

  // ---- images ----

  private imageQuery(repositoryId: number) {
    return this.db
      .selectFrom('manifests as m')
      .leftJoin('ecr_image_pulls as p', (j) => j.onRef('p.repository_id', '=', 'm.repository_id').onRef('p.digest', '=', 'm.digest'))
      .select(['m.digest', 'm.media_type', 'm.artifact_type', 'm.subject_digest', 'm.content', 'm.pushed_at', 'p.pulled_at', 'm.image_status', 'm.last_archived_at', 'm.last_activated_at'])
      .where('m.repository_id', '=', repositoryId);
  }

  private async withTags(
    repositoryId: number,
    rows: Array<{
      digest: string;
      media_type: string;
      artifact_type: string | null;
      subject_digest: string | null;
      content: Buffer;
      pushed_at: number;
      pulled_at: number | null;
      image_status: string;
      last_archived_at: number | null;
      last_activated_at: number | null;
    }>,
  ): Promise<ImageRecord[]> {
    const tags = new Map<string, string[]>();
    for (const chunk of chunks(rows.map((r) => r.digest), 500)) {
      const found = await this.db.selectFrom('tags').select(['manifest_digest', 'name']).where('repository_id', '=', repositoryId).where('manifest_digest', 'in', chunk).orderBy('name').execute();
      for (const t of found) tags.set(t.manifest_digest, [...(tags.get(t.manifest_digest) ?? []), t.name]);
    }
    return rows.map((r) => ({
      digest: r.digest,
      mediaType: r.media_type,
      artifactType: r.artifact_type,
      subjectDigest: r.subject_digest,
      content: Buffer.from(r.content),
      pushedAt: r.pushed_at,
      lastPulledAt: r.pulled_at,
      tags: tags.get(r.digest) ?? [],
      status: r.image_status as ImageStatus,
      lastArchivedAt: r.last_archived_at,
      lastActivatedAt: r.last_activated_at,
    }));
  }

  async listImages(repositoryId: number, tagStatus: TagStatus, page: KeysetPage<string>, imageStatus: ImageStatusFilter = 'ANY'): Promise<ImageRecord[]> {
    let q = this.imageQuery(repositoryId);
    if (page.after !== undefined) q = q.where('m.digest', '>', page.after);
    if (imageStatus !== 'ANY') q = q.where('m.image_status', '=', imageStatus);
    if (tagStatus !== 'ANY') {
      const tagged = (eb: any) => eb.exists(eb.selectFrom('tags as t').select('t.name').whereRef('t.repository_id', '=', 'm.repository_id').whereRef('t.manifest_digest', '=', 'm.digest'));
      q = q.where((eb) => (tagStatus === 'TAGGED' ? tagged(eb) : eb.not(tagged(eb))));
    }
    const rows = await q.orderBy('m.digest').limit(page.limit).execute();
    return this.withTags(repositoryId, rows);
  }

  async getImages(repositoryId: number, digests: string[]): Promise<ImageRecord[]> {
    if (digests.length === 0) return [];
    const rows = await this.imageQuery(repositoryId).where('m.digest', 'in', digests).orderBy('m.digest').execute();
    return this.withTags(repositoryId, rows);
  }

  async listImageIds(repositoryId: number, tagStatus: TagStatus, page: KeysetPage<ImageIdRecord>, imageStatus: ImageStatusFilter = 'ANY'): Promise<ImageIdRecord[]> {
    const tag = sql<string>`coalesce(t.name, '')`;
    let q = this.db
      .selectFrom('manifests as m')
      .leftJoin('tags as t', (j) => j.onRef('t.repository_id', '=', 'm.repository_id').onRef('t.manifest_digest', '=', 'm.digest'))
      .select(['m.digest', 't.name'])
      .where('m.repository_id', '=', repositoryId);
    if (tagStatus === 'TAGGED') q = q.where('t.name', 'is not', null);
    if (tagStatus === 'UNTAGGED') q = q.where('t.name', 'is', null);
    if (imageStatus !== 'ANY') q = q.where('m.image_status', '=', imageStatus);
    const after = page.after;
    if (after !== undefined) {
      q = q.where((eb) => eb.or([eb('m.digest', '>', after.digest), eb.and([eb('m.digest', '=', after.digest), eb(tag, '>', after.tag ?? '')])]));
    }
    const rows = await q.orderBy('m.digest').orderBy(tag).limit(page.limit).execute();
    return rows.map((r) => ({ digest: r.digest, tag: r.name ?? null }));
  }

  async transitionImages(repositoryId: number, digests: string[], from: ImageStatus, to: ImageStatus, now: number, changes?: ChangesFor<string[]>): Promise<string[]> {
    return this.write(changes, async (db) => {
      const moved: string[] = [];
      const stamp = to === 'ARCHIVED' ? { last_archived_at: now } : to === 'ACTIVE' ? { last_activated_at: now } : {};
      for (const chunk of chunks([...new Set(digests)], 500)) {
        const rows = await db
          .updateTable('manifests')
          .set({ image_status: to, ...stamp })
          .where('repository_id', '=', repositoryId)
          .where('digest', 'in', chunk)
          .where('image_status', '=', from)
          .returning('digest')
          .execute();
        moved.push(...rows.map((r) => r.digest));
      }
      return moved.sort();
    });
  }

  async layerImageStatus(repositoryId: number, digest: string): Promise<'active' | 'archived' | 'unreferenced'> {
    // One row per status that references the layer; ACTIVE sorts first.
    const rows = await this.db
      .selectFrom('manifest_references as r')
      .innerJoin('manifests as m', (j) => j.onRef('m.repository_id', '=', 'r.repository_id').onRef('m.digest', '=', 'r.manifest_digest'))
      .select('m.image_status')
      .distinct()
      .where('r.repository_id', '=', repositoryId)
      .where('r.child_digest', '=', digest)
      .where('r.child_kind', '=', 'blob')
      .execute();
    if (rows.length === 0) return 'unreferenced';
    return rows.some((r) => r.image_status === 'ACTIVE') ? 'active' : 'archived';
  }

  async referencingIndexes(repositoryId: number, digest: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('manifest_references')
      .select('manifest_digest')
      .where('repository_id', '=', repositoryId)
      .where('child_digest', '=', digest)
      .where('child_kind', '=', 'manifest')
      .execute();
    return rows.map((r) => r.manifest_digest);
  }

  async referencedBlobSizes(repositoryId: number, digests: string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const chunk of chunks(digests, 500)) {
      const rows = await this.db
        .selectFrom('manifest_references as r')
        .innerJoin('blobs as b', 'b.digest', 'r.child_digest')
        .select(['r.manifest_digest', (eb) => eb.fn.sum<number>('b.size').as('total')])
        .where('r.repository_id', '=', repositoryId)
        .where('r.child_kind', '=', 'blob')
        .where('r.manifest_digest', 'in', chunk)
        .groupBy('r.manifest_digest')
        .execute();
      for (const r of rows) out.set(r.manifest_digest, Number(r.total));
    }
    return out;
  }

  async childManifests(repositoryId: number, digests: string[]): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    for (const chunk of chunks(digests, 500)) {
      const rows = await this.db
        .selectFrom('manifest_references')
        .select(['manifest_digest', 'child_digest'])
        .where('repository_id', '=', repositoryId)
        .where('child_kind', '=', 'manifest')
        .where('manifest_digest', 'in', chunk)
        .execute();
      for (const r of rows) out.set(r.manifest_digest, [...(out.get(r.manifest_digest) ?? []), r.child_digest]);
    }
    return out;
  }

  // ---- lifecycle policies ----

  private lifecycleQuery() {
    return this.db
      .selectFrom('ecr_lifecycle_policies as l')
      .innerJoin('repositories as r', 'r.id', 'l.repository_id')
      .select(['l.repository_id', 'r.registry_id', 'r.name', 'l.policy_text', 'l.updated_at']);
  }

  async getLifecyclePolicy(repositoryId: number): Promise<LifecyclePolicyRecord | null> {
    const row = await this.lifecycleQuery().where('l.repository_id', '=', repositoryId).executeTakeFirst();
    return row ? toLifecyclePolicy(row) : null;
  }

  async putLifecyclePolicy(repositoryId: number, text: string, now: number, changes?: ChangesFor<void>): Promise<void> {
    return this.write(changes, async (db) => {
      await db
        .insertInto('ecr_lifecycle_policies')
        .values({ repository_id: repositoryId, policy_text: text, updated_at: now })
        .onConflict((oc) => oc.column('repository_id').doUpdateSet({ policy_text: text, updated_at: now }))
        .execute();
    });
  }

  async deleteLifecyclePolicy(repositoryId: number, changes?: ChangesFor<LifecyclePolicyRecord | null>): Promise<LifecyclePolicyRecord | null> {
    const existing = await this.getLifecyclePolicy(repositoryId);
    if (!existing) return null;
    return this.write(changes, async (db) => {
      const result = await db.deleteFrom('ecr_lifecycle_policies').where('repository_id', '=', repositoryId).executeTakeFirst();
      return Number(result.numDeletedRows) > 0 ? existing : null;
    });
  }

  async listLifecyclePolicies(page: KeysetPage<number>): Promise<LifecyclePolicyRecord[]> {
    let q = this.lifecycleQuery();
    if (page.after !== undefined) q = q.where('l.repository_id', '>', page.after);
    const rows = await q.orderBy('l.repository_id').limit(page.limit).execute();
    return rows.map(toLifecyclePolicy);
  }

  async listLifecycleImages(repositoryId: number, page: KeysetPage<string>): Promise<LifecycleImageRecord[]> {
    let q = this.db
      .selectFrom('manifests as m')
      .leftJoin('ecr_image_pulls as p', (j) => j.onRef('p.repository_id', '=', 'm.repository_id').onRef('p.digest', '=', 'm.digest'))
      .select(['m.digest', 'm.subject_digest', 'm.pushed_at', 'p.pulled_at', 'm.image_status', 'm.last_archived_at', 'm.last_activated_at'])
      .where('m.repository_id', '=', repositoryId);
    if (page.after !== undefined) q = q.where('m.digest', '>', page.after);
    const rows = await q.orderBy('m.digest').limit(page.limit).execute();
    if (rows.length === 0) return [];
    const first = rows[0]!.digest;
    const last = rows[rows.length - 1]!.digest;
    // Tags and index children of the page, by range (one query each, not one per image).
    const tags = new Map<string, string[]>();
    const tagRows = await this.db
      .selectFrom('tags')
      .select(['manifest_digest', 'name'])
      .where('repository_id', '=', repositoryId)
      .where('manifest_digest', '>=', first)
      .where('manifest_digest', '<=', last)
      .orderBy('name')
      .execute();
    for (const t of tagRows) tags.set(t.manifest_digest, [...(tags.get(t.manifest_digest) ?? []), t.name]);
    const children = new Map<string, string[]>();
    const childRows = await this.db
      .selectFrom('manifest_references')
      .select(['manifest_digest', 'child_digest'])
      .where('repository_id', '=', repositoryId)
      .where('child_kind', '=', 'manifest')
      .where('manifest_digest', '>=', first)
      .where('manifest_digest', '<=', last)
      .execute();
    for (const c of childRows) children.set(c.manifest_digest, [...(children.get(c.manifest_digest) ?? []), c.child_digest]);
    return rows.map((r) => ({
      digest: r.digest,
      tags: tags.get(r.digest) ?? [],
      pushedAt: r.pushed_at,
      lastPulledAt: r.pulled_at,
      subjectDigest: r.subject_digest,
      children: children.get(r.digest) ?? [],
      status: r.image_status as ImageStatus,
      lastArchivedAt: r.last_archived_at,
      lastActivatedAt: r.last_activated_at,
    }));
  }

  async beginLifecyclePreview(repositoryId: number, policyText: string, now: number, staleBefore: number): Promise<boolean> {
    const values = { policy_text: policyText, status: 'IN_PROGRESS', created_at: now };
    return transact(this.db, async (trx) => {
      // One statement decides, so two concurrent starts cannot both win.
      const row = await trx
        .insertInto('ecr_lifecycle_previews')
        .values({ repository_id: repositoryId, ...values })
        .onConflict((oc) =>
          oc
            .column('repository_id')
            .doUpdateSet(values)
            .where((eb) => eb.or([eb('ecr_lifecycle_previews.status', '<>', 'IN_PROGRESS'), eb('ecr_lifecycle_previews.created_at', '<', staleBefore)])),
        )
        .returning('repository_id')
        .executeTakeFirst();
      if (!row) return false;
      // The replaced preview's results go with it (the new one writes its own when it finishes).
      await trx.deleteFrom('ecr_lifecycle_preview_results').where('repository_id', '=', repositoryId).execute();
      return true;
    });
  }

  async finishLifecyclePreview(repositoryId: number, createdAt: number, status: 'COMPLETE' | 'FAILED', results: Iterable<LifecyclePreviewResultRecord>): Promise<boolean> {
    return transact(this.db, async (trx) => {
      // The status first: it takes the preview's row lock (PostgreSQL), so a concurrent
      // start or finish waits for this transaction, then sees it finished.
      const result = await trx
        .updateTable('ecr_lifecycle_previews')
        .set({ status })
        .where('repository_id', '=', repositoryId)
        .where('created_at', '=', createdAt)
        .where('status', '=', 'IN_PROGRESS')
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) === 0) return false;
      if (status !== 'COMPLETE') return true;
      let batch: EcrTables['ecr_lifecycle_preview_results'][] = [];
      const flush = async () => {
        if (batch.length > 0) await trx.insertInto('ecr_lifecycle_preview_results').values(batch).execute();
        batch = [];
      };
      for (const r of results) {
        batch.push({
          repository_id: repositoryId,
          image_digest: r.digest,
          image_tags: JSON.stringify(r.tags),
          image_pushed_at: r.pushedAt,
          action_type: r.action,
          target_storage_class: r.targetStorageClass,
          applied_rule_priority: r.rulePriority,
          storage_class: r.storageClass,
        });
        if (batch.length === previewResultBatch) await flush();
      }
      await flush();
      return true;
    });
  }

  async getLifecyclePreview(repositoryId: number): Promise<LifecyclePreviewRecord | null> {
    return readPreview(this.db, repositoryId);
  }

  async getLifecyclePreviewPage(repositoryId: number, filter: LifecyclePreviewResultFilter, page: KeysetPage<string>): Promise<LifecyclePreviewPage | null> {
    // One snapshot for the preview, its page and its counts: on PostgreSQL a repeatable-read
    // transaction; on SQLite the transaction holds the one connection, so no write between.
    return this.db
      .transaction()
      .setIsolationLevel('repeatable read')
      .setAccessMode('read only')
      .execute(async (trx) => {
        const preview = await readPreview(trx, repositoryId);
        if (!preview) return null;
        if (preview.status !== 'COMPLETE') return { preview, results: [], summary: null };
        return { preview, results: await previewResults(trx, repositoryId, filter, page), summary: await previewSummary(trx, repositoryId) };
      });
  }

  // ---- layer uploads and pulls ----

  async recordLayerPart(uploadId: string, size: number, minPartSize: number): Promise<void> {
    await transact(this.db, async (trx) => {
      const prev = await trx.selectFrom('ecr_layer_uploads').selectAll().where('upload_id', '=', uploadId).executeTakeFirst();
      // A part below the minimum is allowed only as the last one: another part after it
      // marks the upload, and completing it then fails.
      const undersized = prev ? prev.undersized_part === 1 || prev.last_part_size < minPartSize : false;
      const parts = (prev?.parts ?? 0) + 1;
      await trx
        .insertInto('ecr_layer_uploads')
        .values({ upload_id: uploadId, last_part_size: size, undersized_part: undersized ? 1 : 0, parts })
        .onConflict((oc) => oc.column('upload_id').doUpdateSet({ last_part_size: size, undersized_part: undersized ? 1 : 0, parts }))
        .execute();
    });
  }

  async getLayerUpload(uploadId: string): Promise<LayerUploadRecord | null> {
    const row = await this.db.selectFrom('ecr_layer_uploads').selectAll().where('upload_id', '=', uploadId).executeTakeFirst();
    return row ? { uploadId: row.upload_id, lastPartSize: row.last_part_size, undersizedPart: row.undersized_part === 1, parts: row.parts } : null;
  }

  async recordPull(repositoryId: number, digest: string, now: number, minIntervalMs: number): Promise<void> {
    // Not worth an fsync per pull: ECR's own pull time is approximate (recorded at most
    // hourly here), and a crash losing the last one is no worse.
    await transact(
      this.db,
      (trx) =>
        trx
          .insertInto('ecr_image_pulls')
          .values({ repository_id: repositoryId, digest, pulled_at: now })
          .onConflict((oc) => oc.columns(['repository_id', 'digest']).doUpdateSet({ pulled_at: now }).where('ecr_image_pulls.pulled_at', '<', now - minIntervalMs))
          .execute(),
      { durable: false },
    ).catch(() => {}); // the manifest went away meanwhile: nothing to record
  }
}

class TooMany extends Error {}

function toRepository(row: { id: number; registry_id: string; name: string; created_at: number; settings: string | null }): EcrRepository {
  return { id: row.id, registryId: row.registry_id, name: row.name, createdAt: row.created_at, settings: parseSettings(row.settings) };
}

function toLifecyclePolicy(row: { repository_id: number; registry_id: string; name: string; policy_text: string; updated_at: number }): LifecyclePolicyRecord {
  return { repositoryId: row.repository_id, registryId: row.registry_id, repositoryName: row.name, text: row.policy_text, updatedAt: row.updated_at };
}

function toTemplate(row: { prefix: string; template: string; created_at: number; updated_at: number }): CreationTemplateRecord {
  return { prefix: row.prefix, template: JSON.parse(row.template) as Record<string, unknown>, createdAt: row.created_at, updatedAt: row.updated_at };
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

async function readPreview(db: Db | Transaction<Database & EcrTables>, repositoryId: number): Promise<LifecyclePreviewRecord | null> {
  const row = await db.selectFrom('ecr_lifecycle_previews').select(['policy_text', 'status', 'created_at']).where('repository_id', '=', repositoryId).executeTakeFirst();
  return row ? { policyText: row.policy_text, status: row.status as LifecyclePreviewRecord['status'], createdAt: row.created_at } : null;
}

async function previewResults(trx: Transaction<Database & EcrTables>, repositoryId: number, filter: LifecyclePreviewResultFilter, page: KeysetPage<string>): Promise<LifecyclePreviewResultRecord[]> {
  if (filter.digests?.length === 0) return [];
  let q = trx.selectFrom('ecr_lifecycle_preview_results').selectAll().where('repository_id', '=', repositoryId);
  if (filter.digests) q = q.where('image_digest', 'in', filter.digests);
  // The store writes the tags itself: an untagged image's are exactly '[]'.
  if (filter.tagStatus === 'TAGGED') q = q.where('image_tags', '<>', '[]');
  if (filter.tagStatus === 'UNTAGGED') q = q.where('image_tags', '=', '[]');
  if (page.after !== undefined) q = q.where('image_digest', '>', page.after);
  const rows = await q.orderBy('image_digest').limit(page.limit).execute();
  return rows.map((r) => ({
    digest: r.image_digest,
    tags: JSON.parse(r.image_tags) as string[],
    pushedAt: r.image_pushed_at,
    action: r.action_type as LifecyclePreviewResultRecord['action'],
    targetStorageClass: r.target_storage_class as LifecyclePreviewResultRecord['targetStorageClass'],
    rulePriority: r.applied_rule_priority,
    storageClass: r.storage_class as LifecyclePreviewResultRecord['storageClass'],
  }));
}

async function previewSummary(trx: Transaction<Database & EcrTables>, repositoryId: number): Promise<LifecyclePreviewSummary> {
  const rows = await trx
    .selectFrom('ecr_lifecycle_preview_results')
    .select(['action_type', 'target_storage_class', (eb) => eb.fn.countAll<number>().as('n')])
    .where('repository_id', '=', repositoryId)
    .groupBy(['action_type', 'target_storage_class'])
    .orderBy('target_storage_class')
    .execute();
  const summary: LifecyclePreviewSummary = { expiring: 0, transitioning: [] };
  for (const r of rows) {
    if (r.action_type === 'EXPIRE') summary.expiring += Number(r.n);
    else summary.transitioning.push({ targetStorageClass: r.target_storage_class as 'ARCHIVE', count: Number(r.n) });
  }
  return summary;
}
