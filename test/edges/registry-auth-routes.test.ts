import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { CreateAccessKeyCommand, CreateUserCommand, IAMClient, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import { startBerth, type TestServer } from '../helpers/server.js';

// Every /v2 route, every method: with auth.v2 on, anonymous requests get 401 and a
// logged-in user whose policies grant nothing in ECR gets 403 (or 401 only for nothing),
// and the refusal happens before the registry touches anything.
const ADMIN = { accessKeyId: 'AKIABERTHTESTADMIN05', secretAccessKey: 'berth-test-admin-secret-routes-000001' };
const DIGEST = `sha256:${'a'.repeat(64)}`;

const routes: Array<[string, string]> = [
  ['GET', '/v2/_catalog'],
  ['POST', '/v2/app/blobs/uploads/'],
  ['POST', `/v2/app/blobs/uploads/?mount=${DIGEST}&from=other`],
  ['POST', `/v2/app/blobs/uploads/?digest=${DIGEST}`],
  ['GET', '/v2/app/blobs/uploads/some-id'],
  ['PATCH', '/v2/app/blobs/uploads/some-id'],
  ['PUT', `/v2/app/blobs/uploads/some-id?digest=${DIGEST}`],
  ['DELETE', '/v2/app/blobs/uploads/some-id'],
  ['GET', `/v2/app/blobs/${DIGEST}`],
  ['HEAD', `/v2/app/blobs/${DIGEST}`],
  ['DELETE', `/v2/app/blobs/${DIGEST}`],
  ['GET', '/v2/app/manifests/latest'],
  ['HEAD', '/v2/app/manifests/latest'],
  ['PUT', '/v2/app/manifests/latest'],
  ['DELETE', `/v2/app/manifests/${DIGEST}`],
  ['GET', '/v2/app/tags/list'],
  ['GET', `/v2/app/referrers/${DIGEST}`],
  ['GET', '/v2/team/sub/app/manifests/v1'],
];

let server: TestServer;
let nobodyAuth: string;

before(async () => {
  server = await startBerth({ registryId: '123456789012', bootstrap: ADMIN, auth: { v2: true } });
  const iam = new IAMClient({ endpoint: server.url, region: 'us-east-1', credentials: ADMIN, maxAttempts: 1 });
  await iam.send(new CreateUserCommand({ UserName: 'login-only' }));
  await iam.send(new PutUserPolicyCommand({ UserName: 'login-only', PolicyName: 'p', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'ecr:GetAuthorizationToken', Resource: '*' }] }) }));
  const key = (await iam.send(new CreateAccessKeyCommand({ UserName: 'login-only' }))).AccessKey!;
  const ecr = new ECRClient({ endpoint: server.url, region: 'us-east-1', credentials: { accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! }, maxAttempts: 1 });
  nobodyAuth = `Basic ${(await ecr.send(new GetAuthorizationTokenCommand({}))).authorizationData![0]!.authorizationToken}`;
});
after(() => server.stop());

for (const [method, path] of routes) {
  test(`${method} ${path}: anonymous 401, no permission 403`, async () => {
    const body = method === 'PUT' || method === 'PATCH' ? 'x' : undefined;
    let res = await fetch(server.url + path, { method, ...(body ? { body } : {}) });
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate') ?? '', /^Basic /);
    res = await fetch(server.url + path, { method, headers: { authorization: nobodyAuth }, ...(body ? { body } : {}) });
    assert.equal(res.status, 403);
    if (method !== 'HEAD') assert.equal((await res.json()).errors[0].code, 'DENIED');
  });
}

test('nothing was created by the refused requests', async () => {
  const meta = server.berth.meta;
  assert.equal(await meta.getRepository('123456789012', 'app'), null);
});
