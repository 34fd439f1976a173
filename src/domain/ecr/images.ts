import type { ImageIdRecord, ImageRecord, ImageStatus, ImageStatusFilter, TagStatus } from '../../stores/ecr-store.js';
import { digestOf, looksLikeDigest, parseDigest } from '../digest.js';
import { DomainError, isDomainError } from '../errors.js';
import { indexMediaTypes, parseManifest } from '../manifest.js';
import { isValidTag } from '../names.js';
import { EcrCaller, EcrDeps, pageOf, PageRequest, PageResult, requireRepository } from './context.js';

export interface ImageId {
  imageDigest?: string;
  imageTag?: string;
}

export type ImageFailureCode =
  | 'ImageNotFound'
  | 'ImageTagDoesNotMatchDigest'
  | 'InvalidImageDigest'
  | 'InvalidImageTag'
  | 'MissingDigestAndTag'
  | 'ImageReferencedByManifestList';

export interface ImageFailure {
  imageId: ImageId;
  failureCode: ImageFailureCode;
  failureReason: string;
}

export interface ImageDetailView {
  registryId: string;
  repositoryName: string;
  imageDigest: string;
  imageTags?: string[];
  imageSizeInBytes: number;
  imagePushedAt: Date;
  imageManifestMediaType: string;
  artifactMediaType?: string;
  lastRecordedPullTime?: Date;
  subjectManifestDigest?: string;
  imageStatus: ImageStatus;
  lastArchivedAt?: Date;
  lastActivatedAt?: Date;
  imageScanStatus?: { status: any; description: string };
  imageScanFindingsSummary?: { imageScanCompletedAt: Date; vulnerabilitySourceUpdatedAt?: Date; findingSeverityCounts: Record<string, number> };
}

export interface ImageView {
  registryId: string;
  repositoryName: string;
  imageId: ImageId;
  imageManifest: string;
  imageManifestMediaType: string;
}

/** lastRecordedPullTime is refreshed at most this often per image (ECR: at least daily). */
const pullRecordIntervalMs = 3_600_000;

/** The durable job that finishes a restore from the archive (ACTIVATING to ACTIVE). */
export const restoreJobKind = 'ecr.image-restore';
interface RestoreJob {
  repositoryId: number;
  digests: string[];
}

/** Images as the ECR API sees them: the manifests and tags the /v2 API stores. */
export class EcrImages {
  private readonly now: () => number;
  /** Scanning (src/modules/scanning) fills DescribeImages' imageScanStatus and imageScanFindingsSummary. */
  scanSummaries: ((registryId: string, repository: string, digests: string[]) => Promise<Map<string, Record<string, unknown>>>) | null = null;

  /** `restoreDelayMs`: how long a restore from the archive stays ACTIVATING (config ecr.restoreDelaySeconds). */
  constructor(
    private readonly deps: EcrDeps,
    private readonly restoreDelayMs = 0,
  ) {
    this.now = deps.clock ?? Date.now;
  }

  /**
   * Images named by id are described whatever their status; a listing shows the status the
   * filter names (ECR's default: ACTIVE only).
   */
  async describe(
    caller: EcrCaller,
    name: string,
    imageIds: ImageId[] | undefined,
    tagStatus: TagStatus,
    page: PageRequest<string>,
    imageStatus: ImageStatusFilter = 'ACTIVE',
  ): Promise<PageResult<ImageDetailView, string>> {
    const repo = await requireRepository(this.deps.ecr, caller, name);
    let rows: ImageRecord[];
    let next: string | null = null;
    if (imageIds && imageIds.length > 0) {
      const digests: string[] = [];
      for (const id of imageIds) {
        const resolved = await this.resolve(repo.id, id);
        if (typeof resolved !== 'string' && resolved.failureCode !== 'ImageNotFound' && resolved.failureCode !== 'ImageTagDoesNotMatchDigest') {
          throw new DomainError('InvalidParameter', `Invalid parameter at 'imageIds' failed to satisfy constraint: '${resolved.failureReason}'`);
        }
        if (typeof resolved !== 'string') {
          throw new DomainError('ImageNotFound', `The image with imageId {imageDigest:'${id.imageDigest ?? 'null'}', imageTag:'${id.imageTag ?? 'null'}'} does not exist within the repository with name '${name}' in the registry with id '${caller.accountId}'`);
        }
        if (!digests.includes(resolved)) digests.push(resolved);
      }
      const found = await this.deps.ecr.getImages(repo.id, digests);
      rows = digests.map((d) => found.find((r) => r.digest === d)).filter((r): r is ImageRecord => r !== undefined);
    } else {
      const result = pageOf(await this.deps.ecr.listImages(repo.id, tagStatus, { limit: page.limit + 1, after: page.after }, imageStatus), page.limit, (r) => r.digest);
      rows = result.items;
      next = result.next;
    }
    const sizes = await this.imageSizes(repo.id, rows);
    const scans = this.scanSummaries ? await this.scanSummaries(caller.accountId, name, rows.map((r) => r.digest)) : null;
    return {
      items: rows.map((r) => ({
        registryId: caller.accountId,
        repositoryName: name,
        imageDigest: r.digest,
        ...(r.tags.length > 0 ? { imageTags: r.tags } : {}),
        imageSizeInBytes: sizes.get(r.digest) ?? 0,
        imagePushedAt: new Date(r.pushedAt),
        imageManifestMediaType: r.mediaType,
        ...artifactMediaType(r),
        ...(r.lastPulledAt !== null ? { lastRecordedPullTime: new Date(r.lastPulledAt) } : {}),
        ...(r.subjectDigest ? { subjectManifestDigest: r.subjectDigest } : {}),
        imageStatus: r.status,
        ...(r.lastArchivedAt !== null ? { lastArchivedAt: new Date(r.lastArchivedAt) } : {}),
        ...(r.lastActivatedAt !== null ? { lastActivatedAt: new Date(r.lastActivatedAt) } : {}),
        ...(scans?.get(r.digest) ?? {}),
      })),
      next,
    };
  }

  /**
   * Image size as ECR reports it: the config and layer blobs an image manifest references;
   * for an index, the sum over the images it lists.
   */
  private async imageSizes(repositoryId: number, rows: ImageRecord[]): Promise<Map<string, number>> {
    const sizes = await this.deps.ecr.referencedBlobSizes(repositoryId, rows.map((r) => r.digest));
    const indexes = rows.filter((r) => indexMediaTypes.includes(r.mediaType)).map((r) => r.digest);
    if (indexes.length > 0) {
      const children = await this.deps.ecr.childManifests(repositoryId, indexes);
      const childSizes = await this.deps.ecr.referencedBlobSizes(repositoryId, [...new Set([...children.values()].flat())]);
      for (const [index, list] of children) sizes.set(index, list.reduce((sum, d) => sum + (childSizes.get(d) ?? 0), 0));
    }
    return sizes;
  }

  async list(caller: EcrCaller, name: string, tagStatus: TagStatus, page: PageRequest<ImageIdRecord>, imageStatus: ImageStatusFilter = 'ACTIVE'): Promise<PageResult<ImageId, ImageIdRecord>> {
    const repo = await requireRepository(this.deps.ecr, caller, name);
    const rows = await this.deps.ecr.listImageIds(repo.id, tagStatus, { limit: page.limit + 1, after: page.after }, imageStatus);
    const result = pageOf(rows, page.limit, (r) => r);
    return { items: result.items.map((r) => ({ imageDigest: r.digest, ...(r.tag !== null ? { imageTag: r.tag } : {}) })), next: result.next };
  }

  async batchGet(caller: EcrCaller, name: string, imageIds: ImageId[], acceptedMediaTypes: string[] | undefined): Promise<{ images: ImageView[]; failures: ImageFailure[] }> {
    const repo = await requireRepository(this.deps.ecr, caller, name);
    const images: ImageView[] = [];
    const failures: ImageFailure[] = [];
    for (const id of imageIds) {
      const resolved = await this.resolve(repo.id, id);
      if (typeof resolved !== 'string') {
        failures.push({ imageId: id, ...resolved });
        continue;
      }
      const manifest = await this.deps.meta.getManifest(repo.id, resolved);
      if (!manifest) {
        failures.push({ imageId: id, failureCode: 'ImageNotFound', failureReason: 'Requested image not found' });
        continue;
      }
      if (manifest.status !== 'ACTIVE') {
        // A batch answers per image (docs/errors.md: ImageArchived).
        const failureReason =
          manifest.status === 'ARCHIVED'
            ? 'Requested image is archived; restore it with UpdateImageStorageClass (targetStorageClass STANDARD) before pulling it'
            : 'Requested image is being restored from the archive (ACTIVATING); it can be pulled once it is ACTIVE';
        failures.push({ imageId: id, failureCode: 'ImageNotFound', failureReason });
        continue;
      }
      if (acceptedMediaTypes && acceptedMediaTypes.length > 0 && !acceptedMediaTypes.includes(manifest.mediaType)) {
        // Berth stores manifests as pushed and does not convert between formats.
        failures.push({ imageId: id, failureCode: 'ImageNotFound', failureReason: `Requested image is ${manifest.mediaType}, which is not among the accepted media types` });
        continue;
      }
      if (!(await this.deps.pullTimeExcluded?.(caller.accountId, caller.principalArn))) await this.deps.ecr.recordPull(repo.id, resolved, this.now(), pullRecordIntervalMs);
      images.push({
        registryId: caller.accountId,
        repositoryName: name,
        imageId: { imageDigest: resolved, ...(id.imageTag !== undefined ? { imageTag: id.imageTag } : {}) },
        imageManifest: manifest.content.toString('utf8'),
        imageManifestMediaType: manifest.mediaType,
      });
    }
    return { images, failures };
  }

  async batchDelete(caller: EcrCaller, name: string, imageIds: ImageId[]): Promise<{ imageIds: ImageId[]; failures: ImageFailure[] }> {
    const repo = await requireRepository(this.deps.ecr, caller, name);
    const deleted: ImageId[] = [];
    const failures: ImageFailure[] = [];
    for (const id of imageIds) {
      const resolved = await this.resolve(repo.id, id);
      if (typeof resolved !== 'string') {
        failures.push({ imageId: id, ...resolved });
        continue;
      }
      const [image] = await this.deps.ecr.getImages(repo.id, [resolved]);
      if (!image) {
        failures.push({ imageId: id, failureCode: 'ImageNotFound', failureReason: 'Requested image not found' });
        continue;
      }
      const untagOnly = id.imageTag !== undefined && image.tags.length > 1;
      if (!untagOnly && (await this.deps.ecr.referencingIndexes(repo.id, resolved)).length > 0) {
        failures.push({ imageId: id, failureCode: 'ImageReferencedByManifestList', failureReason: 'Requested image is referenced by an image index' });
        continue;
      }
      try {
        if (untagOnly) {
          // Removing one of several tags leaves the image; removing the last deletes it.
          await this.deps.registry.deleteManifest(caller.accountId, name, id.imageTag!);
          deleted.push({ imageDigest: resolved, imageTag: id.imageTag! });
        } else {
          await this.deps.registry.deleteManifest(caller.accountId, name, resolved);
          if (image.tags.length === 0) deleted.push({ imageDigest: resolved });
          for (const tag of image.tags) deleted.push({ imageDigest: resolved, imageTag: tag });
        }
      } catch (err) {
        if (!isDomainError(err, 'ManifestUnknown')) throw err;
        failures.push({ imageId: id, failureCode: 'ImageNotFound', failureReason: 'Requested image not found' });
      }
    }
    return { imageIds: deleted, failures };
  }

  async put(
    caller: EcrCaller,
    name: string,
    input: { imageManifest: string; imageManifestMediaType?: string; imageTag?: string; imageDigest?: string },
  ): Promise<ImageView> {
    const repo = await requireRepository(this.deps.ecr, caller, name);
    requireManifestMediaType(input.imageManifest, input.imageManifestMediaType);
    const body = Buffer.from(input.imageManifest, 'utf8');
    const algorithm = input.imageDigest !== undefined ? parseDigest(input.imageDigest).algorithm : 'sha256';
    const digest = digestOf(body, algorithm);
    if (input.imageDigest !== undefined && input.imageDigest !== digest) {
      throw new DomainError('ManifestDigestMismatch', `Manifest digest '${digest}' does not match the provided imageDigest '${input.imageDigest}'`);
    }
    const current = await this.deps.meta.statManifest(repo.id, digest);
    const exists = input.imageTag !== undefined ? (await this.deps.meta.resolveTag(repo.id, input.imageTag)) === digest : current !== null;
    // Putting an archived image again restores it at once (as a push does in ECR).
    if (exists && current?.status === 'ACTIVE') {
      const tagPart = input.imageTag !== undefined ? ` and tag '${input.imageTag}'` : '';
      throw new DomainError('ImageAlreadyExists', `Image with digest '${digest}'${tagPart} already exists in the repository with name '${name}' in registry with id '${caller.accountId}'`);
    }
    const result = await this.deps.registry.putManifest(caller.accountId, name, input.imageTag ?? digest, input.imageManifestMediaType, body);
    const stored = await this.deps.meta.statManifest(repo.id, result.digest);
    return {
      registryId: caller.accountId,
      repositoryName: name,
      imageId: { imageDigest: result.digest, ...(input.imageTag !== undefined ? { imageTag: input.imageTag } : {}) },
      imageManifest: input.imageManifest,
      imageManifestMediaType: stored?.mediaType ?? input.imageManifestMediaType ?? '',
    };
  }

  async referrers(caller: EcrCaller, name: string, subjectDigest: string, artifactTypes: string[] | undefined, page: PageRequest<number>, artifactStatus: ImageStatusFilter = 'ACTIVE') {
    const repo = await requireRepository(this.deps.ecr, caller, name);
    if (!looksLikeDigest(subjectDigest)) throw new DomainError('InvalidParameter', `Invalid parameter at 'subjectId.imageDigest' failed to satisfy constraint: 'must be a digest'`);
    const rows = await this.deps.meta.listReferrers(repo.id, subjectDigest);
    const all = rows
      .filter((m) => artifactStatus === 'ANY' || m.status === artifactStatus)
      .filter((m) => !artifactTypes || artifactTypes.length === 0 || (m.artifactType !== null && artifactTypes.includes(m.artifactType)))
      .map((m) => ({
        digest: m.digest,
        mediaType: m.mediaType,
        size: m.size,
        ...(m.artifactType ? { artifactType: m.artifactType } : {}),
        ...(m.annotations ? { annotations: m.annotations } : {}),
        artifactStatus: m.status,
      }));
    const start = page.after ?? 0;
    const items = all.slice(start, start + page.limit);
    return { items, next: start + page.limit < all.length ? start + page.limit : null };
  }

  /**
   * UpdateImageStorageClass. ARCHIVE archives the image at once (with its referrers); it
   * can then not be pulled. STANDARD restores an archived image (with the manifests it
   * lists and its referrers): they are ACTIVATING until the restore job makes them ACTIVE
   * (ecr.restoreDelaySeconds later). Asking for the class an image is in already (or is
   * being restored to) changes nothing and reports its status.
   */
  async updateStorageClass(caller: EcrCaller, name: string, imageId: ImageId, target: 'STANDARD' | 'ARCHIVE') {
    const repo = await requireRepository(this.deps.ecr, caller, name);
    const resolved = await this.resolve(repo.id, imageId);
    const notFound = () =>
      new DomainError('ImageNotFound', `The image with imageId {imageDigest:'${imageId.imageDigest ?? 'null'}', imageTag:'${imageId.imageTag ?? 'null'}'} does not exist within the repository with name '${name}' in the registry with id '${caller.accountId}'`);
    if (typeof resolved !== 'string') {
      if (resolved.failureCode === 'ImageNotFound' || resolved.failureCode === 'ImageTagDoesNotMatchDigest') throw notFound();
      throw new DomainError('InvalidParameter', `Invalid parameter at 'imageId' failed to satisfy constraint: '${resolved.failureReason}'`);
    }
    const [image] = await this.deps.ecr.getImages(repo.id, [resolved]);
    if (!image) throw notFound();
    const answer = (imageStatus: ImageStatus) => ({
      registryId: caller.accountId,
      repositoryName: name,
      imageId: { imageDigest: resolved, ...(imageId.imageTag !== undefined ? { imageTag: imageId.imageTag } : {}) },
      imageStatus,
    });
    const now = this.now();
    if (target === 'ARCHIVE') {
      if (image.status === 'ARCHIVED') return answer('ARCHIVED');
      if (image.status === 'ACTIVATING') {
        throw new DomainError('ImageStorageClassUpdateNotSupported', `The image ${resolved} is being restored from the archive; it can be archived again once its status is ACTIVE`);
      }
      // An index that stays pullable must not list an archived manifest.
      const indexes = await this.deps.ecr.getImages(repo.id, await this.deps.ecr.referencingIndexes(repo.id, resolved));
      const pullable = indexes.find((i) => i.status !== 'ARCHIVED');
      if (pullable) {
        throw new DomainError('ImageStorageClassUpdateNotSupported', `The image ${resolved} is listed by the image index ${pullable.digest}, which is not archived; archive the index first`);
      }
      const referrers = await this.referrersOf(repo.id, resolved, 'ACTIVE');
      await this.deps.ecr.transitionImages(repo.id, [resolved, ...referrers], 'ACTIVE', 'ARCHIVED', now);
      return answer((await this.deps.ecr.getImages(repo.id, [resolved]))[0]?.status ?? 'ARCHIVED');
    }
    if (image.status !== 'ARCHIVED') return answer(image.status);
    // An index comes back with the manifests it lists, an image with its referrers.
    const digests = [resolved, ...(await this.archivedChildren(repo.id, resolved)), ...(await this.referrersOf(repo.id, resolved, 'ARCHIVED'))];
    const moved = await this.deps.ecr.transitionImages(repo.id, digests, 'ARCHIVED', 'ACTIVATING', now);
    if (moved.length > 0) {
      try {
        await this.deps.jobs.enqueue(restoreJobKind, { repositoryId: repo.id, digests: moved } satisfies RestoreJob, now + this.restoreDelayMs);
      } catch (err) {
        // Without its job the restore would never finish: leave the images archived.
        await this.deps.ecr.transitionImages(repo.id, moved, 'ACTIVATING', 'ARCHIVED', now).catch(() => {});
        throw err;
      }
    }
    return answer((await this.deps.ecr.getImages(repo.id, [resolved]))[0]?.status ?? 'ACTIVATING');
  }

  /** The restore job: what is still ACTIVATING becomes ACTIVE (a push may have been quicker). */
  async finishRestore(payload: unknown): Promise<void> {
    const { repositoryId, digests } = payload as RestoreJob;
    await this.deps.ecr.transitionImages(repositoryId, digests, 'ACTIVATING', 'ACTIVE', this.now());
  }

  /** Referrers of the image (and theirs, and so on) that have this status. */
  private async referrersOf(repositoryId: number, digest: string, status: ImageStatus): Promise<string[]> {
    const found: string[] = [];
    const seen = new Set([digest]);
    for (let queue = [digest]; queue.length > 0; ) {
      const next: string[] = [];
      for (const subject of queue) {
        for (const r of await this.deps.meta.listReferrers(repositoryId, subject)) {
          if (seen.has(r.digest) || r.status !== status) continue;
          seen.add(r.digest);
          found.push(r.digest);
          next.push(r.digest);
        }
      }
      queue = next;
    }
    return found;
  }

  /** Archived manifests an index lists (and, for nested indexes, theirs). */
  private async archivedChildren(repositoryId: number, digest: string): Promise<string[]> {
    const found: string[] = [];
    const seen = new Set([digest]);
    for (let queue = [digest]; queue.length > 0; ) {
      const children = [...new Set([...(await this.deps.ecr.childManifests(repositoryId, queue)).values()].flat())].filter((d) => !seen.has(d));
      for (const d of children) seen.add(d);
      const archived = (await this.deps.ecr.getImages(repositoryId, children)).filter((i) => i.status === 'ARCHIVED').map((i) => i.digest);
      found.push(...archived);
      queue = children;
    }
    return found;
  }

  /** The digest an image id names, or why it names nothing. */
  private async resolve(repositoryId: number, id: ImageId): Promise<string | Omit<ImageFailure, 'imageId'>> {
    if (id.imageDigest === undefined && id.imageTag === undefined) return { failureCode: 'MissingDigestAndTag', failureReason: 'Invalid request parameters: both tag and digest cannot be null' };
    if (id.imageDigest !== undefined) {
      try {
        parseDigest(id.imageDigest);
      } catch {
        return { failureCode: 'InvalidImageDigest', failureReason: "Invalid request parameters: image digest should satisfy the regex '[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+'" };
      }
    }
    if (id.imageTag !== undefined && !isValidTag(id.imageTag)) return { failureCode: 'InvalidImageTag', failureReason: "Invalid request parameters: image tag should satisfy the regex '[a-zA-Z0-9-_.]+'" };
    if (id.imageTag !== undefined) {
      const digest = await this.deps.meta.resolveTag(repositoryId, id.imageTag);
      if (digest === null) return { failureCode: 'ImageNotFound', failureReason: 'Requested image not found' };
      if (id.imageDigest !== undefined && id.imageDigest !== digest) return { failureCode: 'ImageTagDoesNotMatchDigest', failureReason: 'Invalid request parameters: image tag does not match digest' };
      return digest;
    }
    const found = await this.deps.meta.statManifest(repositoryId, id.imageDigest!);
    return found ? found.digest : { failureCode: 'ImageNotFound', failureReason: 'Requested image not found' };
  }
}

/**
 * ECR takes a manifest's type from its mediaType or from imageManifestMediaType, and refuses
 * one with neither (where /v2 may tell an OCI manifest by its shape), in ECR's words.
 */
function requireManifestMediaType(manifest: string, parameter: string | undefined): void {
  let parsed: unknown;
  try {
    parsed = JSON.parse(manifest);
  } catch {
    throw new DomainError('InvalidParameter', "Invalid parameter at 'ImageManifest' failed to satisfy constraint: 'Invalid JSON syntax'");
  }
  if (parameter !== undefined) return;
  const declared = typeof parsed === 'object' && parsed !== null ? (parsed as { mediaType?: unknown }).mediaType : undefined;
  if (typeof declared !== 'string' || declared === '') throw new DomainError('InvalidParameter', 'image manifest mediatype not provided in manifest or parameter');
}

function artifactMediaType(r: ImageRecord): { artifactMediaType?: string } {
  if (indexMediaTypes.includes(r.mediaType)) return r.artifactType ? { artifactMediaType: r.artifactType } : {};
  try {
    const parsed = parseManifest(r.content, r.mediaType);
    const type = parsed.config?.mediaType ?? parsed.artifactType;
    return type ? { artifactMediaType: type } : {};
  } catch {
    return {};
  }
}
