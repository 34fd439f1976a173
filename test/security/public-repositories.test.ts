import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CreateRepositoryCommand, DeleteRepositoryPolicyCommand, ECRClient, SetRepositoryPolicyCommand } from '@aws-sdk/client-ecr';
import { createTestUser, ECR_READ_ONLY, policy } from '../helpers/principals.js';
import { run } from '../helpers/process.js';
import { startBerth, testAdmin, type TestServer } from '../helpers/server.js';
import { requireTool } from '../helpers/tools.js';
import { basic, loginPassword, OCI_MANIFEST, pushRaw, sha, tinyImage, writeLayout } from './helpers.js';

// /v2 authorized with the policies the ECR API stores: a repository policy that lets "*"
// pull makes a repository public (pullable, never pushable, without a login); another
// account pulls when the repository policy and its own identity policy both allow.
const B = '222222222222';
const pullActions = ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'];

describe('/v2 with stored repository policies', () => {
  let server: TestServer;
  let ecr: ECRClient;
  let admin: string;
  const image = tinyImage('public');
  const setPolicy = (repositoryName: string, doc: object) => ecr.send(new SetRepositoryPolicyCommand({ repositoryName, policyText: JSON.stringify(doc) }));
  const status = async (method: string, path: string, auth?: string) => {
    const res = await fetch(`${server.url}${path}`, { method, headers: { ...(auth ? { authorization: auth } : {}), accept: OCI_MANIFEST } });
    await res.arrayBuffer();
    return res.status;
  };

  before(async () => {
    server = await startBerth({ auth: { v2: true } });
    ecr = new ECRClient({ endpoint: server.url, region: 'us-east-1', credentials: { ...testAdmin }, maxAttempts: 1 });
    admin = basic(await loginPassword(server, testAdmin));
    for (const repositoryName of ['pub/app', 'wide/app', 'priv/app']) {
      await ecr.send(new CreateRepositoryCommand({ repositoryName }));
      assert.equal(await pushRaw(server.url, admin, repositoryName, 'v1', image), 201);
    }
    await setPolicy('pub/app', policy({ Sid: 'Public', Effect: 'Allow', Principal: '*', Action: pullActions }));
    // Even a policy granting everything to everyone never lets anonymous callers write.
    await setPolicy('wide/app', policy({ Effect: 'Allow', Principal: '*', Action: 'ecr:*' }));
  });
  after(async () => {
    ecr.destroy();
    await server.stop();
  });

  test('a public repository pulls anonymously; private ones answer 401', async () => {
    assert.equal(await status('GET', '/v2/pub/app/manifests/v1'), 200);
    assert.equal(await status('HEAD', '/v2/pub/app/manifests/v1'), 200);
    assert.equal(await status('GET', `/v2/pub/app/blobs/${sha(image.layer)}`), 200);
    assert.equal(await status('GET', '/v2/priv/app/manifests/v1'), 401);
    assert.equal(await status('GET', `/v2/priv/app/blobs/${sha(image.layer)}`), 401);
    assert.equal(await status('GET', '/v2/_catalog'), 401, 'the catalog is not public');
  });

  test('a public repository is never pushable or deletable anonymously', async () => {
    for (const repo of ['pub/app', 'wide/app']) {
      assert.equal(await pushRaw(server.url, null, repo, 'evil', tinyImage('evil')), 401, repo);
      assert.equal(await status('DELETE', `/v2/${repo}/manifests/${sha(image.manifest)}`), 401);
      assert.equal(await status('DELETE', `/v2/${repo}/blobs/${sha(image.layer)}`), 401);
    }
    assert.equal(await status('GET', '/v2/wide/app/manifests/v1'), 200, 'pulls are still granted');
    assert.equal(await status('GET', '/v2/pub/app/manifests/evil', admin), 404, 'nothing was written');
  });

  test('the policy is read live: deleting it makes the repository private again', async () => {
    await ecr.send(new CreateRepositoryCommand({ repositoryName: 'flip/app' }));
    assert.equal(await pushRaw(server.url, admin, 'flip/app', 'v1', image), 201);
    assert.equal(await status('GET', '/v2/flip/app/manifests/v1'), 401);
    await setPolicy('flip/app', policy({ Effect: 'Allow', Principal: '*', Action: pullActions }));
    assert.equal(await status('GET', '/v2/flip/app/manifests/v1'), 200);
    await ecr.send(new DeleteRepositoryPolicyCommand({ repositoryName: 'flip/app' }));
    assert.equal(await status('GET', '/v2/flip/app/manifests/v1'), 401);
  });

  test('another account pulls when both the repository policy and its identity policy allow', async () => {
    const reader = basic(await loginPassword(server, await createTestUser(server.berth, B, 'b-reader', { attach: [ECR_READ_ONLY] })));
    const loginOnly = basic(
      await loginPassword(server, await createTestUser(server.berth, B, 'b-login', { inline: [policy({ Effect: 'Allow', Action: 'ecr:GetAuthorizationToken', Resource: '*' })] })),
    );
    assert.equal(await status('GET', '/v2/priv/app/manifests/v1', reader), 403, 'no repository policy yet');
    await setPolicy('priv/app', policy({ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${B}:root` }, Action: pullActions }));
    assert.equal(await status('GET', '/v2/priv/app/manifests/v1', reader), 200);
    assert.equal(await status('GET', `/v2/priv/app/blobs/${sha(image.layer)}`, reader), 200);
    assert.equal(await status('GET', '/v2/priv/app/manifests/v1', loginOnly), 403, 'B must allow it too');
    assert.equal(await pushRaw(server.url, reader, 'priv/app', 'b', tinyImage('b')), 403, 'the grant is pull only');
  });

  test('skopeo pulls a public repository without logging in, and cannot push to it', async (t) => {
    if (!requireTool(t, 'skopeo')) return;
    const work = await mkdtemp(join(tmpdir(), 'berth-public-'));
    try {
      const env = { PATH: process.env.PATH!, HOME: work };
      const authfile = join(work, 'empty-auth.json');
      await run('skopeo', ['copy', '--insecure-policy', '--authfile', authfile, '--src-tls-verify=false', `docker://${server.host}/pub/app:v1`, `oci:${join(work, 'pulled')}:v1`], { env, timeoutMs: 30_000 }).then((r) =>
        assert.equal(r.code, 0, r.stderr),
      );
      await writeLayout(join(work, 'layout'), tinyImage('skopeo-evil'));
      const push = await run('skopeo', ['copy', '--insecure-policy', '--authfile', authfile, '--dest-tls-verify=false', `oci:${join(work, 'layout')}:v1`, `docker://${server.host}/pub/app:evil`], { env, timeoutMs: 30_000 });
      assert.notEqual(push.code, 0);
      assert.match(push.stderr, /401|unauthorized|authentication required/i);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});
