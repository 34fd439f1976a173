import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { postgresAvailable } from '../helpers/postgres.js';
import { startBerth, type TestServer } from '../helpers/server.js';
import { blob, deleteManifest, image, listTags, pullAndVerify, pushImage, storedDigests, type Blob } from './helpers.js';

// The collector runs in a loop, with a one-second grace period, while clients push images
// that share layers (across repositories too) and delete others over /v2. Afterwards every
// image still present pulls with all its bytes, and once the grace period has passed one
// more collection leaves storage holding exactly the blobs those images need.

const GRACE_SECONDS = 1;
const LOAD_MS = 6_000;
const CLIENTS = 6;
const REPOS = ['stress/a', 'stress/b'];

const servers: TestServer[] = [];
after(async () => {
  for (const s of servers) await s.stop();
});

const backends = ['sqlite', ...((await postgresAvailable()) ? ['postgres'] : [])];

for (const backend of backends) test(`GC in a loop beside pushes and deletes never loses a blob a present image needs (${backend})`, { timeout: 60_000 }, async () => {
  const server = await startBerth({ postgres: backend === 'postgres', gc: { enabled: false, graceSeconds: GRACE_SECONDS }, jobs: { enabled: false } });
  servers.push(server);
  const shared: Blob[] = Array.from({ length: 10 }, () => blob());
  // Load runs LOAD_MS, at least 6 collections and until one has freed something (on a
  // busy machine runs take longer), never beyond 35 s.
  const until = Date.now() + LOAD_MS;
  const hardUntil = Date.now() + 35_000;
  const loading = () => Date.now() < hardUntil && (Date.now() < until || collections < 6 || freed === 0);
  let pushes = 0;
  let deletes = 0;
  let retried = 0;
  let collections = 0;
  let freed = 0;

  const client = async (id: number) => {
    const mine: { repo: string; digest: string }[] = [];
    for (let n = 0; loading(); n++) {
      const repo = REPOS[(id + n) % REPOS.length]!;
      const layers = [shared[(id + n) % shared.length]!, shared[(id * 3 + n) % shared.length]!, blob()];
      const img = image([...new Map(layers.map((l) => [l.digest, l])).values()]);
      // A manifest put can meet a link the collector removed (the client was slower than
      // the grace period between upload and manifest): real clients push again.
      for (let attempt = 0; ; attempt++) {
        const res = await pushImage(server.url, repo, img, `c${id}-${n}`);
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
  await new Promise((resolve) => setTimeout(resolve, GRACE_SECONDS * 1000 + 200));
  await server.berth.gc.run();
  const stored = await storedDigests(server);
  assert.deepEqual([...stored].sort(), [...needed].sort(), 'storage holds exactly the blobs present images need');
  const rows = await server.berth.meta.existingBlobs([...stored]);
  assert.equal(rows.size, stored.size, 'every stored blob has its row');
  for (const repo of REPOS) for (const tag of await listTags(server.url, repo)) await pullAndVerify(server.url, repo, tag);
  process.stdout.write(`# stress (${backend}): ${pushes} pushes, ${deletes} deletes, ${retried} manifest retries, ${collections} collections, ${freed} blobs freed\n`);
});
