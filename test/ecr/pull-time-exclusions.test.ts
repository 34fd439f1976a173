import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import {
  BatchGetImageCommand,
  CreateRepositoryCommand,
  DeregisterPullTimeUpdateExclusionCommand,
  DescribeImagesCommand,
  ECRClient,
  ListPullTimeUpdateExclusionsCommand,
  RegisterPullTimeUpdateExclusionCommand,
} from '@aws-sdk/client-ecr';
import { CreateAccessKeyCommand, CreateUserCommand, IAMClient, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import { loginPassword } from '../security/helpers.js';
import { awsBinary, awsCliEnv, credentials, prepareImage, putManifestV2, rejectsWith, startEcr, type EcrTestServer } from './helpers.js';

// Pull time update exclusions (issue 19): up to 100 IAM principals whose pulls, over the
// ECR API and over /v2, leave lastRecordedPullTime as it was.

let server: EcrTestServer;
let puller: { accessKeyId: string; secretAccessKey: string };
const pullerArn = 'arn:aws:iam::000000000000:user/ci-puller';
const repo = 'pulltime/app';

before(async () => {
  server = await startEcr({ auth: { v2: true } });
  const iam = new IAMClient({ endpoint: server.url, region: 'us-east-1', credentials: { ...credentials }, maxAttempts: 1 });
  await iam.send(new CreateUserCommand({ UserName: 'ci-puller' }));
  await iam.send(new PutUserPolicyCommand({ UserName: 'ci-puller', PolicyName: 'pull', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'ecr:*', Resource: '*' }] }) }));
  const key = (await iam.send(new CreateAccessKeyCommand({ UserName: 'ci-puller' }))).AccessKey!;
  puller = { accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! };
  iam.destroy();
  await server.client.send(new CreateRepositoryCommand({ repositoryName: repo }));
});
after(() => server.stop());

const adminBasic = async () => `Basic ${Buffer.from(`AWS:${await loginPassword(server, credentials)}`).toString('base64')}`;

async function pushImage(tag: string): Promise<string> {
  // /v2 needs a login here (auth.v2): push as the administrator through a Basic header.
  const auth = await adminBasic();
  const original = globalThis.fetch;
  globalThis.fetch = ((input: RequestInfo | URL, init: RequestInit = {}) => original(input, { ...init, headers: { ...(init.headers as Record<string, string>), authorization: auth } })) as typeof fetch;
  try {
    const image = await prepareImage(server, repo, tag);
    const res = await putManifestV2(server, repo, tag, image.manifest);
    assert.equal(res.status, 201);
    return image.digest;
  } finally {
    globalThis.fetch = original;
  }
}

async function pullTime(tag: string): Promise<Date | undefined> {
  const details = await server.client.send(new DescribeImagesCommand({ repositoryName: repo, imageIds: [{ imageTag: tag }] }));
  return details.imageDetails?.[0]?.lastRecordedPullTime;
}

/** The /v2 pull hook records asynchronously: wait a moment for a write that may come. */
const settle = () => new Promise((r) => setTimeout(r, 300));

test('Register, List (paged) and Deregister, with ECR shapes and errors', async () => {
  const registered = await server.client.send(new RegisterPullTimeUpdateExclusionCommand({ principalArn: pullerArn }));
  assert.equal(registered.principalArn, pullerArn);
  assert.ok(registered.createdAt instanceof Date, 'createdAt is a timestamp');
  await rejectsWith(server.client.send(new RegisterPullTimeUpdateExclusionCommand({ principalArn: pullerArn })), 'ExclusionAlreadyExistsException');
  await rejectsWith(server.client.send(new RegisterPullTimeUpdateExclusionCommand({ principalArn: 'arn:aws:iam::000000000000:root' })), 'InvalidParameterException', /principalArn/);
  await rejectsWith(server.client.send(new RegisterPullTimeUpdateExclusionCommand({ principalArn: 'arn:aws:sts::000000000000:assumed-role/r/s' })), 'InvalidParameterException');
  await rejectsWith(server.client.send(new DeregisterPullTimeUpdateExclusionCommand({ principalArn: 'arn:aws:iam::000000000000:role/never' })), 'ExclusionNotFoundException');
  for (let i = 0; i < 99; i++) await server.client.send(new RegisterPullTimeUpdateExclusionCommand({ principalArn: `arn:aws:iam::000000000000:role/r${String(i).padStart(2, '0')}` }));
  const full = await rejectsWith(server.client.send(new RegisterPullTimeUpdateExclusionCommand({ principalArn: 'arn:aws:iam::000000000000:role/one-too-many' })), 'LimitExceededException');
  assert.equal(full.$metadata?.httpStatusCode, 400);
  const seen: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await server.client.send(new ListPullTimeUpdateExclusionsCommand({ maxResults: 30, ...(nextToken ? { nextToken } : {}) }));
    assert.ok(page.pullTimeUpdateExclusions!.length <= 30);
    seen.push(...page.pullTimeUpdateExclusions!);
    nextToken = page.nextToken;
  } while (nextToken);
  assert.equal(seen.length, 100);
  assert.equal(new Set(seen).size, 100);
  assert.ok(seen.includes(pullerArn));
  for (let i = 0; i < 99; i++) await server.client.send(new DeregisterPullTimeUpdateExclusionCommand({ principalArn: `arn:aws:iam::000000000000:role/r${String(i).padStart(2, '0')}` }));
  assert.deepEqual((await server.client.send(new ListPullTimeUpdateExclusionsCommand({}))).pullTimeUpdateExclusions, [pullerArn]);
});

test('pulls by an excluded principal (BatchGetImage and /v2) leave lastRecordedPullTime alone; others refresh it', async () => {
  const excluded = new ECRClient({ endpoint: server.url, region: 'us-east-1', credentials: { ...puller }, maxAttempts: 1 });
  try {
    await pushImage('api');
    await pushImage('v2');
    // Over the ECR API.
    const got = await excluded.send(new BatchGetImageCommand({ repositoryName: repo, imageIds: [{ imageTag: 'api' }] }));
    assert.equal(got.images?.length, 1, 'the pull itself succeeds');
    assert.equal(await pullTime('api'), undefined, 'an excluded BatchGetImage records nothing');
    // Over /v2, logged in as the excluded user.
    const basic = `Basic ${Buffer.from(`AWS:${await loginPassword(server, puller)}`).toString('base64')}`;
    const res = await fetch(`${server.url}/v2/${repo}/manifests/v2`, { headers: { authorization: basic, accept: 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    await settle();
    assert.equal(await pullTime('v2'), undefined, 'an excluded /v2 pull records nothing');
    // The administrator is not excluded: its pulls are recorded.
    await server.client.send(new BatchGetImageCommand({ repositoryName: repo, imageIds: [{ imageTag: 'api' }] }));
    assert.ok((await pullTime('api')) instanceof Date);
    const adminPull = await fetch(`${server.url}/v2/${repo}/manifests/v2`, { headers: { authorization: await adminBasic(), accept: 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(adminPull.status, 200);
    await adminPull.arrayBuffer();
    let recorded: Date | undefined;
    for (let i = 0; i < 20 && !recorded; i++) {
      recorded = await pullTime('v2');
      if (!recorded) await settle();
    }
    assert.ok(recorded instanceof Date, 'a /v2 pull by someone else records the time');
    // Deregistered: the user's pulls count again.
    await server.client.send(new DeregisterPullTimeUpdateExclusionCommand({ principalArn: pullerArn }));
    await pushImage('again');
    await excluded.send(new BatchGetImageCommand({ repositoryName: repo, imageIds: [{ imageTag: 'again' }] }));
    assert.ok((await pullTime('again')) instanceof Date);
  } finally {
    excluded.destroy();
  }
});

test('boto3 (botocore model) speaks the three operations; the aws CLI v1 is checked for them', async () => {
  const script = `
import boto3, sys, json
c = boto3.client('ecr', endpoint_url=sys.argv[1], region_name='us-east-1')
arn = 'arn:aws:iam::000000000000:role/boto-role'
r = c.register_pull_time_update_exclusion(principalArn=arn)
l = c.list_pull_time_update_exclusions()
d = c.deregister_pull_time_update_exclusion(principalArn=arn)
try:
    c.deregister_pull_time_update_exclusion(principalArn=arn)
    err = None
except c.exceptions.ExclusionNotFoundException as e:
    err = e.response['Error']['Code']
print(json.dumps({'registered': r['principalArn'], 'created': bool(r['createdAt']), 'listed': l['pullTimeUpdateExclusions'], 'deregistered': d['principalArn'], 'again': err}))
`;
  const { stdout } = await promisify(execFile)('python3', ['-c', script, server.url], { env: awsCliEnv, timeout: 60_000 });
  const out = JSON.parse(stdout) as { registered: string; created: boolean; listed: string[]; deregistered: string; again: string };
  assert.deepEqual(out, { registered: 'arn:aws:iam::000000000000:role/boto-role', created: true, listed: ['arn:aws:iam::000000000000:role/boto-role'], deregistered: 'arn:aws:iam::000000000000:role/boto-role', again: 'ExclusionNotFoundException' });
  const cli = await promisify(execFile)(awsBinary, ['ecr', 'register-pull-time-update-exclusion', '--principal-arn', 'arn:aws:iam::000000000000:role/cli-role', '--endpoint-url', server.url, '--output', 'json'], { env: awsCliEnv, timeout: 60_000 });
  assert.equal(JSON.parse(cli.stdout).principalArn, 'arn:aws:iam::000000000000:role/cli-role');
  const listed = await promisify(execFile)(awsBinary, ['ecr', 'list-pull-time-update-exclusions', '--endpoint-url', server.url, '--output', 'json'], { env: awsCliEnv, timeout: 60_000 });
  assert.deepEqual(JSON.parse(listed.stdout).pullTimeUpdateExclusions, ['arn:aws:iam::000000000000:role/cli-role']);
});
