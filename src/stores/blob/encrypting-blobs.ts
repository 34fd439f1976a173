import { createHash } from 'node:crypto';
import { Readable, pipeline } from 'node:stream';
import type { BlobStore, ByteRange } from '../blob-store.js';
import { decryptSegments, encryptSegments, planRange, sealedSize } from './segments.js';

// Envelope encryption of blobs over any BlobStore (folder or S3 alike). A blob of an
// encrypted repository is stored as its own object per (digest, key, layers): a header
// holding the data key(s) wrapped by the repository's KMS key, then the segments
// (segments.ts). KMS is one layer; KMS_DSSE two independent layers with two data keys.
// The object's storage name is derived from digest and key, so the same blob under two
// keys is two objects, and one key's blob is stored once (dedupe within a key). Digests
// stay those of the plaintext. The store never holds a whole blob in memory.
//
//   object: "BEB1" | layers (1 byte) | per layer: u16 length + wrapped data key | segments

export interface DataKeys {
  /** A fresh 32-byte data key, and the same wrapped by the key (fails when it is unusable). */
  generate(keyArn: string, context: Record<string, string>): Promise<{ plaintext: Buffer; wrapped: Buffer }>;
  /** Opens a wrapped data key (fails when its key is disabled, pending deletion or gone). */
  unwrap(wrapped: Buffer, context: Record<string, string>): Promise<Buffer>;
  /** Fails as KMS does when the key cannot be used now. */
  requireUsable(keyArn: string): Promise<void>;
}

export type Layers = 1 | 2;

const MAGIC = Buffer.from('BEB1');
/** A KMS ciphertext of a 32-byte data key (modules/keys/ciphertext.ts): 77 + 32 bytes. */
const WRAPPED = 109;
export const headerSize = (layers: Layers) => MAGIC.length + 1 + layers * (2 + WRAPPED);

export class EncryptedBlobError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EncryptedBlobError';
  }
}

export class EncryptingBlobs {
  constructor(
    readonly inner: BlobStore,
    private readonly keys: DataKeys,
  ) {}

  /** The storage name of a blob under a key: a digest-shaped name of its own. */
  address(digest: string, keyArn: string, layers: Layers): string {
    return `sha256:${createHash('sha256').update(`berth-encrypted-v1\n${layers}\n${keyArn}\n${digest}`).digest('hex')}`;
  }

  storedSize(plainSize: number, layers: Layers): number {
    const inner = sealedSize(plainSize);
    return headerSize(layers) + (layers === 2 ? sealedSize(inner) : inner);
  }

  private context(digest: string): Record<string, string> {
    return { 'berth:blob': digest };
  }

  /**
   * Encrypts an upload's bytes (plaintext staging) into a new staging area and commits it
   * under the blob's storage name; the plaintext staging area is left to the caller.
   */
  async commitFromUpload(uploadId: string, digest: string, keyArn: string, layers: Layers, signal?: AbortSignal): Promise<string> {
    const address = this.address(digest, keyArn, layers);
    const context = this.context(digest);
    const dataKeys = [await this.keys.generate(keyArn, context)];
    if (layers === 2) dataKeys.push(await this.keys.generate(keyArn, { ...context, 'berth:layer': 'inner' }));
    const parts: Buffer[] = [MAGIC, Buffer.from([layers])];
    for (const k of dataKeys) {
      if (k.wrapped.length !== WRAPPED) throw new EncryptedBlobError(`unexpected wrapped data key size ${k.wrapped.length}`);
      const len = Buffer.alloc(2);
      len.writeUInt16BE(k.wrapped.length);
      parts.push(len, k.wrapped);
    }
    const header = Buffer.concat(parts);
    const aad = Buffer.from(digest);
    const plain = await this.inner.readUpload(uploadId);
    // Outer layer last: plaintext -> inner layer (DSSE only) -> outer layer.
    const stages = layers === 2 ? [encryptSegments(dataKeys[1]!.plaintext, aad), encryptSegments(dataKeys[0]!.plaintext, aad)] : [encryptSegments(dataKeys[0]!.plaintext, aad)];
    const sealed = (pipeline as (...s: unknown[]) => Readable)(plain, ...stages, () => {});
    const body = Readable.from(
      (async function* () {
        yield header;
        yield* sealed;
      })(),
      { objectMode: false },
    );
    const stagingId = `${uploadId}-sealed`;
    await this.inner.createUpload(stagingId, signal);
    try {
      await this.inner.appendUpload(stagingId, 0, body, signal);
      await this.inner.commitUpload(stagingId, address, signal);
    } catch (err) {
      await this.inner.deleteUpload(stagingId).catch(() => {});
      throw err;
    } finally {
      for (const k of dataKeys) k.plaintext.fill(0);
    }
    return address;
  }

  requireUsable(keyArn: string): Promise<void> {
    return this.keys.requireUsable(keyArn);
  }

  async exists(digest: string, keyArn: string, layers: Layers): Promise<boolean> {
    return (await this.inner.stat(this.address(digest, keyArn, layers))) !== null;
  }

  /** Streams the plaintext (or an inclusive range of it) of a blob stored under a key. */
  async read(digest: string, keyArn: string, layers: Layers, plainSize: number, range?: ByteRange): Promise<Readable> {
    const address = this.address(digest, keyArn, layers);
    const h = headerSize(layers);
    const head = await readAll(await this.inner.read(address, { start: 0, end: h - 1 }));
    if (head.length !== h || !head.subarray(0, 4).equals(MAGIC) || head[4] !== layers) throw new EncryptedBlobError(`stored object for ${digest} has no valid encryption header`);
    const context = this.context(digest);
    const wrapped: Buffer[] = [];
    for (let at = 5, i = 0; i < layers; i++) {
      const len = head.readUInt16BE(at);
      wrapped.push(head.subarray(at + 2, at + 2 + len));
      at += 2 + len;
    }
    const outerKey = await this.keys.unwrap(wrapped[0]!, context);
    const aad = Buffer.from(digest);
    if (layers === 1) {
      const plan = planRange(plainSize, range);
      const stored = await this.inner.read(address, { start: h + plan.stored.start, end: h + plan.stored.end });
      return (pipeline as (...s: unknown[]) => Readable)(stored, decryptSegments(outerKey, aad, plan), () => {});
    }
    const innerKey = await this.keys.unwrap(wrapped[1]!, { ...context, 'berth:layer': 'inner' });
    const innerPlan = planRange(plainSize, range);
    const outerPlan = planRange(sealedSize(plainSize), innerPlan.stored);
    const stored = await this.inner.read(address, { start: h + outerPlan.stored.start, end: h + outerPlan.stored.end });
    return (pipeline as (...s: unknown[]) => Readable)(stored, decryptSegments(outerKey, aad, outerPlan), decryptSegments(innerKey, aad, innerPlan), () => {});
  }
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
