import type { Generated } from 'kysely';

// Row shapes of the metadata database, shared by SQLite and PostgreSQL. Times are
// milliseconds since the epoch (BIGINT), so both engines compare them the same way.

export interface RepositoriesTable {
  id: Generated<number>;
  registry_id: string;
  name: string;
  created_at: number;
}

export interface BlobsTable {
  digest: string;
  size: number;
  /** Last claimed (by a push or mount); garbage collection's grace period counts from here. */
  created_at: number;
  /** Changes each time the row is re-created after a collection (0020_gc). */
  incarnation: Generated<string>;
  /** Set while the collector deletes the bytes (0020_gc). */
  gc_marked_at: number | null;
}

export interface RepositoryBlobsTable {
  repository_id: number;
  digest: string;
  created_at: number;
}

export interface UploadsTable {
  id: string;
  repository_id: number;
  started_at: number;
}

export interface ManifestsTable {
  repository_id: number;
  digest: string;
  media_type: string;
  artifact_type: string | null;
  subject_digest: string | null;
  size: number;
  content: Buffer;
  annotations: string | null;
  pushed_at: number;
  /** ACTIVE, ARCHIVED or ACTIVATING (0030_image_storage_class). */
  image_status: Generated<string>;
  last_archived_at: number | null;
  last_activated_at: number | null;
}

export interface ManifestReferencesTable {
  repository_id: number;
  manifest_digest: string;
  child_digest: string;
  child_kind: 'blob' | 'manifest';
}

export interface TagsTable {
  repository_id: number;
  name: string;
  manifest_digest: string;
  updated_at: number;
}

export interface JobsTable {
  id: Generated<number>;
  kind: string;
  payload: string;
  run_at: number;
  lease_owner: string | null;
  lease_expires_at: number | null;
  attempts: number;
  last_error: string | null;
  created_at: number;
  unique_key: string | null;
  /** Set when the job was dead-lettered (too many failed attempts). */
  dead_at: number | null;
}

/** The change feed (transactional outbox): one row per change, in commit order. */
export interface ChangeEventsTable {
  seq: Generated<number>;
  id: string;
  type: string;
  registry_id: string;
  region: string;
  repository: string | null;
  occurred_at: number;
  /** JSON: the Actor. */
  actor: string;
  /** JSON: the type's detail. */
  detail: string;
}

/** Each subscriber's cursor into the feed, held under a lease by one node at a time. */
export interface ChangeSubscriptionsTable {
  name: string;
  position: number;
  lease_owner: string | null;
  lease_expires_at: number | null;
  failures: number;
  last_error: string | null;
  updated_at: number;
}

/** Values every node must share (signing keys), created once by whichever node comes first. */
export interface SharedSecretsTable {
  name: string;
  value: string;
  created_at: number;
}

export interface Database {
  repositories: RepositoriesTable;
  blobs: BlobsTable;
  repository_blobs: RepositoryBlobsTable;
  uploads: UploadsTable;
  manifests: ManifestsTable;
  manifest_references: ManifestReferencesTable;
  tags: TagsTable;
  jobs: JobsTable;
  change_events: ChangeEventsTable;
  change_subscriptions: ChangeSubscriptionsTable;
  shared_secrets: SharedSecretsTable;
}
