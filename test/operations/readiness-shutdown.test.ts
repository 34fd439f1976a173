import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { spawnBerth } from '../helpers/berth-process.js';
import { startBerth } from '../helpers/server.js';

// What a load balancer relies on: /readyz says whether this node can serve (database and
// blob storage both answer), and SIGTERM lets requests already in flight finish.

const sha256 = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

test('/readyz is 200 while the database and the blob folder answer, 503 naming the storage once the folder is gone', async (t) => {
  const server = await startBerth();
  t.after(() => server.stop());
  const ready = await fetch(`${server.url}/readyz`);
  assert.equal(ready.status, 200);
  assert.deepEqual(await ready.json(), { status: 'ready', metadata: 'sqlite', storage: 'fs' });

  await rm(join(server.dataDir, 'storage'), { recursive: true, force: true });
  const unready = await fetch(`${server.url}/readyz`);
  assert.equal(unready.status, 503);
  const body = (await unready.json()) as { status: string; errors: string[] };
  assert.equal(body.status, 'unavailable');
  assert.equal(body.errors.length, 1);
  assert.match(body.errors[0]!, /^storage: /);
  // Liveness is about the process, not its dependencies.
  assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
});

test('/readyz is 503 naming the metadata when the database is closed', async (t) => {
  const server = await startBerth();
  t.after(() => server.stop());
  await server.berth.meta.close();
  const unready = await fetch(`${server.url}/readyz`);
  assert.equal(unready.status, 503);
  const body = (await unready.json()) as { errors: string[] };
  assert.equal(body.errors.length, 1);
  assert.match(body.errors[0]!, /^metadata: /);
});

test('SIGTERM during a slow streaming upload lets it complete, refuses new requests, and exits 0', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'berth-sigterm-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const node = await spawnBerth(['--data-dir', dataDir]);
  t.after(() => node.stop());

  const start = await fetch(`${node.url}/v2/graceful/app/blobs/uploads/`, { method: 'POST' });
  assert.equal(start.status, 202);
  const location = start.headers.get('location')!;
  const blob = randomBytes(4 * 1024 * 1024);
  const digest = sha256(blob);
  const pieces = 16;
  const pieceSize = blob.length / pieces;

  // One PUT whose body trickles in over ~1.6 s; SIGTERM arrives after the first piece.
  const target = new URL(`${location}?digest=${digest}`, node.url);
  let firstPieceSent!: () => void;
  const firstPiece = new Promise<void>((resolve) => (firstPieceSent = resolve));
  const response = new Promise<{ status: number; digest: string | undefined }>((resolve, reject) => {
    const req = request(target, { method: 'PUT', headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(blob.length) } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, digest: res.headers['docker-content-digest'] as string | undefined }));
    });
    req.on('error', reject);
    void (async () => {
      for (let i = 0; i < pieces; i++) {
        req.write(blob.subarray(i * pieceSize, (i + 1) * pieceSize));
        if (i === 0) firstPieceSent();
        await sleep(100);
      }
      req.end();
    })();
  });
  await firstPiece;
  await sleep(100);
  node.child.kill('SIGTERM');
  await sleep(200);

  // While it drains, the node takes no new work.
  const refused = await fetch(`${node.url}/v2/`).then(
    (r) => r.status,
    () => 'connection refused',
  );
  assert.ok(refused === 503 || refused === 'connection refused', `a new request during shutdown got ${refused}`);

  const done = await response;
  assert.equal(done.status, 201, 'the upload in flight when SIGTERM came completes');
  assert.equal(done.digest, digest);
  const exit = await node.exited;
  assert.deepEqual(exit, { code: 0, signal: null }, node.output());

  // The acknowledged blob is really stored: a new process on the same data serves it.
  const again = await spawnBerth(['--data-dir', dataDir]);
  t.after(() => again.stop());
  const pulled = await fetch(`${again.url}/v2/graceful/app/blobs/${digest}`);
  assert.equal(pulled.status, 200);
  assert.equal(sha256(Buffer.from(await pulled.arrayBuffer())), digest);
});
