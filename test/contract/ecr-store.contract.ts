import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { defaultRepositorySettings, type EcrStore, type LifecyclePreviewResultRecord, type TagStatus } from '../../src/stores/ecr-store.js';
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
/** A preview result for image n: every third untagged, even ones archived, some already in the archive. */
const previewResult = (n: number): LifecyclePreviewResultRecord => ({
  digest: digest(n),
  tags: n % 3 === 0 ? [] : [`v${n}`, `latest-${n}`],
  pushedAt: 1_700_000_000_000 + n,
  action: n % 2 === 0 ? 'TRANSITION' : 'EXPIRE',
  targetStorageClass: n % 2 === 0 ? 'ARCHIVE' : null,
  rulePriority: 1 + (n % 4),
  storageClass: n % 5 === 0 && n % 2 === 1 ? 'ARCHIVE' : 'STANDARD',
});

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
    const results = [previewResult(1)];
    assert.equal(await ecr.getLifecyclePreview(repo.id), null);
    assert.equal(await ecr.beginLifecyclePreview(repo.id, 'policy-1', 1000, 0), true);
    assert.deepEqual(await ecr.getLifecyclePreview(repo.id), { policyText: 'policy-1', status: 'IN_PROGRESS', createdAt: 1000 });
    assert.equal(await ecr.beginLifecyclePreview(repo.id, 'policy-2', 2000, 500), false, 'another is in progress');
    assert.equal((await ecr.getLifecyclePreview(repo.id))?.policyText, 'policy-1');
    assert.equal(await ecr.finishLifecyclePreview(repo.id, 999, 'COMPLETE', results), false, 'not the running preview');
    assert.equal(await ecr.finishLifecyclePreview(repo.id, 1000, 'COMPLETE', results), true);
    assert.equal(await ecr.finishLifecyclePreview(repo.id, 1000, 'FAILED', []), false, 'already finished');
    assert.equal(await ecr.finishLifecyclePreview(repo.id, 1000, 'COMPLETE', [previewResult(2)]), false, 'a second finish stores nothing');
    assert.deepEqual(await ecr.getLifecyclePreview(repo.id), { policyText: 'policy-1', status: 'COMPLETE', createdAt: 1000 });
    assert.deepEqual((await ecr.getLifecyclePreviewPage(repo.id, { tagStatus: 'ANY' }, { limit: 10 }))?.results, results);
    assert.equal(await ecr.beginLifecyclePreview(repo.id, 'policy-3', 3000, 0), true, 'a finished preview is replaced');
    assert.equal(await ecr.beginLifecyclePreview(repo.id, 'policy-4', 9000, 3001), true, 'one whose job was lost (started before staleBefore) is replaced');
    assert.deepEqual(await ecr.getLifecyclePreview(repo.id), { policyText: 'policy-4', status: 'IN_PROGRESS', createdAt: 9000 });
    assert.equal(await ecr.finishLifecyclePreview(repo.id, 3000, 'COMPLETE', []), false, 'the replaced preview cannot finish the new one');
    assert.equal(await ecr.finishLifecyclePreview(repo.id, 9000, 'FAILED', []), true);
    assert.deepEqual(await ecr.getLifecyclePreviewPage(repo.id, { tagStatus: 'ANY' }, { limit: 10 }), { preview: { policyText: 'policy-4', status: 'FAILED', createdAt: 9000 }, results: [], summary: null });
    assert.equal(await ecr.deleteRepository(repo.id, true), 'deleted');
    assert.equal(await ecr.getLifecyclePreview(repo.id), null, 'previews go with the repository');
  });

  it('lifecycle preview results: stored with COMPLETE, paged by digest, filtered and counted, replaced by the next preview', async ({ ecr }) => {
    const repo = (await ecr.createRepository(registry, 'l/results', defaultRepositorySettings, [], 1))!;
    const page = (tagStatus: TagStatus, limit: number, after?: string, digests?: string[]) => ecr.getLifecyclePreviewPage(repo.id, { tagStatus, digests }, { limit, after });
    assert.equal(await page('ANY', 10), null, 'no preview');
    assert.equal(await ecr.beginLifecyclePreview(repo.id, 'policy-1', 1000, 0), true);
    assert.deepEqual(await page('ANY', 10), { preview: { policyText: 'policy-1', status: 'IN_PROGRESS', createdAt: 1000 }, results: [], summary: null });

    // More than one write batch, handed over in no particular order as a one-pass iterable.
    const all = Array.from({ length: 1203 }, (_, i) => previewResult(i + 1));
    const shuffled = [...all.filter((_, i) => i % 2 === 1).reverse(), ...all.filter((_, i) => i % 2 === 0)];
    assert.equal(await ecr.finishLifecyclePreview(repo.id, 1000, 'COMPLETE', shuffled.values()), true);
    const summary = { expiring: 602, transitioning: [{ targetStorageClass: 'ARCHIVE', count: 601 }] };
    const first = await page('ANY', 500);
    assert.deepEqual(first?.preview, { policyText: 'policy-1', status: 'COMPLETE', createdAt: 1000 });
    assert.deepEqual(first?.summary, summary);
    assert.deepEqual(first?.results, all.slice(0, 500), 'digest order, every field as written');

    // Keyset pages: each starts after the digest the last one ended with.
    const paged: LifecyclePreviewResultRecord[] = [];
    for (let after: string | undefined; ; ) {
      const p = (await page('ANY', 500, after))!;
      assert.deepEqual(p.summary, summary, 'the summary counts every result, on every page');
      paged.push(...p.results);
      if (p.results.length < 500) break;
      after = p.results[p.results.length - 1]!.digest;
    }
    assert.deepEqual(paged, all);
    assert.deepEqual((await page('ANY', 500, digest(1203)))?.results, []);
    assert.deepEqual((await page('ANY', 2, digest(7)))?.results, [previewResult(8), previewResult(9)]);
    assert.deepEqual((await page('ANY', 2, `${digest(7)}0`))?.results, [previewResult(8), previewResult(9)], 'the bound need not be a stored digest');

    // Filters: tag status, digests (unknown ones ignored, an empty list matches none), both, with paging.
    const tagged = all.filter((r) => r.tags.length > 0);
    const untagged = all.filter((r) => r.tags.length === 0);
    assert.deepEqual((await page('TAGGED', 2000))?.results, tagged);
    assert.deepEqual((await page('UNTAGGED', 2000))?.results, untagged);
    assert.deepEqual((await page('UNTAGGED', 3, digest(10)))?.results, [previewResult(12), previewResult(15), previewResult(18)]);
    const wanted = [digest(600), digest(4), digest(3), digest(99_999), digest(3)];
    assert.deepEqual((await page('ANY', 10, undefined, wanted))?.results, [3, 4, 600].map(previewResult));
    assert.deepEqual((await page('UNTAGGED', 10, undefined, wanted))?.results, [3, 600].map(previewResult));
    assert.deepEqual((await page('TAGGED', 10, undefined, wanted))?.results, [previewResult(4)]);
    assert.deepEqual((await page('ANY', 1, digest(3), wanted))?.results, [previewResult(4)]);
    const none = await page('ANY', 10, undefined, []);
    assert.deepEqual([none?.preview.status, none?.results, none?.summary], ['COMPLETE', [], summary]);

    // A new preview replaces the results; a finish that fails midway leaves none behind.
    assert.equal(await ecr.beginLifecyclePreview(repo.id, 'policy-2', 2000, 0), true);
    assert.deepEqual(await page('ANY', 10), { preview: { policyText: 'policy-2', status: 'IN_PROGRESS', createdAt: 2000 }, results: [], summary: null });
    function* failing() {
      yield* all.slice(0, 700);
      throw new Error('evaluation failed');
    }
    await assert.rejects(ecr.finishLifecyclePreview(repo.id, 2000, 'COMPLETE', failing()), /evaluation failed/);
    assert.deepEqual(await ecr.getLifecyclePreview(repo.id), { policyText: 'policy-2', status: 'IN_PROGRESS', createdAt: 2000 }, 'still in progress: the job retries');
    const expiring = [previewResult(5), previewResult(1201)];
    assert.equal(await ecr.finishLifecyclePreview(repo.id, 2000, 'COMPLETE', expiring), true);
    assert.deepEqual(await page('ANY', 10), { preview: { policyText: 'policy-2', status: 'COMPLETE', createdAt: 2000 }, results: expiring, summary: { expiring: 2, transitioning: [] } });

    // A preview with no results is COMPLETE with zero counts.
    assert.equal(await ecr.beginLifecyclePreview(repo.id, 'policy-3', 3000, 0), true);
    assert.equal(await ecr.finishLifecyclePreview(repo.id, 3000, 'COMPLETE', []), true);
    assert.deepEqual(await page('ANY', 10), { preview: { policyText: 'policy-3', status: 'COMPLETE', createdAt: 3000 }, results: [], summary: { expiring: 0, transitioning: [] } });

    // Results go with the repository (and its preview).
    assert.equal(await ecr.beginLifecyclePreview(repo.id, 'policy-4', 4000, 0), true);
    assert.equal(await ecr.finishLifecyclePreview(repo.id, 4000, 'COMPLETE', all), true);
    assert.equal(await ecr.deleteRepository(repo.id, true), 'deleted');
    assert.equal(await page('ANY', 10), null);
  });

  it('lifecycle preview results: byte-wise digest order; a reader sees a preview before or after its finish, never midway', async ({ ecr }) => {
    const repo = (await ecr.createRepository(registry, 'l/order', defaultRepositorySettings, [], 1))!;
    // Digests as the grammar allows them ([a-zA-Z0-9=_-] after the colon): '-' < '0' < '=' < 'B' < '_' < 'a', as JavaScript compares.
    const digests = ['test:a_b', 'test:ab', 'test:aB', 'test:a-b', 'test:a0', 'test:a=', 'sha512:0', 'sha256:f'];
    const ordered = [...digests].sort((a, b) => (a < b ? -1 : 1));
    assert.deepEqual(ordered, ['sha256:f', 'sha512:0', 'test:a-b', 'test:a0', 'test:a=', 'test:aB', 'test:a_b', 'test:ab']);
    await ecr.beginLifecyclePreview(repo.id, 'policy-1', 1000, 0);
    await ecr.finishLifecyclePreview(repo.id, 1000, 'COMPLETE', digests.map((d, i) => ({ ...previewResult(i), digest: d })));
    const seen: string[] = [];
    for (let after: string | undefined; ; ) {
      const p = (await ecr.getLifecyclePreviewPage(repo.id, { tagStatus: 'ANY' }, { limit: 3, after }))!;
      seen.push(...p.results.map((r) => r.digest));
      if (p.results.length < 3) break;
      after = p.results[p.results.length - 1]!.digest;
    }
    assert.deepEqual(seen, ordered);

    // A reader started while the finish is writing its batches (it yields between them).
    const all = Array.from({ length: 1203 }, (_, i) => previewResult(i + 1));
    await ecr.beginLifecyclePreview(repo.id, 'policy-2', 2000, 0);
    let reader: ReturnType<EcrStore['getLifecyclePreviewPage']> | undefined;
    function* results() {
      for (const [i, r] of all.entries()) {
        if (i === 700) reader = ecr.getLifecyclePreviewPage(repo.id, { tagStatus: 'ANY' }, { limit: 2000 });
        yield r;
      }
    }
    assert.equal(await ecr.finishLifecyclePreview(repo.id, 2000, 'COMPLETE', results()), true);
    const read = await reader!;
    if (read?.preview.status === 'IN_PROGRESS') assert.deepEqual([read.results, read.summary], [[], null]);
    else assert.deepEqual([read?.preview.status, read?.results.length, read?.summary], ['COMPLETE', 1203, { expiring: 602, transitioning: [{ targetStorageClass: 'ARCHIVE', count: 601 }] }]);
  });
}
