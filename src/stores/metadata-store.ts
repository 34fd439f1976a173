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

export interface UploadRecord {
  id: string;
  repositoryId: number;
  startedAt: number;
}

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
}

export interface ManifestReference {
  digest: string;
  kind: 'blob' | 'manifest';
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
}

/** Outcome of putManifest: references that were missing make the whole put fail. */
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
}

export interface JobRecord {
  id: number;
  kind: string;
  payload: unknown;
  attempts: number;
}

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

  /** Records that bytes with this digest exist and links them into a repository. */
  linkBlob(repositoryId: number, blob: BlobRecord, now: number): Promise<void>;
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
  /** Deletes the manifest and every tag pointing at it. */
  deleteManifest(repositoryId: number, digest: string): Promise<boolean>;
  deleteTag(repositoryId: number, tag: string): Promise<boolean>;
  listTags(repositoryId: number, page: Page): Promise<string[]>;
  listReferrers(repositoryId: number, subjectDigest: string, artifactType?: string): Promise<ReferrerRecord[]>;

  /** Background work, claimed with a lease so each job runs once across nodes. */
  /**
   * Adds a job. With a uniqueKey, a job with that key that already exists is left as it
   * is and its id returned (so every node can ensure a recurring job without duplicates).
   */
  enqueueJob(kind: string, payload: unknown, runAt: number, uniqueKey?: string): Promise<number>;
  claimJob(kinds: readonly string[], owner: string, now: number, leaseMs: number): Promise<JobRecord | null>;
  completeJob(id: number, owner: string): Promise<void>;
  /** Releases a claimed job to run again at `runAt` (recurring jobs). */
  rescheduleJob(id: number, owner: string, runAt: number): Promise<void>;
  failJob(id: number, owner: string, error: string, retryAt: number): Promise<void>;
}
