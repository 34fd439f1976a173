import { sql, type Kysely, type Migration } from 'kysely';

// The audit trail's tables (migrations 0070-0079 belong to this module).
//  - audit_events: one row per CloudTrail record, chained per account: `hash` is
//    sha256(prev_hash + "\n" + record), `record` the canonical JSON exactly as hashed.
//  - audit_event_resources: the record's resources, for LookupEvents by ResourceName/Type.
//  - audit_chain_heads: the last link of each account's chain (the writer locks this row).
//  - audit_anchors: where each chain now starts after retention purged older records.
export function auditMigrations(dialect: 'sqlite' | 'postgres'): Record<string, Migration> {
  const pg = dialect === 'postgres';
  const text = pg ? sql`text collate "C"` : sql`text`;
  return {
    '0070_audit_trail': {
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('audit_events')
          .addColumn('account_id', 'text', (c) => c.notNull())
          .addColumn('seq', 'bigint', (c) => c.notNull())
          .addColumn('event_id', 'text', (c) => c.notNull().unique())
          .addColumn('event_time', 'bigint', (c) => c.notNull())
          .addColumn('event_name', text, (c) => c.notNull())
          .addColumn('event_source', text, (c) => c.notNull())
          .addColumn('username', text)
          .addColumn('access_key_id', text)
          .addColumn('read_only', 'integer', (c) => c.notNull())
          .addColumn('prev_event_id', 'text')
          .addColumn('prev_hash', 'text', (c) => c.notNull())
          .addColumn('hash', 'text', (c) => c.notNull())
          .addColumn('record', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('audit_events_pk', ['account_id', 'seq'])
          .execute();
        await db.schema.createIndex('audit_events_time').on('audit_events').columns(['account_id', 'event_time', 'seq']).execute();
        await db.schema
          .createTable('audit_event_resources')
          .addColumn('account_id', 'text', (c) => c.notNull())
          .addColumn('seq', 'bigint', (c) => c.notNull())
          .addColumn('resource_type', text, (c) => c.notNull())
          .addColumn('resource_name', text, (c) => c.notNull())
          .addColumn('resource_arn', text, (c) => c.notNull())
          .execute();
        await db.schema.createIndex('audit_event_resources_event').on('audit_event_resources').columns(['account_id', 'seq']).execute();
        await db.schema.createIndex('audit_event_resources_name').on('audit_event_resources').columns(['account_id', 'resource_name']).execute();
        await db.schema.createIndex('audit_event_resources_arn').on('audit_event_resources').columns(['account_id', 'resource_arn']).execute();
        await db.schema.createIndex('audit_event_resources_type').on('audit_event_resources').columns(['account_id', 'resource_type']).execute();
        await db.schema
          .createTable('audit_chain_heads')
          .addColumn('account_id', 'text', (c) => c.primaryKey())
          .addColumn('seq', 'bigint', (c) => c.notNull())
          .addColumn('hash', 'text', (c) => c.notNull())
          .addColumn('event_id', 'text')
          .execute();
        await db.schema
          .createTable('audit_anchors')
          .addColumn('account_id', 'text', (c) => c.primaryKey())
          .addColumn('seq', 'bigint', (c) => c.notNull())
          .addColumn('hash', 'text', (c) => c.notNull())
          .addColumn('event_id', 'text')
          .addColumn('purged_before', 'bigint', (c) => c.notNull())
          .execute();
      },
    },
  };
}

/** Row shapes of the tables above. */
export interface AuditTables {
  audit_events: {
    account_id: string;
    seq: number;
    event_id: string;
    event_time: number;
    event_name: string;
    event_source: string;
    username: string | null;
    access_key_id: string | null;
    read_only: number;
    prev_event_id: string | null;
    prev_hash: string;
    hash: string;
    record: string;
  };
  audit_event_resources: { account_id: string; seq: number; resource_type: string; resource_name: string; resource_arn: string };
  audit_chain_heads: { account_id: string; seq: number; hash: string; event_id: string | null };
  audit_anchors: { account_id: string; seq: number; hash: string; event_id: string | null; purged_before: number };
}
