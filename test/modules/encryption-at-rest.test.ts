import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { CreateRepositoryCommand, DescribeRepositoriesCommand, ECRClient } from '@aws-sdk/client-ecr';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { kmsClient, kmsOk } from '../helpers/kms.js';
import { requirePostgres } from '../helpers/postgres.js';
import { runOk } from '../helpers/process.js';
import { rawS3Client, removePrefix, requireS3, s3TestEnv, testBucket } from '../helpers/s3.js';
import { startBerth, testAdmin, type TestServer } from '../helpers/server.js';
import { requireTool } from '../helpers/tools.js';

// Encryption at rest with a customer key: a layer holding a known marker, uncompressed, is
// pushed into a KMS-encrypted repository; no file on disk (or object in the bucket) holds
// the marker; the pull is byte-identical, ranges too; a disabled key stops pulls and pushes
// with a clear error and enabling restores them; a flipped stored bit is an error, never
// wrong bytes; deleting the key (the clock moved past its window) makes the data unreadable
// for good. On SQLite + folder and on PostgreSQL + S3 (Ceph RGW).

const DAY = 86_400_000;
const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

interface Storage {
  /** Every stored byte sequence (files under the data folder, or objects under the prefix). */
  objects(): AsyncIterable<{ name: string; bytes: Buffer }>;
  /** Replaces a stored object's bytes. */
  overwrite(name: string, bytes: Buffer): Promise<void>;
}

function folderStorage(dir: string): Storage {
  async function* walk(d: string): AsyncIterable<{ name: string; bytes: Buffer }> {
    for (const entry of await readdir(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) yield* walk(path);
      else if (entry.isFile()) yield { name: path, bytes: await readFile(path) };
    }
  }
  return { objects: () => walk(dir), overwrite: (name, bytes) => writeFile(name, bytes) };
}

function bucketStorage(prefix: string, dataDir: string): Storage {
  const s3 = rawS3Client();
  return {
    async *objects() {
      yield* folderStorage(dataDir).objects();
      let token: string | undefined;
      do {
        const page = await s3.send(new ListObjectsV2Command({ Bucket: testBucket, Prefix: prefix, ContinuationToken: token }));
        for (const o of page.Contents ?? []) {
          const got = await s3.send(new GetObjectCommand({ Bucket: testBucket, Key: o.Key! }));
          yield { name: `s3:${o.Key}`, bytes: Buffer.from(await got.Body!.transformToByteArray()) };
        }
        token = page.NextContinuationToken;
      } while (token);
    },
    async overwrite(name, bytes) {
      const { PutObjectCommand } = await import('@aws-sdk/client-s3');
      await s3.send(new PutObjectCommand({ Bucket: testBucket, Key: name.slice(3), Body: bytes }));
    },
  };
}

async function push(server: TestServer, repo: string, blob: Buffer): Promise<Response> {
  return fetch(`${server.url}/v2/${repo}/blobs/uploads/?digest=${sha256(blob)}`, { method: 'POST', body: new Uint8Array(blob), headers: { 'content-type': 'application/octet-stream' } });
}

/** Pushes a one-layer image (the layer an uncompressed tar-like blob with the marker). */
async function pushImage(server: TestServer, repo: string, layer: Buffer, tag: string): Promise<void> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(layer)] } }));
  for (const b of [layer, config]) assert.equal((await push(server, repo, b)).status, 201);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(layer), size: layer.length }],
    }),
  );
  const res = await fetch(`${server.url}/v2/${repo}/manifests/${tag}`, { method: 'PUT', body: new Uint8Array(manifest), headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } });
  assert.equal(res.status, 201, await res.text());
}

async function pull(server: TestServer, repo: string, digest: string, range?: string): Promise<{ status: number; body: Buffer; error?: string }> {
  try {
    const res = await fetch(`${server.url}/v2/${repo}/blobs/${digest}`, { headers: range ? { range } : {}, signal: AbortSignal.timeout(20_000) });
    return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
  } catch (err) {
    return { status: -1, body: Buffer.alloc(0), error: String((err as Error).cause ?? err) };
  }
}

async function scenario(t: TestContext, server: TestServer, storage: Storage): Promise<void> {
  let now = Date.now();
  server.berth.keys.clock = { now: () => now };
  const kms = kmsOk(kmsClient(server.url, testAdmin));
  const ecr = new ECRClient({ endpoint: server.url, region: 'us-east-1', credentials: { ...testAdmin } });
  t.after(() => ecr.destroy());
  const key = (await kms('CreateKey', { Description: 'customer key' })).KeyMetadata;
  await kms('CreateAlias', { AliasName: 'alias/images', TargetKeyId: key.KeyId });
  const created = await ecr.send(new CreateRepositoryCommand({ repositoryName: 'secure/app', encryptionConfiguration: { encryptionType: 'KMS', kmsKey: 'alias/images' } }));
  assert.deepEqual(created.repository?.encryptionConfiguration, { encryptionType: 'KMS', kmsKey: key.Arn });
  const described = await ecr.send(new DescribeRepositoriesCommand({ repositoryNames: ['secure/app'] }));
  assert.equal(described.repositories?.[0]?.encryptionConfiguration?.kmsKey, key.Arn);

  // 1.5 MiB: several segments, the marker in more than one of them.
  const marker = `BERTH-MARKER-${randomBytes(8).toString('hex')}`;
  const layer = Buffer.concat([Buffer.from(`${marker}\n`), randomBytes(700 * 1024), Buffer.from(`${marker}\n`), randomBytes(800 * 1024), Buffer.from(marker)]);
  const digest = sha256(layer);
  await pushImage(server, 'secure/app', layer, 'v1');

  for await (const o of storage.objects()) assert.ok(!o.bytes.includes(marker), `${o.name} holds the marker in the clear`);

  const whole = await pull(server, 'secure/app', digest);
  assert.equal(whole.status, 200);
  assert.ok(whole.body.equals(layer), 'pulled bytes differ');
  const part = await pull(server, 'secure/app', digest, 'bytes=65530-200000');
  assert.equal(part.status, 206);
  assert.ok(part.body.equals(layer.subarray(65530, 200001)), 'range bytes differ');
  const tail = await pull(server, 'secure/app', digest, `bytes=${layer.length - 10}-`);
  assert.ok(tail.body.equals(layer.subarray(layer.length - 10)));

  // Dedupe within a key: a second repository with the same key stores nothing new; one
  // with another key stores its own copy.
  const countObjects = async () => {
    let n = 0;
    for await (const o of storage.objects()) if (!o.name.endsWith('.db') && !o.name.includes('-wal') && !o.name.includes('-shm')) n++;
    return n;
  };
  await ecr.send(new CreateRepositoryCommand({ repositoryName: 'secure/same-key', encryptionConfiguration: { encryptionType: 'KMS', kmsKey: key.Arn } }));
  const before = await countObjects();
  await pushImage(server, 'secure/same-key', layer, 'v1');
  const afterSame = await countObjects();
  assert.equal(afterSame, before + 0, 'the same blob under the same key was stored again');
  const other = (await kms('CreateKey', {})).KeyMetadata;
  await ecr.send(new CreateRepositoryCommand({ repositoryName: 'secure/other-key', encryptionConfiguration: { encryptionType: 'KMS_DSSE', kmsKey: other.Arn } }));
  await pushImage(server, 'secure/other-key', layer, 'v1');
  assert.ok((await countObjects()) > afterSame, 'the blob under another key was not stored under it');
  assert.ok((await pull(server, 'secure/other-key', digest)).body.equals(layer), 'KMS_DSSE pull differs');
  assert.ok((await pull(server, 'secure/other-key', digest, 'bytes=100000-300000')).body.equals(layer.subarray(100000, 300001)), 'KMS_DSSE range differs');

  // Disabled key: pulls and pushes fail with a clear error; enabling restores them.
  await kms('DisableKey', { KeyId: key.KeyId });
  const refused = await pull(server, 'secure/app', digest);
  assert.equal(refused.status, 403);
  const error = JSON.parse(refused.body.toString()).errors[0];
  assert.equal(error.code, 'DENIED');
  assert.match(error.message, /DisabledException/);
  const refusedPush = await push(server, 'secure/app', randomBytes(100));
  assert.equal(refusedPush.status, 403);
  const manifestRefused = await fetch(`${server.url}/v2/secure/app/manifests/v1`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
  assert.equal(manifestRefused.status, 403);
  await kms('EnableKey', { KeyId: key.KeyId });
  assert.ok((await pull(server, 'secure/app', digest)).body.equals(layer));

  // A flipped bit in the stored ciphertext is an error, never wrong bytes.
  let victim: { name: string; bytes: Buffer } | null = null;
  for await (const o of storage.objects()) if (o.bytes.subarray(0, 4).toString() === 'BEB1' && o.bytes[4] === 1 && o.bytes.length > layer.length) victim = o;
  assert.ok(victim, 'no encrypted object found');
  const flipped = Buffer.from(victim.bytes);
  flipped[flipped.length - 5000]! ^= 0x10;
  await storage.overwrite(victim.name, flipped);
  const broken = await pull(server, 'secure/app', digest);
  assert.ok(broken.status !== 200 || !broken.body.equals(layer), 'a flipped bit went unnoticed');
  assert.ok(broken.status === -1 || broken.body.length < layer.length, `wrong bytes were served (status ${broken.status}, ${broken.body.length} bytes)`);
  // A range that does not touch the damaged segment still reads.
  assert.ok((await pull(server, 'secure/app', digest, 'bytes=0-1000')).body.equals(layer.subarray(0, 1001)));
  await storage.overwrite(victim.name, victim.bytes);

  // Crypto-shredding: the key's deletion completes and the data is gone for good.
  await kms('ScheduleKeyDeletion', { KeyId: key.KeyId, PendingWindowInDays: 7 });
  assert.equal((await pull(server, 'secure/app', digest)).status, 403);
  now += 7 * DAY + 1;
  await server.berth.keys.sweep();
  const gone = await pull(server, 'secure/app', digest);
  assert.equal(gone.status, 403);
  assert.match(JSON.parse(gone.body.toString()).errors[0].message, /deleted|does not exist/);
  // The other key's repository is untouched.
  assert.ok((await pull(server, 'secure/other-key', digest)).body.equals(layer));
}

describe('encryption at rest', { timeout: 180_000 }, () => {
  test('SQLite + folder', async (t) => {
    const server = await startBerth();
    t.after(() => server.stop());
    await scenario(t, server, folderStorage(server.dataDir));
  });

  test('PostgreSQL + S3 (Ceph RGW)', async (t) => {
    if (!(await requirePostgres(t)) || !requireS3(t)) return;
    const env = s3TestEnv()!;
    Object.assign(process.env, { AWS_ENDPOINT_URL_S3: env.endpoint, AWS_ACCESS_KEY_ID: env.accessKeyId, AWS_SECRET_ACCESS_KEY: env.secretAccessKey, AWS_REGION: env.region });
    const prefix = `enc-${randomBytes(6).toString('hex')}/`;
    const server = await startBerth({ postgres: true, storage: { kind: 's3', bucket: testBucket, prefix, createBucket: true, checksums: env.checksums, redirect: true } });
    t.after(async () => {
      await server.stop();
      await removePrefix(testBucket, prefix);
    });
    await scenario(t, server, bucketStorage(prefix, server.dataDir));
  });

  test('skopeo copies an image into a KMS repository and back, byte for byte', async (t) => {
    if (!requireTool(t, 'skopeo')) return;
    const server = await startBerth();
    const work = await mkdtemp(join(tmpdir(), 'berth-enc-skopeo-'));
    t.after(async () => {
      await server.stop();
      await rm(work, { recursive: true, force: true });
    });
    const kms = kmsOk(kmsClient(server.url, testAdmin));
    const key = (await kms('CreateKey', {})).KeyMetadata;
    const ecr = new ECRClient({ endpoint: server.url, region: 'us-east-1', credentials: { ...testAdmin } });
    await ecr.send(new CreateRepositoryCommand({ repositoryName: 'enc/skopeo', encryptionConfiguration: { encryptionType: 'KMS', kmsKey: key.Arn } }));
    ecr.destroy();
    const { buildTestImages, imageDigests, readLayoutBlob } = await import('../helpers/images.js');
    const images = await buildTestImages(join(work, 'layout'));
    await runOk('skopeo', ['--insecure-policy', 'copy', '--preserve-digests', '--dest-tls-verify=false', `oci:${images.dir}:multilayer`, `docker://${server.host}/enc/skopeo:v1`], { timeoutMs: 60_000 });
    await runOk('skopeo', ['--insecure-policy', 'copy', '--preserve-digests', '--src-tls-verify=false', `docker://${server.host}/enc/skopeo:v1`, `oci:${join(work, 'out')}:back`], { timeoutMs: 60_000 });
    for (const d of imageDigests(images.multiLayer)) assert.ok((await readLayoutBlob(join(work, 'out'), d)).equals(await readLayoutBlob(images.dir, d)), `${d} differs`);
    // The 3 MiB random layer's bytes are nowhere on disk in the clear.
    const big = (await Promise.all(imageDigests(images.multiLayer).map(async (d) => ({ d, size: (await stat(join(images.dir, 'blobs', 'sha256', d.slice(7)))).size })))).sort((a, b) => b.size - a.size)[0]!;
    const probe = (await readLayoutBlob(images.dir, big.d)).subarray(1000, 1064);
    for await (const o of folderStorage(server.dataDir).objects()) assert.ok(!o.bytes.includes(probe), `${o.name} holds layer bytes in the clear`);
  });
});
