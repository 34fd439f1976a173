import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  BatchDeleteImageCommand,
  BatchGetImageCommand,
  CreateRepositoryCommand,
  DescribeImagesCommand,
  GetRepositoryPolicyCommand,
  ListImagesCommand,
  ListTagsForResourceCommand,
  PutImageCommand,
  PutImageTagMutabilityCommand,
  SetRepositoryPolicyCommand,
} from '@aws-sdk/client-ecr';
import { ECRClient } from '@aws-sdk/client-ecr';
import { ecrPost } from '../security/helpers.js';
import { credentials, prepareImage, rejectsWith, startEcr, type EcrTestServer } from './helpers.js';

// Where ECR's own answers are exact and clients or test suites compare them (issue 19):
// enums, PutImage without a media type, repository policy Sids and wording, batch failure
// reasons, the bad-ARN message, the content type and size of requests, SigV4 statuses.

let server: EcrTestServer;
const repo = 'exact/ecr';
before(async () => {
  server = await startEcr();
  await server.client.send(new CreateRepositoryCommand({ repositoryName: repo }));
});
after(() => server.stop());

const enumMessage = (field: string, values: string) => new RegExp(`^Invalid parameter at '${field.replace(/\./g, '\\.')}' failed to satisfy constraint: 'Member must satisfy enum value set: \\[${values}\\]'$`);

test('an invalid enum is InvalidParameterException (HTTP 400), in ECR words', async () => {
  const mutability = 'MUTABLE, IMMUTABLE, IMMUTABLE_WITH_EXCLUSION, MUTABLE_WITH_EXCLUSION';
  let err = await rejectsWith(server.client.send(new CreateRepositoryCommand({ repositoryName: 'exact/enum', imageTagMutability: 'SOMETIMES' as never })), 'InvalidParameterException', enumMessage('imageTagMutability', mutability));
  assert.equal(err.$metadata?.httpStatusCode, 400);
  await rejectsWith(server.client.send(new PutImageTagMutabilityCommand({ repositoryName: repo, imageTagMutability: 'mutable' as never })), 'InvalidParameterException', enumMessage('imageTagMutability', mutability));
  await rejectsWith(
    server.client.send(new PutImageTagMutabilityCommand({ repositoryName: repo, imageTagMutability: 'MUTABLE_WITH_EXCLUSION', imageTagMutabilityExclusionFilters: [{ filterType: 'REGEX' as never, filter: 'x*' }] })),
    'InvalidParameterException',
    enumMessage('imageTagMutabilityExclusionFilters.1.member.filterType', 'WILDCARD'),
  );
  await rejectsWith(server.client.send(new ListImagesCommand({ repositoryName: repo, filter: { tagStatus: 'SOME' as never } })), 'InvalidParameterException', enumMessage('filter.tagStatus', 'TAGGED, UNTAGGED, ANY'));
  err = await rejectsWith(server.client.send(new DescribeImagesCommand({ repositoryName: repo, filter: { tagStatus: 'tagged' as never } })), 'InvalidParameterException', /enum value set/);
  assert.equal(err.$metadata?.httpStatusCode, 400);
  // Lengths and ranges stay ValidationException, as ECR's framework answers them.
  await rejectsWith(server.client.send(new ListImagesCommand({ repositoryName: repo, maxResults: 0 })), 'ValidationException', /greater than or equal to 1/);
});

test('PutImage of a manifest with no mediaType and no imageManifestMediaType is refused', async () => {
  const image = await prepareImage(server, repo, 'no-media-type');
  const bare = JSON.parse(image.manifest) as Record<string, unknown>;
  delete bare.mediaType;
  const manifest = JSON.stringify(bare);
  await rejectsWith(server.client.send(new PutImageCommand({ repositoryName: repo, imageManifest: manifest, imageTag: 'bare' })), 'InvalidParameterException', /^image manifest mediatype not provided in manifest or parameter$/);
  assert.deepEqual((await server.client.send(new ListImagesCommand({ repositoryName: repo }))).imageIds, [], 'nothing was stored');
  await rejectsWith(server.client.send(new PutImageCommand({ repositoryName: repo, imageManifest: '{not json', imageTag: 'bad' })), 'InvalidParameterException', /'ImageManifest' failed to satisfy constraint: 'Invalid JSON syntax'/);
  // The parameter alone is enough.
  const put = await server.client.send(new PutImageCommand({ repositoryName: repo, imageManifest: manifest, imageManifestMediaType: 'application/vnd.oci.image.manifest.v1+json', imageTag: 'bare' }));
  assert.equal(put.image?.imageManifestMediaType, 'application/vnd.oci.image.manifest.v1+json');
});

test('SetRepositoryPolicy takes duplicate Sids and refuses a bad policy in ECR words', async () => {
  const statement = (action: string) => ({ Sid: 'Same', Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::000000000000:root' }, Action: action });
  const policyText = JSON.stringify({ Version: '2012-10-17', Statement: [statement('ecr:BatchGetImage'), statement('ecr:GetDownloadUrlForLayer')] });
  await server.client.send(new SetRepositoryPolicyCommand({ repositoryName: repo, policyText }));
  assert.equal((await server.client.send(new GetRepositoryPolicyCommand({ repositoryName: repo }))).policyText, policyText);
  // The stored policy still works: the evaluator reads it too (a pull through BatchGetImage).
  assert.deepEqual((await server.client.send(new BatchGetImageCommand({ repositoryName: repo, imageIds: [{ imageTag: 'none' }] }))).failures?.[0]?.failureCode, 'ImageNotFound');
  for (const bad of ['{not json', '{"Statement":[]}', '{"Statement":[{"Effect":"Maybe","Action":"ecr:*"}]}', '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage","Bogus":1}]}']) {
    await rejectsWith(server.client.send(new SetRepositoryPolicyCommand({ repositoryName: repo, policyText: bad })), 'InvalidParameterException', /^Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid repository policy provided'$/);
  }
});

test("BatchDeleteImage and BatchGetImage failures carry ECR's failureReason", async () => {
  const ids = [{ imageTag: 'missing' }, { imageDigest: `sha256:${'0'.repeat(64)}` }, {}, { imageDigest: 'sha256:xyz' }];
  const expected = [
    { failureCode: 'ImageNotFound', failureReason: 'Requested image not found' },
    { failureCode: 'ImageNotFound', failureReason: 'Requested image not found' },
    { failureCode: 'MissingDigestAndTag', failureReason: 'Invalid request parameters: both tag and digest cannot be null' },
    { failureCode: 'InvalidImageDigest', failureReason: "Invalid request parameters: image digest should satisfy the regex '[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+'" },
  ];
  const deleted = await server.client.send(new BatchDeleteImageCommand({ repositoryName: repo, imageIds: ids }));
  assert.deepEqual(deleted.failures?.map((f) => ({ failureCode: f.failureCode, failureReason: f.failureReason })), expected);
  const got = await server.client.send(new BatchGetImageCommand({ repositoryName: repo, imageIds: ids.slice(0, 3) }));
  assert.deepEqual(got.failures?.map((f) => ({ failureCode: f.failureCode, failureReason: f.failureReason })), expected.slice(0, 3));
});

test("ListTagsForResource with a malformed ARN: ECR's 'Invalid ARN'", async () => {
  await rejectsWith(server.client.send(new ListTagsForResourceCommand({ resourceArn: 'arn:aws:s3:::bucket' })), 'InvalidParameterException', /^Invalid parameter at 'resourceArn' failed to satisfy constraint: 'Invalid ARN'$/);
});

test('only AWS JSON 1.1 is taken, within the size limit, each refused in the protocol', async () => {
  const { hostname, port } = new URL(server.url);
  const target = 'AmazonEC2ContainerRegistry_V20150921.DescribeRepositories';
  for (const type of ['application/json', 'text/plain', 'application/x-amz-json-1.0', 'application/x-www-form-urlencoded']) {
    const res = await fetch(`${server.url}/`, { method: 'POST', body: '{}', headers: { host: `${hostname}:${port}`, 'content-type': type, 'x-amz-target': target } });
    assert.equal(res.status, 400, type);
    assert.equal(res.headers.get('x-amzn-errortype'), 'UnknownOperationException', type);
    assert.equal(res.headers.get('content-type'), 'application/x-amz-json-1.1');
    assert.equal(((await res.json()) as { __type: string }).__type, 'UnknownOperationException');
  }
  const big = JSON.stringify({ repositoryNames: ['x'.repeat(30 * 1024 * 1024)] });
  const res = await fetch(`${server.url}/`, { method: 'POST', body: big, headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': target } });
  assert.equal(res.status, 400);
  assert.equal(res.headers.get('x-amzn-errortype'), 'ValidationException');
  assert.match(((await res.json()) as { message: string }).message, /larger than the \d+-byte limit/);
});

test('SigV4 failures on the ECR API are HTTP 403, as AWS answers them', async () => {
  const unsigned = await ecrPost(server.url, 'DescribeRepositories', {}, null);
  assert.deepEqual([unsigned.status, unsigned.type], [403, 'MissingAuthenticationTokenException']);
  const wrongSecret = await ecrPost(server.url, 'DescribeRepositories', {}, { accessKeyId: credentials.accessKeyId, secretAccessKey: 'not-the-secret' });
  assert.deepEqual([wrongSecret.status, wrongSecret.type], [403, 'InvalidSignatureException']);
  const unknownKey = await ecrPost(server.url, 'DescribeRepositories', {}, { accessKeyId: 'AKIANOSUCHKEY0000000', secretAccessKey: 'x' });
  assert.deepEqual([unknownKey.status, unknownKey.type], [403, 'UnrecognizedClientException']);
  const sdk = new ECRClient({ endpoint: server.url, region: 'us-east-1', credentials: { accessKeyId: credentials.accessKeyId, secretAccessKey: 'wrong' }, maxAttempts: 1 });
  try {
    const err = await rejectsWith(sdk.send(new ListImagesCommand({ repositoryName: repo })), 'InvalidSignatureException');
    assert.equal(err.$metadata?.httpStatusCode, 403);
  } finally {
    sdk.destroy();
  }
});
