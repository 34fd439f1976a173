import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DeleteUserPolicyCommand, IAMClient, PutUserPolicyCommand, UpdateAccessKeyCommand } from '@aws-sdk/client-iam';
import { ECRClient, SetRepositoryPolicyCommand } from '@aws-sdk/client-ecr';
import { createApp, type Berth } from '../../src/app.js';
import { parseConfig } from '../../src/config/config.js';
import { createTestDatabase, postgresAvailable, type TestDatabase } from '../helpers/postgres.js';
import { ADMIN_POLICY, createTestUser, type TestCredentials } from '../helpers/principals.js';
import { testAdmin } from '../helpers/server.js';
import { inCI } from '../helpers/tools.js';
import { basic, loginPassword, OCI_MANIFEST, pushRaw, sha, tinyImage } from '../security/helpers.js';

// Authorization caches what it reads (credentials, parsed policies, repository and registry
// policies), on every node. A change made through one node is in force on the other within
// the documented bound (auth.cacheRefreshMs, here 300 ms, plus a database round trip):
// polled with a deadline, never a fixed sleep. On the node that made it, at once.

const REFRESH_MS = 300;
/** The documented bound, with room for a loaded CI machine. */
const DEADLINE_MS = REFRESH_MS * 3 + 2000;

async function within(what: string, check: () => Promise<boolean>): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await check()) return Date.now() - start;
    if (Date.now() - start > DEADLINE_MS) assert.fail(`${what}: not in force within ${DEADLINE_MS} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('auth caches across two nodes on one PostgreSQL', { skip: !inCI && !(await postgresAvailable()) && 'PostgreSQL is not reachable' }, () => {
  let db: TestDatabase;
  let dataDir: string;
  const nodes: Array<{ berth: Berth; url: string }> = [];
  let user: TestCredentials;
  let auth: string;
  let image: ReturnType<typeof tinyImage>;

  before(async () => {
    db = await createTestDatabase();
    dataDir = await mkdtemp(join(tmpdir(), 'berth-policy-cache-'));
    // One server key for the cluster: a login from either node works on both.
    const serverKey = randomBytes(32).toString('base64');
    for (let i = 0; i < 2; i++) {
      const config = parseConfig({
        host: '127.0.0.1',
        port: 0,
        dataDir: join(dataDir, `node${i}`),
        metadata: { kind: 'postgres', url: db.url },
        storage: { kind: 'fs', path: join(dataDir, 'shared-storage') },
        log: { level: 'warn' },
        bootstrap: { ...testAdmin },
        serverKey,
        auth: { v2: true, cacheRefreshMs: REFRESH_MS },
      });
      const berth = await createApp(config);
      const url = await berth.http.listen({ host: '127.0.0.1', port: 0 });
      nodes.push({ berth, url });
    }
    user = await createTestUser(nodes[0]!.berth, '000000000000', 'puller', { attach: [ADMIN_POLICY] });
    auth = basic(await loginPassword(nodes[0] as never, user));
    image = tinyImage('policy-cache');
    assert.equal(await pushRaw(nodes[0]!.url, auth, 'cache/app', 'v1', image), 201);
  });
  after(async () => {
    for (const node of nodes) await node.berth.close();
    await db?.drop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  const pull = async (url: string, authorization = auth) =>
    (await fetch(`${url}/v2/cache/app/manifests/v1`, { headers: { authorization, accept: OCI_MANIFEST } })).status;
  const head = async (url: string) => (await fetch(`${url}/v2/cache/app/blobs/${sha(image.layer)}`, { method: 'HEAD', headers: { authorization: auth } })).status;
  const iam = (url: string) => new IAMClient({ endpoint: url, region: 'us-east-1', credentials: { ...testAdmin }, maxAttempts: 1 });

  test('an identity-policy Deny added on node A is enforced on node B within the bound, and lifted the same way', async () => {
    const [a, b] = [nodes[0]!, nodes[1]!];
    // Both nodes have the caller's policies cached (many requests each).
    for (let i = 0; i < 5; i++) assert.deepEqual([await pull(a.url), await pull(b.url), await head(b.url)], [200, 200, 200]);

    const client = iam(a.url);
    try {
      const deny = { Version: '2012-10-17', Statement: [{ Effect: 'Deny', Action: ['ecr:BatchGetImage', 'ecr:BatchCheckLayerAvailability'], Resource: '*' }] };
      await client.send(new PutUserPolicyCommand({ UserName: 'puller', PolicyName: 'deny-pull', PolicyDocument: JSON.stringify(deny) }));
      assert.equal(await pull(a.url), 403, 'on the node that made the change: at once');
      const took = await within('the Deny on node B', async () => (await pull(b.url)) === 403);
      assert.ok(took <= DEADLINE_MS);
      assert.equal(await head(b.url), 403);

      await client.send(new DeleteUserPolicyCommand({ UserName: 'puller', PolicyName: 'deny-pull' }));
      assert.equal(await pull(a.url), 200);
      await within('lifting the Deny on node B', async () => (await pull(b.url)) === 200);
    } finally {
      client.destroy();
    }
  });

  test('a repository policy Deny set on node A reaches node B; a deactivated key ends its logins on both', async () => {
    const [a, b] = [nodes[0]!, nodes[1]!];
    assert.equal(await pull(b.url), 200);
    const ecr = new ECRClient({ endpoint: a.url, region: 'us-east-1', credentials: { ...testAdmin }, maxAttempts: 1 });
    const client = iam(a.url);
    try {
      const policyText = JSON.stringify({ Version: '2012-10-17', Statement: [{ Sid: 'NoPulls', Effect: 'Deny', Principal: { AWS: `arn:aws:iam::000000000000:user/puller` }, Action: 'ecr:BatchGetImage' }] });
      await ecr.send(new SetRepositoryPolicyCommand({ repositoryName: 'cache/app', policyText }));
      await within('the repository policy on node B', async () => (await pull(b.url)) === 403);
      assert.equal(await head(b.url), 200, 'only what the policy denies');

      await client.send(new UpdateAccessKeyCommand({ UserName: 'puller', AccessKeyId: user.accessKeyId, Status: 'Inactive' }));
      assert.equal(await head(a.url), 401);
      await within('the inactive key on node B', async () => (await head(b.url)) === 401);
    } finally {
      ecr.destroy();
      client.destroy();
    }
  });

  test('the caches are used: the generation row moves only with changes, and nodes keep their entries between requests', async () => {
    const [a] = [nodes[0]!];
    const cache = a.berth.identity.cache;
    // Let the pollers see the changes of the tests before (a node that cleared at once for
    // its own write clears once more when its poll reads the moved row).
    await new Promise((r) => setTimeout(r, REFRESH_MS * 3));
    const before = cache.clears;
    for (let i = 0; i < 20; i++) await fetch(`${a.url}/v2/`, { headers: { authorization: basic('x') } });
    await new Promise((r) => setTimeout(r, REFRESH_MS * 2));
    assert.equal(cache.clears, before, 'no change, no clearing');
  });
});
