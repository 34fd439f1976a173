import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { spawnBerth } from '../helpers/berth-process.js';
import { runOk } from '../helpers/process.js';
import { requireTool } from '../helpers/tools.js';

// podman and buildah, the real clients (Debian's), against a real `berth serve` with its
// default settings (/v2 requires a login): buildah builds an image from a Containerfile
// (FROM scratch, COPY of a file made here; nothing fetched), `aws ecr get-login-password |
// podman login`, podman push, pull into fresh storage (same digest, same file), and a
// two-platform manifest list with `podman manifest push --all`. Every podman and buildah
// runs on a private storage root with the vfs driver, and a private auth file: nothing of
// the machine's own containers storage or logins is touched.

const TIMEOUT = 120_000;

function withInput(command: string, args: string[], input: string, env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${command} ${args.join(' ')} failed (${code}): ${out}`))));
    child.stdin.end(input);
  });
}

test('buildah builds, podman logs in with aws ecr get-login-password, pushes, pulls back, and pushes a manifest list', { timeout: 10 * 60_000 }, async (t) => {
  if (!requireTool(t, 'podman') || !requireTool(t, 'buildah') || !requireTool(t, 'aws')) return;
  const work = await mkdtemp(join(tmpdir(), 'berth-podman-'));
  const dataDir = join(work, 'data');
  const server = await spawnBerth(['--data-dir', dataDir], { authV2: null, env: { PATH: process.env.PATH! } });
  try {
    const host = new URL(server.url).host;
    const env = { PATH: process.env.PATH!, HOME: work, TMPDIR: work, AWS_SHARED_CREDENTIALS_FILE: join(dataDir, 'credentials'), AWS_CONFIG_FILE: join(dataDir, 'config'), REGISTRY_AUTH_FILE: join(work, 'auth.json') };
    const storage = (name: string) => ['--root', join(work, name, 'root'), '--runroot', join(work, name, 'run'), '--storage-driver', 'vfs'];
    const podman = (store: string, args: string[]) => runOk('podman', [...storage(store), ...args], { env, timeoutMs: TIMEOUT });
    const buildah = (args: string[]) => runOk('buildah', [...storage('build'), ...args], { env, timeoutMs: TIMEOUT });

    // The build context: a Containerfile and the file it copies, made here.
    const context = join(work, 'context');
    await mkdir(context);
    const content = `made by the podman test at ${new Date().toISOString()}\n`;
    await writeFile(join(context, 'hello.txt'), content);
    await writeFile(join(context, 'Containerfile'), 'FROM scratch\nCOPY hello.txt /hello.txt\n');
    await buildah(['bud', '--isolation', 'chroot', '-t', `${host}/team/app:1.0`, '-f', join(context, 'Containerfile'), context]);

    // The README's login: the aws CLI with the files of the first start.
    const password = await runOk('aws', ['ecr', 'get-login-password'], { env, timeoutMs: 60_000 });
    assert.ok(password.trim().length > 20);
    await withInput('podman', [...storage('build'), 'login', '--tls-verify=false', '--username', 'AWS', '--password-stdin', host], password, env);

    const digestFile = join(work, 'pushed.digest');
    await podman('build', ['push', '--tls-verify=false', '--digestfile', digestFile, `${host}/team/app:1.0`]);
    const pushed = (await readFile(digestFile, 'utf8')).trim();
    assert.match(pushed, /^sha256:[0-9a-f]{64}$/);
    // Berth holds it under that digest (the ECR API sees the /v2 push).
    const described = JSON.parse(await runOk('aws', ['ecr', 'describe-images', '--repository-name', 'team/app', '--image-ids', 'imageTag=1.0', '--output', 'json'], { env, timeoutMs: 60_000 })) as { imageDetails: { imageDigest: string }[] };
    assert.equal(described.imageDetails[0]!.imageDigest, pushed);

    // Pull into storage that has never seen the image: same digest, same file.
    await podman('pull', ['pull', '-q', '--tls-verify=false', `${host}/team/app:1.0`]);
    const digest = (await podman('pull', ['image', 'inspect', '--format', '{{.Digest}}', `${host}/team/app:1.0`])).trim();
    assert.equal(digest, pushed, 'podman pulled the digest it pushed');
    const exported = join(work, 'exported');
    await podman('pull', ['save', '--format', 'oci-dir', '-o', exported, `${host}/team/app:1.0`]);
    const found: string[] = [];
    for (const blob of await readdir(join(exported, 'blobs', 'sha256'))) {
      const listing = await runOk('tar', ['-tf', join(exported, 'blobs', 'sha256', blob)], { timeoutMs: 30_000 }).catch(() => '');
      if (/^hello\.txt$/m.test(listing)) found.push(await runOk('tar', ['-xOf', join(exported, 'blobs', 'sha256', blob), 'hello.txt'], { timeoutMs: 30_000 }));
    }
    assert.deepEqual(found, [content], 'the layer holds the file the Containerfile copied');

    // A manifest list of two platforms (COPY only: no emulator needed), pushed with --all.
    await buildah(['bud', '--isolation', 'chroot', '--platform', 'linux/amd64,linux/arm64', '--manifest', 'localhost/berth-test/multi', '-f', join(context, 'Containerfile'), context]);
    const listDigestFile = join(work, 'list.digest');
    await podman('build', ['manifest', 'push', '--all', '--tls-verify=false', '--digestfile', listDigestFile, 'localhost/berth-test/multi', `docker://${host}/team/app:multi`]);
    const listDigest = (await readFile(listDigestFile, 'utf8')).trim();
    const got = JSON.parse(await runOk('aws', ['ecr', 'batch-get-image', '--repository-name', 'team/app', '--image-ids', 'imageTag=multi', '--output', 'json'], { env, timeoutMs: 60_000 })) as {
      images: { imageId: { imageDigest: string }; imageManifest: string; imageManifestMediaType: string }[];
    };
    assert.equal(got.images[0]!.imageId.imageDigest, listDigest);
    const list = JSON.parse(got.images[0]!.imageManifest) as { mediaType: string; manifests: { digest: string; platform: { architecture: string; os: string } }[] };
    assert.deepEqual(list.manifests.map((m) => `${m.platform.os}/${m.platform.architecture}`).sort(), ['linux/amd64', 'linux/arm64']);
    // Each platform's image came along (--all) and pulls by its own platform.
    const arm = list.manifests.find((m) => m.platform.architecture === 'arm64')!;
    await podman('arm', ['pull', '-q', '--tls-verify=false', '--arch', 'arm64', `${host}/team/app:multi`]);
    const [pulledDigest, architecture, repoDigests] = (await podman('arm', ['image', 'inspect', '--format', '{{.Digest}}|{{.Architecture}}|{{.RepoDigests}}', `${host}/team/app:multi`])).trim().split('|');
    // podman records the list's digest as the image's, and the platform image's among its repo digests.
    assert.equal(pulledDigest, listDigest);
    assert.equal(architecture, 'arm64');
    assert.ok(repoDigests!.includes(`${host}/team/app@${arm.digest}`), `the arm64 image ${arm.digest} is among ${repoDigests}`);
  } finally {
    await server.stop();
    await rm(work, { recursive: true, force: true });
  }
});
