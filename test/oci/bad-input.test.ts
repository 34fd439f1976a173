import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, beforeEach, describe, test } from 'node:test';
import { startBerth, type TestServer } from '../helpers/server.js';
import { bytesOf, expectError, MediaTypes, Registry, sendTruncated, sha256, withQuery, type Image } from './client.js';

// Bad input of every kind: each gets the spec's error (never a 500, a hang or a crash)
// and leaves the store exactly as it was.

interface Snapshot {
  catalog: string[];
  tags: Record<string, string[]>;
  manifests: Record<string, number>;
  blobsOnDisk: string[];
  uploads: string[];
}

describe('OCI bad input', () => {
  let server: TestServer;
  let registry: Registry;
  const repo = 'bad/app';
  let image: Image;
  let baseline: Snapshot;

  /** Everything a bad request must not change: listings, stored bytes, open uploads. */
  async function snapshot(): Promise<Snapshot> {
    const catalog = ((await (await registry.request('GET', '/v2/_catalog')).json()) as { repositories: string[] }).repositories;
    const tags: Record<string, string[]> = Object.fromEntries(await Promise.all(catalog.map(async (name) => [name, await registry.tags(name)])));
    const manifests: Record<string, number> = { [image.digest]: await registry.manifestStatus(repo, image.digest) };
    const blobsOnDisk: string[] = [];
    for await (const blob of server.berth.blobs.list()) blobsOnDisk.push(`${blob.digest}:${blob.size}`);
    const uploads: string[] = [];
    for await (const upload of server.berth.blobs.listUploads()) uploads.push(`${upload.id}:${upload.size}`);
    return { catalog, tags, manifests, blobsOnDisk: blobsOnDisk.sort(), uploads: uploads.sort() };
  }

  /** Asserts the store matches the baseline, allowing a moment for an aborted request's clean-up. */
  async function assertUnchanged(what: string): Promise<void> {
    let now = await snapshot();
    for (let i = 0; i < 20 && JSON.stringify(now) !== JSON.stringify(baseline); i++) {
      await new Promise((r) => setTimeout(r, 50));
      now = await snapshot();
    }
    assert.deepEqual(now, baseline, `store changed after ${what}`);
    const alive = await registry.request('GET', '/v2/');
    assert.equal(alive.status, 200, 'the server still serves');
    await alive.arrayBuffer();
  }

  // A client hanging up must never crash the server: count what would have killed it.
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown) => uncaught.push(err);

  before(async () => {
    process.on('uncaughtException', onUncaught);
    server = await startBerth();
    registry = new Registry(server.url);
    image = await registry.pushImage(repo, 'latest', { layers: 2 });
  });
  beforeEach(async () => {
    baseline = await snapshot();
  });
  after(async () => {
    process.off('uncaughtException', onUncaught);
    await server.stop();
  });

  describe('truncated uploads (client closes before sending Content-Length bytes)', () => {
    test('monolithic POST ?digest=: nothing stored, no staging file left', async () => {
      const bytes = randomBytes(200_000);
      await sendTruncated(server.url, 'POST', `/v2/${repo}/blobs/uploads/?digest=${sha256(bytes)}`, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(bytes.length) }, bytes.subarray(0, 70_000));
      assert.equal(await registry.blobStatus(repo, sha256(bytes)), 404);
      await assertUnchanged('a truncated monolithic upload');
    });

    test('PUT completing an upload: no blob, and the session reports what it holds', async () => {
      const bytes = randomBytes(100_000);
      const location = await registry.startUpload(repo);
      await sendTruncated(server.url, 'PUT', withQuery(location, 'digest', sha256(bytes)), { 'Content-Type': 'application/octet-stream', 'Content-Length': String(bytes.length) }, bytes.subarray(0, 30_000));
      assert.equal(await registry.blobStatus(repo, sha256(bytes)), 404);
      const status = await registry.request('GET', location);
      assert.equal(status.status, 204);
      const end = Number(status.headers.get('range')!.split('-')[1]);
      assert.ok(end < 30_000, `the session holds at most what was sent (Range ${status.headers.get('range')})`);
      assert.equal((await registry.request('DELETE', location)).status, 204);
      await assertUnchanged('a truncated final chunk');
    });

    test('PATCH: the session keeps a prefix of what was sent and the upload resumes from its Range', async () => {
      const bytes = randomBytes(120_000);
      const location = await registry.startUpload(repo);
      await sendTruncated(
        server.url,
        'PATCH',
        location,
        { 'Content-Type': 'application/octet-stream', 'Content-Range': `0-${bytes.length - 1}`, 'Content-Length': String(bytes.length) },
        bytes.subarray(0, 50_000),
      );
      const status = await registry.request('GET', location);
      assert.equal(status.status, 204);
      const range = status.headers.get('range')!;
      const held = range === '0-0' ? 0 : Number(range.split('-')[1]) + 1;
      assert.ok(held <= 50_000, `Range ${range}`);
      const rest = bytes.subarray(held);
      const patch = await registry.request('PATCH', location, {
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${held}-${bytes.length - 1}`, 'Content-Length': String(rest.length) },
        body: rest,
      });
      assert.equal(patch.status, 202);
      const put = await registry.request('PUT', withQuery(location, 'digest', sha256(bytes)));
      assert.equal(put.status, 201, 'the held bytes were a true prefix of the blob');
      assert.deepEqual(await bytesOf(await registry.request('GET', `/v2/${repo}/blobs/${sha256(bytes)}`)), bytes);
      assert.equal((await registry.request('DELETE', `/v2/${repo}/blobs/${sha256(bytes)}`)).status, 202);
      // The bytes stay on disk until garbage collection: re-baseline the blob listing only.
      baseline.blobsOnDisk = (await snapshot()).blobsOnDisk;
      await assertUnchanged('a truncated chunk');
    });

    test('clients hanging up at once, again and again: no crash, nothing stored', async () => {
      const bytes = randomBytes(64_000);
      const headers = { 'Content-Type': 'application/octet-stream', 'Content-Length': String(bytes.length) };
      const part = bytes.subarray(0, 1000);
      const sessions: string[] = [];
      for (let i = 0; i < 8; i++) {
        const location = await registry.startUpload(repo);
        sessions.push(location);
        await Promise.all([
          sendTruncated(server.url, 'POST', `/v2/${repo}/blobs/uploads/?digest=${sha256(bytes)}`, headers, part, 0, 0),
          sendTruncated(server.url, 'PATCH', location, headers, part, 0, 0),
          sendTruncated(server.url, 'PUT', withQuery(location, 'digest', sha256(bytes)), headers, part, 0, 0),
          sendTruncated(server.url, 'PUT', `/v2/${repo}/manifests/hangup`, { ...headers, 'Content-Type': MediaTypes.ociManifest }, part, 0, 0),
        ]);
      }
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(uncaught.map(String), []);
      assert.equal(await registry.blobStatus(repo, sha256(bytes)), 404);
      for (const location of sessions) await registry.request('DELETE', location).then((r) => r.arrayBuffer());
      await assertUnchanged('clients hanging up');
    });

    test('manifest PUT: nothing stored, tags unchanged', async () => {
      const manifest = Buffer.from(JSON.stringify({ ...image.manifest, annotations: { pad: 'x'.repeat(50_000) } }));
      await sendTruncated(server.url, 'PUT', `/v2/${repo}/manifests/truncated`, { 'Content-Type': MediaTypes.ociManifest, 'Content-Length': String(manifest.length) }, manifest.subarray(0, 20_000));
      assert.equal(await registry.manifestStatus(repo, 'truncated'), 404);
      await assertUnchanged('a truncated manifest');
    });
  });

  describe('wrong digests', () => {
    test('monolithic POST with a digest of other bytes: 400 DIGEST_INVALID', async () => {
      const bytes = randomBytes(1000);
      const wrong = sha256('something else');
      const res = await registry.request('POST', `/v2/${repo}/blobs/uploads/?digest=${wrong}`, { headers: { 'Content-Type': 'application/octet-stream' }, body: bytes });
      await expectError(res, 400, 'DIGEST_INVALID');
      assert.equal(await registry.blobStatus(repo, wrong), 404);
      assert.equal(await registry.blobStatus(repo, sha256(bytes)), 404);
      await assertUnchanged('a monolithic upload with a wrong digest');
    });

    test('PUT completing a chunked upload with the wrong digest: 400 DIGEST_INVALID, no blob', async () => {
      const bytes = randomBytes(1000);
      const location = await registry.startUpload(repo);
      await registry.request('PATCH', location, { headers: { 'Content-Type': 'application/octet-stream' }, body: bytes }).then((r) => r.arrayBuffer());
      const wrong = sha256('not these bytes');
      await expectError(await registry.request('PUT', withQuery(location, 'digest', wrong)), 400, 'DIGEST_INVALID');
      assert.equal(await registry.blobStatus(repo, wrong), 404);
      assert.equal(await registry.blobStatus(repo, sha256(bytes)), 404);
      await registry.request('DELETE', location).then((r) => r.arrayBuffer());
      await assertUnchanged('a chunked upload with a wrong digest');
    });

    test('a sha512 digest with sha256 content: 400 DIGEST_INVALID', async () => {
      const bytes = randomBytes(64);
      const res = await registry.request('POST', `/v2/${repo}/blobs/uploads/?digest=sha512:${'ab'.repeat(64)}`, { headers: { 'Content-Type': 'application/octet-stream' }, body: bytes });
      await expectError(res, 400, 'DIGEST_INVALID');
      await assertUnchanged('a wrong sha512 digest');
    });

    test('PUT completing an upload without ?digest=: 400 DIGEST_INVALID, session intact', async () => {
      const location = await registry.startUpload(repo);
      await registry.request('PATCH', location, { headers: { 'Content-Type': 'application/octet-stream' }, body: 'abc' }).then((r) => r.arrayBuffer());
      await expectError(await registry.request('PUT', location), 400, 'DIGEST_INVALID');
      const status = await registry.request('GET', location);
      assert.equal(status.status, 204);
      assert.equal(status.headers.get('range'), '0-2');
      await registry.request('DELETE', location).then((r) => r.arrayBuffer());
      await assertUnchanged('a PUT without a digest');
    });
  });

  describe('bogus Content-Range on PATCH', () => {
    for (const [range, length, status, code] of [
      ['bytes=0-9', 10, 400, 'BLOB_UPLOAD_INVALID'],
      ['abc', 10, 400, 'BLOB_UPLOAD_INVALID'],
      ['9-0', 10, 400, 'BLOB_UPLOAD_INVALID'],
      ['0-99', 10, 400, 'BLOB_UPLOAD_INVALID'], // disagrees with Content-Length
      ['5-14', 10, 416, 'BLOB_UPLOAD_INVALID'], // does not start where the upload ends
    ] as const) {
      test(`Content-Range ${range}: ${status} ${code}, upload unchanged`, async () => {
        const location = await registry.startUpload(repo);
        const res = await registry.request('PATCH', location, {
          headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': range, 'Content-Length': String(length) },
          body: randomBytes(length),
        });
        await expectError(res, status, code);
        const st = await registry.request('GET', location);
        assert.equal(st.status, 204);
        assert.equal(st.headers.get('range'), '0-0');
        const info = await server.berth.blobs.statUpload(location.split('/').pop()!);
        assert.equal(info?.size, 0);
        await registry.request('DELETE', location).then((r) => r.arrayBuffer());
        await assertUnchanged(`Content-Range ${range}`);
      });
    }
  });

  describe('oversized manifests', () => {
    const limit = 4 * 1024 * 1024;
    function manifestOfSize(size: number): Buffer {
      const base = JSON.stringify({ ...image.manifest, annotations: { pad: '' } });
      return Buffer.from(base.replace('"pad":""', `"pad":"${'x'.repeat(size - base.length)}"`));
    }

    test('more than 4 MiB with Content-Length: 413, nothing stored', async () => {
      const body = manifestOfSize(limit + 1);
      const res = await registry.request('PUT', `/v2/${repo}/manifests/huge`, { headers: { 'Content-Type': MediaTypes.ociManifest }, body });
      await expectError(res, 413, 'MANIFEST_INVALID');
      assert.equal(await registry.manifestStatus(repo, sha256(body)), 404);
      await assertUnchanged('an oversized manifest');
    });

    test('more than 4 MiB streamed without Content-Length: 413, nothing stored', async () => {
      const body = manifestOfSize(limit + 100_000);
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < body.length; i += 256 * 1024) controller.enqueue(body.subarray(i, i + 256 * 1024));
          controller.close();
        },
      });
      const res = await registry.request('PUT', `/v2/${repo}/manifests/huge`, { headers: { 'Content-Type': MediaTypes.ociManifest }, body: stream });
      await expectError(res, 413, 'MANIFEST_INVALID');
      await assertUnchanged('an oversized streamed manifest');
    });

    test('exactly 4 MiB is accepted', async () => {
      const body = manifestOfSize(limit);
      assert.equal(body.length, limit);
      const put = await registry.pushManifest(repo, 'four-mib', body, MediaTypes.ociManifest);
      assert.equal(put.res.status, 201);
      const get = await registry.request('GET', `/v2/${repo}/manifests/four-mib`);
      assert.equal(get.headers.get('docker-content-digest'), sha256(body));
      assert.equal((await bytesOf(get)).length, limit);
      assert.equal((await registry.request('DELETE', `/v2/${repo}/manifests/${sha256(body)}`)).status, 202);
    });
  });

  describe('manifests referring to what is not there', () => {
    const missing = { mediaType: MediaTypes.ociLayer, digest: sha256('missing layer'), size: 13 };

    test('a missing layer or config: 400 MANIFEST_BLOB_UNKNOWN', async () => {
      for (const manifest of [
        { ...image.manifest, layers: [...image.manifest.layers, missing] },
        { ...image.manifest, config: { ...missing, mediaType: MediaTypes.ociConfig } },
      ]) {
        const body = Buffer.from(JSON.stringify(manifest));
        const res = await registry.request('PUT', `/v2/${repo}/manifests/broken`, { headers: { 'Content-Type': MediaTypes.ociManifest }, body });
        await expectError(res, 400, 'MANIFEST_BLOB_UNKNOWN');
        assert.equal(await registry.manifestStatus(repo, sha256(body)), 404);
      }
      await assertUnchanged('manifests with missing blobs');
    });

    test('a blob that lives only in another repository counts as missing', async () => {
      const elsewhere = await registry.pushBlob('bad/elsewhere', randomBytes(50));
      baseline = await snapshot();
      const body = Buffer.from(JSON.stringify({ ...image.manifest, layers: [elsewhere] }));
      const res = await registry.request('PUT', `/v2/${repo}/manifests/${sha256(body)}`, { headers: { 'Content-Type': MediaTypes.ociManifest }, body });
      await expectError(res, 400, 'MANIFEST_BLOB_UNKNOWN');
      await assertUnchanged('a manifest with a blob from another repository');
    });

    test('an index with a missing child manifest: 400 MANIFEST_BLOB_UNKNOWN', async () => {
      const index = {
        schemaVersion: 2,
        mediaType: MediaTypes.ociIndex,
        manifests: [
          { mediaType: MediaTypes.ociManifest, digest: image.digest, size: image.bytes.length },
          { mediaType: MediaTypes.ociManifest, digest: sha256('no such manifest'), size: 16 },
        ],
      };
      const put = await registry.pushManifest(repo, 'broken-index', index);
      assert.equal(put.res.status, 400);
      const res = await registry.request('PUT', `/v2/${repo}/manifests/broken-index`, { headers: { 'Content-Type': MediaTypes.ociIndex }, body: put.bytes });
      await expectError(res, 400, 'MANIFEST_BLOB_UNKNOWN');
      assert.equal(await registry.manifestStatus(repo, put.digest), 404);
      await assertUnchanged('an index with a missing child');
    });
  });

  describe('invalid names and tags', () => {
    const badNames = ['UPPER/case', '-leading', 'trailing-', 'a..b', 'a//b', 'a/_b', 'sp%20ace', `${'a'.repeat(257)}`];
    for (const name of badNames) {
      test(`repository name ${name.slice(0, 40)}: 400 NAME_INVALID on every endpoint`, async () => {
        await expectError(await registry.request('GET', `/v2/${name}/tags/list`), 400, 'NAME_INVALID');
        await expectError(await registry.request('GET', `/v2/${name}/manifests/latest`), 400, 'NAME_INVALID');
        await expectError(await registry.request('PUT', `/v2/${name}/manifests/latest`, { headers: { 'Content-Type': MediaTypes.ociManifest }, body: image.bytes }), 400, 'NAME_INVALID');
        await expectError(await registry.request('POST', `/v2/${name}/blobs/uploads/`), 400, 'NAME_INVALID');
        await expectError(await registry.request('POST', `/v2/${name}/blobs/uploads/?digest=${sha256('x')}`, { body: 'x' }), 400, 'NAME_INVALID');
        await expectError(await registry.request('GET', `/v2/${name}/blobs/${image.config.digest}`), 400, 'NAME_INVALID');
        await expectError(await registry.request('GET', `/v2/${name}/referrers/${image.digest}`), 400, 'NAME_INVALID');
        await assertUnchanged(`requests on ${name.slice(0, 40)}`);
      });
    }

    test('mount from an invalid repository name: 400 NAME_INVALID, nothing mounted', async () => {
      await expectError(await registry.request('POST', `/v2/${repo}/blobs/uploads/?mount=${image.config.digest}&from=Not/Valid`), 400, 'NAME_INVALID');
      await assertUnchanged('a mount from an invalid name');
    });

    const badTags = ['-dash', '.dot', `${'t'.repeat(301)}`, 'has%20space', 'bang!', 'a+b'];
    for (const tag of badTags) {
      test(`tag ${tag.slice(0, 40)}: 400 TAG_INVALID on PUT and DELETE, 404 MANIFEST_UNKNOWN on GET`, async () => {
        await expectError(await registry.request('PUT', `/v2/${repo}/manifests/${tag}`, { headers: { 'Content-Type': MediaTypes.ociManifest }, body: image.bytes }), 400, 'TAG_INVALID');
        await expectError(await registry.request('GET', `/v2/${repo}/manifests/${tag}`), 404, 'MANIFEST_UNKNOWN');
        await expectError(await registry.request('DELETE', `/v2/${repo}/manifests/${tag}`), 400, 'TAG_INVALID');
        await assertUnchanged(`tag ${tag.slice(0, 40)}`);
      });
    }
  });

  describe('malformed digests: 400 DIGEST_INVALID, never 500', () => {
    const badDigests = [
      'sha256:1234',
      `sha256:${'A'.repeat(64)}`,
      `sha256:${'g'.repeat(64)}`,
      `sha512:${'a'.repeat(64)}`,
      `md5:${'a'.repeat(32)}`,
      'sha256:',
      ':abc',
      `sha256:${'a'.repeat(63)}%00`,
      `sha256:${'a'.repeat(5000)}`,
      'notadigest',
    ];
    for (const digest of badDigests) {
      test(`${digest.slice(0, 30)}`, async () => {
        const isReference = !digest.includes(':'); // a tag-shaped reference is a tag on manifest endpoints
        await expectError(await registry.request('GET', `/v2/${repo}/blobs/${digest}`), 400, 'DIGEST_INVALID');
        const head = await registry.request('HEAD', `/v2/${repo}/blobs/${digest}`);
        assert.equal(head.status, 400);
        await expectError(await registry.request('DELETE', `/v2/${repo}/blobs/${digest}`), 400, 'DIGEST_INVALID');
        await expectError(await registry.request('GET', `/v2/${repo}/referrers/${digest}`), 400, 'DIGEST_INVALID');
        await expectError(await registry.request('POST', `/v2/${repo}/blobs/uploads/?digest=${digest}`, { body: 'x' }), 400, 'DIGEST_INVALID');
        await expectError(await registry.request('POST', `/v2/${repo}/blobs/uploads/?mount=${digest}&from=bad/app`), 400, 'DIGEST_INVALID');
        const location = await registry.startUpload(repo);
        await expectError(await registry.request('PUT', withQuery(location, 'digest', digest), { body: 'x' }), 400, 'DIGEST_INVALID');
        await registry.request('DELETE', location).then((r) => r.arrayBuffer());
        if (!isReference) {
          // A GET names nothing that could exist (404, as with a bad tag); a PUT is refused.
          await expectError(await registry.request('GET', `/v2/${repo}/manifests/${digest}`), 404, 'MANIFEST_UNKNOWN');
          await expectError(await registry.request('PUT', `/v2/${repo}/manifests/${digest}`, { headers: { 'Content-Type': MediaTypes.ociManifest }, body: image.bytes }), 400, 'DIGEST_INVALID');
          await expectError(await registry.request('DELETE', `/v2/${repo}/manifests/${digest}`), 400, 'DIGEST_INVALID');
        }
        await assertUnchanged(`digest ${digest.slice(0, 30)}`);
      });
    }
  });

  describe('garbage manifests: 400 MANIFEST_INVALID', () => {
    const cfg = () => image.config;
    const layer = () => image.layers[0]!;
    const cases: Array<[string, () => string | Buffer, string?]> = [
      ['not JSON', () => 'this is not json'],
      ['empty body', () => ''],
      ['truncated JSON', () => image.bytes.subarray(0, image.bytes.length - 5)],
      ['invalid UTF-8', () => Buffer.from([0xff, 0xfe, 0x7b, 0x7d])],
      ['a JSON array', () => '[]'],
      ['a JSON string', () => '"manifest"'],
      ['an empty object', () => '{}'],
      ['schemaVersion 1', () => JSON.stringify({ ...image.manifest, schemaVersion: 1 })],
      ['no config', () => JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociManifest, layers: [layer()] })],
      ['layers not an array', () => JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociManifest, config: cfg(), layers: {} })],
      ['a descriptor with a bad digest', () => JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociManifest, config: cfg(), layers: [{ ...layer(), digest: 'sha256:xyz' }] })],
      ['a descriptor with a negative size', () => JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociManifest, config: cfg(), layers: [{ ...layer(), size: -1 }] })],
      ['a descriptor with a string size', () => JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociManifest, config: cfg(), layers: [{ ...layer(), size: '12' }] })],
      ['a descriptor without a mediaType', () => JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociManifest, config: cfg(), layers: [{ digest: layer().digest, size: layer().size }] })],
      ['annotations that are not strings', () => JSON.stringify({ ...image.manifest, annotations: { n: 1 } })],
      ['a subject that is not a descriptor', () => JSON.stringify({ ...image.manifest, subject: 'sha256:abc' })],
      ['an index without manifests', () => JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociIndex }), MediaTypes.ociIndex],
      ['mediaType disagreeing with Content-Type', () => JSON.stringify({ ...image.manifest, mediaType: MediaTypes.ociIndex })],
      ['an unknown manifest media type', () => JSON.stringify(image.manifest), 'application/vnd.example.unknown+json'],
      ['Docker schema 1', () => JSON.stringify({ schemaVersion: 1, name: 'bad/app', tag: 'x', fsLayers: [] }), 'application/vnd.docker.distribution.manifest.v1+prettyjws'],
      ['a Docker manifest with no layers', () => JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.dockerManifest, config: { ...cfg(), mediaType: MediaTypes.dockerConfig }, layers: [] }), MediaTypes.dockerManifest],
      ['deeply nested JSON', () => `{"schemaVersion":2,"a":${'['.repeat(50_000)}${']'.repeat(50_000)}}`],
    ];
    for (const [what, body, type] of cases) {
      test(what, async () => {
        const res = await registry.request('PUT', `/v2/${repo}/manifests/garbage`, { headers: { 'Content-Type': type ?? MediaTypes.ociManifest }, body: body() });
        await expectError(res, 400, 'MANIFEST_INVALID');
        assert.equal(await registry.manifestStatus(repo, 'garbage'), 404);
        await assertUnchanged(what);
      });
    }
  });

  describe('malformed Content-Type headers: never a 500', () => {
    for (const type of ['', 'foo', 'a/b/c', ';;']) {
      test(`Content-Type ${JSON.stringify(type)}`, async () => {
        // Blob bodies are opaque: their Content-Type does not matter.
        const bytes = randomBytes(100);
        const location = await registry.startUpload(repo);
        const patch = await registry.request('PATCH', location, { headers: { 'Content-Type': type }, body: bytes });
        assert.equal(patch.status, 202);
        const put = await registry.request('PUT', withQuery(location, 'digest', sha256(bytes)), { headers: { 'Content-Type': type }, body: '' });
        assert.equal(put.status, 201);
        assert.equal((await registry.request('DELETE', `/v2/${repo}/blobs/${sha256(bytes)}`)).status, 202);
        // A manifest's Content-Type names its media type: blank means "read the mediaType field".
        const res = await registry.request('PUT', `/v2/${repo}/manifests/odd-type`, { headers: { 'Content-Type': type }, body: image.bytes });
        if (type.split(';')[0]!.trim() === '') {
          assert.equal(res.status, 201);
          assert.equal((await registry.request('DELETE', `/v2/${repo}/manifests/odd-type`)).status, 202);
        } else {
          await expectError(res, 400, 'MANIFEST_INVALID');
        }
        baseline.blobsOnDisk = (await snapshot()).blobsOnDisk; // deleted bytes stay until garbage collection
        await assertUnchanged(`Content-Type ${JSON.stringify(type)}`);
      });
    }
  });

  describe('unknown upload sessions: 404 BLOB_UPLOAD_UNKNOWN', () => {
    for (const id of ['3f1c1a0e-0000-4000-8000-000000000000', 'x'.repeat(500), '%2e%2e%2f%2e%2e', 'a%00b', 'uploads']) {
      test(`upload id ${id.slice(0, 40)}`, async () => {
        const path = `/v2/${repo}/blobs/uploads/${id}`;
        await expectError(await registry.request('GET', path), 404, 'BLOB_UPLOAD_UNKNOWN');
        await expectError(await registry.request('PATCH', path, { headers: { 'Content-Type': 'application/octet-stream' }, body: 'abc' }), 404, 'BLOB_UPLOAD_UNKNOWN');
        await expectError(await registry.request('PUT', `${path}?digest=${sha256('abc')}`, { body: 'abc' }), 404, 'BLOB_UPLOAD_UNKNOWN');
        await expectError(await registry.request('DELETE', path), 404, 'BLOB_UPLOAD_UNKNOWN');
        await assertUnchanged(`upload id ${id.slice(0, 40)}`);
      });
    }
  });

  describe('bad pagination: 400 PAGINATION_NUMBER_INVALID', () => {
    for (const n of ['-1', 'abc', '1.5', '1e3', '99999999999', ' 2']) {
      test(`n=${n}`, async () => {
        await expectError(await registry.request('GET', `/v2/${repo}/tags/list?n=${encodeURIComponent(n)}`), 400, 'PAGINATION_NUMBER_INVALID');
        await expectError(await registry.request('GET', `/v2/_catalog?n=${encodeURIComponent(n)}`), 400, 'PAGINATION_NUMBER_INVALID');
      });
    }
  });

  describe('unsupported methods and endpoints', () => {
    test('a method an endpoint does not have: 405 UNSUPPORTED', async () => {
      await expectError(await registry.request('PATCH', `/v2/${repo}/manifests/latest`, { body: 'x' }), 405, 'UNSUPPORTED');
      await expectError(await registry.request('POST', `/v2/${repo}/tags/list`), 405, 'UNSUPPORTED');
      await assertUnchanged('unsupported methods');
    });

    test('an unknown path under /v2/: an OCI error, not an HTML page', async () => {
      const res = await registry.request('GET', `/v2/${repo}/whatever`);
      assert.ok(res.status >= 400 && res.status < 500);
      const body = (await res.json()) as { errors: Array<{ code: string }> };
      assert.ok(body.errors[0]!.code);
    });
  });
});
