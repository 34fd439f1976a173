import { DomainError } from '../../domain/errors.js';

// ECR paging: maxResults 1-1000 (default 100 when absent), opaque nextToken. A token names
// the operation and request it continues, so it cannot be replayed against another.

export const defaultPageSize = 100;

interface TokenBody<K> {
  o: string;
  s: string;
  k: K;
}

export function encodeToken<K>(operation: string, scope: string, key: K): string {
  return Buffer.from(JSON.stringify({ o: operation, s: scope, k: key } satisfies TokenBody<K>)).toString('base64url');
}

/** `isKey`, when given, also checks the key's shape (tokens are not signed: a forged one must not reach the store). */
export function decodeToken<K>(token: string | undefined, operation: string, scope: string, isKey?: (key: unknown) => key is K): K | undefined {
  if (token === undefined) return undefined;
  let body: TokenBody<K>;
  try {
    body = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as TokenBody<K>;
  } catch {
    body = { o: '', s: '', k: undefined as K };
  }
  if (!body || body.o !== operation || body.s !== scope || body.k === undefined || (isKey && !isKey(body.k))) {
    throw new DomainError('InvalidParameter', `Invalid parameter at 'nextToken' failed to satisfy constraint: 'the token was not returned by a previous ${operation} call with the same parameters'`);
  }
  return body.k;
}
