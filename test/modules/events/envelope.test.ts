import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EventMappers, registerEcrMappings, type ChangeRow } from '../../../src/modules/events/envelope.js';
import { compilePattern } from '../../../src/modules/events/pattern.js';

const change = (type: string, detail: Record<string, unknown>, extra: Partial<ChangeRow> = {}): ChangeRow => ({
  id: '3f0c9a52-1d2e-4b7a-9c1e-5a6b7c8d9e0f',
  seq: 7,
  type,
  time: Date.UTC(2026, 11, 3, 14, 5, 0, 123),
  registryId: '123456789012',
  region: 'eu-west-1',
  repository: 'team/app',
  detail,
  ...extra,
});

const DIGEST = `sha256:${'ab'.repeat(32)}`;

describe('change feed rows as EventBridge events', () => {
  const mappers = registerEcrMappings(new EventMappers());

  test('image.pushed is an ECR Image Action PUSH in the envelope ECR sends', () => {
    const [e, ...rest] = mappers.map(change('image.pushed', { digest: DIGEST, tag: '1.0', mediaType: 'application/vnd.oci.image.manifest.v1+json', artifactMediaType: 'application/vnd.oci.image.config.v1+json', subjectDigest: null }));
    assert.equal(rest.length, 0);
    assert.deepEqual(e, {
      version: '0',
      id: '3f0c9a52-1d2e-4b7a-9c1e-5a6b7c8d9e0f',
      'detail-type': 'ECR Image Action',
      source: 'aws.ecr',
      account: '123456789012',
      time: '2026-12-03T14:05:00Z',
      region: 'eu-west-1',
      resources: [],
      detail: {
        result: 'SUCCESS',
        'repository-name': 'team/app',
        'image-digest': DIGEST,
        'action-type': 'PUSH',
        'image-tag': '1.0',
        'manifest-media-type': 'application/vnd.oci.image.manifest.v1+json',
        'artifact-media-type': 'application/vnd.oci.image.config.v1+json',
      },
    });
    assert.ok(compilePattern('{"source": ["aws.ecr"], "detail-type": ["ECR Image Action"], "detail": {"action-type": ["PUSH"]}}').matches(e));
  });

  test('a push by digest has no image-tag', () => {
    const [e] = mappers.map(change('image.pushed', { digest: DIGEST, tag: null, mediaType: 'application/vnd.oci.image.index.v1+json', artifactMediaType: null }));
    assert.equal('image-tag' in e!.detail, false);
    assert.equal('artifact-media-type' in e!.detail, false);
  });

  test('image.deleted: one DELETE per tag, ids stable across re-reads and distinct per event', () => {
    const events = mappers.map(change('image.deleted', { digest: DIGEST, tags: ['1.0', 'latest'], reason: 'batch-delete' }));
    assert.deepEqual(events.map((e) => [e['detail-type'], e.detail['action-type'], e.detail['image-tag'], e.detail['image-digest']]), [
      ['ECR Image Action', 'DELETE', '1.0', DIGEST],
      ['ECR Image Action', 'DELETE', 'latest', DIGEST],
    ]);
    assert.notEqual(events[0]!.id, events[1]!.id);
    assert.match(events[1]!.id, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.deepEqual(mappers.map(change('image.deleted', { digest: DIGEST, tags: ['1.0', 'latest'], reason: 'batch-delete' })).map((e) => e.id), events.map((e) => e.id));
    const untagged = mappers.map(change('image.deleted', { digest: DIGEST, tags: [], reason: 'oci-delete' }));
    assert.equal(untagged.length, 1);
    assert.equal('image-tag' in untagged[0]!.detail, false);
  });

  test('a tag removed from an image that stays is a DELETE of that tag', () => {
    const [e] = mappers.map(change('image.tag-removed', { digest: DIGEST, tag: 'old' }));
    assert.deepEqual([e!.detail['action-type'], e!.detail['image-tag']], ['DELETE', 'old']);
  });

  test('lifecycle and GC deletions are not image actions; lifecycle.action is an ECR Lifecycle Policy Action', () => {
    assert.deepEqual(mappers.map(change('image.deleted', { digest: DIGEST, tags: ['x'], reason: 'lifecycle' })), []);
    assert.deepEqual(mappers.map(change('image.deleted', { digest: DIGEST, tags: [], reason: 'gc' })), []);
    const [e] = mappers.map(change('lifecycle.action', { digest: DIGEST, tags: ['x'], action: 'expire', rulePriority: 1 }));
    assert.equal(e!['detail-type'], 'ECR Lifecycle Policy Action');
    assert.deepEqual(e!.detail, { result: 'SUCCESS', 'repository-name': 'team/app', 'action-type': 'EXPIRE', 'image-digest': DIGEST, 'image-tags': ['x'], 'rule-priority': 1 });
  });

  test('changes nobody maps give no events; other modules register their own', () => {
    assert.deepEqual(mappers.map(change('repository.created', {})), []);
    const more = registerEcrMappings(new EventMappers()).register('scan.completed', (c) => [{ detailType: 'ECR Image Scan', detail: { 'repository-name': c.repository, 'scan-status': 'COMPLETE' } }]);
    const [e] = more.map(change('scan.completed', {}));
    assert.deepEqual([e!['detail-type'], e!.source, e!.detail['scan-status']], ['ECR Image Scan', 'aws.ecr', 'COMPLETE']);
  });
});
