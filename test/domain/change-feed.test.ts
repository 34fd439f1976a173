import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { BatchDeleteImageCommand, ECRClient, PutImageTagMutabilityCommand, SetRepositoryPolicyCommand } from '@aws-sdk/client-ecr';
import type { StoredChange } from '../../src/domain/events/change.js';
import { deadChangeJobKind } from '../../src/domain/events/change-feed.js';
import { ADMIN_POLICY, createTestUser } from '../helpers/principals.js';
import { startBerth, type TestServer } from '../helpers/server.js';
import { basic, loginPassword } from '../security/helpers.js';

// The change feed over a real server: pushes over /v2 and changes over the ECR API append
// events in their own transactions, carrying who made them; subscribers get them in order,
// again after a failure, and a change that keeps failing is dead-lettered, then retried.

const ACCOUNT = '000000000000';
const sha256 = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

async function pushImage(server: TestServer, auth: string, repo: string, tag: string): Promise<string> {
  const layer = randomBytes(512);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
  for (const blob of [layer, config]) {
    const res = await fetch(`${server.url}/v2/${repo}/blobs/uploads/?digest=${sha256(blob)}`, { method: 'POST', headers: auth ? { authorization: auth } : {}, body: new Uint8Array(blob) });
    assert.equal(res.status, 201, await res.text());
  }
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(layer), size: layer.length }],
    }),
  );
  const res = await fetch(`${server.url}/v2/${repo}/manifests/${tag}`, {
    method: 'PUT',
    headers: { ...(auth ? { authorization: auth } : {}), 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
    body: new Uint8Array(manifest),
  });
  assert.equal(res.status, 201, await res.text());
  return sha256(manifest);
}

/** Waits (polling, with a deadline) until `seen` holds a change that `match` accepts. */
async function eventually(seen: StoredChange[], match: (c: StoredChange) => boolean, what: string): Promise<StoredChange> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const found = seen.find(match);
    if (found) return found;
    if (Date.now() > deadline) assert.fail(`no ${what} in ${JSON.stringify(seen.map((c) => c.type))}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('change feed', () => {
  test('pushes and ECR changes reach a subscriber in commit order, each with the actor that made it', async (t) => {
    const server = await startBerth({ auth: { v2: true } });
    t.after(() => server.stop());
    const seen: StoredChange[] = [];
    server.berth.feed.subscribe('test.all', async (changes) => void seen.push(...changes));

    const alice = await createTestUser(server.berth, ACCOUNT, 'alice', { attach: [ADMIN_POLICY] });
    const bob = await createTestUser(server.berth, ACCOUNT, 'bob', { attach: [ADMIN_POLICY] });
    const digest = await pushImage(server, basic(await loginPassword(server, alice)), 'team/app', 'v1');

    const ecr = new ECRClient({ endpoint: server.url, region: 'us-east-1', credentials: { ...bob }, maxAttempts: 1 });
    t.after(() => ecr.destroy());
    await ecr.send(new PutImageTagMutabilityCommand({ repositoryName: 'team/app', imageTagMutability: 'IMMUTABLE' }));
    await ecr.send(new SetRepositoryPolicyCommand({ repositoryName: 'team/app', policyText: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: '*', Action: 'ecr:BatchGetImage' }] }) }));
    const deleted = await ecr.send(new BatchDeleteImageCommand({ repositoryName: 'team/app', imageIds: [{ imageDigest: digest }] }));
    assert.equal(deleted.imageIds?.length, 1);

    const created = await eventually(seen, (c) => c.type === 'repository.created', 'repository.created');
    const pushed = await eventually(seen, (c) => c.type === 'image.pushed', 'image.pushed');
    const gone = await eventually(seen, (c) => c.type === 'image.deleted', 'image.deleted');
    const types = seen.map((c) => c.type);
    assert.deepEqual(types, ['repository.created', 'image.pushed', 'repository.changed', 'policy.changed', 'image.deleted'], 'in the order they were made');
    assert.deepEqual(
      seen.map((c) => c.seq),
      [...seen.map((c) => c.seq)].sort((a, b) => a - b),
    );

    assert.equal(created.repository, 'team/app');
    assert.deepEqual(pushed.detail, { digest, tag: 'v1', mediaType: 'application/vnd.oci.image.manifest.v1+json', artifactMediaType: 'application/vnd.oci.image.config.v1+json', subjectDigest: null, previousDigest: null });
    assert.equal(pushed.registryId, ACCOUNT);
    assert.equal(pushed.region, 'us-east-1');
    assert.equal(pushed.actor.arn, `arn:aws:iam::${ACCOUNT}:user/alice`);
    assert.equal(pushed.actor.accessKeyId, alice.accessKeyId);
    assert.equal(pushed.actor.type, 'IAMUser');
    assert.equal(pushed.actor.edge, 'oci');
    assert.equal(pushed.actor.operation, 'ecr:PutImage');
    assert.equal(pushed.actor.sourceIp, '127.0.0.1');
    assert.equal(created.actor.arn, pushed.actor.arn, 'the push that created the repository');

    assert.deepEqual(gone.detail, { digest, tags: ['v1'], mediaType: 'application/vnd.oci.image.manifest.v1+json', artifactMediaType: 'application/vnd.oci.image.config.v1+json', reason: 'batch-delete' });
    assert.equal(gone.actor.arn, `arn:aws:iam::${ACCOUNT}:user/bob`);
    assert.equal(gone.actor.edge, 'ecr');
    assert.equal(gone.actor.operation, 'ecr:BatchDeleteImage');
    assert.ok(!JSON.stringify(seen).includes(bob.secretAccessKey) && !JSON.stringify(seen).includes(alice.secretAccessKey), 'no secret in any event');
  });

  test('a handler that fails gets the change again; one that keeps failing is dead-lettered, then retried', async (t) => {
    const server = await startBerth();
    t.after(() => server.stop());
    let failures = 0;
    const delivered: string[] = [];
    // Fails on tag v2 until told otherwise; everything else goes through.
    let poisoned = true;
    server.berth.feed.subscribe(
      'test.flaky',
      async (changes) => {
        for (const c of changes) {
          if (c.detail.tag === 'v2' && poisoned) {
            failures++;
            throw new Error('the receiver is down');
          }
          delivered.push(String(c.detail.tag));
        }
      },
      { types: ['image.pushed'], maxAttempts: 3 },
    );
    await pushImage(server, '', 'flaky/app', 'v1');
    await pushImage(server, '', 'flaky/app', 'v2');
    await pushImage(server, '', 'flaky/app', 'v3');

    // v2 fails three times (first in its batch, then alone), is dead-lettered, and v3 still arrives.
    const deadline = Date.now() + 30_000;
    while (!delivered.includes('v3')) {
      if (Date.now() > deadline) assert.fail(`v3 never delivered: ${delivered.join(',')}, ${failures} failures`);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(failures, 3);
    assert.equal(delivered.filter((t) => t === 'v1').length >= 1, true);
    assert.ok(!delivered.includes('v2'));
    const dead = await server.berth.jobs.store.listJobs({ state: 'dead', kind: deadChangeJobKind('test.flaky'), limit: 10 }, Date.now());
    assert.equal(dead.length, 1);
    assert.match(dead[0]!.lastError ?? '', /the receiver is down/);

    poisoned = false;
    assert.equal(await server.berth.jobs.store.retryJob(dead[0]!.id, Date.now()), true);
    await server.berth.jobs.drain();
    assert.ok(delivered.includes('v2'), 'the retried dead letter reached the handler');
    assert.deepEqual(await server.berth.jobs.store.listJobs({ kind: deadChangeJobKind('test.flaky'), limit: 10 }, Date.now()), [], 'and is gone');
  });
});
