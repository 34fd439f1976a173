import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  BatchDeleteImageCommand,
  BatchGetImageCommand,
  CreateRepositoryCommand,
  DescribeImagesCommand,
  ListImageReferrersCommand,
  ListImagesCommand,
  PutImageCommand,
  PutImageTagMutabilityCommand,
} from '@aws-sdk/client-ecr';
import { imageManifest, prepareImage, pushBlob, putManifestV2, rejectsWith, sha256, startEcr, type EcrTestServer } from './helpers.js';

let server: EcrTestServer;
before(async () => {
  server = await startEcr();
});
after(() => server.stop());

const put = (repositoryName: string, imageManifest: string, imageTag?: string, extra: Record<string, string> = {}) =>
  server.client.send(new PutImageCommand({ repositoryName, imageManifest, imageTag, ...extra }));

test('an image pushed over /v2 is described by DescribeImages with ECR sizes and media types', async () => {
  await server.client.send(new CreateRepositoryCommand({ repositoryName: 'rt/v2push' }));
  const image = await prepareImage(server, 'rt/v2push', 'v2push');
  const before = Date.now();
  assert.equal((await putManifestV2(server, 'rt/v2push', 'v1', image.manifest)).status, 201);
  assert.equal((await putManifestV2(server, 'rt/v2push', 'stable', image.manifest)).status, 201);

  const { imageDetails } = await server.client.send(new DescribeImagesCommand({ repositoryName: 'rt/v2push' }));
  assert.equal(imageDetails!.length, 1);
  const detail = imageDetails![0]!;
  assert.equal(detail.imageDigest, image.digest);
  assert.deepEqual(detail.imageTags, ['stable', 'v1']);
  assert.equal(detail.imageSizeInBytes, image.config.size + image.layers[0]!.size);
  assert.equal(detail.imageManifestMediaType, 'application/vnd.oci.image.manifest.v1+json');
  assert.equal(detail.artifactMediaType, 'application/vnd.oci.image.config.v1+json');
  assert.equal(detail.registryId, '000000000000');
  assert.equal(detail.repositoryName, 'rt/v2push');
  assert.ok(detail.imagePushedAt!.getTime() >= before - 1000 && detail.imagePushedAt!.getTime() <= Date.now() + 1000);
  assert.equal(detail.lastRecordedPullTime, undefined);

  // A pull through BatchGetImage records the pull time.
  const got = await server.client.send(new BatchGetImageCommand({ repositoryName: 'rt/v2push', imageIds: [{ imageTag: 'v1' }] }));
  assert.equal(got.images![0]!.imageManifest, image.manifest);
  const [again] = (await server.client.send(new DescribeImagesCommand({ repositoryName: 'rt/v2push', imageIds: [{ imageTag: 'v1' }] }))).imageDetails!;
  assert.ok(again!.lastRecordedPullTime instanceof Date);
});

test('an image put with PutImage is pulled over /v2', async () => {
  await server.client.send(new CreateRepositoryCommand({ repositoryName: 'rt/putimage' }));
  const image = await prepareImage(server, 'rt/putimage', 'putimage');
  const result = await put('rt/putimage', image.manifest, 'v1', { imageManifestMediaType: 'application/vnd.oci.image.manifest.v1+json' });
  assert.deepEqual(result.image!.imageId, { imageDigest: image.digest, imageTag: 'v1' });
  assert.equal(result.image!.imageManifest, image.manifest);
  assert.equal(result.image!.imageManifestMediaType, 'application/vnd.oci.image.manifest.v1+json');
  assert.equal(result.image!.registryId, '000000000000');

  const res = await fetch(`${server.url}/v2/rt/putimage/manifests/v1`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('docker-content-digest'), image.digest);
  assert.equal(await res.text(), image.manifest);
  const blob = await fetch(`${server.url}/v2/rt/putimage/blobs/${image.layers[0]!.digest}`);
  assert.equal(sha256(Buffer.from(await blob.arrayBuffer())), image.layers[0]!.digest);

  // A second tag for the same image, as `aws ecr put-image` users do.
  const second = await put('rt/putimage', image.manifest, 'prod');
  assert.equal(second.image!.imageId!.imageTag, 'prod');
  assert.equal((await fetch(`${server.url}/v2/rt/putimage/manifests/prod`)).headers.get('docker-content-digest'), image.digest);
});

test('PutImage raises ECR exceptions for re-puts, digest mismatches, missing layers and bad manifests', async () => {
  await server.client.send(new CreateRepositoryCommand({ repositoryName: 'put/errors' }));
  const image = await prepareImage(server, 'put/errors', 'errors');
  await put('put/errors', image.manifest, 'v1');
  await rejectsWith(put('put/errors', image.manifest, 'v1'), 'ImageAlreadyExistsException', /already exists/);
  await rejectsWith(put('put/errors', image.manifest), 'ImageAlreadyExistsException');
  await rejectsWith(put('put/errors', image.manifest, 'v2', { imageDigest: sha256('something else') }), 'ImageDigestDoesNotMatchException');
  const missing = imageManifest(image.config, [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256('never pushed'), size: 12 }]);
  await rejectsWith(put('put/errors', missing.manifest, 'v3'), 'LayersNotFoundException');
  const index = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256('no such manifest'), size: 100 }],
  });
  await rejectsWith(put('put/errors', index, 'multi'), 'ReferencedImagesNotFoundException');
  await rejectsWith(put('put/errors', '{"schemaVersion": 2, "mediaType": "nonsense"}', 'bad'), 'InvalidParameterException');
  await rejectsWith(put('put/missing-repo', image.manifest, 'v1'), 'RepositoryNotFoundException');
  await rejectsWith(put('put/errors', image.manifest, 'x'.repeat(301)), 'ValidationException', /imageTag/);
  // Nothing that failed left a tag behind.
  const ids = (await server.client.send(new ListImagesCommand({ repositoryName: 'put/errors' }))).imageIds!;
  assert.deepEqual(ids, [{ imageDigest: image.digest, imageTag: 'v1' }]);
});

test('tag immutability holds on PutImage and on /v2, with exclusions, and under concurrent pushes', async () => {
  await server.client.send(new CreateRepositoryCommand({ repositoryName: 'immutable/repo', imageTagMutability: 'IMMUTABLE' }));
  const a = await prepareImage(server, 'immutable/repo', 'a');
  const b = await prepareImage(server, 'immutable/repo', 'b');
  await put('immutable/repo', a.manifest, 'v1');
  await rejectsWith(put('immutable/repo', b.manifest, 'v1'), 'ImageTagAlreadyExistsException', /immutable/);
  const v2 = await putManifestV2(server, 'immutable/repo', 'v1', b.manifest);
  assert.equal(v2.status, 409);
  assert.equal(((await v2.json()) as { errors: Array<{ code: string }> }).errors[0]!.code, 'DENIED');
  assert.equal((await putManifestV2(server, 'immutable/repo', 'v1', a.manifest)).status, 201, 're-pushing the same image under an immutable tag is fine');
  assert.equal((await fetch(`${server.url}/v2/immutable/repo/manifests/v1`)).headers.get('docker-content-digest'), a.digest);
  // b was refused as a whole: its manifest is not stored either.
  assert.equal((await fetch(`${server.url}/v2/immutable/repo/manifests/${b.digest}`)).status, 404);

  // Concurrent pushes of one tag: exactly one wins, whichever path they take.
  const contenders = await Promise.all(Array.from({ length: 6 }, (_, i) => prepareImage(server, 'immutable/repo', `race-${i}`)));
  const results = await Promise.all(
    contenders.map((img, i) =>
      i % 2 === 0
        ? putManifestV2(server, 'immutable/repo', 'race', img.manifest).then((r) => r.status === 201)
        : put('immutable/repo', img.manifest, 'race').then(
            () => true,
            (err: Error) => {
              assert.equal(err.name, 'ImageTagAlreadyExistsException');
              return false;
            },
          ),
    ),
  );
  assert.equal(results.filter(Boolean).length, 1, `exactly one push wins: ${results}`);
  const winner = contenders[results.indexOf(true)]!;
  assert.equal((await fetch(`${server.url}/v2/immutable/repo/manifests/race`)).headers.get('docker-content-digest'), winner.digest);

  // IMMUTABLE_WITH_EXCLUSION: `latest` moves, others do not.
  await server.client.send(
    new PutImageTagMutabilityCommand({ repositoryName: 'immutable/repo', imageTagMutability: 'IMMUTABLE_WITH_EXCLUSION', imageTagMutabilityExclusionFilters: [{ filterType: 'WILDCARD', filter: 'lat*' }] }),
  );
  await put('immutable/repo', a.manifest, 'latest');
  await put('immutable/repo', b.manifest, 'latest');
  await rejectsWith(put('immutable/repo', b.manifest, 'v1'), 'ImageTagAlreadyExistsException');
  // MUTABLE_WITH_EXCLUSION: only matching tags are immutable.
  await server.client.send(
    new PutImageTagMutabilityCommand({ repositoryName: 'immutable/repo', imageTagMutability: 'MUTABLE_WITH_EXCLUSION', imageTagMutabilityExclusionFilters: [{ filterType: 'WILDCARD', filter: 'v*' }] }),
  );
  await put('immutable/repo', a.manifest, 'latest');
  assert.equal((await putManifestV2(server, 'immutable/repo', 'v1', b.manifest)).status, 409);
});

test('ListImages, DescribeImages filters and BatchGetImage failures', async () => {
  await server.client.send(new CreateRepositoryCommand({ repositoryName: 'list/repo' }));
  const tagged = await prepareImage(server, 'list/repo', 'tagged');
  const untagged = await prepareImage(server, 'list/repo', 'untagged');
  await put('list/repo', tagged.manifest, 'one');
  await put('list/repo', tagged.manifest, 'two');
  await put('list/repo', untagged.manifest);

  const all = (await server.client.send(new ListImagesCommand({ repositoryName: 'list/repo' }))).imageIds!;
  assert.equal(all.length, 3);
  const onlyTagged = (await server.client.send(new ListImagesCommand({ repositoryName: 'list/repo', filter: { tagStatus: 'TAGGED' } }))).imageIds!;
  assert.deepEqual(onlyTagged, [
    { imageDigest: tagged.digest, imageTag: 'one' },
    { imageDigest: tagged.digest, imageTag: 'two' },
  ]);
  const onlyUntagged = (await server.client.send(new ListImagesCommand({ repositoryName: 'list/repo', filter: { tagStatus: 'UNTAGGED' } }))).imageIds!;
  assert.deepEqual(onlyUntagged, [{ imageDigest: untagged.digest }]);
  const describedUntagged = (await server.client.send(new DescribeImagesCommand({ repositoryName: 'list/repo', filter: { tagStatus: 'UNTAGGED' } }))).imageDetails!;
  assert.deepEqual(describedUntagged.map((d) => [d.imageDigest, d.imageTags]), [[untagged.digest, undefined]]);

  await rejectsWith(server.client.send(new DescribeImagesCommand({ repositoryName: 'list/repo', imageIds: [{ imageTag: 'nope' }] })), 'ImageNotFoundException', /nope/);
  await rejectsWith(server.client.send(new DescribeImagesCommand({ repositoryName: 'list/repo', imageIds: [{ imageTag: 'one' }], maxResults: 5 })), 'InvalidParameterException');
  await rejectsWith(server.client.send(new DescribeImagesCommand({ repositoryName: 'list/none' })), 'RepositoryNotFoundException');
  await rejectsWith(server.client.send(new DescribeImagesCommand({ repositoryName: 'list/repo', imageIds: [{ imageDigest: 'sha256:short' }] })), 'InvalidParameterException', /digest/);

  const got = await server.client.send(
    new BatchGetImageCommand({
      repositoryName: 'list/repo',
      imageIds: [
        { imageTag: 'one' },
        { imageDigest: untagged.digest },
        { imageTag: 'missing' },
        { imageTag: 'one', imageDigest: untagged.digest },
        { imageDigest: 'sha256:xyz' },
        {},
      ],
    }),
  );
  assert.deepEqual(got.images!.map((i) => i.imageId), [{ imageDigest: tagged.digest, imageTag: 'one' }, { imageDigest: untagged.digest }]);
  assert.deepEqual(got.failures!.map((f) => f.failureCode), ['ImageNotFound', 'ImageTagDoesNotMatchDigest', 'InvalidImageDigest', 'MissingDigestAndTag']);

  const docker = await server.client.send(
    new BatchGetImageCommand({ repositoryName: 'list/repo', imageIds: [{ imageTag: 'one' }], acceptedMediaTypes: ['application/vnd.docker.distribution.manifest.v2+json'] }),
  );
  assert.equal(docker.images!.length, 0);
  assert.match(docker.failures![0]!.failureReason!, /accepted media types/);
  const oci = await server.client.send(
    new BatchGetImageCommand({ repositoryName: 'list/repo', imageIds: [{ imageTag: 'one' }], acceptedMediaTypes: ['application/vnd.oci.image.manifest.v1+json'] }),
  );
  assert.equal(oci.images!.length, 1);
});

test('BatchDeleteImage untags, deletes, and lists partial failures', async () => {
  await server.client.send(new CreateRepositoryCommand({ repositoryName: 'delete/repo' }));
  const a = await prepareImage(server, 'delete/repo', 'a');
  const b = await prepareImage(server, 'delete/repo', 'b');
  await put('delete/repo', a.manifest, 'a1');
  await put('delete/repo', a.manifest, 'a2');
  await put('delete/repo', b.manifest, 'b1');
  const index = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: b.digest, size: Buffer.byteLength(b.manifest) }],
  });
  const indexDigest = (await put('delete/repo', index, 'multi')).image!.imageId!.imageDigest!;

  const first = await server.client.send(
    new BatchDeleteImageCommand({ repositoryName: 'delete/repo', imageIds: [{ imageTag: 'a1' }, { imageTag: 'missing' }, { imageDigest: b.digest }] }),
  );
  assert.deepEqual(first.imageIds, [{ imageDigest: a.digest, imageTag: 'a1' }]);
  assert.deepEqual(first.failures!.map((f) => [f.imageId, f.failureCode]), [
    [{ imageTag: 'missing' }, 'ImageNotFound'],
    [{ imageDigest: b.digest }, 'ImageReferencedByManifestList'],
  ]);
  // Removing the last tag deletes the image.
  const second = await server.client.send(new BatchDeleteImageCommand({ repositoryName: 'delete/repo', imageIds: [{ imageTag: 'a2' }, { imageDigest: indexDigest }] }));
  assert.deepEqual(second.imageIds, [
    { imageDigest: a.digest, imageTag: 'a2' },
    { imageDigest: indexDigest, imageTag: 'multi' },
  ]);
  assert.equal((await fetch(`${server.url}/v2/delete/repo/manifests/${a.digest}`)).status, 404);
  const third = await server.client.send(new BatchDeleteImageCommand({ repositoryName: 'delete/repo', imageIds: [{ imageDigest: b.digest }] }));
  assert.deepEqual(third.imageIds, [{ imageDigest: b.digest, imageTag: 'b1' }]);
  assert.deepEqual((await server.client.send(new ListImagesCommand({ repositoryName: 'delete/repo' }))).imageIds, []);
});

test('ListImageReferrers lists manifests whose subject is the image', async () => {
  await server.client.send(new CreateRepositoryCommand({ repositoryName: 'ref/repo' }));
  const image = await prepareImage(server, 'ref/repo', 'subject');
  await put('ref/repo', image.manifest, 'v1');
  const empty = await pushBlob(server, 'ref/repo', Buffer.from('{}'), 'application/vnd.oci.empty.v1+json');
  const sig = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    artifactType: 'application/vnd.example.signature',
    config: empty,
    layers: [empty],
    subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: image.digest, size: Buffer.byteLength(image.manifest) },
  });
  const sigDigest = (await put('ref/repo', sig)).image!.imageId!.imageDigest!;
  const result = await server.client.send(new ListImageReferrersCommand({ repositoryName: 'ref/repo', subjectId: { imageDigest: image.digest } }));
  assert.equal(result.referrers!.length, 1);
  assert.equal(result.referrers![0]!.digest, sigDigest);
  assert.equal(result.referrers![0]!.artifactType, 'application/vnd.example.signature');
  assert.equal(result.referrers![0]!.size, Buffer.byteLength(sig));
  const filtered = await server.client.send(
    new ListImageReferrersCommand({ repositoryName: 'ref/repo', subjectId: { imageDigest: image.digest }, filter: { artifactTypes: ['application/other'] } }),
  );
  assert.deepEqual(filtered.referrers, []);
  const [detail] = (await server.client.send(new DescribeImagesCommand({ repositoryName: 'ref/repo', imageIds: [{ imageDigest: sigDigest }] }))).imageDetails!;
  assert.equal(detail!.subjectManifestDigest, image.digest);
});
