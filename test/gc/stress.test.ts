import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, test } from 'node:test';
import { postgresAvailable, requirePostgres } from '../helpers/postgres.js';
import { leftovers, rawS3Client, removePrefix, requireS3, s3TestEnv, testBucket } from '../helpers/s3.js';
import { startBerth, type TestServer, type TestServerOptions } from '../helpers/server.js';
import { blob, deleteManifest, image, listTags, pullAndVerify, pushImage, storedDigests, type Blob } from './helpers.js';

// The collector runs in a loop, with a grace period of a second (five through S3), while
// clients push images that share layers (across repositories too) and delete others over
// /v2. Afterwards every
// image still present pulls with all its bytes, and once the grace period has passed one
// more collection leaves storage holding exactly the blobs those images need. On
// PostgreSQL + S3 (Ceph RGW) a smaller load, and afterwards nothing staged or left open in
// the bucket either.

const REPOS = ['stress/a', 'stress/b'];

const servers: TestServer[] = [];
after(async () => {
  for (const s of servers) await s.stop();
});

const backends = ['sqlite', ...((await postgresAvailable()) ? ['postgres'] : [])];

for (const backend of backends) {
  test(`GC in a loop beside pushes and deletes never loses a blob a present image needs (${backend})`, { timeout: 60_000 }, async () => {
    const server = await startBerth({ postgres: backend === 'postgres', gc: { enabled: false, graceSeconds: 1 }, jobs: { enabled: false } });
    servers.push(server);
    await stress(server, backend, { loadMs: 6_000, clients: 6, graceSeconds: 1 });
  });
}

test('GC in a loop beside pushes and deletes never loses a blob a present image needs (postgres + s3)', { timeout: 90_000 }, async (t) => {
  if (!requireS3(t) || !(await requirePostgres(t))) return;
  const env = s3TestEnv()!;
  // The store takes its credentials from the usual AWS sources.
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: env.accessKeyId, AWS_SECRET_ACCESS_KEY: env.secretAccessKey });
  const prefix = `gc-stress-${randomBytes(6).toString('hex')}/`;
  const storage: TestServerOptions['storage'] = { kind: 's3', bucket: testBucket, prefix, endpoint: env.endpoint, region: env.region, createBucket: true, checksums: env.checksums };
  // An image push through S3 takes seconds on a busy machine; a push slower than the grace
  // period loses its layer links and must start over (docs/gc.md), so the grace is longer.
  const server = await startBerth({ postgres: true, storage, gc: { enabled: false, graceSeconds: 5 }, jobs: { enabled: false } });
  t.after(async () => {
    await server.stop();
    await removePrefix(testBucket, prefix);
  });
  await stress(server, 'postgres + s3', { loadMs: 6_000, clients: 4, graceSeconds: 5 });
  const s3 = rawS3Client();
  try {
    const left = await leftovers(s3, testBucket, prefix);
    assert.deepEqual(left.keys.filter((k) => !k.startsWith(`${prefix}blobs/`)), [], 'no staged upload is left in the bucket');
    assert.deepEqual(left.multipart, [], 'no multipart upload is left open');
  } finally {
    s3.destroy();
  }
});

async function stress(server: TestServer, backend: string, load: { loadMs: number; clients: number; graceSeconds: number }) {
  const LOAD_MS = load.loadMs;
  const CLIENTS = load.clients;
  const shared: Blob[] = Array.from({ length: 10 }, () => blob());
  // Load runs LOAD_MS, at least 6 collections, more than 20 pushes and until one collection
  // has freed something (on a busy machine, or through S3, all take longer), never beyond 35 s.
  const until = Date.now() + LOAD_MS;
  const hardUntil = Date.now() + 35_000;
  const loading = () => Date.now() < hardUntil && (Date.now() < until || collections < 6 || freed === 0 || pushes <= 20);
  let pushes = 0;
  let deletes = 0;
  let retried = 0;
  let collections = 0;
  let freed = 0;
  let slowest = 0;

  const client = async (id: number) => {
    const mine: { repo: string; digest: string }[] = [];
    for (let n = 0; loading(); n++) {
      const repo = REPOS[(id + n) % REPOS.length]!;
      const layers = [shared[(id + n) % shared.length]!, shared[(id * 3 + n) % shared.length]!, blob()];
      const img = image([...new Map(layers.map((l) => [l.digest, l])).values()]);
      // A manifest put can meet a link the collector removed (the client was slower than
      // the grace period between upload and manifest): real clients push again.
      for (let attempt = 0; ; attempt++) {
        const t0 = Date.now();
        const res = await pushImage(server.url, repo, img, `c${id}-${n}`);
        slowest = Math.max(slowest, Date.now() - t0);
        if (res.status === 201) break;
        assert.ok(attempt < 5 && res.status === 400 && res.body.includes('MANIFEST_BLOB_UNKNOWN'), `push answered ${res.status}: ${res.body}`);
        retried++;
      }
      pushes++;
      mine.push({ repo, digest: img.digest });
      if (n % 3 === 2) {
        const victim = mine.splice(Math.floor(Math.random() * mine.length), 1)[0]!;
        assert.equal(await deleteManifest(server.url, victim.repo, victim.digest), 202);
        deletes++;
      }
    }
  };

  const collector = async () => {
    while (loading()) {
      const t0 = Date.now();
      // Listing storage for orphans is slow under this load; every sixth run does it.
      const result = await server.berth.gc.run({ scanStorage: collections % 6 === 5, onProgress: (p) => process.env.GC_DEBUG && process.stdout.write(`# ${p.phase} ${Date.now() - t0}ms\n`) });
      if (process.env.GC_DEBUG) process.stdout.write(`# run ${JSON.stringify(result)}\n`);
      collections++;
      freed += result.blobsDeleted;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  await Promise.all([collector(), ...Array.from({ length: CLIENTS }, (_, i) => client(i))]);
  assert.ok(pushes > 20, `enough load (${pushes} pushes)`);
  assert.ok(collections >= 3, `the collector ran (${collections} runs)`);
  assert.ok(freed > 0, `the collector freed blobs during the load (${freed})`);

  // Every image still tagged pulls, every blob hashing to its digest.
  const needed = new Set<string>();
  let images = 0;
  for (const repo of REPOS) {
    for (const tag of await listTags(server.url, repo)) {
      const pulled = await pullAndVerify(server.url, repo, tag);
      for (const d of pulled.blobs) needed.add(d);
      images++;
    }
  }
  assert.equal(images, pushes - deletes);

  // Once the grace period has passed, one collection leaves exactly what is needed.
  await new Promise((resolve) => setTimeout(resolve, load.graceSeconds * 1000 + 200));
  await server.berth.gc.run();
  const stored = await storedDigests(server);
  assert.deepEqual([...stored].sort(), [...needed].sort(), 'storage holds exactly the blobs present images need');
  const rows = await server.berth.meta.existingBlobs([...stored]);
  assert.equal(rows.size, stored.size, 'every stored blob has its row');
  for (const repo of REPOS) for (const tag of await listTags(server.url, repo)) await pullAndVerify(server.url, repo, tag);
  process.stdout.write(`# stress (${backend}): ${pushes} pushes, ${deletes} deletes, ${retried} manifest retries, ${collections} collections, ${freed} blobs freed, slowest image push ${slowest} ms\n`);
}
