import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { RegistryTokens } from '../../src/auth/registry-token.js';
import { AesGcmSecretCipher } from '../../src/auth/secret-box.js';
import { ADMIN_POLICY_ARN, IdentityService } from '../../src/domain/iam/identity-service.js';
import { newUserId } from '../../src/domain/iam/ids.js';
import { EcrAccess } from '../../src/domain/ecr/access.js';
import { installRegistryAuth } from '../../src/edges/oci-auth/index.js';
import { defaultRepositorySettings } from '../../src/stores/ecr-store.js';
import { SqlEcrStore } from '../../src/stores/metadata/sql-ecr-store.js';
import { SqlIdentityStore } from '../../src/stores/metadata/sql-identity-store.js';
import { SqlMetadataStore } from '../../src/stores/metadata/sql-metadata-store.js';

// The /v2 hook with repository policies (stored as the ECR API stores them):
// cross-account pulls need a repository policy AND the caller's identity policy, and a
// public repository ("*" may pull) is pullable but not pushable anonymously.
const A = '111111111111';
const B = '222222222222';
const policies: Record<string, object | null> = {
  'shared/app': { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${B}:root` }, Action: ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'] }] },
  'public/app': { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: '*', Action: ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'] }] },
  'public/listed': { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: '*', Action: ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:ListImages'] }] },
  'private/app': null,
};

describe('/v2 authorization with repository policies', () => {
  let dir: string;
  let meta: SqlMetadataStore;
  let app: FastifyInstance;
  let identity: IdentityService;
  let tokens: RegistryTokens;
  const login = async (account: string, name: string, policyArn: string | null) => {
    const user = await identity.store.createUser({ accountId: account, userId: newUserId(), name, path: '/', createdAt: Date.now() });
    if (policyArn) await identity.store.attachPolicy({ kind: 'user', id: user.userId }, policyArn, Date.now());
    const accessKeyId = `AKIA${randomBytes(8).toString('hex').toUpperCase()}`;
    await identity.store.createAccessKey(account, name, { accessKeyId, secret: 'secret-secret-secret-secret', createdAt: Date.now() });
    const credential = await identity.findCredential(accessKeyId);
    const { password } = await tokens.issue(identity.callerFor(credential!));
    return `Basic ${Buffer.from(`AWS:${password}`).toString('base64')}`;
  };
  const call = async (method: string, url: string, authorization?: string) => (await app.inject({ method: method as 'GET', url, headers: authorization ? { authorization } : {} })).statusCode;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-policies-'));
    meta = SqlMetadataStore.open({ kind: 'sqlite', path: join(dir, 'berth.db') });
    await meta.migrate();
    const key = randomBytes(32);
    identity = new IdentityService({ store: new SqlIdentityStore(meta.db, new AesGcmSecretCipher(key)), defaultRegion: 'us-east-1' });
    tokens = new RegistryTokens(key, identity);
    await identity.createAccount(A);
    await identity.createAccount(B);
    app = Fastify();
    const ecrStore = new SqlEcrStore(meta.db);
    for (const [name, doc] of Object.entries(policies)) {
      const repo = (await ecrStore.createRepository(A, name, defaultRepositorySettings, [], Date.now()))!;
      if (doc) await ecrStore.putRepositoryPolicy(repo.id, JSON.stringify(doc));
    }
    installRegistryAuth(app, { tokens, registryId: A, access: new EcrAccess(identity, ecrStore, { region: 'us-east-1' }) });
    // Stand-in for the /v2 routes: the hook decides before any of them runs.
    app.all('/v2/*', async () => ({ reached: true }));
    await app.ready();
  });
  after(async () => {
    await app.close();
    await meta.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('cross-account: identity policy alone is not enough for a private repository', async () => {
    const b = await login(B, 'b-admin', ADMIN_POLICY_ARN);
    assert.equal(await call('GET', '/v2/private/app/manifests/v1', b), 403);
    assert.equal(await call('GET', '/v2/shared/app/manifests/v1', b), 200, 'shared with account B');
    assert.equal(await call('GET', `/v2/shared/app/blobs/sha256:${'a'.repeat(64)}`, b), 200);
    assert.equal(await call('PUT', '/v2/shared/app/manifests/v1', b), 403, 'the grant is pull only');
  });

  test('cross-account: the repository policy alone is not enough either', async () => {
    const bare = await login(B, 'b-bare', null);
    assert.equal(await call('GET', '/v2/shared/app/manifests/v1', bare), 403);
  });

  test('same account: the identity policy is enough', async () => {
    const a = await login(A, 'a-reader', 'arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly');
    assert.equal(await call('GET', '/v2/private/app/manifests/v1', a), 200);
    assert.equal(await call('POST', '/v2/private/app/blobs/uploads/', a), 403);
  });

  test('public repository: anonymous tag listing needs ecr:ListImages in its policy, as in ECR (README)', async () => {
    assert.equal(await call('GET', '/v2/public/app/tags/list'), 401, 'pull-only policy: no tag listing');
    assert.equal(await call('GET', '/v2/public/listed/tags/list'), 200);
    assert.equal(await call('GET', '/v2/public/listed/manifests/v1'), 200);
  });

  test('public repository: anonymous pull yes, anonymous push no; private stays private', async () => {
    assert.equal(await call('GET', '/v2/public/app/manifests/v1'), 200);
    assert.equal(await call('GET', `/v2/public/app/blobs/sha256:${'b'.repeat(64)}`), 200);
    assert.equal(await call('POST', '/v2/public/app/blobs/uploads/'), 401);
    assert.equal(await call('PUT', '/v2/public/app/manifests/v1'), 401);
    assert.equal(await call('GET', '/v2/private/app/manifests/v1'), 401);
    assert.equal(await call('GET', '/v2/shared/app/manifests/v1'), 401);
  });
});
