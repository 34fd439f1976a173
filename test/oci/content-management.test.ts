import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { startBerth, type TestServer } from '../helpers/server.js';
import { bytesOf, expectError, MediaTypes, Registry, sha256 } from './client.js';

// distribution-spec v1.1, "Content management": deleting tags, manifests and blobs.

describe('OCI content management', () => {
  let server: TestServer;
  let registry: Registry;
  const repo = 'manage/app';

  before(async () => {
    server = await startBerth();
    registry = new Registry(server.url);
  });
  after(() => server.stop());

  test('DELETE by tag removes only the tag: 202, the manifest stays by digest and other tags', async () => {
    const image = await registry.pushImage(repo, 'keep');
    assert.equal((await registry.pushManifest(repo, 'drop', image.bytes, MediaTypes.ociManifest)).res.status, 201);
    const res = await registry.request('DELETE', `/v2/${repo}/manifests/drop`);
    assert.equal(res.status, 202);
    await expectError(await registry.request('GET', `/v2/${repo}/manifests/drop`), 404, 'MANIFEST_UNKNOWN');
    assert.equal(await registry.manifestStatus(repo, image.digest), 200);
    assert.equal(await registry.manifestStatus(repo, 'keep'), 200);
    assert.ok(!(await registry.tags(repo)).includes('drop'));
  });

  test('DELETE by digest removes the manifest and every tag pointing at it', async () => {
    const image = await registry.pushImage(repo, 'gone-1');
    await registry.pushManifest(repo, 'gone-2', image.bytes, MediaTypes.ociManifest);
    const res = await registry.request('DELETE', `/v2/${repo}/manifests/${image.digest}`);
    assert.equal(res.status, 202);
    await expectError(await registry.request('GET', `/v2/${repo}/manifests/${image.digest}`), 404, 'MANIFEST_UNKNOWN');
    for (const tag of ['gone-1', 'gone-2']) {
      await expectError(await registry.request('GET', `/v2/${repo}/manifests/${tag}`), 404, 'MANIFEST_UNKNOWN');
      assert.ok(!(await registry.tags(repo)).includes(tag));
    }
    // Its blobs are still there (only garbage collection removes unreferenced bytes) and
    // the same manifest can be pushed again.
    assert.equal(await registry.blobStatus(repo, image.config.digest), 200);
    const again = await registry.pushManifest(repo, 'gone-1', image.bytes, MediaTypes.ociManifest);
    assert.equal(again.res.status, 201);
    assert.equal(await registry.manifestStatus(repo, 'gone-1'), 200);
  });

  test('DELETE of an unknown manifest or tag: 404 MANIFEST_UNKNOWN; of an unknown repository: 404', async () => {
    await registry.pushImage(repo, 'present');
    await expectError(await registry.request('DELETE', `/v2/${repo}/manifests/${sha256('never')}`), 404, 'MANIFEST_UNKNOWN');
    await expectError(await registry.request('DELETE', `/v2/${repo}/manifests/never`), 404, 'MANIFEST_UNKNOWN');
    await expectError(await registry.request('DELETE', `/v2/manage/nobody/manifests/never`), 404, 'NAME_UNKNOWN');
  });

  test('DELETE of a manifest by a malformed digest: 400 DIGEST_INVALID', async () => {
    await expectError(await registry.request('DELETE', `/v2/${repo}/manifests/sha256:1234`), 400, 'DIGEST_INVALID');
  });

  test('DELETE of a blob: 202, then 404 BLOB_UNKNOWN on HEAD, GET and a second DELETE', async () => {
    const blob = await registry.pushBlob(repo, randomBytes(256));
    const res = await registry.request('DELETE', `/v2/${repo}/blobs/${blob.digest}`);
    assert.equal(res.status, 202);
    assert.equal(await registry.blobStatus(repo, blob.digest), 404);
    await expectError(await registry.request('GET', `/v2/${repo}/blobs/${blob.digest}`), 404, 'BLOB_UNKNOWN');
    await expectError(await registry.request('DELETE', `/v2/${repo}/blobs/${blob.digest}`), 404, 'BLOB_UNKNOWN');
    await expectError(await registry.request('DELETE', `/v2/${repo}/blobs/${sha256('never')}`), 404, 'BLOB_UNKNOWN');
  });

  test('deleting a blob from one repository leaves it in another that shares it', async () => {
    const bytes = randomBytes(300);
    const blob = await registry.pushBlob('manage/a', bytes);
    const mount = await registry.request('POST', `/v2/manage/b/blobs/uploads/?mount=${blob.digest}&from=manage/a`);
    assert.equal(mount.status, 201);
    assert.equal((await registry.request('DELETE', `/v2/manage/a/blobs/${blob.digest}`)).status, 202);
    assert.equal(await registry.blobStatus('manage/a', blob.digest), 404);
    const get = await registry.request('GET', `/v2/manage/b/blobs/${blob.digest}`);
    assert.equal(get.status, 200);
    assert.deepEqual(await bytesOf(get), bytes);
  });

  test('a deleted blob can be pushed again', async () => {
    const bytes = randomBytes(100);
    const blob = await registry.pushBlob(repo, bytes);
    assert.equal((await registry.request('DELETE', `/v2/${repo}/blobs/${blob.digest}`)).status, 202);
    await registry.pushBlob(repo, bytes);
    assert.deepEqual(await bytesOf(await registry.request('GET', `/v2/${repo}/blobs/${blob.digest}`)), bytes);
  });

  test('a manifest whose blob was deleted cannot be pushed again until the blob is back', async () => {
    const image = await registry.pushImage('manage/relink', 'v1');
    assert.equal((await registry.request('DELETE', `/v2/manage/relink/manifests/${image.digest}`)).status, 202);
    assert.equal((await registry.request('DELETE', `/v2/manage/relink/blobs/${image.layers[0]!.digest}`)).status, 202);
    const put = await registry.request('PUT', '/v2/manage/relink/manifests/v1', { headers: { 'Content-Type': MediaTypes.ociManifest }, body: image.bytes });
    await expectError(put, 400, 'MANIFEST_BLOB_UNKNOWN');
  });
});
