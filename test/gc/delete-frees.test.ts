import assert from 'node:assert/strict';
import { BatchDeleteImageCommand, ECRClient } from '@aws-sdk/client-ecr';
import { after, before, test } from 'node:test';
import { startBerth, testAdmin, type TestServer } from '../helpers/server.js';
import { blob, deleteManifest, image, pullAndVerify, pushImage, storedDigests } from './helpers.js';

// Deleting an image through any path frees its storage after the next collection, and
// only what no other image needs.

const GRACE_SECONDS = 0.3;

let server: TestServer;
let ecr: ECRClient;
before(async () => {
  server = await startBerth({ gc: { enabled: false, graceSeconds: GRACE_SECONDS }, jobs: { enabled: false } });
  ecr = new ECRClient({ endpoint: server.url, region: 'us-east-1', credentials: { accessKeyId: testAdmin.accessKeyId, secretAccessKey: testAdmin.secretAccessKey }, maxAttempts: 1 });
});
after(async () => {
  ecr?.destroy();
  await server?.stop();
});

const pastGrace = () => new Promise((resolve) => setTimeout(resolve, GRACE_SECONDS * 1000 + 100));

for (const path of ['/v2 DELETE', 'ECR BatchDeleteImage'] as const) {
  test(`deleting an image with ${path} frees the blobs only it used on the next collection`, async () => {
    const repo = path === '/v2 DELETE' ? 'frees/v2' : 'frees/ecr';
    const shared = blob();
    const keep = image([shared, blob()]);
    const drop = image([shared, blob()]);
    assert.equal((await pushImage(server.url, repo, keep, 'keep')).status, 201);
    assert.equal((await pushImage(server.url, repo, drop, 'drop')).status, 201);
    await pastGrace();
    const nothing = await server.berth.gc.run();
    assert.equal(nothing.blobsDeleted + nothing.linksRemoved, 0, 'images in use lose nothing, however old');

    if (path === '/v2 DELETE') assert.equal(await deleteManifest(server.url, repo, drop.digest), 202);
    else {
      const out = await ecr.send(new BatchDeleteImageCommand({ repositoryName: repo, imageIds: [{ imageTag: 'drop' }] }));
      assert.deepEqual(out.failures, []);
      assert.equal(out.imageIds?.[0]?.imageDigest, drop.digest);
    }
    const onlyDropped = drop.blobs.filter((b) => b.digest !== shared.digest).map((b) => b.digest);
    const before = await storedDigests(server);
    for (const d of onlyDropped) assert.ok(before.has(d), 'bytes stay until a collection');

    const dry = await server.berth.gc.run({ dryRun: true });
    assert.equal(dry.linksRemoved, onlyDropped.length);
    const freed = await server.berth.gc.run();
    assert.equal(freed.linksRemoved, onlyDropped.length);
    assert.equal(freed.blobsDeleted, onlyDropped.length);
    assert.equal(freed.bytesFreed, drop.blobs.filter((b) => b.digest !== shared.digest).reduce((n, b) => n + b.bytes.length, 0));
    const afterGc = await storedDigests(server);
    for (const d of onlyDropped) assert.ok(!afterGc.has(d), `${d} freed`);
    for (const b of keep.blobs) assert.ok(afterGc.has(b.digest), 'the kept image keeps every blob, the shared one too');
    await pullAndVerify(server.url, repo, 'keep');
  });
}
