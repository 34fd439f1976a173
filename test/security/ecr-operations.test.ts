import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { operations } from '../../src/edges/ecr/operations.js';
import { ADMIN_POLICY, createTestUser, policy, type TestCredentials } from '../helpers/principals.js';
import { startBerth, testAdmin, type TestServer } from '../helpers/server.js';
import { ecrPost, sha, tinyImage } from './helpers.js';

// Every ECR operation Berth implements, driven from its operations table: unsigned requests
// are refused (MissingAuthenticationTokenException), a signed caller whose policies grant
// nothing is refused (AccessDeniedException), so is another account's administrator
// reaching into this registry, and none of them changes anything.
const A = '000000000000';
const B = '222222222222';
const REPO = 'sec/app';
const ARN = `arn:aws:ecr:us-east-1:${A}:repository/${REPO}`;
const image = tinyImage('ecr-operations');
const DIGEST = sha(image.layer);
const LIFECYCLE = JSON.stringify({
  rules: [{ rulePriority: 1, description: 'expire everything', selection: { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 1 }, action: { type: 'expire' } }],
});
const POLICY = JSON.stringify(policy({ Effect: 'Allow', Principal: '*', Action: 'ecr:*' }));

/** A valid request of each operation, aimed at account A's repository (or A's registry). */
const samples: Record<string, object> = {
  CreateRepository: { repositoryName: 'sec/new' },
  DescribeRepositories: {},
  DeleteRepository: { repositoryName: REPO, force: true },
  PutImageTagMutability: { repositoryName: REPO, imageTagMutability: 'IMMUTABLE' },
  PutImageScanningConfiguration: { repositoryName: REPO, imageScanningConfiguration: { scanOnPush: true } },
  TagResource: { resourceArn: ARN, tags: [{ Key: 'owner', Value: 'mallory' }] },
  UntagResource: { resourceArn: ARN, tagKeys: ['team'] },
  ListTagsForResource: { resourceArn: ARN },
  DescribeImages: { repositoryName: REPO },
  ListImages: { repositoryName: REPO },
  BatchGetImage: { repositoryName: REPO, imageIds: [{ imageTag: 'v1' }] },
  BatchDeleteImage: { repositoryName: REPO, imageIds: [{ imageTag: 'v1' }] },
  PutImage: { repositoryName: REPO, imageManifest: image.manifest.toString(), imageTag: 'evil' },
  ListImageReferrers: { repositoryName: REPO, subjectId: { imageDigest: sha(image.manifest) } },
  UpdateImageStorageClass: { repositoryName: REPO, imageId: { imageTag: 'v1' }, targetStorageClass: 'ARCHIVE' },
  BatchCheckLayerAvailability: { repositoryName: REPO, layerDigests: [DIGEST] },
  InitiateLayerUpload: { repositoryName: REPO },
  UploadLayerPart: { repositoryName: REPO, uploadId: '0123abcd', partFirstByte: 0, partLastByte: 0, layerPartBlob: Buffer.from('x').toString('base64') },
  CompleteLayerUpload: { repositoryName: REPO, uploadId: '0123abcd', layerDigests: [DIGEST] },
  GetDownloadUrlForLayer: { repositoryName: REPO, layerDigest: DIGEST },
  SetRepositoryPolicy: { repositoryName: REPO, policyText: POLICY },
  GetRepositoryPolicy: { repositoryName: REPO },
  DeleteRepositoryPolicy: { repositoryName: REPO },
  PutRegistryPolicy: { policyText: POLICY },
  GetRegistryPolicy: {},
  DeleteRegistryPolicy: {},
  DescribeRegistry: {},
  GetAccountSetting: { name: 'BASIC_SCAN_TYPE_VERSION' },
  PutAccountSetting: { name: 'REGISTRY_POLICY_SCOPE', value: 'V1' },
  CreateRepositoryCreationTemplate: { prefix: 'sec', appliedFor: ['CREATE_ON_PUSH'] },
  UpdateRepositoryCreationTemplate: { prefix: 'sec', description: 'taken over' },
  DeleteRepositoryCreationTemplate: { prefix: 'sec' },
  DescribeRepositoryCreationTemplates: {},
  PutLifecyclePolicy: { repositoryName: REPO, lifecyclePolicyText: LIFECYCLE },
  GetLifecyclePolicy: { repositoryName: REPO },
  DeleteLifecyclePolicy: { repositoryName: REPO },
  StartLifecyclePolicyPreview: { repositoryName: REPO, lifecyclePolicyText: LIFECYCLE },
  GetLifecyclePolicyPreview: { repositoryName: REPO },
};

/** Operations whose request can name another account's registry (registryId or a resource ARN). */
const addressable = (name: string) => {
  const shape = operations[name]!.input;
  return shape.kind === 'structure' && ('registryId' in shape.members || 'resourceArn' in shape.members);
};

describe('every ECR operation refuses callers without permission', () => {
  let server: TestServer;
  let nobody: TestCredentials;
  let bAdmin: TestCredentials;
  const snapshot = async () => {
    const store = server.berth.ecrStore;
    const repo = await store.getRepository(A, REPO);
    return {
      repo: repo && { settings: repo.settings, tags: await store.listResourceTags(repo.id), policy: await store.getRepositoryPolicy(repo.id) },
      newRepo: await store.getRepository(A, 'sec/new'),
      registryPolicy: await store.getRegistryPolicy(A),
      setting: await store.getAccountSetting(A, 'REGISTRY_POLICY_SCOPE'),
      template: await store.getTemplate(A, 'sec'),
      images: repo ? (await store.listImages(repo.id, 'ANY', { limit: 100 })).map((i) => [i.digest, i.tags, i.status]) : null,
    };
  };
  let before0: Awaited<ReturnType<typeof snapshot>>;

  before(async () => {
    server = await startBerth();
    const admin = { ...testAdmin };
    assert.equal((await ecrPost(server.url, 'CreateRepository', { repositoryName: REPO, tags: [{ Key: 'team', Value: 'sec' }] }, admin)).status, 200);
    for (const blob of [image.layer, image.config]) {
      const res = await fetch(`${server.url}/v2/${REPO}/blobs/uploads/?digest=${sha(blob)}`, { method: 'POST', body: new Uint8Array(blob) });
      assert.equal(res.status, 201);
    }
    assert.equal((await fetch(`${server.url}/v2/${REPO}/manifests/v1`, { method: 'PUT', body: new Uint8Array(image.manifest), headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } })).status, 201);
    assert.equal((await ecrPost(server.url, 'CreateRepositoryCreationTemplate', { prefix: 'sec', appliedFor: ['CREATE_ON_PUSH'] }, admin)).status, 200);
    nobody = await createTestUser(server.berth, A, 'nobody');
    bAdmin = await createTestUser(server.berth, B, 'b-admin', { attach: [ADMIN_POLICY] });
    before0 = await snapshot();
  });
  after(() => server.stop());

  test('the sample table covers every operation of the ECR edge', () => {
    assert.deepEqual(Object.keys(samples).sort(), Object.keys(operations).sort());
  });

  for (const name of Object.keys(operations)) {
    test(name, async () => {
      const input = samples[name] ?? {};
      const unsigned = await ecrPost(server.url, name, input, null);
      assert.equal(unsigned.status, 403);
      assert.equal(unsigned.type, 'MissingAuthenticationTokenException');

      const denied = await ecrPost(server.url, name, input, nobody);
      assert.equal(denied.status, 400, JSON.stringify(denied.body));
      assert.equal(denied.type, 'AccessDeniedException');
      assert.equal(denied.body.__type, 'AccessDeniedException');
      assert.match(denied.body.message!, new RegExp(`^User: arn:aws:iam::${A}:user/nobody is not authorized to perform: ecr:${name} on resource: (\\*|arn:aws:ecr:us-east-1:${A}:repository/\\S+) because no identity-based policy allows the ecr:${name} action$`));

      if (addressable(name)) {
        const cross = await ecrPost(server.url, name, 'resourceArn' in input ? input : { ...input, registryId: A }, bAdmin);
        assert.equal(cross.type, 'AccessDeniedException', `${name} from account B: ${JSON.stringify(cross.body)}`);
        assert.match(cross.body.message!, /because no resource-based policy allows/);
      }
    });
  }

  test('none of the refused requests changed anything', async () => {
    assert.deepEqual(await snapshot(), before0);
    assert.ok(before0.repo && before0.images!.length === 1 && before0.template);
  });
});
