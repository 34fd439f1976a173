import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { defaultRepositorySettings, type EcrStore } from '../../src/stores/ecr-store.js';
import type { MetadataStore } from '../../src/stores/metadata-store.js';

// One contract suite for every EcrStore backend (SQLite, PostgreSQL), over the metadata
// store it shares a database with.

export interface EcrStoreFixture {
  ecr: EcrStore;
  meta: MetadataStore;
  cleanup(): Promise<void>;
}

const registry = '123456789012';
const digest = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;

export function ecrStoreContract(name: string, make: (t: TestContext) => Promise<EcrStoreFixture | null>): void {
  const it = (title: string, body: (f: EcrStoreFixture) => Promise<void>) =>
    test(`${name}: ${title}`, async (t) => {
      const f = await make(t);
      if (!f) return;
      try {
        await body(f);
      } finally {
        await f.cleanup();
      }
    });

  it('repositories: create once, settings, listing, tags, delete', async ({ ecr }) => {
    const settings = { ...defaultRepositorySettings, imageTagMutability: 'IMMUTABLE' as const };
    const repo = await ecr.createRepository(registry, 'a/b', settings, [{ key: 'k', value: 'v' }], 1000);
    assert.ok(repo);
    assert.equal(await ecr.createRepository(registry, 'a/b', settings, [], 2000), null);
    assert.deepEqual((await ecr.getRepository(registry, 'a/b'))?.settings, settings);
    await ecr.createRepository(registry, 'a/c', defaultRepositorySettings, [], 1000);
    assert.deepEqual((await ecr.listRepositories(registry, { limit: 1, after: 'a/b' })).map((r) => r.name), ['a/c']);
    assert.equal(await ecr.putResourceTags(repo.id, [{ key: 'k2', value: '' }], 2), true);
    assert.equal(await ecr.putResourceTags(repo.id, [{ key: 'k3', value: '' }], 2), false);
    assert.deepEqual(await ecr.listResourceTags(repo.id), [{ key: 'k', value: 'v' }, { key: 'k2', value: '' }]);
    await ecr.deleteResourceTags(repo.id, ['k']);
    assert.deepEqual(await ecr.listResourceTags(repo.id), [{ key: 'k2', value: '' }]);
    assert.equal(await ecr.deleteRepository(repo.id, false), 'deleted');
    assert.equal(await ecr.deleteRepository(repo.id, true), 'missing');
    assert.equal(await ecr.getRepository(registry, 'a/b'), null);
  });

  it('policies, account settings and templates', async ({ ecr }) => {
    const repo = (await ecr.createRepository(registry, 'p/r', defaultRepositorySettings, [], 1))!;
    assert.equal(await ecr.getRepositoryPolicy(repo.id), null);
    await ecr.putRepositoryPolicy(repo.id, '{"a":1}');
    await ecr.putRepositoryPolicy(repo.id, '{"a":2}');
    assert.equal(await ecr.deleteRepositoryPolicy(repo.id), '{"a":2}');
    assert.equal(await ecr.deleteRepositoryPolicy(repo.id), null);
    await ecr.putRegistryPolicy(registry, '{}');
    assert.equal(await ecr.getRegistryPolicy(registry), '{}');
    assert.equal(await ecr.deleteRegistryPolicy(registry), '{}');
    await ecr.putAccountSetting(registry, 'BLOB_MOUNTING', 'ENABLED');
    assert.equal(await ecr.getAccountSetting(registry, 'BLOB_MOUNTING'), 'ENABLED');
    const template = { prefix: 'x', template: { appliedFor: ['CREATE_ON_PUSH'] }, createdAt: 5, updatedAt: 5 };
    assert.equal(await ecr.createTemplate(registry, template), true);
    assert.equal(await ecr.createTemplate(registry, template), false);
    await ecr.createTemplate(registry, { ...template, prefix: 'y' });
    assert.deepEqual((await ecr.listTemplates(registry, { limit: 5, after: 'x' })).map((r) => r.prefix), ['y']);
    assert.equal(await ecr.updateTemplate(registry, { ...template, template: { appliedFor: [] }, updatedAt: 9 }), true);
    assert.equal(await ecr.updateTemplate(registry, { ...template, prefix: 'z' }), false);
    assert.deepEqual(await ecr.deleteTemplate(registry, 'x'), { prefix: 'x', template: { appliedFor: [] }, createdAt: 5, updatedAt: 9 });
    assert.equal(await ecr.deleteTemplate(registry, 'x'), null);
  });

  it('images: listing with tags, ids, sizes, index children, pulls, layer parts', async ({ ecr, meta }) => {
    const repo = (await ecr.createRepository(registry, 'i/r', defaultRepositorySettings, [], 1))!;
    await meta.linkBlob(repo.id, { digest: digest(1), size: 100 }, 1);
    await meta.linkBlob(repo.id, { digest: digest(2), size: 23 }, 1);
    const put = (d: string, tag: string | null, refs: Array<{ digest: string; kind: 'blob' | 'manifest' }>, mediaType = 'application/vnd.oci.image.manifest.v1+json') =>
      meta.putManifest({ repositoryId: repo.id, digest: d, mediaType, artifactType: null, subjectDigest: null, content: Buffer.from(d), annotations: null, references: refs, tag, pushedAt: 7 });
    await put(digest(10), 'b', [{ digest: digest(1), kind: 'blob' }, { digest: digest(2), kind: 'blob' }]);
    await put(digest(10), 'a', []);
    await put(digest(11), null, [{ digest: digest(1), kind: 'blob' }]);
    await put(digest(12), 'idx', [{ digest: digest(10), kind: 'manifest' }, { digest: digest(11), kind: 'manifest' }], 'application/vnd.oci.image.index.v1+json');

    const images = await ecr.listImages(repo.id, 'ANY', { limit: 10 });
    assert.deepEqual(images.map((i) => [i.digest, i.tags]), [[digest(10), ['a', 'b']], [digest(11), []], [digest(12), ['idx']]]);
    assert.deepEqual((await ecr.listImages(repo.id, 'UNTAGGED', { limit: 10 })).map((i) => i.digest), [digest(11)]);
    assert.deepEqual((await ecr.listImages(repo.id, 'TAGGED', { limit: 1, after: digest(10) })).map((i) => i.digest), [digest(12)]);
    const ids = await ecr.listImageIds(repo.id, 'ANY', { limit: 10 });
    assert.deepEqual(ids, [{ digest: digest(10), tag: 'a' }, { digest: digest(10), tag: 'b' }, { digest: digest(11), tag: null }, { digest: digest(12), tag: 'idx' }]);
    assert.deepEqual(await ecr.listImageIds(repo.id, 'ANY', { limit: 2, after: { digest: digest(10), tag: 'a' } }), ids.slice(1, 3));
    const sizes = await ecr.referencedBlobSizes(repo.id, [digest(10), digest(11), digest(12)]);
    assert.deepEqual([...sizes].sort(), [[digest(10), 123], [digest(11), 100]]);
    assert.deepEqual((await ecr.childManifests(repo.id, [digest(12)])).get(digest(12))?.sort(), [digest(10), digest(11)]);
    assert.deepEqual(await ecr.referencingIndexes(repo.id, digest(11)), [digest(12)]);

    await ecr.recordPull(repo.id, digest(11), 1000, 500);
    await ecr.recordPull(repo.id, digest(11), 1200, 500);
    assert.equal((await ecr.getImages(repo.id, [digest(11)]))[0]!.lastPulledAt, 1000, 'a pull within the interval is not recorded');
    await ecr.recordPull(repo.id, digest(11), 2000, 500);
    assert.equal((await ecr.getImages(repo.id, [digest(11)]))[0]!.lastPulledAt, 2000);
    await ecr.recordPull(repo.id, digest(99), 1, 0); // no such image: ignored

    await meta.createUpload({ id: 'u1', repositoryId: repo.id, startedAt: 1 });
    await ecr.recordLayerPart('u1', 10, 100);
    assert.deepEqual(await ecr.getLayerUpload('u1'), { uploadId: 'u1', lastPartSize: 10, undersizedPart: false, parts: 1 });
    await ecr.recordLayerPart('u1', 10, 100);
    assert.deepEqual(await ecr.getLayerUpload('u1'), { uploadId: 'u1', lastPartSize: 10, undersizedPart: true, parts: 2 });
    assert.equal(await ecr.deleteRepository(repo.id, false), 'not-empty');
    assert.equal(await ecr.deleteRepository(repo.id, true), 'deleted');
    assert.equal(await ecr.getLayerUpload('u1'), null, 'upload bookkeeping goes with the repository');
  });

  it('image status (archive storage class): transitions, filters, pushes that restore, layers, GC', async ({ ecr, meta }) => {
    const repo = (await ecr.createRepository(registry, 's/r', defaultRepositorySettings, [], 1))!;
    for (const n of [1, 2, 3]) await meta.linkBlob(repo.id, { digest: digest(n), size: 10 * n }, 1);
    const put = (d: string, tag: string | null, refs: Array<{ digest: string; kind: 'blob' | 'manifest' }>, pushedAt: number, extra: { mediaType?: string; subjectDigest?: string } = {}) =>
      meta.putManifest({
        repositoryId: repo.id,
        digest: d,
        mediaType: extra.mediaType ?? 'application/vnd.oci.image.manifest.v1+json',
        artifactType: null,
        subjectDigest: extra.subjectDigest ?? null,
        content: Buffer.from(d),
        annotations: null,
        references: refs,
        tag,
        pushedAt,
      });
    // 20 uses layers 1 and 2, 21 uses 2 and 3; 22 is an index over 20; 23 refers to 20.
    await put(digest(20), 'a', [{ digest: digest(1), kind: 'blob' }, { digest: digest(2), kind: 'blob' }], 10);
    await put(digest(21), null, [{ digest: digest(2), kind: 'blob' }, { digest: digest(3), kind: 'blob' }], 11);
    await put(digest(22), 'idx', [{ digest: digest(20), kind: 'manifest' }], 12, { mediaType: 'application/vnd.oci.image.index.v1+json' });
    await put(digest(23), null, [{ digest: digest(1), kind: 'blob' }], 13, { subjectDigest: digest(20) });
    const status = async (d: string) => {
      const [image] = await ecr.getImages(repo.id, [d]);
      return image && [image.status, image.lastArchivedAt, image.lastActivatedAt];
    };
    assert.deepEqual(await status(digest(20)), ['ACTIVE', null, null]);
    assert.equal((await meta.statManifest(repo.id, digest(20)))?.status, 'ACTIVE');

    assert.deepEqual(await ecr.transitionImages(repo.id, [digest(21), digest(20), digest(99)], 'ACTIVE', 'ARCHIVED', 100), [digest(20), digest(21)]);
    assert.deepEqual(await ecr.transitionImages(repo.id, [digest(21)], 'ACTIVE', 'ARCHIVED', 200), [], 'only images in the from status move');
    assert.deepEqual(await status(digest(21)), ['ARCHIVED', 100, null]);
    assert.equal((await meta.getManifest(repo.id, digest(21)))?.status, 'ARCHIVED');
    assert.equal((await meta.statManifest(repo.id, digest(21)))?.status, 'ARCHIVED');
    assert.deepEqual((await meta.listReferrers(repo.id, digest(20))).map((r) => [r.digest, r.status]), [[digest(23), 'ACTIVE']]);

    // Listings by status (the store's default is every status).
    assert.deepEqual((await ecr.listImages(repo.id, 'ANY', { limit: 10 })).map((i) => i.digest), [20, 21, 22, 23].map(digest));
    assert.deepEqual((await ecr.listImages(repo.id, 'ANY', { limit: 10 }, 'ARCHIVED')).map((i) => i.digest), [digest(20), digest(21)]);
    assert.deepEqual((await ecr.listImages(repo.id, 'TAGGED', { limit: 10 }, 'ACTIVE')).map((i) => i.digest), [digest(22)]);
    assert.deepEqual(await ecr.listImageIds(repo.id, 'ANY', { limit: 10 }, 'ARCHIVED'), [{ digest: digest(20), tag: 'a' }, { digest: digest(21), tag: null }]);
    assert.deepEqual(await ecr.listImageIds(repo.id, 'UNTAGGED', { limit: 10 }, 'ACTIVE'), [{ digest: digest(23), tag: null }]);
    const lifecycle = await ecr.listLifecycleImages(repo.id, { limit: 10 });
    assert.deepEqual(lifecycle.map((i) => [i.digest, i.status, i.lastArchivedAt]), [[digest(20), 'ARCHIVED', 100], [digest(21), 'ARCHIVED', 100], [digest(22), 'ACTIVE', null], [digest(23), 'ACTIVE', null]]);

    // A layer only archived images use is archived; one an active image uses too is not.
    assert.equal(await ecr.layerImageStatus(repo.id, digest(3)), 'archived');
    assert.equal(await ecr.layerImageStatus(repo.id, digest(1)), 'active', 'the active referrer 23 uses layer 1');
    assert.equal(await ecr.layerImageStatus(repo.id, digest(2)), 'archived');
    assert.equal(await ecr.layerImageStatus(repo.id, digest(7)), 'unreferenced');

    // Archived images keep their blobs referenced: garbage collection sees nothing to take.
    assert.deepEqual(await meta.listUnreferencedLinks(1_000_000, 100), []);
    assert.deepEqual(await meta.listCollectableBlobs(1_000_000, 100), []);

    // Restoring: ARCHIVED to ACTIVATING (no stamp), then ACTIVE (stamped).
    assert.deepEqual(await ecr.transitionImages(repo.id, [digest(21)], 'ARCHIVED', 'ACTIVATING', 300), [digest(21)]);
    assert.deepEqual(await status(digest(21)), ['ACTIVATING', 100, null]);
    assert.deepEqual(await ecr.transitionImages(repo.id, [digest(21)], 'ACTIVATING', 'ACTIVE', 400), [digest(21)]);
    assert.deepEqual(await status(digest(21)), ['ACTIVE', 100, 400]);

    // A push restores at once: the manifest pushed again, and the manifests an index lists.
    assert.deepEqual(await put(digest(21), 'b', [{ digest: digest(2), kind: 'blob' }, { digest: digest(3), kind: 'blob' }], 500), { ok: true, created: false });
    assert.deepEqual(await status(digest(21)), ['ACTIVE', 100, 400], 'an active image keeps its times');
    assert.deepEqual(await ecr.transitionImages(repo.id, [digest(21)], 'ACTIVE', 'ARCHIVED', 600), [digest(21)]);
    assert.deepEqual(await put(digest(21), null, [{ digest: digest(2), kind: 'blob' }, { digest: digest(3), kind: 'blob' }], 700), { ok: true, created: false });
    assert.deepEqual(await status(digest(21)), ['ACTIVE', 600, 700]);
    assert.deepEqual(await status(digest(20)), ['ARCHIVED', 100, null]);
    assert.deepEqual(await put(digest(24), 'idx2', [{ digest: digest(20), kind: 'manifest' }], 800, { mediaType: 'application/vnd.oci.image.index.v1+json' }), { ok: true, created: true });
    assert.deepEqual(await status(digest(20)), ['ACTIVE', 100, 800], 'pushing an index restores what it lists');
    assert.deepEqual(await status(digest(24)), ['ACTIVE', null, null]);
    assert.equal(await ecr.deleteRepository(repo.id, true), 'deleted');
  });

  it('lifecycle previews: one in progress at a time, finished only by its own job', async ({ ecr }) => {
    const repo = (await ecr.createRepository(registry, 'l/r', defaultRepositorySettings, [], 1))!;
    assert.equal(await ecr.getLifecyclePreview(repo.id), null);
    assert.equal(await ecr.beginLifecyclePreview(repo.id, 'policy-1', 1000, 0), true);
    assert.deepEqual(await ecr.getLifecyclePreview(repo.id), { policyText: 'policy-1', status: 'IN_PROGRESS', results: '[]', createdAt: 1000 });
    assert.equal(await ecr.beginLifecyclePreview(repo.id, 'policy-2', 2000, 500), false, 'another is in progress');
    assert.equal((await ecr.getLifecyclePreview(repo.id))?.policyText, 'policy-1');
    assert.equal(await ecr.finishLifecyclePreview(repo.id, 999, 'COMPLETE', '["x"]'), false, 'not the running preview');
    assert.equal(await ecr.finishLifecyclePreview(repo.id, 1000, 'COMPLETE', '["x"]'), true);
    assert.equal(await ecr.finishLifecyclePreview(repo.id, 1000, 'FAILED', '[]'), false, 'already finished');
    assert.deepEqual(await ecr.getLifecyclePreview(repo.id), { policyText: 'policy-1', status: 'COMPLETE', results: '["x"]', createdAt: 1000 });
    assert.equal(await ecr.beginLifecyclePreview(repo.id, 'policy-3', 3000, 0), true, 'a finished preview is replaced');
    assert.equal(await ecr.beginLifecyclePreview(repo.id, 'policy-4', 9000, 3001), true, 'one whose job was lost (started before staleBefore) is replaced');
    assert.deepEqual(await ecr.getLifecyclePreview(repo.id), { policyText: 'policy-4', status: 'IN_PROGRESS', results: '[]', createdAt: 9000 });
    assert.equal(await ecr.finishLifecyclePreview(repo.id, 3000, 'COMPLETE', '[]'), false, 'the replaced preview cannot finish the new one');
    assert.equal(await ecr.deleteRepository(repo.id, true), 'deleted');
    assert.equal(await ecr.getLifecyclePreview(repo.id), null, 'previews go with the repository');
  });
}
