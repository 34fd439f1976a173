import { HttpRequest } from '@smithy/protocol-http';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  CreateRepositoryCommand,
  DeleteRepositoryCommand,
  DescribeRepositoriesCommand,
  ListTagsForResourceCommand,
  PutImageScanningConfigurationCommand,
  PutImageTagMutabilityCommand,
  TagResourceCommand,
  UntagResourceCommand,
} from '@aws-sdk/client-ecr';
import { credentials, prepareImage, putManifestV2, rejectsWith, startEcr, type EcrTestServer } from './helpers.js';

let server: EcrTestServer;
before(async () => {
  server = await startEcr();
});
after(() => server.stop());

test('CreateRepository records settings and tags; DescribeRepositories shows them', async () => {
  const created = await server.client.send(
    new CreateRepositoryCommand({
      repositoryName: 'team/app',
      tags: [{ Key: 'owner', Value: 'team-a' }],
      imageTagMutability: 'IMMUTABLE_WITH_EXCLUSION',
      imageTagMutabilityExclusionFilters: [{ filterType: 'WILDCARD', filter: 'latest' }],
      imageScanningConfiguration: { scanOnPush: true },
      encryptionConfiguration: { encryptionType: 'KMS' },
    }),
  );
  const repo = created.repository!;
  assert.equal(created.$metadata.httpStatusCode, 200);
  assert.equal(repo.repositoryName, 'team/app');
  assert.equal(repo.registryId, '000000000000');
  assert.equal(repo.repositoryArn, 'arn:aws:ecr:us-east-1:000000000000:repository/team/app');
  assert.equal(repo.repositoryUri, `${server.host}/team/app`);
  assert.ok(repo.createdAt instanceof Date && Math.abs(repo.createdAt.getTime() - Date.now()) < 60_000);
  assert.equal(repo.imageTagMutability, 'IMMUTABLE_WITH_EXCLUSION');
  assert.deepEqual(repo.imageTagMutabilityExclusionFilters, [{ filterType: 'WILDCARD', filter: 'latest' }]);
  assert.deepEqual(repo.imageScanningConfiguration, { scanOnPush: true });
  // KMS without a kmsKey: the AWS managed key alias/aws/ecr, made on first use, reported by its key ARN.
  assert.equal(repo.encryptionConfiguration?.encryptionType, 'KMS');
  assert.match(repo.encryptionConfiguration?.kmsKey ?? '', /^arn:aws:kms:us-east-1:000000000000:key\/[0-9a-f-]{36}$/);

  const described = await server.client.send(new DescribeRepositoriesCommand({ repositoryNames: ['team/app'] }));
  assert.deepEqual(described.repositories, [repo]);
  const tags = await server.client.send(new ListTagsForResourceCommand({ resourceArn: repo.repositoryArn }));
  assert.deepEqual(tags.tags, [{ Key: 'owner', Value: 'team-a' }]);

  await rejectsWith(server.client.send(new CreateRepositoryCommand({ repositoryName: 'team/app' })), 'RepositoryAlreadyExistsException', /team\/app/);
});

test('CreateRepository rejects bad names, enums, filter pairings and encryption combinations', async () => {
  await rejectsWith(server.client.send(new CreateRepositoryCommand({ repositoryName: 'Upper' })), 'InvalidParameterException', /repositoryName/);
  await rejectsWith(server.client.send(new CreateRepositoryCommand({ repositoryName: 'a'.repeat(257) })), 'ValidationException', /length less than or equal to 256/);
  await rejectsWith(server.client.send(new CreateRepositoryCommand({ repositoryName: 'xyz', imageTagMutability: 'SOMETIMES' as never })), 'InvalidParameterException', /^Invalid parameter at 'imageTagMutability' failed to satisfy constraint: 'Member must satisfy enum value set: \[MUTABLE, IMMUTABLE, IMMUTABLE_WITH_EXCLUSION, MUTABLE_WITH_EXCLUSION\]'$/);
  await rejectsWith(
    server.client.send(new CreateRepositoryCommand({ repositoryName: 'pairing', imageTagMutability: 'IMMUTABLE_WITH_EXCLUSION' })),
    'InvalidParameterException',
    /imageTagMutabilityExclusionFilters/,
  );
  await rejectsWith(
    server.client.send(new CreateRepositoryCommand({ repositoryName: 'pairing', imageTagMutability: 'MUTABLE', imageTagMutabilityExclusionFilters: [{ filterType: 'WILDCARD', filter: 'v*' }] })),
    'InvalidParameterException',
    /only be given with/,
  );
  await rejectsWith(
    server.client.send(new CreateRepositoryCommand({ repositoryName: 'pairing', encryptionConfiguration: { encryptionType: 'AES256', kmsKey: 'k' } })),
    'InvalidParameterException',
    /kmsKey/,
  );
  await rejectsWith(server.client.send(new CreateRepositoryCommand({ repositoryName: 'tagged', tags: [{ Key: 'aws:reserved', Value: 'v' }] })), 'InvalidTagParameterException', /aws:/);
  const many = Array.from({ length: 51 }, (_, i) => ({ Key: `k${i}`, Value: 'v' }));
  await rejectsWith(server.client.send(new CreateRepositoryCommand({ repositoryName: 'tagged', tags: many })), 'TooManyTagsException');
  // Nothing was created by the failures.
  await rejectsWith(server.client.send(new DescribeRepositoriesCommand({ repositoryNames: ['pairing'] })), 'RepositoryNotFoundException');
  await rejectsWith(server.client.send(new DescribeRepositoriesCommand({ repositoryNames: ['tagged'] })), 'RepositoryNotFoundException');
});

test('TagResource, UntagResource and ListTagsForResource keep at most 50 tags', async () => {
  const { repository } = await server.client.send(new CreateRepositoryCommand({ repositoryName: 'tags/repo' }));
  const arn = repository!.repositoryArn!;
  await server.client.send(new TagResourceCommand({ resourceArn: arn, tags: [{ Key: 'a', Value: '1' }, { Key: 'b', Value: '2' }] }));
  await server.client.send(new TagResourceCommand({ resourceArn: arn, tags: [{ Key: 'a', Value: 'one' }] }));
  await server.client.send(new UntagResourceCommand({ resourceArn: arn, tagKeys: ['b'] }));
  assert.deepEqual((await server.client.send(new ListTagsForResourceCommand({ resourceArn: arn }))).tags, [{ Key: 'a', Value: 'one' }]);

  const fifty = Array.from({ length: 50 }, (_, i) => ({ Key: `k${i}`, Value: 'v' }));
  await rejectsWith(server.client.send(new TagResourceCommand({ resourceArn: arn, tags: fifty })), 'TooManyTagsException');
  assert.equal((await server.client.send(new ListTagsForResourceCommand({ resourceArn: arn }))).tags!.length, 1, 'a refused TagResource changes nothing');
  await rejectsWith(server.client.send(new TagResourceCommand({ resourceArn: arn, tags: [{ Key: 'x'.repeat(129), Value: 'v' }] })), 'InvalidTagParameterException');
  await rejectsWith(server.client.send(new ListTagsForResourceCommand({ resourceArn: 'not-an-arn' })), 'InvalidParameterException', /resourceArn/);
  await rejectsWith(
    server.client.send(new ListTagsForResourceCommand({ resourceArn: 'arn:aws:ecr:us-east-1:000000000000:repository/missing' })),
    'RepositoryNotFoundException',
  );
});

test('PutImageTagMutability and PutImageScanningConfiguration change the repository', async () => {
  await server.client.send(new CreateRepositoryCommand({ repositoryName: 'settings/repo' }));
  const mut = await server.client.send(
    new PutImageTagMutabilityCommand({ repositoryName: 'settings/repo', imageTagMutability: 'MUTABLE_WITH_EXCLUSION', imageTagMutabilityExclusionFilters: [{ filterType: 'WILDCARD', filter: 'release-*' }] }),
  );
  assert.equal(mut.imageTagMutability, 'MUTABLE_WITH_EXCLUSION');
  assert.equal(mut.repositoryName, 'settings/repo');
  assert.equal(mut.registryId, '000000000000');
  const scan = await server.client.send(new PutImageScanningConfigurationCommand({ repositoryName: 'settings/repo', imageScanningConfiguration: { scanOnPush: true } }));
  assert.deepEqual(scan.imageScanningConfiguration, { scanOnPush: true });
  const [repo] = (await server.client.send(new DescribeRepositoriesCommand({ repositoryNames: ['settings/repo'] }))).repositories!;
  assert.equal(repo!.imageTagMutability, 'MUTABLE_WITH_EXCLUSION');
  assert.deepEqual(repo!.imageTagMutabilityExclusionFilters, [{ filterType: 'WILDCARD', filter: 'release-*' }]);
  assert.deepEqual(repo!.imageScanningConfiguration, { scanOnPush: true });
  await rejectsWith(server.client.send(new PutImageTagMutabilityCommand({ repositoryName: 'nope/repo', imageTagMutability: 'MUTABLE' })), 'RepositoryNotFoundException');
});

test('DeleteRepository refuses a repository with images unless forced', async () => {
  await server.client.send(new CreateRepositoryCommand({ repositoryName: 'del/repo' }));
  const image = await prepareImage(server, 'del/repo', 'del');
  assert.equal((await putManifestV2(server, 'del/repo', 'v1', image.manifest)).status, 201);
  await rejectsWith(server.client.send(new DeleteRepositoryCommand({ repositoryName: 'del/repo' })), 'RepositoryNotEmptyException', /still contains images/);
  const deleted = await server.client.send(new DeleteRepositoryCommand({ repositoryName: 'del/repo', force: true }));
  assert.equal(deleted.repository!.repositoryName, 'del/repo');
  await rejectsWith(server.client.send(new DescribeRepositoriesCommand({ repositoryNames: ['del/repo'] })), 'RepositoryNotFoundException');
  assert.equal((await fetch(`${server.url}/v2/del/repo/manifests/v1`)).status, 404);
  await rejectsWith(server.client.send(new DeleteRepositoryCommand({ repositoryName: 'del/repo' })), 'RepositoryNotFoundException');

  await server.client.send(new CreateRepositoryCommand({ repositoryName: 'del/empty' }));
  await server.client.send(new DeleteRepositoryCommand({ repositoryName: 'del/empty' }));
});

test('DescribeRepositories pages with maxResults and nextToken and rejects misuse', async () => {
  for (let i = 0; i < 5; i++) await server.client.send(new CreateRepositoryCommand({ repositoryName: `page/r${i}` }));
  const names: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await server.client.send(new DescribeRepositoriesCommand({ maxResults: 2, nextToken }));
    assert.ok(page.repositories!.length <= 2);
    names.push(...page.repositories!.map((r) => r.repositoryName!));
    nextToken = page.nextToken;
  } while (nextToken);
  assert.deepEqual(names, [...names].sort());
  for (let i = 0; i < 5; i++) assert.ok(names.includes(`page/r${i}`));
  await rejectsWith(server.client.send(new DescribeRepositoriesCommand({ maxResults: 0 })), 'ValidationException', /greater than or equal to 1/);
  await rejectsWith(server.client.send(new DescribeRepositoriesCommand({ maxResults: 1001 })), 'ValidationException', /less than or equal to 1000/);
  await rejectsWith(server.client.send(new DescribeRepositoriesCommand({ nextToken: 'garbage' })), 'InvalidParameterException', /nextToken/);
  await rejectsWith(server.client.send(new DescribeRepositoriesCommand({ repositoryNames: ['page/r1'], maxResults: 1 })), 'InvalidParameterException', /repositoryNames/);
  // An account not hosted here shares nothing: denied as ECR denies it, not a parameter error.
  const denied = await rejectsWith(server.client.send(new DescribeRepositoriesCommand({ registryId: '123456789012' })), 'AccessDeniedException', /repository\/\* because no resource-based policy allows/);
  assert.equal(denied.$metadata?.httpStatusCode, 400);
});

/** POSTs a JSON 1.1 request signed (SigV4, service ecr) with the test administrator's key. */
async function signedPost(url: string, target: string, body: string, region = 'us-east-1', headers: Record<string, string> = {}) {
  const { hostname, port } = new URL(url);
  const signer = new SignatureV4({ service: 'ecr', region, credentials: { ...credentials }, sha256: Hash.bind(null, 'sha256') });
  const request = new HttpRequest({
    method: 'POST',
    protocol: 'http:',
    hostname,
    port: Number(port),
    path: '/',
    headers: { host: `${hostname}:${port}`, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': target },
    body,
  });
  const signed = await signer.sign(request);
  return fetch(`${url}/`, { method: 'POST', body, headers: { ...(signed.headers as Record<string, string>), ...headers } });
}

test('the wire protocol: unknown operations, unsigned requests, bad JSON, error headers', async () => {
  const post = (target: string, body: string, headers: Record<string, string> = {}) => signedPost(server.url, target, body, 'us-east-1', headers);
  let res = await post('AmazonEC2ContainerRegistry_V20150921.NoSuchThing', '{}');
  assert.equal(res.status, 400);
  assert.equal(res.headers.get('x-amzn-errortype'), 'UnknownOperationException');
  assert.equal(((await res.json()) as { __type: string }).__type, 'UnknownOperationException');

  res = await post('AmazonEC2ContainerRegistry_V20150921.DescribeRepositories', '{not json');
  assert.equal(res.status, 400);
  assert.equal(res.headers.get('x-amzn-errortype'), 'SerializationException');
  assert.match(res.headers.get('x-amzn-requestid') ?? '', /^[0-9a-f-]{36}$/);

  res = await post('AmazonEC2ContainerRegistry_V20150921.CreateRepository', '{}');
  assert.equal(res.status, 400);
  const body = (await res.json()) as { __type: string; message: string };
  assert.deepEqual(body, { __type: 'ValidationException', message: "1 validation error detected: Value null at 'repositoryName' failed to satisfy constraint: Member must not be null" });

  res = await post('AmazonEC2ContainerRegistry_V20150921.CreateRepository', JSON.stringify({ repositoryName: 'region/check' }));
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/x-amz-json-1.1');
  const created = (await res.json()) as { repository: { repositoryArn: string; createdAt: number } };
  assert.equal(created.repository.repositoryArn, 'arn:aws:ecr:us-east-1:000000000000:repository/region/check', 'the configured region');
  assert.equal(typeof created.repository.createdAt, 'number', 'timestamps are epoch seconds');

  // Signed for another region: that would be another ECR endpoint (another registry), so it
  // is refused as AWS refuses it, naming the region this one serves; nothing is created.
  res = await signedPost(server.url, 'AmazonEC2ContainerRegistry_V20150921.CreateRepository', JSON.stringify({ repositoryName: 'region/other' }), 'eu-west-1');
  assert.equal(res.status, 403);
  assert.equal(res.headers.get('x-amzn-errortype'), 'InvalidSignatureException');
  assert.deepEqual(await res.json(), {
    __type: 'InvalidSignatureException',
    message: "Credential should be scoped to a valid region, not 'eu-west-1'. This registry serves the region 'us-east-1'.",
  });
  res = await post('AmazonEC2ContainerRegistry_V20150921.DescribeRepositories', JSON.stringify({ repositoryNames: ['region/other'] }));
  assert.equal(res.headers.get('x-amzn-errortype'), 'RepositoryNotFoundException');

  // Unsigned, badly signed and unknown-key requests get AWS's own authentication errors.
  const plain = (target: string, headers: Record<string, string>) =>
    fetch(`${server.url}/`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': target, ...headers } });
  res = await plain('AmazonEC2ContainerRegistry_V20150921.DescribeRepositories', {});
  assert.equal(res.status, 403);
  assert.equal(res.headers.get('x-amzn-errortype'), 'MissingAuthenticationTokenException');
  res = await plain('AmazonEC2ContainerRegistry_V20150921.DescribeRepositories', {
    authorization: `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/20260101/eu-west-1/ecr/aws4_request, SignedHeaders=host;x-amz-date, Signature=${'0'.repeat(64)}`,
    'x-amz-date': new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, ''),
  });
  assert.equal(res.status, 403);
  assert.match(res.headers.get('x-amzn-errortype') ?? '', /^(InvalidSignatureException|IncompleteSignatureException)$/);
  const tampered = await signedPost(server.url, 'AmazonEC2ContainerRegistry_V20150921.DescribeRepositories', '{}', 'us-east-1', { 'x-amz-target': 'AmazonEC2ContainerRegistry_V20150921.DeleteRepository' });
  assert.equal(tampered.status, 403);
  assert.equal(tampered.headers.get('x-amzn-errortype'), 'InvalidSignatureException', 'a signed header changed after signing');
});

test('ecr.enabled=false: ECR operations are unknown, other AWS services still answer', async () => {
  const off = await startEcr({ ecr: { enabled: false } });
  try {
    const res = await signedPost(off.url, 'AmazonEC2ContainerRegistry_V20150921.DescribeRepositories', '{}');
    assert.equal(res.status, 400);
    assert.equal(res.headers.get('x-amzn-errortype'), 'UnknownOperationException');
  } finally {
    await off.stop();
  }
});

