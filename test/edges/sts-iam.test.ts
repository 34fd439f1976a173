import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import {
  AttachRolePolicyCommand,
  AttachUserPolicyCommand,
  CreateAccessKeyCommand,
  CreatePolicyCommand,
  CreateRoleCommand,
  CreateUserCommand,
  DeleteAccessKeyCommand,
  DeletePolicyCommand,
  DeleteRoleCommand,
  DeleteUserCommand,
  DeleteUserPolicyCommand,
  DetachUserPolicyCommand,
  GetPolicyCommand,
  GetRoleCommand,
  GetUserCommand,
  GetUserPolicyCommand,
  IAMClient,
  ListAccessKeysCommand,
  ListAttachedUserPoliciesCommand,
  ListPoliciesCommand,
  ListUserPoliciesCommand,
  ListUsersCommand,
  PutRolePolicyCommand,
  PutUserPolicyCommand,
  UpdateAccessKeyCommand,
} from '@aws-sdk/client-iam';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { newUserId } from '../../src/domain/iam/ids.js';
import { startBerth, type TestServer } from '../helpers/server.js';
import { requireTool } from '../helpers/tools.js';
import { requirePostgres } from '../helpers/postgres.js';

const run = promisify(execFile);
const ACCOUNT = '123456789012';
const OTHER = '210987654321';
const ADMIN_KEY = 'AKIABERTHTESTADMIN01';
const ADMIN_SECRET = 'berth-test-admin-secret-0123456789abcdef';

interface Creds {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

const doc = (statement: object | object[]) => JSON.stringify({ Version: '2012-10-17', Statement: statement });

async function errorName(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as Error).name;
  }
  return 'no error';
}

function clients(server: TestServer, creds: Creds) {
  const common = { endpoint: server.url, region: 'us-east-1', credentials: creds, maxAttempts: 1 };
  return { sts: new STSClient(common), iam: new IAMClient(common) };
}

describe('STS and IAM over the query protocol (SQLite)', () => {
  let server: TestServer;
  let admin: ReturnType<typeof clients>;

  before(async () => {
    server = await startBerth({ registryId: ACCOUNT, bootstrap: { accessKeyId: ADMIN_KEY, secretAccessKey: ADMIN_SECRET } });
    admin = clients(server, { accessKeyId: ADMIN_KEY, secretAccessKey: ADMIN_SECRET });
  });
  after(() => server.stop());

  async function newUserWithKey(name: string): Promise<ReturnType<typeof clients> & Creds> {
    await admin.iam.send(new CreateUserCommand({ UserName: name }));
    const key = (await admin.iam.send(new CreateAccessKeyCommand({ UserName: name }))).AccessKey!;
    const creds = { accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! };
    return { ...clients(server, creds), ...creds };
  }

  test('bootstrap wrote the aws CLI files, mode 0600, and reported the administrator once', async () => {
    assert.equal(server.berth.bootstrap?.accessKeyId, ADMIN_KEY);
    const credentials = await readFile(`${server.dataDir}/credentials`, 'utf8');
    assert.match(credentials, new RegExp(`aws_access_key_id = ${ADMIN_KEY}`));
    assert.match(credentials, new RegExp(`aws_secret_access_key = ${ADMIN_SECRET}`));
    assert.equal((await stat(`${server.dataDir}/credentials`)).mode & 0o777, 0o600);
    const config = await readFile(`${server.dataDir}/config`, 'utf8');
    assert.match(config, /region = us-east-1/);
    assert.match(config, new RegExp(`endpoint_url = ${server.url}`));
    assert.equal((await stat(`${server.dataDir}/config`)).mode & 0o777, 0o600);
    assert.equal((await stat(`${server.dataDir}/server.key`)).mode & 0o777, 0o600);
  });

  test('GetCallerIdentity names the bootstrap administrator', async () => {
    const me = await admin.sts.send(new GetCallerIdentityCommand({}));
    assert.equal(me.Account, ACCOUNT);
    assert.equal(me.Arn, `arn:aws:iam::${ACCOUNT}:user/admin`);
    assert.match(me.UserId!, /^AIDA[A-Z2-7]{17}$/);
  });

  test('unsigned and badly signed requests get AWS XML errors', async () => {
    let res = await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'Action=ListUsers&Version=2010-05-08' });
    assert.equal(res.status, 403);
    const text = await res.text();
    assert.match(text, /^<ErrorResponse xmlns="https:\/\/iam\.amazonaws\.com\/doc\/2010-05-08\/"><Error><Type>Sender<\/Type><Code>MissingAuthenticationToken<\/Code>/);
    assert.equal(await errorName(clients(server, { accessKeyId: ADMIN_KEY, secretAccessKey: 'wrong-secret-wrong-secret' }).iam.send(new ListUsersCommand({}))), 'SignatureDoesNotMatch');
    assert.equal(await errorName(clients(server, { accessKeyId: 'AKIANOSUCHKEY0000000', secretAccessKey: ADMIN_SECRET }).sts.send(new GetCallerIdentityCommand({}))), 'InvalidClientTokenId');
    res = await fetch(`${server.url}/?Action=GetCallerIdentity`, { method: 'GET' });
    assert.equal(res.status, 403);
  });

  test('users: create, get, list with pages, duplicates and missing ones', async () => {
    const created = await admin.iam.send(new CreateUserCommand({ UserName: 'alice', Path: '/dev/' }));
    assert.equal(created.User!.Arn, `arn:aws:iam::${ACCOUNT}:user/dev/alice`);
    assert.equal(created.User!.Path, '/dev/');
    assert.ok(created.User!.CreateDate instanceof Date);
    assert.equal(await errorName(admin.iam.send(new CreateUserCommand({ UserName: 'ALICE' }))), 'EntityAlreadyExistsException');
    assert.equal(await errorName(admin.iam.send(new CreateUserCommand({ UserName: 'bad name' }))), 'ValidationError');
    assert.equal((await admin.iam.send(new GetUserCommand({ UserName: 'alice' }))).User!.UserId, created.User!.UserId);
    assert.equal(await errorName(admin.iam.send(new GetUserCommand({ UserName: 'nobody' }))), 'NoSuchEntityException');
    assert.equal((await admin.iam.send(new GetUserCommand({}))).User!.UserName, 'admin', 'GetUser without a name is the caller');
    for (const n of ['u1', 'u2', 'u3']) await admin.iam.send(new CreateUserCommand({ UserName: n }));
    const names: string[] = [];
    let marker: string | undefined;
    let pages = 0;
    do {
      const page = await admin.iam.send(new ListUsersCommand({ MaxItems: 2, ...(marker ? { Marker: marker } : {}) }));
      names.push(...page.Users!.map((u) => u.UserName!));
      marker = page.IsTruncated ? page.Marker : undefined;
      pages++;
    } while (marker);
    assert.deepEqual(names, ['admin', 'alice', 'u1', 'u2', 'u3']);
    assert.equal(pages, 3);
    assert.deepEqual((await admin.iam.send(new ListUsersCommand({ PathPrefix: '/dev/' }))).Users!.map((u) => u.UserName), ['alice']);
    for (const n of ['u1', 'u2', 'u3', 'alice']) await admin.iam.send(new DeleteUserCommand({ UserName: n }));
    assert.equal(await errorName(admin.iam.send(new DeleteUserCommand({ UserName: 'alice' }))), 'NoSuchEntityException');
  });

  test('access keys: a new user signs in; no permissions until a policy allows; keys can be disabled and deleted', async () => {
    const bob = await newUserWithKey('bob');
    const me = await bob.sts.send(new GetCallerIdentityCommand({}));
    assert.equal(me.Arn, `arn:aws:iam::${ACCOUNT}:user/bob`);
    assert.equal(await errorName(bob.iam.send(new ListUsersCommand({}))), 'AccessDenied');

    await admin.iam.send(new PutUserPolicyCommand({ UserName: 'bob', PolicyName: 'list', PolicyDocument: doc({ Effect: 'Allow', Action: 'iam:List*', Resource: '*' }) }));
    assert.ok((await bob.iam.send(new ListUsersCommand({}))).Users!.some((u) => u.UserName === 'bob'));
    const got = await admin.iam.send(new GetUserPolicyCommand({ UserName: 'bob', PolicyName: 'list' }));
    assert.deepEqual(JSON.parse(decodeURIComponent(got.PolicyDocument!)).Statement.Action, 'iam:List*');
    assert.deepEqual((await admin.iam.send(new ListUserPoliciesCommand({ UserName: 'bob' }))).PolicyNames, ['list']);
    assert.equal(await errorName(bob.iam.send(new CreateUserCommand({ UserName: 'mallory' }))), 'AccessDenied');

    const keys = await admin.iam.send(new ListAccessKeysCommand({ UserName: 'bob' }));
    assert.deepEqual(keys.AccessKeyMetadata!.map((k) => [k.AccessKeyId, k.Status]), [[bob.accessKeyId, 'Active']]);
    await admin.iam.send(new UpdateAccessKeyCommand({ UserName: 'bob', AccessKeyId: bob.accessKeyId, Status: 'Inactive' }));
    assert.equal(await errorName(bob.sts.send(new GetCallerIdentityCommand({}))), 'InvalidClientTokenId');
    await admin.iam.send(new UpdateAccessKeyCommand({ UserName: 'bob', AccessKeyId: bob.accessKeyId, Status: 'Active' }));
    assert.equal((await bob.sts.send(new GetCallerIdentityCommand({}))).Account, ACCOUNT);

    assert.equal(await errorName(admin.iam.send(new DeleteUserCommand({ UserName: 'bob' }))), 'DeleteConflictException');
    await admin.iam.send(new DeleteAccessKeyCommand({ UserName: 'bob', AccessKeyId: bob.accessKeyId }));
    assert.equal(await errorName(bob.sts.send(new GetCallerIdentityCommand({}))), 'InvalidClientTokenId');
    await admin.iam.send(new DeleteUserPolicyCommand({ UserName: 'bob', PolicyName: 'list' }));
    await admin.iam.send(new DeleteUserCommand({ UserName: 'bob' }));
  });

  test('malformed policy documents are refused with MalformedPolicyDocument', async () => {
    await admin.iam.send(new CreateUserCommand({ UserName: 'carl' }));
    try {
      await admin.iam.send(new PutUserPolicyCommand({ UserName: 'carl', PolicyName: 'p', PolicyDocument: doc({ Effect: 'Permit', Action: 'ecr:*', Resource: '*' }) }));
      assert.fail('accepted');
    } catch (err) {
      assert.equal((err as Error).name, 'MalformedPolicyDocumentException');
      assert.match((err as Error).message, /Effect must be "Allow" or "Deny"/);
    }
    assert.equal(await errorName(admin.iam.send(new PutUserPolicyCommand({ UserName: 'carl', PolicyName: 'p', PolicyDocument: '{not json' }))), 'MalformedPolicyDocumentException');
    await admin.iam.send(new DeleteUserCommand({ UserName: 'carl' }));
  });

  test('managed policies: AWS-managed and customer-managed, attach, detach, delete conflicts', async () => {
    const dora = await newUserWithKey('dora');
    const created = await admin.iam.send(new CreatePolicyCommand({ PolicyName: 'ListOnly', Path: '/team/', PolicyDocument: doc({ Effect: 'Allow', Action: 'iam:ListUsers', Resource: '*' }), Description: 'list users' }));
    const arn = created.Policy!.Arn!;
    assert.equal(arn, `arn:aws:iam::${ACCOUNT}:policy/team/ListOnly`);
    assert.equal(await errorName(dora.iam.send(new ListUsersCommand({}))), 'AccessDenied');
    await admin.iam.send(new AttachUserPolicyCommand({ UserName: 'dora', PolicyArn: arn }));
    assert.ok((await dora.iam.send(new ListUsersCommand({}))).Users!.length >= 2);
    assert.equal((await admin.iam.send(new GetPolicyCommand({ PolicyArn: arn }))).Policy!.AttachmentCount, 1);
    assert.equal(await errorName(admin.iam.send(new DeletePolicyCommand({ PolicyArn: arn }))), 'DeleteConflictException');

    await admin.iam.send(new AttachUserPolicyCommand({ UserName: 'dora', PolicyArn: 'arn:aws:iam::aws:policy/IAMReadOnlyAccess' }));
    assert.equal((await dora.iam.send(new GetUserCommand({ UserName: 'admin' }))).User!.UserName, 'admin');
    const attached = await admin.iam.send(new ListAttachedUserPoliciesCommand({ UserName: 'dora' }));
    assert.deepEqual(attached.AttachedPolicies!.map((p) => p.PolicyName).sort(), ['IAMReadOnlyAccess', 'ListOnly']);
    assert.equal(await errorName(admin.iam.send(new AttachUserPolicyCommand({ UserName: 'dora', PolicyArn: 'arn:aws:iam::aws:policy/NoSuchPolicy' }))), 'NoSuchEntityException');
    const local = await admin.iam.send(new ListPoliciesCommand({ Scope: 'Local' }));
    assert.deepEqual(local.Policies!.map((p) => p.PolicyName), ['ListOnly']);
    const awsPolicies = await admin.iam.send(new ListPoliciesCommand({ Scope: 'AWS' }));
    assert.ok(awsPolicies.Policies!.some((p) => p.Arn === 'arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly'));

    await admin.iam.send(new DetachUserPolicyCommand({ UserName: 'dora', PolicyArn: arn }));
    await admin.iam.send(new DetachUserPolicyCommand({ UserName: 'dora', PolicyArn: 'arn:aws:iam::aws:policy/IAMReadOnlyAccess' }));
    assert.equal(await errorName(dora.iam.send(new ListUsersCommand({}))), 'AccessDenied');
    await admin.iam.send(new DeletePolicyCommand({ PolicyArn: arn }));
    assert.equal(await errorName(admin.iam.send(new GetPolicyCommand({ PolicyArn: arn }))), 'NoSuchEntityException');
  });

  test('roles: AssumeRole under the trust policy, temporary credentials carry the role permissions and stop at expiry', async () => {
    const erin = await newUserWithKey('erin');
    const frank = await newUserWithKey('frank');
    const trust = doc({ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:user/erin` }, Action: 'sts:AssumeRole' });
    const role = await admin.iam.send(new CreateRoleCommand({ RoleName: 'deployer', AssumeRolePolicyDocument: trust, MaxSessionDuration: 7200 }));
    const roleArn = role.Role!.Arn!;
    assert.equal(roleArn, `arn:aws:iam::${ACCOUNT}:role/deployer`);
    assert.deepEqual(JSON.parse(decodeURIComponent((await admin.iam.send(new GetRoleCommand({ RoleName: 'deployer' }))).Role!.AssumeRolePolicyDocument!)), JSON.parse(trust));
    assert.equal(await errorName(admin.iam.send(new CreateRoleCommand({ RoleName: 'bad', AssumeRolePolicyDocument: doc({ Effect: 'Allow', Action: 'sts:AssumeRole' }) }))), 'MalformedPolicyDocumentException');

    // erin is named in the trust policy: that alone lets her in (same account).
    const assumed = await erin.sts.send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: 'ci-42', DurationSeconds: 900 }));
    const c = assumed.Credentials!;
    assert.match(c.AccessKeyId!, /^ASIA/);
    assert.ok(c.Expiration! > new Date(Date.now() + 800_000) && c.Expiration! < new Date(Date.now() + 1000_000));
    assert.equal(assumed.AssumedRoleUser!.Arn, `arn:aws:sts::${ACCOUNT}:assumed-role/deployer/ci-42`);
    assert.match(assumed.AssumedRoleUser!.AssumedRoleId!, /^AROA[A-Z2-7]{17}:ci-42$/);
    // frank is not: AccessDenied.
    assert.equal(await errorName(frank.sts.send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: 'x1' }))), 'AccessDenied');
    assert.equal(await errorName(erin.sts.send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: 'x1', DurationSeconds: 9000 }))), 'ValidationError');
    assert.equal(await errorName(erin.sts.send(new AssumeRoleCommand({ RoleArn: `arn:aws:iam::${ACCOUNT}:role/none`, RoleSessionName: 'x1' }))), 'AccessDenied');

    const session = clients(server, { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken! });
    assert.equal((await session.sts.send(new GetCallerIdentityCommand({}))).Arn, `arn:aws:sts::${ACCOUNT}:assumed-role/deployer/ci-42`);
    assert.equal(await errorName(session.iam.send(new ListUsersCommand({}))), 'AccessDenied');
    await admin.iam.send(new PutRolePolicyCommand({ RoleName: 'deployer', PolicyName: 'list', PolicyDocument: doc({ Effect: 'Allow', Action: 'iam:ListUsers', Resource: '*' }) }));
    assert.ok((await session.iam.send(new ListUsersCommand({}))).Users!.length > 0);
    // Without the session token, or with a wrong one, the key is refused.
    assert.equal(await errorName(clients(server, { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey! }).sts.send(new GetCallerIdentityCommand({}))), 'InvalidClientTokenId');

    // A session policy narrows the session below the role's permissions.
    const narrowed = await erin.sts.send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: 'narrow', Policy: doc({ Effect: 'Allow', Action: 'iam:GetUser', Resource: '*' }) }));
    const narrow = clients(server, { accessKeyId: narrowed.Credentials!.AccessKeyId!, secretAccessKey: narrowed.Credentials!.SecretAccessKey!, sessionToken: narrowed.Credentials!.SessionToken! });
    assert.equal(await errorName(narrow.iam.send(new ListUsersCommand({}))), 'AccessDenied');

    // At expiry the credentials stop working: ExpiredToken.
    await (server.berth.meta as unknown as { db: any }).db.updateTable('iam_sessions').set({ expires_at: Date.now() - 1 }).where('access_key_id', '=', c.AccessKeyId!).execute();
    assert.equal(await errorName(session.sts.send(new GetCallerIdentityCommand({}))), 'ExpiredToken');

    assert.equal(await errorName(admin.iam.send(new DeleteRoleCommand({ RoleName: 'deployer' }))), 'DeleteConflictException');
  });

  test('cross-account AssumeRole needs the trust policy AND the caller identity policy', async () => {
    // A second account with a user, made through the identity service (no account API yet).
    const identity = server.berth.identity;
    await identity.createAccount(OTHER);
    const user = await identity.store.createUser({ accountId: OTHER, userId: newUserId(), name: 'gina', path: '/', createdAt: Date.now() });
    await identity.store.createAccessKey(OTHER, 'gina', { accessKeyId: 'AKIAGINAOTHERACCOUNT', secret: 'gina-secret-gina-secret-gina-secret', createdAt: Date.now() });
    const gina = clients(server, { accessKeyId: 'AKIAGINAOTHERACCOUNT', secretAccessKey: 'gina-secret-gina-secret-gina-secret' });
    assert.equal((await gina.sts.send(new GetCallerIdentityCommand({}))).Account, OTHER);

    const trust = doc({ Effect: 'Allow', Principal: { AWS: OTHER }, Action: 'sts:AssumeRole' });
    const roleArn = (await admin.iam.send(new CreateRoleCommand({ RoleName: 'puller', AssumeRolePolicyDocument: trust }))).Role!.Arn!;
    assert.equal(await errorName(gina.sts.send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: 'gina-1' }))), 'AccessDenied', 'trust alone is not enough across accounts');
    await identity.store.putInlinePolicy({ kind: 'user', id: user.userId }, 'assume', doc({ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: roleArn }), Date.now());
    const assumed = await gina.sts.send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: 'gina-1' }));
    assert.equal(assumed.AssumedRoleUser!.Arn, `arn:aws:sts::${ACCOUNT}:assumed-role/puller/gina-1`);
    const session = clients(server, { accessKeyId: assumed.Credentials!.AccessKeyId!, secretAccessKey: assumed.Credentials!.SecretAccessKey!, sessionToken: assumed.Credentials!.SessionToken! });
    assert.equal((await session.sts.send(new GetCallerIdentityCommand({}))).Account, ACCOUNT);
    // gina's own account does not see account A's users.
    await identity.store.putInlinePolicy({ kind: 'user', id: user.userId }, 'list', doc({ Effect: 'Allow', Action: 'iam:*', Resource: '*' }), Date.now());
    assert.deepEqual((await gina.iam.send(new ListUsersCommand({}))).Users!.map((u) => u.UserName), ['gina']);
  });

  test('the aws CLI works with the bootstrap files alone', async (t) => {
    if (!requireTool(t, 'aws')) return;
    const env = { PATH: process.env.PATH!, HOME: process.env.HOME!, AWS_SHARED_CREDENTIALS_FILE: `${server.dataDir}/credentials`, AWS_CONFIG_FILE: `${server.dataDir}/config`, AWS_MAX_ATTEMPTS: '1' };
    const who = JSON.parse((await run('aws', ['sts', 'get-caller-identity', '--output', 'json'], { env })).stdout);
    assert.equal(who.Arn, `arn:aws:iam::${ACCOUNT}:user/admin`);
    const created = JSON.parse((await run('aws', ['iam', 'create-user', '--user-name', 'cli-user', '--endpoint-url', server.url, '--output', 'json'], { env })).stdout);
    assert.equal(created.User.Arn, `arn:aws:iam::${ACCOUNT}:user/cli-user`);
    await run('aws', ['iam', 'put-user-policy', '--user-name', 'cli-user', '--policy-name', 'pull', '--policy-document', doc({ Effect: 'Allow', Action: ['ecr:BatchGetImage'], Resource: '*' }), '--endpoint-url', server.url], { env });
    const policy = JSON.parse((await run('aws', ['iam', 'get-user-policy', '--user-name', 'cli-user', '--policy-name', 'pull', '--endpoint-url', server.url, '--output', 'json'], { env })).stdout);
    assert.deepEqual(policy.PolicyDocument.Statement.Action, ['ecr:BatchGetImage'], 'the CLI decodes the URL-encoded document');
    const key = JSON.parse((await run('aws', ['iam', 'create-access-key', '--user-name', 'cli-user', '--endpoint-url', server.url, '--output', 'json'], { env })).stdout);
    assert.match(key.AccessKey.SecretAccessKey, /^.{40}$/);
    await assert.rejects(run('aws', ['iam', 'get-user', '--user-name', 'nobody', '--endpoint-url', server.url], { env }), (err: { stderr: string }) => /NoSuchEntity/.test(err.stderr));
  });

  test('unknown actions: InvalidAction', async () => {
    const { SignatureV4 } = await import('@smithy/signature-v4');
    const { Hash } = await import('@smithy/hash-node');
    const signer = new SignatureV4({ credentials: { accessKeyId: ADMIN_KEY, secretAccessKey: ADMIN_SECRET }, region: 'us-east-1', service: 'iam', sha256: Hash.bind(null, 'sha256') });
    const body = 'Action=CreateGroup&GroupName=x&Version=2010-05-08';
    const signed = await signer.sign({ method: 'POST', protocol: 'http:', hostname: server.host.split(':')[0]!, port: Number(server.host.split(':')[1]), path: '/', headers: { host: server.host, 'content-type': 'application/x-www-form-urlencoded' }, body });
    const res = await fetch(server.url, { method: 'POST', headers: signed.headers, body });
    assert.equal(res.status, 400);
    assert.match(await res.text(), /<Code>InvalidAction<\/Code>/);
  });
});

describe('STS and IAM on PostgreSQL', () => {
  test('bootstrap, users, keys and AssumeRole', async (t) => {
    if (!(await requirePostgres(t))) return;
    const server = await startBerth({ postgres: true, registryId: ACCOUNT, bootstrap: { accessKeyId: ADMIN_KEY, secretAccessKey: ADMIN_SECRET } });
    try {
      const admin = clients(server, { accessKeyId: ADMIN_KEY, secretAccessKey: ADMIN_SECRET });
      assert.equal((await admin.sts.send(new GetCallerIdentityCommand({}))).Arn, `arn:aws:iam::${ACCOUNT}:user/admin`);
      await admin.iam.send(new CreateUserCommand({ UserName: 'pat' }));
      assert.equal(await errorName(admin.iam.send(new CreateUserCommand({ UserName: 'Pat' }))), 'EntityAlreadyExistsException');
      const key = (await admin.iam.send(new CreateAccessKeyCommand({ UserName: 'pat' }))).AccessKey!;
      const pat = clients(server, { accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! });
      const trust = doc({ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:user/pat` }, Action: 'sts:AssumeRole' });
      const roleArn = (await admin.iam.send(new CreateRoleCommand({ RoleName: 'r', AssumeRolePolicyDocument: trust }))).Role!.Arn!;
      await admin.iam.send(new AttachRolePolicyCommand({ RoleName: 'r', PolicyArn: 'arn:aws:iam::aws:policy/IAMReadOnlyAccess' }));
      const c = (await pat.sts.send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: 'pg' }))).Credentials!;
      const session = clients(server, { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken! });
      assert.deepEqual((await session.iam.send(new ListUsersCommand({}))).Users!.map((u) => u.UserName), ['admin', 'pat']);
      assert.equal(await errorName(session.iam.send(new CreateUserCommand({ UserName: 'x' }))), 'AccessDenied');
    } finally {
      await server.stop();
    }
  });
});

describe('bad input on the AWS edge', () => {
  test('oversized, malformed and odd requests get AWS errors, never a 500', async () => {
    const server = await startBerth({ registryId: ACCOUNT, bootstrap: { accessKeyId: ADMIN_KEY, secretAccessKey: ADMIN_SECRET } });
    try {
      let res = await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `Action=CreateUser&UserName=${'x'.repeat(2 * 1024 * 1024)}` });
      assert.equal(res.status, 413);
      assert.match(await res.text(), /<Code>RequestEntityTooLarge<\/Code>/);
      res = await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'Action=%ZZ&%%%=%' });
      assert.equal(res.status, 403);
      assert.match(await res.text(), /MissingAuthenticationToken/);
      res = await fetch(server.url, { method: 'POST', headers: { 'x-amz-target': 'AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken', 'content-type': 'application/x-amz-json-1.1' }, body: '{' });
      assert.equal(res.status, 403);
      assert.equal(res.headers.get('x-amzn-errortype'), 'MissingAuthenticationTokenException');
      const { SignatureV4 } = await import('@smithy/signature-v4');
      const { Hash } = await import('@smithy/hash-node');
      const signer = new SignatureV4({ credentials: { accessKeyId: ADMIN_KEY, secretAccessKey: ADMIN_SECRET }, region: 'us-east-1', service: 'ecr', sha256: Hash.bind(null, 'sha256') });
      for (const [target, body, type] of [
        ['AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken', '{not json', 'SerializationException'],
        ['AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken', '[1,2]', 'SerializationException'],
        ['AmazonEC2ContainerRegistry_V20150921.NoSuchOperation', '{}', 'UnknownOperationException'],
        ['NoSuchService.Op', '{}', 'UnknownOperationException'],
      ] as const) {
        const signed = await signer.sign({ method: 'POST', protocol: 'http:', hostname: '127.0.0.1', path: '/', headers: { host: server.host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': target }, body });
        res = await fetch(server.url, { method: 'POST', headers: signed.headers, body });
        assert.equal(res.status, 400, target);
        assert.equal((await res.json()).__type, type);
      }
    } finally {
      await server.stop();
    }
  });
});
