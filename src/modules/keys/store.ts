import type { Kysely } from 'kysely';
import { transact } from '../../stores/metadata/sqlite-group-commit.js';

// The KMS's rows. No rules here (key-service.ts has them); just reads and writes.

export type KeyState = 'Enabled' | 'Disabled' | 'PendingDeletion';

export interface KeyRow {
  id: string;
  accountId: string;
  region: string;
  description: string;
  keyManager: 'CUSTOMER' | 'AWS';
  state: KeyState;
  createdAt: number;
  deletionAt: number | null;
  pendingWindowDays: number | null;
  policy: string;
  rotationEnabled: boolean;
  rotationPeriodDays: number | null;
  nextRotationAt: number | null;
  currentMaterial: string;
}

export interface MaterialRow {
  keyId: string;
  materialId: string;
  sealed: string;
  createdAt: number;
  rotationType: 'AUTOMATIC' | 'ON_DEMAND' | null;
}

export interface AliasRow {
  accountId: string;
  region: string;
  name: string;
  keyId: string;
  createdAt: number;
  updatedAt: number;
}

const toKey = (r: any): KeyRow => ({
  id: r.id,
  accountId: r.account_id,
  region: r.region,
  description: r.description,
  keyManager: r.key_manager,
  state: r.state,
  createdAt: Number(r.created_at),
  deletionAt: r.deletion_at === null ? null : Number(r.deletion_at),
  pendingWindowDays: r.pending_window_days === null ? null : Number(r.pending_window_days),
  policy: r.policy,
  rotationEnabled: Number(r.rotation_enabled) === 1,
  rotationPeriodDays: r.rotation_period_days === null ? null : Number(r.rotation_period_days),
  nextRotationAt: r.next_rotation_at === null ? null : Number(r.next_rotation_at),
  currentMaterial: r.current_material,
});

const fromKey = (k: Partial<KeyRow>) => {
  const out: Record<string, unknown> = {};
  if (k.id !== undefined) out.id = k.id;
  if (k.accountId !== undefined) out.account_id = k.accountId;
  if (k.region !== undefined) out.region = k.region;
  if (k.description !== undefined) out.description = k.description;
  if (k.keyManager !== undefined) out.key_manager = k.keyManager;
  if (k.state !== undefined) out.state = k.state;
  if (k.createdAt !== undefined) out.created_at = k.createdAt;
  if (k.deletionAt !== undefined) out.deletion_at = k.deletionAt;
  if (k.pendingWindowDays !== undefined) out.pending_window_days = k.pendingWindowDays;
  if (k.policy !== undefined) out.policy = k.policy;
  if (k.rotationEnabled !== undefined) out.rotation_enabled = k.rotationEnabled ? 1 : 0;
  if (k.rotationPeriodDays !== undefined) out.rotation_period_days = k.rotationPeriodDays;
  if (k.nextRotationAt !== undefined) out.next_rotation_at = k.nextRotationAt;
  if (k.currentMaterial !== undefined) out.current_material = k.currentMaterial;
  return out;
};

const toAlias = (r: any): AliasRow => ({ accountId: r.account_id, region: r.region, name: r.name, keyId: r.key_id, createdAt: Number(r.created_at), updatedAt: Number(r.updated_at) });

export class SqlKeyStore {
  private readonly db: Kysely<any>;
  constructor(db: Kysely<any>) {
    this.db = db;
  }

  async createKey(key: KeyRow, material: MaterialRow, tags: { key: string; value: string }[], alias?: AliasRow): Promise<void> {
    await transact(this.db, async (trx) => {
      await trx.insertInto('kms_keys').values(fromKey(key)).execute();
      await trx.insertInto('kms_key_materials').values({ key_id: material.keyId, material_id: material.materialId, sealed: material.sealed, created_at: material.createdAt, rotation_type: material.rotationType }).execute();
      if (tags.length) await trx.insertInto('kms_tags').values(tags.map((t) => ({ key_id: key.id, tag_key: t.key, tag_value: t.value }))).execute();
      if (alias) await trx.insertInto('kms_aliases').values({ account_id: alias.accountId, region: alias.region, name: alias.name, key_id: alias.keyId, created_at: alias.createdAt, updated_at: alias.updatedAt }).execute();
    });
  }

  async getKey(id: string): Promise<KeyRow | null> {
    const row = await this.db.selectFrom('kms_keys').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toKey(row) : null;
  }

  async listKeys(accountId: string, region: string, after: string | null, limit: number): Promise<KeyRow[]> {
    let q = this.db.selectFrom('kms_keys').selectAll().where('account_id', '=', accountId).where('region', '=', region);
    if (after) q = q.where('id', '>', after);
    return (await q.orderBy('id').limit(limit).execute()).map(toKey);
  }

  /** Keys whose scheduled deletion time has come (any account). */
  async keysDueForDeletion(now: number): Promise<KeyRow[]> {
    return (await this.db.selectFrom('kms_keys').selectAll().where('state', '=', 'PendingDeletion').where('deletion_at', '<=', now).execute()).map(toKey);
  }

  async keysDueForRotation(now: number): Promise<KeyRow[]> {
    return (await this.db.selectFrom('kms_keys').selectAll().where('rotation_enabled', '=', 1).where('next_rotation_at', '<=', now).execute()).map(toKey);
  }

  async updateKey(id: string, fields: Partial<KeyRow>): Promise<void> {
    await transact(this.db, (trx) => trx.updateTable('kms_keys').set(fromKey(fields)).where('id', '=', id).execute());
  }

  /** Crypto-shredding: the key, its material, aliases and tags go for good. */
  async deleteKey(id: string): Promise<void> {
    await transact(this.db, async (trx) => {
      await trx.deleteFrom('kms_aliases').where('key_id', '=', id).execute();
      await trx.deleteFrom('kms_tags').where('key_id', '=', id).execute();
      await trx.deleteFrom('kms_key_materials').where('key_id', '=', id).execute();
      await trx.deleteFrom('kms_keys').where('id', '=', id).execute();
    });
  }

  async addMaterial(material: MaterialRow, nextRotationAt: number | null | undefined): Promise<void> {
    await transact(this.db, async (trx) => {
      await trx.insertInto('kms_key_materials').values({ key_id: material.keyId, material_id: material.materialId, sealed: material.sealed, created_at: material.createdAt, rotation_type: material.rotationType }).execute();
      await trx
        .updateTable('kms_keys')
        .set({ current_material: material.materialId, ...(nextRotationAt !== undefined ? { next_rotation_at: nextRotationAt } : {}) })
        .where('id', '=', material.keyId)
        .execute();
    });
  }

  async getMaterial(keyId: string, materialId: string): Promise<MaterialRow | null> {
    const r = await this.db.selectFrom('kms_key_materials').selectAll().where('key_id', '=', keyId).where('material_id', '=', materialId).executeTakeFirst();
    return r ? { keyId: r.key_id, materialId: r.material_id, sealed: r.sealed, createdAt: Number(r.created_at), rotationType: r.rotation_type } : null;
  }

  async listMaterials(keyId: string): Promise<MaterialRow[]> {
    const rows = await this.db.selectFrom('kms_key_materials').selectAll().where('key_id', '=', keyId).orderBy('created_at').orderBy('material_id').execute();
    return rows.map((r: any) => ({ keyId: r.key_id, materialId: r.material_id, sealed: r.sealed, createdAt: Number(r.created_at), rotationType: r.rotation_type }));
  }

  async getAlias(accountId: string, region: string, name: string): Promise<AliasRow | null> {
    const r = await this.db.selectFrom('kms_aliases').selectAll().where('account_id', '=', accountId).where('region', '=', region).where('name', '=', name).executeTakeFirst();
    return r ? toAlias(r) : null;
  }

  async listAliases(accountId: string, region: string, keyId: string | null): Promise<AliasRow[]> {
    let q = this.db.selectFrom('kms_aliases').selectAll().where('account_id', '=', accountId).where('region', '=', region);
    if (keyId) q = q.where('key_id', '=', keyId);
    return (await q.orderBy('name').execute()).map(toAlias);
  }

  /** False when the alias exists already. */
  async createAlias(alias: AliasRow): Promise<boolean> {
    try {
      await transact(this.db, (trx) => trx.insertInto('kms_aliases').values({ account_id: alias.accountId, region: alias.region, name: alias.name, key_id: alias.keyId, created_at: alias.createdAt, updated_at: alias.updatedAt }).execute());
      return true;
    } catch (err) {
      if (await this.getAlias(alias.accountId, alias.region, alias.name)) return false;
      throw err;
    }
  }

  async updateAlias(accountId: string, region: string, name: string, keyId: string, now: number): Promise<void> {
    await transact(this.db, (trx) => trx.updateTable('kms_aliases').set({ key_id: keyId, updated_at: now }).where('account_id', '=', accountId).where('region', '=', region).where('name', '=', name).execute());
  }

  async deleteAlias(accountId: string, region: string, name: string): Promise<void> {
    await transact(this.db, (trx) => trx.deleteFrom('kms_aliases').where('account_id', '=', accountId).where('region', '=', region).where('name', '=', name).execute());
  }

  async listTags(keyId: string): Promise<{ key: string; value: string }[]> {
    const rows = await this.db.selectFrom('kms_tags').selectAll().where('key_id', '=', keyId).orderBy('tag_key').execute();
    return rows.map((r: any) => ({ key: r.tag_key, value: r.tag_value }));
  }

  async putTags(keyId: string, tags: { key: string; value: string }[]): Promise<void> {
    await transact(this.db, async (trx) => {
      for (const t of tags) {
        await trx.deleteFrom('kms_tags').where('key_id', '=', keyId).where('tag_key', '=', t.key).execute();
        await trx.insertInto('kms_tags').values({ key_id: keyId, tag_key: t.key, tag_value: t.value }).execute();
      }
    });
  }

  async removeTags(keyId: string, keys: string[]): Promise<void> {
    if (keys.length) await transact(this.db, (trx) => trx.deleteFrom('kms_tags').where('key_id', '=', keyId).where('tag_key', 'in', keys).execute());
  }
}
