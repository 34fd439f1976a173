import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  BatchGetImageCommand,
  CreateRepositoryCommand,
  CreateRepositoryCreationTemplateCommand,
  DescribeRepositoriesCommand,
  ECRClient,
  ListTagsForResourceCommand,
} from '@aws-sdk/client-ecr';
import { rejectsWith } from '../ecr/helpers.js';
import { createTestUser, policy, type TestCredentials } from '../helpers/principals.js';
import { run } from '../helpers/process.js';
import { startBerth, testAdmin, type TestServer } from '../helpers/server.js';
import { requireTool } from '../helpers/tools.js';
import { basic, ecrPost, loginPassword, OCI_MANIFEST, pushRaw, sha, skopeoLogin, tinyImage } from './helpers.js';

// /v2 and the ECR API authorize with the same facts: a policy decides the same way
// whether the caller uses the aws CLI / SDK or a registry client (skopeo, plain /v2).
const A = '000000000000';
const LOGIN = { Effect: 'Allow', Action: 'ecr:GetAuthorizationToken', Resource: '*' };
const PULL = ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability', 'ecr:ListImages'];
const PUSH = ['ecr:InitiateLayerUpload', 'ecr:UploadLayerPart', 'ecr:CompleteLayerUpload', 'ecr:BatchCheckLayerAvailability', 'ecr:PutImage'];

interface OciAnswer {
  status: number;
  contentType: string | null;
  code: string | undefined;
  message: string | undefined;
}

async function v2(url: string, auth: string, init: RequestInit = {}): Promise<OciAnswer> {
  const res = await fetch(url, { ...init, headers: { authorization: auth, ...(init.headers as Record<string, string> | undefined) } });
  const text = await res.text();
  let error: { code?: string; message?: string } | undefined;
  try {
    error = (JSON.parse(text) as { errors?: Array<{ code: string; message: string }> }).errors?.[0];
  } catch {
    error = undefined;
  }
  return { status: res.status, contentType: res.headers.get('content-type'), code: error?.code, message: error?.message };
}

function assertDenied(answer: OciAnswer, action: RegExp, label: string): void {
  assert.equal(answer.status, 403, label);
  assert.match(answer.contentType ?? '', /^application\/json/, label);
  assert.equal(answer.code, 'DENIED', label);
  assert.match(answer.message ?? '', action, label);
}

describe('/v2 and the ECR API decide alike', () => {
  let server: TestServer;
  let admin: ECRClient;
  let adminAuth: string;
  const clientFor = (credentials: TestCredentials) => new ECRClient({ endpoint: server.url, region: 'us-east-1', credentials: { ...credentials }, maxAttempts: 1 });
  const loginAs = async (name: string, ...statements: object[]) => {
    const credentials = await createTestUser(server.berth, A, name, { inline: [policy(LOGIN, ...statements)] });
    return { credentials, auth: basic(await loginPassword(server, credentials)), ecr: clientFor(credentials) };
  };
  const notExists = async (name: string) => rejectsWith(admin.send(new DescribeRepositoriesCommand({ repositoryNames: [name] })), 'RepositoryNotFoundException');

  before(async () => {
    server = await startBerth({ auth: { v2: true } });
    admin = clientFor(testAdmin);
    adminAuth = basic(await loginPassword(server, { ...testAdmin }));
    await admin.send(new CreateRepositoryCommand({ repositoryName: 'blue/app', tags: [{ Key: 'team', Value: 'blue' }] }));
    await admin.send(new CreateRepositoryCommand({ repositoryName: 'red/app', tags: [{ Key: 'team', Value: 'red' }] }));
    await admin.send(new CreateRepositoryCommand({ repositoryName: 'arn/x' }));
    await admin.send(new CreateRepositoryCommand({ repositoryName: 'arn/y' }));
    for (const repo of ['blue/app', 'red/app', 'arn/x', 'arn/y']) assert.equal(await pushRaw(server.url, adminAuth, repo, 'v1', tinyImage(repo)), 201, repo);
  });
  after(async () => {
    admin.destroy();
    await server.stop();
  });

  for (const key of ['aws:ResourceTag/team', 'ecr:ResourceTag/team']) {
    test(`${key}: pull where team = blue only, on /v2 and on the ECR API`, async () => {
      const user = await loginAs(`by-${key.split(':')[0]}-tag`, { Effect: 'Allow', Action: PULL, Resource: '*', Condition: { StringEquals: { [key]: 'blue' } } });
      try {
        const blue = tinyImage('blue/app');
        const manifest = await v2(`${server.url}/v2/blue/app/manifests/v1`, user.auth, { headers: { accept: OCI_MANIFEST } });
        assert.equal(manifest.status, 200);
        assert.equal((await v2(`${server.url}/v2/blue/app/blobs/${sha(blue.layer)}`, user.auth)).status, 200);
        assert.equal((await v2(`${server.url}/v2/blue/app/blobs/${sha(blue.layer)}`, user.auth, { method: 'HEAD' })).status, 200);
        assert.equal((await v2(`${server.url}/v2/blue/app/tags/list`, user.auth)).status, 200);

        const red = tinyImage('red/app');
        assertDenied(await v2(`${server.url}/v2/red/app/manifests/v1`, user.auth), /ecr:BatchGetImage on resource: arn:aws:ecr:us-east-1:000000000000:repository\/red\/app because no identity-based policy allows/, 'red manifest');
        assertDenied(await v2(`${server.url}/v2/red/app/blobs/${sha(red.layer)}`, user.auth), /ecr:GetDownloadUrlForLayer/, 'red blob');
        assertDenied(await v2(`${server.url}/v2/red/app/tags/list`, user.auth), /ecr:ListImages/, 'red tags');

        // The same policy on the ECR API.
        const got = await user.ecr.send(new BatchGetImageCommand({ repositoryName: 'blue/app', imageIds: [{ imageTag: 'v1' }] }));
        assert.equal(got.images![0]!.imageId!.imageDigest, sha(blue.manifest));
        await rejectsWith(user.ecr.send(new BatchGetImageCommand({ repositoryName: 'red/app', imageIds: [{ imageTag: 'v1' }] })), 'AccessDeniedException', /ecr:BatchGetImage on resource: arn:aws:ecr:us-east-1:000000000000:repository\/red\/app/);
      } finally {
        user.ecr.destroy();
      }
    });
  }

  test('skopeo pulls the blue repository and is refused the red one', async (t) => {
    if (!requireTool(t, 'skopeo')) return;
    const user = await loginAs('skopeo-by-tag', { Effect: 'Allow', Action: PULL, Resource: '*', Condition: { StringEquals: { 'aws:ResourceTag/team': 'blue' } } });
    user.ecr.destroy();
    const work = await mkdtemp(join(tmpdir(), 'berth-parity-'));
    try {
      const env = { PATH: process.env.PATH!, HOME: work };
      const authfile = join(work, 'auth.json');
      await skopeoLogin(authfile, server.host, await loginPassword(server, user.credentials), env);
      const copy = (repo: string) =>
        run('skopeo', ['--insecure-policy', 'copy', '--authfile', authfile, '--src-tls-verify=false', `docker://${server.host}/${repo}:v1`, `oci:${join(work, repo.replace('/', '-'))}:v1`], { env, timeoutMs: 30_000 });
      const blue = await copy('blue/app');
      assert.equal(blue.code, 0, blue.stderr);
      const red = await copy('red/app');
      assert.notEqual(red.code, 0);
      assert.match(red.stderr, /denied|403/i);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });

  test('create-on-push needs ecr:CreateRepository: without it DENIED names the action and nothing is created', async () => {
    const pusher = await loginAs('push-only', { Effect: 'Allow', Action: PUSH, Resource: '*' });
    const creator = await loginAs('push-and-create', { Effect: 'Allow', Action: [...PUSH, 'ecr:CreateRepository'], Resource: '*' });
    try {
      const image = tinyImage('fresh');
      // Starting an upload and putting a manifest are the requests that create.
      const start = await v2(`${server.url}/v2/fresh/app/blobs/uploads/`, pusher.auth, { method: 'POST' });
      assertDenied(start, /ecr:CreateRepository on resource: arn:aws:ecr:us-east-1:000000000000:repository\/fresh\/app because no identity-based policy allows the ecr:CreateRepository action \(the repository does not exist/, 'POST upload');
      const put = await v2(`${server.url}/v2/fresh/app/manifests/v1`, pusher.auth, { method: 'PUT', headers: { 'content-type': OCI_MANIFEST }, body: new Uint8Array(image.manifest) });
      assertDenied(put, /ecr:CreateRepository/, 'PUT manifest');
      assert.equal(await pushRaw(server.url, pusher.auth, 'fresh/app', 'v1', image), 403);
      await notExists('fresh/app');

      // With ecr:CreateRepository the push creates it; into an existing repository push actions suffice.
      assert.equal(await pushRaw(server.url, creator.auth, 'fresh/app', 'v1', image), 201);
      const [repo] = (await admin.send(new DescribeRepositoriesCommand({ repositoryNames: ['fresh/app'] }))).repositories!;
      assert.equal(repo!.repositoryArn, 'arn:aws:ecr:us-east-1:000000000000:repository/fresh/app');
      assert.equal(await pushRaw(server.url, pusher.auth, 'fresh/app', 'v2', tinyImage('fresh-2')), 201);
    } finally {
      pusher.ecr.destroy();
      creator.ecr.destroy();
    }
  });

  test('a creation template that adds tags also needs ecr:TagResource, with the tags as aws:RequestTag', async () => {
    await admin.send(new CreateRepositoryCreationTemplateCommand({ prefix: 'blue-team', appliedFor: ['CREATE_ON_PUSH'], resourceTags: [{ Key: 'team', Value: 'blue' }] }));
    await admin.send(new CreateRepositoryCreationTemplateCommand({ prefix: 'red-team', appliedFor: ['CREATE_ON_PUSH'], resourceTags: [{ Key: 'team', Value: 'red' }] }));
    const creator = await loginAs('create-no-tag', { Effect: 'Allow', Action: [...PUSH, 'ecr:CreateRepository'], Resource: '*' });
    const blueOnly = await loginAs('create-blue', { Effect: 'Allow', Action: PUSH, Resource: '*' }, { Effect: 'Allow', Action: ['ecr:CreateRepository', 'ecr:TagResource'], Resource: '*', Condition: { StringEquals: { 'aws:RequestTag/team': 'blue' } } });
    try {
      assertDenied(await v2(`${server.url}/v2/blue-team/app/blobs/uploads/`, creator.auth, { method: 'POST' }), /ecr:TagResource on resource: arn:aws:ecr:us-east-1:000000000000:repository\/blue-team\/app/, 'no TagResource');
      await notExists('blue-team/app');

      assertDenied(await v2(`${server.url}/v2/red-team/app/blobs/uploads/`, blueOnly.auth, { method: 'POST' }), /ecr:CreateRepository/, 'red tags');
      await notExists('red-team/app');
      assert.equal(await pushRaw(server.url, blueOnly.auth, 'blue-team/app', 'v1', tinyImage('blue-team')), 201);
      const [repo] = (await admin.send(new DescribeRepositoriesCommand({ repositoryNames: ['blue-team/app'] }))).repositories!;
      assert.deepEqual((await admin.send(new ListTagsForResourceCommand({ resourceArn: repo!.repositoryArn }))).tags, [{ Key: 'team', Value: 'blue' }]);
    } finally {
      creator.ecr.destroy();
      blueOnly.ecr.destroy();
    }
  });

  test('a policy naming the repository ARN in the configured region matches on both paths; another region matches neither', async () => {
    const named = await loginAs('by-arn', { Effect: 'Allow', Action: PULL, Resource: `arn:aws:ecr:us-east-1:${A}:repository/arn/x` });
    const elsewhere = await loginAs('by-other-region', { Effect: 'Allow', Action: PULL, Resource: `arn:aws:ecr:eu-west-1:${A}:repository/arn/x` });
    try {
      assert.equal((await v2(`${server.url}/v2/arn/x/manifests/v1`, named.auth, { headers: { accept: OCI_MANIFEST } })).status, 200);
      assertDenied(await v2(`${server.url}/v2/arn/y/manifests/v1`, named.auth), /repository\/arn\/y/, 'other repository');
      await named.ecr.send(new BatchGetImageCommand({ repositoryName: 'arn/x', imageIds: [{ imageTag: 'v1' }] }));
      await rejectsWith(named.ecr.send(new BatchGetImageCommand({ repositoryName: 'arn/y', imageIds: [{ imageTag: 'v1' }] })), 'AccessDeniedException');

      assertDenied(await v2(`${server.url}/v2/arn/x/manifests/v1`, elsewhere.auth), /arn:aws:ecr:us-east-1:000000000000:repository\/arn\/x/, 'eu-west-1 ARN');
      await rejectsWith(elsewhere.ecr.send(new BatchGetImageCommand({ repositoryName: 'arn/x', imageIds: [{ imageTag: 'v1' }] })), 'AccessDeniedException');
    } finally {
      named.ecr.destroy();
      elsewhere.ecr.destroy();
    }
  });
});

test('another configured region: ARNs in policies and answers use it; requests signed for another region are refused', async () => {
  const server = await startBerth({ region: 'eu-central-1', auth: { v2: true } });
  const admin = new ECRClient({ endpoint: server.url, region: 'eu-central-1', credentials: { ...testAdmin }, maxAttempts: 1 });
  try {
    const created = await admin.send(new CreateRepositoryCommand({ repositoryName: 'app/x' }));
    assert.equal(created.repository!.repositoryArn, `arn:aws:ecr:eu-central-1:${A}:repository/app/x`);
    assert.equal(await pushRaw(server.url, basic(await loginPassword(server, { ...testAdmin })), 'app/x', 'v1', tinyImage('region')), 201);

    const credentials = await createTestUser(server.berth, A, 'regional', { inline: [policy(LOGIN, { Effect: 'Allow', Action: PULL, Resource: `arn:aws:ecr:eu-central-1:${A}:repository/app/x` })] });
    const auth = basic(await loginPassword(server, credentials));
    assert.equal((await v2(`${server.url}/v2/app/x/manifests/v1`, auth, { headers: { accept: OCI_MANIFEST } })).status, 200);
    const user = new ECRClient({ endpoint: server.url, region: 'eu-central-1', credentials: { ...credentials }, maxAttempts: 1 });
    try {
      await user.send(new BatchGetImageCommand({ repositoryName: 'app/x', imageIds: [{ imageTag: 'v1' }] }));
    } finally {
      user.destroy();
    }

    // Signed for us-east-1: another ECR endpoint's business.
    const wrong = await ecrPost(server.url, 'DescribeRepositories', {}, credentials);
    assert.equal(wrong.status, 403);
    assert.equal(wrong.type, 'InvalidSignatureException');
    assert.match(wrong.body.message!, /^Credential should be scoped to a valid region, not 'us-east-1'\. This registry serves the region 'eu-central-1'\.$/);
  } finally {
    admin.destroy();
    await server.stop();
  }
});
