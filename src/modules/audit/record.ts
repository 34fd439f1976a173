import { createHash, randomUUID } from 'node:crypto';
import type { Actor } from '../../domain/actor.js';

// One API call as a CloudTrail record (the "CloudTrail record contents" of AWS's user guide,
// eventVersion 1.09), built from who called (the Actor), what the edge said it was (the
// audit context) and what the transport saw (time, source, user agent, request id).

export const EVENT_VERSION = '1.09';

export interface AuditResource {
  ARN: string;
  accountId: string;
  type: string;
}

export interface UserIdentity {
  type: string;
  principalId?: string;
  arn?: string;
  accountId?: string;
  accessKeyId?: string;
  userName?: string;
  sessionContext?: {
    sessionIssuer: { type: 'Role'; principalId: string; arn: string; accountId: string; userName: string };
    attributes: { creationDate?: string; mfaAuthenticated: 'false' };
  };
}

export interface CloudTrailRecord {
  eventVersion: string;
  userIdentity: UserIdentity;
  eventTime: string;
  eventSource: string;
  eventName: string;
  awsRegion: string;
  sourceIPAddress: string;
  userAgent: string;
  errorCode?: string;
  errorMessage?: string;
  requestParameters: unknown;
  responseElements: unknown;
  requestID: string;
  eventID: string;
  readOnly: boolean;
  resources?: AuditResource[];
  eventType: 'AwsApiCall';
  managementEvent: boolean;
  recipientAccountId: string;
  eventCategory: 'Management' | 'Data';
  tlsDetails?: { clientProvidedHostHeader: string };
}

/** What an edge knows about the call (request.audit); the hook adds the rest. */
export interface AuditFacts {
  eventSource: string;
  eventName: string;
  readOnly: boolean;
  requestParameters?: unknown;
  responseElements?: unknown;
  resources?: AuditResource[];
  errorCode?: string;
  errorMessage?: string;
  /** The account whose resources or API were called; default: the caller's, else the server's. */
  recipientAccountId?: string;
}

/** ECR's pull actions: recorded as data events, switchable (audit.dataEvents). */
export const DATA_EVENTS = new Set(['BatchGetImage', 'GetDownloadUrlForLayer']);

export interface RecordInput {
  actor: Actor;
  facts: AuditFacts;
  time: number;
  region: string;
  requestId: string;
  /** The server's own account: where calls nobody could be attributed to are recorded. */
  defaultAccountId: string;
  host?: string;
}

export function buildRecord(input: RecordInput): CloudTrailRecord {
  const { actor, facts } = input;
  const recipient = facts.recipientAccountId ?? actor.accountId ?? input.defaultAccountId;
  const data = DATA_EVENTS.has(facts.eventName) && facts.eventSource === 'ecr.amazonaws.com';
  const record: CloudTrailRecord = {
    eventVersion: EVENT_VERSION,
    userIdentity: userIdentity(actor),
    eventTime: new Date(input.time).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    eventSource: facts.eventSource,
    eventName: facts.eventName,
    awsRegion: input.region,
    sourceIPAddress: actor.sourceIp ?? '',
    userAgent: actor.userAgent ?? '',
    ...(facts.errorCode ? { errorCode: facts.errorCode, errorMessage: facts.errorMessage ?? '' } : {}),
    requestParameters: facts.requestParameters === undefined ? null : scrub(facts.requestParameters),
    responseElements: facts.responseElements === undefined || facts.errorCode ? null : scrub(facts.responseElements),
    requestID: input.requestId,
    eventID: randomUUID(),
    readOnly: facts.readOnly,
    ...(facts.resources?.length ? { resources: facts.resources } : {}),
    eventType: 'AwsApiCall',
    managementEvent: !data,
    recipientAccountId: recipient,
    eventCategory: data ? 'Data' : 'Management',
    ...(input.host ? { tlsDetails: { clientProvidedHostHeader: input.host } } : {}),
  };
  return record;
}

/** CloudTrail's userIdentity for each kind of caller. */
export function userIdentity(actor: Actor): UserIdentity {
  const base = {
    ...(actor.principalId ? { principalId: actor.principalId } : {}),
    ...(actor.arn ? { arn: actor.arn } : {}),
    ...(actor.accountId ? { accountId: actor.accountId } : {}),
    ...(actor.accessKeyId ? { accessKeyId: actor.accessKeyId } : {}),
  };
  switch (actor.type) {
    case 'IAMUser':
      return { type: 'IAMUser', ...base, ...(actor.arn ? { userName: actor.arn.slice(actor.arn.lastIndexOf('/') + 1) } : {}) };
    case 'Root':
      return { type: 'Root', ...base };
    case 'AssumedRole': {
      // arn:aws:sts::<account>:assumed-role/<role>/<session>; the issuer is the role.
      const m = actor.arn ? /^arn:aws:sts::(\d{12}):assumed-role\/(.+)\/[^/]+$/.exec(actor.arn) : null;
      const roleName = m?.[2] ?? '';
      const roleId = actor.principalId?.split(':')[0] ?? '';
      return {
        type: 'AssumedRole',
        ...base,
        sessionContext: {
          sessionIssuer: { type: 'Role', principalId: roleId, arn: m ? `arn:aws:iam::${m[1]}:role/${roleName}` : '', accountId: actor.accountId ?? '', userName: roleName },
          attributes: { mfaAuthenticated: 'false' },
        },
      };
    }
    case 'Anonymous':
      // As S3 records anonymous requests.
      return { type: 'AWSAccount', principalId: '', accountId: 'ANONYMOUS_PRINCIPAL' };
    case 'AWSService':
      return { type: 'AWSService', ...(actor.principalId ? { invokedBy: actor.principalId } : {}) } as UserIdentity;
    default:
      return { type: actor.type, ...base };
  }
}

/** LookupEvents' Username: the user's name, a role session's name, or "root". */
export function usernameOf(record: CloudTrailRecord, actor: Actor): string | null {
  if (actor.type === 'IAMUser') return record.userIdentity.userName ?? null;
  if (actor.type === 'AssumedRole') return actor.sessionName ?? actor.arn?.slice(actor.arn.lastIndexOf('/') + 1) ?? null;
  if (actor.type === 'Root') return 'root';
  return null;
}

// Never in a record: secrets, tokens, passwords, signatures, and the bytes of layer parts.
// Substrings, so every spelling is caught (SecretAccessKey, sessionToken, ClientSecret, ApiKeyValue...).
const SECRET_KEYS = /secret|password|token|signature|credential|authorizationdata|layerpartblob|apikeyvalue|privatekey/i;
export const HIDDEN = 'HIDDEN_DUE_TO_SECURITY_REASONS';

/** A copy without secret fields (CloudTrail's own placeholder stands in for their values). */
export function scrub(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (depth > 12) return null;
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return null;
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    if (v === undefined) continue;
    out[key] = SECRET_KEYS.test(key) ? HIDDEN : scrub(v, depth + 1);
  }
  return out;
}

/** JSON with object keys sorted at every level: the same record always hashes the same. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const keys = Object.keys(value as Record<string, unknown>)
    .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
}

/** The first link of every chain points at this. */
export const GENESIS_HASH = '0'.repeat(64);

/** A link: the record's hash covers the previous link's hash, so no record can change or go unnoticed. */
export function chainHash(prevHash: string, canonicalRecord: string): string {
  return createHash('sha256').update(prevHash).update('\n').update(canonicalRecord).digest('hex');
}
