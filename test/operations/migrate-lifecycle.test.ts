import assert from 'node:assert/strict';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateRepositoryCommand, ListImagesCommand, PutLifecyclePolicyCommand } from '@aws-sdk/client-ecr';
import { cliPath } from '../helpers/berth-process.js';
import { runOk } from '../helpers/process.js';
import { prepareImage, putManifestV2, startEcr } from '../ecr/helpers.js';

// After `berth migrate`, the target's first start does not run the lifecycle job at once
// (it used to, and expired images the source still had): the target has no row for the
// recurring job, so it waits for its next scheduled time like every job that deletes.

test('a migrated target does not expire images at its first start', { timeout: 120_000 }, async () => {
  const work = await mkdtemp(join(tmpdir(), 'berth-migrate-lifecycle-'));
  const from = join(work, 'from');
  const to = join(work, 'to');
  try {
    const source = await startEcr({ dataDir: from, lifecycle: { enabled: false }, gc: { enabled: false } });
    const repositoryName = 'migrated/app';
    try {
      await source.client.send(new CreateRepositoryCommand({ repositoryName }));
      for (const seed of ['a', 'b', 'c']) {
        const image = await prepareImage(source, repositoryName, seed);
        assert.equal((await putManifestV2(source, repositoryName, image.digest, image.manifest)).status, 201);
      }
      // Would expire two of the three untagged images.
      const keepOne = JSON.stringify({ rules: [{ rulePriority: 1, selection: { tagStatus: 'untagged', countType: 'imageCountMoreThan', countNumber: 1 }, action: { type: 'expire' } }] });
      await source.client.send(new PutLifecyclePolicyCommand({ repositoryName, lifecyclePolicyText: keepOne }));
    } finally {
      await source.stop();
    }
    await runOk(process.execPath, [cliPath, 'migrate', '--from-metadata', join(from, 'berth.db'), '--from-storage', join(from, 'storage'), '--to-metadata', join(to, 'berth.db'), '--to-storage', join(to, 'storage')], { timeoutMs: 60_000 });
    // The copied access keys are sealed under the source's server key.
    await copyFile(join(from, 'server.key'), join(to, 'server.key'));

    // An interval of 8 s; the jobs poll every 100 ms, so a run due at start would show at once.
    const target = await startEcr({ dataDir: to, lifecycle: { enabled: true, intervalHours: 8 / 3600 }, gc: { enabled: false }, jobs: { enabled: true, pollSeconds: 0.1 } });
    try {
      await sleep(2_500);
      const left = await target.client.send(new ListImagesCommand({ repositoryName }));
      assert.equal(left.imageIds?.length, 3, 'the first start expired nothing');
      // At its scheduled time it runs.
      for (const deadline = Date.now() + 30_000; ; ) {
        const now = await target.client.send(new ListImagesCommand({ repositoryName }));
        if (now.imageIds?.length === 1) break;
        assert.ok(Date.now() < deadline, `the scheduled run expired two images (${now.imageIds?.length} left)`);
        await sleep(250);
      }
    } finally {
      await target.stop();
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});
