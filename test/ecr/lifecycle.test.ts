import assert from 'node:assert/strict';
import {
  CreateRepositoryCommand,
  CreateRepositoryCreationTemplateCommand,
  DeleteLifecyclePolicyCommand,
  GetLifecyclePolicyCommand,
  GetLifecyclePolicyPreviewCommand,
  ListImagesCommand,
  PutLifecyclePolicyCommand,
  StartLifecyclePolicyPreviewCommand,
} from '@aws-sdk/client-ecr';
import { after, before, test } from 'node:test';
import { storedDigests } from '../gc/helpers.js';
import { cliEnv, cliPath } from '../helpers/berth-process.js';
import { run } from '../helpers/process.js';
import { testAdmin } from '../helpers/server.js';
import { prepareImage, putManifestV2, rejectsWith, startEcr, type EcrTestServer } from './helpers.js';

// Lifecycle policies over the ECR API with the AWS SDK, then applied by `berth lifecycle
// run` against the running server, then their storage freed by garbage collection.

let server: EcrTestServer;
before(async () => {
  server = await startEcr({ gc: { enabled: false, graceSeconds: 0.2 }, lifecycle: { enabled: false }, jobs: { enabled: false } });
});
after(async () => {
  await server?.stop();
});

const keepTwoReleases = JSON.stringify({
  rules: [
    { rulePriority: 1, description: 'keep the two newest releases', selection: { tagStatus: 'tagged', tagPatternList: ['v*'], countType: 'imageCountMoreThan', countNumber: 2 }, action: { type: 'expire' } },
    { rulePriority: 2, description: 'untagged images go', selection: { tagStatus: 'untagged', countType: 'imageCountMoreThan', countNumber: 1 }, action: { type: 'expire' } },
  ],
});

test('Put/Get/DeleteLifecyclePolicy follow ECR, with its validation and errors', async () => {
  const repositoryName = 'lifecycle/api';
  await rejectsWith(server.client.send(new PutLifecyclePolicyCommand({ repositoryName, lifecyclePolicyText: keepTwoReleases })), 'RepositoryNotFoundException');
  await server.client.send(new CreateRepositoryCommand({ repositoryName }));
  await rejectsWith(server.client.send(new GetLifecyclePolicyCommand({ repositoryName })), 'LifecyclePolicyNotFoundException');
  await rejectsWith(server.client.send(new DeleteLifecyclePolicyCommand({ repositoryName })), 'LifecyclePolicyNotFoundException');
  const bad = JSON.stringify({ rules: [{ rulePriority: 1, description: 'x'.repeat(100), selection: { tagStatus: 'tagged', countType: 'imageCountMoreThan', countNumber: 1 }, action: { type: 'expire' } }] });
  await rejectsWith(server.client.send(new PutLifecyclePolicyCommand({ repositoryName, lifecyclePolicyText: bad })), 'InvalidParameterException', /tagPrefixList or tagPatternList is required/);
  const put = await server.client.send(new PutLifecyclePolicyCommand({ repositoryName, lifecyclePolicyText: keepTwoReleases }));
  assert.equal(put.lifecyclePolicyText, keepTwoReleases);
  assert.equal(put.repositoryName, repositoryName);
  assert.match(put.registryId ?? '', /^\d{12}$/);
  const got = await server.client.send(new GetLifecyclePolicyCommand({ repositoryName }));
  assert.equal(got.lifecyclePolicyText, keepTwoReleases);
  assert.ok(got.lastEvaluatedAt instanceof Date);
  const deleted = await server.client.send(new DeleteLifecyclePolicyCommand({ repositoryName }));
  assert.equal(deleted.lifecyclePolicyText, keepTwoReleases);
  await rejectsWith(server.client.send(new GetLifecyclePolicyCommand({ repositoryName })), 'LifecyclePolicyNotFoundException');
  await rejectsWith(server.client.send(new GetLifecyclePolicyPreviewCommand({ repositoryName })), 'LifecyclePolicyPreviewNotFoundException');
});

test('a preview shows exactly what `berth lifecycle run` then expires; GC frees the storage', async () => {
  const repositoryName = 'lifecycle/app';
  await server.client.send(new CreateRepositoryCommand({ repositoryName }));
  const pushed: { tag: string | null; digest: string; blobs: string[] }[] = [];
  for (const tag of ['v1', 'v2', 'v3', 'v4', null, null]) {
    const image = await prepareImage(server, repositoryName, `${tag}-${pushed.length}`);
    const res = await putManifestV2(server, repositoryName, tag ?? image.digest, image.manifest);
    assert.equal(res.status, 201);
    pushed.push({ tag, digest: image.digest, blobs: [image.config.digest, ...image.layers.map((l) => l.digest)] });
    await new Promise((resolve) => setTimeout(resolve, 5)); // distinct push times
  }
  const expected = [pushed[0]!, pushed[1]!, pushed[4]!].map((p) => p.digest).sort();

  const started = await server.client.send(new StartLifecyclePolicyPreviewCommand({ repositoryName, lifecyclePolicyText: keepTwoReleases }));
  assert.equal(started.lifecyclePolicyText, keepTwoReleases);
  assert.equal(started.status, 'IN_PROGRESS');
  // This server runs no jobs by itself: the preview waits for one (deterministically).
  const pending = await server.client.send(new GetLifecyclePolicyPreviewCommand({ repositoryName }));
  assert.equal(pending.status, 'IN_PROGRESS');
  assert.deepEqual(pending.previewResults, []);
  assert.equal(pending.summary, undefined);
  await rejectsWith(server.client.send(new StartLifecyclePolicyPreviewCommand({ repositoryName, lifecyclePolicyText: keepTwoReleases })), 'LifecyclePolicyPreviewInProgressException', /has not completed/);
  assert.equal(await server.berth.jobs.drain(), 1);
  const preview = await server.client.send(new GetLifecyclePolicyPreviewCommand({ repositoryName }));
  assert.equal(preview.status, 'COMPLETE');
  assert.equal(preview.summary?.expiringImageTotalCount, 3);
  assert.deepEqual(preview.previewResults?.map((r) => r.imageDigest).sort(), expected);
  const byDigest = new Map(preview.previewResults!.map((r) => [r.imageDigest, r]));
  assert.deepEqual(byDigest.get(pushed[0]!.digest)?.imageTags, ['v1']);
  assert.equal(byDigest.get(pushed[0]!.digest)?.appliedRulePriority, 1);
  assert.equal(byDigest.get(pushed[4]!.digest)?.appliedRulePriority, 2);
  assert.equal(byDigest.get(pushed[4]!.digest)?.action?.type, 'EXPIRE');
  assert.ok(byDigest.get(pushed[0]!.digest)?.imagePushedAt instanceof Date);
  // Paging through the preview.
  const first = await server.client.send(new GetLifecyclePolicyPreviewCommand({ repositoryName, maxResults: 2 }));
  assert.equal(first.previewResults?.length, 2);
  const second = await server.client.send(new GetLifecyclePolicyPreviewCommand({ repositoryName, maxResults: 2, nextToken: first.nextToken }));
  assert.deepEqual([...first.previewResults!, ...second.previewResults!].map((r) => r.imageDigest).sort(), expected);
  assert.equal(second.nextToken, undefined);
  const count = async () => (await server.client.send(new ListImagesCommand({ repositoryName }))).imageIds?.filter((i, n, all) => all.findIndex((j) => j.imageDigest === i.imageDigest) === n).length;
  assert.equal(await count(), 6, 'a preview changes nothing');

  await server.client.send(new PutLifecyclePolicyCommand({ repositoryName, lifecyclePolicyText: keepTwoReleases }));
  const dry = await run(process.execPath, [cliPath, 'lifecycle', 'run', '--repository', repositoryName, '--dry-run', '--url', server.url], { env: cliEnv(testAdmin) });
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /would expire 3 image\(s\) in 1 repository/);
  assert.equal(await count(), 6);
  const result = await run(process.execPath, [cliPath, 'lifecycle', 'run', '--repository', repositoryName, '--url', server.url], { env: cliEnv(testAdmin) });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /expired 3 image\(s\) in 1 repository/);
  for (const digest of expected) assert.match(result.stdout, new RegExp(`${repositoryName}\\t${digest}`));
  assert.match(result.stdout, /\tv1\trule 1\n/);
  const left = await server.client.send(new ListImagesCommand({ repositoryName }));
  assert.deepEqual(left.imageIds?.map((i) => i.imageTag ?? '<untagged>').sort(), ['<untagged>', 'v3', 'v4']);

  const missing = await run(process.execPath, [cliPath, 'lifecycle', 'run', '--repository', 'lifecycle/none', '--url', server.url], { env: cliEnv(testAdmin) });
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /does not exist/);

  // The expired images' blobs are freed by the next collection.
  await new Promise((resolve) => setTimeout(resolve, 300));
  await server.berth.gc.run();
  const stored = await storedDigests(server);
  for (const p of [pushed[0]!, pushed[1]!, pushed[4]!]) for (const b of p.blobs) assert.ok(!stored.has(b), `${b} freed`);
  for (const p of [pushed[2]!, pushed[3]!, pushed[5]!]) for (const b of p.blobs) assert.ok(stored.has(b), `${b} kept`);
});

test('GetLifecyclePolicyPreview pages in digest order, filters by tag status and image ids, and counts every result', async () => {
  const repositoryName = 'lifecycle/filters';
  await server.client.send(new CreateRepositoryCommand({ repositoryName }));
  const pushed: { tag: string | null; digest: string }[] = [];
  for (const tag of ['v1', 'v2', 'v3', 'v4', null, null, null]) {
    const image = await prepareImage(server, repositoryName, `filters-${tag}-${pushed.length}`);
    assert.equal((await putManifestV2(server, repositoryName, tag ?? image.digest, image.manifest)).status, 201);
    pushed.push({ tag, digest: image.digest });
    await new Promise((resolve) => setTimeout(resolve, 5)); // distinct push times
  }
  // Expires v1-v3 (tagged), archives the two older untagged images.
  const lifecyclePolicyText = JSON.stringify({
    rules: [
      { rulePriority: 1, description: 'keep the newest release', selection: { tagStatus: 'tagged', tagPatternList: ['v*'], countType: 'imageCountMoreThan', countNumber: 1 }, action: { type: 'expire' } },
      { rulePriority: 2, description: 'archive untagged images', selection: { tagStatus: 'untagged', countType: 'imageCountMoreThan', countNumber: 1 }, action: { type: 'transition', targetStorageClass: 'archive' } },
    ],
  });
  await server.client.send(new StartLifecyclePolicyPreviewCommand({ repositoryName, lifecyclePolicyText }));
  assert.equal(await server.berth.jobs.drain(), 1);
  const expiring = [pushed[0]!, pushed[1]!, pushed[2]!].map((p) => p.digest);
  const archiving = [pushed[4]!, pushed[5]!].map((p) => p.digest);
  const summary = { expiringImageTotalCount: 3, transitioningImageTotalCounts: [{ targetStorageClass: 'ARCHIVE', imageTotalCount: 2 }] };
  const all = async (filter?: { tagStatus: 'TAGGED' | 'UNTAGGED' | 'ANY' }) => {
    const digests: string[] = [];
    let nextToken: string | undefined;
    do {
      const page = await server.client.send(new GetLifecyclePolicyPreviewCommand({ repositoryName, maxResults: 2, nextToken, filter }));
      assert.equal(page.status, 'COMPLETE');
      assert.deepEqual(page.summary, summary, 'the summary counts every result, on every page and whatever the filter');
      assert.ok((page.previewResults?.length ?? 0) <= 2);
      digests.push(...page.previewResults!.map((r) => r.imageDigest!));
      nextToken = page.nextToken;
    } while (nextToken !== undefined);
    return digests;
  };
  assert.deepEqual(await all(), [...expiring, ...archiving].sort(), 'digest order across pages');
  assert.deepEqual(await all({ tagStatus: 'ANY' }), [...expiring, ...archiving].sort());
  assert.deepEqual(await all({ tagStatus: 'TAGGED' }), [...expiring].sort());
  assert.deepEqual(await all({ tagStatus: 'UNTAGGED' }), [...archiving].sort());

  const byIds = await server.client.send(
    new GetLifecyclePolicyPreviewCommand({ repositoryName, imageIds: [{ imageDigest: expiring[1] }, { imageDigest: archiving[0] }, { imageDigest: pushed[3]!.digest }, { imageTag: 'v1' }] }),
  );
  assert.deepEqual(byIds.previewResults?.map((r) => r.imageDigest), [expiring[1], archiving[0]].sort(), 'only the named digests that have results');
  assert.deepEqual(byIds.summary, summary);
  assert.equal(byIds.nextToken, undefined);
  const untaggedByIds = await server.client.send(new GetLifecyclePolicyPreviewCommand({ repositoryName, imageIds: [{ imageDigest: expiring[1] }, { imageDigest: archiving[0] }], filter: { tagStatus: 'UNTAGGED' } }));
  assert.deepEqual(
    untaggedByIds.previewResults?.map((r) => [r.imageDigest, r.imageTags, r.action, r.storageClass, r.appliedRulePriority]),
    [[archiving[0], [], { type: 'TRANSITION', targetStorageClass: 'ARCHIVE' }, 'STANDARD', 2]],
  );
  const tagsOnly = await server.client.send(new GetLifecyclePolicyPreviewCommand({ repositoryName, imageIds: [{ imageTag: 'v1' }] }));
  assert.deepEqual([tagsOnly.status, tagsOnly.previewResults, tagsOnly.summary], ['COMPLETE', [], summary], 'image ids without digests match nothing');
  await rejectsWith(server.client.send(new GetLifecyclePolicyPreviewCommand({ repositoryName, imageIds: [{ imageDigest: expiring[0] }], maxResults: 5 })), 'InvalidParameterException', /cannot be used together with imageIds/);

  // A token continues only the request it came from.
  const first = await server.client.send(new GetLifecyclePolicyPreviewCommand({ repositoryName, maxResults: 1, filter: { tagStatus: 'TAGGED' } }));
  assert.deepEqual(first.previewResults?.map((r) => [r.imageDigest, r.imageTags, r.action]), [[[...expiring].sort()[0], [pushed[expiring.indexOf([...expiring].sort()[0]!)]!.tag], { type: 'EXPIRE' }]]);
  await rejectsWith(server.client.send(new GetLifecyclePolicyPreviewCommand({ repositoryName, maxResults: 1, nextToken: first.nextToken })), 'InvalidParameterException', /nextToken/);
  await rejectsWith(server.client.send(new GetLifecyclePolicyPreviewCommand({ repositoryName, nextToken: 'not-a-token' })), 'InvalidParameterException', /nextToken/);
  const forged = Buffer.from(JSON.stringify({ o: 'GetLifecyclePolicyPreview', s: `${repositoryName}|ANY`, k: { digest: 'x' } })).toString('base64url');
  await rejectsWith(server.client.send(new GetLifecyclePolicyPreviewCommand({ repositoryName, nextToken: forged })), 'InvalidParameterException', /nextToken/);
});

test('the scheduled job applies lifecycle policies by itself', { timeout: 30_000 }, async () => {
  const scheduled = await startEcr({ lifecycle: { enabled: true, intervalHours: 0.0003 }, gc: { enabled: false }, jobs: { enabled: true, pollSeconds: 0.1 } });
  try {
    const repositoryName = 'lifecycle/scheduled';
    await scheduled.client.send(new CreateRepositoryCommand({ repositoryName }));
    for (const seed of ['a', 'b', 'c']) {
      const image = await prepareImage(scheduled, repositoryName, seed);
      assert.equal((await putManifestV2(scheduled, repositoryName, image.digest, image.manifest)).status, 201);
    }
    await scheduled.client.send(new PutLifecyclePolicyCommand({ repositoryName, lifecyclePolicyText: keepTwoReleases }));
    for (const deadline = Date.now() + 20_000; ; ) {
      const left = await scheduled.client.send(new ListImagesCommand({ repositoryName }));
      if (left.imageIds?.length === 1) break;
      assert.ok(Date.now() < deadline, `the scheduled run expired all but the newest untagged image (${left.imageIds?.length} left)`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  } finally {
    await scheduled.stop();
  }
});

test('a repository created on push gets the lifecycle policy of its creation template', async () => {
  await server.client.send(new CreateRepositoryCreationTemplateCommand({ prefix: 'lifecycled', appliedFor: ['CREATE_ON_PUSH'], lifecyclePolicy: keepTwoReleases }));
  const image = await prepareImage(server, 'lifecycled/app', 'templated');
  assert.equal((await putManifestV2(server, 'lifecycled/app', 'v1', image.manifest)).status, 201);
  const got = await server.client.send(new GetLifecyclePolicyCommand({ repositoryName: 'lifecycled/app' }));
  assert.equal(got.lifecyclePolicyText, keepTwoReleases);
});
