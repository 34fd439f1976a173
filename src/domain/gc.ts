import type { BlobStore } from '../stores/blob-store.js';
import type { BlobLink, BlobMark, BlobRecord, MetadataStore } from '../stores/metadata-store.js';
import { purgeStaleUploads } from './maintenance.js';

// Online garbage collection over the two stores. It never races a push: the metadata
// store is where blobs are claimed, and bytes are deleted only while the collector holds a
// committed mark on the blob's row, which pushes and links refuse. The full argument is in
// docs/gc.md. Every pass pages through the store; nothing is loaded whole.

export interface GcOptions {
  /** Nothing claimed, linked or written more recently than this is touched. */
  graceMs: number;
  /** A mark older than this belongs to a collector that died; the next run finishes it. */
  markLeaseMs?: number;
  /** Abandoned uploads (staging data untouched since this time) are purged too, when set. */
  staleUploadsBefore?: number;
  /** List the blob store for orphan bytes (default true); the listing is the expensive part. */
  scanStorage?: boolean;
  /** Report what would be freed without changing anything. */
  dryRun?: boolean;
  batchSize?: number;
  signal?: AbortSignal;
  onProgress?: (progress: GcProgress) => void;
  clock?: () => number;
  /** Test seams: the race tests pause here. */
  hooks?: {
    afterMark?(digests: string[]): Promise<void>;
    afterDeleteBytes?(digests: string[]): Promise<void>;
  };
}

export type GcPhase = 'uploads' | 'links' | 'blobs' | 'orphans' | 'stale-marks';

export interface GcProgress extends GcResult {
  phase: GcPhase;
}

export interface GcResult {
  dryRun: boolean;
  /** Repository links to blobs that no manifest in the repository references. */
  linksRemoved: number;
  /** Blobs (rows and bytes) that nothing links or references. */
  blobsDeleted: number;
  /** Bytes in storage without any metadata row (a push that died before linking). */
  orphansDeleted: number;
  /**
   * Bytes the storage refused to delete (per-key errors of a batch delete). Their marks
   * stay, so pushes of those blobs wait, and a run after markLeaseMs tries them again.
   */
  deleteFailures: number;
  uploadsPurged: number;
  bytesFreed: number;
  durationMs: number;
}

export const defaultMarkLeaseMs = 10 * 60_000;

export async function collectGarbage(blobs: BlobStore, meta: MetadataStore, options: GcOptions): Promise<GcResult> {
  const now = options.clock ?? Date.now;
  const started = now();
  const cutoff = started - options.graceMs;
  const batch = options.batchSize ?? 500;
  const dryRun = options.dryRun ?? false;
  const signal = options.signal;
  const result: GcResult = { dryRun, linksRemoved: 0, blobsDeleted: 0, orphansDeleted: 0, deleteFailures: 0, uploadsPurged: 0, bytesFreed: 0, durationMs: 0 };
  const report = (phase: GcPhase) => options.onProgress?.({ phase, ...result, durationMs: now() - started });

  // Bytes are deleted only for rows this collector marked, then the marks are removed;
  // resolves to the marks whose bytes are gone (only those were freed).
  const deleteMarked = async <M extends BlobMark>(marks: M[]): Promise<M[]> => {
    await options.hooks?.afterMark?.(marks.map((m) => m.digest));
    let done = marks;
    if (blobs.deleteMany) {
      // One request per 1000 keys; a key the engine refused keeps its mark and its row.
      const gone = await blobs.deleteMany(marks.map((m) => m.digest));
      done = marks.filter((m) => gone.has(m.digest));
      result.deleteFailures += marks.length - done.length;
    } else {
      // A few deletes in flight at once (each is a round trip).
      let next = 0;
      const worker = async () => {
        while (next < marks.length) await blobs.delete(marks[next++]!.digest);
      };
      await Promise.all(Array.from({ length: Math.min(8, marks.length) }, worker));
    }
    await options.hooks?.afterDeleteBytes?.(done.map((m) => m.digest));
    await meta.finishBlobDeletion(done);
    return done;
  };

  // 0. Collectors that died between marking and unmarking.
  if (!dryRun) {
    const leaseCutoff = started - (options.markLeaseMs ?? defaultMarkLeaseMs);
    for (;;) {
      if (signal?.aborted) break;
      const stale = await meta.listStaleMarks(leaseCutoff, batch);
      if (stale.length === 0) break;
      const done = await deleteMarked(stale);
      report('stale-marks');
      // Marks whose bytes the engine refused are listed again: leave them to a later run.
      if (stale.length < batch || done.length < stale.length) break;
    }
  }

  // 1. Abandoned uploads.
  if (options.staleUploadsBefore !== undefined && !dryRun && !signal?.aborted) {
    const purged = await purgeStaleUploads(blobs, meta, options.staleUploadsBefore, signal);
    result.uploadsPurged += purged.uploads;
    result.bytesFreed += purged.bytes;
    report('uploads');
  }

  // 2. Links no manifest needs, older than the grace period (uploaded, never referenced,
  //    or left behind when their manifests were deleted).
  let afterLink: BlobLink | undefined;
  while (!signal?.aborted) {
    const links = await meta.listUnreferencedLinks(cutoff, batch, afterLink);
    if (links.length === 0) break;
    afterLink = links[links.length - 1];
    if (dryRun) result.linksRemoved += links.length;
    else for (const [repositoryId, digests] of groupByRepository(links)) result.linksRemoved += (await meta.removeUnreferencedLinks(repositoryId, digests, cutoff)).length;
    report('links');
    if (links.length < batch) break;
  }

  // 3. Blob rows nothing links or references: mark (re-checked in the transaction),
  //    delete bytes, remove the rows.
  let afterDigest: string | undefined;
  while (!signal?.aborted) {
    const candidates = await meta.listCollectableBlobs(cutoff, batch, afterDigest);
    if (candidates.length === 0) break;
    afterDigest = candidates[candidates.length - 1]!.digest;
    if (dryRun) {
      result.blobsDeleted += candidates.length;
      result.bytesFreed += sum(candidates);
    } else {
      const markedAt = now();
      const marked = await meta.markBlobsForDeletion(
        candidates.map((c) => c.digest),
        cutoff,
        markedAt,
      );
      const done = await deleteMarked(marked.map((m) => ({ ...m, markedAt })));
      result.blobsDeleted += done.length;
      result.bytesFreed += sum(done);
    }
    report('blobs');
    if (candidates.length < batch) break;
  }

  // 4. Bytes in storage with no row at all, written before the grace period.
  let pending: BlobRecord[] = [];
  const flushOrphans = async () => {
    const entries = pending;
    pending = [];
    if (entries.length === 0) return;
    if (dryRun) {
      const known = await meta.existingBlobs(entries.map((e) => e.digest));
      const orphans = entries.filter((e) => !known.has(e.digest));
      result.orphansDeleted += orphans.length;
      result.bytesFreed += sum(orphans);
    } else {
      const markedAt = now();
      const claimed = new Set(await meta.markOrphanBytes(entries, markedAt));
      const marks = entries.filter((e) => claimed.has(e.digest)).map((e) => ({ ...e, markedAt }));
      const done = await deleteMarked(marks);
      result.orphansDeleted += done.length;
      result.bytesFreed += sum(done);
    }
    report('orphans');
  };
  if (options.scanStorage !== false && !signal?.aborted) {
    for await (const stored of blobs.list()) {
      if (signal?.aborted) break;
      if (stored.modifiedAt >= cutoff) continue;
      pending.push({ digest: stored.digest, size: stored.size });
      if (pending.length >= batch) await flushOrphans();
    }
    await flushOrphans();
  }

  result.durationMs = now() - started;
  return result;
}

function groupByRepository(links: BlobLink[]): Map<number, string[]> {
  const groups = new Map<number, string[]>();
  for (const link of links) {
    const digests = groups.get(link.repositoryId);
    if (digests) digests.push(link.digest);
    else groups.set(link.repositoryId, [link.digest]);
  }
  return groups;
}

function sum(blobs: { size: number }[]): number {
  return blobs.reduce((total, b) => total + b.size, 0);
}

export interface GarbageCollectorSettings {
  graceMs: number;
  /** Uploads untouched for this long are purged in the same run. */
  staleUploadsAfterMs?: number;
  markLeaseMs?: number;
}

/** One collector per process: runs (scheduled or on demand) queue behind each other. */
export class GarbageCollector {
  private last: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly blobs: BlobStore,
    private readonly meta: MetadataStore,
    private readonly settings: GarbageCollectorSettings,
  ) {}

  run(options: Pick<GcOptions, 'dryRun' | 'signal' | 'onProgress' | 'scanStorage'> = {}): Promise<GcResult> {
    const work = () =>
      collectGarbage(this.blobs, this.meta, {
        graceMs: this.settings.graceMs,
        markLeaseMs: this.settings.markLeaseMs,
        staleUploadsBefore: this.settings.staleUploadsAfterMs === undefined ? undefined : Date.now() - this.settings.staleUploadsAfterMs,
        ...options,
      });
    const run = this.last.then(work, work);
    this.last = run.catch(() => {});
    return run;
  }
}
