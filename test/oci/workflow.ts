import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { bytesOf, MediaTypes, pathOf, Registry, sha256, withQuery } from './client.js';

/**
 * The core push and pull workflow end to end: what docker, skopeo and containerd do.
 * Run on SQLite and on PostgreSQL, so both metadata stores carry the same behaviour.
 */
export async function corePushPullWorkflow(registry: Registry, repo: string): Promise<void> {
  // Push: one layer monolithic, one layer in two chunks, the config by POST then PUT.
  const layerA = randomBytes(3000);
  const a = await registry.pushBlob(repo, layerA);

  const layerB = randomBytes(5000);
  const digestB = sha256(layerB);
  let location = await registry.startUpload(repo);
  let res = await registry.request('PATCH', location, {
    headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': '0-2999', 'Content-Length': '3000' },
    body: layerB.subarray(0, 3000),
  });
  assert.equal(res.status, 202);
  assert.equal(res.headers.get('range'), '0-2999');
  location = pathOf(res.headers.get('location')!);
  res = await registry.request('PATCH', location, {
    headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': '3000-4999', 'Content-Length': '2000' },
    body: layerB.subarray(3000),
  });
  assert.equal(res.status, 202);
  assert.equal(res.headers.get('range'), '0-4999');
  res = await registry.request('PUT', withQuery(pathOf(res.headers.get('location')!), 'digest', digestB));
  assert.equal(res.status, 201);
  assert.equal(res.headers.get('docker-content-digest'), digestB);

  const configBytes = Buffer.from(JSON.stringify({ architecture: 'arm64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
  location = await registry.startUpload(repo);
  res = await registry.request('PUT', withQuery(location, 'digest', sha256(configBytes)), {
    headers: { 'Content-Type': 'application/octet-stream' },
    body: configBytes,
  });
  assert.equal(res.status, 201);

  const manifest = {
    schemaVersion: 2,
    mediaType: MediaTypes.ociManifest,
    config: { mediaType: MediaTypes.ociConfig, digest: sha256(configBytes), size: configBytes.length },
    layers: [a, { mediaType: MediaTypes.ociLayer, digest: digestB, size: layerB.length }],
  };
  const pushed = await registry.pushManifest(repo, 'v1', manifest);
  assert.equal(pushed.res.status, 201);
  assert.equal(pushed.res.headers.get('docker-content-digest'), pushed.digest);
  assert.equal(pushed.res.headers.get('location'), `/v2/${repo}/manifests/${pushed.digest}`);

  // Pull: manifest by tag and by digest, then every blob, whole and by range.
  for (const reference of ['v1', pushed.digest]) {
    res = await registry.request('GET', `/v2/${repo}/manifests/${reference}`, { headers: { Accept: MediaTypes.ociManifest } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), MediaTypes.ociManifest);
    assert.equal(res.headers.get('docker-content-digest'), pushed.digest);
    assert.deepEqual(await bytesOf(res), pushed.bytes);
  }
  for (const [digest, bytes] of [
    [a.digest, layerA],
    [digestB, layerB],
    [sha256(configBytes), configBytes],
  ] as const) {
    res = await registry.request('GET', `/v2/${repo}/blobs/${digest}`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-content-digest'), digest);
    assert.deepEqual(await bytesOf(res), bytes);
  }
  res = await registry.request('GET', `/v2/${repo}/blobs/${digestB}`, { headers: { Range: 'bytes=100-199' } });
  assert.equal(res.status, 206);
  assert.equal(res.headers.get('content-range'), `bytes 100-199/${layerB.length}`);
  assert.deepEqual(await bytesOf(res), layerB.subarray(100, 200));

  // More tags, listed a page at a time (byte-wise order on both databases).
  for (const tag of ['v2', 'V3', 'v1.1']) assert.equal((await registry.pushManifest(repo, tag, pushed.bytes, MediaTypes.ociManifest)).res.status, 201);
  assert.deepEqual(await registry.tags(repo), ['V3', 'v1', 'v1.1', 'v2']);
  res = await registry.request('GET', `/v2/${repo}/tags/list?n=2`);
  assert.equal(res.headers.get('link'), `</v2/${repo}/tags/list?n=2&last=v1>; rel="next"`);
  assert.deepEqual(((await res.json()) as { tags: string[] }).tags, ['V3', 'v1']);
  res = await registry.request('GET', `/v2/${repo}/tags/list?n=2&last=v1`);
  assert.equal(res.headers.get('link'), null);
  assert.deepEqual(((await res.json()) as { tags: string[] }).tags, ['v1.1', 'v2']);
  res = await registry.request('GET', '/v2/_catalog');
  assert.ok(((await res.json()) as { repositories: string[] }).repositories.includes(repo));

  // A referrer, found through the Referrers API with and without a filter.
  const empty = await registry.pushBlob(repo, '{}', MediaTypes.ociEmpty);
  const referrer = await registry.pushManifest(repo, 'sig', {
    schemaVersion: 2,
    mediaType: MediaTypes.ociManifest,
    artifactType: 'application/vnd.example.sig',
    config: empty,
    layers: [empty],
    subject: { mediaType: MediaTypes.ociManifest, digest: pushed.digest, size: pushed.bytes.length },
  });
  assert.equal(referrer.res.headers.get('oci-subject'), pushed.digest);
  for (const filter of ['', '?artifactType=application/vnd.example.sig']) {
    res = await registry.request('GET', `/v2/${repo}/referrers/${pushed.digest}${filter}`);
    assert.equal(res.status, 200);
    const index = (await res.json()) as { manifests: Array<{ digest: string; artifactType: string }> };
    assert.deepEqual(index.manifests.map((m) => [m.digest, m.artifactType]), [[referrer.digest, 'application/vnd.example.sig']]);
  }

  // Delete: by tag only the tag goes; by digest the manifest goes with all its tags.
  res = await registry.request('DELETE', `/v2/${repo}/manifests/sig`);
  assert.equal(res.status, 202);
  assert.equal(await registry.manifestStatus(repo, referrer.digest), 200);
  res = await registry.request('DELETE', `/v2/${repo}/manifests/${pushed.digest}`);
  assert.equal(res.status, 202);
  assert.equal(await registry.manifestStatus(repo, 'v1'), 404);
  assert.deepEqual(await registry.tags(repo), []);
  res = await registry.request('DELETE', `/v2/${repo}/blobs/${a.digest}`);
  assert.equal(res.status, 202);
  assert.equal(await registry.blobStatus(repo, a.digest), 404);
}
