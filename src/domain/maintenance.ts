import type { BlobStore } from '../stores/blob-store.js';
import type { MetadataStore } from '../stores/metadata-store.js';

export interface PurgeResult {
  uploads: number;
  bytes: number;
}

/**
 * Removes abandoned uploads: staging data not written to since `cutoff`, upload rows
 * older than `cutoff` whose staging data is gone (a crash between the two writes), and the
 * storage engine's own unfinished writes begun before `cutoff` (S3 multipart uploads of a
 * node that died), each counted as an upload.
 */
export async function purgeStaleUploads(blobs: BlobStore, meta: MetadataStore, cutoff: number, signal?: AbortSignal): Promise<PurgeResult> {
  const result: PurgeResult = { uploads: 0, bytes: 0 };
  for await (const upload of blobs.listUploads()) {
    if (signal?.aborted) return result;
    if (upload.modifiedAt >= cutoff) continue;
    await meta.deleteUpload(upload.id);
    await blobs.deleteUpload(upload.id);
    result.uploads++;
    result.bytes += upload.size;
  }
  if (blobs.abortStalePartialWrites && !signal?.aborted) result.uploads += await blobs.abortStalePartialWrites(cutoff, signal);
  for (;;) {
    const rows = await meta.listUploadsStartedBefore(cutoff, 500);
    const orphaned = [];
    for (const row of rows) if (!(await blobs.statUpload(row.id))) orphaned.push(row);
    for (const row of orphaned) await meta.deleteUpload(row.id);
    result.uploads += orphaned.length;
    if (rows.length < 500 || orphaned.length === 0 || signal?.aborted) return result;
  }
}
