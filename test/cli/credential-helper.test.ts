import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { startBerth, type TestServer } from '../helpers/server.js';
import { requireTool } from '../helpers/tools.js';

const run = promisify(execFile);
const ADMIN = { accessKeyId: 'AKIABERTHTESTADMIN04', secretAccessKey: 'berth-test-admin-secret-credhelper-0001' };
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function helper(input: string, env: Record<string, string>): Promise<{ code: number; stdout: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [resolve('bin/docker-credential-berth.js'), 'get'], { env: { PATH: process.env.PATH!, HOME: '/nonexistent', ...env } });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.on('exit', (code) => done({ code: code ?? -1, stdout }));
    child.stdin.end(input);
  });
}

describe('docker-credential-berth', () => {
  let server: TestServer;
  let work: string;
  before(async () => {
    server = await startBerth({ registryId: '123456789012', bootstrap: ADMIN, auth: { v2: true } });
    work = await mkdtemp(join(tmpdir(), 'berth-credhelper-'));
  });
  after(async () => {
    await server.stop();
    await rm(work, { recursive: true, force: true });
  });

  test('get: AWS credentials from the environment become a registry login', async () => {
    const { code, stdout } = await helper(server.host, { AWS_ACCESS_KEY_ID: ADMIN.accessKeyId, AWS_SECRET_ACCESS_KEY: ADMIN.secretAccessKey });
    assert.equal(code, 0, stdout);
    const login = JSON.parse(stdout);
    assert.equal(login.ServerURL, server.host);
    assert.equal(login.Username, 'AWS');
    const res = await fetch(`${server.url}/v2/`, { headers: { authorization: `Basic ${Buffer.from(`AWS:${login.Secret}`).toString('base64')}` } });
    assert.equal(res.status, 200);
  });

  test('get: from a profile of the shared credentials file (the bootstrap one)', async () => {
    const { code, stdout } = await helper(server.host, { AWS_SHARED_CREDENTIALS_FILE: join(server.dataDir, 'credentials') });
    assert.equal(code, 0, stdout);
    assert.equal(JSON.parse(stdout).Username, 'AWS');
    const missing = await helper(server.host, { AWS_SHARED_CREDENTIALS_FILE: join(server.dataDir, 'credentials'), AWS_PROFILE: 'nope' });
    assert.equal(missing.code, 1);
    assert.match(missing.stdout, /profile nope/);
  });

  test('get: wrong credentials fail with the server error', async () => {
    const { code, stdout } = await helper(server.host, { AWS_ACCESS_KEY_ID: ADMIN.accessKeyId, AWS_SECRET_ACCESS_KEY: 'wrong-wrong-wrong-wrong' });
    assert.equal(code, 1);
    assert.match(stdout, /InvalidSignatureException/);
  });

  test('skopeo pushes and pulls through a credHelpers entry, the helper found on PATH where the README installs it', async (t) => {
    if (!requireTool(t, 'skopeo')) return;
    // The README's install step, `npm link`, into a prefix of this test's own: it links the
    // package's bins into <prefix>/bin, which the user has on PATH.
    const prefix = join(work, 'npm-prefix');
    await mkdir(join(prefix, 'lib'), { recursive: true });
    await run('npm', ['link', '--ignore-scripts', '--offline', '--no-audit', '--no-fund'], { env: { ...process.env, NPM_CONFIG_PREFIX: prefix }, cwd: process.cwd() });
    const bin = join(prefix, 'bin');
    const lookup = await run('sh', ['-c', 'for c in docker-credential-berth berth berth-credential-provider; do command -v $c; done'], { env: { PATH: `${bin}:${process.env.PATH}` } });
    assert.deepEqual(lookup.stdout.trim().split('\n'), ['docker-credential-berth', 'berth', 'berth-credential-provider'].map((name) => join(bin, name)));
    const version = await run('docker-credential-berth', ['version'], { env: { PATH: `${bin}:${process.env.PATH}` } });
    assert.match(version.stdout, /^docker-credential-berth /);
    const authfile = join(work, 'auth.json');
    await writeFile(authfile, JSON.stringify({ credHelpers: { [server.host]: 'berth' } }));

    const layer = gzipSync(Buffer.from('credential helper layer'));
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha(Buffer.from('credential helper layer'))] } }));
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length }, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(layer), size: layer.length }] }));
    const layout = join(work, 'layout');
    await mkdir(join(layout, 'blobs', 'sha256'), { recursive: true });
    for (const b of [layer, config, manifest]) await writeFile(join(layout, 'blobs', 'sha256', sha(b).slice(7)), b);
    await writeFile(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    await writeFile(join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha(manifest), size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'v1' } }] }));

    const env = { PATH: `${bin}:${process.env.PATH}`, HOME: work, AWS_ACCESS_KEY_ID: ADMIN.accessKeyId, AWS_SECRET_ACCESS_KEY: ADMIN.secretAccessKey };
    await run('skopeo', ['copy', '--authfile', authfile, '--dest-tls-verify=false', `oci:${layout}:v1`, `docker://${server.host}/helper/app:v1`], { env });
    const raw = JSON.parse((await run('skopeo', ['inspect', '--raw', '--authfile', authfile, '--tls-verify=false', `docker://${server.host}/helper/app:v1`], { env })).stdout);
    assert.equal(raw.layers[0].digest, sha(layer));
    // Wrong AWS credentials in the environment: the helper fails and so does skopeo.
    await assert.rejects(run('skopeo', ['inspect', '--raw', '--authfile', authfile, '--tls-verify=false', `docker://${server.host}/helper/app:v1`], { env: { ...env, AWS_SECRET_ACCESS_KEY: 'wrong-wrong-wrong-wrong' } }));
  });
});
