import { createHash, randomBytes } from 'node:crypto';

// Test data made in the benchmark: one random block, reused. Each block of a blob starts
// with a header naming the blob and the block, so every blob (and every block) differs
// and digests never collide, while no request ever allocates a blob-sized buffer.

export const BLOCK = 1024 * 1024;
const HEADER = 64;
const random = randomBytes(BLOCK);

export class SyntheticBlob {
  readonly size: number;
  readonly blocks: number;
  private cachedDigest: string | null = null;

  constructor(
    readonly id: string,
    blocks: number,
  ) {
    if (!Number.isInteger(blocks) || blocks < 1) throw new Error('a blob has at least one block');
    this.blocks = blocks;
    this.size = blocks * BLOCK;
  }

  private header(block: number): Buffer {
    const header = Buffer.alloc(HEADER, 0x20);
    header.write(`${this.id}#${block}`.slice(0, HEADER), 'latin1');
    return header;
  }

  /** The pieces of blocks [from, to): a small header and a shared slice of random bytes each. */
  *pieces(from = 0, to = this.blocks): Generator<Buffer> {
    for (let block = from; block < to; block++) {
      yield this.header(block);
      yield random.subarray(HEADER);
    }
  }

  /** sha256 digest, computed once before any timing starts. */
  digest(): string {
    if (!this.cachedDigest) {
      const hash = createHash('sha256');
      for (const piece of this.pieces()) hash.update(piece);
      this.cachedDigest = `sha256:${hash.digest('hex')}`;
    }
    return this.cachedDigest;
  }

  /** A streaming body writer for blocks [from, to). */
  writer(from = 0, to = this.blocks) {
    return async (write: (chunk: Buffer) => Promise<void>) => {
      for (const piece of this.pieces(from, to)) await write(piece);
    };
  }
}

export function smallBlob(content: string | Buffer): { bytes: Buffer; digest: string } {
  const bytes = Buffer.isBuffer(content) ? content : Buffer.from(content);
  return { bytes, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}` };
}
