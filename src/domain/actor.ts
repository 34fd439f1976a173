import { randomUUID } from 'node:crypto';

// Who did it. Every mutating call into the domain carries an Actor: the events it appends
// (the change feed) and the audit records of the call say who, not only what. Edges build
// it once per request in the front door; background work acts as a named service actor.

/** CloudTrail's userIdentity.type values, plus Berth's own for anonymous and service work. */
export type ActorType = 'Root' | 'IAMUser' | 'AssumedRole' | 'AWSService' | 'Anonymous' | 'Operator';

export interface Actor {
  type: ActorType;
  /** The caller's own account (12 digits); null when anonymous. */
  accountId: string | null;
  /** IAM's unique id of the principal (AIDA.../AROA...:session), when known. */
  principalId: string | null;
  /** The caller's ARN as GetCallerIdentity reports it (a role session's ARN for sessions). */
  arn: string | null;
  /** The access key the request was signed with; never the secret. */
  accessKeyId: string | null;
  /** The role session name of temporary credentials. */
  sessionName: string | null;
  sourceIp: string | null;
  userAgent: string | null;
  /** Which door it came in: `ecr`, `oci`, `iam`, `sts`, `events`, `operator`, `service`... */
  edge: string;
  /** The operation: `ecr:PutImage`, `/v2 PUT manifest`, `lifecycle`, `gc`, `replication`... */
  operation: string;
  /** Returned in `x-amzn-RequestId` and written in every log line of the request. */
  requestId: string;
}

export function newRequestId(): string {
  return randomUUID();
}

/** Background work (lifecycle, gc, replication, scanning...) acts as a named service. */
export function serviceActor(name: string, operation: string = name, requestId: string = newRequestId()): Actor {
  return {
    type: 'AWSService',
    accountId: null,
    principalId: `berth.${name}`,
    arn: null,
    accessKeyId: null,
    sessionName: null,
    sourceIp: null,
    userAgent: `berth.${name}`,
    edge: 'service',
    operation,
    requestId,
  };
}

/** Calls whose edge has not said who (tests and tools that drive the domain directly). */
export const UNATTRIBUTED: Actor = Object.freeze({ ...serviceActor('unattributed', 'unattributed', '00000000-0000-0000-0000-000000000000') });

/** The same actor for another operation (one request may do several things). */
export function actorFor(actor: Actor, operation: string): Actor {
  return actor.operation === operation ? actor : { ...actor, operation };
}
