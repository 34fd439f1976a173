import assert from 'node:assert/strict';
import { request } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CreateRepositoryCommand, DeleteRepositoryPolicyCommand, ECRClient, SetRepositoryPolicyCommand } from '@aws-sdk/client-ecr';
import { ADMIN_POLICY, createTestUser, ECR_READ_ONLY, policy, type TestCredentials } from '../helpers/principals.js';
import { run } from '../helpers/process.js';
import { startBerth, type TestServer } from '../helpers/server.js';
import { requireTool } from '../helpers/tools.js';
import { basic, loginPassword, OCI_MANIFEST, pushRaw, sha, skopeoLogin, tinyImage, writeLayout } from './helpers.js';

// Accounts on /v2: account A (not the server's default registry) is addressed as
// `<host>/<A>/<repo>` or by ECR's host form `<A>.dkr.ecr.<region>.<domain>`. A user of
// account B pulls A's repository with skopeo when A's repository policy and B's identity
// policy both allow it, and is refused when either does not.
const A = '111111111111';
const B = '222222222222';

/** A GET with an explicit Host header (fetch does not let a caller set one). */
function getWithHost(server: TestServer, host: string, path: string, authorization?: string): Promise<{ status: number; digest: string | undefined }> {
  const port = Number(server.host.split(':')[1]);
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host, accept: OCI_MANIFEST, ...(authorization ? { authorization } : {}) } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, digest: res.headers['docker-content-digest'] as string | undefined }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('cross-account pulls on /v2', () => {
  let server: TestServer;
  let work: string;
  let aAdmin: TestCredentials;
  let ecrA: ECRClient;
  let repositoryUri: string;
  const image = tinyImage('cross-account');
  const env = () => ({ PATH: process.env.PATH!, HOME: work });
  const skopeo = (args: string[]) => run('skopeo', ['--insecure-policy', ...args], { env: env(), timeoutMs: 30_000 });
  const loginFile = async (name: string, creds: TestCredentials) => {
    const authfile = join(work, `${name}.json`);
    await skopeoLogin(authfile, server.host, await loginPassword(server, creds), env());
    return authfile;
  };
  const pull = (authfile: string, ref: string) => skopeo(['copy', '--authfile', authfile, '--src-tls-verify=false', `docker://${server.host}/${ref}`, `oci:${join(work, `out-${Math.random().toString(36).slice(2)}`)}:v1`]);

  before(async () => {
    server = await startBerth({ auth: { v2: true } });
    work = await mkdtemp(join(tmpdir(), 'berth-cross-'));
    aAdmin = await createTestUser(server.berth, A, 'a-admin', { attach: [ADMIN_POLICY] });
    ecrA = new ECRClient({ endpoint: server.url, region: 'us-east-1', credentials: { ...aAdmin }, maxAttempts: 1 });
    repositoryUri = (await ecrA.send(new CreateRepositoryCommand({ repositoryName: 'team/app' }))).repository!.repositoryUri!;
  });
  after(async () => {
    ecrA.destroy();
    await server.stop();
    await rm(work, { recursive: true, force: true });
  });

  test("account A's administrator pushes into A's registry by the path form", async (t) => {
    if (!requireTool(t, 'skopeo')) return;
    await writeLayout(join(work, 'layout'), image);
    const authfile = await loginFile('a-admin', aAdmin);
    // The URI ECR's API gives for A's repository is the path form: push to exactly that.
    assert.equal(repositoryUri, `${server.host}/${A}/team/app`);
    const push = await skopeo(['copy', '--authfile', authfile, '--dest-tls-verify=false', `oci:${join(work, 'layout')}:v1`, `docker://${repositoryUri}:v1`]);
    assert.equal(push.code, 0, push.stderr);
    const listed = await skopeo(['list-tags', '--authfile', authfile, '--tls-verify=false', `docker://${server.host}/${A}/team/app`]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.deepEqual(JSON.parse(listed.stdout).Tags, ['v1']);
    // It is A's repository, not one of the default registry.
    assert.equal(await server.berth.ecrStore.getRepository(server.berth.config.registryId, 'team/app'), null);
    assert.ok(await server.berth.ecrStore.getRepository(A, 'team/app'));
  });

  test('the ECR host form reaches the same repository', async () => {
    const admin = basic(await loginPassword(server, aAdmin));
    const port = server.host.split(':')[1];
    const viaHost = await getWithHost(server, `${A}.dkr.ecr.us-east-1.localhost:${port}`, '/v2/team/app/manifests/v1', admin);
    assert.deepEqual(viaHost, { status: 200, digest: sha(image.manifest) });
    const viaPath = await getWithHost(server, server.host, `/v2/${A}/team/app/manifests/v1`, admin);
    assert.deepEqual(viaPath, viaHost);
    // The bare name is the default registry's, which A's administrator may not read.
    assert.equal((await getWithHost(server, server.host, '/v2/team/app/manifests/v1', admin)).status, 403);
  });

  test("B's user pulls with skopeo only when A's repository policy and B's identity policy both allow", async (t) => {
    if (!requireTool(t, 'skopeo')) return;
    const reader = await loginFile('b-reader', await createTestUser(server.berth, B, 'b-reader', { attach: [ECR_READ_ONLY] }));
    const loginOnly = await loginFile('b-login', await createTestUser(server.berth, B, 'b-login', { inline: [policy({ Effect: 'Allow', Action: 'ecr:GetAuthorizationToken', Resource: '*' })] }));

    let res = await pull(reader, `${A}/team/app:v1`);
    assert.notEqual(res.code, 0, 'no repository policy: B identity policy alone is not enough');
    assert.match(res.stderr, /denied|403/i);

    await ecrA.send(
      new SetRepositoryPolicyCommand({
        repositoryName: 'team/app',
        policyText: JSON.stringify(policy({ Sid: 'PullFromB', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${B}:root` }, Action: ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability'] })),
      }),
    );
    res = await pull(reader, `${A}/team/app:v1`);
    assert.equal(res.code, 0, res.stderr);
    const inspect = await skopeo(['inspect', '--raw', '--authfile', reader, '--tls-verify=false', `docker://${server.host}/${A}/team/app:v1`]);
    assert.equal(sha(inspect.stdout), sha(image.manifest));

    res = await pull(loginOnly, `${A}/team/app:v1`);
    assert.notEqual(res.code, 0, "B's identity policy does not allow the pull");
    assert.match(res.stderr, /denied|403/i);

    // Pull, never push: the grant is read-only.
    const push = await skopeo(['copy', '--authfile', reader, '--dest-tls-verify=false', `oci:${join(work, 'layout')}:v1`, `docker://${server.host}/${A}/team/app:b`]);
    assert.notEqual(push.code, 0);

    await ecrA.send(new DeleteRepositoryPolicyCommand({ repositoryName: 'team/app' }));
    res = await pull(reader, `${A}/team/app:v1`);
    assert.notEqual(res.code, 0, 'the policy is gone, so is the access');
  });

  test('an account not hosted here: refused under auth, NAME_UNKNOWN without it', async () => {
    const admin = basic(await loginPassword(server, aAdmin));
    assert.equal((await getWithHost(server, server.host, '/v2/999999999999/team/app/manifests/v1', admin)).status, 403);
    assert.equal((await getWithHost(server, server.host, '/v2/999999999999/team/app/manifests/v1')).status, 401);
    const open = await startBerth();
    try {
      assert.equal(await pushRaw(open.url, null, '999999999999/team/app', 'v1', image), 404);
      const res = await fetch(`${open.url}/v2/999999999999/team/app/manifests/v1`);
      assert.equal(res.status, 404);
      assert.equal((await res.json()).errors[0].code, 'NAME_UNKNOWN');
      // A default-account repository whose name starts with 12 digits, by the escape form.
      const own = open.berth.config.registryId;
      assert.equal(await pushRaw(open.url, null, `${own}/123456789012/app`, 'v1', image), 201);
      const tags = await fetch(`${open.url}/v2/${own}/123456789012/app/tags/list`);
      assert.deepEqual(await tags.json(), { name: `${own}/123456789012/app`, tags: ['v1'] });
      assert.ok(await open.berth.ecrStore.getRepository(own, '123456789012/app'));
    } finally {
      await open.stop();
    }
  });
});
