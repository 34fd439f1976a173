import type { Readable } from 'node:stream';

// The blob store is content-addressed bytes and nothing else: it knows nothing of
// repositories, manifests or tags (those live in the metadata store). Digests are
// verified by the domain while bytes stream through; the store only keeps them.

export interface BlobStat {
  size: number;
  /** When the object was last written (ms since epoch); used by garbage collection. */
  modifiedAt: number;
}

export interface ByteRange {
  /** First byte, inclusive. */
  start: number;
  /** Last byte, inclusive. */
  end: number;
}

export interface UploadInfo {
  id: string;
  size: number;
  modifiedAt: number;
}

export interface BlobStore {
  readonly kind: string;

  /** Creates an empty staging area for an upload. */
  createUpload(uploadId: string, signal?: AbortSignal): Promise<void>;
  /**
   * Appends `body` to an upload at `offset`, which must equal the upload's current size
   * (else UploadOffsetMismatch; BlobUploadUnknown when there is no such upload). Resolves to
   * the new size. On a failed or aborted body the upload keeps whatever bytes reached storage;
   * its size tells the client where to resume, and it no longer changes once this settles.
   */
  appendUpload(uploadId: string, offset: number, body: Readable, signal?: AbortSignal): Promise<number>;
  /** Current size of an upload, or null when there is no such upload. */
  statUpload(uploadId: string): Promise<UploadInfo | null>;
  /** Reads an upload's bytes so far (used to re-hash an upload resumed on another process). BlobUploadUnknown when missing. */
  readUpload(uploadId: string): Promise<Readable>;
  /**
   * Makes an upload durable and visible under its content address, then removes the
   * staging area. After it resolves the bytes survive a crash. Idempotent when the
   * content already exists. BlobUploadUnknown when there is no such upload.
   */
  commitUpload(uploadId: string, digest: string, signal?: AbortSignal): Promise<void>;
  /** Removes an upload's staging area; no error when it is already gone. */
  deleteUpload(uploadId: string): Promise<void>;
  /** Every upload staging area (and leftovers of deleted ones), for purging abandoned ones. */
  listUploads(): AsyncIterable<UploadInfo>;
  /**
   * Optional, for engines with partial-write state of their own (S3 multipart uploads):
   * aborts what was begun before `before` and never finished (a node died mid-write).
   * Resolves to how many were aborted.
   */
  abortStalePartialWrites?(before: number, signal?: AbortSignal): Promise<number>;

  stat(digest: string): Promise<BlobStat | null>;
  /** Streams a blob, or the inclusive range of it. Throws BlobUnknown when it does not exist. */
  read(digest: string, range?: ByteRange): Promise<Readable>;
  /** Removes a blob's bytes; no error when they are already gone. */
  delete(digest: string): Promise<void>;
  /**
   * Optional, for engines that delete many objects in one request (S3 DeleteObjects):
   * removes these blobs' bytes and resolves to the digests whose bytes are gone (deleted,
   * or already missing). A digest left out could not be deleted and still has its bytes.
   */
  deleteMany?(digests: string[], signal?: AbortSignal): Promise<Set<string>>;
  /** Every stored blob, for garbage collection. */
  list(): AsyncIterable<{ digest: string } & BlobStat>;

  /**
   * Checks that the storage is reachable and usable right now (the folder exists and is
   * writable; the bucket answers with these credentials). Throws with a reason otherwise.
   * Used by /readyz, so it must be cheap.
   */
  ping(signal?: AbortSignal): Promise<void>;

  close(): Promise<void>;

  /** Optional: requests sent to a remote storage engine so far, by operation (for metrics). */
  readonly requestCounts?: ReadonlyMap<string, number>;
}

/**
 * An optional capability: a store whose blobs can be fetched by clients straight from the
 * storage engine through a short-lived signed URL (S3 presigned GetObject), so that pulls
 * skip the node. Check for it with `canRedirect(store)` where it is used.
 */
export interface RedirectingBlobStore extends BlobStore {
  /** A URL that GETs the blob's bytes (whole, or with a Range header) for `ttlSeconds`. */
  presignedUrl(digest: string, ttlSeconds: number): Promise<string>;
}

export function canRedirect(store: BlobStore): store is RedirectingBlobStore {
  return typeof (store as Partial<RedirectingBlobStore>).presignedUrl === 'function';
}

/**
 * An optional capability of a stream from `BlobStore.read`: a consumer that knows when it is
 * completely done with a chunk (a socket that has taken it) may hand it back, and the stream
 * reads later chunks into it. Serving a pull then allocates a few buffers instead of one per
 * chunk: fresh 1 MiB buffers made V8 run a full collection every ~64 MiB served (external
 * memory pressure), which cost more CPU than the serving itself. Handing back is optional;
 * a chunk handed back must never be touched again by the consumer.
 */
export interface RecyclingReadable extends Readable {
  recycle(chunk: Buffer): void;
}

export function canRecycle(stream: Readable): stream is RecyclingReadable {
  return typeof (stream as Partial<RecyclingReadable>).recycle === 'function';
}

/** Raised by appendUpload when a chunk does not start where the upload ends. */
export class UploadOffsetMismatch extends Error {
  constructor(readonly expected: number, readonly actual: number) {
    super(`upload is at ${actual} bytes, chunk starts at ${expected}`);
  }
}
