import type { Readable } from 'node:stream';
import type { EcrCaller } from '../../domain/ecr/context.js';
import { repositoryArn, requireRepository } from '../../domain/ecr/context.js';
import { DomainError } from '../../domain/errors.js';
import { indexMediaTypes, parseManifest } from '../../domain/manifest.js';
import type { EcrRepository, EcrStore } from '../../stores/ecr-store.js';
import type { MetadataStore } from '../../stores/metadata-store.js';
import { effectiveScanning, validateRegistryConfig } from './config-rules.js';
import { basicFinding, enhancedFinding, findingKey, type ImageContext } from './ecr-shapes.js';
import { ScanRefused, UnsupportedImage } from './engine/errors.js';
import type { Inventory } from './engine/inventory.js';
import { defaultEngineLimits, scanImage, type EngineLimits, type LayerSource } from './engine/scan-image.js';
import { matchInventory, severityCounts, type Finding } from './match/findings.js';
import type { RegistryScanConfig, ScanRecord, ScanningStore, ScanType } from './store/sql-store.js';

// Scanning as ECR presents it, over Berth's own engine and offline database.

export const SCAN_JOB = 'scanning.scan';
export const RESCAN_JOB = 'scanning.rescan';
const DAY = 24 * 60 * 60 * 1000;
const LAYER_MEDIA = /(tar|layer)/;

export interface ScanEvent {
  type: 'scan.completed';
  registryId: string;
  repository: string;
  detail: Record<string, unknown>;
}

export interface ScanningDeps {
  store: ScanningStore;
  ecr: EcrStore;
  meta: MetadataStore;
  /** A layer's bytes as clients pull them (decrypted when the repository is encrypted). */
  openLayer(registryId: string, repository: string, digest: string): Promise<Readable>;
  now: () => number;
  enqueue(kind: string, payload: unknown): Promise<void>;
  emit(events: ScanEvent[]): Promise<void>;
  region: string;
  limits?: EngineLimits;
  /** Runs the engine (in a worker thread when given); default: in this thread. */
  runEngine?: (layers: LayerSource[], limits: EngineLimits, signal?: AbortSignal) => Promise<Inventory>;
}

interface ImageId {
  imageDigest?: string;
  imageTag?: string;
}

export interface ScanJobPayload {
  registryId: string;
  repository: string;
  digest: string;
  scanType: ScanType;
}

const UNSUPPORTED_DESCRIPTION = 'The operating system and/or package manager are not supported.';

export class ScanningService {
  constructor(private readonly deps: ScanningDeps) {}

  // ---- configuration ----

  async putRegistryConfig(caller: EcrCaller, scanType: string | undefined, rules: unknown[] | undefined) {
    const config = validateRegistryConfig(scanType, rules);
    await this.deps.store.putRegistryConfig(caller.accountId, { ...config, updatedAt: this.deps.now() });
    return { registryScanningConfiguration: config };
  }

  async getRegistryConfig(caller: EcrCaller) {
    const c = await this.deps.store.getRegistryConfig(caller.accountId);
    return { registryId: caller.accountId, scanningConfiguration: { scanType: c.scanType, rules: c.rules } };
  }

  async batchGetRepositoryConfig(caller: EcrCaller, names: string[]) {
    const config = await this.deps.store.getRegistryConfig(caller.accountId);
    const scanningConfigurations: unknown[] = [];
    const failures: unknown[] = [];
    for (const name of names) {
      const repo = await this.deps.ecr.getRepository(caller.accountId, name);
      if (!repo) {
        failures.push({ repositoryName: name, failureCode: 'REPOSITORY_NOT_FOUND', failureReason: 'REPOSITORY_NOT_FOUND' });
        continue;
      }
      const eff = effectiveScanning(config, name, repo.settings.scanOnPush);
      scanningConfigurations.push({ repositoryArn: repositoryArn(caller, name), repositoryName: name, scanOnPush: eff.scanOnPush, scanFrequency: eff.scanFrequency, appliedScanFilters: eff.appliedScanFilters });
    }
    return { scanningConfigurations, failures };
  }

  // ---- scans ----

  private async image(caller: EcrCaller, repository: string, id: ImageId): Promise<{ repo: EcrRepository; digest: string; tags: string[]; status: string; pushedAt: number; mediaType: string; content: Buffer }> {
    const repo = await requireRepository(this.deps.ecr, caller, repository);
    let digest = id.imageDigest;
    if (id.imageTag !== undefined) {
      const resolved = await this.deps.meta.resolveTag(repo.id, id.imageTag);
      if (resolved === null || (digest !== undefined && digest !== resolved)) throw imageNotFound(caller, repository, id);
      digest = resolved;
    }
    if (digest === undefined) throw new DomainError('InvalidParameter', "Invalid parameter at 'imageId' failed to satisfy constraint: 'an image id needs an imageDigest or an imageTag'");
    const [image] = await this.deps.ecr.getImages(repo.id, [digest]);
    if (!image) throw imageNotFound(caller, repository, id);
    return { repo, digest, tags: image.tags, status: image.status, pushedAt: image.pushedAt, mediaType: image.mediaType, content: image.content };
  }

  private scannable(mediaType: string, content: Buffer): boolean {
    if (indexMediaTypes.includes(mediaType)) return false;
    try {
      const m = parseManifest(content, mediaType);
      const configType = m.config?.mediaType ?? '';
      return /image\.config|container\.image/.test(configType) && m.blobs.some((b) => LAYER_MEDIA.test(b.mediaType));
    } catch {
      return false;
    }
  }

  async startImageScan(caller: EcrCaller, repository: string, id: ImageId) {
    const image = await this.image(caller, repository, id);
    const imageId = { imageDigest: image.digest, ...(id.imageTag !== undefined ? { imageTag: id.imageTag } : {}) };
    if (image.status !== 'ACTIVE') throw new DomainError('ImageArchived', `The image with imageId {imageDigest:'${image.digest}'} is archived and cannot be scanned; restore it first`);
    if (!this.scannable(image.mediaType, image.content)) throw new DomainError('UnsupportedImageType', 'The requested image type is not supported for scanning.');
    const config = await this.deps.store.getRegistryConfig(caller.accountId);
    const now = this.deps.now();
    const previous = await this.deps.store.getScan(caller.accountId, repository, image.digest, config.scanType);
    if (previous && now - previous.startedAt < DAY) {
      throw new DomainError('LimitExceeded', 'The scan quota per image has been exceeded. Wait and try again.');
    }
    await this.begin(caller.accountId, repository, image.digest, config.scanType, previous);
    return { registryId: caller.accountId, repositoryName: repository, imageId, imageScanStatus: { status: 'IN_PROGRESS', description: 'Scan in progress.' } };
  }

  private async begin(registryId: string, repository: string, digest: string, scanType: ScanType, previous: ScanRecord | null): Promise<void> {
    await this.deps.store.putScan({
      registryId,
      repository,
      digest,
      scanType,
      status: scanType === 'ENHANCED' && previous ? previous.status : 'IN_PROGRESS',
      description: 'Scan in progress.',
      startedAt: this.deps.now(),
      completedAt: previous?.completedAt ?? null,
      sourceUpdatedAt: previous?.sourceUpdatedAt ?? null,
      findings: previous?.findings ?? null,
      counts: previous?.counts ?? null,
      firstObserved: previous?.firstObserved ?? {},
    });
    await this.deps.enqueue(SCAN_JOB, { registryId, repository, digest, scanType } satisfies ScanJobPayload);
  }

  /** Scan on push: a subscriber of 'image.pushed'. */
  async onImagePushed(registryId: string, repository: string, digest: string): Promise<boolean> {
    const repo = await this.deps.ecr.getRepository(registryId, repository);
    if (!repo) return false;
    const config = await this.deps.store.getRegistryConfig(registryId);
    const eff = effectiveScanning(config, repository, repo.settings.scanOnPush);
    if (eff.scanFrequency === 'MANUAL') return false;
    const [image] = await this.deps.ecr.getImages(repo.id, [digest]);
    if (!image || !this.scannable(image.mediaType, image.content)) return false;
    const previous = await this.deps.store.getScan(registryId, repository, digest, config.scanType);
    await this.begin(registryId, repository, digest, config.scanType, previous);
    return true;
  }

  /** The job: read the image once, store its inventory, match it. */
  async runScanJob(payload: ScanJobPayload, signal?: AbortSignal): Promise<void> {
    const { registryId, repository, digest, scanType } = payload;
    const scan = await this.deps.store.getScan(registryId, repository, digest, scanType);
    const repo = await this.deps.ecr.getRepository(registryId, repository);
    const [image] = repo ? await this.deps.ecr.getImages(repo.id, [digest]) : [];
    if (!scan || !repo || !image) return; // deleted meanwhile
    let inventory: Inventory;
    try {
      const manifest = parseManifest(image.content, image.mediaType);
      const layers: LayerSource[] = manifest.blobs.filter((b) => LAYER_MEDIA.test(b.mediaType) && b.digest !== manifest.config?.digest).map((b) => ({ digest: b.digest, open: () => this.deps.openLayer(registryId, repository, b.digest) }));
      const run = this.deps.runEngine ?? ((l, lim, s) => scanImage(l, lim, undefined, s));
      inventory = await run(layers, this.deps.limits ?? defaultEngineLimits, signal);
    } catch (err) {
      const unsupported = err instanceof UnsupportedImage || (err as Error).name === 'UnsupportedImage';
      const refused = err instanceof ScanRefused || (err as Error).name === 'ScanRefused';
      if (!unsupported && !refused && !(err as Error).message) throw err;
      await this.finish(scan, image.tags, unsupported ? 'UNSUPPORTED_IMAGE' : 'FAILED', unsupported ? UNSUPPORTED_DESCRIPTION : `The scan failed: ${(err as Error).message}`, null);
      return;
    }
    await this.deps.store.putInventory(digest, inventory, this.deps.now());
    if (inventory.unsupportedReason && !inventory.packages.some((p) => p.kind === 'os') && scanType === 'BASIC') {
      await this.finish(scan, image.tags, 'UNSUPPORTED_IMAGE', `${UNSUPPORTED_DESCRIPTION} ${inventory.unsupportedReason}`, null);
      return;
    }
    if (!inventory.os && scanType === 'BASIC' && !inventory.packages.some((p) => p.kind === 'os')) {
      await this.finish(scan, image.tags, 'UNSUPPORTED_IMAGE', UNSUPPORTED_DESCRIPTION, null);
      return;
    }
    const findings = await matchInventory(inventory, this.deps.store, { scanType });
    await this.finish(scan, image.tags, scanType === 'ENHANCED' ? 'ACTIVE' : 'COMPLETE', scanType === 'ENHANCED' ? 'Continuous scan is selected for image.' : 'The scan was completed successfully.', findings);
  }

  private async finish(scan: ScanRecord, tags: string[], status: ScanRecord['status'], description: string, findings: Finding[] | null): Promise<void> {
    const now = this.deps.now();
    const updated = await this.deps.store.getMeta('updated_at');
    const firstObserved: Record<string, number> = {};
    for (const f of findings ?? []) firstObserved[findingKey(f)] = scan.firstObserved[findingKey(f)] ?? now;
    const counts = findings ? severityCounts(findings) : null;
    const next: ScanRecord = { ...scan, status, description, completedAt: now, sourceUpdatedAt: updated ? Number(updated) : null, findings, counts: counts as Record<string, number> | null, firstObserved };
    await this.deps.store.putScan(next);
    await this.deps.emit([
      {
        type: 'scan.completed',
        registryId: scan.registryId,
        repository: scan.repository,
        detail: { 'scan-status': status, 'repository-name': scan.repository, 'image-digest': scan.digest, 'image-tags': tags, 'finding-severity-counts': counts ?? {}, 'scan-type': scan.scanType },
      },
    ]);
  }

  /** CONTINUOUS_SCAN: after an import, re-match stored inventories (no layer is read); emits where findings changed. */
  async rescanAll(signal?: AbortSignal): Promise<{ rescanned: number; changed: number }> {
    const registries = await this.deps.store.continuousRegistries();
    let after: { registryId: string; repository: string; digest: string } | null = null;
    let rescanned = 0;
    let changed = 0;
    const updated = await this.deps.store.getMeta('updated_at');
    for (;;) {
      if (signal?.aborted) break;
      const page = await this.deps.store.completedScans(registries, 'ENHANCED', after, 200);
      if (page.length === 0) break;
      for (const key of page) {
        const scan = await this.deps.store.getScan(key.registryId, key.repository, key.digest, 'ENHANCED');
        const inventory = await this.deps.store.getInventory(key.digest);
        if (!scan || !inventory) continue;
        const repo = await this.deps.ecr.getRepository(key.registryId, key.repository);
        if (!repo) continue;
        const config = await this.deps.store.getRegistryConfig(key.registryId);
        if (effectiveScanning(config, key.repository, repo.settings.scanOnPush).scanFrequency !== 'CONTINUOUS_SCAN') continue;
        rescanned++;
        const findings = await matchInventory(inventory, this.deps.store, { scanType: 'ENHANCED' });
        const before = (scan.findings ?? []).map(findingKey).sort().join('\n');
        const now = findings.map(findingKey).sort().join('\n');
        if (before === now) {
          if (updated && scan.sourceUpdatedAt !== Number(updated)) await this.deps.store.putScan({ ...scan, sourceUpdatedAt: Number(updated) });
          continue;
        }
        changed++;
        const [image] = await this.deps.ecr.getImages(repo.id, [key.digest]);
        await this.finish(scan, image?.tags ?? [], 'ACTIVE', 'Continuous scan is selected for image.', findings);
      }
      after = page[page.length - 1]!;
    }
    return { rescanned, changed };
  }

  async describeFindings(caller: EcrCaller, repository: string, id: ImageId, page: { limit: number; offset: number }) {
    const image = await this.image(caller, repository, id);
    const imageId = { imageDigest: image.digest, ...(id.imageTag !== undefined ? { imageTag: id.imageTag } : {}) };
    const config = await this.deps.store.getRegistryConfig(caller.accountId);
    const scan = await this.deps.store.getScan(caller.accountId, repository, image.digest, config.scanType);
    if (!scan) {
      throw new DomainError(
        'ScanNotFound',
        `Image scan does not exist for the image with '{imageDigest:'${image.digest}', imageTag:'${id.imageTag ?? 'null'}'}' in the repository with name '${repository}' in the registry with id '${caller.accountId}'`,
      );
    }
    const base = { registryId: caller.accountId, repositoryName: repository, imageId };
    const status = image.status !== 'ACTIVE' ? { status: 'IMAGE_ARCHIVED', description: 'The image is archived.' } : { status: scan.status, description: scan.description };
    if (!scan.findings || scan.completedAt === null) return { ...base, imageScanStatus: status, next: null };
    const all = scan.findings;
    const slice = all.slice(page.offset, page.offset + page.limit);
    const next = page.offset + page.limit < all.length ? page.offset + page.limit : null;
    const findings: Record<string, unknown> = {
      imageScanCompletedAt: new Date(scan.completedAt),
      ...(scan.sourceUpdatedAt !== null ? { vulnerabilitySourceUpdatedAt: new Date(scan.sourceUpdatedAt) } : {}),
      findingSeverityCounts: scan.counts ?? {},
    };
    if (scan.scanType === 'BASIC') findings.findings = slice.map(basicFinding);
    else {
      const ctx: ImageContext = { accountId: caller.accountId, region: caller.region, repository, digest: image.digest, tags: image.tags, pushedAt: image.pushedAt };
      findings.enhancedFindings = slice.map((f) => enhancedFinding(f, ctx, scan.firstObserved[findingKey(f)] ?? scan.completedAt!, scan.completedAt!, false));
    }
    return { ...base, imageScanStatus: status, imageScanFindings: findings, next };
  }

  /** DescribeImages' imageScanStatus and imageScanFindingsSummary. */
  async summaries(registryId: string, repository: string, digests: string[]): Promise<Map<string, Record<string, unknown>>> {
    const config = await this.deps.store.getRegistryConfig(registryId);
    const scans = await this.deps.store.getScans(registryId, repository, digests, config.scanType);
    const out = new Map<string, Record<string, unknown>>();
    for (const s of scans) {
      out.set(s.digest, {
        imageScanStatus: { status: s.status, description: s.description },
        ...(s.completedAt !== null && s.counts
          ? { imageScanFindingsSummary: { imageScanCompletedAt: new Date(s.completedAt), ...(s.sourceUpdatedAt !== null ? { vulnerabilitySourceUpdatedAt: new Date(s.sourceUpdatedAt) } : {}), findingSeverityCounts: s.counts } }
          : {}),
      });
    }
    return out;
  }

  registryConfig(registryId: string): Promise<RegistryScanConfig> {
    return this.deps.store.getRegistryConfig(registryId);
  }
}

function imageNotFound(caller: EcrCaller, repository: string, id: ImageId): DomainError {
  return new DomainError('ImageNotFound', `The image with imageId {imageDigest:'${id.imageDigest ?? 'null'}', imageTag:'${id.imageTag ?? 'null'}'} does not exist within the repository with name '${repository}' in the registry with id '${caller.accountId}'`);
}
