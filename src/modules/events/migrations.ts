import type { Kysely, Migration } from 'kysely';

// The events module's tables (migration range 0060-0069): EventBridge rules and their
// targets, connections (secrets sealed with the server key) and API destinations, and the
// deliveries of matched events to each target, which are also the dead-letter list.
export function eventsMigrations(dialect: 'sqlite' | 'postgres'): Record<string, Migration> {
  const serial = dialect === 'postgres' ? 'bigserial' : 'integer';
  return {
    '0060_events': {
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('events_rules')
          .addColumn('account_id', 'text', (c) => c.notNull())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('event_pattern', 'text', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('description', 'text')
          .addColumn('region', 'text', (c) => c.notNull())
          .addColumn('created_by', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('events_rules_pk', ['account_id', 'name'])
          .execute();
        await db.schema
          .createTable('events_targets')
          .addColumn('account_id', 'text', (c) => c.notNull())
          .addColumn('rule_name', 'text', (c) => c.notNull())
          .addColumn('target_id', 'text', (c) => c.notNull())
          .addColumn('arn', 'text', (c) => c.notNull())
          .addColumn('spec', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('events_targets_pk', ['account_id', 'rule_name', 'target_id'])
          .execute();
        await db.schema
          .createTable('events_connections')
          .addColumn('account_id', 'text', (c) => c.notNull())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('uuid', 'text', (c) => c.notNull())
          .addColumn('description', 'text')
          .addColumn('authorization_type', 'text', (c) => c.notNull())
          .addColumn('auth_public', 'text', (c) => c.notNull())
          .addColumn('auth_sealed', 'text', (c) => c.notNull())
          .addColumn('signing_secret_sealed', 'text', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('modified_at', 'bigint', (c) => c.notNull())
          .addColumn('authorized_at', 'bigint')
          .addPrimaryKeyConstraint('events_connections_pk', ['account_id', 'name'])
          .execute();
        await db.schema
          .createTable('events_api_destinations')
          .addColumn('account_id', 'text', (c) => c.notNull())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('uuid', 'text', (c) => c.notNull())
          .addColumn('description', 'text')
          .addColumn('connection_arn', 'text', (c) => c.notNull())
          .addColumn('endpoint', 'text', (c) => c.notNull())
          .addColumn('http_method', 'text', (c) => c.notNull())
          .addColumn('rate_limit', 'integer')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('modified_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('events_api_destinations_pk', ['account_id', 'name'])
          .execute();
        await db.schema
          .createTable('events_deliveries')
          .addColumn('id', serial, (c) => (dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement()))
          .addColumn('account_id', 'text', (c) => c.notNull())
          .addColumn('rule_name', 'text', (c) => c.notNull())
          .addColumn('target_id', 'text', (c) => c.notNull())
          .addColumn('target_key', 'text', (c) => c.notNull())
          .addColumn('event_id', 'text', (c) => c.notNull())
          .addColumn('body', 'text', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('attempts', 'integer', (c) => c.notNull())
          .addColumn('max_attempts', 'integer', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('finished_at', 'bigint')
          .addColumn('last_status', 'integer')
          .addColumn('last_error', 'text')
          .addUniqueConstraint('events_deliveries_once', ['target_key', 'event_id'])
          .execute();
        // One node at a time delivers to a target, so its deliveries go out in order.
        await db.schema
          .createTable('events_target_leases')
          .addColumn('target_key', 'text', (c) => c.primaryKey())
          .addColumn('owner', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('events_deliveries_pending').on('events_deliveries').columns(['state', 'target_key', 'id']).execute();
      },
    },
  };
}
