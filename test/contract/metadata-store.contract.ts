import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { ManifestReference, MetadataStore, NewManifest, ReferrerRecord, RepositoryRecord } from '../../src/stores/metadata-store.js';

// One contract suite for every MetadataStore backend (SQLite, PostgreSQL). The suite opens
// one fixture (a migrated, empty store) and keeps tests apart by giving each its own
// registry id and job kinds; at the end it closes the store, then calls cleanup().

export interface MetadataStoreFixture {
  store: MetadataStore;
  cleanup(): Promise<void>;
}

export function metadataStoreContract(name: string, make: () => Promise<MetadataStoreFixture>): void {
  describe(`MetadataStore contract: ${name}`, () => {
    let fixture: MetadataStoreFixture | undefined;
    let store: MetadataStore;
    before(async () => {
      fixture = await make();
      store = fixture.store;
    });
    after(async () => {
      if (!fixture) return;
      await fixture.store.close();
      await fixture.cleanup();
    });

    /** A fresh repository in a registry of its own. */
    async function newRepository(name = 'app'): Promise<RepositoryRecord> {
      return store.ensureRepository(uniqueId('registry'), name, NOW);
    }

    async function linkBlobs(repositoryId: number, ...digests: string[]): Promise<void> {
      for (const digest of digests) await store.linkBlob(repositoryId, { digest, size: 100 }, NOW);
    }

    /** Puts a manifest over one linked blob; resolves to the NewManifest that was stored. */
    async function putImage(repositoryId: number, overrides: Partial<NewManifest> = {}): Promise<NewManifest> {
      const layer = digestOf(randomBytes(8));
      await linkBlobs(repositoryId, layer);
      const m = newManifest(repositoryId, { references: [{ digest: layer, kind: 'blob' }], ...overrides });
      assert.deepEqual(await store.putManifest(m), { ok: true, created: true });
      return m;
    }

    // ---- repositories ----

    test('ensureRepository creates a repository once; getRepository finds it', async () => {
      const registryId = uniqueId('registry');
      assert.equal(await store.getRepository(registryId, 'team/app'), null);
      const created = await store.ensureRepository(registryId, 'team/app', NOW);
      assert.equal(typeof created.id, 'number');
      assert.deepEqual(created, { id: created.id, registryId, name: 'team/app', createdAt: NOW });
      assert.deepEqual(await store.getRepository(registryId, 'team/app'), created);
      assert.deepEqual(await store.ensureRepository(registryId, 'team/app', NOW + 5000), created, 'a second ensure changes nothing');
      const elsewhere = await store.ensureRepository(uniqueId('registry'), 'team/app', NOW);
      assert.notEqual(elsewhere.id, created.id, 'the same name in another registry is another repository');
      assert.equal(await store.getRepository(registryId, 'team/other'), null);
    });

    test('ensureRepository is race-safe: concurrent calls agree on one repository per name', async () => {
      const registryId = uniqueId('registry');
      const names = ['one', 'two', 'three', 'four', 'five'];
      const calls = names.flatMap((n) => Array.from({ length: 6 }, () => store.ensureRepository(registryId, n, NOW)));
      const results = await Promise.all(calls);
      for (const n of names) {
        const forName = results.filter((r) => r.name === n);
        assert.equal(forName.length, 6);
        for (const r of forName) assert.deepEqual(r, forName[0], `every call for ${n} returns the same repository`);
      }
      assert.equal(new Set(results.map((r) => r.id)).size, names.length, 'one id per name');
      assert.deepEqual(await store.listRepositories(registryId, { limit: 100 }), [...names].sort());
    });

    test('listRepositories pages with limit and after, in byte order', async () => {
      const registryId = uniqueId('registry');
      const names = ['b', 'a_b', 'a/b', 'a-b', 'a.b', 'a', 'a0', 'b/a/c', 'z9', '0x', 'a/b/c', 'ab'];
      for (const n of names) await store.ensureRepository(registryId, n, NOW);
      await store.ensureRepository(uniqueId('registry'), 'a-c', NOW); // another registry: never listed
      const expected = byteSorted(names);
      assert.deepEqual(await store.listRepositories(registryId, { limit: 100 }), expected);
      for (const limit of [1, 3, 5]) {
        assert.deepEqual(await walkPages((page) => store.listRepositories(registryId, page), limit), expected, `pages of ${limit}`);
      }
      assert.deepEqual(await store.listRepositories(registryId, { limit: 2, after: 'a-' }), ['a-b', 'a.b'], 'after a name that does not exist');
      assert.deepEqual(await store.listRepositories(registryId, { limit: 2, after: 'a/b' }), ['a/b/c', 'a0']);
      assert.deepEqual(await store.listRepositories(registryId, { limit: 10, after: 'z9' }), []);
      assert.deepEqual(await store.listRepositories(uniqueId('registry'), { limit: 10 }), []);
    });

    // ---- blobs ----

    test('linkBlob links a blob into a repository; getLinkedBlob and unlinkBlob work per repository', async () => {
      const one = await newRepository();
      const two = await newRepository();
      const blob = { digest: digestOf(randomBytes(8)), size: 5_000_000_123 }; // beyond 32 bits
      assert.equal(await store.getLinkedBlob(one.id, blob.digest), null);
      await store.linkBlob(one.id, blob, NOW);
      await store.linkBlob(one.id, blob, NOW + 1); // idempotent
      assert.deepEqual(await store.getLinkedBlob(one.id, blob.digest), blob);
      assert.equal(await store.getLinkedBlob(two.id, blob.digest), null, 'not linked into another repository');
      await store.linkBlob(two.id, blob, NOW);
      assert.equal(await store.unlinkBlob(one.id, blob.digest), true);
      assert.equal(await store.getLinkedBlob(one.id, blob.digest), null);
      assert.equal(await store.unlinkBlob(one.id, blob.digest), false, 'unlinking again reports nothing removed');
      assert.deepEqual(await store.getLinkedBlob(two.id, blob.digest), blob, 'the other link stays');
      await store.linkBlob(one.id, blob, NOW);
      assert.deepEqual(await store.getLinkedBlob(one.id, blob.digest), blob, 'a blob can be linked again');
    });

    // ---- uploads ----

    test('createUpload, getUpload and deleteUpload', async () => {
      const repo = await newRepository();
      const upload = { id: uniqueId('upload'), repositoryId: repo.id, startedAt: NOW };
      assert.equal(await store.getUpload(upload.id), null);
      await store.createUpload(upload);
      assert.deepEqual(await store.getUpload(upload.id), upload);
      assert.equal(await store.deleteUpload(upload.id), true);
      assert.equal(await store.getUpload(upload.id), null);
      assert.equal(await store.deleteUpload(upload.id), false);
    });

    // ---- manifests and tags ----

    test('putManifest refuses missing blob and manifest references and writes nothing', async () => {
      const repo = await newRepository();
      const other = await newRepository();
      const linked = digestOf(randomBytes(8));
      const linkedElsewhere = digestOf(randomBytes(8));
      const unknown = digestOf(randomBytes(8));
      const present = await putImage(repo.id);
      const manifestElsewhere = await putImage(other.id);
      const unknownManifest = digestOf(randomBytes(8));
      await linkBlobs(repo.id, linked);
      await linkBlobs(other.id, linkedElsewhere);
      const m = newManifest(repo.id, {
        tag: 'v1',
        references: [
          { digest: linked, kind: 'blob' },
          { digest: linkedElsewhere, kind: 'blob' },
          { digest: unknown, kind: 'blob' },
          { digest: unknown, kind: 'blob' },
          { digest: present.digest, kind: 'manifest' },
          { digest: manifestElsewhere.digest, kind: 'manifest' },
          { digest: unknownManifest, kind: 'manifest' },
        ],
      });
      const result = await store.putManifest(m);
      assert.equal(result.ok, false);
      assert.ok(!result.ok);
      assert.deepEqual([...result.missingBlobs].sort(), [linkedElsewhere, unknown].sort());
      assert.deepEqual([...result.missingManifests].sort(), [manifestElsewhere.digest, unknownManifest].sort());
      assert.equal(await store.getManifest(repo.id, m.digest), null);
      assert.equal(await store.statManifest(repo.id, m.digest), null);
      assert.equal(await store.resolveTag(repo.id, 'v1'), null);
      assert.deepEqual(await store.listTags(repo.id, { limit: 10 }), []);

      // Only one missing reference still refuses the whole manifest.
      const onlyManifestMissing = newManifest(repo.id, { tag: 'v2', references: [{ digest: linked, kind: 'blob' }, { digest: unknownManifest, kind: 'manifest' }] });
      assert.deepEqual(await store.putManifest(onlyManifestMissing), { ok: false, missingBlobs: [], missingManifests: [unknownManifest] });
      assert.equal(await store.resolveTag(repo.id, 'v2'), null);
      assert.equal(await store.getManifest(repo.id, onlyManifestMissing.digest), null);
    });

    test('putManifest stores the manifest byte for byte with its tag; a re-put is created=false', async () => {
      const repo = await newRepository();
      const config = digestOf(randomBytes(8));
      const layer = digestOf(randomBytes(8));
      await linkBlobs(repo.id, config, layer);
      // Byte-exact: odd whitespace, non-ASCII text, and bytes that are not UTF-8 at all.
      const content = Buffer.concat([Buffer.from('{\r\n  "schemaVersion": 2,\t"x": "ünïcødé ✓"  }\n'), Buffer.from([0x00, 0xff, 0xfe, 0x80])]);
      const m = newManifest(repo.id, {
        content,
        digest: digestOf(content),
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        artifactType: 'application/vnd.example.sbom',
        annotations: { 'org.opencontainers.image.created': '2026-01-01T00:00:00Z', 'com.example/ünï': 'x' },
        references: [
          { digest: config, kind: 'blob' },
          { digest: layer, kind: 'blob' },
          { digest: layer, kind: 'blob' },
        ],
        tag: 'v1',
      });
      assert.deepEqual(await store.putManifest(m), { ok: true, created: true });
      const head = {
        repositoryId: repo.id,
        digest: m.digest,
        mediaType: m.mediaType,
        artifactType: m.artifactType,
        subjectDigest: null,
        size: content.length,
        annotations: m.annotations,
        pushedAt: m.pushedAt,
        status: 'ACTIVE' as const,
      };
      const stored = await store.getManifest(repo.id, m.digest);
      assert.ok(stored);
      assert.ok(Buffer.isBuffer(stored.content), 'content is a Buffer');
      assert.ok(stored.content.equals(content), 'content is byte for byte what was put');
      assert.deepEqual({ ...stored, content: undefined }, { ...head, content: undefined });
      assert.deepEqual(await store.statManifest(repo.id, m.digest), head);
      assert.equal(await store.resolveTag(repo.id, 'v1'), m.digest);

      // The same manifest again: nothing new, and the first push's record stays.
      assert.deepEqual(await store.putManifest({ ...m, pushedAt: NOW + 60_000 }), { ok: true, created: false });
      assert.deepEqual(await store.putManifest({ ...m, tag: 'stable', pushedAt: NOW + 60_000 }), { ok: true, created: false });
      assert.deepEqual(await store.statManifest(repo.id, m.digest), head);
      assert.deepEqual(await store.listTags(repo.id, { limit: 10 }), ['stable', 'v1']);
      assert.equal(await store.resolveTag(repo.id, 'stable'), m.digest);

      // Not visible from another repository.
      const other = await newRepository();
      assert.equal(await store.getManifest(other.id, m.digest), null);
      assert.equal(await store.resolveTag(other.id, 'v1'), null);
    });

    test('concurrent links and puts of the same content: one blob, one manifest created once, every tag set', async () => {
      const repo = await newRepository();
      const layer = { digest: digestOf(randomBytes(8)), size: 42 };
      await Promise.all(Array.from({ length: 8 }, (_, i) => store.linkBlob(repo.id, layer, NOW + i)));
      assert.deepEqual(await store.getLinkedBlob(repo.id, layer.digest), layer);
      const m = newManifest(repo.id, { references: [{ digest: layer.digest, kind: 'blob' }] });
      const tags = Array.from({ length: 8 }, (_, i) => `t${i}`);
      const results = await Promise.all(tags.map((tag) => store.putManifest({ ...m, tag })));
      assert.equal(results.filter((r) => r.ok && r.created).length, 1, 'created exactly once');
      assert.ok(results.every((r) => r.ok));
      assert.deepEqual(await store.listTags(repo.id, { limit: 100 }), tags);
      for (const tag of tags) assert.equal(await store.resolveTag(repo.id, tag), m.digest);
    });

    test('putManifest without a tag stores an untagged manifest', async () => {
      const repo = await newRepository();
      const m = await putImage(repo.id, { tag: null });
      assert.equal((await store.statManifest(repo.id, m.digest))?.digest, m.digest);
      assert.deepEqual(await store.listTags(repo.id, { limit: 10 }), []);
    });

    test('a tag moves to the manifest last put under it', async () => {
      const repo = await newRepository();
      const first = await putImage(repo.id, { tag: 'latest' });
      const second = await putImage(repo.id, { tag: 'latest' });
      assert.equal(await store.resolveTag(repo.id, 'latest'), second.digest);
      assert.ok(await store.getManifest(repo.id, first.digest), 'the previous manifest stays, untagged');
      assert.deepEqual(await store.putManifest({ ...first, tag: 'latest' }), { ok: true, created: false });
      assert.equal(await store.resolveTag(repo.id, 'latest'), first.digest, 'a re-put moves the tag back');
      assert.deepEqual(await store.listTags(repo.id, { limit: 10 }), ['latest']);
    });

    test('an index is accepted once its child manifests exist in the repository', async () => {
      const repo = await newRepository();
      const amd64 = await putImage(repo.id);
      const arm64 = await putImage(repo.id);
      const index = newManifest(repo.id, {
        mediaType: 'application/vnd.oci.image.index.v1+json',
        references: [
          { digest: amd64.digest, kind: 'manifest' },
          { digest: arm64.digest, kind: 'manifest' },
        ],
        tag: 'multi',
      });
      assert.deepEqual(await store.putManifest(index), { ok: true, created: true });
      assert.equal(await store.resolveTag(repo.id, 'multi'), index.digest);
    });

    test('deleteManifest removes the manifest with its tags and references', async () => {
      const repo = await newRepository();
      const child = await putImage(repo.id, { tag: 'child' });
      const index = newManifest(repo.id, {
        mediaType: 'application/vnd.oci.image.index.v1+json',
        references: [{ digest: child.digest, kind: 'manifest' }],
        tag: 'v1',
      });
      assert.deepEqual(await store.putManifest(index), { ok: true, created: true });
      assert.deepEqual(await store.putManifest({ ...index, tag: 'v2' }), { ok: true, created: false });
      const referrer = await putImage(repo.id, { subjectDigest: index.digest, artifactType: 'application/vnd.example.sig' });

      assert.equal(await store.deleteManifest(repo.id, index.digest), true);
      assert.equal(await store.getManifest(repo.id, index.digest), null);
      assert.equal(await store.statManifest(repo.id, index.digest), null);
      assert.equal(await store.resolveTag(repo.id, 'v1'), null);
      assert.equal(await store.resolveTag(repo.id, 'v2'), null);
      assert.deepEqual(await store.listTags(repo.id, { limit: 10 }), ['child']);
      assert.equal(await store.deleteManifest(repo.id, index.digest), false, 'deleting again reports nothing removed');
      assert.ok(await store.getManifest(repo.id, child.digest), 'the child manifest stays');
      assert.ok(await store.getManifest(repo.id, referrer.digest), 'referrers stay (they may be pushed before their subject)');

      // The index comes back as new: its old references went with it.
      assert.deepEqual(await store.putManifest({ ...index, tag: 'v3' }), { ok: true, created: true });
      assert.equal(await store.deleteManifest(repo.id, index.digest), true);
      // The child can go once its index is gone.
      assert.equal(await store.deleteManifest(repo.id, child.digest), true);
      assert.deepEqual(await store.listTags(repo.id, { limit: 10 }), []);
    });

    test('deleteTag removes only the tag', async () => {
      const repo = await newRepository();
      const m = await putImage(repo.id, { tag: 'v1' });
      await store.putManifest({ ...m, tag: 'v2' });
      assert.equal(await store.deleteTag(repo.id, 'v1'), true);
      assert.equal(await store.resolveTag(repo.id, 'v1'), null);
      assert.equal(await store.resolveTag(repo.id, 'v2'), m.digest);
      assert.ok(await store.getManifest(repo.id, m.digest), 'the manifest stays');
      assert.equal(await store.deleteTag(repo.id, 'v1'), false);
      assert.equal(await store.deleteTag(repo.id, 'never'), false);
    });

    test('listTags pages with limit and after, in byte order', async () => {
      const repo = await newRepository();
      const other = await newRepository();
      const tags = ['v1', 'latest', 'V1', 'v1.0', 'v1-rc', 'v1_0', '1.0', '_x', 'Z', 'a', 'v10', 'v1.0.1'];
      const m = await putImage(repo.id, { tag: tags[0] });
      for (const tag of tags.slice(1)) assert.deepEqual(await store.putManifest({ ...m, tag }), { ok: true, created: false });
      await putImage(other.id, { tag: 'a0' }); // another repository's tag: never listed
      const expected = byteSorted(tags);
      assert.deepEqual(expected.slice(0, 4), ['1.0', 'V1', 'Z', '_x'], 'byte order puts upper case before _ and lower case');
      assert.deepEqual(await store.listTags(repo.id, { limit: 100 }), expected);
      for (const limit of [1, 3, 5]) {
        assert.deepEqual(await walkPages((page) => store.listTags(repo.id, page), limit), expected, `pages of ${limit}`);
      }
      assert.deepEqual(await store.listTags(repo.id, { limit: 3, after: 'v1' }), ['v1-rc', 'v1.0', 'v1.0.1']);
      assert.deepEqual(await store.listTags(repo.id, { limit: 3, after: 'b' }), ['latest', 'v1', 'v1-rc'], 'after a tag that does not exist');
      assert.deepEqual(await store.listTags(repo.id, { limit: 3, after: 'v10' }), ['v1_0']);
      assert.deepEqual(await store.listTags(repo.id, { limit: 3, after: 'v1_0' }), []);
    });

    test('listReferrers lists manifests whose subject is the digest, optionally by artifactType', async () => {
      const repo = await newRepository();
      const subject = await putImage(repo.id, { tag: 'v1' });
      const sbom = await putImage(repo.id, {
        subjectDigest: subject.digest,
        artifactType: 'application/vnd.example.sbom',
        annotations: { 'org.example.kind': 'sbom' },
      });
      const signature = await putImage(repo.id, { subjectDigest: subject.digest, artifactType: 'application/vnd.example.sig', pushedAt: NOW + 1 });
      const plain = await putImage(repo.id, { subjectDigest: subject.digest, artifactType: null, pushedAt: NOW + 2 });
      await putImage(repo.id, { subjectDigest: digestOf(randomBytes(8)), artifactType: 'application/vnd.example.sbom' });
      const other = await newRepository();
      await putImage(other.id, { subjectDigest: subject.digest, artifactType: 'application/vnd.example.sbom' });

      const asReferrer = (m: NewManifest): ReferrerRecord => ({
        digest: m.digest,
        mediaType: m.mediaType,
        artifactType: m.artifactType,
        size: m.content.length,
        annotations: m.annotations,
        status: 'ACTIVE',
      });
      const byDigest = (a: ReferrerRecord, b: ReferrerRecord) => a.digest.localeCompare(b.digest);
      assert.deepEqual((await store.listReferrers(repo.id, subject.digest)).sort(byDigest), [sbom, signature, plain].map(asReferrer).sort(byDigest));
      assert.deepEqual(await store.listReferrers(repo.id, subject.digest, 'application/vnd.example.sbom'), [asReferrer(sbom)]);
      assert.deepEqual(await store.listReferrers(repo.id, subject.digest, 'application/vnd.example.none'), []);
      assert.deepEqual(await store.listReferrers(repo.id, digestOf(randomBytes(8))), []);

      // A referrer may arrive before its subject.
      const early = await putImage(repo.id, { subjectDigest: digestOf(Buffer.from('not pushed yet')), artifactType: 'application/vnd.example.sig' });
      assert.deepEqual(await store.listReferrers(repo.id, digestOf(Buffer.from('not pushed yet'))), [asReferrer(early)]);
      // Deleting a referrer removes it from the list.
      assert.equal(await store.deleteManifest(repo.id, sbom.digest), true);
      assert.deepEqual(await store.listReferrers(repo.id, subject.digest, 'application/vnd.example.sbom'), []);
    });

    // ---- jobs ----

    // ---- garbage collection (docs/gc.md) ----
    // These tests use times long before NOW, so rows other tests create (at NOW) never
    // fall inside their windows.

    test('claimBlob creates the row once, refreshes its grace period, and linkBlob honours the incarnation', async () => {
      const repo = await newRepository();
      const blob = { digest: digestOf(randomBytes(8)), size: 42 };
      const first = await store.claimBlob(blob, OLD);
      assert.equal(typeof first, 'string');
      assert.equal(await store.claimBlob(blob, OLD + 10), first, 'a second claim keeps the incarnation');
      assert.ok(!(await collectable(OLD + 5)).includes(blob.digest), 'the second claim restarted the grace period');
      assert.ok((await collectable(OLD + 11)).includes(blob.digest));
      assert.equal(await store.linkBlob(repo.id, blob, OLD + 20, 'another-incarnation'), false);
      assert.equal(await store.getLinkedBlob(repo.id, blob.digest), null);
      assert.equal(await store.linkBlob(repo.id, blob, OLD + 20, first!), true);
      assert.deepEqual(await store.getLinkedBlob(repo.id, blob.digest), blob);
      assert.ok(!(await collectable(OLD + 100)).includes(blob.digest), 'a linked blob is not collectable');
    });

    test('a marked blob refuses claims and links until its row is removed; then it is a new incarnation', async () => {
      const repo = await newRepository();
      const blob = { digest: digestOf(randomBytes(8)), size: 7 };
      const incarnation = (await store.claimBlob(blob, OLD))!;
      assert.deepEqual(await store.markBlobsForDeletion([blob.digest], OLD, OLD + 1), [], 'not older than the cutoff: not marked');
      assert.deepEqual(await store.markBlobsForDeletion([blob.digest], OLD + 1, OLD + 2), [blob]);
      assert.deepEqual(await store.markBlobsForDeletion([blob.digest], OLD + 1, OLD + 3), [], 'marked once');
      assert.equal(await store.claimBlob(blob, OLD + 3), null);
      assert.equal(await store.linkBlob(repo.id, blob, OLD + 3, incarnation), false);
      assert.equal(await store.linkBlob(repo.id, blob, OLD + 3), false, 'not even without an incarnation');
      assert.deepEqual(await store.listStaleMarks(OLD + 3, 10).then((m) => m.filter((x) => x.digest === blob.digest)), [{ ...blob, markedAt: OLD + 2 }]);
      assert.equal(await store.finishBlobDeletion([{ ...blob, markedAt: OLD + 99 }]), 0, 'only the holder of the mark removes the row');
      assert.equal(await store.finishBlobDeletion([{ ...blob, markedAt: OLD + 2 }]), 1);
      assert.deepEqual([...(await store.existingBlobs([blob.digest]))], []);
      assert.equal(await store.linkBlob(repo.id, blob, OLD + 4, incarnation), false, 'the old incarnation is gone: its bytes may be too');
      const reborn = await store.claimBlob(blob, OLD + 5);
      assert.ok(reborn && reborn !== incarnation);
      assert.equal(await store.linkBlob(repo.id, blob, OLD + 6, reborn), true);
    });

    test('markBlobsForDeletion re-checks links and manifest references', async () => {
      const repo = await newRepository();
      const linked = { digest: digestOf(randomBytes(8)), size: 1 };
      const referenced = { digest: digestOf(randomBytes(8)), size: 2 };
      const free = { digest: digestOf(randomBytes(8)), size: 3 };
      for (const b of [linked, referenced, free]) await store.claimBlob(b, OLD);
      const mine = new Set([linked.digest, referenced.digest, free.digest]);
      assert.deepEqual((await collectable(OLD + 1)).filter((d) => mine.has(d)), byteSorted([...mine]));
      // After the listing, a push links one and a manifest comes to reference another
      // (then the repository link goes, as DELETE of a blob does): neither may be marked.
      assert.equal(await store.linkBlob(repo.id, linked, OLD + 2), true);
      assert.equal(await store.linkBlob(repo.id, referenced, OLD), true);
      assert.deepEqual(await store.putManifest(newManifest(repo.id, { references: [{ digest: referenced.digest, kind: 'blob' }] })), { ok: true, created: true });
      assert.equal(await store.unlinkBlob(repo.id, referenced.digest), true);
      const marked = await store.markBlobsForDeletion([linked.digest, referenced.digest, free.digest], OLD + 1, OLD + 3);
      assert.deepEqual(marked, [free]);
      assert.equal(await store.finishBlobDeletion([{ ...free, markedAt: OLD + 3 }]), 1);
    });

    test('listUnreferencedLinks pages through old links no manifest of their repository references; removal re-checks', async () => {
      const repo = await newRepository();
      const other = await newRepository();
      const digests = byteSorted(Array.from({ length: 5 }, () => digestOf(randomBytes(8))));
      for (const d of digests) await store.linkBlob(repo.id, { digest: d, size: 1 }, OLD);
      await store.linkBlob(other.id, { digest: digests[0]!, size: 1 }, OLD);
      // digests[1] is referenced by a manifest in repo; in `other` nothing references digests[0].
      assert.deepEqual(await store.putManifest(newManifest(repo.id, { references: [{ digest: digests[1]!, kind: 'blob' }] })), { ok: true, created: true });
      const all: { repositoryId: number; digest: string }[] = [];
      let after: { repositoryId: number; digest: string } | undefined;
      for (;;) {
        const page = (await store.listUnreferencedLinks(OLD + 1, 2, after)).filter((l) => l.repositoryId === repo.id || l.repositoryId === other.id);
        const raw = await store.listUnreferencedLinks(OLD + 1, 2, after);
        all.push(...page);
        if (raw.length < 2) break;
        after = raw[raw.length - 1];
      }
      const expected = [
        ...[digests[0]!, digests[2]!, digests[3]!, digests[4]!].map((digest) => ({ repositoryId: repo.id, digest })),
        { repositoryId: other.id, digest: digests[0]! },
      ].sort((a, b) => a.repositoryId - b.repositoryId);
      assert.deepEqual(all, expected);
      // digests[2] is linked again (a fresh upload) after the listing: its grace restarts.
      await store.linkBlob(repo.id, { digest: digests[2]!, size: 1 }, OLD + 10);
      const removed = await store.removeUnreferencedLinks(repo.id, [digests[0]!, digests[1]!, digests[2]!, digests[3]!], OLD + 1);
      assert.deepEqual(removed.sort(), [digests[0]!, digests[3]!].sort());
      assert.equal(await store.getLinkedBlob(repo.id, digests[0]!), null);
      assert.ok(await store.getLinkedBlob(repo.id, digests[1]!), 'referenced link kept');
      assert.ok(await store.getLinkedBlob(repo.id, digests[2]!), 're-linked link kept');
      assert.ok(await store.getLinkedBlob(other.id, digests[0]!), 'other repository untouched');
    });

    test('markOrphanBytes claims only digests without a row; existingBlobs tells which have one', async () => {
      const known = { digest: digestOf(randomBytes(8)), size: 1 };
      const orphan = { digest: digestOf(randomBytes(8)), size: 2 };
      await store.claimBlob(known, OLD);
      assert.deepEqual([...(await store.existingBlobs([known.digest, orphan.digest]))], [known.digest]);
      assert.deepEqual(await store.markOrphanBytes([known, orphan], OLD + 1), [orphan.digest]);
      assert.equal(await store.claimBlob(orphan, OLD + 2), null, 'a push waits while the orphan is deleted');
      assert.equal(await store.finishBlobDeletion([{ ...orphan, markedAt: OLD + 1 }]), 1);
      assert.equal(typeof (await store.claimBlob(orphan, OLD + 3)), 'string');
      assert.equal(typeof (await store.claimBlob(known, OLD + 3)), 'string', 'the known row was left alone');
    });

    /** Digests listCollectableBlobs returns before `before`, paging through all of them. */
    async function collectable(before: number): Promise<string[]> {
      const all: string[] = [];
      let after: string | undefined;
      for (;;) {
        const page = await store.listCollectableBlobs(before, 100, after);
        all.push(...page.map((b) => b.digest));
        if (page.length < 100) return all;
        after = page[page.length - 1]!.digest;
      }
    }

    // ---- shared secrets ----

    test('sharedSecret stores the first candidate and returns it to every later (and concurrent) caller', async () => {
      const name = uniqueId('secret');
      const answers = await Promise.all(['one', 'two', 'three', 'four'].map((candidate) => store.sharedSecret(name, candidate, NOW)));
      assert.equal(new Set(answers).size, 1, `every caller gets the same secret: ${answers.join(', ')}`);
      assert.ok(['one', 'two', 'three', 'four'].includes(answers[0]!));
      assert.equal(await store.sharedSecret(name, 'later', NOW + 1), answers[0]);
      assert.equal(await store.sharedSecret(uniqueId('secret'), 'other', NOW), 'other', 'names are independent');
    });

    // ---- schema ----

    test('migrate() again is a no-op that keeps the data; ping answers', async () => {
      const repo = await newRepository();
      const m = await putImage(repo.id, { tag: 'v1' });
      await store.migrate();
      await store.migrate();
      await store.ping();
      assert.deepEqual(await store.getRepository(repo.registryId, repo.name), repo);
      assert.equal(await store.resolveTag(repo.id, 'v1'), m.digest);
    });
  });
}

const NOW = 1_767_225_600_000; // 2026-01-01, a fixed clock: stores take time from their callers
const OLD = 1_000_000_000_000; // 2001: garbage-collection tests live before every other test's rows

let counter = 0;
function uniqueId(prefix: string): string {
  return `${prefix}-${process.pid}-${++counter}-${randomBytes(4).toString('hex')}`;
}

function digestOf(content: Buffer): string {
  return `sha256:${createHash('sha256').update(content).digest('hex')}`;
}

function newManifest(repositoryId: number, overrides: Partial<NewManifest> & { references?: ManifestReference[] } = {}): NewManifest {
  const content = overrides.content ?? Buffer.from(JSON.stringify({ schemaVersion: 2, nonce: randomBytes(8).toString('hex') }));
  return {
    repositoryId,
    digest: digestOf(content),
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    artifactType: null,
    subjectDigest: null,
    annotations: null,
    references: [],
    tag: null,
    pushedAt: NOW,
    ...overrides,
    content,
  };
}

function byteSorted(names: string[]): string[] {
  return [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

async function walkPages(list: (page: { limit: number; after?: string }) => Promise<string[]>, limit: number): Promise<string[]> {
  const all: string[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await list(after === undefined ? { limit } : { limit, after });
    assert.ok(page.length <= limit, `a page holds at most ${limit}`);
    all.push(...page);
    if (page.length < limit) return all;
    after = page[page.length - 1];
  }
}
