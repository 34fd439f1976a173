import { randomUUID } from 'node:crypto';
import type { Hash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { BlobStore, ByteRange } from '../stores/blob-store.js';
import { canRedirect, UploadOffsetMismatch } from '../stores/blob-store.js';
import type { BlobRecord, ImageStatus, ManifestRecord, MetadataStore, RepositoryRecord } from '../stores/metadata-store.js';
import { digestOf, hashThrough, looksLikeDigest, newHash, parseDigest, type DigestAlgorithm } from './digest.js';
import { UNATTRIBUTED, type Actor } from './actor.js';
import { DomainError } from './errors.js';
import { ChangeTypes, type Changes, type ImageDeleted, type ImagePushed } from './events/change.js';
import { manifestMediaTypes, MediaTypes, parseManifest, type Descriptor } from './manifest.js';
import { isValidTag, validateRepositoryName, validateTag } from './names.js';
import type { EncryptingBlobs, Layers } from '../stores/blob/encrypting-blobs.js';

export interface RegistryLimits {
  manifestMaxBytes: number;
  /** Largest `n` accepted on tag and catalog listings; also the page size when `n` is absent. */
  maxPageSize: number;
}

/** Optional extension points (the ECR API uses them); the object may be filled in after construction. */
export interface RegistryHooks {
  /** Creates a repository a push names that does not exist yet; null refuses the push. */
  createRepositoryOnPush?(registryId: string, name: string, now: number, actor: Actor): Promise<RepositoryRecord | null>;
  /** A manifest's content was fetched (a pull), by `principalArn` when the edge knows who pulled. */
  manifestPulled?(repositoryId: number, digest: string, registryId: string, principalArn: string | undefined): void;
  /**
   * The encryption of a repository's content (Berth's KMS, docs/encryption.md), or null for
   * none. Called on every blob operation: it must answer from memory for most calls.
   */
  encryptionOf?(repositoryId: number): Promise<BlobEncryption | null>;
  /** A manifest was stored by a push (not a re-push of the same bytes); managed signing listens here. */
  imagePushed?(pushed: { registryId: string; repository: string; digest: string; mediaType: string; size: number; subjectDigest: string | null }): void;
  /** Test seam: runs after a blob's bytes are committed, before it is linked (race tests pause here). */
  beforeBlobLink?(digest: string): Promise<void>;
}

export interface BlobEncryption {
  keyArn: string;
  /** 1 for KMS, 2 for KMS_DSSE. */
  layers: Layers;
}

export interface RegistryServiceDeps {
  blobs: BlobStore;
  meta: MetadataStore;
  limits: RegistryLimits;
  clock?: () => number;
  hooks?: RegistryHooks;
  /** The region the change feed's events name (config `region`). */
  region?: string;
  /**
   * Send pulls to the storage engine: blob GETs are answered with a short-lived signed URL
   * (when the blob store can make one) instead of bytes streamed through this node.
   */
  pullRedirect?: { ttlSeconds: number };
  /** Stores and reads blobs of encrypted repositories (hooks.encryptionOf says which). */
  encrypted?: EncryptingBlobs;
}

/** A byte range as a client asked for it, before it is checked against the blob's size. */
export interface RangeRequest {
  start?: number;
  end?: number;
}

export interface UploadState {
  id: string;
  repository: string;
  size: number;
}

export interface BlobContent {
  blob: BlobRecord;
  /** The inclusive range served, or null for the whole blob. */
  range: ByteRange | null;
  stream: Readable;
}

export interface ManifestPutResult {
  digest: string;
  subjectDigest: string | null;
  created: boolean;
}

export interface Listing<T> {
  items: T[];
  /** The `last` value for the next page, when there is one. */
  next: string | null;
}

interface ActiveHash {
  algorithm: DigestAlgorithm;
  hash: Hash;
  offset: number;
}

/**
 * The registry's core operations over the two stores: blobs, uploads, manifests, tags,
 * referrers, catalog. Edges (OCI /v2, later the ECR API) translate protocols into these calls.
 */
export class RegistryService {
  private readonly blobs: BlobStore;
  private readonly meta: MetadataStore;
  private readonly limits: RegistryLimits;
  private readonly now: () => number;
  private readonly hooks: RegistryHooks;
  private readonly pullRedirect: { ttlSeconds: number } | null;
  private readonly region: string;
  private readonly encrypted: EncryptingBlobs | null;
  // Running hash per in-progress chunked upload, so completing it needs no second read.
  // Lost on restart or when the upload continues on another node: then we re-read the bytes.
  private readonly uploadHashes = new Map<string, ActiveHash>();
  private readonly uploadLocks = new Map<string, Promise<unknown>>();

  constructor(deps: RegistryServiceDeps) {
    this.blobs = deps.blobs;
    this.meta = deps.meta;
    this.limits = deps.limits;
    this.now = deps.clock ?? Date.now;
    this.hooks = deps.hooks ?? {};
    this.pullRedirect = deps.pullRedirect ?? null;
    this.region = deps.region ?? 'us-east-1';
    this.encrypted = deps.encrypted ?? null;
  }

  private async encryption(repositoryId: number): Promise<BlobEncryption | null> {
    if (!this.encrypted || !this.hooks.encryptionOf) return null;
    return this.hooks.encryptionOf(repositoryId);
  }

  /** KMS failures (disabled, pending deletion, deleted key) as the registry's own error. */
  private async withKey<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      const e = err as { awsJsonError?: boolean; code?: string; message: string; name?: string };
      if (e && (e.awsJsonError === true || e.name === 'EncryptedBlobError')) {
        throw new DomainError('KmsKeyUnusable', `the KMS key of this repository cannot be used: ${e.code ? `${e.code}: ` : ''}${e.message}`, { kmsError: e.code ?? 'KMS_ERROR' });
      }
      throw err;
    }
  }

  private async requireKeyUsable(enc: BlobEncryption): Promise<void> {
    await this.withKey(() => this.encrypted!.requireUsable(enc.keyArn));
  }

  // ---------- repositories ----------

  private async repository(registryId: string, name: string, create: boolean, actor: Actor = UNATTRIBUTED): Promise<RepositoryRecord> {
    validateRepositoryName(name);
    let repo = await this.meta.getRepository(registryId, name);
    if (!repo && create) {
      const onPush = this.hooks.createRepositoryOnPush;
      repo = onPush ? await onPush(registryId, name, this.now(), actor) : await this.meta.ensureRepository(registryId, name, this.now());
      if (!repo) throw new DomainError('NameUnknown', `The repository with name '${name}' does not exist in the registry with id '${registryId}'`);
    }
    if (!repo) throw new DomainError('NameUnknown', `repository ${name} not found`);
    return repo;
  }

  async listRepositories(registryId: string, n: number | undefined, last: string | undefined): Promise<Listing<string>> {
    const limit = this.pageSize(n);
    const rows = limit === 0 ? [] : await this.meta.listRepositories(registryId, { limit: limit + 1, after: last });
    return page(rows, limit);
  }

  // ---------- blobs ----------

  async statBlob(registryId: string, name: string, digest: string): Promise<BlobRecord> {
    parseDigest(digest);
    const repo = await this.repository(registryId, name, false);
    const blob = await this.meta.getLinkedBlob(repo.id, digest);
    if (!blob) throw new DomainError('BlobUnknown', `blob ${digest} unknown to repository ${name}`);
    return blob;
  }

  async openBlob(registryId: string, name: string, digest: string, rangeRequest?: RangeRequest, signal?: AbortSignal): Promise<BlobContent> {
    void signal;
    parseDigest(digest);
    const repo = await this.repository(registryId, name, false);
    const blob = await this.meta.getLinkedBlob(repo.id, digest);
    if (!blob) throw new DomainError('BlobUnknown', `blob ${digest} unknown to repository ${name}`);
    const range = rangeRequest ? resolveRange(rangeRequest, blob.size) : null;
    const enc = await this.encryption(repo.id);
    const stream = enc
      ? await this.withKey(() => this.encrypted!.read(digest, enc.keyArn, enc.layers, blob.size, range ?? undefined))
      : await this.blobs.read(digest, range ?? undefined);
    return { blob, range, stream };
  }

  /**
   * Where the client may fetch a blob's bytes itself (a presigned storage URL), after the
   * same checks as openBlob; null when pulls are not redirected, and the caller streams.
   */
  async blobRedirect(registryId: string, name: string, digest: string): Promise<{ blob: BlobRecord; url: string } | null> {
    if (!this.pullRedirect || !canRedirect(this.blobs)) return null;
    // Encrypted content is never handed out as a storage URL: it is decrypted by the node.
    if (this.encrypted && this.hooks.encryptionOf) {
      const repo = await this.repository(registryId, name, false);
      if (await this.encryption(repo.id)) return null;
    }
    const blob = await this.statBlob(registryId, name, digest);
    return { blob, url: await this.blobs.presignedUrl(blob.digest, this.pullRedirect.ttlSeconds) };
  }

  async deleteBlob(registryId: string, name: string, digest: string): Promise<void> {
    parseDigest(digest);
    const repo = await this.repository(registryId, name, false);
    // Only the link goes now; the bytes go with garbage collection once nothing links them.
    if (!(await this.meta.unlinkBlob(repo.id, digest))) throw new DomainError('BlobUnknown', `blob ${digest} unknown to repository ${name}`);
    const enc = await this.encryption(repo.id);
    if (enc) await this.meta.unlinkBlob(repo.id, this.encrypted!.address(digest, enc.keyArn, enc.layers));
  }

  // ---------- uploads ----------

  async startUpload(registryId: string, name: string, actor: Actor = UNATTRIBUTED): Promise<UploadState> {
    const repo = await this.repository(registryId, name, true, actor);
    const id = randomUUID();
    await this.blobs.createUpload(id);
    await this.meta.createUpload({ id, repositoryId: repo.id, startedAt: this.now() });
    this.uploadHashes.set(id, { algorithm: 'sha256', hash: newHash('sha256'), offset: 0 });
    return { id, repository: name, size: 0 };
  }

  /** Links a blob from another repository. Null when the source does not have it (the caller falls back to an upload). */
  async mountBlob(registryId: string, name: string, digest: string, from: string, actor: Actor = UNATTRIBUTED): Promise<BlobRecord | null> {
    parseDigest(digest);
    validateRepositoryName(from);
    const source = await this.meta.getRepository(registryId, from);
    const blob = source ? await this.meta.getLinkedBlob(source.id, digest) : null;
    if (!blob) return null;
    const repo = await this.repository(registryId, name, true, actor);
    const enc = await this.encryption(repo.id);
    if (enc) return this.mountEncrypted(repo.id, blob, enc);
    // Claim first (no collector may delete the bytes while the claim's grace lasts), then
    // check the bytes, then link only if the claim still holds (docs/gc.md).
    const incarnation = await this.claimBlob(blob);
    if (!(await this.blobs.stat(digest))) return null;
    if (!(await this.meta.linkBlob(repo.id, blob, this.now(), incarnation))) return null;
    return blob;
  }

  /**
   * Into an encrypted repository a mount links only a copy stored under the repository's
   * own key; without one the client uploads (and the upload stores it under that key).
   */
  private async mountEncrypted(repositoryId: number, blob: BlobRecord, enc: BlobEncryption): Promise<BlobRecord | null> {
    await this.requireKeyUsable(enc);
    const sealed = this.sealedRecord(blob, enc);
    const incarnation = await this.claimBlob(blob);
    const sealedIncarnation = await this.claimBlob(sealed);
    if (!(await this.blobs.stat(sealed.digest))) return null;
    if (!(await this.meta.linkBlob(repositoryId, sealed, this.now(), sealedIncarnation))) return null;
    if (!(await this.meta.linkBlob(repositoryId, blob, this.now(), incarnation))) return null;
    return blob;
  }

  /** The stored object of a blob under a key: its own row in the blob table (so GC sees it). */
  private sealedRecord(blob: BlobRecord, enc: BlobEncryption): BlobRecord {
    return { digest: this.encrypted!.address(blob.digest, enc.keyArn, enc.layers), size: this.encrypted!.storedSize(blob.size, enc.layers) };
  }

  /** A whole blob in one request (POST with ?digest=). */
  async uploadMonolithic(registryId: string, name: string, digest: string, body: Readable, declaredLength?: number, actor: Actor = UNATTRIBUTED): Promise<BlobRecord> {
    const expected = parseDigest(digest);
    const repo = await this.repository(registryId, name, true, actor);
    const id = randomUUID();
    await this.blobs.createUpload(id);
    try {
      const hashing = hashThrough(body, newHash(expected.algorithm));
      await this.blobs.appendUpload(id, 0, hashing);
      if (declaredLength !== undefined && hashing.bytes !== declaredLength) {
        throw new DomainError('SizeInvalid', `received ${hashing.bytes} bytes, Content-Length said ${declaredLength}`);
      }
      const actual = `${expected.algorithm}:${hashing.hash.digest('hex')}`;
      if (actual !== digest) throw new DomainError('DigestInvalid', `content digest is ${actual}, not ${digest}`);
      const blob = { digest, size: hashing.bytes };
      await this.commitBlob(id, repo.id, blob);
      return blob;
    } catch (err) {
      await this.blobs.deleteUpload(id).catch(() => {});
      throw err;
    }
  }

  /**
   * The push side of the garbage-collection protocol (docs/gc.md): claim the blob row,
   * then write the bytes, then link them only if the claim still holds. A collector can
   * delete bytes only while it holds a mark on the row, which a claim or link refuses.
   */
  private async commitBlob(uploadId: string, repositoryId: number, blob: BlobRecord): Promise<void> {
    const enc = await this.encryption(repositoryId);
    if (enc) return this.commitEncrypted(uploadId, repositoryId, blob, enc);
    const incarnation = await this.claimBlob(blob);
    await this.blobs.commitUpload(uploadId, blob.digest);
    await this.hooks.beforeBlobLink?.(blob.digest);
    if (!(await this.meta.linkBlob(repositoryId, blob, this.now(), incarnation))) {
      throw new DomainError('TooManyRequests', `blob ${blob.digest} was garbage-collected while this upload was being committed; upload it again`);
    }
  }

  /**
   * An encrypted repository's blob: the plaintext row is claimed and linked (digest, size:
   * what clients see) but gets no bytes; the bytes are the encrypted object under the
   * repository's key, a row of its own claimed and linked the same way (docs/gc.md holds
   * for it unchanged). The same blob already stored under this key is not stored again.
   */
  private async commitEncrypted(uploadId: string, repositoryId: number, blob: BlobRecord, enc: BlobEncryption): Promise<void> {
    await this.requireKeyUsable(enc);
    const sealed = this.sealedRecord(blob, enc);
    const incarnation = await this.claimBlob(blob);
    const sealedIncarnation = await this.claimBlob(sealed);
    if (!(await this.blobs.stat(sealed.digest))) await this.withKey(() => this.encrypted!.commitFromUpload(uploadId, blob.digest, enc.keyArn, enc.layers));
    await this.blobs.deleteUpload(uploadId);
    await this.hooks.beforeBlobLink?.(blob.digest);
    const now = this.now();
    if (!(await this.meta.linkBlob(repositoryId, sealed, now, sealedIncarnation)) || !(await this.meta.linkBlob(repositoryId, blob, now, incarnation))) {
      throw new DomainError('TooManyRequests', `blob ${blob.digest} was garbage-collected while this upload was being committed; upload it again`);
    }
  }

  /** Claims a blob row, waiting while a collector finishes deleting an older copy of it. */
  private async claimBlob(blob: BlobRecord): Promise<string> {
    const deadline = Date.now() + 30_000;
    for (let wait = 10; ; wait = Math.min(wait * 2, 500)) {
      const incarnation = await this.meta.claimBlob(blob, this.now());
      if (incarnation !== null) return incarnation;
      if (Date.now() > deadline) throw new DomainError('TooManyRequests', `blob ${blob.digest} is being garbage-collected; retry shortly`);
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  async uploadStatus(registryId: string, name: string, uploadId: string): Promise<UploadState> {
    await this.upload(registryId, name, uploadId);
    const info = await this.blobs.statUpload(uploadId);
    if (!info) throw new DomainError('BlobUploadUnknown');
    return { id: uploadId, repository: name, size: info.size };
  }

  /**
   * Appends a chunk. `start`, when the client sent Content-Range, must equal the upload's
   * current size: anything else is out of order (416) and changes nothing.
   */
  async appendToUpload(registryId: string, name: string, uploadId: string, body: Readable, start?: number): Promise<UploadState> {
    await this.upload(registryId, name, uploadId);
    return this.withUploadLock(uploadId, async () => {
      const size = await this.appendLocked(uploadId, body, start);
      return { id: uploadId, repository: name, size };
    });
  }

  /**
   * Finishes an upload (PUT with ?digest=), with an optional last chunk in `body`. `start`,
   * when the client sent Content-Range, must equal the upload's size, as for a PATCH: a
   * chunk elsewhere is out of order (416) and leaves the upload as it was, still usable.
   */
  async completeUpload(registryId: string, name: string, uploadId: string, digest: string, body: Readable | null, start?: number): Promise<BlobRecord> {
    const expected = parseDigest(digest);
    const upload = await this.upload(registryId, name, uploadId);
    return this.withUploadLock(uploadId, async () => {
      let size: number;
      if (body) {
        size = await this.appendLocked(uploadId, body, start);
      } else {
        size = (await this.requireUploadInfo(uploadId)).size;
        if (start !== undefined && start !== size) {
          throw new DomainError('UploadOutOfOrder', `chunk starts at ${start}, upload is at ${size} bytes`, { size });
        }
      }
      const actual = await this.uploadDigest(uploadId, expected.algorithm, size);
      if (actual !== digest) {
        await this.discardUpload(uploadId);
        throw new DomainError('DigestInvalid', `content digest is ${actual}, not ${digest}`);
      }
      const blob = { digest, size };
      await this.commitBlob(uploadId, upload.repositoryId, blob);
      await this.meta.deleteUpload(uploadId);
      this.uploadHashes.delete(uploadId);
      return blob;
    });
  }

  async cancelUpload(registryId: string, name: string, uploadId: string): Promise<void> {
    await this.upload(registryId, name, uploadId);
    await this.withUploadLock(uploadId, () => this.discardUpload(uploadId));
  }

  private async upload(registryId: string, name: string, uploadId: string) {
    const repo = await this.repository(registryId, name, false);
    const upload = /^[A-Za-z0-9_-]{1,128}$/.test(uploadId) ? await this.meta.getUpload(uploadId) : null;
    if (!upload || upload.repositoryId !== repo.id) throw new DomainError('BlobUploadUnknown', `upload ${uploadId.slice(0, 128)} unknown to repository ${name}`);
    return upload;
  }

  private async requireUploadInfo(uploadId: string) {
    const info = await this.blobs.statUpload(uploadId);
    if (!info) throw new DomainError('BlobUploadUnknown');
    return info;
  }

  private async appendLocked(uploadId: string, body: Readable, start?: number): Promise<number> {
    const active = this.uploadHashes.get(uploadId);
    // Where the chunk goes: where the client says, else where this process last left the
    // upload; the store checks that against the upload (no separate status lookup, which
    // costs a round trip to an object store). Only without either is the size looked up.
    const guessed = start === undefined && active !== undefined;
    let offset = start ?? active?.offset ?? (await this.requireUploadInfo(uploadId)).size;
    const tracking = active && active.offset === offset ? active : null;
    const hashing = hashThrough(body, tracking ? tracking.hash : newHash('sha256'));
    for (let attempt = 0; ; attempt++) {
      try {
        const size = await this.blobs.appendUpload(uploadId, offset, hashing);
        if (tracking && attempt === 0) tracking.offset = size;
        return size;
      } catch (err) {
        // The stored bytes and the running hash may now disagree: re-read on completion.
        this.uploadHashes.delete(uploadId);
        if (!(err instanceof UploadOffsetMismatch)) throw err;
        // The upload moved on elsewhere (another node): the store read none of the chunk
        // yet, so it can go to the real end of the upload, as the client asked.
        if (guessed && attempt === 0) {
          offset = err.actual;
          continue;
        }
        hashing.resume(); // drain what the client sends; none of it is stored
        throw new DomainError('UploadOutOfOrder', `chunk starts at ${offset}, upload is at ${err.actual} bytes`, { size: err.actual });
      }
    }
  }

  private async uploadDigest(uploadId: string, algorithm: DigestAlgorithm, size: number): Promise<string> {
    const active = this.uploadHashes.get(uploadId);
    if (active && active.algorithm === algorithm && active.offset === size) {
      return `${algorithm}:${active.hash.copy().digest('hex')}`;
    }
    const hash = newHash(algorithm);
    for await (const chunk of await this.blobs.readUpload(uploadId)) hash.update(chunk as Buffer);
    return `${algorithm}:${hash.digest('hex')}`;
  }

  private async discardUpload(uploadId: string): Promise<void> {
    this.uploadHashes.delete(uploadId);
    await this.meta.deleteUpload(uploadId);
    await this.blobs.deleteUpload(uploadId);
  }

  private async withUploadLock<T>(uploadId: string, work: () => Promise<T>): Promise<T> {
    const previous = this.uploadLocks.get(uploadId) ?? Promise.resolve();
    const run = previous.then(work, work);
    const settled = run.catch(() => {});
    this.uploadLocks.set(uploadId, settled);
    try {
      return await run;
    } finally {
      if (this.uploadLocks.get(uploadId) === settled) this.uploadLocks.delete(uploadId);
    }
  }

  // ---------- manifests ----------

  async putManifest(registryId: string, name: string, reference: string, contentType: string | undefined, body: Buffer, actor: Actor = UNATTRIBUTED): Promise<ManifestPutResult> {
    validateRepositoryName(name);
    const byDigest = looksLikeDigest(reference);
    const requested = byDigest ? parseDigest(reference) : null;
    if (!byDigest) validateTag(reference);
    if (body.length > this.limits.manifestMaxBytes) {
      throw new DomainError('ManifestTooLarge', `manifest is larger than ${this.limits.manifestMaxBytes} bytes`);
    }
    const parsed = parseManifest(body, contentType);
    const digest = digestOf(body, requested?.algorithm ?? 'sha256');
    if (requested && digest !== reference) throw new DomainError('ManifestDigestMismatch', `manifest digest is ${digest}, not ${reference}`);
    const repo = await this.repository(registryId, name, true, actor);
    const now = this.now();
    const enc = await this.encryption(repo.id);
    if (enc) await this.requireKeyUsable(enc);
    const result = await this.meta.putManifest({
      repositoryId: repo.id,
      digest,
      mediaType: parsed.mediaType,
      artifactType: parsed.artifactType,
      subjectDigest: parsed.subject?.digest ?? null,
      content: body,
      annotations: parsed.annotations,
      references: [
        ...parsed.blobs.map((d) => ({ digest: d.digest, kind: 'blob' as const })),
        // An encrypted repository's manifests also reference the stored objects, so that
        // garbage collection keeps them exactly as long as the blobs (docs/gc.md).
        ...(enc ? parsed.blobs.map((d) => ({ digest: this.encrypted!.address(d.digest, enc.keyArn, enc.layers), kind: 'blob' as const })) : []),
        ...parsed.manifests.map((d) => ({ digest: d.digest, kind: 'manifest' as const })),
      ],
      tag: byDigest ? null : reference,
      pushedAt: now,
      // An event when the push changed something: a new manifest, or a tag that moved.
      changes: ({ created, previousTagDigest }) => {
        const tag = byDigest ? null : reference;
        if (!created && (tag === null || previousTagDigest === digest)) return null;
        const detail: ImagePushed = { digest, tag, mediaType: parsed.mediaType, artifactMediaType: parsed.artifactType, subjectDigest: parsed.subject?.digest ?? null, previousDigest: previousTagDigest };
        return { actor, now, events: [{ type: ChangeTypes.imagePushed, registryId, region: this.region, repository: name, detail: { ...detail } }] };
      },
    });
    if (!result.ok) {
      if (result.immutableTag !== undefined) {
        throw new DomainError('ImageTagAlreadyExists', `The image tag '${result.immutableTag}' already exists in the '${name}' repository and cannot be overwritten because the tag is immutable.`);
      }
      if (result.missingBlobs.length > 0) {
        throw new DomainError('ManifestBlobUnknown', `manifest references blobs unknown to ${name}: ${result.missingBlobs.slice(0, 10).join(', ')}`, {
          missing: result.missingBlobs,
        });
      }
      throw new DomainError('ManifestChildUnknown', `index references manifests unknown to ${name}: ${result.missingManifests.slice(0, 10).join(', ')}`, {
        missing: result.missingManifests,
      });
    }
    if (result.created) this.hooks.imagePushed?.({ registryId, repository: name, digest, mediaType: parsed.mediaType, size: body.length, subjectDigest: parsed.subject?.digest ?? null });
    return { digest, subjectDigest: parsed.subject?.digest ?? null, created: result.created };
  }

  /** The manifest a reference names. `accept` lists the media types the client takes (empty: any). */
  async getManifest(registryId: string, name: string, reference: string, accept: readonly string[] = [], principalArn?: string): Promise<ManifestRecord> {
    const { repo, digest } = await this.resolveReadReference(registryId, name, reference);
    const manifest = await this.meta.getManifest(repo.id, digest);
    if (!manifest) throw new DomainError('ManifestUnknown', `manifest ${reference} not found in ${name}`);
    requireActive(name, manifest);
    const enc = await this.encryption(repo.id);
    if (enc) await this.requireKeyUsable(enc);
    checkAcceptable(manifest.mediaType, accept);
    this.hooks.manifestPulled?.(repo.id, digest, registryId, principalArn);
    return manifest;
  }

  async statManifest(registryId: string, name: string, reference: string, accept: readonly string[] = []): Promise<Omit<ManifestRecord, 'content'>> {
    const { repo, digest } = await this.resolveReadReference(registryId, name, reference);
    const manifest = await this.meta.statManifest(repo.id, digest);
    if (!manifest) throw new DomainError('ManifestUnknown', `manifest ${reference} not found in ${name}`);
    requireActive(name, manifest);
    checkAcceptable(manifest.mediaType, accept);
    return manifest;
  }

  /** By digest: deletes the manifest and its tags. By tag: deletes only the tag. */
  async deleteManifest(registryId: string, name: string, reference: string, actor: Actor = UNATTRIBUTED, reason = 'oci-delete'): Promise<void> {
    const repo = await this.repository(registryId, name, false);
    const now = this.now();
    const change = (type: string, detail: Record<string, unknown>): Changes => ({ actor, now, events: [{ type, registryId, region: this.region, repository: name, detail }] });
    if (looksLikeDigest(reference)) {
      parseDigest(reference);
      const deleted = await this.meta.deleteManifest(repo.id, reference, (d) => {
        const detail: ImageDeleted = { digest: reference, tags: d.tags, mediaType: d.mediaType, artifactMediaType: d.artifactType, reason };
        return change(ChangeTypes.imageDeleted, { ...detail });
      });
      if (!deleted) throw new DomainError('ManifestUnknown', `manifest ${reference} not found in ${name}`);
    } else {
      validateTag(reference);
      const removed = await this.meta.deleteTag(repo.id, reference, ({ digest }) => change(ChangeTypes.tagRemoved, { tag: reference, digest, reason }));
      if (!removed) throw new DomainError('ManifestUnknown', `tag ${reference} not found in ${name}`);
    }
  }

  /**
   * The manifest a GET or HEAD names. A reference that is neither a valid tag nor a valid
   * digest names nothing that could exist: 404 MANIFEST_UNKNOWN, as the conformance suite
   * and other registries answer (only a PUT with one is refused as TAG_INVALID).
   */
  private async resolveReadReference(registryId: string, name: string, reference: string) {
    const repo = await this.repository(registryId, name, false);
    const byDigest = looksLikeDigest(reference);
    if (byDigest ? !isWellFormedDigest(reference) : !isValidTag(reference)) {
      throw new DomainError('ManifestUnknown', `manifest ${reference.slice(0, 300)} not found in ${name}: it is neither a valid tag nor a digest`);
    }
    const digest = byDigest ? reference : await this.meta.resolveTag(repo.id, reference);
    if (!digest) throw new DomainError('ManifestUnknown', `tag ${reference} not found in ${name}`);
    return { repo, digest };
  }

  // ---------- tags and referrers ----------

  async listTags(registryId: string, name: string, n: number | undefined, last: string | undefined): Promise<Listing<string>> {
    const repo = await this.repository(registryId, name, false);
    const limit = this.pageSize(n);
    const rows = limit === 0 ? [] : await this.meta.listTags(repo.id, { limit: limit + 1, after: last });
    return page(rows, limit);
  }

  /** The referrers of a manifest as an OCI image index (the Referrers API). */
  async listReferrers(registryId: string, name: string, digest: string, artifactType?: string) {
    parseDigest(digest);
    validateRepositoryName(name);
    // The Referrers API never answers 404: a repository nobody pushed to has no referrers.
    const repo = await this.meta.getRepository(registryId, name);
    // Archived referrers cannot be pulled, so they are not offered (as ListImageReferrers
    // shows only ACTIVE artifacts unless asked).
    const rows = repo ? (await this.meta.listReferrers(repo.id, digest, artifactType)).filter((r) => r.status === 'ACTIVE') : [];
    const manifests: Descriptor[] = rows.map((r) => ({
      mediaType: r.mediaType,
      digest: r.digest,
      size: r.size,
      ...(r.artifactType ? { artifactType: r.artifactType } : {}),
      ...(r.annotations ? { annotations: r.annotations } : {}),
    }));
    return { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests };
  }

  private pageSize(n: number | undefined): number {
    if (n === undefined) return this.limits.maxPageSize;
    if (!Number.isSafeInteger(n) || n < 0 || n > this.limits.maxPageSize) {
      throw new DomainError('PaginationInvalid', `n must be an integer from 0 to ${this.limits.maxPageSize}`);
    }
    return n;
  }
}

function isWellFormedDigest(reference: string): boolean {
  try {
    parseDigest(reference);
    return true;
  } catch {
    return false;
  }
}

function page(rows: string[], limit: number): Listing<string> {
  if (rows.length > limit) {
    const items = rows.slice(0, limit);
    return { items, next: items[items.length - 1] ?? null };
  }
  return { items: rows, next: null };
}

/** Turns a requested range into an inclusive one within the blob, or fails with 416. */
export function resolveRange(request: RangeRequest, size: number): ByteRange {
  let { start, end } = request;
  if (start === undefined) {
    // suffix range: the last `end` bytes
    if (end === undefined || end <= 0) throw new DomainError('RangeNotSatisfiable', 'empty suffix range', { size });
    start = Math.max(0, size - end);
    end = size - 1;
  } else {
    end = end === undefined ? size - 1 : Math.min(end, size - 1);
  }
  if (start >= size || start > end) throw new DomainError('RangeNotSatisfiable', `range ${start}-${end} is outside a ${size}-byte blob`, { size });
  return { start, end };
}

/** An archived image (or one being restored) cannot be pulled; the error says how to get it back. */
function requireActive(name: string, manifest: { digest: string; status: ImageStatus }): void {
  if (manifest.status === 'ACTIVE') return;
  const detail = { imageDigest: manifest.digest, imageStatus: manifest.status };
  if (manifest.status === 'ACTIVATING') {
    throw new DomainError('ImageArchived', `image ${manifest.digest} in ${name} is being restored from the archive (status ACTIVATING); it can be pulled once its status is ACTIVE`, detail);
  }
  throw new DomainError(
    'ImageArchived',
    `image ${manifest.digest} in ${name} is archived and cannot be pulled; restore it with ` +
      `\`aws ecr update-image-storage-class --repository-name ${name} --image-id imageDigest=${manifest.digest} --target-storage-class STANDARD\`, or push it again`,
    detail,
  );
}

function checkAcceptable(mediaType: string, accept: readonly string[]): void {
  if (accept.length === 0 || accept.includes('*/*') || accept.includes('application/*') || accept.includes(mediaType)) return;
  // Only clients that name manifest types are held to them; others get what is stored.
  if (!accept.some((t) => manifestMediaTypes.includes(t))) return;
  throw new DomainError('ManifestNotAcceptable', `manifest is ${mediaType}, which the Accept header does not list`);
}
