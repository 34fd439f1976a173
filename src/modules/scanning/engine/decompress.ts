import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { Decompress } from 'fzstd';
import { ScanRefused } from './errors.js';

// A layer as a tar stream, whatever its compression, told by its first bytes (media types
// lie often enough): gzip through zlib, zstd through fzstd's streaming decoder (node 20's
// zlib has no zstd), anything else as plain tar.

class ZstdStream extends Transform {
  private readonly decoder: Decompress;
  private pending: Buffer[] = [];
  constructor() {
    super();
    this.decoder = new Decompress((chunk) => {
      this.pending.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    });
  }
  private flushPending(): void {
    for (const b of this.pending) this.push(b);
    this.pending = [];
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.decoder.push(chunk);
      this.flushPending();
      cb();
    } catch (err) {
      cb(new ScanRefused(`corrupt zstd stream: ${(err as Error).message}`));
    }
  }
  override _flush(cb: TransformCallback): void {
    try {
      this.decoder.push(new Uint8Array(0), true);
      this.flushPending();
      cb();
    } catch (err) {
      cb(new ScanRefused(`truncated or corrupt zstd stream: ${(err as Error).message}`));
    }
  }
}

/** Counts bytes out of the decoder and stops a decompression bomb. */
class Meter extends Transform {
  bytes = 0;
  constructor(
    private readonly limit: number,
    private readonly compressed: () => number,
    private readonly maxRatio: number,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit) return cb(new ScanRefused(`layer expands past ${this.limit} bytes: refused as a decompression bomb`));
    const c = this.compressed();
    if (this.bytes > 256 * 1024 * 1024 && c > 0 && this.bytes / c > this.maxRatio) {
      return cb(new ScanRefused(`layer expands ${Math.round(this.bytes / c)}x (${this.bytes} bytes from ${c}): refused as a decompression bomb`));
    }
    cb(null, chunk);
  }
}

export interface DecodeLimits {
  maxUncompressedBytes: number;
  maxRatio: number;
}

export type Compression = 'gzip' | 'zstd' | 'none';

export function sniff(head: Buffer): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return 'none';
}

/** Returns the tar byte stream of a layer; errors carry a readable reason. */
export function decodeLayer(source: Readable, limits: DecodeLimits): { tar: Readable; done: Promise<Compression> } {
  let compressed = 0;
  const meter = new Meter(limits.maxUncompressedBytes, () => compressed, limits.maxRatio);
  let resolveKind!: (c: Compression) => void;
  const done = new Promise<Compression>((r) => (resolveKind = r));
  let decoder: Transform | null = null;
  const fail = (err: Error) => meter.destroy(err);
  source.on('error', fail);
  source.on('data', (chunk: Buffer) => {
    compressed += chunk.length;
    if (!decoder) {
      const kind = sniff(chunk);
      resolveKind(kind);
      decoder = kind === 'gzip' ? createGunzip() : kind === 'zstd' ? new ZstdStream() : new Transform({ transform: (c, _e, cb) => cb(null, c) });
      decoder.on('error', (err: Error & { code?: string }) =>
        fail(err instanceof ScanRefused ? err : new ScanRefused(`${kind === 'gzip' ? 'truncated or corrupt gzip stream' : 'layer stream error'}: ${err.message}`)),
      );
      decoder.pipe(meter);
    }
    if (!decoder.write(chunk)) {
      source.pause();
      decoder.once('drain', () => source.resume());
    }
  });
  source.on('end', () => {
    if (!decoder) {
      resolveKind('none');
      meter.end();
    } else decoder.end();
  });
  return { tar: meter, done };
}
