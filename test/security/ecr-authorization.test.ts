import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  CreateRepositoryCommand,
  DeleteRegistryPolicyCommand,
  DeleteRepositoryCommand,
  DescribeImagesCommand,
  DescribeRepositoriesCommand,
  ECRClient,
  ListImagesCommand,
  ListTagsForResourceCommand,
  PutRegistryPolicyCommand,
  SetRepositoryPolicyCommand,
} from '@aws-sdk/client-ecr';
import { rejectsWith, startEcr, type EcrTestServer } from '../ecr/helpers.js';
import { ADMIN_POLICY, createTestUser, ECR_READ_ONLY, policy, type TestCredentials } from '../helpers/principals.js';
import { run } from '../helpers/process.js';
import { requireTool } from '../helpers/tools.js';

// The ECR API authorizes every operation with its ecr:<Operation> action on the repository
// ARN (or * for registry-level operations), combining identity policies, the repository
// policy and the registry policy as IAM does.
const A = '000000000000';
const B = '222222222222';
const arnOf = (account: string, repo: string) => `arn:aws:ecr:us-east-1:${account}:repository/${repo}`;

describe('ECR API authorization', () => {
  let server: EcrTestServer;
  const clients: ECRClient[] = [];
  const as = (credentials: TestCredentials) => {
    const client = new ECRClient({ endpoint: server.url, region: 'us-east-1', credentials, maxAttempts: 1 });
    clients.push(client);
    return client;
  };

  before(async () => {
    server = await startEcr();
    for (const repositoryName of ['team/app', 'private/app', 'keep/app']) await server.client.send(new CreateRepositoryCommand({ repositoryName }));
  });
  after(async () => {
    for (const c of clients) c.destroy();
    await server.stop();
  });

  test('a user without policies is refused with AccessDeniedException (400) in AWS wording', async () => {
    const nobody = as(await createTestUser(server.berth, A, 'nobody'));
    const err = await rejectsWith(nobody.send(new DescribeRepositoriesCommand({})), 'AccessDeniedException');
    assert.equal(err.$metadata?.httpStatusCode, 400);
    assert.equal(
      err.message,
      `User: arn:aws:iam::${A}:user/nobody is not authorized to perform: ecr:DescribeRepositories on resource: ${arnOf(A, '*')} because no identity-based policy allows the ecr:DescribeRepositories action`,
    );
    await rejectsWith(nobody.send(new ListImagesCommand({ repositoryName: 'team/app' })), 'AccessDeniedException', new RegExp(`ecr:ListImages on resource: ${arnOf(A, 'team/app')}`));
    // Registry-level operations are authorized on "*".
    await rejectsWith(nobody.send(new PutRegistryPolicyCommand({ policyText: JSON.stringify(policy({ Effect: 'Deny', Principal: '*', Action: 'ecr:CreateRepository', Resource: '*' })) })), 'AccessDeniedException', /ecr:PutRegistryPolicy on resource: \* because/);
  });

  test('aws:ResourceTag conditions see the resource tags of the repository', async () => {
    await server.client.send(new CreateRepositoryCommand({ repositoryName: 'tagged/ours', tags: [{ Key: 'team', Value: 'payments' }] }));
    await server.client.send(new CreateRepositoryCommand({ repositoryName: 'tagged/theirs', tags: [{ Key: 'team', Value: 'search' }] }));
    const tagged = as(
      await createTestUser(server.berth, A, 'by-tag', {
        inline: [policy({ Effect: 'Allow', Action: 'ecr:ListImages', Resource: '*', Condition: { StringEquals: { 'aws:ResourceTag/team': 'payments' } } })],
      }),
    );
    const listed = await tagged.send(new ListImagesCommand({ repositoryName: 'tagged/ours' }));
    assert.deepEqual(listed.imageIds, []);
    await rejectsWith(tagged.send(new ListImagesCommand({ repositoryName: 'tagged/theirs' })), 'AccessDeniedException');
    await rejectsWith(tagged.send(new ListImagesCommand({ repositoryName: 'team/app' })), 'AccessDeniedException', /ecr:ListImages/);
  });

  test('identity policies decide per action: read-only reads but does not write', async () => {
    const reader = as(await createTestUser(server.berth, A, 'reader', { attach: [ECR_READ_ONLY] }));
    const listed = await reader.send(new ListImagesCommand({ repositoryName: 'team/app' }));
    assert.deepEqual(listed.imageIds, []);
    await rejectsWith(reader.send(new CreateRepositoryCommand({ repositoryName: 'reader/new' })), 'AccessDeniedException', /ecr:CreateRepository on resource: arn:aws:ecr:us-east-1:000000000000:repository\/reader\/new/);
    await rejectsWith(reader.send(new DeleteRepositoryCommand({ repositoryName: 'team/app' })), 'AccessDeniedException');
  });

  test('same account: a repository policy naming the user is enough on its own', async () => {
    const creds = await createTestUser(server.berth, A, 'lister');
    await server.client.send(
      new SetRepositoryPolicyCommand({ repositoryName: 'team/app', policyText: JSON.stringify(policy({ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${A}:user/lister` }, Action: 'ecr:ListImages' })) }),
    );
    const lister = as(creds);
    assert.deepEqual((await lister.send(new ListImagesCommand({ repositoryName: 'team/app' }))).imageIds, []);
    await rejectsWith(lister.send(new DescribeImagesCommand({ repositoryName: 'team/app' })), 'AccessDeniedException', /ecr:DescribeImages/);
    await rejectsWith(lister.send(new ListImagesCommand({ repositoryName: 'private/app' })), 'AccessDeniedException');
  });

  test('an explicit Deny in the repository or registry policy beats AdministratorAccess', async () => {
    await server.client.send(
      new SetRepositoryPolicyCommand({ repositoryName: 'keep/app', policyText: JSON.stringify(policy({ Sid: 'NoDelete', Effect: 'Deny', Principal: '*', Action: 'ecr:DeleteRepository' })) }),
    );
    await rejectsWith(server.client.send(new DeleteRepositoryCommand({ repositoryName: 'keep/app', force: true })), 'AccessDeniedException', /with an explicit deny/);
    await server.client.send(new PutRegistryPolicyCommand({ policyText: JSON.stringify(policy({ Effect: 'Deny', Principal: '*', Action: 'ecr:CreateRepository', Resource: arnOf(A, 'frozen/*') })) }));
    await rejectsWith(server.client.send(new CreateRepositoryCommand({ repositoryName: 'frozen/x' })), 'AccessDeniedException', /explicit deny/);
    await server.client.send(new CreateRepositoryCommand({ repositoryName: 'thawed/x' }));
    await server.client.send(new DeleteRegistryPolicyCommand({}));
    await server.client.send(new CreateRepositoryCommand({ repositoryName: 'frozen/x' }));
  });

  test('cross-account: the repository policy and the caller identity policy must both allow', async () => {
    const bAdmin = as(await createTestUser(server.berth, B, 'b-admin', { attach: [ADMIN_POLICY] }));
    const bBare = as(await createTestUser(server.berth, B, 'b-bare'));
    // No repository policy: B's AdministratorAccess does not reach into A.
    await rejectsWith(
      bAdmin.send(new ListImagesCommand({ registryId: A, repositoryName: 'private/app' })),
      'AccessDeniedException',
      new RegExp(`^User: arn:aws:iam::${B}:user/b-admin is not authorized to perform: ecr:ListImages on resource: ${arnOf(A, 'private/app')} because no resource-based policy allows the ecr:ListImages action$`),
    );
    await server.client.send(
      new SetRepositoryPolicyCommand({
        repositoryName: 'private/app',
        policyText: JSON.stringify(policy({ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${B}:root` }, Action: ['ecr:ListImages', 'ecr:DescribeRepositories'] })),
      }),
    );
    assert.deepEqual((await bAdmin.send(new ListImagesCommand({ registryId: A, repositoryName: 'private/app' }))).imageIds, []);
    const described = await bAdmin.send(new DescribeRepositoriesCommand({ registryId: A, repositoryNames: ['private/app'] }));
    assert.equal(described.repositories![0]!.repositoryArn, arnOf(A, 'private/app'));
    assert.equal(described.repositories![0]!.registryId, A);
    // The grant names B's account, so B's own identity policy must allow too.
    await rejectsWith(bBare.send(new ListImagesCommand({ registryId: A, repositoryName: 'private/app' })), 'AccessDeniedException', /because no identity-based policy allows/);
    // Only what the policy grants, only where it is attached.
    await rejectsWith(bAdmin.send(new DescribeImagesCommand({ registryId: A, repositoryName: 'private/app' })), 'AccessDeniedException');
    await rejectsWith(bAdmin.send(new ListImagesCommand({ registryId: A, repositoryName: 'team/app' })), 'AccessDeniedException');
    await rejectsWith(bAdmin.send(new ListTagsForResourceCommand({ resourceArn: arnOf(A, 'team/app') })), 'AccessDeniedException', /ecr:ListTagsForResource on resource: arn:aws:ecr:us-east-1:000000000000:repository\/team\/app/);
    // B's own registry is B's: A's repositories are not there.
    await rejectsWith(bAdmin.send(new ListImagesCommand({ repositoryName: 'private/app' })), 'RepositoryNotFoundException', /registry with id '222222222222'/);
  });

  test('the aws CLI shows the refusal as it shows ECR\'s', async (t) => {
    if (!requireTool(t, 'aws')) return;
    const creds = await createTestUser(server.berth, A, 'cli-nobody');
    const env = { PATH: process.env.PATH!, HOME: '/nonexistent', AWS_ACCESS_KEY_ID: creds.accessKeyId, AWS_SECRET_ACCESS_KEY: creds.secretAccessKey, AWS_DEFAULT_REGION: 'us-east-1', AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' };
    const res = await run('aws', ['ecr', 'describe-images', '--repository-name', 'team/app', '--endpoint-url', server.url], { env, timeoutMs: 60_000 });
    assert.notEqual(res.code, 0, res.stderr);
    assert.match(
      res.stderr,
      new RegExp(`An error occurred \\(AccessDeniedException\\) when calling the DescribeImages operation: User: arn:aws:iam::${A}:user/cli-nobody is not authorized to perform: ecr:DescribeImages on resource: arn:aws:ecr:us-east-1:${A}:repository/team/app because no identity-based policy allows the ecr:DescribeImages action`),
    );
  });

  test('an account not hosted here: AccessDeniedException, never a hint that it does not exist', async () => {
    await rejectsWith(server.client.send(new ListImagesCommand({ registryId: '999999999999', repositoryName: 'team/app' })), 'AccessDeniedException', /999999999999:repository\/team\/app because no resource-based policy/);
  });
});
