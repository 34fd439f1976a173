import { createHash, type Hash } from 'node:crypto';
import { finished, Transform, type Readable, type TransformCallback } from 'node:stream';
import { DomainError } from './errors.js';

export type DigestAlgorithm = 'sha256' | 'sha512';

const encodedLength: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };
// distribution-spec digest grammar: algorithm ":" encoded
const digestGrammar = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

export interface Digest {
  readonly algorithm: DigestAlgorithm;
  readonly hex: string;
  /** The canonical `algorithm:hex` form. */
  readonly value: string;
}

export function looksLikeDigest(reference: string): boolean {
  return reference.includes(':');
}

/** Parses a digest string, throwing DigestMalformed for bad grammar or unsupported algorithms. */
export function parseDigest(input: string | undefined | null): Digest {
  if (!input || input.length > 200 || !digestGrammar.test(input)) {
    throw new DomainError('DigestMalformed', `invalid digest: ${String(input).slice(0, 200)}`);
  }
  const [algorithm, hex] = input.split(':', 2) as [string, string];
  if (algorithm !== 'sha256' && algorithm !== 'sha512') {
    throw new DomainError('DigestMalformed', `unsupported digest algorithm: ${algorithm}`);
  }
  if (hex.length !== encodedLength[algorithm] || !/^[a-f0-9]+$/.test(hex)) {
    throw new DomainError('DigestMalformed', `invalid ${algorithm} digest: ${input}`);
  }
  return { algorithm, hex, value: input };
}

export function digestOf(bytes: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}

/**
 * A pass-through stream that hashes and counts what flows through it, so a blob's
 * digest is verified while it streams to storage and never held whole in memory.
 */
export class HashingStream extends Transform {
  bytes = 0;
  constructor(readonly hash: Hash) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    done(null, chunk);
  }
}

export function newHash(algorithm: DigestAlgorithm): Hash {
  return createHash(algorithm);
}

/**
 * Pipes `source` through a HashingStream. Unlike a bare pipe, a source that fails or
 * closes early (a client that disconnects mid-upload) fails the returned stream too.
 */
export function hashThrough(source: Readable, hash: Hash): HashingStream {
  const hashing = new HashingStream(hash);
  // The source can fail before the consumer attaches (a client that hangs up while the
  // store is still opening its file): without a listener that 'error' would crash the
  // process. The consumer still sees the failure, as pipeline/finished report a stream
  // that is already destroyed with an error.
  hashing.on('error', () => {});
  finished(source, (err) => {
    if (err) hashing.destroy(err);
  });
  return source.pipe(hashing);
}
