import { createHash } from 'node:crypto';
import type { IdentityService } from '../../domain/iam/identity-service.js';
import type { JsonService } from '../../edges/aws/query-edge.js';
import type { AuditStore, LookupKey, LookupQuery } from './store.js';

// CloudTrail's LookupEvents (AWS JSON 1.1, as botocore's cloudtrail 2013-11-01 model has
// it): `aws cloudtrail lookup-events --endpoint-url ...` over the caller's own account's
// trail, newest first, one lookup attribute at most, 50 events a page.

export const CLOUDTRAIL_TARGET_PREFIX = 'com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101';

/** An error CloudTrail answers with its own exception name (the AWS edge's `awsJsonError` convention). */
class CloudTrailError extends Error {
  readonly awsJsonError = true;
  readonly status = 400;
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const KEYS = new Set<LookupKey>(['EventId', 'EventName', 'ReadOnly', 'Username', 'ResourceType', 'ResourceName', 'EventSource', 'AccessKeyId']);

export function cloudTrailService(identity: IdentityService, store: AuditStore, beforeRead?: () => Promise<void>): JsonService {
  return {
    targetPrefix: CLOUDTRAIL_TARGET_PREFIX,
    signingName: 'cloudtrail',
    // CloudTrail's endpoints are regional: requests are signed for this endpoint's region.
    regional: true,
    operations: {
      async LookupEvents({ caller, input, facts }) {
        await identity.require(caller, 'cloudtrail:LookupEvents', '*', facts);
        const query = parseLookup(input, caller.accountId);
        if (query === 'insight') return { Events: [] };
        // Records still queued on this node are written first, so a call sees what came before it.
        await beforeRead?.();
        const rows = await store.lookup({ ...query, limit: query.limit + 1 });
        const page = rows.slice(0, query.limit);
        const last = page[page.length - 1];
        return {
          Events: page.map((r) => ({
            EventId: r.eventId,
            EventName: r.eventName,
            ReadOnly: String(r.readOnly),
            ...(r.accessKeyId ? { AccessKeyId: r.accessKeyId } : {}),
            EventTime: Math.floor(r.eventTime / 1000),
            EventSource: r.eventSource,
            ...(r.username ? { Username: r.username } : {}),
            Resources: r.resources.map((x) => ({ ResourceType: x.type, ResourceName: x.arn })),
            CloudTrailEvent: r.record,
          })),
          ...(rows.length > query.limit && last ? { NextToken: encodeToken({ t: last.eventTime, s: last.seq, f: fingerprint(input) }) } : {}),
        };
      },
    },
  };
}

function parseLookup(input: Record<string, unknown>, accountId: string): (LookupQuery & { limit: number }) | 'insight' {
  const category = input.EventCategory;
  if (category !== undefined && category !== null) {
    if (category !== 'insight') throw new CloudTrailError('InvalidEventCategoryException', 'Event category is not valid. Valid values: insight.');
    return 'insight';
  }
  const query: LookupQuery = { accountId, limit: 50 };
  const attributes = input.LookupAttributes;
  if (attributes !== undefined && attributes !== null) {
    if (!Array.isArray(attributes)) throw new CloudTrailError('InvalidLookupAttributesException', 'LookupAttributes must be a list.');
    if (attributes.length > 1) throw new CloudTrailError('InvalidLookupAttributesException', 'You cannot specify more than one lookup attribute.');
    if (attributes.length === 1) {
      const a = attributes[0] as { AttributeKey?: unknown; AttributeValue?: unknown } | null;
      if (!a || typeof a.AttributeKey !== 'string' || !KEYS.has(a.AttributeKey as LookupKey)) throw new CloudTrailError('InvalidLookupAttributesException', `Lookup attribute key ${String(a?.AttributeKey)} is not valid.`);
      if (typeof a.AttributeValue !== 'string' || a.AttributeValue.length < 1 || a.AttributeValue.length > 2000) throw new CloudTrailError('InvalidLookupAttributesException', 'Lookup attribute value must be 1 to 2000 characters long.');
      query.attribute = { key: a.AttributeKey as LookupKey, value: a.AttributeValue };
    }
  }
  const start = time(input.StartTime, 'StartTime');
  const end = time(input.EndTime, 'EndTime');
  if (start !== undefined && end !== undefined && start > end) throw new CloudTrailError('InvalidTimeRangeException', 'Start time must be before end time.');
  if (start !== undefined) query.startTime = start;
  if (end !== undefined) query.endTime = end;
  const max = input.MaxResults;
  if (max !== undefined && max !== null) {
    if (typeof max !== 'number' || !Number.isInteger(max) || max < 1 || max > 50) throw new CloudTrailError('InvalidMaxResultsException', 'MaxResults must be between 1 and 50.');
    query.limit = max;
  }
  const token = input.NextToken;
  if (token !== undefined && token !== null) {
    const t = typeof token === 'string' ? decodeToken(token) : null;
    if (!t || t.f !== fingerprint(input)) throw new CloudTrailError('InvalidNextTokenException', 'The NextToken is not valid for this request.');
    query.before = { time: t.t, seq: t.s };
  }
  return query as LookupQuery & { limit: number };
}

/** JSON timestamps: epoch seconds (what the SDKs send); ISO strings too. */
function time(value: unknown, name: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  const ms = typeof value === 'number' ? value * 1000 : typeof value === 'string' ? Date.parse(value) : NaN;
  if (!Number.isFinite(ms)) throw new CloudTrailError('InvalidTimeRangeException', `${name} is not a valid time.`);
  return Math.round(ms);
}

interface Token {
  t: number;
  s: number;
  f: string;
}

/** A token is good only with the parameters it was issued for (as CloudTrail requires). */
function fingerprint(input: Record<string, unknown>): string {
  const { LookupAttributes, StartTime, EndTime } = input;
  return createHash('sha256').update(JSON.stringify([LookupAttributes ?? null, StartTime ?? null, EndTime ?? null])).digest('base64url').slice(0, 16);
}

function encodeToken(token: Token): string {
  return Buffer.from(JSON.stringify(token)).toString('base64url');
}

function decodeToken(text: string): Token | null {
  try {
    const t = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as Token;
    return Number.isSafeInteger(t.t) && Number.isSafeInteger(t.s) && typeof t.f === 'string' ? t : null;
  } catch {
    return null;
  }
}
