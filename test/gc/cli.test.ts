import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { cliEnv, cliPath } from '../helpers/berth-process.js';
import { run } from '../helpers/process.js';
import { startBerth, testAdmin, type TestServer } from '../helpers/server.js';
import { blob, deleteManifest, image, pushImage, storedDigests } from './helpers.js';

// `berth gc` drives the running server through its operator endpoint, signed with the
// administrator's credentials (test/cli/operator-auth.test.ts covers who may); the scheduled
// job collects by itself.

const admin = cliEnv(testAdmin);

const servers: TestServer[] = [];
after(async () => {
  for (const s of servers) await s.stop();
});

async function pushAndDelete(server: TestServer, repo: string) {
  const img = image([blob(), blob()]);
  assert.equal((await pushImage(server.url, repo, img, 'gone')).status, 201);
  assert.equal(await deleteManifest(server.url, repo, img.digest), 202);
  return img;
}

test('berth gc --dry-run reports, berth gc frees and prints what it freed', async () => {
  const server = await startBerth({ gc: { enabled: false, graceSeconds: 0.2 }, jobs: { enabled: false } });
  servers.push(server);
  const img = await pushAndDelete(server, 'cli/app');
  await new Promise((resolve) => setTimeout(resolve, 300));

  const dry = await run(process.execPath, [cliPath, 'gc', '--dry-run', '--url', server.url], { env: admin });
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /^berth gc would free .*: 0 blobs, 0 orphaned blobs, 3 unreferenced repository links, 0 abandoned uploads/);
  assert.match(dry.stderr, /links/, 'progress lines on stderr');
  for (const b of img.blobs) assert.ok((await storedDigests(server)).has(b.digest), 'a dry run deletes nothing');

  const real = await run(process.execPath, [cliPath, 'gc', '--url', server.url], { env: admin });
  assert.equal(real.code, 0, real.stderr);
  assert.match(real.stdout, new RegExp(`^berth gc freed [0-9.]+ (B|KiB): 3 blobs, 0 orphaned blobs, 3 unreferenced repository links`));
  const stored = await storedDigests(server);
  for (const b of img.blobs) assert.ok(!stored.has(b.digest), 'freed');
});

test('berth gc explains when no server answers', async () => {
  const result = await run(process.execPath, [cliPath, 'gc', '--url', 'http://127.0.0.1:9'], { env: admin });
  assert.equal(result.code, 1);
  assert.match(result.stderr, /cannot reach the server at http:\/\/127\.0\.0\.1:9/);
});

test('the scheduled job collects without being asked', { timeout: 30_000 }, async () => {
  const server = await startBerth({ gc: { enabled: true, graceSeconds: 0.2, intervalMinutes: 0.01 }, jobs: { enabled: true, pollSeconds: 0.1 } });
  servers.push(server);
  const img = await pushAndDelete(server, 'scheduled/app');
  for (const deadline = Date.now() + 20_000; ; ) {
    const stored = await storedDigests(server);
    if (img.blobs.every((b) => !stored.has(b.digest))) break;
    assert.ok(Date.now() < deadline, 'the scheduled collection freed the deleted image');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
});
