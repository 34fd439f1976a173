import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createApp, type Berth } from '../../src/app.js';
import { parseConfig } from '../../src/config/config.js';
import { createTestDatabase, postgresAvailable, type TestDatabase } from '../helpers/postgres.js';
import { inCI } from '../helpers/tools.js';

// Two Berth nodes sharing one PostgreSQL database and one blob store behave as one registry.

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('two nodes on one PostgreSQL database', { skip: !inCI && !(await postgresAvailable()) && 'PostgreSQL is not reachable' }, () => {
  let db: TestDatabase;
  let dataDir: string;
  const nodes: Array<{ berth: Berth; url: string }> = [];

  before(async () => {
    db = await createTestDatabase();
    dataDir = await mkdtemp(join(tmpdir(), 'berth-cluster-'));
    for (let i = 0; i < 2; i++) {
      const config = parseConfig({
        host: '127.0.0.1',
        port: 0,
        dataDir: join(dataDir, `node${i}`),
        metadata: { kind: 'postgres', url: db.url },
        storage: { kind: 'fs', path: join(dataDir, 'shared-storage') },
        log: { level: 'warn' },
        // Anonymous /v2, as the other conformance suites (Berth requires a login by default).
        auth: { v2: false },
      });
      const berth = await createApp(config);
      const address = await berth.http.listen({ host: '127.0.0.1', port: 0 });
      nodes.push({ berth, url: address });
    }
  });

  after(async () => {
    for (const node of nodes) await node.berth.close();
    await db?.drop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  test('an upload started on node A is continued and completed on node B, then pulled from A', async () => {
    const [a, b] = [nodes[0]!, nodes[1]!];
    const part1 = randomBytes(300_000);
    const part2 = randomBytes(200_000);
    const digest = sha256(Buffer.concat([part1, part2]));
    const start = await fetch(`${a.url}/v2/team/app/blobs/uploads/`, { method: 'POST' });
    assert.equal(start.status, 202);
    const location = start.headers.get('location')!;
    const patched = await fetch(`${a.url}${location}`, { method: 'PATCH', body: part1, headers: { 'content-range': `0-${part1.length - 1}` } });
    assert.equal(patched.status, 202);
    // Node B has never seen this upload: its state comes from the database and the store.
    const status = await fetch(`${b.url}${location}`);
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), `0-${part1.length - 1}`);
    const done = await fetch(`${b.url}${location}?digest=${digest}`, { method: 'PUT', body: part2 });
    assert.equal(done.status, 201);
    assert.equal(done.headers.get('docker-content-digest'), digest);
    const pulled = await fetch(`${a.url}/v2/team/app/blobs/${digest}`);
    assert.equal(pulled.status, 200);
    assert.equal(sha256(Buffer.from(await pulled.arrayBuffer())), digest);
  });

  test('a tag pushed through one node is served, moved and deleted consistently through the other', async () => {
    const [a, b] = [nodes[0]!, nodes[1]!];
    const config = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
    const configDigest = sha256(config);
    assert.equal((await fetch(`${a.url}/v2/team/app/blobs/uploads/?digest=${configDigest}`, { method: 'POST', body: config })).status, 201);
    const manifest = (n: number) =>
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
          layers: [],
          annotations: { n: String(n) },
        }),
      );
    const put = (node: { url: string }, body: Buffer<ArrayBuffer>) =>
      fetch(`${node.url}/v2/team/app/manifests/latest`, { method: 'PUT', body, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } });
    const first = manifest(1);
    assert.equal((await put(a, first)).status, 201);
    const viaB = await fetch(`${b.url}/v2/team/app/manifests/latest`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(viaB.headers.get('docker-content-digest'), sha256(first));
    const second = manifest(2);
    assert.equal((await put(b, second)).status, 201);
    const viaA = await fetch(`${a.url}/v2/team/app/manifests/latest`, { method: 'HEAD' });
    assert.equal(viaA.headers.get('docker-content-digest'), sha256(second), 'no node serves a stale tag');
    assert.equal((await fetch(`${a.url}/v2/team/app/manifests/latest`, { method: 'DELETE' })).status, 202);
    assert.equal((await fetch(`${b.url}/v2/team/app/manifests/latest`, { method: 'HEAD' })).status, 404);
    const tags = (await (await fetch(`${b.url}/v2/team/app/tags/list`)).json()) as { tags: string[] };
    assert.deepEqual(tags.tags, []);
  });
});
