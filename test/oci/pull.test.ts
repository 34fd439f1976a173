import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { requirePostgres } from '../helpers/postgres.js';
import { startBerth, type TestServer } from '../helpers/server.js';
import { bytesOf, expectError, MediaTypes, Registry, sha256, type Image } from './client.js';
import { corePushPullWorkflow } from './workflow.js';

// distribution-spec v1.1, "Pull": the API version check, blobs (with ranges) and manifests.

describe('OCI pull', () => {
  let server: TestServer;
  let registry: Registry;
  let image: Image;
  const repo = 'pull/app';
  const layer = randomBytes(1000);
  let layerDigest: string;

  before(async () => {
    server = await startBerth();
    registry = new Registry(server.url);
    image = await registry.pushImage(repo, 'latest', { layers: 2 });
    layerDigest = (await registry.pushBlob(repo, layer)).digest;
  });
  after(() => server.stop());

  test('GET and HEAD /v2/ answer 200 with the API version header', async () => {
    for (const [method, path] of [
      ['GET', '/v2/'],
      ['GET', '/v2'],
      ['HEAD', '/v2/'],
    ] as const) {
      const res = await registry.request(method, path);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
      await res.arrayBuffer();
    }
  });

  test('blob HEAD: size and digest, no body', async () => {
    const res = await registry.request('HEAD', `/v2/${repo}/blobs/${layerDigest}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-length'), String(layer.length));
    assert.equal(res.headers.get('docker-content-digest'), layerDigest);
    assert.equal((await bytesOf(res)).length, 0);
  });

  test('blob GET: the exact bytes with Content-Length and Docker-Content-Digest', async () => {
    const res = await registry.request('GET', `/v2/${repo}/blobs/${layerDigest}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-length'), String(layer.length));
    assert.equal(res.headers.get('docker-content-digest'), layerDigest);
    assert.deepEqual(await bytesOf(res), layer);
  });

  test('blob GET and HEAD of an unknown blob: 404 BLOB_UNKNOWN', async () => {
    const missing = sha256('not here');
    await expectError(await registry.request('GET', `/v2/${repo}/blobs/${missing}`), 404, 'BLOB_UNKNOWN');
    const head = await registry.request('HEAD', `/v2/${repo}/blobs/${missing}`);
    assert.equal(head.status, 404);
    assert.equal((await bytesOf(head)).length, 0);
  });

  test('blob in an unknown repository: 404 BLOB_UNKNOWN or NAME_UNKNOWN', async () => {
    const res = await registry.request('GET', `/v2/pull/nothing-here/blobs/${layerDigest}`);
    assert.equal(res.status, 404);
    const body = (await res.json()) as { errors: Array<{ code: string }> };
    assert.ok(['BLOB_UNKNOWN', 'NAME_UNKNOWN'].includes(body.errors[0]!.code));
  });

  test('a blob is readable only from repositories it was pushed or mounted to', async () => {
    await registry.pushImage('pull/other', 'x');
    await expectError(await registry.request('GET', `/v2/pull/other/blobs/${layerDigest}`), 404, 'BLOB_UNKNOWN');
  });

  describe('Range requests', () => {
    const cases: Array<[string, number, number]> = [
      ['bytes=0-99', 0, 99],
      ['bytes=100-', 100, 999],
      ['bytes=-10', 990, 999],
      ['bytes=500-500', 500, 500],
      ['bytes=990-5000', 990, 999], // the end is clamped to the blob
      ['bytes=-5000', 0, 999], // a suffix longer than the blob is the whole blob
    ];
    for (const [range, start, end] of cases) {
      test(`${range} → 206 bytes ${start}-${end}`, async () => {
        const res = await registry.request('GET', `/v2/${repo}/blobs/${layerDigest}`, { headers: { Range: range } });
        assert.equal(res.status, 206);
        assert.equal(res.headers.get('content-range'), `bytes ${start}-${end}/${layer.length}`);
        assert.equal(res.headers.get('content-length'), String(end - start + 1));
        assert.equal(res.headers.get('docker-content-digest'), layerDigest);
        assert.deepEqual(await bytesOf(res), layer.subarray(start, end + 1));
      });
    }

    for (const range of ['bytes=1000-', 'bytes=5000-6000', 'bytes=-0', 'bytes=50-10']) {
      test(`unsatisfiable ${range} → 416 with Content-Range bytes */size`, async () => {
        const res = await registry.request('GET', `/v2/${repo}/blobs/${layerDigest}`, { headers: { Range: range } });
        assert.equal(res.headers.get('content-range'), `bytes */${layer.length}`);
        await expectError(res, 416, 'RANGE_INVALID');
      });
    }

    for (const range of ['bytes=abc', 'items=0-10', 'bytes=-', 'bytes=0-1,5-6', 'bytes=99999999999999999999-']) {
      test(`bogus ${range} → 416 with Content-Range bytes */size, never 500`, async () => {
        const res = await registry.request('GET', `/v2/${repo}/blobs/${layerDigest}`, { headers: { Range: range } });
        assert.equal(res.headers.get('content-range'), `bytes */${layer.length}`);
        await expectError(res, 416, 'RANGE_INVALID');
      });
    }

    test('a bogus Range on an unknown blob: 404 BLOB_UNKNOWN', async () => {
      const res = await registry.request('GET', `/v2/${repo}/blobs/${sha256('absent')}`, { headers: { Range: 'bytes=abc' } });
      await expectError(res, 404, 'BLOB_UNKNOWN');
    });
  });

  test('manifest GET by tag and by digest: the pushed bytes, media type and digest', async () => {
    for (const reference of ['latest', image.digest]) {
      const res = await registry.request('GET', `/v2/${repo}/manifests/${reference}`, { headers: { Accept: MediaTypes.ociManifest } });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), MediaTypes.ociManifest);
      assert.equal(res.headers.get('docker-content-digest'), image.digest);
      assert.equal(res.headers.get('content-length'), String(image.bytes.length));
      assert.deepEqual(await bytesOf(res), image.bytes);
    }
  });

  test('manifest HEAD by tag and by digest: headers without a body', async () => {
    for (const reference of ['latest', image.digest]) {
      const res = await registry.request('HEAD', `/v2/${repo}/manifests/${reference}`, { headers: { Accept: MediaTypes.ociManifest } });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), MediaTypes.ociManifest);
      assert.equal(res.headers.get('docker-content-digest'), image.digest);
      assert.equal(res.headers.get('content-length'), String(image.bytes.length));
      assert.equal((await bytesOf(res)).length, 0);
    }
  });

  test('unknown manifests: 404 MANIFEST_UNKNOWN by tag and by digest; HEAD has no body', async () => {
    await expectError(await registry.request('GET', `/v2/${repo}/manifests/nope`), 404, 'MANIFEST_UNKNOWN');
    await expectError(await registry.request('GET', `/v2/${repo}/manifests/${sha256('nope')}`), 404, 'MANIFEST_UNKNOWN');
    const head = await registry.request('HEAD', `/v2/${repo}/manifests/nope`);
    assert.equal(head.status, 404);
    assert.equal((await bytesOf(head)).length, 0);
  });

  test('unknown repository: 404 NAME_UNKNOWN', async () => {
    await expectError(await registry.request('GET', '/v2/pull/never-pushed/manifests/latest'), 404, 'NAME_UNKNOWN');
  });

  describe('Accept negotiation', () => {
    test('no Accept, */*, or a list naming the type: the manifest as stored', async () => {
      for (const accept of [undefined, '*/*', `${MediaTypes.dockerManifest}, ${MediaTypes.ociManifest};q=0.9`, `${MediaTypes.ociIndex},${MediaTypes.ociManifest}`]) {
        const res = await registry.request('GET', `/v2/${repo}/manifests/latest`, { headers: accept ? { Accept: accept } : {} });
        assert.equal(res.status, 200, `Accept: ${accept}`);
        assert.equal(res.headers.get('content-type'), MediaTypes.ociManifest);
        assert.deepEqual(await bytesOf(res), image.bytes);
      }
    });

    test('Accept as repeated headers (as docker sends them)', async () => {
      const headers = new Headers();
      headers.append('Accept', MediaTypes.dockerManifest);
      headers.append('Accept', MediaTypes.ociManifest);
      const res = await fetch(`${server.url}/v2/${repo}/manifests/latest`, { headers });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('docker-content-digest'), image.digest);
      await res.arrayBuffer();
    });

    test('an Accept that names only other manifest types: 404 MANIFEST_UNKNOWN, no conversion', async () => {
      const res = await registry.request('GET', `/v2/${repo}/manifests/latest`, { headers: { Accept: MediaTypes.dockerManifest } });
      await expectError(res, 404, 'MANIFEST_UNKNOWN');
    });
  });
});

describe('core push and pull workflow', () => {
  test('on SQLite', async () => {
    const server = await startBerth();
    try {
      await corePushPullWorkflow(new Registry(server.url), 'core/sqlite');
    } finally {
      await server.stop();
    }
  });

  test('on PostgreSQL', async (t) => {
    if (!(await requirePostgres(t))) return;
    const server = await startBerth({ postgres: true });
    try {
      await corePushPullWorkflow(new Registry(server.url), 'core/postgres');
    } finally {
      await server.stop();
    }
  });
});
