import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { requireTool } from '../helpers/tools.js';
import { awsEcr, sha256, startEcr, type EcrTestServer } from './helpers.js';

const run = promisify(execFile);

let server: EcrTestServer;
let work: string;
before(async () => {
  server = await startEcr();
  work = await mkdtemp(join(tmpdir(), 'berth-ecr-cli-'));
});
after(async () => {
  await server.stop();
  await rm(work, { recursive: true, force: true });
});

/** Runs `aws ecr ...` against the test server; returns parsed JSON output. */
function aws(...args: string[]): Promise<any> {
  return awsEcr(server.url, ...args);
}

async function awsFails(args: string[], exception: string): Promise<void> {
  await assert.rejects(aws(...args), (err: Error & { stderr?: string }) => {
    assert.match(err.stderr ?? '', new RegExp(`\\(${exception}\\)`));
    return true;
  });
}

/** A one-layer OCI image layout on disk, as skopeo reads it. */
async function ociLayout(dir: string, tag: string) {
  const layer = gzipSync(Buffer.alloc(1024)); // an empty tar archive
  const diffId = sha256(Buffer.alloc(1024));
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [diffId] }, config: {} }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(layer), size: layer.length }],
    }),
  );
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  for (const blob of [layer, config, manifest]) await writeFile(join(dir, 'blobs', 'sha256', sha256(blob).slice(7)), blob);
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256(manifest), size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': tag } }],
    }),
  );
  return { layer, config, manifest };
}

test('the aws CLI manages a repository that skopeo pushes to and pulls from', async (t: TestContext) => {
  if (!requireTool(t, 'aws', 'the ECR CLI round trip') || !requireTool(t, 'skopeo', 'pushing and pulling the image')) return;
  // aws CLI calls are slow to start, so independent steps run side by side.
  const created = await aws('create-repository', '--repository-name', 'cli/app', '--image-tag-mutability', 'MUTABLE', '--tags', 'Key=team,Value=cli');
  assert.equal(created.repository.repositoryName, 'cli/app');
  assert.equal(created.repository.repositoryUri, `${server.host}/cli/app`);
  assert.equal(created.repository.repositoryArn, 'arn:aws:ecr:us-east-1:000000000000:repository/cli/app');

  const layout = join(work, 'layout');
  const image = await ociLayout(layout, 'v1');
  const digest = sha256(image.manifest);
  await Promise.all([
    awsFails(['create-repository', '--repository-name', 'cli/app'], 'RepositoryAlreadyExistsException'),
    run('skopeo', ['copy', '--dest-tls-verify=false', `oci:${layout}:v1`, `docker://${server.host}/cli/app:v1`], { timeout: 60_000 }),
  ]);

  const [images, got] = await Promise.all([
    aws('describe-images', '--repository-name', 'cli/app'),
    aws('batch-get-image', '--repository-name', 'cli/app', '--image-ids', 'imageTag=v1'),
  ]);
  assert.equal(images.imageDetails.length, 1);
  const detail = images.imageDetails[0];
  assert.equal(detail.imageDigest, digest);
  assert.deepEqual(detail.imageTags, ['v1']);
  assert.equal(detail.imageManifestMediaType, 'application/vnd.oci.image.manifest.v1+json');
  const manifestDoc = JSON.parse(image.manifest.toString()) as { config: { size: number }; layers: Array<{ size: number }> };
  assert.equal(detail.imageSizeInBytes, manifestDoc.config.size + manifestDoc.layers[0]!.size);

  // A second tag with put-image, using the manifest batch-get-image returned.
  const manifestText: string = got.images[0].imageManifest;
  assert.equal(sha256(manifestText), digest);
  const put = await aws('put-image', '--repository-name', 'cli/app', '--image-tag', 'prod', '--image-manifest', manifestText);
  assert.deepEqual(put.image.imageId, { imageDigest: digest, imageTag: 'prod' });

  // skopeo pulls the put-image tag back over /v2, while a policy is set.
  const pulled = join(work, 'pulled');
  const policyText = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: '*', Action: ['ecr:BatchGetImage'] }] });
  const [, policy] = await Promise.all([
    run('skopeo', ['copy', '--src-tls-verify=false', `docker://${server.host}/cli/app:prod`, `dir:${pulled}`], { timeout: 60_000 }),
    aws('set-repository-policy', '--repository-name', 'cli/app', '--policy-text', policyText),
  ]);
  assert.equal(policy.policyText, policyText);
  assert.deepEqual(await readFile(join(pulled, sha256(image.layer).slice(7))), image.layer);
  assert.equal(sha256(await readFile(join(pulled, 'manifest.json'))), digest);

  const [deletedImages] = await Promise.all([
    aws('batch-delete-image', '--repository-name', 'cli/app', '--image-ids', 'imageTag=prod', 'imageTag=missing'),
    awsFails(['delete-repository', '--repository-name', 'cli/app'], 'RepositoryNotEmptyException'),
  ]);
  assert.deepEqual(deletedImages.imageIds, [{ imageDigest: digest, imageTag: 'prod' }]);
  assert.equal(deletedImages.failures[0].failureCode, 'ImageNotFound');
  assert.equal((await aws('delete-repository', '--repository-name', 'cli/app', '--force')).repository.repositoryName, 'cli/app');
});
