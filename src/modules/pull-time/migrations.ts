import type { Kysely, Migration } from 'kysely';

// The pull time update exclusion list (numbers 0080-0089 are this module's).

export function pullTimeMigrations(): Record<string, Migration> {
  return {
    '0080_pull_time_exclusions': {
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('ecr_pull_time_exclusions')
          .addColumn('registry_id', 'text', (c) => c.notNull())
          .addColumn('principal_arn', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('ecr_pull_time_exclusions_pk', ['registry_id', 'principal_arn'])
          .execute();
      },
      async down(db: Kysely<any>) {
        await db.schema.dropTable('ecr_pull_time_exclusions').execute();
      },
    },
  };
}
