import { sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import { authGenerationMigration } from './auth-generation.js';
import { identityMigration } from './migrations/0002-identity.js';
// The one import of capability code from the stores: the modules' tables (src/modules/migrations.ts).
import { moduleMigrations } from '../../modules/migrations.js';

export type SqlDialectName = 'sqlite' | 'postgres';

/**
 * Schema migrations, in order. Each is written once for both engines; where they differ
 * (auto-increment keys, binary columns, byte-order collation) the dialect decides.
 * Never edit a shipped migration: add a new one.
 */
export function migrations(dialect: SqlDialectName): Record<string, Migration> {
  const pg = dialect === 'postgres';
  const serial = pg ? 'serial' : 'integer';
  const bytes = pg ? 'bytea' : 'blob';
  // Names compare and sort byte-wise on both engines (tag and catalog pagination).
  const text = pg ? sql`text collate "C"` : sql`text`;

  return {
    '0001_core': {
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('repositories')
          .addColumn('id', serial, (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
          .addColumn('registry_id', 'text', (c) => c.notNull())
          .addColumn('name', text, (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addUniqueConstraint('repositories_registry_name', ['registry_id', 'name'])
          .execute();
        await db.schema
          .createTable('blobs')
          .addColumn('digest', 'text', (c) => c.primaryKey())
          .addColumn('size', 'bigint', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('repository_blobs')
          .addColumn('repository_id', 'integer', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
          .addColumn('digest', 'text', (c) => c.notNull().references('blobs.digest'))
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('repository_blobs_pk', ['repository_id', 'digest'])
          .execute();
        await db.schema.createIndex('repository_blobs_digest').on('repository_blobs').column('digest').execute();
        await db.schema
          .createTable('uploads')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('repository_id', 'integer', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
          .addColumn('started_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('manifests')
          .addColumn('repository_id', 'integer', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
          .addColumn('digest', 'text', (c) => c.notNull())
          .addColumn('media_type', 'text', (c) => c.notNull())
          .addColumn('artifact_type', 'text')
          .addColumn('subject_digest', 'text')
          .addColumn('size', 'bigint', (c) => c.notNull())
          .addColumn('content', bytes, (c) => c.notNull())
          .addColumn('annotations', 'text')
          .addColumn('pushed_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('manifests_pk', ['repository_id', 'digest'])
          .execute();
        await db.schema.createIndex('manifests_subject').on('manifests').columns(['repository_id', 'subject_digest']).execute();
        await db.schema
          .createTable('manifest_references')
          .addColumn('repository_id', 'integer', (c) => c.notNull())
          .addColumn('manifest_digest', 'text', (c) => c.notNull())
          .addColumn('child_digest', 'text', (c) => c.notNull())
          .addColumn('child_kind', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('manifest_references_pk', ['repository_id', 'manifest_digest', 'child_digest'])
          .addForeignKeyConstraint('manifest_references_manifest', ['repository_id', 'manifest_digest'], 'manifests', ['repository_id', 'digest'], (c) => c.onDelete('cascade'))
          .execute();
        await db.schema.createIndex('manifest_references_child').on('manifest_references').columns(['child_digest']).execute();
        await db.schema
          .createTable('tags')
          .addColumn('repository_id', 'integer', (c) => c.notNull())
          .addColumn('name', text, (c) => c.notNull())
          .addColumn('manifest_digest', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('tags_pk', ['repository_id', 'name'])
          .addForeignKeyConstraint('tags_manifest', ['repository_id', 'manifest_digest'], 'manifests', ['repository_id', 'digest'], (c) => c.onDelete('cascade'))
          .execute();
        await db.schema.createIndex('tags_manifest').on('tags').columns(['repository_id', 'manifest_digest']).execute();
        await db.schema
          .createTable('jobs')
          .addColumn('id', serial, (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('payload', 'text', (c) => c.notNull())
          .addColumn('run_at', 'bigint', (c) => c.notNull())
          .addColumn('lease_owner', 'text')
          .addColumn('lease_expires_at', 'bigint')
          .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('last_error', 'text')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('jobs_due').on('jobs').columns(['kind', 'run_at']).execute();
      },
    },
    '0002_job_keys': {
      // A job with a unique key exists at most once (recurring jobs, deduplicated work).
      async up(db: Kysely<any>) {
        await db.schema.alterTable('jobs').addColumn('unique_key', 'text').execute();
        await db.schema.createIndex('jobs_unique_key').on('jobs').column('unique_key').unique().execute();
      },
    },
    '0010_ecr': {
      // What the ECR API keeps beside images: repository settings, resource tags, policies,
      // account settings, creation templates, layer-upload part bookkeeping, pull times.
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('ecr_repository_settings')
          .addColumn('repository_id', 'integer', (c) => c.primaryKey().references('repositories.id').onDelete('cascade'))
          .addColumn('settings', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('ecr_resource_tags')
          .addColumn('repository_id', 'integer', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
          .addColumn('key', text, (c) => c.notNull())
          .addColumn('value', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('ecr_resource_tags_pk', ['repository_id', 'key'])
          .execute();
        await db.schema
          .createTable('ecr_repository_policies')
          .addColumn('repository_id', 'integer', (c) => c.primaryKey().references('repositories.id').onDelete('cascade'))
          .addColumn('policy_text', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('ecr_registry_policies')
          .addColumn('registry_id', 'text', (c) => c.primaryKey())
          .addColumn('policy_text', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('ecr_account_settings')
          .addColumn('registry_id', 'text', (c) => c.notNull())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('value', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('ecr_account_settings_pk', ['registry_id', 'name'])
          .execute();
        await db.schema
          .createTable('ecr_creation_templates')
          .addColumn('registry_id', 'text', (c) => c.notNull())
          .addColumn('prefix', text, (c) => c.notNull())
          .addColumn('template', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('ecr_creation_templates_pk', ['registry_id', 'prefix'])
          .execute();
        await db.schema
          .createTable('ecr_layer_uploads')
          .addColumn('upload_id', 'text', (c) => c.primaryKey().references('uploads.id').onDelete('cascade'))
          .addColumn('last_part_size', 'bigint', (c) => c.notNull())
          .addColumn('undersized_part', 'integer', (c) => c.notNull())
          .addColumn('parts', 'integer', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('ecr_image_pulls')
          .addColumn('repository_id', 'integer', (c) => c.notNull())
          .addColumn('digest', 'text', (c) => c.notNull())
          .addColumn('pulled_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('ecr_image_pulls_pk', ['repository_id', 'digest'])
          .addForeignKeyConstraint('ecr_image_pulls_manifest', ['repository_id', 'digest'], 'manifests', ['repository_id', 'digest'], (c) => c.onDelete('cascade'))
          .execute();
      },
    },
    '0003_identity': identityMigration(),
    '0011_shared_secrets': {
      // Keys every node signs and checks with (ECR layer download URLs), so a URL one node
      // hands out works on every node and after restarts.
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('shared_secrets')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('value', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
      },
    },
    '0020_gc': {
      // Garbage collection claims blobs in the metadata store (docs/gc.md): a row's
      // incarnation changes whenever the collector removes it and a push re-creates it, and
      // gc_marked_at is set while the collector deletes its bytes (pushes wait, links fail).
      async up(db: Kysely<any>) {
        await db.schema.alterTable('blobs').addColumn('incarnation', 'text', (c) => c.notNull().defaultTo('')).execute();
        await db.schema.alterTable('blobs').addColumn('gc_marked_at', 'bigint').execute();
        // Partial: only marked rows (few); collection pages through blobs and links in
        // primary-key order, which an index on the time columns would make the planner sort.
        // "Does any manifest of this repository reference this blob?" (link collection);
        // without it SQLite walks every reference of the repository for each link.
        await db.schema.createIndex('manifest_references_repo_child').on('manifest_references').columns(['repository_id', 'child_digest']).execute();
        await db.schema.createIndex('blobs_gc_marked').on('blobs').column('gc_marked_at').where('gc_marked_at', 'is not', null).execute();
      },
    },
    '0021_lifecycle': {
      // ECR lifecycle policies and their latest preview, per repository.
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('ecr_lifecycle_policies')
          .addColumn('repository_id', 'integer', (c) => c.primaryKey().references('repositories.id').onDelete('cascade'))
          .addColumn('policy_text', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('ecr_lifecycle_previews')
          .addColumn('repository_id', 'integer', (c) => c.primaryKey().references('repositories.id').onDelete('cascade'))
          .addColumn('policy_text', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('results', 'text', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .execute();
      },
    },
    '0030_image_storage_class': {
      // ECR's archive storage class: an image (manifest) is ACTIVE, ARCHIVED or ACTIVATING
      // (being restored), with the times it last went into and came out of the archive.
      // Archived manifests keep their rows, so their blobs stay referenced (docs/gc.md).
      // One column per statement: SQLite adds one column at a time.
      async up(db: Kysely<any>) {
        await db.schema.alterTable('manifests').addColumn('image_status', 'text', (c) => c.notNull().defaultTo('ACTIVE')).execute();
        await db.schema.alterTable('manifests').addColumn('last_archived_at', 'bigint').execute();
        await db.schema.alterTable('manifests').addColumn('last_activated_at', 'bigint').execute();
      },
    },
    '0031_lifecycle_preview_results': {
      // A preview's results as rows (one per image acted on), so GetLifecyclePolicyPreview
      // pages, filters and counts in SQL instead of parsing every result on every page.
      // They hang off their preview and go with it (and so with the repository).
      // A preview is a transient result (one per repository, replaced by the next), so the
      // JSON column is dropped rather than copied: a COMPLETE preview from before becomes
      // EXPIRED (ECR's own status for a preview whose results are gone) and the user starts
      // another. One still IN_PROGRESS is finished into the new table by its job.
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('ecr_lifecycle_preview_results')
          .addColumn('repository_id', 'integer', (c) => c.notNull().references('ecr_lifecycle_previews.repository_id').onDelete('cascade'))
          // Byte-wise on both engines, as JavaScript compares the digests in page tokens.
          .addColumn('image_digest', text, (c) => c.notNull())
          .addColumn('image_tags', 'text', (c) => c.notNull()) // JSON array, '[]' when untagged
          .addColumn('image_pushed_at', 'bigint', (c) => c.notNull())
          .addColumn('action_type', 'text', (c) => c.notNull())
          .addColumn('target_storage_class', 'text')
          .addColumn('applied_rule_priority', 'integer', (c) => c.notNull())
          .addColumn('storage_class', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('ecr_lifecycle_preview_results_pk', ['repository_id', 'image_digest'])
          .execute();
        // The summary's counts, on every page: read from this narrow index alone (on SQLite
        // a fifth of the time of a pass over the rows, and no sort for the grouping).
        await db.schema.createIndex('ecr_lifecycle_preview_results_action').on('ecr_lifecycle_preview_results').columns(['repository_id', 'action_type', 'target_storage_class']).execute();
        await db.updateTable('ecr_lifecycle_previews').set({ status: 'EXPIRED' }).where('status', '=', 'COMPLETE').execute();
        await db.schema.alterTable('ecr_lifecycle_previews').dropColumn('results').execute();
      },
    },
    '0040_change_feed': {
      // The transactional outbox and its subscribers' cursors (stores/metadata/change-log.ts),
      // and dead letters for jobs that fail too often.
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('change_events')
          .addColumn('seq', pg ? 'bigserial' : 'integer', (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
          .addColumn('id', 'text', (c) => c.notNull().unique())
          .addColumn('type', 'text', (c) => c.notNull())
          .addColumn('registry_id', 'text', (c) => c.notNull())
          .addColumn('region', 'text', (c) => c.notNull())
          .addColumn('repository', text)
          .addColumn('occurred_at', 'bigint', (c) => c.notNull())
          .addColumn('actor', 'text', (c) => c.notNull())
          .addColumn('detail', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('change_events_time').on('change_events').column('occurred_at').execute();
        await db.schema
          .createTable('change_subscriptions')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('position', 'bigint', (c) => c.notNull())
          .addColumn('lease_owner', 'text')
          .addColumn('lease_expires_at', 'bigint')
          .addColumn('failures', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('last_error', 'text')
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .execute();
        await db.schema.alterTable('jobs').addColumn('dead_at', 'bigint').execute();
      },
    },
    // The authorization caches' generation counter (stores/metadata/auth-generation.ts).
    ...authGenerationMigration(dialect),
  };
}

/** The core's migrations and the capability modules' (each numbered in its own range). */
export function migrationProvider(dialect: SqlDialectName): MigrationProvider {
  return {
    getMigrations: async () => {
      const core = migrations(dialect);
      const modules = moduleMigrations(dialect);
      for (const name of Object.keys(modules)) if (Object.hasOwn(core, name)) throw new Error(`migration ${name} is defined twice`);
      return { ...core, ...modules };
    },
  };
}
