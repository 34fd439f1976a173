import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { CreateRepositoryCommand, DescribeImagesCommand, DescribeRepositoriesCommand, ListImageReferrersCommand, ListImagesCommand, type DescribeImagesCommandInput } from '@aws-sdk/client-ecr';
import { requirePostgres } from '../helpers/postgres.js';
import { imageManifest, prepareImage, putManifestV2, rejectsWith, startEcr, type EcrTestServer } from './helpers.js';

const total = 1100;

async function describeAll(server: EcrTestServer, input: DescribeImagesCommandInput) {
  const digests: string[] = [];
  const sizes: number[] = [];
  let nextToken: string | undefined;
  do {
    const page = await server.client.send(new DescribeImagesCommand({ ...input, nextToken }));
    sizes.push(page.imageDetails!.length);
    digests.push(...page.imageDetails!.map((d) => d.imageDigest!));
    nextToken = page.nextToken;
  } while (nextToken);
  return { digests, sizes };
}

for (const backend of ['sqlite', 'postgres'] as const) {
  test(`paging through ${total} images with nextToken and maxResults (${backend})`, async (t: TestContext) => {
    if (backend === 'postgres' && !(await requirePostgres(t))) return;
    const server = await startEcr({ postgres: backend === 'postgres' });
    try {
      const repo = 'paging/many';
      await server.client.send(new CreateRepositoryCommand({ repositoryName: repo }));
      const base = await prepareImage(server, repo, 'base');
      // Many distinct images over the same blobs, made cheaply through the domain.
      for (let i = 0; i < total; i++) {
        const image = imageManifest(base.config, base.layers, { 'org.example.n': String(i) });
        const reference = i % 2 === 0 ? `t${String(i).padStart(4, '0')}` : image.digest;
        await server.berth.registry.putManifest(server.berth.config.registryId, repo, reference, 'application/vnd.oci.image.manifest.v1+json', Buffer.from(image.manifest));
      }

      const byDefault = await describeAll(server, { repositoryName: repo });
      assert.equal(byDefault.digests.length, total);
      assert.equal(new Set(byDefault.digests).size, total, 'no image is listed twice');
      assert.deepEqual(byDefault.sizes, [...Array(11).fill(100)], 'without maxResults, pages of 100');

      const big = await describeAll(server, { repositoryName: repo, maxResults: 1000 });
      assert.deepEqual(big.sizes, [1000, 100]);
      assert.deepEqual(new Set(big.digests), new Set(byDefault.digests));

      const tagged = await describeAll(server, { repositoryName: repo, maxResults: 333, filter: { tagStatus: 'TAGGED' } });
      assert.equal(tagged.digests.length, total / 2);
      const untagged = await describeAll(server, { repositoryName: repo, maxResults: 1000, filter: { tagStatus: 'UNTAGGED' } });
      assert.equal(untagged.digests.length, total / 2);

      const ids: Array<{ imageDigest?: string; imageTag?: string }> = [];
      let nextToken: string | undefined;
      let pages = 0;
      do {
        const page = await server.client.send(new ListImagesCommand({ repositoryName: repo, maxResults: 1000, nextToken }));
        ids.push(...page.imageIds!);
        nextToken = page.nextToken;
        pages++;
      } while (nextToken);
      assert.equal(pages, 2);
      assert.equal(ids.length, total);
      assert.equal(ids.filter((i) => i.imageTag !== undefined).length, total / 2);

      // Tokens are opaque and bound to the request that produced them.
      const first = await server.client.send(new DescribeImagesCommand({ repositoryName: repo, maxResults: 10 }));
      await rejectsWith(server.client.send(new ListImagesCommand({ repositoryName: repo, nextToken: first.nextToken })), 'InvalidParameterException', /nextToken/);
      await rejectsWith(
        server.client.send(new DescribeImagesCommand({ repositoryName: repo, nextToken: first.nextToken, filter: { tagStatus: 'UNTAGGED' } })),
        'InvalidParameterException',
      );
      // Tokens are not signed: one forged with the right operation and scope but a key of the
      // wrong shape is refused as a bad parameter, never passed to the store (it was a 500).
      const forge = (o: string, sc: string, k: unknown) => Buffer.from(JSON.stringify({ o, s: sc, k })).toString('base64url');
      const scope = `${repo}|ANY|ACTIVE`;
      for (const key of [{ digest: 1 }, ['x'], 7, true, null]) {
        await rejectsWith(server.client.send(new DescribeImagesCommand({ repositoryName: repo, nextToken: forge('DescribeImages', scope, key) })), 'InvalidParameterException', /nextToken/);
      }
      for (const key of ['sha256:x', { digest: 'sha256:x', tag: 5 }, { tag: 'a' }, 7]) {
        await rejectsWith(server.client.send(new ListImagesCommand({ repositoryName: repo, nextToken: forge('ListImages', scope, key) })), 'InvalidParameterException', /nextToken/);
      }
      await rejectsWith(server.client.send(new DescribeRepositoriesCommand({ nextToken: forge('DescribeRepositories', '', { name: 'x' }) })), 'InvalidParameterException', /nextToken/);
      await rejectsWith(
        server.client.send(new ListImageReferrersCommand({ repositoryName: repo, subjectId: { imageDigest: byDefault.digests[0]! }, nextToken: forge('ListImageReferrers', `${repo}|${byDefault.digests[0]}||ACTIVE`, -5) })),
        'InvalidParameterException',
        /nextToken/,
      );
      // A forged key of the right shape is just a position.
      const fromForged = await server.client.send(new DescribeImagesCommand({ repositoryName: repo, maxResults: 5, nextToken: forge('DescribeImages', scope, 'sha256:8') }));
      assert.ok(fromForged.imageDetails!.every((d) => d.imageDigest! > 'sha256:8'));
      await rejectsWith(server.client.send(new DescribeImagesCommand({ repositoryName: repo, maxResults: 1001 })), 'ValidationException', /1000/);
      await rejectsWith(server.client.send(new ListImagesCommand({ repositoryName: repo, maxResults: 0 })), 'ValidationException');
    } finally {
      await server.stop();
    }
  });
}

test('immutable tags hold under concurrent /v2 pushes on PostgreSQL', async (t: TestContext) => {
  if (!(await requirePostgres(t))) return;
  const server = await startEcr({ postgres: true });
  try {
    await server.client.send(new CreateRepositoryCommand({ repositoryName: 'pg/immutable', imageTagMutability: 'IMMUTABLE' }));
    const contenders = await Promise.all(Array.from({ length: 8 }, (_, i) => prepareImage(server, 'pg/immutable', `c${i}`)));
    const statuses = await Promise.all(contenders.map((img) => putManifestV2(server, 'pg/immutable', 'release', img.manifest).then((r) => r.status)));
    assert.equal(statuses.filter((s) => s === 201).length, 1, `statuses: ${statuses}`);
    assert.equal(statuses.filter((s) => s === 409).length, contenders.length - 1);
    const winner = contenders[statuses.indexOf(201)]!;
    const res = await fetch(`${server.url}/v2/pg/immutable/manifests/release`);
    assert.equal(res.headers.get('docker-content-digest'), winner.digest);
    const ids = (await server.client.send(new ListImagesCommand({ repositoryName: 'pg/immutable' }))).imageIds!;
    assert.deepEqual(ids, [{ imageDigest: winner.digest, imageTag: 'release' }], 'losers left no manifests behind');
  } finally {
    await server.stop();
  }
});
