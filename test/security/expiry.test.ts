import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CreateRepositoryCommand, ECRClient, ListImagesCommand, SetRepositoryPolicyCommand } from '@aws-sdk/client-ecr';
import { AttachRolePolicyCommand, CreateRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { RegistryTokens, TOKEN_TTL_MS } from '../../src/auth/registry-token.js';
import { loadServerKey } from '../../src/auth/secret-box.js';
import { ADMIN_POLICY, createTestUser } from '../helpers/principals.js';
import { startBerth, testAdmin, type TestServer } from '../helpers/server.js';
import { basic, loginPassword, pushRaw, tinyImage } from './helpers.js';

// Credentials end: a registry token past its 12 hours, temporary credentials past their
// expiry (and every registry token minted from them), a token whose bytes were changed.
// And a token of one account does not open another account's private repository.
const OTHER = '222222222222';

describe('expiry and account boundaries of credentials', () => {
  let server: TestServer;
  let tokensAt: (now: () => number) => RegistryTokens;
  const v2 = async (path: string, authorization?: string) => (await fetch(`${server.url}${path}`, { headers: authorization ? { authorization } : {} })).status;

  before(async () => {
    server = await startBerth({ auth: { v2: true } });
    // The server's own key, so these tokens are exactly what the server would mint at that time.
    const key = await loadServerKey(server.dataDir);
    tokensAt = (now) => new RegistryTokens(key, server.berth.identity, now);
    const admin = basic(await loginPassword(server, testAdmin));
    assert.equal(await pushRaw(server.url, admin, 'private/app', 'v1', tinyImage('expiry')), 201);
  });
  after(() => server.stop());

  test('a registry token works until its 12 hours are up, then /v2 and /token refuse it', async () => {
    const caller = server.berth.identity.callerFor((await server.berth.identity.findCredential(testAdmin.accessKeyId))!);
    const fresh = await tokensAt(() => Date.now() - TOKEN_TTL_MS + 60_000).issue(caller);
    assert.equal(await v2('/v2/private/app/tags/list', basic(fresh.password)), 200, 'a minute left');
    const expired = await tokensAt(() => Date.now() - TOKEN_TTL_MS - 1_000).issue(caller);
    assert.ok(expired.expiresAt.getTime() < Date.now());
    assert.equal(await v2('/v2/', basic(expired.password)), 401);
    assert.equal(await v2('/v2/private/app/tags/list', basic(expired.password)), 401);
    assert.equal(await v2('/v2/private/app/tags/list', `Bearer ${expired.password}`), 401);
    assert.equal(await v2('/token', basic(expired.password)), 401, 'an expired login cannot be traded for a Bearer token');
    // The expiry is sealed: moving it forward breaks the signature.
    const [body, mac] = expired.password.split('.') as [string, string];
    const payload = JSON.parse(Buffer.from(body, 'base64url').toString()) as { e: number };
    const stretched = `${Buffer.from(JSON.stringify({ ...payload, e: Date.now() + 3600_000 })).toString('base64url')}.${mac}`;
    assert.equal(await v2('/v2/private/app/tags/list', basic(stretched)), 401);
  });

  test('temporary credentials stop at expiry, and so do the registry tokens minted from them', async () => {
    const common = { endpoint: server.url, region: 'us-east-1', maxAttempts: 1 };
    const iam = new IAMClient({ ...common, credentials: { ...testAdmin } });
    const trust = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${server.berth.config.registryId}:root` }, Action: 'sts:AssumeRole' }] });
    const role = (await iam.send(new CreateRoleCommand({ RoleName: 'ci', AssumeRolePolicyDocument: trust }))).Role!;
    await iam.send(new AttachRolePolicyCommand({ RoleName: 'ci', PolicyArn: ADMIN_POLICY }));
    const sts = new STSClient({ ...common, credentials: { ...testAdmin } });
    const c = (await sts.send(new AssumeRoleCommand({ RoleArn: role.Arn!, RoleSessionName: 'build-1', DurationSeconds: 900 }))).Credentials!;
    const session = { accessKeyId: c.AccessKeyId!, secretAccessKey: c.SecretAccessKey!, sessionToken: c.SessionToken! };
    const ecr = new ECRClient({ ...common, credentials: session });
    try {
      assert.deepEqual((await ecr.send(new ListImagesCommand({ repositoryName: 'private/app' }))).imageIds!.length, 1);
      const password = await loginPassword(server, session);
      assert.equal(await v2('/v2/private/app/tags/list', basic(password)), 200);

      // The session ends (its expiry moved to the past, as time would).
      await (server.berth.meta as unknown as { db: any }).db.updateTable('iam_sessions').set({ expires_at: Date.now() - 1 }).where('access_key_id', '=', session.accessKeyId).execute();
      await assert.rejects(ecr.send(new ListImagesCommand({ repositoryName: 'private/app' })), (err: Error & { $metadata?: { httpStatusCode?: number } }) => {
        assert.equal(err.name, 'ExpiredTokenException');
        assert.equal(err.$metadata?.httpStatusCode, 403);
        return true;
      });
      await assert.rejects(loginPassword(server, session), (err: Error) => err.name === 'ExpiredToken' || err.name === 'ExpiredTokenException');
      assert.equal(await v2('/v2/private/app/tags/list', basic(password)), 401, 'the 12-hour token ended with its session');
      assert.equal(await v2('/v2/', basic(password)), 401);
    } finally {
      ecr.destroy();
      iam.destroy();
      sts.destroy();
    }
  });

  test("one account's token does not reach another account's private repository unless a policy allows it", async () => {
    const otherAdmin = await createTestUser(server.berth, OTHER, 'other-admin', { attach: [ADMIN_POLICY] });
    const token = basic(await loginPassword(server, otherAdmin));
    // In its own registry it does anything.
    const ownEcr = new ECRClient({ endpoint: server.url, region: 'us-east-1', credentials: otherAdmin, maxAttempts: 1 });
    await ownEcr.send(new CreateRepositoryCommand({ repositoryName: 'private/app' }));
    ownEcr.destroy();
    assert.equal(await pushRaw(server.url, token, `${OTHER}/private/app`, 'v1', tinyImage('other')), 201);
    // In the default account's registry: nothing without a repository policy.
    assert.equal(await v2('/v2/private/app/manifests/v1', token), 403);
    assert.equal(await v2('/v2/private/app/tags/list', token), 403);
    assert.equal(await v2('/v2/_catalog', token), 403);
    assert.equal(await pushRaw(server.url, token, 'private/app', 'v2', tinyImage('intruder')), 403);
    // And the default account's administrator cannot read the other account's repository either.
    const admin = basic(await loginPassword(server, testAdmin));
    assert.equal(await v2(`/v2/${OTHER}/private/app/manifests/v1`, admin), 403);
    assert.equal(await v2('/v2/private/app/manifests/v2', admin), 404, 'the refused push wrote nothing');
    // Once the default account's repository policy shares pulls with the other account, its token pulls (only).
    const adminEcr = new ECRClient({ endpoint: server.url, region: 'us-east-1', credentials: { ...testAdmin }, maxAttempts: 1 });
    await adminEcr.send(
      new SetRepositoryPolicyCommand({
        repositoryName: 'private/app',
        policyText: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: OTHER }, Action: ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'] }] }),
      }),
    );
    adminEcr.destroy();
    assert.equal(await v2('/v2/private/app/manifests/v1', token), 200);
    assert.equal(await v2('/v2/private/app/tags/list', token), 403, 'ecr:ListImages was not shared');
    assert.equal(await pushRaw(server.url, token, 'private/app', 'v2', tinyImage('intruder')), 403);
  });
});
