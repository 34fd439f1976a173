import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { Readable } from 'node:stream';
import { parseDigest } from '../digest.js';
import { DomainError, isDomainError } from '../errors.js';
import { EcrCaller, EcrDeps, requireRepository } from './context.js';

export const layerPartLimits = {
  /** Every part but the last must be at least this large. */
  minPartBytes: 5 * 1024 * 1024,
  /** The largest part the API model allows. */
  maxPartBytes: 20 * 1024 * 1024,
  /** What InitiateLayerUpload advertises. */
  partSize: 10 * 1024 * 1024,
  maxParts: 4200,
  /** ECR's largest layer, 52,000 MiB. */
  maxLayerBytes: 52_000 * 1024 * 1024,
};

export type LayerPartLimits = typeof layerPartLimits;

export interface DownloadGrant {
  registryId: string;
  repository: string;
  digest: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
}

/**
 * Signs and checks the short-lived layer download tokens GetDownloadUrlForLayer hands out.
 * The key is derived from a secret every node shares (the config, or one stored once in the
 * database), so a URL from one node works on every node and after restarts. Without a
 * secret (tests, tools) the key is random and tokens die with the process.
 */
export class DownloadTokens {
  private readonly key: Buffer;

  constructor(secret?: string) {
    // A key of its own for this purpose, whatever else the secret is used for.
    this.key = secret ? createHmac('sha256', secret).update('berth/ecr-layer-download-url/v1').digest() : randomBytes(32);
  }

  sign(grant: DownloadGrant): string {
    const payload = Buffer.from(JSON.stringify([grant.registryId, grant.repository, grant.digest, grant.expiresAt])).toString('base64url');
    return `${payload}.${this.mac(payload)}`;
  }

  /** The grant, or null when the token is malformed, forged or expired. */
  verify(token: string, now: number): DownloadGrant | null {
    const [payload, mac, extra] = token.split('.');
    if (!payload || !mac || extra !== undefined) return null;
    const expected = Buffer.from(this.mac(payload));
    const given = Buffer.from(mac);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return null;
    try {
      const [registryId, repository, digest, expiresAt] = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as [string, string, string, number];
      if (typeof expiresAt !== 'number' || expiresAt < now) return null;
      return { registryId, repository, digest, expiresAt };
    } catch {
      return null;
    }
  }

  private mac(payload: string): string {
    return createHmac('sha256', this.key).update(payload).digest('base64url');
  }
}

export interface LayerCheck {
  layers: Array<{ layerDigest: string; layerAvailability: 'AVAILABLE'; layerSize: number; mediaType?: string }>;
  failures: Array<{ layerDigest: string; failureCode: 'InvalidLayerDigest' | 'MissingLayerDigest'; failureReason: string }>;
}

/** Layer uploads and downloads through the ECR API, on the same upload machinery as /v2. */
export class EcrLayers {
  private readonly now: () => number;

  constructor(
    private readonly deps: EcrDeps,
    private readonly tokens: DownloadTokens,
    private readonly downloadUrlTtlMs: number,
    private readonly limits: LayerPartLimits = layerPartLimits,
  ) {
    this.now = deps.clock ?? Date.now;
  }

  async checkAvailability(caller: EcrCaller, name: string, digests: string[]): Promise<LayerCheck> {
    const repo = await requireRepository(this.deps.ecr, caller, name);
    const result: LayerCheck = { layers: [], failures: [] };
    for (const digest of digests) {
      try {
        parseDigest(digest);
      } catch {
        result.failures.push({ layerDigest: digest, failureCode: 'InvalidLayerDigest', failureReason: `Invalid layer digest '${digest.slice(0, 200)}'` });
        continue;
      }
      const blob = await this.deps.meta.getLinkedBlob(repo.id, digest);
      if (blob) result.layers.push({ layerDigest: digest, layerAvailability: 'AVAILABLE', layerSize: blob.size });
      else result.failures.push({ layerDigest: digest, failureCode: 'MissingLayerDigest', failureReason: 'Requested layer is not in the repository' });
    }
    return result;
  }

  async initiate(caller: EcrCaller, name: string) {
    await requireRepository(this.deps.ecr, caller, name);
    const upload = await this.deps.registry.startUpload(caller.accountId, name, caller.actor);
    return { uploadId: upload.id, partSize: this.limits.partSize };
  }

  async uploadPart(caller: EcrCaller, name: string, uploadId: string, first: number, last: number, bytes: Buffer) {
    await requireRepository(this.deps.ecr, caller, name);
    const length = last - first + 1;
    if (length !== bytes.length) {
      throw new DomainError('InvalidLayerPart', `The part spans bytes ${first}-${last} (${Math.max(length, 0)} bytes) but carries ${bytes.length} bytes`);
    }
    if (bytes.length === 0) throw new DomainError('InvalidLayerPart', 'The layer part is empty');
    if (bytes.length > this.limits.maxPartBytes) {
      throw new DomainError('InvalidLayerPart', `A layer part may be at most ${this.limits.maxPartBytes} bytes; this one is ${bytes.length}`);
    }
    if (last + 1 > this.limits.maxLayerBytes) throw new DomainError('LimitExceeded', `A layer may be at most ${this.limits.maxLayerBytes} bytes`);
    const previous = await this.deps.ecr.getLayerUpload(uploadId);
    if (previous && previous.parts >= this.limits.maxParts) throw new DomainError('LimitExceeded', `A layer upload may have at most ${this.limits.maxParts} parts`);
    let size: number;
    try {
      size = (await this.deps.registry.appendToUpload(caller.accountId, name, uploadId, Readable.from([bytes]), first)).size;
    } catch (err) {
      if (isDomainError(err, 'UploadOutOfOrder')) {
        const received = (err.detail as { size: number }).size;
        throw new DomainError('InvalidLayerPart', `The part must start at byte ${received}, not ${first}`, { lastValidByteReceived: received - 1, uploadId });
      }
      throw err;
    }
    await this.deps.ecr.recordLayerPart(uploadId, bytes.length, this.limits.minPartBytes);
    return { registryId: caller.accountId, repositoryName: name, uploadId, lastByteReceived: size - 1 };
  }

  async complete(caller: EcrCaller, name: string, uploadId: string, digests: string[]) {
    const repo = await requireRepository(this.deps.ecr, caller, name);
    if (digests.length !== 1) throw new DomainError('InvalidParameter', `Invalid parameter at 'layerDigests' failed to satisfy constraint: 'exactly one layer digest is supported, got ${digests.length}'`);
    const digest = digests[0]!;
    parseDigest(digest);
    const status = await this.deps.registry.uploadStatus(caller.accountId, name, uploadId);
    if (status.size === 0) throw new DomainError('EmptyUpload', `The upload ${uploadId} contains no layer parts`);
    const parts = await this.deps.ecr.getLayerUpload(uploadId);
    if (parts?.undersizedPart) throw new DomainError('LayerPartTooSmall', `Every layer part but the last must be at least ${this.limits.minPartBytes} bytes`);
    if (await this.deps.meta.getLinkedBlob(repo.id, digest)) {
      await this.deps.registry.cancelUpload(caller.accountId, name, uploadId);
      throw new DomainError('LayerAlreadyExists', `The layer '${digest}' already exists in the repository with name '${name}' in registry with id '${caller.accountId}'`);
    }
    const blob = await this.deps.registry.completeUpload(caller.accountId, name, uploadId, digest, null);
    return { registryId: caller.accountId, repositoryName: name, uploadId, layerDigest: blob.digest };
  }

  /** A token for a short-lived URL Berth serves the layer's bytes under. */
  async downloadToken(caller: EcrCaller, name: string, digest: string): Promise<{ token: string; layerDigest: string }> {
    const repo = await requireRepository(this.deps.ecr, caller, name);
    try {
      await this.deps.registry.statBlob(caller.accountId, name, digest);
    } catch (err) {
      if (isDomainError(err, 'BlobUnknown')) throw new DomainError('LayersNotFound', `The layer '${digest}' does not exist in the repository with name '${name}' in registry with id '${caller.accountId}'`);
      throw err;
    }
    // A layer only archived images use is in the archive with them.
    if ((await this.deps.ecr.layerImageStatus(repo.id, digest)) === 'archived') {
      throw new DomainError(
        'ImageArchived',
        `The layer '${digest}' belongs only to archived images in the repository with name '${name}' in registry with id '${caller.accountId}'; restore an image that uses it (UpdateImageStorageClass with targetStorageClass STANDARD) first`,
      );
    }
    const token = this.tokens.sign({ registryId: caller.accountId, repository: name, digest, expiresAt: this.now() + this.downloadUrlTtlMs });
    return { token, layerDigest: digest };
  }

  /**
   * Where the client may fetch the layer a download token grants straight from storage
   * (storage.redirect), or null to stream it through this node with openDownload.
   */
  async downloadRedirect(token: string): Promise<string | null> {
    const grant = this.tokens.verify(token, this.now());
    if (!grant) throw new DomainError('Denied', 'the download URL is invalid or has expired');
    return (await this.deps.registry.blobRedirect(grant.registryId, grant.repository, grant.digest))?.url ?? null;
  }

  /** Opens the layer a download token grants. */
  async openDownload(token: string) {
    const grant = this.tokens.verify(token, this.now());
    if (!grant) throw new DomainError('Denied', 'the download URL is invalid or has expired');
    return this.deps.registry.openBlob(grant.registryId, grant.repository, grant.digest);
  }
}
