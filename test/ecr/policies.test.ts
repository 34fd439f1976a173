import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  CreateRepositoryCommand,
  CreateRepositoryCreationTemplateCommand,
  DeleteRegistryPolicyCommand,
  DeleteRepositoryCreationTemplateCommand,
  DeleteRepositoryPolicyCommand,
  DescribeRegistryCommand,
  DescribeRepositoryCreationTemplatesCommand,
  GetAccountSettingCommand,
  GetRegistryPolicyCommand,
  GetRepositoryPolicyCommand,
  PutAccountSettingCommand,
  PutRegistryPolicyCommand,
  SetRepositoryPolicyCommand,
  UpdateRepositoryCreationTemplateCommand,
} from '@aws-sdk/client-ecr';
import { rejectsWith, startEcr, type EcrTestServer } from './helpers.js';

let server: EcrTestServer;
before(async () => {
  server = await startEcr();
});
after(() => server.stop());

const policy = (action: string | string[]) =>
  JSON.stringify({ Version: '2012-10-17', Statement: [{ Sid: 'pull', Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111122223333:root' }, Action: action }] });

test('repository policies are stored as given, validated as JSON, and deleted', async () => {
  await server.client.send(new CreateRepositoryCommand({ repositoryName: 'pol/repo' }));
  await rejectsWith(server.client.send(new GetRepositoryPolicyCommand({ repositoryName: 'pol/repo' })), 'RepositoryPolicyNotFoundException');
  const text = policy(['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer']);
  const set = await server.client.send(new SetRepositoryPolicyCommand({ repositoryName: 'pol/repo', policyText: text }));
  assert.deepEqual([set.registryId, set.repositoryName, set.policyText], ['000000000000', 'pol/repo', text]);
  assert.equal((await server.client.send(new GetRepositoryPolicyCommand({ repositoryName: 'pol/repo' }))).policyText, text);
  await rejectsWith(server.client.send(new SetRepositoryPolicyCommand({ repositoryName: 'pol/repo', policyText: '{"Statement": ' })), 'InvalidParameterException', /'PolicyText' failed to satisfy constraint: 'Invalid repository policy provided'/);
  await rejectsWith(server.client.send(new SetRepositoryPolicyCommand({ repositoryName: 'pol/repo', policyText: '{"Version":"2012-10-17"}' })), 'InvalidParameterException', /Invalid repository policy provided/);
  await rejectsWith(server.client.send(new SetRepositoryPolicyCommand({ repositoryName: 'pol/repo', policyText: 'x'.repeat(10241) })), 'ValidationException', /10240/);
  await rejectsWith(server.client.send(new SetRepositoryPolicyCommand({ repositoryName: 'pol/none', policyText: text })), 'RepositoryNotFoundException');
  assert.equal((await server.client.send(new GetRepositoryPolicyCommand({ repositoryName: 'pol/repo' }))).policyText, text, 'refused policies change nothing');
  const deleted = await server.client.send(new DeleteRepositoryPolicyCommand({ repositoryName: 'pol/repo' }));
  assert.equal(deleted.policyText, text);
  await rejectsWith(server.client.send(new DeleteRepositoryPolicyCommand({ repositoryName: 'pol/repo' })), 'RepositoryPolicyNotFoundException');
});

test('registry policy, its V1 scope, account settings and DescribeRegistry', async () => {
  await rejectsWith(server.client.send(new GetRegistryPolicyCommand({})), 'RegistryPolicyNotFoundException');
  await rejectsWith(server.client.send(new DeleteRegistryPolicyCommand({})), 'RegistryPolicyNotFoundException');
  const text = policy('ecr:*');
  assert.equal((await server.client.send(new PutRegistryPolicyCommand({ policyText: text }))).policyText, text);
  assert.deepEqual((await server.client.send(new GetRegistryPolicyCommand({}))).policyText, text);

  assert.deepEqual(
    ((r) => ({ name: r.name, value: r.value }))(await server.client.send(new GetAccountSettingCommand({ name: 'REGISTRY_POLICY_SCOPE' }))),
    { name: 'REGISTRY_POLICY_SCOPE', value: 'V2' },
  );
  const put = await server.client.send(new PutAccountSettingCommand({ name: 'REGISTRY_POLICY_SCOPE', value: 'V1' }));
  assert.deepEqual([put.name, put.value], ['REGISTRY_POLICY_SCOPE', 'V1']);
  assert.equal((await server.client.send(new GetAccountSettingCommand({ name: 'REGISTRY_POLICY_SCOPE' }))).value, 'V1');
  await rejectsWith(server.client.send(new PutRegistryPolicyCommand({ policyText: policy('ecr:BatchGetImage') })), 'InvalidParameterException', /V1/);
  await server.client.send(new PutRegistryPolicyCommand({ policyText: policy(['ecr:ReplicateImage', 'ecr:CreateRepository']) }));
  await rejectsWith(server.client.send(new PutAccountSettingCommand({ name: 'REGISTRY_POLICY_SCOPE', value: 'V3' })), 'ValidationException', /V1, V2/);
  await rejectsWith(server.client.send(new GetAccountSettingCommand({ name: 'NOT_A_SETTING' })), 'ValidationException', /NOT_A_SETTING/);
  assert.equal((await server.client.send(new GetAccountSettingCommand({ name: 'BASIC_SCAN_TYPE_VERSION' }))).value, 'AWS_NATIVE');

  const deleted = await server.client.send(new DeleteRegistryPolicyCommand({}));
  assert.match(deleted.policyText!, /ReplicateImage/);

  const registry = await server.client.send(new DescribeRegistryCommand({}));
  assert.equal(registry.registryId, '000000000000');
  assert.deepEqual(registry.replicationConfiguration, { rules: [] });
});

test('repository creation templates: create, describe, update, delete', async () => {
  const created = await server.client.send(
    new CreateRepositoryCreationTemplateCommand({
      prefix: 'team-a/',
      description: 'team A',
      appliedFor: ['CREATE_ON_PUSH'],
      imageTagMutability: 'IMMUTABLE',
      resourceTags: [{ Key: 'team', Value: 'a' }],
      repositoryPolicy: policy('ecr:BatchGetImage'),
    }),
  );
  const t = created.repositoryCreationTemplate!;
  assert.equal(created.registryId, '000000000000');
  assert.equal(t.prefix, 'team-a/');
  assert.equal(t.description, 'team A');
  assert.deepEqual(t.appliedFor, ['CREATE_ON_PUSH']);
  assert.equal(t.imageTagMutability, 'IMMUTABLE');
  assert.deepEqual(t.resourceTags, [{ Key: 'team', Value: 'a' }]);
  assert.deepEqual(t.encryptionConfiguration, { encryptionType: 'AES256' });
  assert.ok(t.createdAt instanceof Date && t.updatedAt instanceof Date);
  await rejectsWith(server.client.send(new CreateRepositoryCreationTemplateCommand({ prefix: 'team-a/', appliedFor: ['REPLICATION'] })), 'TemplateAlreadyExistsException');
  await rejectsWith(server.client.send(new CreateRepositoryCreationTemplateCommand({ prefix: 'Bad Prefix', appliedFor: ['REPLICATION'] })), 'InvalidParameterException', /prefix/);
  await rejectsWith(server.client.send(new CreateRepositoryCreationTemplateCommand({ prefix: 'x', appliedFor: ['NEVER' as never] })), 'InvalidParameterException', /appliedFor/);
  await server.client.send(new CreateRepositoryCreationTemplateCommand({ prefix: 'ROOT', appliedFor: ['PULL_THROUGH_CACHE'] }));

  const updated = await server.client.send(new UpdateRepositoryCreationTemplateCommand({ prefix: 'team-a/', description: 'renamed' }));
  assert.equal(updated.repositoryCreationTemplate!.description, 'renamed');
  assert.equal(updated.repositoryCreationTemplate!.imageTagMutability, 'IMMUTABLE', 'fields not given are kept');
  await rejectsWith(server.client.send(new UpdateRepositoryCreationTemplateCommand({ prefix: 'team-b/' })), 'TemplateNotFoundException');

  const page1 = await server.client.send(new DescribeRepositoryCreationTemplatesCommand({ maxResults: 1 }));
  assert.equal(page1.repositoryCreationTemplates!.length, 1);
  assert.ok(page1.nextToken);
  const page2 = await server.client.send(new DescribeRepositoryCreationTemplatesCommand({ maxResults: 1, nextToken: page1.nextToken }));
  assert.deepEqual([...page1.repositoryCreationTemplates!, ...page2.repositoryCreationTemplates!].map((x) => x.prefix).sort(), ['ROOT', 'team-a/']);
  assert.equal(page2.nextToken, undefined);
  const byPrefix = await server.client.send(new DescribeRepositoryCreationTemplatesCommand({ prefixes: ['team-a/'] }));
  assert.equal(byPrefix.repositoryCreationTemplates![0]!.description, 'renamed');

  const deleted = await server.client.send(new DeleteRepositoryCreationTemplateCommand({ prefix: 'team-a/' }));
  assert.equal(deleted.repositoryCreationTemplate!.prefix, 'team-a/');
  await rejectsWith(server.client.send(new DeleteRepositoryCreationTemplateCommand({ prefix: 'team-a/' })), 'TemplateNotFoundException');
});
