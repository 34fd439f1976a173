import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import {
  CreateRepositoryCommand,
  DeleteSigningConfigurationCommand,
  DescribeImageSigningStatusCommand,
  GetSigningConfigurationCommand,
  ListImageReferrersCommand,
  PutSigningConfigurationCommand,
} from '@aws-sdk/client-ecr';
import { awsBinary, awsCliEnv, prepareImage, putManifestV2, rejectsWith, sha256, startEcr, type EcrTestServer } from './helpers.js';

// Managed signing's registry configuration (issue 19): ECR's shapes and rules, what
// DescribeImageSigningStatus reports, and that deleting the configuration leaves
// signatures in place.

let server: EcrTestServer;
const profile = 'arn:aws:signer:us-east-1:000000000000:/signing-profiles/release_profile';
const other = 'arn:aws:signer:us-east-1:000000000000:/signing-profiles/other_profile';
before(async () => {
  server = await startEcr();
  for (const name of ['signed/app', 'plain/app']) await server.client.send(new CreateRepositoryCommand({ repositoryName: name }));
});
after(() => server.stop());

test('Put/Get/DeleteSigningConfiguration with ECR rules', async () => {
  await rejectsWith(server.client.send(new GetSigningConfigurationCommand({})), 'SigningConfigurationNotFoundException');
  await rejectsWith(server.client.send(new DeleteSigningConfigurationCommand({})), 'SigningConfigurationNotFoundException');
  const rules = [
    { signingProfileArn: profile, repositoryFilters: [{ filter: 'signed/*', filterType: 'WILDCARD_MATCH' as const }] },
    { signingProfileArn: other },
  ];
  const put = await server.client.send(new PutSigningConfigurationCommand({ signingConfiguration: { rules } }));
  assert.deepEqual(put.signingConfiguration, { rules });
  const got = await server.client.send(new GetSigningConfigurationCommand({}));
  assert.deepEqual([got.registryId, got.signingConfiguration], ['000000000000', { rules }]);
  // ECR's limits: at most 10 rules, WILDCARD_MATCH only, 1-100 filters, a Signer profile ARN.
  const many = Array.from({ length: 11 }, () => ({ signingProfileArn: profile }));
  await rejectsWith(server.client.send(new PutSigningConfigurationCommand({ signingConfiguration: { rules: many } })), 'ValidationException', /less than or equal to 10/);
  await rejectsWith(server.client.send(new PutSigningConfigurationCommand({ signingConfiguration: { rules: [{ signingProfileArn: profile, repositoryFilters: [{ filter: 'x', filterType: 'PREFIX_MATCH' as never }] }] } })), 'InvalidParameterException', /enum value set: \[WILDCARD_MATCH\]/);
  await rejectsWith(server.client.send(new PutSigningConfigurationCommand({ signingConfiguration: { rules: [{ signingProfileArn: profile, repositoryFilters: [] }] } })), 'ValidationException', /greater than or equal to 1/);
  await rejectsWith(server.client.send(new PutSigningConfigurationCommand({ signingConfiguration: { rules: [{ signingProfileArn: 'arn:aws:kms:us-east-1:000000000000:key/x' }] } })), 'InvalidParameterException', /signingProfileArn/);
  assert.deepEqual((await server.client.send(new GetSigningConfigurationCommand({}))).signingConfiguration, { rules }, 'refused puts change nothing');
});

test('DescribeImageSigningStatus: one status per applying profile; deleting the configuration keeps signatures', async () => {
  const image = await prepareImage(server, 'signed/app', 'to-sign');
  assert.equal((await putManifestV2(server, 'signed/app', 'v1', image.manifest)).status, 201);
  let status = await server.client.send(new DescribeImageSigningStatusCommand({ repositoryName: 'signed/app', imageId: { imageTag: 'v1' } }));
  assert.deepEqual(status.imageId, { imageDigest: image.digest, imageTag: 'v1' });
  assert.deepEqual(status.signingStatuses?.map((s) => [s.signingProfileArn, s.status]), [[profile, 'FAILED'], [other, 'FAILED']]);
  // A Notary Project signature by `profile` attached as a referrer.
  const envelope = Buffer.from('{"payload":"e30","protected":"e30","header":{},"signature":"AA"}');
  const emptyConfig = { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256('{}'), size: 2 };
  await fetch(`${server.url}/v2/signed/app/blobs/uploads/?digest=${emptyConfig.digest}`, { method: 'POST', body: '{}' }).then((r) => r.arrayBuffer());
  await fetch(`${server.url}/v2/signed/app/blobs/uploads/?digest=${sha256(envelope)}`, { method: 'POST', body: envelope }).then((r) => r.arrayBuffer());
  const signature = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    artifactType: 'application/vnd.cncf.notary.signature',
    config: emptyConfig,
    layers: [{ mediaType: 'application/jose+json', digest: sha256(envelope), size: envelope.length }],
    subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: image.digest, size: image.manifest.length },
    annotations: { 'com.amazonaws.signer.signingProfileArn': profile },
  });
  assert.equal((await putManifestV2(server, 'signed/app', sha256(signature), signature)).status, 201);
  status = await server.client.send(new DescribeImageSigningStatusCommand({ repositoryName: 'signed/app', imageId: { imageDigest: image.digest } }));
  assert.deepEqual(status.signingStatuses?.map((s) => [s.signingProfileArn, s.status]), [[profile, 'COMPLETE'], [other, 'FAILED']]);
  // A repository the first rule's filter does not match: only the catch-all rule applies.
  const plain = await prepareImage(server, 'plain/app', 'plain');
  assert.equal((await putManifestV2(server, 'plain/app', 'v1', plain.manifest)).status, 201);
  status = await server.client.send(new DescribeImageSigningStatusCommand({ repositoryName: 'plain/app', imageId: { imageTag: 'v1' } }));
  assert.deepEqual(status.signingStatuses?.map((s) => s.signingProfileArn), [other]);
  await rejectsWith(server.client.send(new DescribeImageSigningStatusCommand({ repositoryName: 'signed/app', imageId: { imageTag: 'nope' } })), 'ImageNotFoundException');
  await rejectsWith(server.client.send(new DescribeImageSigningStatusCommand({ repositoryName: 'none/app', imageId: { imageTag: 'v1' } })), 'RepositoryNotFoundException');

  const deleted = await server.client.send(new DeleteSigningConfigurationCommand({}));
  assert.equal(deleted.signingConfiguration?.rules?.length, 2);
  const referrers = await server.client.send(new ListImageReferrersCommand({ repositoryName: 'signed/app', subjectId: { imageDigest: image.digest } }));
  assert.deepEqual(referrers.referrers?.map((r) => r.artifactType), ['application/vnd.cncf.notary.signature'], 'the signature stays');
  status = await server.client.send(new DescribeImageSigningStatusCommand({ repositoryName: 'signed/app', imageId: { imageTag: 'v1' } }));
  assert.deepEqual(status.signingStatuses, []);
});

test('the aws CLI v1 speaks the signing configuration operations', async () => {
  const run = (...args: string[]) => promisify(execFile)(awsBinary, ['ecr', ...args, '--endpoint-url', server.url, '--output', 'json'], { env: awsCliEnv, timeout: 60_000 });
  const config = JSON.stringify({ rules: [{ signingProfileArn: profile, repositoryFilters: [{ filter: '*', filterType: 'WILDCARD_MATCH' }] }] });
  const put = JSON.parse((await run('put-signing-configuration', '--signing-configuration', config)).stdout);
  assert.deepEqual(put.signingConfiguration, JSON.parse(config));
  assert.deepEqual(JSON.parse((await run('get-signing-configuration')).stdout).signingConfiguration, JSON.parse(config));
  const status = JSON.parse((await run('describe-image-signing-status', '--repository-name', 'signed/app', '--image-id', 'imageTag=v1')).stdout);
  assert.deepEqual(status.signingStatuses.map((s: { status: string }) => s.status), ['COMPLETE']);
  await run('delete-signing-configuration');
  await assert.rejects(run('get-signing-configuration'), (err: { stderr: string }) => /SigningConfigurationNotFoundException/.test(err.stderr));
});
