import assert from 'node:assert/strict';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { startContainerd, type Containerd } from '../helpers/containerd.js';
import { buildTestImages, type TestImages } from '../helpers/images.js';
import { pushImage, pushIndex } from '../helpers/push.js';
import { startBerth, type TestServer } from '../helpers/server.js';
import { inCI, requireTool } from '../helpers/tools.js';

// containerd (what Kubernetes nodes and ECS agents pull with) pulls from Berth over plain
// http and unpacks the layers with the native snapshotter: the layers must be real tars.

const hostArch = process.arch === 'arm64' ? 'arm64' : 'amd64';

function requireRoot(t: TestContext): boolean {
  if (process.getuid?.() === 0) return true;
  const message = 'containerd needs root: run this test as root to pull with a private containerd daemon';
  if (inCI) throw new Error(message);
  t.skip(message);
  return false;
}

/** `ctr images ls` rows as { ref, type, digest }. */
async function listImages(containerd: Containerd): Promise<Array<{ ref: string; type: string; digest: string }>> {
  const out = await containerd.ctr(['images', 'ls'], 15_000);
  return out
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .map(([ref = '', type = '', digest = '']) => ({ ref, type, digest }));
}

/** The unpacked snapshot folders (native snapshotter: each a full copy of the file system so far) holding `path`. */
async function snapshotsWith(containerd: Containerd, path: string): Promise<string[]> {
  const found: string[] = [];
  for (const id of await readdir(containerd.snapshotsDir).catch(() => [] as string[])) {
    const dir = join(containerd.snapshotsDir, id);
    if (await stat(join(dir, path)).catch(() => null)) found.push(dir);
  }
  return found;
}

describe('containerd pulls from Berth', { timeout: 120_000 }, () => {
  let images: TestImages;
  let workDir: string;
  let server: TestServer;
  let containerd: Containerd | undefined;

  before(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'berth-containerd-images-'));
    images = await buildTestImages(join(workDir, 'layout'));
    server = await startBerth();
    await pushIndex(server.url, images.dir, 'clients/multiarch', images.multiArch, 'latest');
    await pushImage(server.url, images.dir, 'clients/multilayer', images.multiLayer, 'v1');
  });
  after(async () => {
    await containerd?.stop();
    await server?.stop();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  /** Starts the daemon on first use, so that skipped tests start nothing. */
  async function daemon(t: TestContext): Promise<Containerd | null> {
    if (!requireTool(t, 'containerd') || !requireTool(t, 'ctr') || !requireRoot(t)) return null;
    containerd ??= await startContainerd();
    return containerd;
  }

  test('ctr pulls a multi-arch index, resolving and unpacking the host platform', async (t) => {
    const c = await daemon(t);
    if (!c) return;
    const ref = `${server.host}/clients/multiarch:latest`;
    await c.ctr(['images', 'pull', '--plain-http', '--snapshotter', 'native', ref]).catch((err: Error) => {
      throw new Error(`${err.message}\ncontainerd log:\n${c.log().slice(-3000)}`);
    });

    const listed = (await listImages(c)).find((row) => row.ref === ref);
    assert.ok(listed, `ctr images ls does not list ${ref}`);
    assert.equal(listed.digest, images.multiArch.index.digest);
    assert.equal(listed.type, images.multiArch.index.mediaType);

    // The host platform's layers are unpacked: etc/arch names it, with this run's nonce.
    const dirs = await snapshotsWith(c, 'etc/arch');
    assert.ok(dirs.length > 0, 'no unpacked snapshot holds etc/arch');
    const contents = await Promise.all(dirs.map((d) => readFile(join(d, 'etc/arch'), 'utf8')));
    assert.ok(contents.includes(`${hostArch} ${images.nonce}\n`), `etc/arch is ${JSON.stringify(contents)}`);
  });

  test('ctr pulls a three-layer image by tag and by digest, with the layers applied in order', async (t) => {
    const c = await daemon(t);
    if (!c) return;
    const image = images.multiLayer;
    const byTag = `${server.host}/clients/multilayer:v1`;
    const byDigest = `${server.host}/clients/multilayer@${image.manifest.digest}`;
    for (const ref of [byTag, byDigest]) {
      await c.ctr(['images', 'pull', '--plain-http', '--snapshotter', 'native', ref]).catch((err: Error) => {
        throw new Error(`${err.message}\ncontainerd log:\n${c.log().slice(-3000)}`);
      });
    }
    const rows = await listImages(c);
    for (const ref of [byTag, byDigest]) {
      const listed = rows.find((row) => row.ref === ref);
      assert.ok(listed, `ctr images ls does not list ${ref}`);
      assert.equal(listed.digest, image.manifest.digest);
    }

    // The top snapshot holds all three layers, the last one winning for etc/hostname.
    const [top] = await snapshotsWith(c, 'app/config.json');
    assert.ok(top, 'no unpacked snapshot holds the top layer');
    assert.equal(await readFile(join(top, 'etc/hostname'), 'utf8'), 'overridden\n');
    assert.equal(JSON.parse(await readFile(join(top, 'app/config.json'), 'utf8')).nonce, images.nonce);
    assert.equal((await stat(join(top, 'data/random.bin'))).size, 3 * 1024 * 1024);
    assert.ok((await stat(join(top, 'bin/hello'))).mode & 0o100, 'bin/hello lost its executable bit');
  });
});
