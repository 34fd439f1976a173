import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { GetDownloadUrlForLayerCommand } from '@aws-sdk/client-ecr';
import { startEcr } from '../ecr/helpers.js';
import { blobPath, buildTestImages, imageDigests, sha256 } from '../helpers/images.js';
import { runOk } from '../helpers/process.js';
import { removePrefix, requireS3, s3TestEnv, testBucket } from '../helpers/s3.js';
import { startBerth, type TestServer } from '../helpers/server.js';
import { requireTool } from '../helpers/tools.js';

// storage.redirect: blob GETs answer 307 to a presigned GetObject URL on the S3 engine, so
// the bytes skip the node (as Distribution and ECR do). Clients follow it; digests hold.

async function startRedirecting<S extends TestServer>(t: import('node:test').TestContext, start: (options: Parameters<typeof startBerth>[0]) => Promise<S> = startBerth as never): Promise<S> {
  const env = s3TestEnv()!;
  const prefix = `redirect-${randomBytes(6).toString('hex')}/`;
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: env.accessKeyId, AWS_SECRET_ACCESS_KEY: env.secretAccessKey });
  const server = await start({
    storage: { kind: 's3', bucket: testBucket, prefix, endpoint: env.endpoint, region: env.region, createBucket: true, checksums: env.checksums, redirect: true, redirectTtlSeconds: 60 },
  });
  t.after(async () => {
    await server.stop();
    await removePrefix(testBucket, prefix);
  });
  return server;
}

async function pushBlob(server: TestServer, repo: string, data: Buffer): Promise<string> {
  const digest = sha256(data);
  const res = await fetch(`${server.url}/v2/${repo}/blobs/uploads/?digest=${digest}`, { method: 'POST', body: new Uint8Array(data), headers: { 'Content-Type': 'application/octet-stream' } });
  assert.equal(res.status, 201);
  return digest;
}

test('with storage.redirect a blob GET is a 307 to the S3 engine, and following it yields the bytes', async (t) => {
  if (!requireS3(t)) return;
  const server = await startRedirecting(t);
  const data = randomBytes(1024 * 1024 + 17);
  const digest = await pushBlob(server, 'redirect/app', data);

  const res = await fetch(`${server.url}/v2/redirect/app/blobs/${digest}`, { redirect: 'manual' });
  assert.equal(res.status, 307);
  assert.equal(res.headers.get('docker-content-digest'), digest);
  const location = new URL(res.headers.get('location')!);
  assert.equal(location.origin, new URL(s3TestEnv()!.endpoint).origin, 'the bytes come from the engine, not the node');
  assert.ok(location.searchParams.get('X-Amz-Signature'), 'a presigned URL');
  assert.equal(location.searchParams.get('X-Amz-Expires'), '60');

  const followed = await fetch(`${server.url}/v2/redirect/app/blobs/${digest}`);
  assert.equal(followed.status, 200);
  assert.equal(sha256(Buffer.from(await followed.arrayBuffer())), digest);

  // The Range header survives the redirect and the engine answers it.
  const ranged = await fetch(`${server.url}/v2/redirect/app/blobs/${digest}`, { headers: { Range: 'bytes=1000-1999' } });
  assert.equal(ranged.status, 206);
  assert.ok(Buffer.from(await ranged.arrayBuffer()).equals(data.subarray(1000, 2000)));

  // HEAD still answers from the node; what the repository does not link is still a 404, never a redirect.
  const head = await fetch(`${server.url}/v2/redirect/app/blobs/${digest}`, { method: 'HEAD', redirect: 'manual' });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get('content-length'), String(data.length));
  for (const path of [`/v2/redirect/other/blobs/${digest}`, `/v2/redirect/app/blobs/${sha256('absent')}`]) {
    const missing = await fetch(`${server.url}${path}`, { redirect: 'manual' });
    assert.equal(missing.status, 404, path);
    assert.equal(((await missing.json()) as { errors: { code: string }[] }).errors[0]!.code, path.includes('other') ? 'NAME_UNKNOWN' : 'BLOB_UNKNOWN');
  }
});

test('skopeo pulls an image through the redirect', async (t) => {
  if (!requireS3(t) || !requireTool(t, 'skopeo')) return;
  const server = await startRedirecting(t);
  const work = await mkdtemp(join(tmpdir(), 'berth-redirect-'));
  t.after(() => rm(work, { recursive: true, force: true }));
  const images = await buildTestImages(join(work, 'in'), { bigLayerBytes: 2 * 1024 * 1024 });
  const skopeo = (args: string[]) => runOk('skopeo', ['--insecure-policy', ...args], { timeoutMs: 60_000 });
  await skopeo(['copy', '--preserve-digests', '--dest-tls-verify=false', `oci:${images.dir}:multilayer`, `docker://${server.host}/redirect/multilayer:v1`]);
  const out = join(work, 'out');
  await skopeo(['copy', '--preserve-digests', '--src-tls-verify=false', `docker://${server.host}/redirect/multilayer:v1`, `oci:${out}:back`]);
  for (const digest of imageDigests(images.multiLayer)) {
    assert.equal(sha256(await readFile(blobPath(out, digest))), digest, `blob ${digest} in skopeo's copy`);
  }
});

test('with storage.redirect an ECR layer download URL redirects to the engine too', async (t) => {
  if (!requireS3(t)) return;
  const server = await startRedirecting(t, startEcr);
  const data = randomBytes(50_000);
  const digest = await pushBlob(server, 'redirect/ecr', data);
  const { downloadUrl } = await server.client.send(new GetDownloadUrlForLayerCommand({ repositoryName: 'redirect/ecr', layerDigest: digest }));
  const res = await fetch(downloadUrl!, { redirect: 'manual' });
  assert.equal(res.status, 307);
  assert.equal(new URL(res.headers.get('location')!).origin, new URL(s3TestEnv()!.endpoint).origin);
  const followed = await fetch(downloadUrl!);
  assert.equal(followed.status, 200);
  assert.equal(sha256(Buffer.from(await followed.arrayBuffer())), digest);
  const forged = await fetch(downloadUrl!.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')), { redirect: 'manual' });
  assert.equal(forged.status, 403, 'a forged token is refused, not redirected');
});

test('the redirect serves the addressed account: a blob of another account (path form) redirects to its bytes', async (t) => {
  if (!requireS3(t)) return;
  const server = await startRedirecting(t);
  const other = '222222222222';
  await server.berth.identity.createAccount(other);
  const data = randomBytes(64 * 1024 + 3);
  const digest = await pushBlob(server, `${other}/redirect/theirs`, data);

  const res = await fetch(`${server.url}/v2/${other}/redirect/theirs/blobs/${digest}`, { redirect: 'manual' });
  assert.equal(res.status, 307, 'redirected like a blob of the default account');
  const followed = await fetch(`${server.url}/v2/${other}/redirect/theirs/blobs/${digest}`);
  assert.equal(followed.status, 200);
  assert.equal(sha256(Buffer.from(await followed.arrayBuffer())), digest);
  // The same repository name in the default account holds nothing: no redirect, no bytes.
  const mine = await fetch(`${server.url}/v2/redirect/theirs/blobs/${digest}`, { redirect: 'manual' });
  assert.equal(mine.status, 404);
});
