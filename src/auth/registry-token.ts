import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Caller, IdentityService } from '../domain/iam/identity-service.js';

// Registry login tokens (the password of GetAuthorizationToken and the Bearer token of
// the token endpoint). A token names the access key that asked for it and its expiry,
// sealed with an HMAC under a key derived from the server key; nothing is stored. Each use
// resolves the access key again, so deleting or disabling the key, or the end of a role
// session, ends its tokens too. Valid 12 hours, as ECR's, or less for a shorter session.

export const TOKEN_TTL_MS = 12 * 3600 * 1000;

interface Payload {
  v: 1;
  /** access key id */
  k: string;
  /** account */
  a: string;
  /** expiry, ms since epoch */
  e: number;
}

export interface IssuedToken {
  password: string;
  expiresAt: Date;
}

export class RegistryTokens {
  private readonly key: Buffer;

  constructor(
    serverKey: Buffer,
    private readonly identity: IdentityService,
    private readonly now: () => number = Date.now,
  ) {
    this.key = createHmac('sha256', serverKey).update('berth registry tokens v1').digest();
  }

  async issue(caller: Caller): Promise<IssuedToken> {
    let expires = this.now() + TOKEN_TTL_MS;
    const credential = await this.identity.findCredential(caller.accessKeyId);
    if (credential?.kind === 'session') expires = Math.min(expires, credential.session.expiresAt);
    const body = Buffer.from(JSON.stringify({ v: 1, k: caller.accessKeyId, a: caller.accountId, e: expires } satisfies Payload)).toString('base64url');
    return { password: `${body}.${this.sign(body)}`, expiresAt: new Date(expires) };
  }

  /** The caller the token was issued to, or the reason it is refused. */
  /** A Bearer token for a client that has no login: it admits what anonymous callers may do. */
  issueAnonymous(): IssuedToken {
    const expires = this.now() + TOKEN_TTL_MS;
    const body = Buffer.from(JSON.stringify({ v: 1, k: '', a: '', e: expires } satisfies Payload)).toString('base64url');
    return { password: `${body}.${this.sign(body)}`, expiresAt: new Date(expires) };
  }

  /** The caller the token was issued to (null for an anonymous token), or why it is refused. */
  async verify(password: string): Promise<{ ok: true; caller: Caller | null } | { ok: false; message: string }> {
    // The seal and the JSON are checked once per token; expiry and the key on every use.
    const opened = await this.identity.cache.get('token', password, async () => this.open(password), (p) => typeof p !== 'string');
    if (typeof opened === 'string') return { ok: false, message: opened };
    const payload = opened;
    if (payload.e <= this.now()) return { ok: false, message: 'token expired' };
    if (payload.k === '') return { ok: true, caller: null };
    const credential = await this.identity.findCredential(payload.k);
    if (!credential) return { ok: false, message: 'the credentials of this token no longer exist' };
    if (credential.kind === 'user' && credential.status !== 'Active') return { ok: false, message: 'the access key of this token is inactive' };
    if (credential.kind === 'session' && credential.session.expiresAt <= this.now()) return { ok: false, message: 'the session of this token has expired' };
    return { ok: true, caller: this.identity.callerFor(credential) };
  }

  /** The payload of a well-sealed token, or why it is not one. */
  private open(password: string): Payload | string {
    const dot = password.indexOf('.');
    if (dot <= 0) return 'malformed token';
    const body = password.slice(0, dot);
    const given = Buffer.from(password.slice(dot + 1));
    const expected = Buffer.from(this.sign(body));
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'invalid token';
    let payload: Payload;
    try {
      payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Payload;
    } catch {
      return 'malformed token';
    }
    if (payload.v !== 1 || typeof payload.e !== 'number' || typeof payload.k !== 'string') return 'malformed token';
    return payload;
  }

  private sign(body: string): string {
    return createHmac('sha256', this.key).update(body).digest('base64url');
  }
}
