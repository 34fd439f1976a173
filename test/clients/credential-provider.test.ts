import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { spawnBerth } from '../helpers/berth-process.js';
import { startContainerd } from '../helpers/containerd.js';
import { buildTestImages } from '../helpers/images.js';
import { run, runOk } from '../helpers/process.js';
import { requireTool } from '../helpers/tools.js';

// berth-credential-provider as the kubelet runs it: the bin as a subprocess, a
// CredentialProviderRequest on stdin, the node's AWS credentials in its environment (or a
// profile of the shared credentials file); containerd then pulls with the login it returned,
// as the kubelet hands it to the runtime.

const provider = fileURLToPath(new URL('../../../bin/berth-credential-provider.js', import.meta.url));

function ask(input: string, env: NodeJS.ProcessEnv, args: string[] = []): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [provider, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

const request = (image: string, apiVersion = 'credentialprovider.kubelet.k8s.io/v1') => JSON.stringify({ apiVersion, kind: 'CredentialProviderRequest', image });

interface Response {
  apiVersion: string;
  kind: string;
  cacheKeyType: string;
  cacheDuration: string;
  auth: Record<string, { username: string; password: string }>;
}

test('berth-credential-provider answers the kubelet with a login containerd pulls with', { timeout: 5 * 60_000 }, async (t) => {
  if (!requireTool(t, 'skopeo') || !requireTool(t, 'containerd') || !requireTool(t, 'ctr')) return;
  const work = await mkdtemp(join(tmpdir(), 'berth-kubelet-'));
  const dataDir = join(work, 'data');
  const server = await spawnBerth(['--data-dir', dataDir], { authV2: null, env: { PATH: process.env.PATH! } });
  const containerd = await startContainerd();
  try {
    const host = new URL(server.url).host;
    const credentials = await readFile(join(dataDir, 'credentials'), 'utf8');
    const accessKeyId = /aws_access_key_id = (\S+)/.exec(credentials)![1]!;
    const secretAccessKey = /aws_secret_access_key = (\S+)/.exec(credentials)![1]!;
    const base = { PATH: process.env.PATH!, HOME: work, AWS_CONFIG_FILE: join(work, 'no-config'), AWS_SHARED_CREDENTIALS_FILE: join(work, 'no-credentials') };

    // An image to pull, pushed with a login of the administrator.
    const images = await buildTestImages(join(work, 'layout'));
    const first = JSON.parse((await ask(request(`${host}/team/app:1.0`), { ...base, AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey })).stdout) as Response;
    const pushLogin = first.auth[host]!;
    await runOk('skopeo', ['--insecure-policy', 'copy', '--dest-tls-verify=false', '--dest-creds', `${pushLogin.username}:${pushLogin.password}`, `oci:${images.dir}:small`, `docker://${host}/team/app:1.0`], { timeoutMs: 60_000 });

    // The node's credentials from the environment, as on a node with AWS_* set for the kubelet.
    const fromEnv = await ask(request(`${host}/team/app:1.0`), { ...base, AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey });
    assert.equal(fromEnv.code, 0, fromEnv.stderr);
    const response = JSON.parse(fromEnv.stdout) as Response;
    assert.equal(response.apiVersion, 'credentialprovider.kubelet.k8s.io/v1');
    assert.equal(response.kind, 'CredentialProviderResponse');
    assert.equal(response.cacheKeyType, 'Registry');
    // The token lasts 12 hours; the kubelet keeps it 5 minutes less.
    assert.match(response.cacheDuration, /^11h5[45]m\d{1,2}s$/);
    assert.deepEqual(Object.keys(response.auth), [host]);
    assert.equal(response.auth[host]!.username, 'AWS');

    // containerd pulls with that login, and is refused without one.
    const ref = `${host}/team/app:1.0`;
    const anonymous = await run('ctr', ['--address', containerd.socket, '-n', 'test', 'images', 'pull', '--plain-http', '--snapshotter', 'native', ref], { timeoutMs: 60_000 });
    assert.notEqual(anonymous.code, 0, 'an anonymous pull is refused');
    await containerd.ctr(['images', 'pull', '--plain-http', '--snapshotter', 'native', '--user', `${response.auth[host]!.username}:${response.auth[host]!.password}`, ref]);
    const listed = await containerd.ctr(['images', 'ls', '-q']);
    assert.ok(listed.split('\n').includes(ref), `containerd has ${ref}: ${listed}`);
    const check = await containerd.ctr(['images', 'check']);
    assert.match(check, new RegExp(`${ref.replace(/[.]/g, '\\.')}\\s.*${images.small.manifest.digest.slice(0, 19)}|complete`));

    // A profile of the shared credentials file, named by the kubelet config's args, and the
    // endpoint given explicitly (--endpoint), as a node that reaches Berth by another name would.
    await writeFile(join(work, 'node-credentials'), `[kubelet]\naws_access_key_id = ${accessKeyId}\naws_secret_access_key = ${secretAccessKey}\n`);
    const fromProfile = await ask(request(`${host}/team/app@${images.small.manifest.digest}`, 'credentialprovider.kubelet.k8s.io/v1'), { ...base, AWS_SHARED_CREDENTIALS_FILE: join(work, 'node-credentials') }, ['--profile', 'kubelet', '--endpoint', server.url]);
    assert.equal(fromProfile.code, 0, fromProfile.stderr);
    const byProfile = JSON.parse(fromProfile.stdout) as Response;
    await containerd.ctr(['images', 'pull', '--plain-http', '--snapshotter', 'native', '--user', `AWS:${byProfile.auth[host]!.password}`, `${host}/team/app@${images.small.manifest.digest}`]);

    // Credentials Berth does not know: one line, exit 1, nothing on stdout.
    const unknown = await ask(request(ref), { ...base, AWS_ACCESS_KEY_ID: 'AKIAUNKNOWNUNKNOWN00', AWS_SECRET_ACCESS_KEY: 'not-a-secret-of-berth' });
    assert.equal(unknown.code, 1);
    assert.equal(unknown.stdout, '');
    assert.match(unknown.stderr, /^berth-credential-provider: GetAuthorizationToken at http:\/\/127\.0\.0\.1:\d+ failed \(40[03]\): UnrecognizedClientException: The security token included in the request is invalid\.\n$/);
  } finally {
    await containerd.stop();
    await server.stop();
    await rm(work, { recursive: true, force: true });
  }
});

test('berth-credential-provider refuses what the kubelet would not send, in one line', async () => {
  const env = { PATH: process.env.PATH!, AWS_ACCESS_KEY_ID: 'AKIAEXAMPLEEXAMPLE00', AWS_SECRET_ACCESS_KEY: 'x', AWS_CONFIG_FILE: '/nonexistent', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent' };
  const cases: [string, RegExp][] = [
    ['not json at all\n', /^berth-credential-provider: the request on stdin is not JSON \(.*\); the kubelet sends a CredentialProviderRequest\n$/],
    [request('127.0.0.1:5000/team/app:1', 'credentialprovider.kubelet.k8s.io/v2'), /^berth-credential-provider: unsupported apiVersion "credentialprovider\.kubelet\.k8s\.io\/v2": expected credentialprovider\.kubelet\.k8s\.io\/v1 .*\n$/],
    [JSON.stringify({ apiVersion: 'credentialprovider.kubelet.k8s.io/v1', kind: 'Pod', image: 'x' }), /^berth-credential-provider: unsupported kind "Pod": expected CredentialProviderRequest\n$/],
    [JSON.stringify({ apiVersion: 'credentialprovider.kubelet.k8s.io/v1', kind: 'CredentialProviderRequest' }), /^berth-credential-provider: the CredentialProviderRequest names no image\n$/],
    [request('team/app:1'), /^berth-credential-provider: image team\/app:1 names no registry host/],
  ];
  for (const [input, expected] of cases) {
    const result = await ask(input, env);
    assert.equal(result.code, 1, `${input}: ${result.stderr}`);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, expected);
    assert.equal(result.stderr.trim().split('\n').length, 1);
  }
});
