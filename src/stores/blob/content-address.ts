import { DomainError } from '../../domain/errors.js';

/** Splits a digest into the algorithm and hex that name a blob's place in any blob store. */
export function splitDigest(digest: string): [string, string] {
  const i = digest.indexOf(':');
  const algorithm = digest.slice(0, i);
  const hex = digest.slice(i + 1);
  if (i < 1 || !/^[a-z0-9]+$/.test(algorithm) || !/^[a-f0-9]{32,}$/.test(hex)) throw new DomainError('DigestMalformed');
  return [algorithm, hex];
}
