import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { GetDownloadUrlForLayerCommand } from '@aws-sdk/client-ecr';
import { DownloadTokens } from '../../src/domain/ecr/layers.js';
import { pushBlob, sha256, startEcr } from '../ecr/helpers.js';
import { createTestDatabase, requirePostgres } from '../helpers/postgres.js';

// GetDownloadUrlForLayer URLs are signed with a key every node shares (kept in the metadata
// database, or configured), so a URL one node hands out works on any node and after restarts.

test('a layer download URL from node A works on node B and after A restarts (one PostgreSQL database)', async (t) => {
  if (!(await requirePostgres(t))) return;
  const database = await createTestDatabase();
  const shared = await mkdtemp(join(tmpdir(), 'berth-urls-'));
  const servers: Array<{ stop(): Promise<void> }> = [];
  // One hook, in order: servers first, then the database they hold connections to.
  t.after(async () => {
    for (const server of servers) await server.stop();
    await database.drop();
    await rm(shared, { recursive: true, force: true });
  });
  const options = { metadata: { kind: 'postgres' as const, url: database.url }, storage: { kind: 'fs' as const, path: join(shared, 'storage') } };
  const a = await startEcr(options);
  servers.push(a);
  const b = await startEcr(options);
  servers.push(b);

  const layer = randomBytes(100_000);
  const { digest } = await pushBlob(a, 'urls/app', layer);
  const { downloadUrl } = await a.client.send(new GetDownloadUrlForLayerCommand({ repositoryName: 'urls/app', layerDigest: digest }));
  const path = new URL(downloadUrl!).pathname + new URL(downloadUrl!).search;

  const onB = await fetch(`${b.url}${path}`);
  assert.equal(onB.status, 200, 'node B honours the URL node A signed');
  assert.equal(sha256(Buffer.from(await onB.arrayBuffer())), digest);

  await a.stop();
  const again = await startEcr(options);
  servers.push(again);
  const afterRestart = await fetch(`${again.url}${path}`);
  assert.equal(afterRestart.status, 200, 'a restarted node honours it too');
  assert.equal(sha256(Buffer.from(await afterRestart.arrayBuffer())), digest);
  const forged = await fetch(`${again.url}${path.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'))}`);
  assert.equal(forged.status, 403);
});

test('a layer download URL survives a restart on the embedded default (SQLite)', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'berth-urls-sqlite-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const first = await startEcr({ dataDir });
  const { digest } = await pushBlob(first, 'urls/app', randomBytes(1000));
  const { downloadUrl } = await first.client.send(new GetDownloadUrlForLayerCommand({ repositoryName: 'urls/app', layerDigest: digest }));
  const url = new URL(downloadUrl!);
  await first.stop();
  const second = await startEcr({ dataDir });
  t.after(() => second.stop());
  const res = await fetch(`${second.url}${url.pathname}${url.search}`);
  assert.equal(res.status, 200);
  assert.equal(sha256(Buffer.from(await res.arrayBuffer())), digest);
});

test('download tokens: the same configured secret verifies across instances, another secret does not', () => {
  const secret = 'a-secret-shared-by-every-node-0123456789';
  const grant = { registryId: '000000000000', repository: 'r', digest: sha256('x'), expiresAt: 2_000_000_000_000 };
  const token = new DownloadTokens(secret).sign(grant);
  assert.deepEqual(new DownloadTokens(secret).verify(token, 1_000), grant);
  assert.equal(new DownloadTokens(`${secret}!`).verify(token, 1_000), null);
  assert.equal(new DownloadTokens().verify(token, 1_000), null);
  assert.equal(new DownloadTokens(secret).verify(token, grant.expiresAt + 1), null, 'expired');
});

test('behind a trusted proxy, download URLs carry the forwarded scheme and host; untrusted, they do not', async (t) => {
  for (const trustProxy of [true, false]) {
    const server = await startEcr({ trustProxy });
    t.after(() => server.stop());
    // What nginx in front would add (docs/deployment.md).
    server.client.middlewareStack.add(
      (next) => async (args) => {
        const request = args.request as { headers: Record<string, string> };
        request.headers['x-forwarded-proto'] = 'https';
        request.headers['x-forwarded-host'] = 'registry.example.test';
        return next(args);
      },
      { step: 'build' },
    );
    const { digest } = await pushBlob(server, 'proxied/app', randomBytes(100));
    const { downloadUrl } = await server.client.send(new GetDownloadUrlForLayerCommand({ repositoryName: 'proxied/app', layerDigest: digest }));
    if (trustProxy) assert.ok(downloadUrl!.startsWith('https://registry.example.test/'), downloadUrl);
    else assert.ok(downloadUrl!.startsWith(`${server.url}/`), downloadUrl);
  }
});
