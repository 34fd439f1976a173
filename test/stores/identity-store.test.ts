import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { AesGcmSecretCipher } from '../../src/auth/secret-box.js';
import { IdentityStoreError, type IdentityStore, type RoleRecord, type UserRecord } from '../../src/stores/identity-store.js';
import { SqlIdentityStore } from '../../src/stores/metadata/sql-identity-store.js';
import { SqlMetadataStore } from '../../src/stores/metadata/sql-metadata-store.js';
import { createTestDatabase, requirePostgres } from '../helpers/postgres.js';

const A = '111111111111';
const now = 1_700_000_000_000;

interface Fixture {
  meta: SqlMetadataStore;
  store: IdentityStore;
  cleanup(): Promise<void>;
}

async function sqlite(): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-identity-'));
  const meta = SqlMetadataStore.open({ kind: 'sqlite', path: join(dir, 'berth.db') });
  await meta.migrate();
  return { meta, store: new SqlIdentityStore(meta.db, new AesGcmSecretCipher(randomBytes(32))), cleanup: async () => { await meta.close(); await rm(dir, { recursive: true, force: true }); } };
}

async function postgres(): Promise<Fixture> {
  const database = await createTestDatabase();
  const meta = SqlMetadataStore.open({ kind: 'postgres', url: database.url, poolSize: 2 });
  await meta.migrate();
  return { meta, store: new SqlIdentityStore(meta.db, new AesGcmSecretCipher(randomBytes(32))), cleanup: async () => { await meta.close(); await database.drop(); } };
}

const user = (name: string, path = '/'): UserRecord => ({ accountId: A, userId: `AIDA${name.toUpperCase().padEnd(16, 'X')}`, name, path, createdAt: now });
const role = (name: string): RoleRecord => ({ accountId: A, roleId: `AROA${name.toUpperCase().padEnd(16, 'X')}`, name, path: '/', trustPolicy: '{"Statement":[]}', description: null, maxSessionDuration: 3600, createdAt: now });

async function rejects(p: Promise<unknown>, code: string) {
  await assert.rejects(p, (err: unknown) => err instanceof IdentityStoreError && err.code === code);
}

function suite(name: string, make: () => Promise<Fixture>, guard: (t: TestContext) => Promise<boolean> = async () => true) {
  describe(`identity store on ${name}`, () => {
    const run = (title: string, body: (s: IdentityStore, f: Fixture) => Promise<void>) =>
      test(title, async (t) => {
        if (!(await guard(t))) return;
        const f = await make();
        try {
          await f.store.createAccount({ id: A, region: 'us-east-1', name: 'main', createdAt: now });
          await body(f.store, f);
        } finally {
          await f.cleanup();
        }
      });

    run('accounts: create, get, list, duplicate refused', async (s) => {
      await s.createAccount({ id: '222222222222', region: 'eu-west-1', name: 'other', createdAt: now });
      assert.equal((await s.getAccount('222222222222'))?.region, 'eu-west-1');
      assert.deepEqual((await s.listAccounts()).map((a) => a.id), [A, '222222222222']);
      await rejects(s.createAccount({ id: A, region: 'x', name: 'x', createdAt: now }), 'EntityAlreadyExists');
    });

    run('users: names unique ignoring case, listing pages and path prefix', async (s) => {
      await s.createUser(user('Alice', '/dev/'));
      await rejects(s.createUser({ ...user('alice'), userId: 'AIDAOTHER0000000000' }), 'EntityAlreadyExists');
      await s.createUser(user('bob'));
      await s.createUser(user('carol', '/dev/team/'));
      assert.equal((await s.getUser(A, 'ALICE'))?.name, 'Alice');
      assert.deepEqual((await s.listUsers(A, { limit: 2 })).map((u) => u.name), ['Alice', 'bob']);
      assert.deepEqual((await s.listUsers(A, { limit: 2, after: 'bob' })).map((u) => u.name), ['carol']);
      assert.deepEqual((await s.listUsers(A, { limit: 10, pathPrefix: '/dev/' })).map((u) => u.name), ['Alice', 'carol']);
      assert.deepEqual(await s.listUsers('999999999999', { limit: 10 }), []);
    });

    run('access keys: secret sealed at rest, resolved for verification, delete conflicts', async (s, f) => {
      await s.createUser(user('alice'));
      const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
      await s.createAccessKey(A, 'alice', { accessKeyId: 'AKIAALICE00000000001', secret, createdAt: now });
      const raw = await f.meta.db.selectFrom('iam_access_keys' as any).selectAll().execute();
      assert.equal(raw.length, 1);
      assert.ok(!JSON.stringify(raw).includes(secret), 'secret stored in plain text');
      const cred = await s.findCredential('AKIAALICE00000000001');
      assert.ok(cred && cred.kind === 'user');
      assert.equal(cred.secret, secret);
      assert.equal(cred.user.name, 'alice');
      assert.equal(cred.status, 'Active');
      await s.updateAccessKey(A, 'alice', 'AKIAALICE00000000001', 'Inactive');
      assert.equal((await s.listAccessKeys(A, 'alice'))[0]!.status, 'Inactive');
      await rejects(s.deleteUser(A, 'alice'), 'DeleteConflict');
      await rejects(s.deleteAccessKey(A, 'alice', 'AKIANOPE000000000000'), 'NoSuchEntity');
      await s.deleteAccessKey(A, 'alice', 'AKIAALICE00000000001');
      assert.equal(await s.findCredential('AKIAALICE00000000001'), null);
      await s.deleteUser(A, 'alice');
      assert.equal(await s.getUser(A, 'alice'), null);
      await rejects(s.deleteUser(A, 'alice'), 'NoSuchEntity');
      await rejects(s.createAccessKey(A, 'ghost', { accessKeyId: 'AKIAGHOST0000000000', secret, createdAt: now }), 'NoSuchEntity');
    });

    run('inline and managed policies, attachments and delete conflicts', async (s) => {
      const u = await s.createUser(user('alice'));
      const owner = { kind: 'user' as const, id: u.userId };
      await s.putInlinePolicy(owner, 'pull', '{"v":1}', now);
      await s.putInlinePolicy(owner, 'pull', '{"v":2}', now + 1);
      assert.equal(await s.getInlinePolicy(owner, 'pull'), '{"v":2}');
      assert.deepEqual(await s.listInlinePolicies(owner), ['pull']);
      const arn = `arn:aws:iam::${A}:policy/team/Push`;
      await s.createManagedPolicy({ accountId: A, policyId: 'ANPAPUSH000000000000', name: 'Push', path: '/team/', document: '{"m":1}', description: null, createdAt: now, updatedAt: now });
      await rejects(s.createManagedPolicy({ accountId: A, policyId: 'ANPAPUSH000000000001', name: 'push', path: '/', document: '{}', description: null, createdAt: now, updatedAt: now }), 'EntityAlreadyExists');
      await s.attachPolicy(owner, arn, now);
      await s.attachPolicy(owner, arn, now); // idempotent
      await s.attachPolicy(owner, 'arn:aws:iam::aws:policy/AdministratorAccess', now);
      assert.equal((await s.getManagedPolicy(A, 'Push'))?.attachmentCount, 1);
      const docs = await s.policyDocumentsFor(owner);
      assert.deepEqual(docs.inline, ['{"v":2}']);
      assert.deepEqual(docs.managed, ['{"m":1}']);
      assert.deepEqual(docs.attachedArns, [arn, 'arn:aws:iam::aws:policy/AdministratorAccess']);
      await rejects(s.deleteManagedPolicy(A, 'Push', arn), 'DeleteConflict');
      await rejects(s.deleteUser(A, 'alice'), 'DeleteConflict');
      await s.detachPolicy(owner, arn);
      await rejects(s.detachPolicy(owner, arn), 'NoSuchEntity');
      await s.deleteManagedPolicy(A, 'Push', arn);
      assert.equal(await s.getManagedPolicy(A, 'Push'), null);
      await s.deleteInlinePolicy(owner, 'pull');
      await rejects(s.deleteInlinePolicy(owner, 'pull'), 'NoSuchEntity');
      await s.detachPolicy(owner, 'arn:aws:iam::aws:policy/AdministratorAccess');
      await s.deleteUser(A, 'alice');
    });

    run('roles and sessions: trust policy update, session credential, expiry purge, cascade', async (s) => {
      const r = await s.createRole(role('deployer'));
      await rejects(s.createRole({ ...role('Deployer'), roleId: 'AROAOTHER00000000000' }), 'EntityAlreadyExists');
      await s.updateTrustPolicy(A, 'DEPLOYER', '{"new":true}');
      assert.equal((await s.getRole(A, 'deployer'))?.trustPolicy, '{"new":true}');
      await rejects(s.updateTrustPolicy(A, 'nope', '{}'), 'NoSuchEntity');
      const base = { accountId: A, roleId: r.roleId, sessionName: 's', sourceArn: `arn:aws:iam::${A}:user/alice`, sessionPolicy: null, createdAt: now };
      await s.createSession({ ...base, accessKeyId: 'ASIAOLD0000000000000', expiresAt: now - 1 }, 'old-secret', 'hash-old');
      await s.createSession({ ...base, accessKeyId: 'ASIANEW0000000000000', expiresAt: now + 3600_000 }, 'new-secret', 'hash-new');
      const cred = await s.findCredential('ASIANEW0000000000000');
      assert.ok(cred && cred.kind === 'session');
      assert.equal(cred.secret, 'new-secret');
      assert.equal(cred.tokenHash, 'hash-new');
      assert.equal(cred.role.name, 'deployer');
      assert.equal(await s.deleteExpiredSessions(now), 1);
      assert.equal(await s.findCredential('ASIAOLD0000000000000'), null);
      await s.deleteRole(A, 'deployer');
      assert.equal(await s.findCredential('ASIANEW0000000000000'), null, 'sessions end with their role');
      assert.deepEqual(await s.listRoles(A, { limit: 10 }), []);
    });
  });
}

suite('SQLite', sqlite);
suite('PostgreSQL', postgres, requirePostgres);
