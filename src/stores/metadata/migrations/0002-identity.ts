import type { Kysely, Migration } from 'kysely';

// Accounts, IAM users and roles, access keys, policies and STS sessions.
// Names of users, roles and managed policies are unique per account ignoring case, as in
// IAM, so each has a lower-cased `name_key`. Secrets are stored sealed (see SecretCipher);
// session tokens only as a SHA-256 hash.
export function identityMigration(): Migration {
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('accounts')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('region', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('iam_users')
        .addColumn('user_id', 'text', (c) => c.primaryKey())
        .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('name_key', 'text', (c) => c.notNull())
        .addColumn('path', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addUniqueConstraint('iam_users_name', ['account_id', 'name_key'])
        .execute();
      await db.schema
        .createTable('iam_roles')
        .addColumn('role_id', 'text', (c) => c.primaryKey())
        .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('name_key', 'text', (c) => c.notNull())
        .addColumn('path', 'text', (c) => c.notNull())
        .addColumn('trust_policy', 'text', (c) => c.notNull())
        .addColumn('description', 'text')
        .addColumn('max_session_duration', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addUniqueConstraint('iam_roles_name', ['account_id', 'name_key'])
        .execute();
      await db.schema
        .createTable('iam_access_keys')
        .addColumn('access_key_id', 'text', (c) => c.primaryKey())
        .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
        .addColumn('user_id', 'text', (c) => c.notNull().references('iam_users.user_id').onDelete('cascade'))
        .addColumn('secret_sealed', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('last_used_at', 'bigint')
        .execute();
      await db.schema.createIndex('iam_access_keys_user').on('iam_access_keys').column('user_id').execute();
      await db.schema
        .createTable('iam_sessions')
        .addColumn('access_key_id', 'text', (c) => c.primaryKey())
        .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
        .addColumn('role_id', 'text', (c) => c.notNull().references('iam_roles.role_id').onDelete('cascade'))
        .addColumn('session_name', 'text', (c) => c.notNull())
        .addColumn('secret_sealed', 'text', (c) => c.notNull())
        .addColumn('token_hash', 'text', (c) => c.notNull())
        .addColumn('source_arn', 'text', (c) => c.notNull())
        .addColumn('session_policy', 'text')
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('iam_sessions_expiry').on('iam_sessions').column('expires_at').execute();
      await db.schema
        .createTable('iam_managed_policies')
        .addColumn('policy_id', 'text', (c) => c.primaryKey())
        .addColumn('account_id', 'text', (c) => c.notNull().references('accounts.id').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('name_key', 'text', (c) => c.notNull())
        .addColumn('path', 'text', (c) => c.notNull())
        .addColumn('document', 'text', (c) => c.notNull())
        .addColumn('description', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addUniqueConstraint('iam_managed_policies_name', ['account_id', 'name_key'])
        .execute();
      // Owners are users or roles (owner_id is a user_id or role_id, unique across both).
      await db.schema
        .createTable('iam_inline_policies')
        .addColumn('owner_id', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('document', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('iam_inline_policies_pk', ['owner_id', 'name'])
        .execute();
      // policy_arn, not an id: AWS-managed policies (arn:aws:iam::aws:policy/...) are built in.
      await db.schema
        .createTable('iam_policy_attachments')
        .addColumn('owner_id', 'text', (c) => c.notNull())
        .addColumn('policy_arn', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('iam_policy_attachments_pk', ['owner_id', 'policy_arn'])
        .execute();
      await db.schema.createIndex('iam_policy_attachments_arn').on('iam_policy_attachments').column('policy_arn').execute();
    },
  };
}
