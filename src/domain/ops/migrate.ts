import { pipeline } from 'node:stream/promises';
import type { BlobStore } from '../../stores/blob-store.js';
import { HashingStream, newHash, parseDigest } from '../digest.js';

// Moving a registry to other stores (the embedded SQLite + folder default to PostgreSQL +
// S3, typically): every blob is copied and verified against its digest as it streams, then
// the metadata rows follow. Blobs go first so the target never names bytes it lacks; a
// server may be started on the target as soon as the copy ends. Re-running is safe and
// resumes: blobs already in the target are skipped, rows are upserted.

export interface MigrationInput {
  fromBlobs: BlobStore;
  toBlobs: BlobStore;
  /** Copies the metadata rows (a store-level operation the composition supplies). */
  copyMetadata(progress: (table: string, rows: number, done: boolean) => void): Promise<Record<string, number>>;
  /** One line of progress for people. */
  report(line: string): void;
  signal?: AbortSignal;
}

export interface MigrationSummary {
  blobs: { total: number; copied: number; present: number; bytesCopied: number; failed: Array<{ digest: string; reason: string }> };
  rows: Record<string, number>;
}

export async function migrateRegistry(input: MigrationInput): Promise<MigrationSummary> {
  const { fromBlobs, toBlobs, report, signal } = input;
  const summary: MigrationSummary = { blobs: { total: 0, copied: 0, present: 0, bytesCopied: 0, failed: [] }, rows: {} };

  // Counted first, for progress.
  for await (const blob of fromBlobs.list()) {
    void blob;
    summary.blobs.total++;
  }
  report(`blobs: ${summary.blobs.total} in the source`);
  let seen = 0;
  for await (const blob of fromBlobs.list()) {
    signal?.throwIfAborted();
    seen++;
    const where = `[${seen}/${summary.blobs.total}] ${blob.digest} (${formatBytes(blob.size)})`;
    const existing = await toBlobs.stat(blob.digest);
    if (existing && existing.size === blob.size) {
      summary.blobs.present++;
      report(`${where} already there`);
      continue;
    }
    try {
      await copyBlob(fromBlobs, toBlobs, blob.digest, signal);
      summary.blobs.copied++;
      summary.blobs.bytesCopied += blob.size;
      report(`${where} copied, digest verified`);
    } catch (err) {
      if (signal?.aborted) throw err;
      const reason = (err as Error).message;
      summary.blobs.failed.push({ digest: blob.digest, reason });
      report(`${where} FAILED: ${reason}`);
    }
  }

  summary.rows = await input.copyMetadata((table, rows, done) => {
    if (done) report(`metadata: ${table}: ${rows} rows`);
  });
  return summary;
}

/** Streams one blob into the target through an upload, committing only when the bytes hash to its digest. */
async function copyBlob(from: BlobStore, to: BlobStore, digest: string, signal?: AbortSignal): Promise<void> {
  const { algorithm, hex } = parseDigest(digest);
  // A fixed id per blob: what an interrupted run left staged is cleared first.
  const uploadId = `migrate-${hex.slice(0, 48)}`;
  await to.deleteUpload(uploadId);
  await to.createUpload(uploadId, signal);
  try {
    const hashing = new HashingStream(newHash(algorithm));
    const source = await from.read(digest);
    const appended = to.appendUpload(uploadId, 0, hashing, signal);
    await Promise.all([pipeline(source, hashing, { signal }).catch((err) => {
      hashing.destroy(err);
      throw err;
    }), appended]);
    const actual = `${algorithm}:${hashing.hash.digest('hex')}`;
    if (actual !== digest) throw new Error(`the source's bytes hash to ${actual}: not copied`);
    await to.commitUpload(uploadId, digest, signal);
  } catch (err) {
    await to.deleteUpload(uploadId).catch(() => {});
    throw err;
  }
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}
