import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { buildTestImages, imageDigests, layoutRef, readLayoutBlob, sha256, type BuiltImage, type TestImages } from '../helpers/images.js';
import { requirePostgres } from '../helpers/postgres.js';
import { runOk } from '../helpers/process.js';
import { startBerth, type TestServer } from '../helpers/server.js';
import { requireTool } from '../helpers/tools.js';

// skopeo, the real client, copies images we build ourselves (OCI layouts on disk) into Berth
// over plain http on loopback and back out again; every digest and byte must survive.

const SKOPEO_TIMEOUT = 30_000;

function skopeo(args: string[]): Promise<string> {
  return runOk('skopeo', ['--insecure-policy', ...args], { timeoutMs: SKOPEO_TIMEOUT });
}

/** skopeo copy from our layout into Berth, then from Berth into a fresh layout, which it returns. */
async function roundTrip(images: TestImages, server: TestServer, ref: string, destination: string, all = false): Promise<string> {
  const out = await mkdtemp(join(tmpdir(), 'berth-skopeo-out-'));
  const flags = ['--preserve-digests', ...(all ? ['--all'] : [])];
  await skopeo(['copy', ...flags, '--dest-tls-verify=false', `oci:${images.dir}:${ref}`, `docker://${server.host}/${destination}`]);
  await skopeo(['copy', ...flags, '--src-tls-verify=false', `docker://${server.host}/${destination}`, `oci:${out}:back`]);
  return out;
}

async function get(server: TestServer, path: string, accept?: string): Promise<{ status: number; headers: Headers; body: Buffer }> {
  const res = await fetch(`${server.url}${path}`, { headers: accept ? { accept } : {}, signal: AbortSignal.timeout(10_000) });
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

/** Berth serves the image's manifest, config and layers with exactly the bytes we built. */
async function assertServedByBerth(server: TestServer, repo: string, reference: string, image: BuiltImage, layoutDir: string): Promise<void> {
  const manifest = await get(server, `/v2/${repo}/manifests/${reference}`, image.manifest.mediaType);
  assert.equal(manifest.status, 200);
  assert.equal(manifest.headers.get('docker-content-digest'), image.manifest.digest);
  assert.equal(manifest.headers.get('content-type'), image.manifest.mediaType);
  assert.ok(manifest.body.equals(image.manifestBytes), 'manifest bytes differ from what was pushed');
  for (const digest of imageDigests(image).slice(1)) {
    const blob = await get(server, `/v2/${repo}/blobs/${digest}`);
    assert.equal(blob.status, 200, `blob ${digest}`);
    assert.equal(sha256(blob.body), digest);
    assert.ok(blob.body.equals(await readLayoutBlob(layoutDir, digest)), `blob ${digest} bytes differ`);
  }
}

/** The layout skopeo wrote holds every blob of the image, byte for byte as in our layout. */
async function assertSameBlobs(outDir: string, sourceDir: string, image: BuiltImage): Promise<void> {
  for (const digest of imageDigests(image)) {
    const copied = await readLayoutBlob(outDir, digest).catch(() => null);
    assert.ok(copied, `skopeo's copy lacks ${digest}`);
    assert.ok(copied.equals(await readLayoutBlob(sourceDir, digest)), `${digest} differs after the round trip`);
  }
}

async function coreCopy(t: TestContext, images: TestImages, server: TestServer): Promise<void> {
  const image = images.multiLayer;
  const out = await roundTrip(images, server, 'multilayer', 'clients/multilayer:v1');
  t.after(() => rm(out, { recursive: true, force: true }));
  const back = await layoutRef(out, 'back');
  assert.equal(back?.digest, image.manifest.digest, 'the manifest digest changed on the way through Berth');
  assert.equal(back?.mediaType, image.manifest.mediaType);
  await assertSameBlobs(out, images.dir, image);
  await assertServedByBerth(server, 'clients/multilayer', 'v1', image, images.dir);
  await assertServedByBerth(server, 'clients/multilayer', image.manifest.digest, image, images.dir);
}

describe('skopeo against Berth', { timeout: 120_000 }, () => {
  let images: TestImages;
  let workDir: string;
  let server: TestServer;

  before(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'berth-skopeo-'));
    images = await buildTestImages(join(workDir, 'layout'));
    server = await startBerth();
  });
  after(async () => {
    await server?.stop();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  test('copies a three-layer image in and back out with every digest and byte intact', async (t) => {
    if (!requireTool(t, 'skopeo')) return;
    await coreCopy(t, images, server);
  });

  test('the same copy with metadata in PostgreSQL', async (t) => {
    if (!requireTool(t, 'skopeo') || !(await requirePostgres(t))) return;
    const pgServer = await startBerth({ postgres: true });
    t.after(() => pgServer.stop());
    await coreCopy(t, images, pgServer);
  });

  test('copies a multi-arch index with --all, children and all, and back out', async (t) => {
    if (!requireTool(t, 'skopeo')) return;
    const { multiArch } = images;
    const out = await roundTrip(images, server, 'multiarch', 'clients/multiarch:latest', true);
    t.after(() => rm(out, { recursive: true, force: true }));

    const back = await layoutRef(out, 'back');
    assert.equal(back?.digest, multiArch.index.digest, 'the index digest changed on the way through Berth');
    assert.ok((await readLayoutBlob(out, multiArch.index.digest)).equals(multiArch.indexBytes));
    for (const image of multiArch.images) await assertSameBlobs(out, images.dir, image);

    const index = await get(server, '/v2/clients/multiarch/manifests/latest', multiArch.index.mediaType);
    assert.equal(index.status, 200);
    assert.equal(index.headers.get('docker-content-digest'), multiArch.index.digest);
    assert.ok(index.body.equals(multiArch.indexBytes));
    for (const image of multiArch.images) {
      await assertServedByBerth(server, 'clients/multiarch', image.manifest.digest, image, images.dir);
    }
    // skopeo picks the arm64 child out of the index when asked for that platform.
    const arm = multiArch.images.find((i) => i.platform.architecture === 'arm64')!;
    const inspected = JSON.parse(
      await skopeo(['--override-arch', 'arm64', 'inspect', '--tls-verify=false', `docker://${server.host}/clients/multiarch:latest`]),
    ) as { Digest: string; Architecture: string; Layers: string[] };
    assert.equal(inspected.Architecture, 'arm64');
    assert.equal(inspected.Digest, multiArch.index.digest); // skopeo reports the digest the tag names
    assert.deepEqual(inspected.Layers, arm.layers.map((l) => l.descriptor.digest));
  });

  test('list-tags, inspect, inspect --raw and delete', async (t) => {
    if (!requireTool(t, 'skopeo')) return;
    const image = images.small;
    const repo = `${server.host}/clients/small`;
    for (const tag of ['one', 'two', 'three']) {
      await skopeo(['copy', '--preserve-digests', '--dest-tls-verify=false', `oci:${images.dir}:small`, `docker://${repo}:${tag}`]);
    }

    const tags = JSON.parse(await skopeo(['list-tags', '--tls-verify=false', `docker://${repo}`])) as { Repository: string; Tags: string[] };
    assert.equal(tags.Repository, repo);
    assert.deepEqual([...tags.Tags].sort(), ['one', 'three', 'two']);

    const inspected = JSON.parse(await skopeo(['inspect', '--tls-verify=false', `docker://${repo}:two`])) as {
      Digest: string;
      Layers: string[];
      Architecture: string;
      Os: string;
      RepoTags: string[];
    };
    assert.equal(inspected.Digest, image.manifest.digest);
    assert.deepEqual(inspected.Layers, image.layers.map((l) => l.descriptor.digest));
    assert.equal(inspected.Architecture, 'amd64');
    assert.equal(inspected.Os, 'linux');
    assert.deepEqual([...inspected.RepoTags].sort(), ['one', 'three', 'two']);

    const raw = await runOk('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${repo}:two`], { timeoutMs: SKOPEO_TIMEOUT });
    assert.equal(raw, image.manifestBytes.toString('utf8'));
    const rawConfig = await runOk('skopeo', ['inspect', '--raw', '--config', '--tls-verify=false', `docker://${repo}:two`], { timeoutMs: SKOPEO_TIMEOUT });
    assert.equal(rawConfig, image.configBytes.toString('utf8'));

    // skopeo delete resolves the tag and deletes the manifest by digest: every tag on it goes too.
    await skopeo(['delete', '--tls-verify=false', `docker://${repo}:two`]);
    const gone = await get(server, `/v2/clients/small/manifests/${image.manifest.digest}`);
    assert.equal(gone.status, 404);
    assert.equal((JSON.parse(gone.body.toString()) as { errors: Array<{ code: string }> }).errors[0]?.code, 'MANIFEST_UNKNOWN');
    for (const tag of ['one', 'two', 'three']) assert.equal((await get(server, `/v2/clients/small/manifests/${tag}`)).status, 404, `tag ${tag}`);
    const after = JSON.parse(await skopeo(['list-tags', '--tls-verify=false', `docker://${repo}`])) as { Tags: string[] };
    assert.deepEqual(after.Tags, []);
    // skopeo itself now fails to find it.
    await assert.rejects(skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${repo}:one`]));
  });
});
