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
