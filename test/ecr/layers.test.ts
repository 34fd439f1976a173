import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import {
  BatchCheckLayerAvailabilityCommand,
  CompleteLayerUploadCommand,
  CreateRepositoryCommand,
  GetDownloadUrlForLayerCommand,
  InitiateLayerUploadCommand,
  PutImageCommand,
  UploadLayerPartCommand,
} from '@aws-sdk/client-ecr';
import { DownloadTokens, EcrLayers, layerPartLimits } from '../../src/domain/ecr/layers.js';
import { imageManifest, rejectsWith, sha256, startEcr, type EcrTestServer } from './helpers.js';

let server: EcrTestServer;
before(async () => {
  server = await startEcr();
  await server.client.send(new CreateRepositoryCommand({ repositoryName: 'layers/repo' }));
});
after(() => server.stop());

const repositoryName = 'layers/repo';
const MiB = 1024 * 1024;

async function initiate() {
  const res = await server.client.send(new InitiateLayerUploadCommand({ repositoryName }));
  assert.match(res.uploadId!, /^[0-9a-f-]{36}$/);
  assert.equal(res.partSize, 10 * MiB);
  return res.uploadId!;
}

function part(uploadId: string, first: number, bytes: Buffer, last = first + bytes.length - 1) {
  return server.client.send(new UploadLayerPartCommand({ repositoryName, uploadId, partFirstByte: first, partLastByte: last, layerPartBlob: bytes }));
}

function complete(uploadId: string, digest: string) {
  return server.client.send(new CompleteLayerUploadCommand({ repositoryName, uploadId, layerDigests: [digest] }));
}

/** Uploads bytes through the ECR layer API in parts; returns the digest. */
async function uploadLayer(bytes: Buffer, partBytes = bytes.length): Promise<string> {
  const uploadId = await initiate();
  for (let offset = 0; offset < bytes.length; offset += partBytes) {
    const res = await part(uploadId, offset, bytes.subarray(offset, offset + partBytes));
    assert.equal(res.lastByteReceived, Math.min(offset + partBytes, bytes.length) - 1);
  }
  const digest = sha256(bytes);
  const done = await complete(uploadId, digest);
  assert.deepEqual({ ...done, $metadata: undefined }, { $metadata: undefined, registryId: '000000000000', repositoryName, uploadId, layerDigest: digest });
  return digest;
}

test('a layer uploaded in parts through the API is available, downloadable and pullable over /v2', async () => {
  const bytes = Buffer.concat([randomBytes(5 * MiB), randomBytes(1000)]);
  const digest = await uploadLayer(bytes, 5 * MiB);

  const check = await server.client.send(new BatchCheckLayerAvailabilityCommand({ repositoryName, layerDigests: [digest, sha256('absent'), 'not-a-digest'] }));
  assert.deepEqual(check.layers, [{ layerDigest: digest, layerAvailability: 'AVAILABLE', layerSize: bytes.length }]);
  assert.deepEqual(check.failures!.map((f) => [f.layerDigest, f.failureCode]), [
    [sha256('absent'), 'MissingLayerDigest'],
    ['not-a-digest', 'InvalidLayerDigest'],
  ]);

  const url = await server.client.send(new GetDownloadUrlForLayerCommand({ repositoryName, layerDigest: digest }));
  assert.equal(url.layerDigest, digest);
  assert.ok(url.downloadUrl!.startsWith(`${server.url}/`), url.downloadUrl);
  const download = await fetch(url.downloadUrl!);
  assert.equal(download.status, 200);
  assert.equal(sha256(Buffer.from(await download.arrayBuffer())), digest);
  const forged = await fetch(url.downloadUrl!.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')));
  assert.equal(forged.status, 403);

  // The same bytes over /v2.
  const v2 = await fetch(`${server.url}/v2/${repositoryName}/blobs/${digest}`);
  assert.equal(v2.status, 200);
  assert.equal(Number(v2.headers.get('content-length')), bytes.length);
  await v2.arrayBuffer();

  // An image made of it entirely through the ECR API, pulled over /v2.
  const configBytes = Buffer.from(JSON.stringify({ architecture: 'arm64', os: 'linux' }));
  const configDigest = await uploadLayer(configBytes);
  const image = imageManifest({ mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: configBytes.length }, [
    { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest, size: bytes.length },
  ]);
  await server.client.send(new PutImageCommand({ repositoryName, imageManifest: image.manifest, imageTag: 'api-only' }));
  const manifest = await fetch(`${server.url}/v2/${repositoryName}/manifests/api-only`);
  assert.equal(manifest.headers.get('docker-content-digest'), image.digest);

  // Uploading it again: LayerAlreadyExists.
  const again = await initiate();
  await part(again, 0, configBytes);
  await rejectsWith(complete(again, configDigest), 'LayerAlreadyExistsException');
});

test('layer part rules: ordering, ranges, minimum size, empty uploads, digests, unknown uploads', async () => {
  const small = randomBytes(1024);
  // A part that does not start where the upload ends.
  const id1 = await initiate();
  await part(id1, 0, small);
  const outOfOrder = await rejectsWith(part(id1, 10, small), 'InvalidLayerPartException', /start at byte 1024/);
  assert.equal((outOfOrder as unknown as { lastValidByteReceived?: number }).lastValidByteReceived, 1023);
  // A range that disagrees with the bytes sent.
  await rejectsWith(part(id1, 1024, small, 1024 + 5), 'InvalidLayerPartException', /carries 1024 bytes/);
  // Two parts where the first is under 5 MiB.
  await part(id1, 1024, small);
  await rejectsWith(complete(id1, sha256(Buffer.concat([small, small]))), 'LayerPartTooSmallException');

  const id2 = await initiate();
  await rejectsWith(complete(id2, sha256('')), 'EmptyUploadException');

  const id3 = await initiate();
  await part(id3, 0, small);
  await rejectsWith(complete(id3, sha256('other bytes')), 'InvalidLayerException');

  await rejectsWith(part('00000000-0000-0000-0000-000000000000', 0, small), 'UploadNotFoundException');
  await rejectsWith(complete('00000000-0000-0000-0000-000000000000', sha256(small)), 'UploadNotFoundException');
  await rejectsWith(server.client.send(new InitiateLayerUploadCommand({ repositoryName: 'layers/missing' })), 'RepositoryNotFoundException');
  await rejectsWith(server.client.send(new GetDownloadUrlForLayerCommand({ repositoryName, layerDigest: sha256('absent') })), 'LayersNotFoundException');
  await rejectsWith(server.client.send(new BatchCheckLayerAvailabilityCommand({ repositoryName, layerDigests: [] })), 'ValidationException', /layerDigests/);
});

test('download tokens expire and cannot be forged', () => {
  const tokens = new DownloadTokens();
  const grant = { registryId: '000000000000', repository: 'r', digest: sha256('x'), expiresAt: 10_000 };
  const token = tokens.sign(grant);
  assert.deepEqual(tokens.verify(token, 9_999), grant);
  assert.equal(tokens.verify(token, 10_001), null);
  assert.equal(new DownloadTokens().verify(token, 0), null, 'another key rejects it');
  assert.equal(tokens.verify(`${token}x`, 0), null);
});

test('a layer upload is limited in parts and size (LimitExceededException)', async () => {
  // The same service over the test server's stores, with a part limit small enough to reach.
  const { registry, meta, ecrStore, config, jobs } = server.berth;
  const layers = new EcrLayers({ registry, meta, ecr: ecrStore, jobs }, new DownloadTokens(), 60_000, { ...layerPartLimits, maxParts: 3 });
  const caller = { accountId: config.registryId, region: 'us-east-1', registryHost: server.host };
  const { uploadId } = await layers.initiate(caller, repositoryName);
  for (let i = 0; i < 3; i++) await layers.uploadPart(caller, repositoryName, uploadId, i, i, Buffer.from([i]));
  await assert.rejects(layers.uploadPart(caller, repositoryName, uploadId, 3, 3, Buffer.from([3])), (err: Error & { spec?: { ecr: string } }) => {
    assert.equal(err.spec?.ecr, 'LimitExceededException');
    return true;
  });
  await rejectsWith(
    server.client.send(new UploadLayerPartCommand({ repositoryName, uploadId, partFirstByte: 52_000 * MiB, partLastByte: 52_000 * MiB, layerPartBlob: Buffer.from([1]) })),
    'LimitExceededException',
  );
});
