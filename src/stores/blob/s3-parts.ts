// Plans how the staged chunks of an upload become the parts of one multipart upload.
// S3 wants every part but the last to be at least 5 MiB and at most 5 GiB, while a
// chunked push may stage chunks of any size. Big stretches are copied inside the object
// store (UploadPartCopy, no bytes through the node); small chunks are gathered and
// streamed through the node into parts of at least 5 MiB.

export const MIN_PART_SIZE = 5 * 1024 * 1024;
/** Largest part copied in one UploadPartCopy (S3 allows 5 GiB; smaller retries cheaper). */
export const MAX_COPY_PART_SIZE = 1024 * 1024 * 1024;
export const MAX_PARTS = 10_000;

export interface StagedChunk {
  key: string;
  size: number;
}

/** Bytes [start, end) of one staged object. */
export interface Segment {
  key: string;
  start: number;
  end: number;
}

export type PartPlan =
  | { kind: 'copy'; segment: Segment }
  | { kind: 'stream'; segments: Segment[]; size: number };

export function planParts(chunks: StagedChunk[], minPart = MIN_PART_SIZE, maxCopy = MAX_COPY_PART_SIZE): PartPlan[] {
  const parts: PartPlan[] = [];
  let pending: Segment[] = [];
  let pendingSize = 0;
  const flush = () => {
    if (pendingSize > 0) parts.push({ kind: 'stream', segments: pending, size: pendingSize });
    pending = [];
    pendingSize = 0;
  };
  const addCopies = (key: string, start: number, end: number) => {
    const size = end - start;
    const count = Math.ceil(size / maxCopy);
    const piece = Math.ceil(size / count);
    for (let at = start; at < end; at += piece) parts.push({ kind: 'copy', segment: { key, start: at, end: Math.min(at + piece, end) } });
  };

  for (const chunk of chunks) {
    let start = 0;
    if (chunk.size === 0) continue;
    if (pendingSize > 0) {
      // Top the gathered bytes up to a full part first.
      const take = Math.min(minPart - pendingSize, chunk.size);
      pending.push({ key: chunk.key, start: 0, end: take });
      pendingSize += take;
      start = take;
      if (pendingSize >= minPart) flush();
    }
    const rest = chunk.size - start;
    if (rest === 0) continue;
    if (rest >= minPart) {
      addCopies(chunk.key, start, chunk.size);
    } else {
      pending.push({ key: chunk.key, start, end: chunk.size });
      pendingSize += rest;
    }
  }
  flush();
  return parts;
}
