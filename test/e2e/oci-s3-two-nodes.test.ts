import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { createTestDatabase, requirePostgres } from '../helpers/postgres.js';
import { removePrefix, requireS3, s3TestEnv, testBucket } from '../helpers/s3.js';
import { startBerth } from '../helpers/server.js';

// Two Berth nodes on one PostgreSQL database and one bucket: a chunked push started on one
// node is continued and completed on the other, and either node serves the result.

const sha256 = (data: Buffer | string) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

test('a chunked upload started on node A is continued and completed on node B', async (t) => {
  if (!requireS3(t) || !(await requirePostgres(t))) return;
  const env = s3TestEnv()!;
  const prefix = `two-nodes-${randomBytes(6).toString('hex')}/`;
  const database = await createTestDatabase();
  const settings = {
    metadata: { kind: 'postgres' as const, url: database.url },
    storage: {
      kind: 's3' as const,
      bucket: testBucket,
      prefix,
      endpoint: env.endpoint,
      region: env.region,
      createBucket: true,
      checksums: env.checksums,
    },
  };
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: env.accessKeyId, AWS_SECRET_ACCESS_KEY: env.secretAccessKey });
  const a = await startBerth(settings);
  const b = await startBerth(settings);
  t.after(async () => {
    await a.stop();
    await b.stop();
    await database.drop();
    await removePrefix(testBucket, prefix);
  });

  const layer = randomBytes(2 * 1024 * 1024 + 123);
  const start = await fetch(`${a.url}/v2/shared/app/blobs/uploads/`, { method: 'POST' });
  assert.equal(start.status, 202);
  const path = start.headers.get('location')!;
  const half = 1024 * 1024;
  const first = await fetch(`${a.url}${path}`, {
    method: 'PATCH',
    body: layer.subarray(0, half),
    headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `0-${half - 1}` },
  });
  assert.equal(first.status, 202);

  // Node B knows the upload and where it stands.
  const status = await fetch(`${b.url}${path}`);
  assert.equal(status.status, 204);
  assert.equal(status.headers.get('range'), `0-${half - 1}`);
  const second = await fetch(`${b.url}${path}`, {
    method: 'PATCH',
    body: layer.subarray(half, 2 * half),
    headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${half}-${2 * half - 1}` },
  });
  assert.equal(second.status, 202);
  const wrong = await fetch(`${b.url}${path}?digest=${sha256('something else')}`, { method: 'PUT', body: layer.subarray(2 * half), headers: { 'Content-Type': 'application/octet-stream' } });
  assert.equal(wrong.status, 400, 'the digest is verified against the bytes both nodes stored');
  assert.equal(((await wrong.json()) as { errors: { code: string }[] }).errors[0]!.code, 'DIGEST_INVALID');

  // A failed digest discards the upload: push it again, across the nodes the other way round.
  const again = await fetch(`${b.url}/v2/shared/app/blobs/uploads/`, { method: 'POST' });
  const againPath = again.headers.get('location')!;
  assert.equal((await fetch(`${b.url}${againPath}`, { method: 'PATCH', body: layer.subarray(0, half), headers: { 'Content-Type': 'application/octet-stream' } })).status, 202);
  const done = await fetch(`${a.url}${againPath}?digest=${sha256(layer)}`, { method: 'PUT', body: layer.subarray(half), headers: { 'Content-Type': 'application/octet-stream' } });
  assert.equal(done.status, 201);
  assert.equal(done.headers.get('docker-content-digest'), sha256(layer));

  for (const node of [a, b]) {
    const blob = await fetch(`${node.url}/v2/shared/app/blobs/${sha256(layer)}`);
    assert.equal(blob.status, 200);
    assert.equal(sha256(Buffer.from(await blob.arrayBuffer())), sha256(layer));
  }
});
