import type { Changes } from '../domain/events/change.js';
// The metadata store is the one source of truth for what exists and what refers to
// what. Every method is a complete, atomic operation: callers never hold a transaction.

export interface RepositoryRecord {
  id: number;
  registryId: string;
  name: string;
  createdAt: number;
}

export interface BlobRecord {
  digest: string;
  size: number;
}

export interface BlobLink {
  repositoryId: number;
  digest: string;
}

export interface BlobMark {
  digest: string;
  size: number;
  markedAt: number;
}

export interface UploadRecord {
  id: string;
  repositoryId: number;
  startedAt: number;
}

/**
 * ECR's image status (archive storage class): only ACTIVE images can be pulled; ARCHIVED
 * ones are kept (blobs and all) until restored, ACTIVATING ones are being restored.
 */
export type ImageStatus = 'ACTIVE' | 'ARCHIVED' | 'ACTIVATING';

export interface ManifestRecord {
  repositoryId: number;
  digest: string;
  mediaType: string;
  artifactType: string | null;
  subjectDigest: string | null;
  size: number;
  content: Buffer;
  annotations: Record<string, string> | null;
  pushedAt: number;
  status: ImageStatus;
}

export interface ManifestReference {
  digest: string;
  kind: 'blob' | 'manifest';
}

export interface DeletedManifest {
  tags: string[];
  mediaType: string;
  artifactType: string | null;
}

export interface NewManifest {
  repositoryId: number;
  digest: string;
  mediaType: string;
  artifactType: string | null;
  subjectDigest: string | null;
  content: Buffer;
  annotations: Record<string, string> | null;
  references: ManifestReference[];
  /** When set, the tag is pointed at this manifest in the same transaction. */
  tag: string | null;
  pushedAt: number;
  /** The change feed's events for this push, appended in its transaction. */
  changes?: (outcome: { created: boolean; previousTagDigest: string | null }) => Changes | null;
}

/**
 * Outcome of putManifest: references that were missing make the whole put fail. A put
 * makes the manifest and the manifests it lists ACTIVE again when they were archived
 * (pushing an archived image restores it at once, as in ECR).
 */
export type PutManifestResult =
  | { ok: true; created: boolean }
  | { ok: false; missingBlobs: string[]; missingManifests: string[]; /** Set when the tag is immutable and points elsewhere. */ immutableTag?: string };

export interface Page {
  limit: number;
  /** Exclusive lower bound in lexical order. */
  after?: string;
}

export interface ReferrerRecord {
  digest: string;
  mediaType: string;
  artifactType: string | null;
  size: number;
  annotations: Record<string, string> | null;
  status: ImageStatus;
}

export type { JobRecord } from './job-store.js';

export interface MetadataStore {
  readonly kind: string;
  migrate(): Promise<void>;
  close(): Promise<void>;
  /** Cheap round trip for readiness checks. */
  ping(): Promise<void>;
  /**
   * The secret stored under `name`; when there is none yet, stores `candidate` and returns
   * it. Race-safe: nodes starting together all get the same value.
   */
  sharedSecret(name: string, candidate: string, now: number): Promise<string>;

  getRepository(registryId: string, name: string): Promise<RepositoryRecord | null>;
  /** Returns the repository, creating it when missing (race-safe). */
  ensureRepository(registryId: string, name: string, now: number): Promise<RepositoryRecord>;
  listRepositories(registryId: string, page: Page): Promise<string[]>;

  /**
   * Garbage-collection protocol, step 1 of a push (docs/gc.md): claims the blob row before
   * its bytes are written, creating it when missing and restarting its grace period.
   * Resolves to the row's incarnation, or null while a collector is deleting the blob
   * (the caller waits and claims again).
   */
  claimBlob(blob: BlobRecord, now: number): Promise<string | null>;
  /**
   * Links a blob into a repository (refreshing the link's grace period). With an
   * incarnation (from claimBlob) it links only if the row is still that incarnation and no
   * collector is deleting it; false means the bytes may be gone and the push must not
   * succeed. Without one (tests, tools), it creates the row when missing.
   */
  linkBlob(repositoryId: number, blob: BlobRecord, now: number, incarnation?: string): Promise<boolean>;
  /** The blob, when it is linked into the repository. */
  getLinkedBlob(repositoryId: number, digest: string): Promise<BlobRecord | null>;
  unlinkBlob(repositoryId: number, digest: string): Promise<boolean>;

  createUpload(upload: UploadRecord): Promise<void>;
  getUpload(id: string): Promise<UploadRecord | null>;
  deleteUpload(id: string): Promise<boolean>;
  /** Uploads started before the given time (for purging abandoned ones). */
  listUploadsStartedBefore(before: number, limit: number): Promise<UploadRecord[]>;

  putManifest(manifest: NewManifest): Promise<PutManifestResult>;
  getManifest(repositoryId: number, digest: string): Promise<ManifestRecord | null>;
  /** Head fields only (no content). */
  statManifest(repositoryId: number, digest: string): Promise<Omit<ManifestRecord, 'content'> | null>;
  resolveTag(repositoryId: number, tag: string): Promise<string | null>;
  /** Deletes the manifest and every tag pointing at it (`changes`: the feed's events for it, in its transaction). */
  deleteManifest(repositoryId: number, digest: string, changes?: (deleted: DeletedManifest) => Changes | null): Promise<boolean>;
  deleteTag(repositoryId: number, tag: string, changes?: (removed: { digest: string }) => Changes | null): Promise<boolean>;
  listTags(repositoryId: number, page: Page): Promise<string[]>;
  listReferrers(repositoryId: number, subjectDigest: string, artifactType?: string): Promise<ReferrerRecord[]>;

  // ---- garbage collection (src/domain/gc.ts; every call pages, none loads everything) ----

  /** Links created before `before` that no manifest in their repository references, in (repositoryId, digest) order. */
  listUnreferencedLinks(before: number, limit: number, after?: BlobLink): Promise<BlobLink[]>;
  /** Removes those links that are still unreferenced and older than `before`; resolves to the digests removed. */
  removeUnreferencedLinks(repositoryId: number, digests: string[], before: number): Promise<string[]>;
  /** Blob rows claimed before `before`, linked nowhere, referenced by no manifest and not marked, in digest order. */
  listCollectableBlobs(before: number, limit: number, after?: string): Promise<BlobRecord[]>;
  /**
   * Marks blobs for deletion in one transaction that re-checks every condition of
   * listCollectableBlobs; resolves to the blobs marked (only those may lose their bytes).
   */
  markBlobsForDeletion(digests: string[], before: number, now: number): Promise<BlobRecord[]>;
  /** Claims stored bytes that have no row at all with a marked row; resolves to the digests claimed. */
  markOrphanBytes(blobs: BlobRecord[], now: number): Promise<string[]>;
  /** Removes marked rows once their bytes are deleted (only rows still carrying that mark). */
  finishBlobDeletion(marks: BlobMark[]): Promise<number>;
  /** Rows marked before `before`: a collector that died mid-way; the next one finishes them. */
  listStaleMarks(before: number, limit: number): Promise<BlobMark[]>;
  /** Which of these digests have a blob row. */
  existingBlobs(digests: string[]): Promise<Set<string>>;

}
