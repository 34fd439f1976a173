import type { Kysely, Migration } from 'kysely';

// Managed signing's tables (numbers 0081-0089 are shared with pull-time, 0080).

export function signingMigrations(): Record<string, Migration> {
  return {
    '0081_signing_configurations': {
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('ecr_signing_configurations')
          .addColumn('registry_id', 'text', (c) => c.primaryKey())
          .addColumn('configuration', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .execute();
      },
      async down(db: Kysely<any>) {
        await db.schema.dropTable('ecr_signing_configurations').execute();
      },
    },
  };
}

export function signingProfileMigrations(): Record<string, Migration> {
  return {
    '0082_signing_profiles': {
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('signing_profiles')
          .addColumn('account_id', 'text', (c) => c.notNull())
          .addColumn('profile_name', 'text', (c) => c.notNull())
          .addColumn('profile_version', 'text', (c) => c.notNull())
          .addColumn('platform_id', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull()) // Active | Canceled
          .addColumn('validity_value', 'integer', (c) => c.notNull())
          .addColumn('validity_type', 'text', (c) => c.notNull())
          .addColumn('sealed_key', 'text', (c) => c.notNull()) // PKCS#8 PEM sealed by the server key
          .addColumn('chain_pem', 'text', (c) => c.notNull()) // JSON array of PEM certificates, leaf first
          .addColumn('tags', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('signing_profiles_pk', ['account_id', 'profile_name'])
          .execute();
      },
      async down(db: Kysely<any>) {
        await db.schema.dropTable('signing_profiles').execute();
      },
    },
  };
}
