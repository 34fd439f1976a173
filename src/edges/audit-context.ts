import type { FastifyRequest } from 'fastify';
import type { Caller } from '../domain/iam/identity-service.js';

// What an edge tells the audit trail about the call it served (src/modules/audit reads it
// in its onResponse hook): which API and action it was, its parameters and results, the
// error it answered, and the authenticated caller. Edges only fill it; the audit module
// scrubs secrets and writes the CloudTrail record.

export interface AuditContext {
  eventSource?: string;
  eventName?: string;
  readOnly?: boolean;
  requestParameters?: unknown;
  responseElements?: unknown;
  resources?: { ARN: string; accountId: string; type: string }[];
  errorCode?: string;
  errorMessage?: string;
  /** The account whose API or resources were called (an addressed registry, say). */
  recipientAccountId?: string;
  /** The authenticated caller, until the front door sets request.actor for every edge. */
  caller?: Caller | null;
  /** Set when the call presented credentials (a refusal of a credential-less call is a challenge, not an event). */
  credentialsPresented?: boolean;
  /** The edge asks for no record (handshakes such as GET /v2/). */
  skip?: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Filled by the edge that serves the call; null until one does. */
    audit: AuditContext | null;
  }
}

/** Adds to the request's audit context (creating it). */
export function noteAudit(req: FastifyRequest, facts: AuditContext): void {
  req.audit = req.audit ? Object.assign(req.audit, facts) : { ...facts };
}

/** The error answered, as CloudTrail records it (ECR's AccessDeniedException is "AccessDenied"). */
export function noteAuditError(req: FastifyRequest, code: string, message: string): void {
  noteAudit(req, { errorCode: code === 'AccessDeniedException' ? 'AccessDenied' : code, errorMessage: message });
}

export const ecrRepositoryArn = (region: string, registryId: string, name: string) => `arn:aws:ecr:${region}:${registryId}:repository/${name}`;

/** ECR's read-only actions (CloudTrail readOnly): look-ups and pulls. */
export function isReadOnlyAction(name: string): boolean {
  return /^(Describe|List|Get|BatchGet|BatchCheck|Lookup|Test)/.test(name);
}
