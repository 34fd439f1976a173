import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { startBerth } from '../helpers/server.js';
import { rawS3Client, removePrefix, requireS3, s3TestEnv, testBucket } from '../helpers/s3.js';

// A Berth whose blobs live in S3, pushed to and pulled from over /v2 with plain fetch.
// The engine and the keys come from the standard AWS variables, as an operator sets them.

const sha256 = (data: Buffer | string) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

test('push and pull a blob and a manifest through /v2 with blobs in S3', async (t) => {
  if (!requireS3(t)) return;
  const env = s3TestEnv()!;
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_S3: env.endpoint,
    AWS_ACCESS_KEY_ID: env.accessKeyId,
    AWS_SECRET_ACCESS_KEY: env.secretAccessKey,
    AWS_REGION: env.region,
  });
  const prefix = `e2e-${randomBytes(6).toString('hex')}/`;
  const server = await startBerth({ storage: { kind: 's3', bucket: testBucket, prefix, createBucket: true, checksums: env.checksums } });
  t.after(async () => {
    await server.stop();
    await removePrefix(testBucket, prefix);
  });
  const v2 = `${server.url}/v2/demo/app`;

  const ready = await fetch(`${server.url}/readyz`);
  assert.equal(((await ready.json()) as { storage: string }).storage, 's3');

  // The config blob in one request.
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
  const monolithic = await fetch(`${v2}/blobs/uploads/?digest=${sha256(config)}`, {
    method: 'POST',
    body: config,
    headers: { 'Content-Type': 'application/octet-stream' },
  });
  assert.equal(monolithic.status, 201);
  assert.equal(monolithic.headers.get('docker-content-digest'), sha256(config));

  // The layer in chunks: one above S3's 5 MiB part size, one below, the last with the PUT.
  const layer = randomBytes(6 * 1024 * 1024 + 100 * 1024 + 10);
  const start = await fetch(`${v2}/blobs/uploads/`, { method: 'POST' });
  assert.equal(start.status, 202);
  let location = new URL(start.headers.get('location')!, server.url);
  let offset = 0;
  for (const size of [6 * 1024 * 1024, 100 * 1024]) {
    const chunk = layer.subarray(offset, offset + size);
    const patch = await fetch(location, {
      method: 'PATCH',
      body: chunk,
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${offset}-${offset + size - 1}` },
    });
    assert.equal(patch.status, 202);
    offset += size;
    assert.equal(patch.headers.get('range'), `0-${offset - 1}`);
    location = new URL(patch.headers.get('location')!, server.url);
  }
  const outOfOrder = await fetch(location, { method: 'PATCH', body: Buffer.from('x'), headers: { 'Content-Range': '5-5', 'Content-Type': 'application/octet-stream' } });
  assert.equal(outOfOrder.status, 416);
  location.searchParams.set('digest', sha256(layer));
  const put = await fetch(location, { method: 'PUT', body: layer.subarray(offset), headers: { 'Content-Type': 'application/octet-stream' } });
  assert.equal(put.status, 201);
  assert.equal(put.headers.get('docker-content-digest'), sha256(layer));

  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(layer), size: layer.length }],
  });
  const pushed = await fetch(`${v2}/manifests/v1`, { method: 'PUT', body: manifest, headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' } });
  assert.equal(pushed.status, 201);
  assert.equal(pushed.headers.get('docker-content-digest'), sha256(manifest));

  // Pull it all back.
  const pulled = await fetch(`${v2}/manifests/v1`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
  assert.equal(pulled.status, 200);
  assert.equal(await pulled.text(), manifest);
  const blob = await fetch(`${v2}/blobs/${sha256(layer)}`);
  assert.equal(blob.status, 200);
  assert.equal(blob.headers.get('content-length'), String(layer.length));
  assert.equal(sha256(Buffer.from(await blob.arrayBuffer())), sha256(layer));
  const ranged = await fetch(`${v2}/blobs/${sha256(layer)}`, { headers: { Range: 'bytes=6291450-6291460' } });
  assert.equal(ranged.status, 206);
  assert.equal(ranged.headers.get('content-range'), `bytes 6291450-6291460/${layer.length}`);
  assert.ok(Buffer.from(await ranged.arrayBuffer()).equals(layer.subarray(6291450, 6291461)));
  const head = await fetch(`${v2}/blobs/${sha256(config)}`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get('content-length'), String(config.length));

  // Requests to the engine are counted by operation (the upload checks are HEADs; the
  // listings here are the purge and GC jobs' first runs at start-up).
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  const sent = (operation: string) => Number(new RegExp(`^berth_storage_requests_total\\{operation="${operation}"\\} (\\d+)$`, 'm').exec(metrics)?.[1] ?? 0);
  assert.ok(sent('PutObject') >= 4, 'upload markers and chunks were counted');
  assert.ok(sent('HeadObject') >= 4, 'upload checks were counted');
  assert.ok(sent('GetObject') >= 2, 'pulls were counted');

  // The bytes are in the bucket, under the configured prefix.
  const client = rawS3Client();
  try {
    const object = await client.send(new HeadObjectCommand({ Bucket: testBucket, Key: `${prefix}blobs/sha256/${sha256(layer).slice(7)}` }));
    assert.equal(object.ContentLength, layer.length);
  } finally {
    client.destroy();
  }
});
