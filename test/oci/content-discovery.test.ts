import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startBerth, type TestServer } from '../helpers/server.js';
import { emptyConfigDescriptor, expectError, MediaTypes, pathOf, Registry, sha256, type Descriptor, type Image } from './client.js';

// distribution-spec v1.1, "Content discovery": tag listing, the catalog, the Referrers API.

interface ReferrersIndex {
  schemaVersion: number;
  mediaType: string;
  manifests: Descriptor[];
}

/** Follows Link headers from `path`, returning each page's items and the Link it carried. */
async function walkPages(registry: Registry, path: string, key: 'tags' | 'repositories'): Promise<Array<{ items: string[]; link: string | null }>> {
  const pages: Array<{ items: string[]; link: string | null }> = [];
  let next: string | null = path;
  while (next !== null) {
    const res = await registry.request('GET', next);
    assert.equal(res.status, 200, next);
    const link = res.headers.get('link');
    pages.push({ items: ((await res.json()) as Record<string, string[]>)[key]!, link });
    if (link === null) break;
    const m = /^<([^>]+)>;\s*rel="next"$/.exec(link);
    assert.ok(m, `Link header in RFC 5988 form: ${link}`);
    next = pathOf(m[1]!);
    assert.ok(pages.length < 20, 'pagination terminates');
  }
  return pages;
}

describe('OCI content discovery', () => {
  let server: TestServer;
  let registry: Registry;
  const repo = 'discover/app';
  const tags = ['1.0', '1.1', '2.0', 'beta', 'latest'];
  let image: Image;

  before(async () => {
    server = await startBerth();
    registry = new Registry(server.url);
    image = await registry.pushImage(repo, 'latest');
    // Push in a scrambled order: listings are lexical whatever the push order.
    for (const tag of ['beta', '2.0', '1.0', '1.1']) {
      const put = await registry.pushManifest(repo, tag, image.bytes, MediaTypes.ociManifest);
      assert.equal(put.res.status, 201);
    }
  });
  after(() => server.stop());

  describe('tag listing', () => {
    test('all tags in lexical order, no Link', async () => {
      const res = await registry.request('GET', `/v2/${repo}/tags/list`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('link'), null);
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
      assert.deepEqual(await res.json(), { name: repo, tags });
    });

    test('n=2: pages of two joined by Link headers, the last without one', async () => {
      const pages = await walkPages(registry, `/v2/${repo}/tags/list?n=2`, 'tags');
      assert.deepEqual(
        pages.map((p) => p.items),
        [['1.0', '1.1'], ['2.0', 'beta'], ['latest']],
      );
      assert.equal(pages[0]!.link, `</v2/${repo}/tags/list?n=2&last=1.1>; rel="next"`);
      assert.equal(pages[2]!.link, null);
    });

    test('last= starts after the named tag, with or without n', async () => {
      let res = await registry.request('GET', `/v2/${repo}/tags/list?last=1.1`);
      assert.deepEqual(((await res.json()) as { tags: string[] }).tags, ['2.0', 'beta', 'latest']);
      res = await registry.request('GET', `/v2/${repo}/tags/list?n=1&last=2.0`);
      assert.deepEqual(((await res.json()) as { tags: string[] }).tags, ['beta']);
      assert.equal(res.headers.get('link'), `</v2/${repo}/tags/list?n=1&last=beta>; rel="next"`);
      res = await registry.request('GET', `/v2/${repo}/tags/list?last=zzz`);
      assert.deepEqual(((await res.json()) as { tags: string[] }).tags, []);
    });

    test('n equal to the number of tags: one page, no Link', async () => {
      const res = await registry.request('GET', `/v2/${repo}/tags/list?n=${tags.length}`);
      assert.equal(res.headers.get('link'), null);
      assert.deepEqual(((await res.json()) as { tags: string[] }).tags, tags);
    });

    test('n=0: an empty list', async () => {
      const res = await registry.request('GET', `/v2/${repo}/tags/list?n=0`);
      assert.equal(res.status, 200);
      assert.deepEqual(((await res.json()) as { tags: string[] }).tags, []);
    });

    test('a repository with no tags lists none; an unknown one is 404 NAME_UNKNOWN', async () => {
      await registry.pushBlob('discover/untagged', 'blob only');
      const res = await registry.request('GET', '/v2/discover/untagged/tags/list');
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { name: 'discover/untagged', tags: [] });
      await expectError(await registry.request('GET', '/v2/discover/unknown/tags/list'), 404, 'NAME_UNKNOWN');
    });
  });

  describe('catalog', () => {
    test('repositories in lexical order, paginated with Link headers', async () => {
      for (const name of ['discover/zeta', 'discover/alpha', 'discover/mid']) await registry.pushBlob(name, name);
      const res = await registry.request('GET', '/v2/_catalog');
      assert.equal(res.status, 200);
      const all = ((await res.json()) as { repositories: string[] }).repositories;
      assert.deepEqual(all, [...all].sort());
      for (const name of ['discover/alpha', 'discover/app', 'discover/mid', 'discover/zeta']) assert.ok(all.includes(name), name);

      const pages = await walkPages(registry, '/v2/_catalog?n=2', 'repositories');
      assert.deepEqual(pages.flatMap((p) => p.items), all);
      assert.ok(pages.slice(0, -1).every((p) => p.items.length === 2));
      assert.equal(pages[0]!.link, `</v2/_catalog?n=2&last=${encodeURIComponent(pages[0]!.items[1]!)}>; rel="next"`);
      assert.equal(pages.at(-1)!.link, null);

      const after = await registry.request('GET', `/v2/_catalog?last=${encodeURIComponent('discover/mid')}`);
      assert.deepEqual(((await after.json()) as { repositories: string[] }).repositories, all.filter((n) => n > 'discover/mid'));
    });
  });

  describe('Referrers API', () => {
    let sbom: { digest: string; bytes: Buffer };
    let signature: { digest: string; bytes: Buffer };
    let imageReferrer: { digest: string; bytes: Buffer; configType: string };
    let indexReferrer: { digest: string; bytes: Buffer };

    before(async () => {
      const empty = await registry.pushBlob(repo, '{}', MediaTypes.ociEmpty);
      const subject = { mediaType: MediaTypes.ociManifest, digest: image.digest, size: image.bytes.length };
      const put = async (manifest: object) => {
        const r = await registry.pushManifest(repo, sha256(JSON.stringify(manifest)).slice(7, 30), manifest);
        assert.equal(r.res.status, 201);
        assert.equal(r.res.headers.get('oci-subject'), image.digest);
        return r;
      };
      sbom = await put({
        schemaVersion: 2,
        mediaType: MediaTypes.ociManifest,
        artifactType: 'application/vnd.example.sbom',
        config: empty,
        layers: [await registry.pushBlob(repo, '{"sbom":true}', 'application/json')],
        subject,
        annotations: { 'org.example.created': '2026-01-01' },
      });
      // An artifact typed by its config media type (no artifactType field).
      signature = await put({
        schemaVersion: 2,
        mediaType: MediaTypes.ociManifest,
        config: await registry.pushBlob(repo, 'sig config', 'application/vnd.example.signature.config'),
        layers: [empty],
        subject,
      });
      // A plain image manifest with a subject: its artifactType is its config's media type.
      const other = await registry.pushImage(repo, 'other');
      imageReferrer = { ...(await put({ ...other.manifest, subject })), configType: other.config.mediaType };
      // An index with a subject and no artifactType: listed without one.
      indexReferrer = await put({
        schemaVersion: 2,
        mediaType: MediaTypes.ociIndex,
        manifests: [{ mediaType: MediaTypes.ociManifest, digest: other.digest, size: other.bytes.length }],
        subject,
      });
    });

    test('lists every referrer as an OCI index with descriptors, artifactType and annotations', async () => {
      const res = await registry.request('GET', `/v2/${repo}/referrers/${image.digest}`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), MediaTypes.ociIndex);
      assert.equal(res.headers.get('oci-filters-applied'), null);
      const index = (await res.json()) as ReferrersIndex;
      assert.equal(index.schemaVersion, 2);
      assert.equal(index.mediaType, MediaTypes.ociIndex);
      const byDigest = new Map(index.manifests.map((d) => [d.digest, d]));
      assert.equal(index.manifests.length, 4);
      assert.deepEqual(byDigest.get(sbom.digest), {
        mediaType: MediaTypes.ociManifest,
        digest: sbom.digest,
        size: sbom.bytes.length,
        artifactType: 'application/vnd.example.sbom',
        annotations: { 'org.example.created': '2026-01-01' },
      });
      assert.equal(byDigest.get(signature.digest)?.artifactType, 'application/vnd.example.signature.config');
      // distribution-spec: "If the artifactType is empty or missing in the image manifest,
      // the value of artifactType MUST be set to the config descriptor mediaType value."
      assert.equal(byDigest.get(imageReferrer.digest)?.artifactType, imageReferrer.configType);
      const indexEntry = byDigest.get(indexReferrer.digest);
      assert.equal(indexEntry?.mediaType, MediaTypes.ociIndex);
      assert.equal(indexEntry?.size, indexReferrer.bytes.length);
      assert.equal(indexEntry && 'artifactType' in indexEntry, false);
    });

    test('artifactType filter: only matching referrers, with OCI-Filters-Applied', async () => {
      const res = await registry.request('GET', `/v2/${repo}/referrers/${image.digest}?artifactType=${encodeURIComponent('application/vnd.example.sbom')}`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('oci-filters-applied'), 'artifactType');
      const index = (await res.json()) as ReferrersIndex;
      assert.deepEqual(
        index.manifests.map((d) => d.digest),
        [sbom.digest],
      );

      const none = await registry.request('GET', `/v2/${repo}/referrers/${image.digest}?artifactType=application/vnd.example.none`);
      assert.equal(none.headers.get('oci-filters-applied'), 'artifactType');
      assert.deepEqual(((await none.json()) as ReferrersIndex).manifests, []);
    });

    test('a digest with no referrers (known or not): 200 and an empty index', async () => {
      for (const digest of [image.config.digest, sha256('nothing refers to this')]) {
        const res = await registry.request('GET', `/v2/${repo}/referrers/${digest}`);
        assert.equal(res.status, 200);
        assert.equal(res.headers.get('content-type'), MediaTypes.ociIndex);
        assert.deepEqual(await res.json(), { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [] });
      }
    });

    test('a repository never pushed to: 200 and an empty index (the API never answers 404)', async () => {
      const res = await registry.request('GET', `/v2/discover/nobody/referrers/${image.digest}`);
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [] });
    });

    test('a malformed digest: 400 DIGEST_INVALID', async () => {
      await expectError(await registry.request('GET', `/v2/${repo}/referrers/sha256:short`), 400, 'DIGEST_INVALID');
      await expectError(await registry.request('GET', `/v2/${repo}/referrers/latest`), 400, 'DIGEST_INVALID');
    });

    test('referrers go when they are deleted', async () => {
      const extra = await registry.pushManifest(repo, 'extra-referrer', {
        schemaVersion: 2,
        mediaType: MediaTypes.ociManifest,
        artifactType: 'application/vnd.example.temp',
        config: emptyConfigDescriptor(),
        layers: [emptyConfigDescriptor()],
        subject: { mediaType: MediaTypes.ociManifest, digest: image.digest, size: image.bytes.length },
      });
      assert.equal(extra.res.status, 201);
      const filter = `?artifactType=${encodeURIComponent('application/vnd.example.temp')}`;
      let res = await registry.request('GET', `/v2/${repo}/referrers/${image.digest}${filter}`);
      assert.equal(((await res.json()) as ReferrersIndex).manifests.length, 1);
      assert.equal((await registry.request('DELETE', `/v2/${repo}/manifests/${extra.digest}`)).status, 202);
      res = await registry.request('GET', `/v2/${repo}/referrers/${image.digest}${filter}`);
      assert.deepEqual(((await res.json()) as ReferrersIndex).manifests, []);
    });
  });
});
