import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startBerth, type TestServer } from '../helpers/server.js';
import { bytesOf, emptyConfigDescriptor, expectError, MediaTypes, pathOf, Registry, sha256, sha512, withQuery } from './client.js';

// distribution-spec v1.1, "Push": every way to upload a blob, and every kind of manifest.

const octet = { 'Content-Type': 'application/octet-stream' };

function chunkHeaders(start: number, length: number): Record<string, string> {
  return { ...octet, 'Content-Range': `${start}-${start + length - 1}`, 'Content-Length': String(length) };
}

describe('OCI push: blob uploads', () => {
  let server: TestServer;
  let registry: Registry;
  const repo = 'push/blobs';

  before(async () => {
    server = await startBerth();
    registry = new Registry(server.url);
  });
  after(() => server.stop());

  test('monolithic POST ?digest=: 201 with Location and Docker-Content-Digest', async () => {
    const bytes = randomBytes(4096);
    const digest = sha256(bytes);
    const res = await registry.request('POST', `/v2/${repo}/blobs/uploads/?digest=${digest}`, { headers: octet, body: bytes });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('location'), `/v2/${repo}/blobs/${digest}`);
    assert.equal(res.headers.get('docker-content-digest'), digest);
    const get = await registry.request('GET', pathOf(res.headers.get('location')!));
    assert.deepEqual(await bytesOf(get), bytes);
  });

  test('POST opens a session: 202 with Location, Docker-Upload-UUID and Range', async () => {
    const res = await registry.request('POST', `/v2/${repo}/blobs/uploads/`);
    assert.equal(res.status, 202);
    const location = res.headers.get('location')!;
    const uuid = res.headers.get('docker-upload-uuid')!;
    assert.ok(uuid);
    assert.match(location, new RegExp(`^/v2/${repo}/blobs/uploads/${uuid}`));
    assert.equal(res.headers.get('range'), '0-0');
  });

  test('POST then PUT with the whole body', async () => {
    const bytes = randomBytes(2048);
    const location = await registry.startUpload(repo);
    const res = await registry.request('PUT', withQuery(location, 'digest', sha256(bytes)), { headers: octet, body: bytes });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('location'), `/v2/${repo}/blobs/${sha256(bytes)}`);
    assert.equal(res.headers.get('docker-content-digest'), sha256(bytes));
    assert.deepEqual(await bytesOf(await registry.request('GET', `/v2/${repo}/blobs/${sha256(bytes)}`)), bytes);
  });

  test('chunked PATCH with Content-Range, status GET between chunks, then PUT without a body', async () => {
    const bytes = randomBytes(10_000);
    let location = await registry.startUpload(repo);
    const uuid = location.split('/').pop()!.split('?')[0]!;
    for (const [start, end] of [
      [0, 4000],
      [4000, 9000],
      [9000, 10_000],
    ] as const) {
      const res = await registry.request('PATCH', location, { headers: chunkHeaders(start, end - start), body: bytes.subarray(start, end) });
      assert.equal(res.status, 202);
      assert.equal(res.headers.get('range'), `0-${end - 1}`);
      assert.equal(res.headers.get('docker-upload-uuid'), uuid);
      location = pathOf(res.headers.get('location')!);

      const status = await registry.request('GET', location);
      assert.equal(status.status, 204);
      assert.equal(status.headers.get('range'), `0-${end - 1}`);
      assert.equal(pathOf(status.headers.get('location')!).split('?')[0], location.split('?')[0]);
      assert.equal(status.headers.get('docker-upload-uuid'), uuid);
    }
    const res = await registry.request('PUT', withQuery(location, 'digest', sha256(bytes)));
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('docker-content-digest'), sha256(bytes));
    assert.deepEqual(await bytesOf(await registry.request('GET', `/v2/${repo}/blobs/${sha256(bytes)}`)), bytes);
    // A completed session is gone.
    await expectError(await registry.request('GET', location), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectError(await registry.request('PATCH', location, { headers: chunkHeaders(10_000, 1), body: 'x' }), 404, 'BLOB_UPLOAD_UNKNOWN');
  });

  test('an empty PATCH changes nothing; an empty blob can be pushed', async () => {
    const location = await registry.startUpload(repo);
    const patch = await registry.request('PATCH', location, { headers: { ...octet, 'Content-Length': '0' }, body: '' });
    assert.equal(patch.status, 202);
    assert.equal(patch.headers.get('range'), '0-0');
    const res = await registry.request('PUT', withQuery(location, 'digest', sha256('')));
    assert.equal(res.status, 201);
    const head = await registry.request('HEAD', `/v2/${repo}/blobs/${sha256('')}`);
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), '0');
  });

  test('chunk then final chunk in the PUT body', async () => {
    const bytes = randomBytes(3000);
    const location = await registry.startUpload(repo);
    const patch = await registry.request('PATCH', location, { headers: chunkHeaders(0, 1000), body: bytes.subarray(0, 1000) });
    assert.equal(patch.status, 202);
    const res = await registry.request('PUT', withQuery(pathOf(patch.headers.get('location')!), 'digest', sha256(bytes)), {
      headers: chunkHeaders(1000, 2000),
      body: bytes.subarray(1000),
    });
    assert.equal(res.status, 201);
    assert.deepEqual(await bytesOf(await registry.request('GET', `/v2/${repo}/blobs/${sha256(bytes)}`)), bytes);
  });

  test('out-of-order chunk: 416 with the Range received so far, upload unchanged', async () => {
    const bytes = randomBytes(3000);
    const location = await registry.startUpload(repo);
    let res = await registry.request('PATCH', location, { headers: chunkHeaders(0, 1000), body: bytes.subarray(0, 1000) });
    assert.equal(res.status, 202);

    for (const start of [2000, 500, 0]) {
      res = await registry.request('PATCH', location, { headers: chunkHeaders(start, 1000), body: randomBytes(1000) });
      assert.equal(res.headers.get('range'), '0-999', `chunk at ${start}`);
      await expectError(res, 416, 'BLOB_UPLOAD_INVALID');
    }
    const status = await registry.request('GET', location);
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), '0-999');

    res = await registry.request('PATCH', location, { headers: chunkHeaders(1000, 2000), body: bytes.subarray(1000) });
    assert.equal(res.status, 202);
    res = await registry.request('PUT', withQuery(location, 'digest', sha256(bytes)));
    assert.equal(res.status, 201, 'the rejected chunks left no trace in the blob');
    assert.deepEqual(await bytesOf(await registry.request('GET', `/v2/${repo}/blobs/${sha256(bytes)}`)), bytes);
  });

  test('two clients racing the same chunk: one 202, one 416, and the blob is intact', async () => {
    const bytes = randomBytes(200_000);
    const location = await registry.startUpload(repo);
    const send = () => registry.request('PATCH', location, { headers: chunkHeaders(0, bytes.length), body: bytes });
    const results = await Promise.all([send(), send()]);
    for (const r of results) await r.arrayBuffer();
    assert.deepEqual(results.map((r) => r.status).sort(), [202, 416]);
    const put = await registry.request('PUT', withQuery(location, 'digest', sha256(bytes)));
    assert.equal(put.status, 201);
    assert.deepEqual(await bytesOf(await registry.request('GET', `/v2/${repo}/blobs/${sha256(bytes)}`)), bytes);
  });

  test('PATCH without Content-Range: a streamed body of unknown length', async () => {
    const parts = [randomBytes(70_000), randomBytes(70_000), randomBytes(123)];
    const bytes = Buffer.concat(parts);
    const location = await registry.startUpload(repo);
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const part of parts) controller.enqueue(part);
        controller.close();
      },
    });
    const patch = await registry.request('PATCH', location, { headers: octet, body });
    assert.equal(patch.status, 202);
    assert.equal(patch.headers.get('range'), `0-${bytes.length - 1}`);
    const res = await registry.request('PUT', withQuery(pathOf(patch.headers.get('location')!), 'digest', sha256(bytes)));
    assert.equal(res.status, 201);
    assert.deepEqual(await bytesOf(await registry.request('GET', `/v2/${repo}/blobs/${sha256(bytes)}`)), bytes);
  });

  test('cancel: DELETE answers 204, then the session is gone and nothing was stored', async () => {
    const bytes = randomBytes(500);
    const location = await registry.startUpload(repo);
    await registry.request('PATCH', location, { headers: chunkHeaders(0, 500), body: bytes }).then((r) => r.arrayBuffer());
    const res = await registry.request('DELETE', location);
    assert.equal(res.status, 204);
    await expectError(await registry.request('GET', location), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectError(await registry.request('PATCH', location, { headers: chunkHeaders(500, 1), body: 'x' }), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectError(await registry.request('PUT', withQuery(location, 'digest', sha256(bytes))), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectError(await registry.request('DELETE', location), 404, 'BLOB_UPLOAD_UNKNOWN');
    assert.equal(await registry.blobStatus(repo, sha256(bytes)), 404);
  });

  test('an upload session belongs to its repository', async () => {
    await registry.pushBlob('push/elsewhere', 'x');
    const location = await registry.startUpload(repo);
    const foreign = location.replace(`/v2/${repo}/`, '/v2/push/elsewhere/');
    await expectError(await registry.request('GET', foreign), 404, 'BLOB_UPLOAD_UNKNOWN');
  });

  test('cross-repository mount: 201 with Location and Docker-Content-Digest, blob then readable', async () => {
    const source = await registry.pushBlob('push/mount-source', randomBytes(700));
    const res = await registry.request('POST', `/v2/push/mount-target/blobs/uploads/?mount=${source.digest}&from=push/mount-source`);
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('location'), `/v2/push/mount-target/blobs/${source.digest}`);
    assert.equal(res.headers.get('docker-content-digest'), source.digest);
    const head = await registry.request('HEAD', `/v2/push/mount-target/blobs/${source.digest}`);
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(source.size));
  });

  test('mount falls back to an upload session (202) when the source lacks the blob', async () => {
    const bytes = randomBytes(300);
    for (const from of ['push/mount-source', 'push/no-such-repo']) {
      const res = await registry.request('POST', `/v2/push/mount-fallback/blobs/uploads/?mount=${sha256(bytes)}&from=${from}`);
      assert.equal(res.status, 202, `from ${from}`);
      assert.ok(res.headers.get('docker-upload-uuid'));
      const location = pathOf(res.headers.get('location')!);
      const put = await registry.request('PUT', withQuery(location, 'digest', sha256(bytes)), { headers: octet, body: bytes });
      assert.equal(put.status, 201);
    }
    assert.equal(await registry.blobStatus('push/mount-fallback', sha256(bytes)), 200);
  });

  test('mount without from: an upload session', async () => {
    const res = await registry.request('POST', `/v2/push/mount-nofrom/blobs/uploads/?mount=${sha256('whatever')}`);
    assert.equal(res.status, 202);
    assert.ok(res.headers.get('location'));
  });

  describe('sha512 digests', () => {
    test('monolithic push and GET by a sha512 digest', async () => {
      const bytes = randomBytes(1500);
      const digest = sha512(bytes);
      const res = await registry.request('POST', `/v2/${repo}/blobs/uploads/?digest=${digest}`, { headers: octet, body: bytes });
      assert.equal(res.status, 201);
      assert.equal(res.headers.get('docker-content-digest'), digest);
      const get = await registry.request('GET', `/v2/${repo}/blobs/${digest}`);
      assert.equal(get.headers.get('docker-content-digest'), digest);
      assert.deepEqual(await bytesOf(get), bytes);
    });

    test('chunked upload completed with a sha512 digest', async () => {
      const bytes = randomBytes(5000);
      const location = await registry.startUpload(repo);
      await registry.request('PATCH', location, { headers: chunkHeaders(0, 2500), body: bytes.subarray(0, 2500) }).then((r) => r.arrayBuffer());
      await registry.request('PATCH', location, { headers: chunkHeaders(2500, 2500), body: bytes.subarray(2500) }).then((r) => r.arrayBuffer());
      const res = await registry.request('PUT', withQuery(location, 'digest', sha512(bytes)));
      assert.equal(res.status, 201);
      assert.equal(res.headers.get('docker-content-digest'), sha512(bytes));
      assert.deepEqual(await bytesOf(await registry.request('GET', `/v2/${repo}/blobs/${sha512(bytes)}`)), bytes);
    });

    test('a manifest with sha512 blobs, pushed by its sha512 digest', async () => {
      const layer = randomBytes(800);
      const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
      for (const bytes of [layer, config]) {
        const r = await registry.request('POST', `/v2/${repo}/blobs/uploads/?digest=${sha512(bytes)}`, { headers: octet, body: bytes });
        assert.equal(r.status, 201);
      }
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MediaTypes.ociManifest,
          config: { mediaType: MediaTypes.ociConfig, digest: sha512(config), size: config.length },
          layers: [{ mediaType: MediaTypes.ociLayer, digest: sha512(layer), size: layer.length }],
        }),
      );
      const put = await registry.pushManifest(repo, sha512(manifest), manifest, MediaTypes.ociManifest);
      assert.equal(put.res.status, 201);
      assert.equal(put.res.headers.get('docker-content-digest'), sha512(manifest));
      const get = await registry.request('GET', `/v2/${repo}/manifests/${sha512(manifest)}`);
      assert.equal(get.status, 200);
      assert.equal(get.headers.get('docker-content-digest'), sha512(manifest));
      assert.deepEqual(await bytesOf(get), manifest);
    });
  });
});

test('an upload resumes after the server restarts on the same data', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'berth-restart-'));
  const repo = 'push/resume';
  const bytes = randomBytes(6000);
  try {
    let server = await startBerth({ dataDir });
    let registry = new Registry(server.url);
    const location = await registry.startUpload(repo);
    const patch = await registry.request('PATCH', location, { headers: chunkHeaders(0, 2500), body: bytes.subarray(0, 2500) });
    assert.equal(patch.status, 202);
    await server.stop();

    server = await startBerth({ dataDir });
    registry = new Registry(server.url);
    try {
      const status = await registry.request('GET', location);
      assert.equal(status.status, 204);
      assert.equal(status.headers.get('range'), '0-2499');
      const res = await registry.request('PATCH', location, { headers: chunkHeaders(2500, 3500), body: bytes.subarray(2500) });
      assert.equal(res.status, 202);
      assert.equal(res.headers.get('range'), '0-5999');
      const put = await registry.request('PUT', withQuery(location, 'digest', sha256(bytes)));
      assert.equal(put.status, 201);
      assert.deepEqual(await bytesOf(await registry.request('GET', `/v2/${repo}/blobs/${sha256(bytes)}`)), bytes);
    } finally {
      await server.stop();
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});

describe('OCI push: manifests', () => {
  let server: TestServer;
  let registry: Registry;
  const repo = 'push/manifests';

  before(async () => {
    server = await startBerth();
    registry = new Registry(server.url);
  });
  after(() => server.stop());

  test('OCI image manifest by tag: 201, Location by digest, Docker-Content-Digest', async () => {
    const image = await registry.pushImage(repo, 'oci', { layers: 2 });
    const res = await registry.request('GET', `/v2/${repo}/manifests/oci`);
    assert.equal(res.headers.get('docker-content-digest'), image.digest);
    assert.deepEqual(await bytesOf(res), image.bytes);
  });

  test('by digest: 201 and no tag is created', async () => {
    const config = await registry.pushBlob(repo, '{"os":"linux","architecture":"amd64","by":"digest"}', MediaTypes.ociConfig);
    const layer = await registry.pushBlob(repo, randomBytes(100));
    const manifest = { schemaVersion: 2, mediaType: MediaTypes.ociManifest, config, layers: [layer] };
    const before = await registry.tags(repo);
    const bytes = Buffer.from(JSON.stringify(manifest));
    const put = await registry.pushManifest(repo, sha256(bytes), bytes, MediaTypes.ociManifest);
    assert.equal(put.res.status, 201);
    assert.equal(put.res.headers.get('location'), `/v2/${repo}/manifests/${sha256(bytes)}`);
    assert.equal(put.res.headers.get('docker-content-digest'), sha256(bytes));
    assert.deepEqual(await registry.tags(repo), before);
  });

  test('a tag moves to the newest manifest pushed under it; pushing the same manifest again is idempotent', async () => {
    const first = await registry.pushImage(repo, 'moving');
    const second = await registry.pushImage(repo, 'moving');
    let res = await registry.request('HEAD', `/v2/${repo}/manifests/moving`);
    assert.equal(res.headers.get('docker-content-digest'), second.digest);
    const again = await registry.pushManifest(repo, 'moving', first.bytes, MediaTypes.ociManifest);
    assert.equal(again.res.status, 201);
    res = await registry.request('HEAD', `/v2/${repo}/manifests/moving`);
    assert.equal(res.headers.get('docker-content-digest'), first.digest);
    assert.equal(await registry.manifestStatus(repo, second.digest), 200, 'the untagged manifest stays');
  });

  test('OCI image index over two image manifests', async () => {
    const amd = await registry.pushImage(repo, 'amd64');
    const arm = await registry.pushImage(repo, 'arm64');
    const index = {
      schemaVersion: 2,
      mediaType: MediaTypes.ociIndex,
      manifests: [
        { mediaType: MediaTypes.ociManifest, digest: amd.digest, size: amd.bytes.length, platform: { architecture: 'amd64', os: 'linux' } },
        { mediaType: MediaTypes.ociManifest, digest: arm.digest, size: arm.bytes.length, platform: { architecture: 'arm64', os: 'linux' } },
      ],
    };
    const put = await registry.pushManifest(repo, 'multi', index);
    assert.equal(put.res.status, 201);
    assert.equal(put.res.headers.get('docker-content-digest'), put.digest);
    const res = await registry.request('GET', `/v2/${repo}/manifests/multi`, { headers: { Accept: `${MediaTypes.ociIndex}, ${MediaTypes.ociManifest}` } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), MediaTypes.ociIndex);
    assert.equal(res.headers.get('docker-content-digest'), put.digest);
    assert.deepEqual(await bytesOf(res), put.bytes);
  });

  test('Docker schema 2 manifest and manifest list', async () => {
    const image = await registry.pushImage(repo, 'docker', { docker: true });
    let res = await registry.request('GET', `/v2/${repo}/manifests/docker`, { headers: { Accept: MediaTypes.dockerManifest } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), MediaTypes.dockerManifest);
    assert.equal(res.headers.get('docker-content-digest'), image.digest);
    assert.deepEqual(await bytesOf(res), image.bytes);

    const list = {
      schemaVersion: 2,
      mediaType: MediaTypes.dockerManifestList,
      manifests: [{ mediaType: MediaTypes.dockerManifest, digest: image.digest, size: image.bytes.length, platform: { architecture: 'amd64', os: 'linux' } }],
    };
    const put = await registry.pushManifest(repo, 'docker-list', list);
    assert.equal(put.res.status, 201);
    res = await registry.request('GET', `/v2/${repo}/manifests/docker-list`, { headers: { Accept: `${MediaTypes.dockerManifestList}, ${MediaTypes.dockerManifest}` } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), MediaTypes.dockerManifestList);
    assert.equal(res.headers.get('docker-content-digest'), put.digest);
    assert.deepEqual(await bytesOf(res), put.bytes);
  });

  test('manifest Content-Type absent or generic: the mediaType field decides', async () => {
    const image = await registry.pushImage(repo, 'generic-src');
    for (const type of ['application/json', 'application/octet-stream']) {
      const put = await registry.pushManifest(repo, 'generic', image.bytes, type);
      assert.equal(put.res.status, 201, type);
      const res = await registry.request('HEAD', `/v2/${repo}/manifests/generic`);
      assert.equal(res.headers.get('content-type'), MediaTypes.ociManifest);
    }
  });

  test('artifacts: artifactType with the empty config, and a non-image config media type', async () => {
    const empty = await registry.pushBlob(repo, '{}', MediaTypes.ociEmpty);
    assert.deepEqual(empty, emptyConfigDescriptor());
    const payload = await registry.pushBlob(repo, 'signature bytes', 'application/vnd.example.signature');
    const artifact = {
      schemaVersion: 2,
      mediaType: MediaTypes.ociManifest,
      artifactType: 'application/vnd.example.sbom+json',
      config: empty,
      layers: [payload],
      annotations: { 'org.example.kind': 'sbom' },
    };
    let put = await registry.pushManifest(repo, 'sbom', artifact);
    assert.equal(put.res.status, 201);
    let res = await registry.request('GET', `/v2/${repo}/manifests/sbom`);
    assert.deepEqual(await bytesOf(res), put.bytes);

    const helmConfig = await registry.pushBlob(repo, '{"name":"chart","version":"1.0.0"}', 'application/vnd.cncf.helm.config.v1+json');
    const chart = { schemaVersion: 2, mediaType: MediaTypes.ociManifest, config: helmConfig, layers: [payload] };
    put = await registry.pushManifest(repo, 'chart', chart);
    assert.equal(put.res.status, 201);
    res = await registry.request('GET', `/v2/${repo}/manifests/chart`);
    assert.equal(res.headers.get('docker-content-digest'), put.digest);
    assert.deepEqual(await bytesOf(res), put.bytes);

    // An artifact with no layers at all (allowed by image-spec v1.1).
    put = await registry.pushManifest(repo, 'bare', { schemaVersion: 2, mediaType: MediaTypes.ociManifest, artifactType: 'application/vnd.example.bare', config: empty, layers: [] });
    assert.equal(put.res.status, 201);
  });

  test('subject: 201 with OCI-Subject naming the subject digest (the subject need not exist)', async () => {
    const image = await registry.pushImage(repo, 'with-referrer');
    const empty = await registry.pushBlob(repo, '{}', MediaTypes.ociEmpty);
    for (const subject of [
      { mediaType: MediaTypes.ociManifest, digest: image.digest, size: image.bytes.length },
      { mediaType: MediaTypes.ociManifest, digest: sha256('absent subject'), size: 14 },
    ]) {
      const put = await registry.pushManifest(repo, sha256(JSON.stringify(subject)).slice(7, 20), {
        schemaVersion: 2,
        mediaType: MediaTypes.ociManifest,
        artifactType: 'application/vnd.example.sig',
        config: empty,
        layers: [empty],
        subject,
      });
      assert.equal(put.res.status, 201);
      assert.equal(put.res.headers.get('oci-subject'), subject.digest);
      assert.equal(put.res.headers.get('docker-content-digest'), put.digest);
    }
  });

  test('a manifest without a subject gets no OCI-Subject header', async () => {
    const image = await registry.pushImage(repo, 'no-subject');
    const put = await registry.pushManifest(repo, 'no-subject', image.bytes, MediaTypes.ociManifest);
    assert.equal(put.res.headers.get('oci-subject'), null);
  });

  test('pushing by a digest that does not match the body: 400 DIGEST_INVALID, nothing stored', async () => {
    const image = await registry.pushImage(repo, 'mismatch-src');
    const other = Buffer.from(JSON.stringify({ ...image.manifest, annotations: { changed: 'yes' } }));
    const res = await registry.request('PUT', `/v2/${repo}/manifests/${image.digest}`, { headers: { 'Content-Type': MediaTypes.ociManifest }, body: other });
    await expectError(res, 400, 'DIGEST_INVALID');
    assert.equal(await registry.manifestStatus(repo, sha256(other)), 404);
    const get = await registry.request('GET', `/v2/${repo}/manifests/${image.digest}`);
    assert.deepEqual(await bytesOf(get), image.bytes);
  });
});
