import type { ChangesFor } from '../domain/events/change.js';
import type { ImageStatus, RepositoryRecord } from './metadata-store.js';

export type { ImageStatus } from './metadata-store.js';

// What the ECR API stores beside the images the metadata store already holds. A separate
// interface (implemented over the same database) so the core store stays small.

export type ImageTagMutability = 'MUTABLE' | 'IMMUTABLE' | 'IMMUTABLE_WITH_EXCLUSION' | 'MUTABLE_WITH_EXCLUSION';
export type EncryptionType = 'AES256' | 'KMS' | 'KMS_DSSE';
export type TagStatus = 'TAGGED' | 'UNTAGGED' | 'ANY';
/** Which images a listing shows by status (the ECR API's default is ACTIVE). */
export type ImageStatusFilter = ImageStatus | 'ANY';

export interface TagMutabilityFilter {
  filterType: 'WILDCARD';
  filter: string;
}

export interface RepositorySettings {
  imageTagMutability: ImageTagMutability;
  imageTagMutabilityExclusionFilters: TagMutabilityFilter[];
  scanOnPush: boolean;
  encryption: { encryptionType: EncryptionType; kmsKey?: string };
}

export const defaultRepositorySettings: RepositorySettings = Object.freeze({
  imageTagMutability: 'MUTABLE',
  imageTagMutabilityExclusionFilters: [],
  scanOnPush: false,
  encryption: { encryptionType: 'AES256' },
}) as RepositorySettings;

export interface ResourceTag {
  key: string;
  value: string;
}

export interface EcrRepository extends RepositoryRecord {
  settings: RepositorySettings;
}

export interface ImageRecord {
  digest: string;
  mediaType: string;
  artifactType: string | null;
  subjectDigest: string | null;
  /** Manifest bytes, so sizes and config types can be read from it. */
  content: Buffer;
  pushedAt: number;
  lastPulledAt: number | null;
  tags: string[];
  status: ImageStatus;
  lastArchivedAt: number | null;
  lastActivatedAt: number | null;
}

export interface ImageIdRecord {
  digest: string;
  tag: string | null;
}

export interface CreationTemplateRecord {
  prefix: string;
  /** The template as the API shows it, minus prefix and times. */
  template: Record<string, unknown>;
  createdAt: number;
  updatedAt: number;
}

export interface LayerUploadRecord {
  uploadId: string;
  lastPartSize: number;
  /** A part smaller than the minimum was followed by another part. */
  undersizedPart: boolean;
  /** Parts received so far. */
  parts: number;
}

/** An image as lifecycle evaluation sees it (no manifest bytes). */
export interface LifecycleImageRecord {
  digest: string;
  tags: string[];
  pushedAt: number;
  lastPulledAt: number | null;
  subjectDigest: string | null;
  /** Manifests an index lists. */
  children: string[];
  status: ImageStatus;
  lastArchivedAt: number | null;
  lastActivatedAt: number | null;
}

export interface LifecyclePolicyRecord {
  repositoryId: number;
  registryId: string;
  repositoryName: string;
  text: string;
  updatedAt: number;
}

export interface LifecyclePreviewRecord {
  policyText: string;
  status: 'IN_PROGRESS' | 'COMPLETE' | 'EXPIRED' | 'FAILED';
  createdAt: number;
}

/** One image of a COMPLETE preview: what a run would do to it. */
export interface LifecyclePreviewResultRecord {
  digest: string;
  tags: string[];
  pushedAt: number;
  action: 'EXPIRE' | 'TRANSITION';
  /** Where a TRANSITION moves the image; null for EXPIRE. */
  targetStorageClass: 'ARCHIVE' | null;
  rulePriority: number;
  /** The image's storage class when the preview ran. */
  storageClass: 'STANDARD' | 'ARCHIVE';
}

/** Counts over all results of a COMPLETE preview, whatever the filter. */
export interface LifecyclePreviewSummary {
  expiring: number;
  /** One entry per target storage class with a count above 0. */
  transitioning: { targetStorageClass: 'ARCHIVE'; count: number }[];
}

export interface LifecyclePreviewResultFilter {
  /** Only these images (none when empty). */
  digests?: string[];
  tagStatus: TagStatus;
}

export interface LifecyclePreviewPage {
  preview: LifecyclePreviewRecord;
  /** The page of results in digest order (byte-wise); empty unless the preview is COMPLETE. */
  results: LifecyclePreviewResultRecord[];
  /** Null unless the preview is COMPLETE. */
  summary: LifecyclePreviewSummary | null;
}

export interface KeysetPage<K> {
  limit: number;
  /** Exclusive lower bound. */
  after?: K;
}

export interface EcrStore {
  /** Creates the repository with its settings and tags; null when the name is taken. */
  createRepository(registryId: string, name: string, settings: RepositorySettings, tags: ResourceTag[], now: number, changes?: ChangesFor<EcrRepository | null>): Promise<EcrRepository | null>;
  getRepository(registryId: string, name: string): Promise<EcrRepository | null>;
  /** Repositories in name order. */
  listRepositories(registryId: string, page: KeysetPage<string>): Promise<EcrRepository[]>;
  putRepositorySettings(repositoryId: number, settings: RepositorySettings, changes?: ChangesFor<void>): Promise<void>;
  /** Deletes the repository and everything in it; without force only when it has no images. */
  deleteRepository(repositoryId: number, force: boolean, changes?: ChangesFor<'deleted' | 'not-empty' | 'missing'>): Promise<'deleted' | 'not-empty' | 'missing'>;

  listResourceTags(repositoryId: number): Promise<ResourceTag[]>;
  /** Adds or replaces tags; false (and nothing changed) when the result would exceed `max`. */
  putResourceTags(repositoryId: number, tags: ResourceTag[], max: number): Promise<boolean>;
  deleteResourceTags(repositoryId: number, keys: string[]): Promise<void>;

  getRepositoryPolicy(repositoryId: number): Promise<string | null>;
  putRepositoryPolicy(repositoryId: number, text: string, changes?: ChangesFor<void>): Promise<void>;
  deleteRepositoryPolicy(repositoryId: number, changes?: ChangesFor<string | null>): Promise<string | null>;
  getRegistryPolicy(registryId: string): Promise<string | null>;
  putRegistryPolicy(registryId: string, text: string, changes?: ChangesFor<void>): Promise<void>;
  deleteRegistryPolicy(registryId: string, changes?: ChangesFor<string | null>): Promise<string | null>;

  getAccountSetting(registryId: string, name: string): Promise<string | null>;
  putAccountSetting(registryId: string, name: string, value: string): Promise<void>;

  /** False when a template with this prefix exists. */
  createTemplate(registryId: string, record: CreationTemplateRecord): Promise<boolean>;
  getTemplate(registryId: string, prefix: string): Promise<CreationTemplateRecord | null>;
  listTemplates(registryId: string, page: KeysetPage<string>): Promise<CreationTemplateRecord[]>;
  /** False when there is no template with this prefix. */
  updateTemplate(registryId: string, record: CreationTemplateRecord): Promise<boolean>;
  deleteTemplate(registryId: string, prefix: string): Promise<CreationTemplateRecord | null>;

  /** Images (manifests) in digest order, with their tags and last pull time; of every status unless filtered. */
  listImages(repositoryId: number, tagStatus: TagStatus, page: KeysetPage<string>, imageStatus?: ImageStatusFilter): Promise<ImageRecord[]>;
  getImages(repositoryId: number, digests: string[]): Promise<ImageRecord[]>;
  /** One id per (digest, tag) pair, untagged images once with a null tag, in that order. */
  listImageIds(repositoryId: number, tagStatus: TagStatus, page: KeysetPage<ImageIdRecord>, imageStatus?: ImageStatusFilter): Promise<ImageIdRecord[]>;
  /**
   * Moves those of the images whose status is `from` to `to` (ARCHIVED stamps
   * lastArchivedAt, ACTIVE stamps lastActivatedAt), in one statement per 500; resolves to
   * the digests that moved.
   */
  transitionImages(repositoryId: number, digests: string[], from: ImageStatus, to: ImageStatus, now: number, changes?: ChangesFor<string[]>): Promise<string[]>;
  /**
   * Whether a pull may use this layer: 'active' when an ACTIVE image of the repository
   * references it, 'archived' when only images that are not ACTIVE do, 'unreferenced'
   * when no image does (an uploaded layer no manifest names yet).
   */
  layerImageStatus(repositoryId: number, digest: string): Promise<'active' | 'archived' | 'unreferenced'>;
  /** Index manifests in the repository that list this manifest. */
  referencingIndexes(repositoryId: number, digest: string): Promise<string[]>;
  /** Sums of blob sizes referenced by each manifest (config and layers). */
  referencedBlobSizes(repositoryId: number, digests: string[]): Promise<Map<string, number>>;
  /** Children of index manifests. */
  childManifests(repositoryId: number, digests: string[]): Promise<Map<string, string[]>>;

  recordLayerPart(uploadId: string, size: number, minPartSize: number): Promise<void>;
  getLayerUpload(uploadId: string): Promise<LayerUploadRecord | null>;

  getLifecyclePolicy(repositoryId: number): Promise<LifecyclePolicyRecord | null>;
  putLifecyclePolicy(repositoryId: number, text: string, now: number, changes?: ChangesFor<void>): Promise<void>;
  deleteLifecyclePolicy(repositoryId: number, changes?: ChangesFor<LifecyclePolicyRecord | null>): Promise<LifecyclePolicyRecord | null>;
  /** Every repository with a lifecycle policy, in repository id order (all registries). */
  listLifecyclePolicies(page: KeysetPage<number>): Promise<LifecyclePolicyRecord[]>;
  /** Images for lifecycle evaluation, in digest order, without manifest bytes. */
  listLifecycleImages(repositoryId: number, page: KeysetPage<string>): Promise<LifecycleImageRecord[]>;
  /**
   * Starts the repository's preview (IN_PROGRESS, no results), replacing the previous one
   * and its results; false, and nothing changed, while another is IN_PROGRESS unless that
   * one started before `staleBefore` (its job is presumed lost).
   */
  beginLifecyclePreview(repositoryId: number, policyText: string, now: number, staleBefore: number): Promise<boolean>;
  /**
   * Finishes the preview started at `createdAt` (only it, only while IN_PROGRESS) and
   * stores its results (COMPLETE only), in batches within one transaction: a reader sees
   * it IN_PROGRESS, or COMPLETE with every result. False, and nothing stored, when there
   * is no such preview.
   */
  finishLifecyclePreview(repositoryId: number, createdAt: number, status: 'COMPLETE' | 'FAILED', results: Iterable<LifecyclePreviewResultRecord>): Promise<boolean>;
  getLifecyclePreview(repositoryId: number): Promise<LifecyclePreviewRecord | null>;
  /**
   * The preview with a page of its results (filtered, digest order) and its summary, read
   * together (one snapshot, so never a preview and the results of another); null when
   * the repository has no preview.
   */
  getLifecyclePreviewPage(repositoryId: number, filter: LifecyclePreviewResultFilter, page: KeysetPage<string>): Promise<LifecyclePreviewPage | null>;

  /** Records a pull unless one was recorded within `minIntervalMs`. */
  recordPull(repositoryId: number, digest: string, now: number, minIntervalMs: number): Promise<void>;
}
