import { createHash, timingSafeEqual } from 'node:crypto';
import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import type { StoredCredential } from '../stores/identity-store.js';

// AWS Signature Version 4 verification, header form and presigned-query form. The
// expected signature is computed by @smithy/signature-v4 (the signer inside the AWS SDKs)
// from the request as received, restricted to the headers the client says it signed;
// only the parsing of what the client sent and the policy checks (clock skew, expiry,
// session tokens) are ours.

export const MAX_CLOCK_SKEW_MS = 15 * 60 * 1000;
const MAX_PRESIGN_SECONDS = 7 * 24 * 3600;
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

export interface SignedRequest {
  method: string;
  /** Path exactly as received, still percent-encoded, without the query. */
  path: string;
  /** Query string as received, without '?'. */
  rawQuery: string;
  headers: Record<string, string | string[] | undefined>;
  /** The whole body when buffered; omit for streams and give payloadHash instead. */
  body?: Uint8Array | string;
  payloadHash?: string;
}

export type SigV4FailureReason =
  | 'missing' // no Authorization header and no presigned query
  | 'incomplete' // malformed or partial signature information
  | 'unknown-key' // access key id not found or inactive
  | 'invalid-token' // session token missing, wrong, or given for a long-term key
  | 'expired-token' // temporary credentials past their expiry
  | 'request-expired' // outside the clock-skew window, or presigned URL expired
  | 'bad-signature';

export type SigV4Result =
  | { ok: true; credential: StoredCredential; accessKeyId: string; region: string; service: string; signedAt: Date; presigned: boolean }
  | { ok: false; reason: SigV4FailureReason; message: string };

export type CredentialLookup = (accessKeyId: string) => Promise<StoredCredential | null>;

export interface VerifyOptions {
  now?: number;
  maxSkewMs?: number;
}

interface ParsedAuth {
  accessKeyId: string;
  date: string; // yyyymmdd from the scope
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
  amzDate: string;
  token: string | undefined;
  presigned: boolean;
  expiresSeconds?: number;
}

const fail = (reason: SigV4FailureReason, message: string): SigV4Result => ({ ok: false, reason, message });

function header(headers: SignedRequest['headers'], name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

/** Splits a raw query into decoded name → value(s) without treating '+' as a space. */
export function parseRawQuery(raw: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  if (!raw) return out;
  for (const part of raw.split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const name = safeDecode(eq < 0 ? part : part.slice(0, eq));
    const value = safeDecode(eq < 0 ? '' : part.slice(eq + 1));
    const existing = out[name];
    if (existing === undefined) out[name] = value;
    else out[name] = Array.isArray(existing) ? [...existing, value] : [existing, value];
  }
  return out;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);

function parseScope(credential: string): { accessKeyId: string; date: string; region: string; service: string } | string {
  const parts = credential.split('/');
  if (parts.length !== 5 || parts.some((p) => !p)) return `Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '${credential}'`;
  if (parts[4] !== 'aws4_request') return `Credential should be scoped with a valid terminator: 'aws4_request', not '${parts[4]}'.`;
  if (!/^\d{8}$/.test(parts[1]!)) return `Credential should be scoped to a valid date, not '${parts[1]}'.`;
  return { accessKeyId: parts[0]!, date: parts[1]!, region: parts[2]!, service: parts[3]! };
}

function parseRequestAuth(req: SignedRequest, query: Record<string, string | string[]>): ParsedAuth | SigV4Result {
  const authorization = header(req.headers, 'authorization');
  const queryAlgorithm = first(query['X-Amz-Algorithm']);
  if (authorization !== undefined) {
    const m = /^AWS4-HMAC-SHA256\s+(.*)$/s.exec(authorization.trim());
    if (!m) return fail('incomplete', `Authorization header requires the AWS4-HMAC-SHA256 algorithm. Authorization=${authorization.split(/\s/)[0]}`);
    const fields = new Map<string, string>();
    for (const piece of m[1]!.split(',')) {
      const eq = piece.indexOf('=');
      if (eq > 0) fields.set(piece.slice(0, eq).trim(), piece.slice(eq + 1).trim());
    }
    const missing = ['Credential', 'SignedHeaders', 'Signature'].filter((k) => !fields.get(k));
    if (missing.length) return fail('incomplete', `Authorization header requires ${missing.map((k) => `'${k}'`).join(', ')} parameter(s).`);
    const amzDate = header(req.headers, 'x-amz-date');
    if (!amzDate) return fail('incomplete', "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.");
    const scope = parseScope(fields.get('Credential')!);
    if (typeof scope === 'string') return fail('incomplete', scope);
    return {
      ...scope,
      signedHeaders: fields.get('SignedHeaders')!.split(';'),
      signature: fields.get('Signature')!,
      amzDate,
      token: header(req.headers, 'x-amz-security-token'),
      presigned: false,
    };
  }
  if (queryAlgorithm !== undefined) {
    if (queryAlgorithm !== 'AWS4-HMAC-SHA256') return fail('incomplete', `X-Amz-Algorithm only supports "AWS4-HMAC-SHA256", not "${queryAlgorithm}".`);
    const need = ['X-Amz-Credential', 'X-Amz-Date', 'X-Amz-SignedHeaders', 'X-Amz-Signature', 'X-Amz-Expires'];
    const missing = need.filter((k) => !first(query[k]));
    if (missing.length) return fail('incomplete', `AWS query-string parameters missing: ${missing.join(', ')}.`);
    const scope = parseScope(first(query['X-Amz-Credential'])!);
    if (typeof scope === 'string') return fail('incomplete', scope);
    const expires = Number(first(query['X-Amz-Expires']));
    if (!Number.isInteger(expires) || expires < 0 || expires > MAX_PRESIGN_SECONDS) return fail('incomplete', 'X-Amz-Expires must be a whole number of seconds from 0 to 604800.');
    return {
      ...scope,
      signedHeaders: first(query['X-Amz-SignedHeaders'])!.split(';'),
      signature: first(query['X-Amz-Signature'])!,
      amzDate: first(query['X-Amz-Date'])!,
      token: first(query['X-Amz-Security-Token']),
      presigned: true,
      expiresSeconds: expires,
    };
  }
  return fail('missing', 'Request is missing Authentication Token');
}

/** yyyymmddThhmmssZ → Date, or null. */
function parseAmzDate(text: string): Date | null {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!m) return null;
  const d = new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));
  return Number.isNaN(d.getTime()) ? null : d;
}

const sha256Hex = (data: Uint8Array | string) => createHash('sha256').update(data).digest('hex');

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function hashSessionToken(token: string): string {
  return sha256Hex(token);
}

/** Verifies the request's SigV4 signature against the stored secret of its access key. */
export async function verifySigV4(req: SignedRequest, lookup: CredentialLookup, options: VerifyOptions = {}): Promise<SigV4Result> {
  const now = options.now ?? Date.now();
  const query = parseRawQuery(req.rawQuery);
  const parsedOrFailure = parseRequestAuth(req, query);
  if ('ok' in parsedOrFailure) return parsedOrFailure;
  const parsed: ParsedAuth = parsedOrFailure;

  const signedAt = parseAmzDate(parsed.amzDate);
  if (!signedAt) return fail('incomplete', `Date must be in ISO 8601 basic format (yyyyMMddTHHmmssZ), got '${parsed.amzDate}'.`);
  const signedHeaders = parsed.signedHeaders.map((h) => h.trim().toLowerCase());
  if (!signedHeaders.includes('host')) return fail('incomplete', "'Host' must be a signed header.");
  if (!parsed.presigned && !signedHeaders.includes('x-amz-date')) return fail('incomplete', "'X-Amz-Date' must be a signed header.");

  const credential = await lookup(parsed.accessKeyId);
  if (!credential || (credential.kind === 'user' && credential.status !== 'Active')) {
    return fail('unknown-key', 'The security token included in the request is invalid.');
  }
  if (credential.kind === 'session') {
    if (!parsed.token || !sameText(hashSessionToken(parsed.token), credential.tokenHash)) return fail('invalid-token', 'The security token included in the request is invalid.');
    if (credential.session.expiresAt <= now) return fail('expired-token', 'The security token included in the request is expired');
  } else if (parsed.token) {
    return fail('invalid-token', 'The security token included in the request is invalid.');
  }

  const stamp = (ms: number) => new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  if (parsed.presigned) {
    if (signedAt.getTime() - now > MAX_CLOCK_SKEW_MS) return fail('request-expired', `Request is not yet valid: signed at ${parsed.amzDate}, now ${stamp(now)}.`);
    if (signedAt.getTime() + parsed.expiresSeconds! * 1000 < now) return fail('request-expired', 'Request has expired');
  } else if (Math.abs(now - signedAt.getTime()) > MAX_CLOCK_SKEW_MS) {
    const bound = signedAt.getTime() < now ? `is now earlier than ${stamp(now - MAX_CLOCK_SKEW_MS)} (${stamp(now)} - 15 min.)` : `is now later than ${stamp(now + MAX_CLOCK_SKEW_MS)} (${stamp(now)} + 15 min.)`;
    return fail('request-expired', `Signature expired: ${parsed.amzDate} ${bound}`);
  }
  if (parsed.amzDate.slice(0, 8) !== parsed.date) return fail('bad-signature', `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${parsed.date}' != '${parsed.amzDate.slice(0, 8)}'`);

  // The body hash the client claims must be the body we received.
  const claimed = header(req.headers, 'x-amz-content-sha256');
  let bodyHash = req.payloadHash ?? (req.body !== undefined ? sha256Hex(req.body) : EMPTY_SHA256);
  if (claimed !== undefined && claimed !== 'UNSIGNED-PAYLOAD' && claimed !== bodyHash) return fail('bad-signature', 'The provided x-amz-content-sha256 header does not match what was computed.');
  if (claimed === 'UNSIGNED-PAYLOAD') bodyHash = claimed;

  const headers: Record<string, string> = {};
  for (const name of signedHeaders) {
    const value = header(req.headers, name);
    if (value === undefined) return fail('bad-signature', `The request signature we calculated does not match the signature you provided: signed header '${name}' is missing.`);
    headers[name] = value;
  }
  // smithy takes the payload hash from this header when present.
  headers['x-amz-content-sha256'] = bodyHash;
  const signable = new Set([...signedHeaders]);

  const signer = new SignatureV4({
    credentials: { accessKeyId: parsed.accessKeyId, secretAccessKey: credential.secret },
    region: parsed.region,
    service: parsed.service,
    sha256: Hash.bind(null, 'sha256'),
    uriEscapePath: true,
    applyChecksum: false,
  });
  const base = { method: req.method.toUpperCase(), protocol: 'https:', hostname: headers.host ?? '', path: req.path || '/' };

  let expected: string | undefined;
  if (parsed.presigned) {
    const q: Record<string, string | string[]> = { ...query };
    delete q['X-Amz-Signature'];
    for (const payloadHash of [bodyHash, 'UNSIGNED-PAYLOAD']) {
      const signed = await signer.presign(
        new HttpRequest({ ...base, headers: withoutSha(headers, signable, payloadHash), query: q }),
        {
          signingDate: signedAt,
          expiresIn: parsed.expiresSeconds!,
          signableHeaders: signable,
          unhoistableHeaders: new Set([...signable, 'x-amz-content-sha256']),
          unsignableHeaders: new Set(['x-amz-content-sha256'].filter((h) => !signable.has(h))),
        },
      );
      const sig = first(signed.query?.['X-Amz-Signature'] as string | string[] | undefined);
      const list = first(signed.query?.['X-Amz-SignedHeaders'] as string | string[] | undefined);
      if (sig && sameText(sig, parsed.signature) && list === signedHeaders.join(';')) return ok();
      expected ??= sig;
    }
    return fail('bad-signature', mismatchMessage);
  }

  const signed = await signer.sign(new HttpRequest({ ...base, headers: withoutSha(headers, signable, bodyHash), query }), {
    signingDate: signedAt,
    signableHeaders: signable,
    unsignableHeaders: new Set(['x-amz-content-sha256'].filter((h) => !signable.has(h))),
  });
  const m = /SignedHeaders=([^,]+), Signature=([0-9a-f]+)$/.exec(String(signed.headers.authorization ?? ''));
  if (m && m[1] === signedHeaders.join(';') && sameText(m[2]!, parsed.signature)) return ok();
  return fail('bad-signature', mismatchMessage);

  function ok(): SigV4Result {
    return { ok: true, credential: credential!, accessKeyId: parsed.accessKeyId, region: parsed.region, service: parsed.service, signedAt: signedAt!, presigned: parsed.presigned };
  }
}

// The payload hash travels in x-amz-content-sha256, which smithy reads; it is signed only
// when the client signed it.
function withoutSha(headers: Record<string, string>, _signable: Set<string>, payloadHash: string): Record<string, string> {
  return { ...headers, 'x-amz-content-sha256': payloadHash };
}

const mismatchMessage =
  'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';

/** AWS's error for each failure, by protocol: query (STS, IAM) or JSON (ECR). */
export function sigV4Error(reason: SigV4FailureReason, protocol: 'query' | 'json'): { code: string; status: number } {
  const query: Record<SigV4FailureReason, { code: string; status: number }> = {
    missing: { code: 'MissingAuthenticationToken', status: 403 },
    incomplete: { code: 'IncompleteSignature', status: 400 },
    'unknown-key': { code: 'InvalidClientTokenId', status: 403 },
    'invalid-token': { code: 'InvalidClientTokenId', status: 403 },
    'expired-token': { code: 'ExpiredToken', status: 403 },
    'request-expired': { code: 'SignatureDoesNotMatch', status: 403 },
    'bad-signature': { code: 'SignatureDoesNotMatch', status: 403 },
  };
  const json: Record<SigV4FailureReason, { code: string; status: number }> = {
    missing: { code: 'MissingAuthenticationTokenException', status: 403 },
    incomplete: { code: 'IncompleteSignatureException', status: 403 },
    'unknown-key': { code: 'UnrecognizedClientException', status: 403 },
    'invalid-token': { code: 'UnrecognizedClientException', status: 403 },
    'expired-token': { code: 'ExpiredTokenException', status: 403 },
    'request-expired': { code: 'InvalidSignatureException', status: 403 },
    'bad-signature': { code: 'InvalidSignatureException', status: 403 },
  };
  return (protocol === 'query' ? query : json)[reason];
}
