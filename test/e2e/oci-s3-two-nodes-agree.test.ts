import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { BatchDeleteImageCommand, GetRepositoryPolicyCommand, PutImageTagMutabilityCommand, SetRepositoryPolicyCommand } from '@aws-sdk/client-ecr';
import { startEcr, type EcrTestServer } from '../ecr/helpers.js';
import { buildTestImages } from '../helpers/images.js';
import { createTestDatabase, requirePostgres } from '../helpers/postgres.js';
import { runOk } from '../helpers/process.js';
import { removePrefix, requireS3, s3TestEnv, testBucket } from '../helpers/s3.js';
import { requireTool } from '../helpers/tools.js';

// Two nodes on one PostgreSQL database and one Ceph RGW bucket agree at once (there are no
// caches, docs/deployment.md): an image skopeo pushes through A is pulled through B; a tag
// moved, a policy set, a tag made immutable, an image deleted through one node holds on the
// other on the very next request.

const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

test('two nodes on PostgreSQL + S3 agree on images, tags, policies and deletions immediately (skopeo and the ECR SDK)', async (t) => {
  if (!requireS3(t) || !(await requirePostgres(t)) || !requireTool(t, 'skopeo')) return;
  const env = s3TestEnv()!;
  const database = await createTestDatabase();
  const prefix = `agree-${randomBytes(6).toString('hex')}/`;
  const work = await mkdtemp(join(tmpdir(), 'berth-agree-'));
  const nodes: EcrTestServer[] = [];
  t.after(async () => {
    for (const node of nodes) await node.stop();
    await database.drop();
    await removePrefix(testBucket, prefix);
    await rm(work, { recursive: true, force: true });
  });
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: env.accessKeyId, AWS_SECRET_ACCESS_KEY: env.secretAccessKey });
  const options = {
    // Nodes sharing a database share the key that seals stored secrets.
    serverKey: randomBytes(32).toString('base64'),
    metadata: { kind: 'postgres' as const, url: database.url },
    storage: { kind: 's3' as const, bucket: testBucket, prefix, endpoint: env.endpoint, region: env.region, createBucket: true, checksums: env.checksums },
  };
  const a = await startEcr(options);
  nodes.push(a);
  const b = await startEcr(options);
  nodes.push(b);

  const images = await buildTestImages(join(work, 'in'), { bigLayerBytes: 1024 * 1024 });
  const skopeo = (args: string[]) => runOk('skopeo', ['--insecure-policy', ...args], { timeoutMs: 60_000 });
  await skopeo(['copy', '--preserve-digests', '--dest-tls-verify=false', `oci:${images.dir}:multilayer`, `docker://${a.host}/agree/app:v1`]);
  const inspected = JSON.parse(await skopeo(['inspect', '--tls-verify=false', `docker://${b.host}/agree/app:v1`])) as { Digest: string };
  assert.equal(inspected.Digest, images.multiLayer.manifest.digest, 'B serves what skopeo pushed through A');
  await skopeo(['copy', '--src-tls-verify=false', `docker://${b.host}/agree/app:v1`, `oci:${join(work, 'out')}:v1`]);

  const tagDigest = async (node: EcrTestServer, tag: string) =>
    (await fetch(`${node.url}/v2/agree/app/manifests/${tag}`, { method: 'HEAD', headers: { Accept: `${MANIFEST}, application/vnd.oci.image.index.v1+json` } })).headers.get('docker-content-digest');

  // The tag moves through B; A answers with the new digest on the next request.
  await skopeo(['copy', '--preserve-digests', '--dest-tls-verify=false', `oci:${images.dir}:small`, `docker://${b.host}/agree/app:v1`]);
  assert.equal(await tagDigest(a, 'v1'), images.small.manifest.digest);

  // A policy set through A is read through B.
  const policyText = JSON.stringify({ Version: '2012-10-17', Statement: [{ Sid: 'all', Effect: 'Allow', Principal: '*', Action: ['ecr:BatchGetImage'] }] });
  await a.client.send(new SetRepositoryPolicyCommand({ repositoryName: 'agree/app', policyText }));
  assert.deepEqual(JSON.parse((await b.client.send(new GetRepositoryPolicyCommand({ repositoryName: 'agree/app' }))).policyText!), JSON.parse(policyText));

  // Tags made immutable through B cannot be moved through A.
  await b.client.send(new PutImageTagMutabilityCommand({ repositoryName: 'agree/app', imageTagMutability: 'IMMUTABLE' }));
  const moved = await fetch(`${a.url}/v2/agree/app/manifests/v1`, { method: 'PUT', body: new Uint8Array(images.multiLayer.manifestBytes), headers: { 'Content-Type': MANIFEST } });
  assert.equal(moved.status, 409, 'A refuses to move a tag B made immutable');
  assert.equal(await tagDigest(b, 'v1'), images.small.manifest.digest);

  // An image deleted through A is gone through B.
  await a.client.send(new BatchDeleteImageCommand({ repositoryName: 'agree/app', imageIds: [{ imageDigest: images.small.manifest.digest }] }));
  assert.equal((await fetch(`${b.url}/v2/agree/app/manifests/${images.small.manifest.digest}`, { headers: { Accept: MANIFEST } })).status, 404);
  assert.equal((await fetch(`${b.url}/v2/agree/app/manifests/v1`, { headers: { Accept: MANIFEST } })).status, 404);
});
