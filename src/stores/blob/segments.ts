import { createCipheriv, createDecipheriv } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import type { ByteRange } from '../blob-store.js';

// One layer of blob encryption: AES-256-GCM over fixed 64 KiB segments, each with its own
// 16-byte tag, under a data key used for this one blob only. Segment i's nonce is i (8
// bytes) then a last-segment flag (4 bytes), so segments cannot be reordered, dropped or
// the blob truncated at a boundary without the check failing; the blob's digest is the
// additional data, so an object cannot pass for another. A range of the plaintext needs
// only the segments that hold it. Every segment is verified before any of its bytes leave
// (a flipped bit is an error, never wrong bytes). An empty blob is one empty last segment.

export const SEGMENT = 64 * 1024;
const TAG = 16;

function nonce(index: number, last: boolean): Buffer {
  const n = Buffer.alloc(12);
  n.writeBigUInt64BE(BigInt(index), 0);
  n.writeUInt32BE(last ? 1 : 0, 8);
  return n;
}

/** How many segments a plaintext of this size has (at least one). */
export const segmentCount = (plainSize: number) => Math.max(1, Math.ceil(plainSize / SEGMENT));
/** The size of the encrypted layer of a plaintext of this size. */
export const sealedSize = (plainSize: number) => plainSize + segmentCount(plainSize) * TAG;

export class SegmentIntegrityError extends Error {
  constructor(index: number) {
    super(`encrypted segment ${index} failed its integrity check: the stored bytes were altered or belong to another blob`);
    this.name = 'SegmentIntegrityError';
  }
}

/** Encrypts a stream into segments. */
export function encryptSegments(key: Buffer, aad: Buffer): Transform {
  const segment = Buffer.allocUnsafe(SEGMENT);
  let filled = 0;
  let index = 0;
  const seal = (self: Transform, length: number, last: boolean) => {
    const cipher = createCipheriv('aes-256-gcm', key, nonce(index++, last));
    cipher.setAAD(aad);
    const body = cipher.update(segment.subarray(0, length));
    cipher.final();
    self.push(Buffer.concat([body, cipher.getAuthTag()]));
  };
  return new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      let at = 0;
      while (at < chunk.length) {
        // A full segment is sealed only once more bytes arrive: then it is not the last.
        if (filled === SEGMENT) {
          seal(this, SEGMENT, false);
          filled = 0;
        }
        const n = Math.min(SEGMENT - filled, chunk.length - at);
        chunk.copy(segment, filled, at, at + n);
        filled += n;
        at += n;
      }
      done();
    },
    flush(done: TransformCallback) {
      seal(this, filled, true);
      done();
    },
  });
}

export interface SegmentPlan {
  /** Stored byte range of the layer (layer coordinates) to read. */
  stored: ByteRange;
  firstSegment: number;
  totalSegments: number;
  /** Plaintext bytes of the first segment read to skip, and how many bytes to return. */
  skip: number;
  take: number;
}

/** Which stored bytes of a layer hold the plaintext range (inclusive), or the whole plaintext. */
export function planRange(plainSize: number, range?: ByteRange): SegmentPlan {
  const total = segmentCount(plainSize);
  const start = range?.start ?? 0;
  const end = range?.end ?? plainSize - 1;
  if (plainSize === 0) return { stored: { start: 0, end: TAG - 1 }, firstSegment: 0, totalSegments: 1, skip: 0, take: 0 };
  const first = Math.floor(start / SEGMENT);
  const last = Math.floor(end / SEGMENT);
  const storedEnd = Math.min((last + 1) * (SEGMENT + TAG), sealedSize(plainSize)) - 1;
  return { stored: { start: first * (SEGMENT + TAG), end: storedEnd }, firstSegment: first, totalSegments: total, skip: start - first * SEGMENT, take: end - start + 1 };
}

/** Decrypts the stored bytes a plan names, returning exactly the planned plaintext. */
export function decryptSegments(key: Buffer, aad: Buffer, plan: SegmentPlan): Transform {
  const segment = Buffer.allocUnsafe(SEGMENT + TAG);
  let filled = 0;
  let index = plan.firstSegment;
  let skip = plan.skip;
  let left = plan.take;
  const open = (self: Transform, length: number): void => {
    if (length < TAG) throw new SegmentIntegrityError(index);
    const last = index === plan.totalSegments - 1;
    const decipher = createDecipheriv('aes-256-gcm', key, nonce(index, last));
    decipher.setAAD(aad);
    decipher.setAuthTag(segment.subarray(length - TAG, length));
    const plain = decipher.update(segment.subarray(0, length - TAG));
    try {
      decipher.final();
    } catch {
      throw new SegmentIntegrityError(index);
    }
    index++;
    let out = plain;
    if (skip > 0) {
      out = out.subarray(Math.min(skip, out.length));
      skip -= Math.min(skip, plain.length);
    }
    if (out.length > left) out = out.subarray(0, left);
    left -= out.length;
    if (out.length > 0) self.push(out);
  };
  return new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      try {
        let at = 0;
        while (at < chunk.length) {
          const n = Math.min(SEGMENT + TAG - filled, chunk.length - at);
          chunk.copy(segment, filled, at, at + n);
          filled += n;
          at += n;
          if (filled === SEGMENT + TAG) {
            open(this, filled);
            filled = 0;
          }
        }
        done();
      } catch (err) {
        done(err as Error);
      }
    },
    flush(done: TransformCallback) {
      try {
        if (filled > 0) open(this, filled);
        // Fewer bytes than planned (a truncated object) is an error too.
        if (left > 0) throw new SegmentIntegrityError(index);
        done();
      } catch (err) {
        done(err as Error);
      }
    },
  });
}
