import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
  type CompletedPart,
  type S3Client,
  type _Object,
} from '@aws-sdk/client-s3';
import { Readable } from 'node:stream';
import { DomainError } from '../../domain/errors.js';
import { UploadOffsetMismatch, type BlobStat, type ByteRange, type RedirectingBlobStore, type UploadInfo } from '../blob-store.js';
import { splitDigest } from './content-address.js';
import { countRequests, createS3Client, ensureBucket, httpStatus, type S3Settings } from './s3-client.js';
import { presignGetObject } from './s3-presign.js';
import { MAX_COPY_PART_SIZE, MAX_PARTS, MIN_PART_SIZE, planParts, type Segment, type StagedChunk } from './s3-parts.js';

export interface S3BlobStoreOptions {
  /** Size of the parts an appended chunk is sent to the engine in; at least and by default 5 MiB. */
  partSize?: number;
  /** Keys (and multipart uploads) per listing page, at most 1000 (smaller only to exercise paging in tests). */
  pageSize?: number;
}

/**
 * Blobs in an S3 bucket, under an optional key prefix:
 *   <prefix>blobs/<algorithm>/<hex>                   content, made visible in one step
 *   <prefix>uploads/<id>/started                      an upload exists (empty object)
 *   <prefix>uploads/<id>/chunk-<offset, 16 digits>    each appended chunk, as it came
 *
 * Everything about an upload lives in the bucket, so any node can continue or complete an
 * upload another node started. Chunks are staged as their own objects because a chunked
 * push may send pieces far smaller than S3's 5 MiB part minimum; commit assembles them into
 * the blob with a multipart upload (server-side copies for big stretches, small ones
 * streamed through) or one CopyObject, which the engine publishes atomically.
 * Memory per transfer is at most one part (5 MiB), never the blob.
 */
export class S3BlobStore implements RedirectingBlobStore {
  readonly kind = 's3';
  readonly bucket: string;
  readonly prefix: string;
  /** Parts a chunk is streamed to the engine in (a body's length is not known up front). */
  private readonly partSize: number;
  /** Keys per listing page (S3's maximum is 1000). */
  private readonly pageSize: number;
  /** Requests sent to the engine, by S3 operation (the berth_storage_requests_total metric). */
  readonly requestCounts = new Map<string, number>();
  /**
   * Uploads this process created or listed, with the chunks it knows they hold, so that the
   * next step needs two HEADs instead of a listing (which costs ~50 ms on Ceph). Only a
   * hint: every use checks it against the bucket first (see currentState).
   */
  private readonly known = new Map<string, UploadState>();

  private constructor(
    private readonly client: S3Client,
    settings: S3Settings,
    options: S3BlobStoreOptions,
  ) {
    this.bucket = settings.bucket;
    this.prefix = normalizePrefix(settings.prefix);
    this.partSize = Math.max(options.partSize ?? MIN_PART_SIZE, MIN_PART_SIZE);
    this.pageSize = Math.min(Math.max(options.pageSize ?? 1000, 1), 1000);
    countRequests(client, this.requestCounts);
  }

  /** Builds the client from the settings and the usual AWS sources, and checks (or creates) the bucket. */
  static async open(settings: S3Settings, options: S3BlobStoreOptions = {}): Promise<S3BlobStore> {
    const client = await createS3Client(settings);
    try {
      await ensureBucket(client, settings);
    } catch (err) {
      client.destroy();
      throw err;
    }
    return new S3BlobStore(client, settings, options);
  }

  // ---------- keys ----------

  private blobKey(digest: string): string {
    const [algorithm, hex] = splitDigest(digest);
    return `${this.prefix}blobs/${algorithm}/${hex}`;
  }

  private uploadPrefix(uploadId: string): string {
    if (!/^[A-Za-z0-9_-]{1,128}$/.test(uploadId)) throw new DomainError('BlobUploadUnknown');
    return `${this.prefix}uploads/${uploadId}/`;
  }

  private chunkKey(uploadId: string, offset: number): string {
    return `${this.uploadPrefix(uploadId)}chunk-${String(offset).padStart(16, '0')}`;
  }

  // ---------- uploads ----------

  async createUpload(uploadId: string, signal?: AbortSignal): Promise<void> {
    await this.client.send(
      new PutObjectCommand({ Bucket: this.bucket, Key: `${this.uploadPrefix(uploadId)}started`, Body: Buffer.alloc(0), ContentLength: 0 }),
      { abortSignal: signal },
    );
    this.remember(uploadId, { chunks: [], size: 0, modifiedAt: Date.now(), listed: false });
  }

  async appendUpload(uploadId: string, offset: number, body: Readable, signal?: AbortSignal): Promise<number> {
    const state = await this.currentState(uploadId);
    if (!state) throw new DomainError('BlobUploadUnknown');
    if (state.size !== offset) throw new UploadOffsetMismatch(offset, state.size);
    const key = this.chunkKey(uploadId, offset);
    let written: number;
    try {
      written = await this.writeChunk(key, body, signal);
    } catch (err) {
      // Some bytes may be stored (a failed body keeps what arrived): the bucket knows how many.
      this.known.delete(uploadId);
      throw err;
    }
    const chunks = written > 0 ? [...state.chunks, { key, size: written }] : state.chunks;
    this.remember(uploadId, { chunks, size: offset + written, modifiedAt: Date.now(), listed: state.listed });
    return offset + written;
  }

  async statUpload(uploadId: string): Promise<UploadInfo | null> {
    const state = await this.currentState(uploadId);
    return state && { id: uploadId, size: state.size, modifiedAt: state.modifiedAt };
  }

  async readUpload(uploadId: string): Promise<Readable> {
    const state = await this.currentState(uploadId);
    if (!state) throw new DomainError('BlobUploadUnknown');
    return this.readSegments(state.chunks.map((c) => ({ key: c.key, start: 0, end: c.size })));
  }

  async commitUpload(uploadId: string, digest: string): Promise<void> {
    const target = this.blobKey(digest);
    const state = await this.currentState(uploadId);
    if (!state) throw new DomainError('BlobUploadUnknown');
    const existing = await this.stat(digest);
    // Same digest, same bytes: another push (maybe on another node) got there first.
    if (existing?.size !== state.size) await this.assemble(state.chunks, state.size, target);
    if (state.listed) {
      // Staged (at least partly) elsewhere: a node that died there may have left more behind.
      await this.deleteUpload(uploadId);
    } else {
      // Every chunk was staged by this process, which left no multipart upload open: the
      // keys are known. Anything a racing node left is purged with abandoned uploads.
      this.known.delete(uploadId);
      const keys = [...state.chunks.map((c) => c.key), `${this.uploadPrefix(uploadId)}started`];
      // A DeleteObjects costs as much as ~6 single deletes on Ceph: few keys go one by one, at once.
      if (keys.length <= 6) await Promise.all(keys.map((Key) => this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key }))));
      else await this.deleteKeys(fromList(keys));
    }
  }

  async deleteUpload(uploadId: string): Promise<void> {
    const prefix = this.uploadPrefix(uploadId);
    this.known.delete(uploadId);
    const marker = `${prefix}started`;
    await this.abortMultipartUploads(prefix);
    // The marker goes last: an upload half-deleted by a crash is still listed, and purged again.
    await this.deleteKeys(filter(this.keysUnder(prefix), (key) => key !== marker));
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: marker }));
  }

  /**
   * Every upload, and also staged chunks whose upload is gone (an append that finished
   * after a DELETE of its upload on another node): listed with their bytes so that purging
   * abandoned uploads removes them too. statUpload still knows no such upload.
   */
  async *listUploads(): AsyncIterable<UploadInfo> {
    const root = `${this.prefix}uploads/`;
    let id: string | null = null;
    let objects: _Object[] = [];
    // Keys of one upload are adjacent in the listing: group them as they pass.
    for await (const object of this.objectsUnder(root)) {
      const objectId = object.Key!.slice(root.length).split('/')[0]!;
      if (objectId !== id) {
        if (id !== null) yield uploadInfo(id, objects);
        id = objectId;
        objects = [];
      }
      objects.push(object);
    }
    if (id !== null) yield uploadInfo(id, objects);
  }

  /**
   * The upload's staged chunks (the contiguous run from offset 0) and their total size, as
   * the bucket holds them now; null when there is no upload. What this process remembers
   * still holds when the upload's marker exists and no chunk starts where the remembered
   * run ends (any append, on any node, writes exactly that key): two HEADs, sent together.
   * Otherwise, or when nothing is remembered (the upload began on another node, or before
   * a restart), the upload's keys are listed.
   */
  private async currentState(uploadId: string): Promise<UploadState | null> {
    const known = this.known.get(uploadId);
    if (known) {
      const [marker, next] = await Promise.all([this.exists(`${this.uploadPrefix(uploadId)}started`), this.exists(this.chunkKey(uploadId, known.size))]);
      if (marker && !next) return known;
      this.known.delete(uploadId);
      if (!marker) return null;
    }
    const objects: _Object[] = [];
    for await (const object of this.objectsUnder(this.uploadPrefix(uploadId))) objects.push(object);
    const state = uploadState(objects);
    if (state) this.remember(uploadId, state);
    return state;
  }

  private remember(uploadId: string, state: UploadState): void {
    // Most recently used last; the oldest go past the bound (an upload forgotten is listed again).
    this.known.delete(uploadId);
    this.known.set(uploadId, state);
    if (this.known.size > MAX_KNOWN_UPLOADS) this.known.delete(this.known.keys().next().value!);
  }

  private async exists(key: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return true;
    } catch (err) {
      if (httpStatus(err) === 404) return false;
      throw err;
    }
  }

  /**
   * Streams `body` into one staged object. Its length is not known up front and S3 wants a
   * length for every request, so the bytes are gathered into parts of `partSize` (S3's
   * 5 MiB minimum by default), each sent before more is read: one part is the most held in
   * memory. A body that fits one part is one PutObject. When the body fails (client gone,
   * aborted) the bytes received so far are still stored, so the upload's size tells the
   * client where to resume, as with the filesystem store.
   */
  private async writeChunk(key: string, body: Readable, signal?: AbortSignal): Promise<number> {
    const onAbort = () => body.destroy(signal?.reason ?? new Error('aborted'));
    if (signal?.aborted) onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    let buffered: Buffer[] = [];
    let bufferedSize = 0;
    let total = 0;
    let multipart: { uploadId: string; parts: CompletedPart[] } | null = null;

    const sendPart = async () => {
      const upload = (multipart ??= {
        uploadId: (await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key }))).UploadId!,
        parts: [],
      });
      const PartNumber = upload.parts.length + 1;
      if (PartNumber > MAX_PARTS) throw new DomainError('BlobUploadInvalid', 'chunk too large for one staged object');
      const ContentLength = bufferedSize;
      const Body = drainingStream(buffered);
      buffered = [];
      bufferedSize = 0;
      const r = await this.client.send(new UploadPartCommand({ Bucket: this.bucket, Key: key, UploadId: upload.uploadId, PartNumber, Body, ContentLength }));
      upload.parts.push({ PartNumber, ETag: r.ETag });
    };
    // Parts grow every 1000 parts, so the 10,000 S3 allows reach far past 50 GB.
    const partLimit = () => this.partSize * (1 + Math.floor((multipart?.parts.length ?? 0) / 1000));

    let bodyError: unknown = null;
    try {
      const pieces = body[Symbol.asyncIterator]();
      for (;;) {
        let next: IteratorResult<unknown>;
        try {
          next = await pieces.next();
        } catch (err) {
          bodyError = err;
          break;
        }
        if (next.done) break;
        const piece = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value as Uint8Array | string);
        buffered.push(piece);
        bufferedSize += piece.length;
        total += piece.length;
        if (bufferedSize >= partLimit()) await sendPart();
      }
      // Store what arrived, the whole body or what came before it failed.
      if (multipart) {
        if (bufferedSize > 0) await sendPart();
        const { uploadId, parts } = multipart as { uploadId: string; parts: CompletedPart[] };
        await this.client.send(new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } }));
      } else if (total > 0) {
        const data = buffered.length === 1 ? buffered[0]! : Buffer.concat(buffered, bufferedSize);
        buffered = [];
        await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: data, ContentLength: data.length }));
      }
    } catch (err) {
      body.destroy();
      const upload = multipart as { uploadId: string } | null;
      if (upload) await this.abortMultipart(key, upload.uploadId);
      throw err;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    if (bodyError) throw bodyError;
    return total;
  }

  /** Makes `target` hold the chunks' bytes, in one step visible to readers. */
  private async assemble(chunks: StagedChunk[], size: number, target: string): Promise<void> {
    if (chunks.length === 0) {
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: target, Body: Buffer.alloc(0), ContentLength: 0 }));
    } else if (chunks.length === 1 && size <= MAX_COPY_PART_SIZE) {
      await this.client.send(new CopyObjectCommand({ Bucket: this.bucket, Key: target, CopySource: this.copySource(chunks[0]!.key) }));
    } else {
      const plan = planParts(chunks);
      if (plan.length > MAX_PARTS) throw new DomainError('BlobUploadInvalid', `upload needs ${plan.length} parts, more than S3 allows`);
      const { UploadId } = await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: target }));
      try {
        const parts: CompletedPart[] = [];
        for (const [i, part] of plan.entries()) {
          const PartNumber = i + 1;
          if (part.kind === 'copy') {
            const { key, start, end } = part.segment;
            const r = await this.client.send(
              new UploadPartCopyCommand({
                Bucket: this.bucket,
                Key: target,
                UploadId,
                PartNumber,
                CopySource: this.copySource(key),
                CopySourceRange: `bytes=${start}-${end - 1}`,
              }),
            );
            parts.push({ PartNumber, ETag: r.CopyPartResult?.ETag });
          } else {
            const r = await this.client.send(
              new UploadPartCommand({ Bucket: this.bucket, Key: target, UploadId, PartNumber, Body: this.readSegments(part.segments), ContentLength: part.size }),
            );
            parts.push({ PartNumber, ETag: r.ETag });
          }
        }
        await this.client.send(new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key: target, UploadId, MultipartUpload: { Parts: parts } }));
      } catch (err) {
        await this.abortMultipart(target, UploadId!);
        throw err;
      }
    }
    const written = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: target }));
    if (written.ContentLength !== size) {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: target }));
      throw new Error(`S3 commit of ${target} wrote ${written.ContentLength} bytes, expected ${size}`);
    }
  }

  // ---------- blobs ----------

  async stat(digest: string): Promise<BlobStat | null> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.blobKey(digest) }));
      return { size: head.ContentLength ?? 0, modifiedAt: head.LastModified?.getTime() ?? 0 };
    } catch (err) {
      if (httpStatus(err) === 404) return null;
      throw err;
    }
  }

  async read(digest: string, range?: ByteRange): Promise<Readable> {
    try {
      const object = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: this.blobKey(digest), ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}) }),
      );
      return object.Body as Readable;
    } catch (err) {
      if (httpStatus(err) === 404) throw new DomainError('BlobUnknown');
      throw err;
    }
  }

  async delete(digest: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.blobKey(digest) }));
  }

  /**
   * DeleteObjects, up to 1000 keys a request. The engine answers per key: a key it reports
   * an error for (other than NoSuchKey, which means gone) is left out of the result.
   */
  async deleteMany(digests: string[], signal?: AbortSignal): Promise<Set<string>> {
    const gone = new Set<string>();
    for (let i = 0; i < digests.length; i += 1000) {
      const batch = new Map(digests.slice(i, i + 1000).map((digest) => [this.blobKey(digest), digest]));
      const r = await this.client.send(
        new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: [...batch.keys()].map((Key) => ({ Key })), Quiet: true } }),
        { abortSignal: signal },
      );
      const failed = new Set((r.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey').map((e) => e.Key));
      for (const [key, digest] of batch) if (!failed.has(key)) gone.add(digest);
    }
    return gone;
  }

  async *list(): AsyncIterable<{ digest: string } & BlobStat> {
    const root = `${this.prefix}blobs/`;
    for await (const object of this.objectsUnder(root)) {
      const [algorithm, hex, extra] = object.Key!.slice(root.length).split('/');
      if (!algorithm || !hex || extra !== undefined) continue;
      yield { digest: `${algorithm}:${hex}`, size: object.Size ?? 0, modifiedAt: object.LastModified?.getTime() ?? 0 };
    }
  }

  async ping(signal?: AbortSignal): Promise<void> {
    await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }), { abortSignal: signal });
  }

  /** A presigned GetObject URL: the client fetches the bytes from the engine itself (and may send a Range header). */
  async presignedUrl(digest: string, ttlSeconds: number): Promise<string> {
    return presignGetObject(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: this.blobKey(digest) }), ttlSeconds);
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  // ---------- helpers ----------

  /** One stream over byte ranges of several objects, fetched one after another. */
  private readSegments(segments: Segment[]): Readable {
    const { client, bucket } = this;
    async function* bytes() {
      for (const { key, start, end } of segments) {
        if (end <= start) continue;
        const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: `bytes=${start}-${end - 1}` }));
        yield* object.Body as Readable;
      }
    }
    return Readable.from(bytes(), { objectMode: false, highWaterMark: 64 * 1024 });
  }

  private copySource(key: string): string {
    return encodeURIComponent(`${this.bucket}/${key}`).replace(/%2F/g, '/');
  }

  private async *objectsUnder(prefix: string): AsyncIterable<_Object> {
    let token: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token, MaxKeys: this.pageSize }));
      yield* page.Contents ?? [];
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  private async *keysUnder(prefix: string): AsyncIterable<string> {
    for await (const object of this.objectsUnder(prefix)) yield object.Key!;
  }

  private async deleteKeys(keys: AsyncIterable<string>): Promise<void> {
    let batch: string[] = [];
    const flush = async () => {
      if (batch.length === 0) return;
      const r = await this.client.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }));
      const failed = (r.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
      if (failed.length > 0) throw new Error(`S3 could not delete ${failed.length} objects: ${failed[0]!.Code} ${failed[0]!.Message}`);
      batch = [];
    };
    for await (const key of keys) {
      batch.push(key);
      if (batch.length === 1000) await flush();
    }
    await flush();
  }

  /** Multipart uploads left by an append or commit that died half-way (a node crash). */
  private async abortMultipartUploads(prefix: string): Promise<void> {
    for await (const upload of this.multipartUploadsUnder(prefix)) await this.abortMultipart(upload.key, upload.uploadId);
  }

  /**
   * Aborts multipart uploads anywhere under the prefix begun before `before`: parts of a
   * staged chunk or of a commit whose node died, which no upload's deletion reaches (a
   * commit's multipart upload is on the blob's key). The engine keeps their parts, and
   * bills them, until someone does.
   */
  async abortStalePartialWrites(before: number, signal?: AbortSignal): Promise<number> {
    let aborted = 0;
    for await (const upload of this.multipartUploadsUnder(this.prefix)) {
      if (signal?.aborted) break;
      if (upload.initiated >= before) continue;
      await this.abortMultipart(upload.key, upload.uploadId);
      aborted++;
    }
    return aborted;
  }

  private async *multipartUploadsUnder(prefix: string): AsyncIterable<{ key: string; uploadId: string; initiated: number }> {
    let KeyMarker: string | undefined;
    let UploadIdMarker: string | undefined;
    do {
      const page = await this.client.send(new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: prefix, KeyMarker, UploadIdMarker, MaxUploads: this.pageSize }));
      for (const upload of page.Uploads ?? []) yield { key: upload.Key!, uploadId: upload.UploadId!, initiated: upload.Initiated?.getTime() ?? 0 };
      KeyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
      UploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
    } while (KeyMarker);
  }

  private async abortMultipart(key: string, uploadId: string): Promise<void> {
    await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId })).catch(() => {});
  }
}

interface UploadState {
  chunks: StagedChunk[];
  size: number;
  modifiedAt: number;
  /** Read from a listing: chunks may have been staged by another node (or before a restart). */
  listed: boolean;
}

const MAX_KNOWN_UPLOADS = 10_000;

const CHUNK = /\/chunk-(\d{16})$/;

/** Reads an upload's state from its objects: null without the `started` marker. */
function uploadState(objects: _Object[]): UploadState | null {
  if (!objects.some((o) => o.Key!.endsWith('/started'))) return null;
  const staged = objects
    .map((o) => ({ key: o.Key!, offset: Number(CHUNK.exec(o.Key!)?.[1] ?? NaN), size: o.Size ?? 0 }))
    .filter((c) => Number.isSafeInteger(c.offset))
    .sort((a, b) => a.offset - b.offset);
  // Only the contiguous run from 0 counts: a chunk past a gap is no part of the upload.
  const chunks: StagedChunk[] = [];
  let size = 0;
  for (const c of staged) {
    if (c.offset !== size) break;
    chunks.push({ key: c.key, size: c.size });
    size += c.size;
  }
  const modifiedAt = Math.max(...objects.map((o) => o.LastModified?.getTime() ?? 0));
  return { chunks, size, modifiedAt, listed: true };
}

function uploadInfo(id: string, objects: _Object[]): UploadInfo {
  const state = uploadState(objects);
  if (state) return { id, size: state.size, modifiedAt: state.modifiedAt };
  // Leftovers of an upload that is gone: what they hold and when they were written.
  return { id, size: objects.reduce((n, o) => n + (o.Size ?? 0), 0), modifiedAt: Math.max(...objects.map((o) => o.LastModified?.getTime() ?? 0)) };
}

/**
 * A request body over gathered pieces that lets go of each piece as it is sent (the HTTP
 * stack may keep a finished request, and a Buffer body with it, referenced for seconds).
 */
function drainingStream(pieces: Buffer[]): Readable {
  let next = 0;
  return new Readable({
    read() {
      const piece = pieces[next];
      if (piece === undefined) return void this.push(null);
      pieces[next++] = EMPTY;
      this.push(piece);
    },
  });
}
const EMPTY = Buffer.alloc(0);

async function* fromList<T>(items: T[]): AsyncIterable<T> {
  yield* items;
}

async function* filter<T>(items: AsyncIterable<T>, keep: (item: T) => boolean): AsyncIterable<T> {
  for await (const item of items) if (keep(item)) yield item;
}

function normalizePrefix(prefix: string | undefined): string {
  const trimmed = (prefix ?? '').replace(/^\/+|\/+$/g, '');
  return trimmed === '' ? '' : `${trimmed}/`;
}

