import { sql, type Kysely, type Migration } from 'kysely';

// The scanning module's tables (migrations 0100-0109). Written once for both engines.

export function scanningMigrations(dialect: 'sqlite' | 'postgres'): Record<string, Migration> {
  const pg = dialect === 'postgres';
  const text = pg ? sql`text collate "C"` : sql`text`;
  return {
    '0100_scanning': {
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('vuln_records')
          .addColumn('id', text, (c) => c.primaryKey())
          .addColumn('modified', 'bigint', (c) => c.notNull())
          .addColumn('record', 'text', (c) => c.notNull())
          .addColumn('imported_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('vuln_affected')
          .addColumn('record_id', text, (c) => c.notNull().references('vuln_records.id').onDelete('cascade'))
          .addColumn('ecosystem', text, (c) => c.notNull())
          .addColumn('release', text, (c) => c.notNull())
          .addColumn('package', text, (c) => c.notNull())
          .addPrimaryKeyConstraint('vuln_affected_pk', ['record_id', 'ecosystem', 'release', 'package'])
          .execute();
        await db.schema.createIndex('vuln_affected_lookup').on('vuln_affected').columns(['ecosystem', 'package']).execute();
        await db.schema
          .createTable('vuln_db_meta')
          .addColumn('key', 'text', (c) => c.primaryKey())
          .addColumn('value', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('vuln_imports')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('source', 'text', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('finished_at', 'bigint')
          .addColumn('progress', 'text')
          .addColumn('summary', 'text')
          .addColumn('error', 'text')
          .execute();
        await db.schema
          .createTable('scan_registry_config')
          .addColumn('registry_id', 'text', (c) => c.primaryKey())
          .addColumn('scan_type', 'text', (c) => c.notNull())
          .addColumn('rules', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('image_inventories')
          .addColumn('digest', 'text', (c) => c.primaryKey())
          .addColumn('inventory', 'text', (c) => c.notNull())
          .addColumn('scanned_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('image_scans')
          .addColumn('registry_id', 'text', (c) => c.notNull())
          .addColumn('repository', text, (c) => c.notNull())
          .addColumn('digest', 'text', (c) => c.notNull())
          .addColumn('scan_type', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('description', 'text', (c) => c.notNull())
          .addColumn('started_at', 'bigint', (c) => c.notNull())
          .addColumn('completed_at', 'bigint')
          .addColumn('source_updated_at', 'bigint')
          .addColumn('findings', 'text')
          .addColumn('counts', 'text')
          .addColumn('first_observed', 'text')
          .addPrimaryKeyConstraint('image_scans_pk', ['registry_id', 'repository', 'digest', 'scan_type'])
          .execute();
        await db.schema.createIndex('image_scans_digest').on('image_scans').column('digest').execute();
      },
    },
  };
}
