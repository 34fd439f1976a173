import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { AttachUserPolicyCommand, CreateAccessKeyCommand, CreateUserCommand, DeleteAccessKeyCommand, IAMClient } from '@aws-sdk/client-iam';
import { startBerth, type TestServer } from '../helpers/server.js';
import { requireTool } from '../helpers/tools.js';

const run = promisify(execFile);
const ACCOUNT = '123456789012';
const ADMIN = { accessKeyId: 'AKIABERTHTESTADMIN02', secretAccessKey: 'berth-test-admin-secret-registry-auth-0001' };

interface Creds {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** A one-layer image as raw parts, pushed with plain HTTP in some tests. */
function tinyImage(seed: string) {
  const layer = gzipSync(Buffer.from(`layer ${seed}`));
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha(Buffer.from(`layer ${seed}`))] } }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(layer), size: layer.length }],
    }),
  );
  return { layer, config, manifest };
}

async function loginPassword(server: TestServer, creds: Creds): Promise<string> {
  const ecr = new ECRClient({ endpoint: server.url, region: 'us-east-1', credentials: creds, maxAttempts: 1 });
  const out = await ecr.send(new GetAuthorizationTokenCommand({}));
  const decoded = Buffer.from(out.authorizationData![0]!.authorizationToken!, 'base64').toString();
  assert.ok(decoded.startsWith('AWS:'));
  return decoded.slice(4);
}

const basic = (password: string) => `Basic ${Buffer.from(`AWS:${password}`).toString('base64')}`;

async function pushRaw(server: TestServer, auth: string | null, repo: string, tag: string, image: ReturnType<typeof tinyImage>): Promise<number> {
  const headers = (extra: Record<string, string> = {}) => ({ ...(auth ? { authorization: auth } : {}), ...extra });
  for (const blob of [image.layer, image.config]) {
    const start = await fetch(`${server.url}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: headers() });
    if (start.status !== 202) return start.status;
    const location = new URL(start.headers.get('location')!, server.url);
    location.searchParams.set('digest', sha(blob));
    const put = await fetch(location, { method: 'PUT', headers: headers({ 'content-type': 'application/octet-stream' }), body: blob });
    if (put.status !== 201) return put.status;
  }
  const res = await fetch(`${server.url}/v2/${repo}/manifests/${tag}`, { method: 'PUT', headers: headers({ 'content-type': 'application/vnd.oci.image.manifest.v1+json' }), body: image.manifest });
  return res.status;
}

describe('/v2 with auth.v2 off (as test servers start unless asked)', () => {
  test('anonymous requests reach the registry as before', async () => {
    const server = await startBerth({ registryId: ACCOUNT, bootstrap: ADMIN });
    try {
      assert.equal(server.berth.config.auth.v2, false);
      assert.equal((await fetch(`${server.url}/v2/`)).status, 200);
      assert.equal(await pushRaw(server, null, 'open/app', 'v1', tinyImage('off')), 201);
    } finally {
      await server.stop();
    }
  });
});

describe('/v2 with auth.v2 on', () => {
  let server: TestServer;
  let iam: IAMClient;
  let adminPassword: string;

  before(async () => {
    server = await startBerth({ registryId: ACCOUNT, bootstrap: ADMIN, auth: { v2: true } });
    iam = new IAMClient({ endpoint: server.url, region: 'us-east-1', credentials: ADMIN, maxAttempts: 1 });
    adminPassword = await loginPassword(server, ADMIN);
  });
  after(() => server.stop());

  async function userWith(name: string, policyArns: string[]): Promise<Creds> {
    await iam.send(new CreateUserCommand({ UserName: name }));
    for (const arn of policyArns) await iam.send(new AttachUserPolicyCommand({ UserName: name, PolicyArn: arn }));
    const key = (await iam.send(new CreateAccessKeyCommand({ UserName: name }))).AccessKey!;
    return { accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! };
  }

  test('GetAuthorizationToken: 12-hour token, base64 of AWS:<password>, with proxyEndpoint', async () => {
    const ecr = new ECRClient({ endpoint: server.url, region: 'us-east-1', credentials: ADMIN, maxAttempts: 1 });
    const data = (await ecr.send(new GetAuthorizationTokenCommand({}))).authorizationData![0]!;
    assert.equal(data.proxyEndpoint, server.url);
    const hours = (data.expiresAt!.getTime() - Date.now()) / 3600_000;
    assert.ok(hours > 11.9 && hours <= 12, `${hours} hours`);
    const bad = new ECRClient({ endpoint: server.url, region: 'us-east-1', credentials: { ...ADMIN, secretAccessKey: 'wrong-wrong-wrong-wrong' }, maxAttempts: 1 });
    await assert.rejects(bad.send(new GetAuthorizationTokenCommand({})), (err: Error) => err.name === 'InvalidSignatureException');
  });

  test('anonymous and bad logins get 401 with a Basic challenge', async () => {
    let res = await fetch(`${server.url}/v2/`);
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate')!, /^Basic realm=/);
    assert.equal((await res.json()).errors[0].code, 'UNAUTHORIZED');
    res = await fetch(`${server.url}/v2/`, { headers: { authorization: basic(`${adminPassword}x`) } });
    assert.equal(res.status, 401);
    res = await fetch(`${server.url}/v2/`, { headers: { authorization: `Basic ${Buffer.from(`admin:${adminPassword}`).toString('base64')}` } });
    assert.equal(res.status, 401, 'the user name must be AWS');
    res = await fetch(`${server.url}/v2/app/manifests/latest`);
    assert.equal(res.status, 401);
    assert.equal((await fetch(`${server.url}/v2/`, { headers: { authorization: basic(adminPassword) } })).status, 200);
  });

  test('read-only users pull but cannot push; users without policies can do neither', async () => {
    assert.equal(await pushRaw(server, basic(adminPassword), 'team/app', 'v1', tinyImage('ro')), 201);
    const reader = await loginPassword(server, await userWith('reader', ['arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly']));
    let res = await fetch(`${server.url}/v2/team/app/manifests/v1`, { headers: { authorization: basic(reader), accept: 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-content-digest'), sha(tinyImage('ro').manifest));
    res = await fetch(`${server.url}/v2/team/app/blobs/uploads/`, { method: 'POST', headers: { authorization: basic(reader) } });
    assert.equal(res.status, 403);
    const body = await res.json();
    assert.equal(body.errors[0].code, 'DENIED');
    assert.match(body.errors[0].message, /ecr:InitiateLayerUpload on resource: arn:aws:ecr:us-east-1:123456789012:repository\/team\/app/);
    res = await fetch(`${server.url}/v2/team/app/manifests/v2`, { method: 'PUT', headers: { authorization: basic(reader), 'content-type': 'application/vnd.oci.image.manifest.v1+json' }, body: tinyImage('ro').manifest });
    assert.equal(res.status, 403);

    // Without any policy even the login is refused, as in ECR.
    const bare = await userWith('bare', []);
    await assert.rejects(loginPassword(server, bare), (err: Error) => err.name === 'AccessDeniedException');
    const { PutUserPolicyCommand } = await import('@aws-sdk/client-iam');
    await iam.send(new PutUserPolicyCommand({ UserName: 'bare', PolicyName: 'login', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'ecr:GetAuthorizationToken', Resource: '*' }] }) }));
    const nobody = await loginPassword(server, bare);
    assert.equal((await fetch(`${server.url}/v2/`, { headers: { authorization: basic(nobody) } })).status, 200, 'a login alone passes /v2/');
    assert.equal((await fetch(`${server.url}/v2/team/app/manifests/v1`, { headers: { authorization: basic(nobody) } })).status, 403);
    assert.equal((await fetch(`${server.url}/v2/team/app/tags/list`, { headers: { authorization: basic(nobody) } })).status, 403);
  });

  test('a push-only policy on one repository; a cross-repository mount needs read access to the source', async () => {
    const arnOf = (name: string) => `arn:aws:ecr:us-east-1:${ACCOUNT}:repository/${name}`;
    await iam.send(new CreateUserCommand({ UserName: 'pusher' }));
    const { PutUserPolicyCommand } = await import('@aws-sdk/client-iam');
    await iam.send(
      new PutUserPolicyCommand({
        UserName: 'pusher',
        PolicyName: 'push-own',
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            { Effect: 'Allow', Action: 'ecr:GetAuthorizationToken', Resource: '*' },
            // CreateRepository: the first push creates pusher/tool (create-on-push, as ECR).
            { Effect: 'Allow', Action: ['ecr:InitiateLayerUpload', 'ecr:UploadLayerPart', 'ecr:CompleteLayerUpload', 'ecr:BatchCheckLayerAvailability', 'ecr:PutImage', 'ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:CreateRepository'], Resource: arnOf('pusher/*') },
          ],
        }),
      }),
    );
    const key = (await iam.send(new CreateAccessKeyCommand({ UserName: 'pusher' }))).AccessKey!;
    const pusher = await loginPassword(server, { accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! });
    assert.equal(await pushRaw(server, basic(pusher), 'pusher/tool', 'v1', tinyImage('pusher')), 201);
    assert.equal(await pushRaw(server, basic(pusher), 'team/app', 'evil', tinyImage('pusher')), 403);
    // Mounting a layer of team/app (not readable by pusher) into pusher/tool is refused.
    const layer = sha(tinyImage('ro').layer);
    const res = await fetch(`${server.url}/v2/pusher/tool/blobs/uploads/?mount=${layer}&from=team/app`, { method: 'POST', headers: { authorization: basic(pusher) } });
    assert.equal(res.status, 403);
    // Deleting the access key ends its tokens.
    await iam.send(new DeleteAccessKeyCommand({ UserName: 'pusher', AccessKeyId: key.AccessKeyId! }));
    assert.equal((await fetch(`${server.url}/v2/`, { headers: { authorization: basic(pusher) } })).status, 401);
  });

  test('Bearer flow: GET /token with the login, then Bearer on /v2', async () => {
    let res = await fetch(`${server.url}/token?service=berth&scope=repository:team/app:pull`, { headers: { authorization: basic(adminPassword) } });
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.ok(body.token && body.access_token === body.token && body.expires_in > 40_000);
    res = await fetch(`${server.url}/v2/team/app/tags/list`, { headers: { authorization: `Bearer ${body.token}` } });
    assert.equal(res.status, 200);
    assert.deepEqual((await res.json()).tags, ['v1']);
    // Without credentials: an anonymous token, which admits nothing private.
    res = await fetch(`${server.url}/token?scope=repository:team/app:pull`);
    assert.equal(res.status, 200);
    const anonymous = (await res.json()).token;
    assert.equal((await fetch(`${server.url}/v2/team/app/tags/list`, { headers: { authorization: `Bearer ${anonymous}` } })).status, 401);
    assert.equal((await fetch(`${server.url}/token`, { headers: { authorization: basic('forged.password') } })).status, 401);
    assert.equal((await fetch(`${server.url}/v2/`, { headers: { authorization: 'Bearer nonsense.token' } })).status, 401);
  });

  test('aws ecr get-login-password | skopeo login, then skopeo push and pull as that principal', async (t) => {
    if (!requireTool(t, 'aws') || !requireTool(t, 'skopeo')) return;
    const work = await mkdtemp(join(tmpdir(), 'berth-skopeo-'));
    try {
      // An OCI layout on disk to push.
      const image = tinyImage('skopeo');
      const layout = join(work, 'layout');
      await mkdir(join(layout, 'blobs', 'sha256'), { recursive: true });
      for (const b of [image.layer, image.config, image.manifest]) await writeFile(join(layout, 'blobs', 'sha256', sha(b).slice(7)), b);
      await writeFile(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
      await writeFile(
        join(layout, 'index.json'),
        JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha(image.manifest), size: image.manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'v1' } }] }),
      );
      const env = { PATH: process.env.PATH!, HOME: work, AWS_ACCESS_KEY_ID: ADMIN.accessKeyId, AWS_SECRET_ACCESS_KEY: ADMIN.secretAccessKey, AWS_DEFAULT_REGION: 'us-east-1', AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' };
      const password = (await run('aws', ['ecr', 'get-login-password', '--endpoint-url', server.url], { env })).stdout.trim();
      const authfile = join(work, 'auth.json');
      await new Promise<void>((resolve, reject) => {
        const login = spawn('skopeo', ['login', '--authfile', authfile, '--tls-verify=false', '--username', 'AWS', '--password-stdin', server.host], { env });
        let err = '';
        login.stderr.on('data', (d) => (err += d));
        login.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`skopeo login failed: ${err}`))));
        login.stdin.end(password);
      });
      await run('skopeo', ['copy', '--authfile', authfile, '--dest-tls-verify=false', `oci:${layout}:v1`, `docker://${server.host}/skopeo/app:v1`], { env });
      const inspect = JSON.parse((await run('skopeo', ['inspect', '--raw', '--authfile', authfile, '--tls-verify=false', `docker://${server.host}/skopeo/app:v1`], { env })).stdout);
      assert.equal(inspect.layers[0].digest, sha(image.layer));
      await run('skopeo', ['copy', '--authfile', authfile, '--src-tls-verify=false', `docker://${server.host}/skopeo/app:v1`, `oci:${join(work, 'pulled')}:v1`], { env });
      // Without the login, skopeo is refused.
      await assert.rejects(run('skopeo', ['inspect', '--raw', '--authfile', join(work, 'none.json'), '--tls-verify=false', `docker://${server.host}/skopeo/app:v1`], { env }), /401|unauthorized|authentication required/i);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});

describe('/v2 with auth.v2 on and the Bearer challenge', () => {
  test('401 points at the token endpoint; skopeo logs in and pushes through the token flow', async (t) => {
    const server = await startBerth({ registryId: ACCOUNT, bootstrap: { accessKeyId: ADMIN.accessKeyId, secretAccessKey: ADMIN.secretAccessKey }, auth: { v2: true, challenge: 'bearer' } });
    const work = await mkdtemp(join(tmpdir(), 'berth-bearer-'));
    try {
      let res = await fetch(`${server.url}/v2/`);
      assert.equal(res.status, 401);
      assert.equal(res.headers.get('www-authenticate'), `Bearer realm="${server.url}/token",service="${server.host}"`);
      res = await fetch(`${server.url}/v2/team/app/blobs/uploads/`, { method: 'POST' });
      assert.match(res.headers.get('www-authenticate')!, /,scope="repository:team\/app:pull,push"$/);
      if (!requireTool(t, 'skopeo')) return;
      const password = await loginPassword(server, { ...ADMIN });
      const image = tinyImage('bearer');
      const layout = join(work, 'layout');
      await mkdir(join(layout, 'blobs', 'sha256'), { recursive: true });
      for (const b of [image.layer, image.config, image.manifest]) await writeFile(join(layout, 'blobs', 'sha256', sha(b).slice(7)), b);
      await writeFile(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
      await writeFile(join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha(image.manifest), size: image.manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'v1' } }] }));
      const env = { PATH: process.env.PATH!, HOME: work };
      const creds = `AWS:${password}`;
      await run('skopeo', ['copy', '--dest-creds', creds, '--dest-tls-verify=false', `oci:${layout}:v1`, `docker://${server.host}/bearer/app:v1`], { env });
      const raw = JSON.parse((await run('skopeo', ['inspect', '--raw', '--creds', creds, '--tls-verify=false', `docker://${server.host}/bearer/app:v1`], { env })).stdout);
      assert.equal(raw.layers[0].digest, sha(image.layer));
      await assert.rejects(run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${server.host}/bearer/app:v1`], { env }));
    } finally {
      await rm(work, { recursive: true, force: true });
      await server.stop();
    }
  });
});
