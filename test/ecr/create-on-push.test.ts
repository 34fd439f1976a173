import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import {
  CreateRepositoryCommand,
  CreateRepositoryCreationTemplateCommand,
  DeleteRegistryPolicyCommand,
  DeleteRepositoryCommand,
  DeleteRepositoryPolicyCommand,
  DescribeImagesCommand,
  DescribeRepositoriesCommand,
  GetRepositoryPolicyCommand,
  ListTagsForResourceCommand,
  PutAccountSettingCommand,
  PutRegistryPolicyCommand,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateRepositoryCreationTemplateCommand,
} from '@aws-sdk/client-ecr';
import { requirePostgres } from '../helpers/postgres.js';
import { prepareImage, putManifestV2, rejectsWith, startEcr } from './helpers.js';

const policyText = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: '*', Action: 'ecr:BatchGetImage' }] });

test('a /v2 push to a new repository applies the matching CREATE_ON_PUSH template; /v2 pulls are recorded', async () => {
  const server = await startEcr();
  try {
    await server.client.send(
      new CreateRepositoryCreationTemplateCommand({
        prefix: 'team-a',
        appliedFor: ['CREATE_ON_PUSH'],
        imageTagMutability: 'IMMUTABLE',
        resourceTags: [{ Key: 'team', Value: 'a' }],
        repositoryPolicy: policyText,
      }),
    );
    await server.client.send(new CreateRepositoryCreationTemplateCommand({ prefix: 'ROOT', appliedFor: ['REPLICATION'], imageTagMutability: 'IMMUTABLE' }));
    const image = await prepareImage(server, 'team-a/app', 'templated');
    assert.equal((await putManifestV2(server, 'team-a/app', 'v1', image.manifest)).status, 201);
    const [repo] = (await server.client.send(new DescribeRepositoriesCommand({ repositoryNames: ['team-a/app'] }))).repositories!;
    assert.equal(repo!.imageTagMutability, 'IMMUTABLE');
    assert.deepEqual((await server.client.send(new ListTagsForResourceCommand({ resourceArn: repo!.repositoryArn }))).tags, [{ Key: 'team', Value: 'a' }]);
    assert.equal((await server.client.send(new GetRepositoryPolicyCommand({ repositoryName: 'team-a/app' }))).policyText, policyText);
    const other = await prepareImage(server, 'team-a/app', 'other');
    assert.equal((await putManifestV2(server, 'team-a/app', 'v1', other.manifest)).status, 409, 'the template made tags immutable');

    // No CREATE_ON_PUSH template matches (ROOT is for replication only): defaults.
    await prepareImage(server, 'team-b/app', 'plain');
    const [plain] = (await server.client.send(new DescribeRepositoriesCommand({ repositoryNames: ['team-b/app'] }))).repositories!;
    assert.equal(plain!.imageTagMutability, 'MUTABLE');

    const pulled = await fetch(`${server.url}/v2/team-a/app/manifests/v1`);
    assert.equal(pulled.status, 200);
    await pulled.arrayBuffer();
    let detail;
    for (let i = 0; i < 20 && !detail?.lastRecordedPullTime; i++) {
      [detail] = (await server.client.send(new DescribeImagesCommand({ repositoryName: 'team-a/app' }))).imageDetails!;
      if (!detail?.lastRecordedPullTime) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(detail!.lastRecordedPullTime instanceof Date, 'a /v2 pull sets lastRecordedPullTime');
  } finally {
    await server.stop();
  }
});

test('with ecr.createOnPush=template, pushes without a template are refused (PostgreSQL, with the settings stores)', async (t: TestContext) => {
  if (!(await requirePostgres(t))) return;
  const server = await startEcr({ postgres: true, ecr: { createOnPush: 'template' } });
  try {
    const refused = await fetch(`${server.url}/v2/nomatch/app/blobs/uploads/`, { method: 'POST' });
    assert.equal(refused.status, 404);
    assert.equal(((await refused.json()) as { errors: Array<{ code: string }> }).errors[0]!.code, 'NAME_UNKNOWN');
    await rejectsWith(server.client.send(new DescribeRepositoriesCommand({ repositoryNames: ['nomatch/app'] })), 'RepositoryNotFoundException');

    await server.client.send(new CreateRepositoryCreationTemplateCommand({ prefix: 'ROOT', appliedFor: ['CREATE_ON_PUSH'], resourceTags: [{ Key: 'k', Value: 'v' }] }));
    await server.client.send(new UpdateRepositoryCreationTemplateCommand({ prefix: 'ROOT', imageTagMutability: 'MUTABLE_WITH_EXCLUSION', imageTagMutabilityExclusionFilters: [{ filterType: 'WILDCARD', filter: 'v*' }] }));
    const image = await prepareImage(server, 'nomatch/app', 'now-allowed');
    assert.equal((await putManifestV2(server, 'nomatch/app', 'v1', image.manifest)).status, 201);
    const [repo] = (await server.client.send(new DescribeRepositoriesCommand({ repositoryNames: ['nomatch/app'] }))).repositories!;
    assert.equal(repo!.imageTagMutability, 'MUTABLE_WITH_EXCLUSION');

    // The settings stores on PostgreSQL.
    const arn = repo!.repositoryArn!;
    await server.client.send(new TagResourceCommand({ resourceArn: arn, tags: [{ Key: 'a', Value: '1' }] }));
    await server.client.send(new UntagResourceCommand({ resourceArn: arn, tagKeys: ['k'] }));
    assert.deepEqual((await server.client.send(new ListTagsForResourceCommand({ resourceArn: arn }))).tags, [{ Key: 'a', Value: '1' }]);
    await rejectsWith(server.client.send(new TagResourceCommand({ resourceArn: arn, tags: Array.from({ length: 50 }, (_, i) => ({ Key: `t${i}`, Value: '' })) })), 'TooManyTagsException');
    await server.client.send(new CreateRepositoryCommand({ repositoryName: 'pg/empty', tags: [{ Key: 'x', Value: 'y' }] }));
    await rejectsWith(server.client.send(new CreateRepositoryCommand({ repositoryName: 'pg/empty' })), 'RepositoryAlreadyExistsException');
    await rejectsWith(server.client.send(new DeleteRepositoryPolicyCommand({ repositoryName: 'pg/empty' })), 'RepositoryPolicyNotFoundException');
    await server.client.send(new PutAccountSettingCommand({ name: 'BLOB_MOUNTING', value: 'ENABLED' }));
    await server.client.send(new PutRegistryPolicyCommand({ policyText }));
    assert.equal((await server.client.send(new DeleteRegistryPolicyCommand({}))).policyText, policyText);
    await rejectsWith(server.client.send(new DeleteRepositoryCommand({ repositoryName: 'nomatch/app' })), 'RepositoryNotEmptyException');
    await server.client.send(new DeleteRepositoryCommand({ repositoryName: 'nomatch/app', force: true }));
    await server.client.send(new DeleteRepositoryCommand({ repositoryName: 'pg/empty' }));
    assert.deepEqual((await server.client.send(new DescribeRepositoriesCommand({}))).repositories, []);
  } finally {
    await server.stop();
  }
});
