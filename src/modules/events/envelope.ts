import { createHash } from 'node:crypto';

// Events in EventBridge's envelope, and the registry that turns change-feed rows into them.
// ECR's own mappings ("ECR Image Action", "ECR Lifecycle Policy Action") are registered
// here; other modules (scanning, replication, pull-through cache) register theirs with
// `eventMappers.register(changeType, mapper)`.

export interface EventEnvelope {
  version: '0';
  id: string;
  'detail-type': string;
  source: string;
  account: string;
  /** ISO 8601 to the second, as EventBridge writes it: 2019-11-16T01:54:34Z */
  time: string;
  region: string;
  resources: string[];
  detail: Record<string, unknown>;
}

/** The change-feed row as the seam defines it (src/domain/events): what mappers read. */
export interface ChangeRow {
  id: string;
  seq: number;
  type: string;
  time: number;
  registryId: string;
  region: string;
  repository: string | null;
  detail: Record<string, unknown>;
}

/** What a mapper returns: the envelope's variable parts; id, time, account, region and version are filled in. */
export interface MappedEvent {
  detailType: string;
  source?: string;
  resources?: string[];
  detail: Record<string, unknown>;
}

export type ChangeMapper = (change: ChangeRow) => MappedEvent[];

export const eventTime = (ms: number): string => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

/** A UUID-shaped id derived from the change id, so a change re-read from the feed yields the same event ids. */
export function derivedEventId(changeId: string, index: number): string {
  if (index === 0 && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(changeId)) return changeId.toLowerCase();
  const h = createHash('sha256').update(`${changeId}#${index}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export class EventMappers {
  private readonly byType = new Map<string, ChangeMapper[]>();

  register(changeType: string, mapper: ChangeMapper): this {
    const list = this.byType.get(changeType) ?? [];
    list.push(mapper);
    this.byType.set(changeType, list);
    return this;
  }

  /** Zero or more EventBridge events for one change. */
  map(change: ChangeRow): EventEnvelope[] {
    const mapped = (this.byType.get(change.type) ?? []).flatMap((m) => m(change));
    return mapped.map((e, i) => ({
      version: '0',
      id: derivedEventId(change.id, i),
      'detail-type': e.detailType,
      source: e.source ?? 'aws.ecr',
      account: change.registryId,
      time: eventTime(change.time),
      region: change.region,
      resources: e.resources ?? [],
      detail: e.detail,
    }));
  }
}

const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : typeof v === 'string' ? [v] : []);

/** ECR's image push and delete events (detail as ECR sends them; absent fields are left out). */
export function registerEcrMappings(mappers: EventMappers): EventMappers {
  const imageAction = (change: ChangeRow, action: 'PUSH' | 'DELETE', tag: string | null, extra: Record<string, unknown> = {}): MappedEvent => ({
    detailType: 'ECR Image Action',
    detail: {
      result: 'SUCCESS',
      'repository-name': change.repository ?? '',
      'image-digest': str(change.detail.digest) ?? '',
      'action-type': action,
      ...(tag ? { 'image-tag': tag } : {}),
      ...extra,
    },
  });
  mappers.register('image.pushed', (change) => {
    const d = change.detail;
    const media = str(d.mediaType);
    const artifact = str(d.artifactMediaType) ?? str(d.configMediaType);
    return [imageAction(change, 'PUSH', str(d.tag), { ...(media ? { 'manifest-media-type': media } : {}), ...(artifact ? { 'artifact-media-type': artifact } : {}) })];
  });
  // A tag taken off an image that stays (BatchDeleteImage by tag, /v2 tag delete): ECR
  // reports it as a DELETE of that tag.
  mappers.register('image.tag-removed', (change) => strings(change.detail.tag ?? change.detail.tags).map((tag) => imageAction(change, 'DELETE', tag)));
  mappers.register('image.deleted', (change) => {
    const reason = str(change.detail.reason);
    // Lifecycle expiry has its own event; garbage collection is housekeeping, not an image action.
    if (reason === 'lifecycle' || reason === 'gc') return [];
    const tags = strings(change.detail.tags);
    return tags.length === 0 ? [imageAction(change, 'DELETE', null)] : tags.map((tag) => imageAction(change, 'DELETE', tag));
  });
  mappers.register('lifecycle.action', (change) => {
    const d = change.detail;
    const digest = str(d.digest) ?? str(d.imageDigest);
    return [
      {
        detailType: 'ECR Lifecycle Policy Action',
        detail: {
          result: 'SUCCESS',
          'repository-name': change.repository ?? '',
          'action-type': (str(d.action) ?? str(d.actionType) ?? 'EXPIRE').toUpperCase(),
          ...(digest ? { 'image-digest': digest } : {}),
          'image-tags': strings(d.tags),
          ...(typeof d.rulePriority === 'number' ? { 'rule-priority': d.rulePriority } : {}),
          ...(str(d.storageClass) ? { 'target-storage-class': str(d.storageClass) } : {}),
        },
      },
    ];
  });
  return mappers;
}
