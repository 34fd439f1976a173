import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { CreateAccessKeyCommand, CreateUserCommand, IAMClient } from '@aws-sdk/client-iam';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { startBerth, type TestServer } from '../helpers/server.js';
import { requireTool } from '../helpers/tools.js';

const run = promisify(execFile);
const ACCOUNT = '123456789012';
const ADMIN = { accessKeyId: 'AKIABERTHTESTADMIN03', secretAccessKey: 'berth-test-admin-secret-organizations-01' };

describe('further accounts through the AWS Organizations API', () => {
  let server: TestServer;
  before(async () => {
    server = await startBerth({ registryId: ACCOUNT, bootstrap: ADMIN });
  });
  after(() => server.stop());

  const cliEnv = (creds: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }) => ({
    PATH: process.env.PATH!,
    HOME: process.env.HOME!,
    AWS_ACCESS_KEY_ID: creds.accessKeyId,
    AWS_SECRET_ACCESS_KEY: creds.secretAccessKey,
    ...(creds.sessionToken ? { AWS_SESSION_TOKEN: creds.sessionToken } : {}),
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_MAX_ATTEMPTS: '1',
  });

  test('aws organizations create-account, then the management admin assumes OrganizationAccountAccessRole and administers it', async (t) => {
    if (!requireTool(t, 'aws')) return;
    const org = async (args: string[], creds = ADMIN) => JSON.parse((await run('aws', ['organizations', ...args, '--endpoint-url', server.url, '--output', 'json'], { env: cliEnv(creds) })).stdout);
    const created = (await org(['create-account', '--email', 'team-a@example.com', '--account-name', 'team-a'])).CreateAccountStatus;
    assert.equal(created.State, 'SUCCEEDED');
    assert.match(created.AccountId, /^[1-9]\d{11}$/);
    assert.match(created.Id, /^car-[a-z0-9]{8,32}$/);
    const status = (await org(['describe-create-account-status', '--create-account-request-id', created.Id])).CreateAccountStatus;
    assert.equal(status.AccountId, created.AccountId);
    const accounts = (await org(['list-accounts'])).Accounts.map((a: { Id: string }) => a.Id).sort();
    assert.deepEqual(accounts, [ACCOUNT, created.AccountId].sort());

    const common = { endpoint: server.url, region: 'us-east-1', maxAttempts: 1 };
    const assumed = await new STSClient({ ...common, credentials: ADMIN }).send(new AssumeRoleCommand({ RoleArn: `arn:aws:iam::${created.AccountId}:role/OrganizationAccountAccessRole`, RoleSessionName: 'setup' }));
    const c = assumed.Credentials!;
    const inMember = { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken! };
    const user = await new IAMClient({ ...common, credentials: inMember }).send(new CreateUserCommand({ UserName: 'team-admin' }));
    assert.equal(user.User!.Arn, `arn:aws:iam::${created.AccountId}:user/team-admin`);
    const key = (await new IAMClient({ ...common, credentials: inMember }).send(new CreateAccessKeyCommand({ UserName: 'team-admin' }))).AccessKey!;
    const teamAdmin = { accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! };
    assert.equal((await new STSClient({ ...common, credentials: teamAdmin }).send(new GetCallerIdentityCommand({}))).Account, created.AccountId);

    // Member accounts cannot create accounts, not even their administrators.
    await assert.rejects(org(['create-account', '--email', 'x@example.com', '--account-name', 'x'], inMember), (err: { stderr: string }) => /AccessDenied/.test(err.stderr));
    await assert.rejects(org(['create-account', '--email', 'not-an-email', '--account-name', 'x']), (err: { stderr: string }) => /ValidationException/.test(err.stderr));
  });
});
