import type { Caller, IdentityService } from '../domain/iam/identity-service.js';
import { verifySigV4, type SigV4FailureReason, type SignedRequest } from './sigv4.js';

// The one authentication step of every AWS-protocol edge: verify the SigV4 signature
// against the stored secret, then turn the credential into a caller for the evaluator.

export type AuthResult =
  | { ok: true; caller: Caller; service: string; region: string }
  | { ok: false; reason: SigV4FailureReason; message: string };

export async function authenticateSigV4(identity: IdentityService, request: SignedRequest, now?: number): Promise<AuthResult> {
  const result = await verifySigV4(request, (id) => identity.findCredential(id), now !== undefined ? { now } : {});
  if (!result.ok) return result;
  return { ok: true, caller: identity.callerFor(result.credential), service: result.service, region: result.region };
}

/**
 * Why a verified request's credential scope does not fit the endpoint, in AWS's words, or
 * null when it does. Every protocol checks its signing name (`ecr`, `iam`, `sts`,
 * `organizations`, `berth`...); endpoints that serve one region check the region too.
 */
export function scopeMismatch(scope: { service: string; region: string }, expected: { service: string; region?: string | undefined }): string | null {
  if (scope.service !== expected.service) return `Credential should be scoped to correct service: '${expected.service}'. `;
  if (expected.region !== undefined && scope.region !== expected.region) {
    return `Credential should be scoped to a valid region, not '${scope.region}'. This registry serves the region '${expected.region}'.`;
  }
  return null;
}

/** The signing service named in the request's credential scope, before verification. */
export function claimedService(headers: Record<string, string | string[] | undefined>, query: Record<string, string | string[]>): string | undefined {
  const auth = headers.authorization;
  const text = typeof auth === 'string' ? auth : undefined;
  const credential = text ? /Credential=([^,\s]+)/.exec(text)?.[1] : (Array.isArray(query['X-Amz-Credential']) ? query['X-Amz-Credential'][0] : query['X-Amz-Credential']);
  return credential?.split('/')[3];
}
