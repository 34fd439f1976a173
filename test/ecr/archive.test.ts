import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  BatchGetImageCommand,
  CreateRepositoryCommand,
  DescribeImagesCommand,
  GetDownloadUrlForLayerCommand,
  GetLifecyclePolicyPreviewCommand,
  ListImageReferrersCommand,
  ListImagesCommand,
  PutImageCommand,
  PutLifecyclePolicyCommand,
  StartLifecyclePolicyPreviewCommand,
  UpdateImageStorageClassCommand,
  type ImageDetail,
} from '@aws-sdk/client-ecr';
import { after, before, describe, test, type TestContext } from 'node:test';
import type { SqlMetadataStore } from '../../src/stores/metadata/sql-metadata-store.js';
import { storedDigests } from '../gc/helpers.js';
import { cliEnv, cliPath } from '../helpers/berth-process.js';
import { testAdmin } from '../helpers/server.js';
import { run } from '../helpers/process.js';
import { requireTool } from '../helpers/tools.js';
import { ecrPost } from '../security/helpers.js';
import { awsBinary, awsEcr, credentials, prepareImage, putManifestV2, rejectsWith, sha256, startEcr, type EcrTestServer, type TestImage } from './helpers.js';

// ECR's archive storage class with the AWS SDK against a running server (SQLite):
// UpdateImageStorageClass, pulls refused on both APIs while an image is archived or being
// restored, the restore job, lifecycle rules that archive and expire archived images, and
// garbage collection that leaves archived images' blobs alone.

const DAY = 86_400_000;
const INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

async function pushImage(server: EcrTestServer, repo: string, seed: string, tag: string | null): Promise<TestImage> {
  const image = await prepareImage(server, repo, seed);
  const res = await putManifestV2(server, repo, tag ?? image.digest, image.manifest);
  assert.equal(res.status, 201, await res.text());
  return image;
}

async function describeOne(server: EcrTestServer, repositoryName: string, imageDigest: string): Promise<ImageDetail> {
  const out = await server.client.send(new DescribeImagesCommand({ repositoryName, imageIds: [{ imageDigest }] }));
  return out.imageDetails![0]!;
}

const listed = async (server: EcrTestServer, repositoryName: string, imageStatus?: 'ACTIVE' | 'ARCHIVED' | 'ACTIVATING' | 'ANY') =>
  ((await server.client.send(new DescribeImagesCommand({ repositoryName, ...(imageStatus ? { filter: { imageStatus } } : {}) }))).imageDetails ?? []).map((d) => d.imageDigest).sort();

const archive = (server: EcrTestServer, repositoryName: string, imageId: { imageDigest?: string; imageTag?: string }, targetStorageClass: 'ARCHIVE' | 'STANDARD' = 'ARCHIVE') =>
  server.client.send(new UpdateImageStorageClassCommand({ repositoryName, imageId, targetStorageClass }));

/** A /v2 manifest request: status, the OCI error (if any) and the body. */
async function v2Manifest(server: EcrTestServer, repo: string, reference: string, method: 'GET' | 'HEAD' = 'GET') {
  const res = await fetch(`${server.url}/v2/${repo}/manifests/${reference}`, { method, headers: { accept: `${OCI_MANIFEST}, ${INDEX}` } });
  const body = Buffer.from(await res.arrayBuffer());
  const error = res.status >= 400 && body.length > 0 ? (JSON.parse(body.toString()) as { errors: { code: string; message: string; detail?: unknown }[] }).errors[0] : undefined;
  return { status: res.status, digest: res.headers.get('docker-content-digest'), body, error };
}

function policy(rules: unknown[]): string {
  return JSON.stringify({ rules: rules.map((r, i) => (i === 0 ? { description: 'archive storage class test policy '.repeat(3), ...(r as object) } : r)) });
}

describe('archive storage class (jobs run when the test drains them)', () => {
  let server: EcrTestServer;
  before(async () => {
    server = await startEcr({ jobs: { enabled: false }, lifecycle: { enabled: false }, gc: { enabled: false, graceSeconds: 0.2 }, ecr: { restoreDelaySeconds: 0 } });
  });
  after(() => server?.stop());

  test('archive: pulls refused on /v2 and the ECR API; restore: ACTIVATING, then ACTIVE, and the same bytes pull again', async () => {
    const repositoryName = 'archive/app';
    await server.client.send(new CreateRepositoryCommand({ repositoryName }));
    const image = await pushImage(server, repositoryName, 'app-v1', 'v1');
    const layer = image.layers[0]!.digest;
    const before = await v2Manifest(server, repositoryName, 'v1');
    assert.equal(before.status, 200);
    assert.equal(before.digest, image.digest);
    const active = await describeOne(server, repositoryName, image.digest);
    assert.equal(active.imageStatus, 'ACTIVE');
    assert.equal(active.lastArchivedAt, undefined);

    const archived = await archive(server, repositoryName, { imageTag: 'v1' });
    assert.deepEqual([archived.imageStatus, archived.imageId?.imageDigest, archived.imageId?.imageTag, archived.repositoryName], ['ARCHIVED', image.digest, 'v1', repositoryName]);
    const detail = await describeOne(server, repositoryName, image.digest);
    assert.equal(detail.imageStatus, 'ARCHIVED');
    assert.ok(detail.lastArchivedAt instanceof Date && Math.abs(detail.lastArchivedAt.getTime() - Date.now()) < 60_000);
    assert.deepEqual(detail.imageTags, ['v1']);
    // Listings show ACTIVE images unless asked (ECR's default).
    assert.deepEqual(await listed(server, repositoryName), []);
    assert.deepEqual(await listed(server, repositoryName, 'ARCHIVED'), [image.digest]);
    assert.deepEqual(await listed(server, repositoryName, 'ANY'), [image.digest]);
    assert.deepEqual((await server.client.send(new ListImagesCommand({ repositoryName }))).imageIds, []);
    assert.deepEqual((await server.client.send(new ListImagesCommand({ repositoryName, filter: { imageStatus: 'ARCHIVED' } }))).imageIds, [{ imageDigest: image.digest, imageTag: 'v1' }]);

    // /v2: the manifest is not there to pull, by tag or digest; HEAD alike, without a body.
    for (const reference of ['v1', image.digest]) {
      const got = await v2Manifest(server, repositoryName, reference);
      assert.equal(got.status, 404);
      assert.equal(got.error?.code, 'MANIFEST_UNKNOWN');
      assert.match(got.error!.message, /is archived and cannot be pulled/);
      assert.match(got.error!.message, new RegExp(`aws ecr update-image-storage-class --repository-name ${repositoryName} --image-id imageDigest=${image.digest} --target-storage-class STANDARD`));
      assert.deepEqual(got.error?.detail, { imageDigest: image.digest, imageStatus: 'ARCHIVED' });
      const head = await v2Manifest(server, repositoryName, reference, 'HEAD');
      assert.equal(head.status, 404);
      assert.equal(head.body.length, 0);
    }
    // The tag itself is still there (archiving keeps tags), and a repeated archive changes nothing.
    assert.deepEqual(((await (await fetch(`${server.url}/v2/${repositoryName}/tags/list`)).json()) as { tags: string[] }).tags, ['v1']);
    assert.equal((await archive(server, repositoryName, { imageDigest: image.digest })).imageStatus, 'ARCHIVED');

    // ECR API: BatchGetImage answers per image; GetDownloadUrlForLayer refuses the layer.
    const batch = await server.client.send(new BatchGetImageCommand({ repositoryName, imageIds: [{ imageTag: 'v1' }] }));
    assert.deepEqual(batch.images, []);
    assert.equal(batch.failures?.[0]?.failureCode, 'ImageNotFound');
    assert.match(batch.failures![0]!.failureReason!, /archived; restore it with UpdateImageStorageClass/);
    const refused = await rejectsWith(server.client.send(new GetDownloadUrlForLayerCommand({ repositoryName, layerDigest: layer })), 'ImageArchivedException', /belongs only to archived images/);
    assert.equal(refused.$metadata?.httpStatusCode, 400);
    const raw = await ecrPost(server.url, 'GetDownloadUrlForLayer', { repositoryName, layerDigest: layer }, { ...credentials });
    assert.deepEqual([raw.status, raw.type, raw.body.__type], [400, 'ImageArchivedException', 'ImageArchivedException']);

    // Restore: ACTIVATING until the restore job runs, and still not pullable meanwhile.
    const restoring = await archive(server, repositoryName, { imageDigest: image.digest }, 'STANDARD');
    assert.equal(restoring.imageStatus, 'ACTIVATING');
    assert.deepEqual(await listed(server, repositoryName, 'ACTIVATING'), [image.digest]);
    assert.equal((await archive(server, repositoryName, { imageDigest: image.digest }, 'STANDARD')).imageStatus, 'ACTIVATING', 'asking again changes nothing');
    await rejectsWith(archive(server, repositoryName, { imageDigest: image.digest }), 'ImageStorageClassUpdateNotSupportedException', /being restored/);
    const pending = await v2Manifest(server, repositoryName, 'v1');
    assert.equal(pending.status, 404);
    assert.equal(pending.error?.code, 'MANIFEST_UNKNOWN');
    assert.match(pending.error!.message, /being restored from the archive \(status ACTIVATING\)/);
    assert.equal((await server.client.send(new BatchGetImageCommand({ repositoryName, imageIds: [{ imageTag: 'v1' }] }))).failures?.[0]?.failureCode, 'ImageNotFound');

    assert.equal(await server.berth.jobs.drain(), 1, 'the restore job');
    const restored = await describeOne(server, repositoryName, image.digest);
    assert.equal(restored.imageStatus, 'ACTIVE');
    assert.ok(restored.lastActivatedAt instanceof Date && restored.lastActivatedAt >= restored.lastArchivedAt!);
    assert.deepEqual(await listed(server, repositoryName), [image.digest]);

    // The same manifest bytes and digest, and every blob, as before.
    const after = await v2Manifest(server, repositoryName, 'v1');
    assert.equal(after.status, 200);
    assert.equal(after.digest, image.digest);
    assert.ok(after.body.equals(before.body));
    assert.equal(sha256(after.body), image.digest);
    for (const d of [image.config.digest, layer]) {
      const blob = await fetch(`${server.url}/v2/${repositoryName}/blobs/${d}`);
      assert.equal(blob.status, 200);
      assert.equal(sha256(Buffer.from(await blob.arrayBuffer())), d);
    }
    const got = await server.client.send(new BatchGetImageCommand({ repositoryName, imageIds: [{ imageTag: 'v1' }] }));
    assert.equal(got.images?.[0]?.imageManifest, image.manifest);
    const url = (await server.client.send(new GetDownloadUrlForLayerCommand({ repositoryName, layerDigest: layer }))).downloadUrl!;
    assert.equal(sha256(Buffer.from(await (await fetch(url)).arrayBuffer())), layer);
  });

  test('pushing an archived image again restores it at once: by digest, under a new tag, with PutImage', async () => {
    const repositoryName = 'archive/repush';
    await server.client.send(new CreateRepositoryCommand({ repositoryName }));
    const image = await pushImage(server, repositoryName, 'repush', 'v1');

    await archive(server, repositoryName, { imageTag: 'v1' });
    assert.equal((await putManifestV2(server, repositoryName, image.digest, image.manifest)).status, 201);
    const byDigest = await describeOne(server, repositoryName, image.digest);
    assert.equal(byDigest.imageStatus, 'ACTIVE', 'no restore job needed');
    assert.ok(byDigest.lastActivatedAt instanceof Date);
    assert.equal((await v2Manifest(server, repositoryName, 'v1')).status, 200);

    await archive(server, repositoryName, { imageTag: 'v1' });
    assert.equal((await putManifestV2(server, repositoryName, 'v2', image.manifest)).status, 201);
    assert.equal((await describeOne(server, repositoryName, image.digest)).imageStatus, 'ACTIVE');
    assert.deepEqual((await describeOne(server, repositoryName, image.digest)).imageTags, ['v1', 'v2']);

    // PutImage of an archived image with its own tag is a push too (not ImageAlreadyExists).
    await archive(server, repositoryName, { imageTag: 'v1' });
    const put = await server.client.send(new PutImageCommand({ repositoryName, imageManifest: image.manifest, imageTag: 'v1' }));
    assert.equal(put.image?.imageId?.imageDigest, image.digest);
    assert.equal((await describeOne(server, repositoryName, image.digest)).imageStatus, 'ACTIVE');
    await rejectsWith(server.client.send(new PutImageCommand({ repositoryName, imageManifest: image.manifest, imageTag: 'v1' })), 'ImageAlreadyExistsException');

    // A push during a restore finishes it; the restore job then finds nothing to do.
    await archive(server, repositoryName, { imageTag: 'v1' });
    assert.equal((await archive(server, repositoryName, { imageTag: 'v1' }, 'STANDARD')).imageStatus, 'ACTIVATING');
    assert.equal((await putManifestV2(server, repositoryName, 'v1', image.manifest)).status, 201);
    assert.equal((await describeOne(server, repositoryName, image.digest)).imageStatus, 'ACTIVE');
    assert.equal(await server.berth.jobs.drain(), 1);
    assert.equal((await describeOne(server, repositoryName, image.digest)).imageStatus, 'ACTIVE');
  });

  test('indexes and referrers: a listed manifest waits for its index; referrers follow their subject', async () => {
    const repositoryName = 'archive/multi';
    await server.client.send(new CreateRepositoryCommand({ repositoryName }));
    const amd = await pushImage(server, repositoryName, 'amd64', null);
    const arm = await pushImage(server, repositoryName, 'arm64', null);
    const index = JSON.stringify({
      schemaVersion: 2,
      mediaType: INDEX,
      manifests: [amd, arm].map((m, i) => ({ mediaType: OCI_MANIFEST, digest: m.digest, size: Buffer.byteLength(m.manifest), platform: { architecture: ['amd64', 'arm64'][i], os: 'linux' } })),
    });
    const indexDigest = sha256(index);
    assert.equal((await fetch(`${server.url}/v2/${repositoryName}/manifests/multi`, { method: 'PUT', body: index, headers: { 'content-type': INDEX } })).status, 201);
    const sigConfig = await fetch(`${server.url}/v2/${repositoryName}/blobs/uploads/?digest=${sha256('{}')}`, { method: 'POST', body: '{}' });
    assert.equal(sigConfig.status, 201);
    const signature = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: 'application/vnd.example.signature',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256('{}'), size: 2 },
      layers: [{ mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256('{}'), size: 2 }],
      subject: { mediaType: INDEX, digest: indexDigest, size: Buffer.byteLength(index) },
    });
    const sigDigest = sha256(signature);
    assert.equal((await putManifestV2(server, repositoryName, sigDigest, signature)).status, 201);

    await rejectsWith(archive(server, repositoryName, { imageDigest: amd.digest }), 'ImageStorageClassUpdateNotSupportedException', new RegExp(`listed by the image index ${indexDigest}, which is not archived`));
    assert.equal((await archive(server, repositoryName, { imageTag: 'multi' })).imageStatus, 'ARCHIVED');
    assert.equal((await describeOne(server, repositoryName, sigDigest)).imageStatus, 'ARCHIVED', 'the signature is archived with its subject');
    assert.equal((await describeOne(server, repositoryName, amd.digest)).imageStatus, 'ACTIVE', 'the manifests the index lists stay pullable');
    assert.equal((await v2Manifest(server, repositoryName, amd.digest)).status, 200);
    assert.equal((await v2Manifest(server, repositoryName, 'multi')).status, 404);
    // Referrers: archived ones are not offered on /v2 and shown by ListImageReferrers only when asked.
    const v2Referrers = (await (await fetch(`${server.url}/v2/${repositoryName}/referrers/${indexDigest}`)).json()) as { manifests: unknown[] };
    assert.deepEqual(v2Referrers.manifests, []);
    assert.deepEqual((await server.client.send(new ListImageReferrersCommand({ repositoryName, subjectId: { imageDigest: indexDigest } }))).referrers, []);
    const anyStatus = await server.client.send(new ListImageReferrersCommand({ repositoryName, subjectId: { imageDigest: indexDigest }, filter: { artifactStatus: 'ANY' } }));
    assert.deepEqual(anyStatus.referrers?.map((r) => [r.digest, r.artifactStatus]), [[sigDigest, 'ARCHIVED']]);

    // With the index archived a listed manifest may be archived; restoring the index brings
    // it back too, with the signature.
    assert.equal((await archive(server, repositoryName, { imageDigest: amd.digest })).imageStatus, 'ARCHIVED');
    assert.equal((await archive(server, repositoryName, { imageTag: 'multi' }, 'STANDARD')).imageStatus, 'ACTIVATING');
    assert.deepEqual(await listed(server, repositoryName, 'ACTIVATING'), [amd.digest, indexDigest, sigDigest].sort());
    assert.equal(await server.berth.jobs.drain(), 1);
    assert.deepEqual(await listed(server, repositoryName, 'ACTIVE'), [amd.digest, arm.digest, indexDigest, sigDigest].sort());
    const pulled = await v2Manifest(server, repositoryName, 'multi');
    assert.equal(pulled.status, 200);
    assert.equal(pulled.body.toString(), index);
    assert.equal((await v2Manifest(server, repositoryName, amd.digest)).status, 200);
    const v2After = (await (await fetch(`${server.url}/v2/${repositoryName}/referrers/${indexDigest}`)).json()) as { manifests: { digest: string }[] };
    assert.deepEqual(v2After.manifests.map((m) => m.digest), [sigDigest]);
  });

  test('bad requests: missing images and repositories, unknown storage classes, bad lifecycle rules', async () => {
    const repositoryName = 'archive/bad';
    await server.client.send(new CreateRepositoryCommand({ repositoryName }));
    const image = await pushImage(server, repositoryName, 'bad', 'v1');
    await rejectsWith(archive(server, repositoryName, { imageTag: 'nope' }), 'ImageNotFoundException', /does not exist within the repository/);
    await rejectsWith(archive(server, repositoryName, { imageDigest: sha256('missing') }), 'ImageNotFoundException');
    await rejectsWith(archive(server, repositoryName, { imageDigest: sha256('missing') }, 'STANDARD'), 'ImageNotFoundException');
    await rejectsWith(archive(server, repositoryName, { imageDigest: image.digest, imageTag: 'other' }), 'ImageNotFoundException');
    await rejectsWith(archive(server, 'archive/none', { imageTag: 'v1' }), 'RepositoryNotFoundException');
    await rejectsWith(archive(server, repositoryName, {}), 'InvalidParameterException', /both tag and digest cannot be null/);
    await rejectsWith(archive(server, repositoryName, { imageDigest: 'sha256:xyz' }), 'InvalidParameterException', /image digest should satisfy the regex/);
    await rejectsWith(archive(server, repositoryName, { imageTag: 'v1' }, 'GLACIER' as 'ARCHIVE'), 'InvalidParameterException', /enum value set: \[STANDARD, ARCHIVE\]/);
    const missing = await ecrPost(server.url, 'UpdateImageStorageClass', { repositoryName, imageId: { imageTag: 'v1' } }, { ...credentials });
    assert.deepEqual([missing.status, missing.type], [400, 'ValidationException']);
    assert.equal((await describeOne(server, repositoryName, image.digest)).imageStatus, 'ACTIVE', 'nothing changed');

    const bad: [unknown[], RegExp][] = [
      [[{ rulePriority: 1, selection: { tagStatus: 'any', storageClass: 'glacier', countType: 'imageCountMoreThan', countNumber: 1 }, action: { type: 'expire' } }], /storageClass must be standard or archive/],
      [[{ rulePriority: 1, selection: { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 1 }, action: { type: 'transition' } }], /targetStorageClass is required when action.type is transition/],
      [[{ rulePriority: 1, selection: { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 1 }, action: { type: 'transition', targetStorageClass: 'standard' } }], /targetStorageClass must be archive/],
      [[{ rulePriority: 1, selection: { tagStatus: 'any', countType: 'sinceImageTransitioned', countUnit: 'days', countNumber: 90 }, action: { type: 'expire' } }], /storageClass is required with countType sinceImageTransitioned/],
      [[{ rulePriority: 1, selection: { tagStatus: 'any', storageClass: 'archive', countType: 'sinceImageTransitioned', countUnit: 'days', countNumber: 30 }, action: { type: 'expire' } }], /countNumber must be at least 90/],
      [[{ rulePriority: 1, selection: { tagStatus: 'any', storageClass: 'archive', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 30 }, action: { type: 'expire' } }], /storageClass archive is allowed only with countType sinceImageTransitioned/],
      [[{ rulePriority: 1, selection: { tagStatus: 'any', countType: 'sinceImagePulled', countUnit: 'days', countNumber: 30 }, action: { type: 'expire' } }], /sinceImagePulled rules can only transition/],
    ];
    for (const [rules, reason] of bad) {
      await rejectsWith(server.client.send(new PutLifecyclePolicyCommand({ repositoryName, lifecyclePolicyText: policy(rules) })), 'InvalidParameterException', reason);
      await rejectsWith(server.client.send(new StartLifecyclePolicyPreviewCommand({ repositoryName, lifecyclePolicyText: policy(rules) })), 'InvalidParameterException', reason);
    }
  });

  test('a transition rule archives, by preview and by `berth lifecycle run`; sinceImageTransitioned expires; GC keeps archived blobs', async () => {
    const repositoryName = 'archive/lifecycle';
    await server.client.send(new CreateRepositoryCommand({ repositoryName }));
    const pushed: TestImage[] = [];
    for (const tag of ['v1', 'v2', 'v3', 'v4']) {
      pushed.push(await pushImage(server, repositoryName, `lc-${tag}`, tag));
      await new Promise((resolve) => setTimeout(resolve, 5)); // distinct push times
    }
    const [v1, v2, v3, v4] = pushed as [TestImage, TestImage, TestImage, TestImage];
    const text = policy([
      { rulePriority: 1, selection: { tagStatus: 'tagged', tagPatternList: ['v*'], countType: 'imageCountMoreThan', countNumber: 2 }, action: { type: 'transition', targetStorageClass: 'archive' } },
      { rulePriority: 2, selection: { tagStatus: 'tagged', tagPatternList: ['v*'], storageClass: 'archive', countType: 'sinceImageTransitioned', countUnit: 'days', countNumber: 90 }, action: { type: 'expire' } },
    ]);

    await server.client.send(new StartLifecyclePolicyPreviewCommand({ repositoryName, lifecyclePolicyText: text }));
    assert.equal(await server.berth.jobs.drain(), 1);
    const preview = await server.client.send(new GetLifecyclePolicyPreviewCommand({ repositoryName }));
    assert.equal(preview.status, 'COMPLETE');
    assert.deepEqual(preview.summary, { expiringImageTotalCount: 0, transitioningImageTotalCounts: [{ targetStorageClass: 'ARCHIVE', imageTotalCount: 2 }] });
    assert.deepEqual(
      preview.previewResults?.map((r) => [r.imageDigest, r.action?.type, r.action?.targetStorageClass, r.storageClass, r.appliedRulePriority]).sort(),
      [v1, v2].map((i) => [i.digest, 'TRANSITION', 'ARCHIVE', 'STANDARD', 1]).sort(),
    );

    await server.client.send(new PutLifecyclePolicyCommand({ repositoryName, lifecyclePolicyText: text }));
    const result = await run(process.execPath, [cliPath, 'lifecycle', 'run', '--repository', repositoryName, '--url', server.url], { env: cliEnv(testAdmin) });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /berth lifecycle expired 0 image\(s\) in 1 repository\(ies\), archived 2 image\(s\)\n/);
    assert.match(result.stdout, new RegExp(`${repositoryName}\\t${v1.digest}\\tv1\\trule 1\\tarchive\\n`));
    assert.match(result.stdout, new RegExp(`${repositoryName}\\t${v2.digest}\\tv2\\trule 1\\tarchive\\n`));
    assert.deepEqual(await listed(server, repositoryName, 'ARCHIVED'), [v1.digest, v2.digest].sort());
    assert.deepEqual(await listed(server, repositoryName), [v3.digest, v4.digest].sort());
    assert.equal((await v2Manifest(server, repositoryName, 'v1')).status, 404);
    const again = await run(process.execPath, [cliPath, 'lifecycle', 'run', '--repository', repositoryName, '--url', server.url], { env: cliEnv(testAdmin) });
    assert.match(again.stdout, /expired 0 image\(s\) in 1 repository\(ies\)\n/, 'nothing more to do: archived images are not counted by standard rules');

    // v1 has been in the archive for 100 days (set in the database: the test cannot wait).
    const db = (server.berth.meta as SqlMetadataStore).db;
    await db.updateTable('manifests').set({ last_archived_at: Date.now() - 100 * DAY }).where('digest', '=', v1.digest).execute();
    await server.client.send(new StartLifecyclePolicyPreviewCommand({ repositoryName }));
    await server.berth.jobs.drain();
    const second = await server.client.send(new GetLifecyclePolicyPreviewCommand({ repositoryName }));
    assert.deepEqual(second.summary, { expiringImageTotalCount: 1 });
    assert.deepEqual(second.previewResults?.map((r) => [r.imageDigest, r.action?.type, r.storageClass, r.appliedRulePriority]), [[v1.digest, 'EXPIRE', 'ARCHIVE', 2]]);

    const expiry = await run(process.execPath, [cliPath, 'lifecycle', 'run', '--repository', repositoryName, '--url', server.url], { env: cliEnv(testAdmin) });
    assert.equal(expiry.code, 0, expiry.stderr);
    assert.equal(expiry.stdout, `${repositoryName}\t${v1.digest}\tv1\trule 2\nberth lifecycle expired 1 image(s) in 1 repository(ies)\n`);
    assert.deepEqual(await listed(server, repositoryName, 'ANY'), [v2.digest, v3.digest, v4.digest].sort());

    // Garbage collection frees the expired image's blobs and keeps the archived one's.
    await new Promise((resolve) => setTimeout(resolve, 300)); // past the 0.2 s grace period
    await server.berth.gc.run();
    const stored = await storedDigests(server);
    for (const d of [v1.config.digest, v1.layers[0]!.digest]) assert.ok(!stored.has(d), `${d} of the expired image is freed`);
    for (const d of [v2.config.digest, v2.layers[0]!.digest]) assert.ok(stored.has(d), `${d} of the archived image is kept`);
    // And the archived image restores and pulls whole after the collection.
    await archive(server, repositoryName, { imageTag: 'v2' }, 'STANDARD');
    await server.berth.jobs.drain();
    const pulled = await v2Manifest(server, repositoryName, 'v2');
    assert.equal(pulled.status, 200);
    assert.equal(pulled.digest, v2.digest);
    for (const d of [v2.config.digest, v2.layers[0]!.digest]) {
      const blob = await fetch(`${server.url}/v2/${repositoryName}/blobs/${d}`);
      assert.equal(sha256(Buffer.from(await blob.arrayBuffer())), d);
    }
  });

  test('the aws CLI archives and restores with update-image-storage-class', async (t: TestContext) => {
    if (!requireTool(t, 'aws', 'the aws CLI')) return;
    const help = spawnSync(awsBinary, ['ecr', 'update-image-storage-class', 'help'], { encoding: 'utf8', env: { ...process.env, PAGER: 'cat' } });
    if (help.status !== 0) {
      t.skip('this aws CLI does not know update-image-storage-class');
      return;
    }
    const aws = (...args: string[]): Promise<Record<string, any>> => awsEcr(server.url, ...args);
    const repositoryName = 'archive/cli';
    await server.client.send(new CreateRepositoryCommand({ repositoryName }));
    const image = await pushImage(server, repositoryName, 'cli', 'v1');
    const archived = await aws('update-image-storage-class', '--repository-name', repositoryName, '--image-id', 'imageTag=v1', '--target-storage-class', 'ARCHIVE');
    assert.deepEqual([archived.imageStatus, archived.imageId.imageDigest], ['ARCHIVED', image.digest]);
    const described = await aws('describe-images', '--repository-name', repositoryName, '--filter', 'imageStatus=ARCHIVED');
    assert.deepEqual(described.imageDetails.map((d: { imageDigest: string; imageStatus: string }) => [d.imageDigest, d.imageStatus]), [[image.digest, 'ARCHIVED']]);
    const restored = await aws('update-image-storage-class', '--repository-name', repositoryName, '--image-id', `imageDigest=${image.digest}`, '--target-storage-class', 'STANDARD');
    assert.equal(restored.imageStatus, 'ACTIVATING');
    await assert.rejects(aws('update-image-storage-class', '--repository-name', repositoryName, '--image-id', 'imageTag=missing', '--target-storage-class', 'ARCHIVE'), (err: Error & { stderr?: string }) => {
      assert.match(err.stderr ?? '', /\(ImageNotFoundException\)/);
      return true;
    });
    await server.berth.jobs.drain();
  });
});

describe('archive storage class with the job runner running', () => {
  let server: EcrTestServer;
  before(async () => {
    // A long poll: only the runner's own wake-ups make jobs run promptly.
    server = await startEcr({ jobs: { enabled: true, pollSeconds: 600 }, lifecycle: { enabled: false }, gc: { enabled: false }, ecr: { restoreDelaySeconds: 1 } });
  });
  after(() => server?.stop());

  const until = async <T>(what: string, probe: () => Promise<T>, done: (value: T) => boolean): Promise<T> => {
    for (const deadline = Date.now() + 20_000; ; ) {
      const value = await probe();
      if (done(value)) return value;
      assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  test('a preview stays IN_PROGRESS while its job is held, refuses a second start, then completes', async () => {
    const repositoryName = 'archive/preview';
    await server.client.send(new CreateRepositoryCommand({ repositoryName }));
    const old = await pushImage(server, repositoryName, 'old', 'v1');
    await new Promise((resolve) => setTimeout(resolve, 5));
    await pushImage(server, repositoryName, 'new', 'v2');
    const text = policy([{ rulePriority: 1, selection: { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 1 }, action: { type: 'transition', targetStorageClass: 'archive' } }]);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let reached!: () => void;
    const running = new Promise<void>((resolve) => (reached = resolve));
    server.berth.ecr.lifecycle.beforePreview = async () => {
      reached();
      await held;
    };
    try {
      const started = await server.client.send(new StartLifecyclePolicyPreviewCommand({ repositoryName, lifecyclePolicyText: text }));
      assert.equal(started.status, 'IN_PROGRESS');
      await running; // the runner picked the job up (woken, not polled)
      assert.equal((await server.client.send(new GetLifecyclePolicyPreviewCommand({ repositoryName }))).status, 'IN_PROGRESS');
      await rejectsWith(server.client.send(new StartLifecyclePolicyPreviewCommand({ repositoryName, lifecyclePolicyText: text })), 'LifecyclePolicyPreviewInProgressException');
      release();
      const done = await until('the preview', () => server.client.send(new GetLifecyclePolicyPreviewCommand({ repositoryName })), (p) => p.status !== 'IN_PROGRESS');
      assert.equal(done.status, 'COMPLETE');
      assert.deepEqual(done.previewResults?.map((r) => [r.imageDigest, r.action?.type]), [[old.digest, 'TRANSITION']]);
    } finally {
      release();
      server.berth.ecr.lifecycle.beforePreview = undefined;
    }
    // Once complete, a new preview may start.
    assert.equal((await server.client.send(new StartLifecyclePolicyPreviewCommand({ repositoryName, lifecyclePolicyText: text }))).status, 'IN_PROGRESS');
    await until('the second preview', () => server.client.send(new GetLifecyclePolicyPreviewCommand({ repositoryName })), (p) => p.status === 'COMPLETE');
  });

  test('a restore stays ACTIVATING for ecr.restoreDelaySeconds, then the runner makes it ACTIVE', async () => {
    const repositoryName = 'archive/restore';
    await server.client.send(new CreateRepositoryCommand({ repositoryName }));
    const image = await pushImage(server, repositoryName, 'restore', 'v1');
    await archive(server, repositoryName, { imageTag: 'v1' });
    const started = Date.now();
    assert.equal((await archive(server, repositoryName, { imageTag: 'v1' }, 'STANDARD')).imageStatus, 'ACTIVATING');
    const detail = await until('the restore', () => describeOne(server, repositoryName, image.digest), (d) => d.imageStatus === 'ACTIVE');
    assert.ok(Date.now() - started >= 1000, 'not before the configured delay');
    assert.ok(detail.lastActivatedAt!.getTime() - started >= 900);
    const pulled = await v2Manifest(server, repositoryName, 'v1');
    assert.equal(pulled.status, 200);
    assert.equal(pulled.digest, image.digest);
  });
});
