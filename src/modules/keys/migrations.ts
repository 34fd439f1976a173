import type { Kysely, Migration } from 'kysely';

// The KMS's tables (numbers 0110-0119 are this module's). Key material is stored sealed by
// the root of trust (root-of-trust.ts), never in the clear.

export function keysMigrations(): Record<string, Migration> {
  return {
    '0110_kms': {
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('kms_keys')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('account_id', 'text', (c) => c.notNull())
          .addColumn('region', 'text', (c) => c.notNull())
          .addColumn('description', 'text', (c) => c.notNull())
          .addColumn('key_manager', 'text', (c) => c.notNull()) // CUSTOMER | AWS
          .addColumn('state', 'text', (c) => c.notNull()) // Enabled | Disabled | PendingDeletion
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('deletion_at', 'bigint')
          .addColumn('pending_window_days', 'integer')
          .addColumn('policy', 'text', (c) => c.notNull())
          .addColumn('rotation_enabled', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('rotation_period_days', 'integer')
          .addColumn('next_rotation_at', 'bigint')
          .addColumn('current_material', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('kms_keys_account').on('kms_keys').columns(['account_id', 'region', 'id']).execute();
        await db.schema
          .createTable('kms_key_materials')
          .addColumn('key_id', 'text', (c) => c.notNull().references('kms_keys.id').onDelete('cascade'))
          .addColumn('material_id', 'text', (c) => c.notNull())
          .addColumn('sealed', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('rotation_type', 'text') // null for the first material, else AUTOMATIC | ON_DEMAND
          .addPrimaryKeyConstraint('kms_key_materials_pk', ['key_id', 'material_id'])
          .execute();
        await db.schema
          .createTable('kms_aliases')
          .addColumn('account_id', 'text', (c) => c.notNull())
          .addColumn('region', 'text', (c) => c.notNull())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('key_id', 'text', (c) => c.notNull().references('kms_keys.id').onDelete('cascade'))
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('kms_aliases_pk', ['account_id', 'region', 'name'])
          .execute();
        await db.schema
          .createTable('kms_tags')
          .addColumn('key_id', 'text', (c) => c.notNull().references('kms_keys.id').onDelete('cascade'))
          .addColumn('tag_key', 'text', (c) => c.notNull())
          .addColumn('tag_value', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('kms_tags_pk', ['key_id', 'tag_key'])
          .execute();
      },
    },
  };
}
