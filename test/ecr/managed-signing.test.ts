import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, verify, X509Certificate } from 'node:crypto';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { CreateRepositoryCommand, DeleteSigningConfigurationCommand, DescribeImageSigningStatusCommand, ListImageReferrersCommand, PutSigningConfigurationCommand } from '@aws-sdk/client-ecr';
import { awsBinary, awsCliEnv, prepareImage, putManifestV2, startEcr, type EcrTestServer } from './helpers.js';

// Managed signing end to end (issue 19): a Signer profile (Notation-OCI-SHA384-ECDSA) made
// with the aws CLI and boto3, a signing configuration naming it, a push, and the Notary
// Project signature Berth attaches, verified here by the specification alone (node:crypto
// reading the JWS and the certificate), not by Berth's signing code.

let server: EcrTestServer;
const repo = 'release/app';
before(async () => {
  server = await startEcr();
  await server.client.send(new CreateRepositoryCommand({ repositoryName: repo }));
});
after(() => server.stop());

const signer = (...args: string[]) => promisify(execFile)(awsBinary, ['signer', ...args, '--endpoint-url', server.url, '--output', 'json'], { env: awsCliEnv, timeout: 60_000 });

test('Signer profiles over the REST-JSON API: aws CLI v1 and boto3', async () => {
  const put = JSON.parse((await signer('put-signing-profile', '--profile-name', 'release_profile', '--platform-id', 'Notation-OCI-SHA384-ECDSA', '--signature-validity-period', 'value=12,type=MONTHS')).stdout);
  assert.equal(put.arn, 'arn:aws:signer:us-east-1:000000000000:/signing-profiles/release_profile');
  assert.equal(put.profileVersionArn, `${put.arn}/${put.profileVersion}`);
  const got = JSON.parse((await signer('get-signing-profile', '--profile-name', 'release_profile')).stdout);
  assert.deepEqual([got.platformId, got.status, got.signatureValidityPeriod], ['Notation-OCI-SHA384-ECDSA', 'Active', { value: 12, type: 'MONTHS' }]);
  await assert.rejects(signer('get-signing-profile', '--profile-name', 'nope_profile'), (err: { stderr: string }) => /ResourceNotFoundException/.test(err.stderr));
  await assert.rejects(signer('put-signing-profile', '--profile-name', 'other_profile', '--platform-id', 'AWSLambda-SHA384-ECDSA'), (err: { stderr: string }) => /ValidationException/.test(err.stderr));
  const script = `
import boto3, sys, json
c = boto3.client('signer', endpoint_url=sys.argv[1], region_name='us-east-1')
c.put_signing_profile(profileName='temp_profile', platformId='Notation-OCI-SHA384-ECDSA')
before = [p['profileName'] for p in c.list_signing_profiles()['profiles']]
c.cancel_signing_profile(profileName='temp_profile')
after = [p['profileName'] for p in c.list_signing_profiles()['profiles']]
canceled = c.get_signing_profile(profileName='temp_profile')['status']
print(json.dumps([before, after, canceled]))
`;
  const { stdout } = await promisify(execFile)('python3', ['-c', script, server.url], { env: awsCliEnv, timeout: 60_000 });
  assert.deepEqual(JSON.parse(stdout), [['release_profile', 'temp_profile'], ['release_profile'], 'Canceled']);
});

test('a push matching a rule is signed: a Notary Project JWS signature verifiable from its certificate chain', async () => {
  const profileArn = 'arn:aws:signer:us-east-1:000000000000:/signing-profiles/release_profile';
  await server.client.send(new PutSigningConfigurationCommand({ signingConfiguration: { rules: [{ signingProfileArn: profileArn, repositoryFilters: [{ filter: 'release/*', filterType: 'WILDCARD_MATCH' }] }] } }));
  const image = await prepareImage(server, repo, 'signed');
  assert.equal((await putManifestV2(server, repo, 'v1', image.manifest)).status, 201);

  let referrers: Array<{ digest?: string; artifactType?: string }> = [];
  for (let i = 0; i < 50 && referrers.length === 0; i++) {
    referrers = (await server.client.send(new ListImageReferrersCommand({ repositoryName: repo, subjectId: { imageDigest: image.digest } }))).referrers ?? [];
    if (referrers.length === 0) await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(referrers.length, 1, 'one signature attached');
  assert.equal(referrers[0]!.artifactType, 'application/vnd.cncf.notary.signature');

  // Read the signature manifest and the envelope over /v2, as notation would.
  const manifestRes = await fetch(`${server.url}/v2/${repo}/manifests/${referrers[0]!.digest}`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
  const manifest = (await manifestRes.json()) as { artifactType: string; subject: { digest: string; size: number; mediaType: string }; layers: Array<{ mediaType: string; digest: string }>; annotations: Record<string, string> };
  assert.equal(manifest.artifactType, 'application/vnd.cncf.notary.signature');
  assert.deepEqual(manifest.subject, { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: image.digest, size: Buffer.byteLength(image.manifest) });
  assert.equal(manifest.layers.length, 1);
  assert.equal(manifest.layers[0]!.mediaType, 'application/jose+json');
  const envelopeBytes = Buffer.from(await (await fetch(`${server.url}/v2/${repo}/blobs/${manifest.layers[0]!.digest}`)).arrayBuffer());
  assert.equal(`sha256:${createHash('sha256').update(envelopeBytes).digest('hex')}`, manifest.layers[0]!.digest);

  // The JWS JSON Serialization, by RFC 7515 and the Notary Project JWS envelope spec.
  const jws = JSON.parse(envelopeBytes.toString()) as { payload: string; protected: string; header: { x5c: string[]; 'io.cncf.notary.signingAgent'?: string }; signature: string };
  const header = JSON.parse(Buffer.from(jws.protected, 'base64url').toString()) as Record<string, unknown>;
  assert.equal(header.alg, 'ES384');
  assert.equal(header.cty, 'application/vnd.cncf.notary.payload.v1+json');
  assert.deepEqual(header.crit, ['io.cncf.notary.signingScheme']);
  assert.equal(header['io.cncf.notary.signingScheme'], 'notary.x509');
  assert.ok(!Number.isNaN(Date.parse(String(header['io.cncf.notary.signingTime']))), 'signingTime is a timestamp');
  const payload = JSON.parse(Buffer.from(jws.payload, 'base64url').toString()) as { targetArtifact: { mediaType: string; digest: string; size: number } };
  assert.deepEqual(payload.targetArtifact, { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: image.digest, size: Buffer.byteLength(image.manifest) });

  // The chain: a code-signing certificate (leaf first) whose key verifies the signature.
  assert.ok(jws.header.x5c.length >= 1);
  const leaf = new X509Certificate(Buffer.from(jws.header.x5c[0]!, 'base64'));
  assert.ok(leaf.keyUsage?.includes('1.3.6.1.5.5.7.3.3'), 'extended key usage codeSigning');
  assert.equal(leaf.ca, false);
  assert.ok(leaf.verify(leaf.publicKey), 'self-signed: the chain ends at the leaf');
  assert.equal(leaf.publicKey.asymmetricKeyDetails?.namedCurve, 'secp384r1');
  const signingInput = Buffer.from(`${jws.protected}.${jws.payload}`);
  const signature = Buffer.from(jws.signature, 'base64url');
  assert.equal(signature.length, 96, 'ES384: r||s');
  assert.ok(verify('sha384', signingInput, { key: leaf.publicKey, dsaEncoding: 'ieee-p1363' }, signature), 'the signature verifies with the certificate key');
  const tampered = Buffer.from(`${jws.protected}.${Buffer.from(JSON.stringify({ targetArtifact: { ...payload.targetArtifact, size: 1 } })).toString('base64url')}`);
  assert.ok(!verify('sha384', tampered, { key: leaf.publicKey, dsaEncoding: 'ieee-p1363' }, signature), 'and not a changed payload');
  assert.deepEqual(JSON.parse(manifest.annotations['io.cncf.notary.x509chain.thumbprint#S256']!), [createHash('sha256').update(leaf.raw).digest('hex')]);

  const status = await server.client.send(new DescribeImageSigningStatusCommand({ repositoryName: repo, imageId: { imageTag: 'v1' } }));
  assert.deepEqual(status.signingStatuses?.map((s) => [s.signingProfileArn, s.status]), [[profileArn, 'COMPLETE']]);

  // Deleting the configuration leaves the signature; later pushes are not signed.
  await server.client.send(new DeleteSigningConfigurationCommand({}));
  const later = await prepareImage(server, repo, 'unsigned');
  assert.equal((await putManifestV2(server, repo, 'v2', later.manifest)).status, 201);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal((await server.client.send(new ListImageReferrersCommand({ repositoryName: repo, subjectId: { imageDigest: later.digest } }))).referrers?.length, 0);
  assert.equal((await server.client.send(new ListImageReferrersCommand({ repositoryName: repo, subjectId: { imageDigest: image.digest } }))).referrers?.length, 1);
});
