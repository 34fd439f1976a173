import assert from 'node:assert/strict';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test, type TestContext } from 'node:test';
import { SqlMetadataStore } from '../../src/stores/metadata/sql-metadata-store.js';
import { spawnBerth, type BerthProcess } from '../helpers/berth-process.js';
import { createTestDatabase, requirePostgres } from '../helpers/postgres.js';

// A 201 means the bytes and the metadata are committed. Many clients push at once, the
// server is SIGKILLed in the middle, then restarted on the same data: everything that was
// acknowledged must be there, byte for byte, and nothing half-written may be visible.

const CLIENTS = 16;
const REPOSITORIES = ['durable/alpha', 'durable/beta', 'durable/gamma', 'durable/delta'];
const KILL_AFTER = { blobs: 32, manifests: 6 };

interface BlobPush {
  repo: string;
  digest: string;
  data: Buffer;
}
interface ManifestPush {
  repo: string;
  tag: string;
  digest: string;
  mediaType: string;
  bytes: Buffer;
}
/** A chunked upload in progress: what the server acknowledged so far. */
interface OpenUpload {
  repo: string;
  /** The upload URL's path: the restarted server listens on another port. */
  path: string;
  blob: BlobPush;
  ackedBytes: number;
}

class Ledger {
  readonly attemptedBlobs: BlobPush[] = [];
  readonly ackedBlobs: BlobPush[] = [];
  readonly attemptedManifests: ManifestPush[] = [];
  readonly ackedManifests: ManifestPush[] = [];
  readonly openUploads = new Map<number, OpenUpload>();
  readonly unexpected: string[] = [];
  inflight = 0;
  killed = false;
}

/** The bytes of a Buffer as a fetch body, without copying. */
function asBody(data: Buffer): Uint8Array<ArrayBuffer> {
  return new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.length);
}

function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

function randomBlob(repo: string): BlobPush {
  const roll = Math.random();
  const size =
    roll < 0.05 ? 0 : roll < 0.25 ? randomInt(1, 1024) : roll < 0.7 ? randomInt(1024, 256 * 1024) : roll < 0.95 ? randomInt(256 * 1024, 1536 * 1024) : randomInt(2, 5) * 1024 * 1024;
  const data = randomBytes(size);
  return { repo, digest: sha256(data), data };
}

interface Reply {
  status: number;
  headers: Headers;
  body: Buffer;
}

async function call(ledger: Ledger, method: string, url: string, body?: Buffer, headers: Record<string, string> = {}): Promise<Reply> {
  ledger.inflight++;
  try {
    const res = await fetch(url, { method, headers, body: body ? asBody(body) : undefined, signal: AbortSignal.timeout(30_000) });
    return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
  } finally {
    ledger.inflight--;
  }
}

function expectStatus(reply: Reply, status: number, what: string): void {
  if (reply.status !== status) throw new Error(`${what}: expected ${status}, got ${reply.status} ${reply.body.toString('utf8').slice(0, 300)}`);
}

/** One client: rounds of a few blobs (each by a random upload method), a config, then a manifest. */
async function pushClient(base: string, ledger: Ledger, client: number): Promise<void> {
  const repo = REPOSITORIES[client % REPOSITORIES.length]!;
  const pushedManifests: ManifestPush[] = [];
  const uploadBlob = async (blob: BlobPush) => {
    ledger.attemptedBlobs.push(blob);
    const method = randomInt(3);
    let reply: Reply;
    if (method === 0) {
      reply = await call(ledger, 'POST', `${base}/v2/${repo}/blobs/uploads/?digest=${blob.digest}`, blob.data, { 'content-type': 'application/octet-stream' });
    } else {
      const started = await call(ledger, 'POST', `${base}/v2/${repo}/blobs/uploads/`);
      expectStatus(started, 202, 'start upload');
      const location = new URL(started.headers.get('location')!, base);
      if (method === 1) {
        location.searchParams.set('digest', blob.digest);
        reply = await call(ledger, 'PUT', location.href, blob.data, { 'content-type': 'application/octet-stream' });
      } else {
        const open: OpenUpload = { repo, path: location.pathname, blob, ackedBytes: 0 };
        ledger.openUploads.set(client, open);
        const chunks = randomInt(1, 5);
        const chunkSize = Math.max(1, Math.ceil(blob.data.length / chunks));
        for (let start = 0; start < blob.data.length; start += chunkSize) {
          const chunk = blob.data.subarray(start, start + chunkSize);
          const patched = await call(ledger, 'PATCH', location.href, chunk, {
            'content-type': 'application/octet-stream',
            'content-range': `${start}-${start + chunk.length - 1}`,
          });
          expectStatus(patched, 202, 'upload chunk');
          assert.equal(patched.headers.get('range'), `0-${start + chunk.length - 1}`);
          open.ackedBytes = start + chunk.length;
        }
        location.searchParams.set('digest', blob.digest);
        reply = await call(ledger, 'PUT', location.href);
      }
    }
    expectStatus(reply, 201, `blob ${blob.digest} (${blob.data.length} bytes, method ${method})`);
    assert.equal(reply.headers.get('docker-content-digest'), blob.digest);
    ledger.openUploads.delete(client);
    ledger.ackedBlobs.push(blob);
  };
  const putManifest = async (manifest: ManifestPush) => {
    ledger.attemptedManifests.push(manifest);
    const reply = await call(ledger, 'PUT', `${base}/v2/${repo}/manifests/${manifest.tag}`, manifest.bytes, { 'content-type': manifest.mediaType });
    expectStatus(reply, 201, `manifest ${repo}:${manifest.tag}`);
    assert.equal(reply.headers.get('docker-content-digest'), manifest.digest);
    ledger.ackedManifests.push(manifest);
    pushedManifests.push(manifest);
  };

  for (let round = 0; ; round++) {
    const layers = Array.from({ length: randomInt(1, 4) }, () => randomBlob(repo));
    for (const layer of layers) await uploadBlob(layer);
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) }, client, round }));
    const configBlob = { repo, digest: sha256(config), data: config };
    await uploadBlob(configBlob);
    const manifestBytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configBlob.digest, size: config.length },
        layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: l.digest, size: l.data.length })),
      }),
    );
    await putManifest({ repo, tag: `c${client}-r${round}`, digest: sha256(manifestBytes), mediaType: 'application/vnd.oci.image.manifest.v1+json', bytes: manifestBytes });
    if (round % 3 === 2) {
      const children = pushedManifests.slice(-2);
      const indexBytes = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.index.v1+json',
          manifests: children.map((m) => ({ mediaType: m.mediaType, digest: m.digest, size: m.bytes.length, platform: { architecture: 'amd64', os: 'linux' } })),
        }),
      );
      await putManifest({ repo, tag: `c${client}-i${round}`, digest: sha256(indexBytes), mediaType: 'application/vnd.oci.image.index.v1+json', bytes: indexBytes });
    }
  }
}

/** Runs `work` over `items`, `limit` at a time. */
async function eachLimited<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

async function fetchBytes(url: string, method = 'GET'): Promise<Reply> {
  const res = await fetch(url, { method, signal: AbortSignal.timeout(30_000) });
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

async function crashAndRecover(t: TestContext, metadataArgs: string[]): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'berth-durability-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const args = ['--data-dir', dataDir, ...metadataArgs];
  let server: BerthProcess | undefined = await spawnBerth(args);
  t.after(() => server?.stop());

  // ---- push, then SIGKILL in the middle ----
  const began = Date.now();
  const ledger = new Ledger();
  const clients = Array.from({ length: CLIENTS }, (_, i) =>
    pushClient(server!.url, ledger, i).catch((err: Error) => {
      if (!ledger.killed) ledger.unexpected.push(`client ${i}: ${err.message}`);
    }),
  );
  const deadline = Date.now() + 40_000;
  while (ledger.ackedBlobs.length < KILL_AFTER.blobs || ledger.ackedManifests.length < KILL_AFTER.manifests || ledger.inflight === 0) {
    if (ledger.unexpected.length > 0) break;
    if (Date.now() > deadline) assert.fail(`pushes too slow: ${ledger.ackedBlobs.length} blobs and ${ledger.ackedManifests.length} manifests in 40 s`);
    await sleep(5);
  }
  await sleep(randomInt(0, 100)); // land the kill at a varying point of the traffic
  ledger.killed = true;
  const inflightAtKill = ledger.inflight;
  const victim = server;
  victim.child.kill('SIGKILL');
  const { signal } = await victim.exited;
  assert.equal(signal, 'SIGKILL');
  server = undefined;
  await Promise.race([Promise.all(clients), sleep(30_000, undefined, { ref: false }).then(() => assert.fail('clients still running 30 s after the kill'))]);
  assert.deepEqual(ledger.unexpected, [], `pushes failed before the kill:\n${victim.output()}`);
  assert.ok(inflightAtKill > 0, 'the kill should land while requests are in flight');
  t.diagnostic(
    `killed with ${inflightAtKill} requests in flight after ${ledger.ackedBlobs.length} blobs and ${ledger.ackedManifests.length} manifests acknowledged; ` +
      `${ledger.attemptedBlobs.length - ledger.ackedBlobs.length} blob and ${ledger.attemptedManifests.length - ledger.ackedManifests.length} manifest pushes cut off, ${ledger.openUploads.size} chunked uploads open`,
  );

  // ---- restart on the same data ----
  const killedAt = Date.now();
  server = await spawnBerth(args);
  const base = server.url;

  // Every acknowledged blob: HEAD and GET give its size, its bytes hash to its digest.
  await eachLimited(ledger.ackedBlobs, 8, async (blob) => {
    const url = `${base}/v2/${blob.repo}/blobs/${blob.digest}`;
    const head = await fetchBytes(url, 'HEAD');
    assert.equal(head.status, 200, `acknowledged blob ${blob.digest} in ${blob.repo} is gone`);
    assert.equal(head.headers.get('content-length'), String(blob.data.length));
    const got = await fetchBytes(url);
    assert.equal(got.status, 200);
    assert.equal(sha256(got.body), blob.digest, `acknowledged blob ${blob.digest} has other bytes`);
  });

  // Every acknowledged manifest, by digest and by tag, with the exact bytes.
  await eachLimited(ledger.ackedManifests, 8, async (m) => {
    for (const reference of [m.digest, m.tag]) {
      const got = await fetchBytes(`${base}/v2/${m.repo}/manifests/${reference}`);
      assert.equal(got.status, 200, `acknowledged manifest ${m.repo}:${reference} is gone`);
      assert.equal(got.headers.get('docker-content-digest'), m.digest);
      assert.ok(got.body.equals(m.bytes), `manifest ${m.repo}:${reference} has other bytes`);
    }
  });

  // Pushes that were cut off: absent, or complete. Never partial.
  const ackedBlobKeys = new Set(ledger.ackedBlobs.map((b) => `${b.repo}@${b.digest}`));
  const cutBlobs = ledger.attemptedBlobs.filter((b) => !ackedBlobKeys.has(`${b.repo}@${b.digest}`));
  for (const blob of cutBlobs) {
    const url = `${base}/v2/${blob.repo}/blobs/${blob.digest}`;
    const head = await fetchBytes(url, 'HEAD');
    assert.ok(head.status === 200 || head.status === 404, `HEAD of a cut-off blob answered ${head.status}`);
    if (head.status === 200) {
      assert.equal(head.headers.get('content-length'), String(blob.data.length), `cut-off blob ${blob.digest} is exposed with the wrong size`);
      assert.equal(sha256((await fetchBytes(url)).body), blob.digest, `cut-off blob ${blob.digest} is exposed partially`);
    }
  }
  const ackedManifestKeys = new Set(ledger.ackedManifests.map((m) => `${m.repo}:${m.tag}`));
  for (const m of ledger.attemptedManifests.filter((x) => !ackedManifestKeys.has(`${x.repo}:${x.tag}`))) {
    for (const reference of [m.digest, m.tag]) {
      const got = await fetchBytes(`${base}/v2/${m.repo}/manifests/${reference}`);
      assert.ok(got.status === 200 || got.status === 404, `GET of a cut-off manifest answered ${got.status}`);
      if (got.status === 200) assert.ok(got.body.equals(m.bytes), `cut-off manifest ${m.repo}:${reference} is exposed with other bytes`);
    }
  }

  // On disk, every file in the content-addressed area holds exactly the bytes its name says.
  const blobsRoot = join(dataDir, 'storage', 'blobs', 'sha256');
  let onDisk = 0;
  for (const prefix of await readdir(blobsRoot)) {
    for (const hex of await readdir(join(blobsRoot, prefix))) {
      const hash = createHash('sha256');
      for await (const chunk of createReadStream(join(blobsRoot, prefix, hex))) hash.update(chunk as Buffer);
      assert.equal(hash.digest('hex'), hex, `blob file ${prefix}/${hex} does not hold the bytes its name says`);
      onDisk++;
    }
  }
  assert.ok(onDisk >= new Set(ledger.ackedBlobs.map((b) => b.digest)).size, 'fewer blob files on disk than blobs acknowledged');

  // Chunked uploads open at the kill resume where the server says they stand, and complete.
  let resumed = 0;
  for (const open of ledger.openUploads.values()) {
    const location = `${base}${open.path}`;
    const status = await fetchBytes(location);
    if (status.status === 404) continue; // completed or never recorded: nothing to resume
    assert.equal(status.status, 204, `upload status after restart answered ${status.status}`);
    const range = /^0-(\d+)$/.exec(status.headers.get('range') ?? '');
    assert.ok(range, `upload status Range is ${status.headers.get('range')}`);
    // "0-0" stands for both 0 and 1 bytes received; the server refuses the wrong one with 416.
    const candidates = range[1] === '0' ? [0, 1] : [Number(range[1]) + 1];
    let accepted: number | undefined;
    for (const size of candidates) {
      assert.ok(size <= open.blob.data.length, `upload holds ${size} bytes of a ${open.blob.data.length}-byte blob`);
      if (size === open.blob.data.length) {
        accepted = size;
        break;
      }
      const rest = open.blob.data.subarray(size);
      const patched = await fetch(location, {
        method: 'PATCH',
        headers: { 'content-type': 'application/octet-stream', 'content-range': `${size}-${open.blob.data.length - 1}` },
        body: asBody(rest),
        signal: AbortSignal.timeout(30_000),
      });
      const text = await patched.text();
      if (patched.status === 202) {
        accepted = size;
        break;
      }
      assert.ok(patched.status === 416 && candidates.length > 1, `resuming at ${size} answered ${patched.status}: ${text}`);
    }
    assert.ok(accepted !== undefined, 'no resume offset was accepted');
    assert.ok(accepted >= open.ackedBytes, `upload holds ${accepted} bytes, fewer than the ${open.ackedBytes} acknowledged`);
    const url = new URL(location);
    url.searchParams.set('digest', open.blob.digest);
    const done = await fetch(url, { method: 'PUT', signal: AbortSignal.timeout(30_000) });
    assert.equal(done.status, 201, `resumed upload did not complete: ${await done.text()}`);
    const got = await fetchBytes(`${base}/v2/${open.repo}/blobs/${open.blob.digest}`);
    assert.equal(sha256(got.body), open.blob.digest);
    resumed++;
  }
  t.diagnostic(`${resumed} interrupted chunked uploads resumed and completed after the restart`);

  // And the restarted registry takes new pushes.
  const fresh = randomBytes(4096);
  const push = await fetch(`${base}/v2/durable/after/blobs/uploads/?digest=${sha256(fresh)}`, { method: 'POST', body: new Uint8Array(fresh), signal: AbortSignal.timeout(10_000) });
  assert.equal(push.status, 201);

  await server.stop();

  // The change feed: every acknowledged manifest push has its event, appended by the same
  // transaction (a queue in memory, or events published after the write, would lose those
  // the kill cut off), and no event names a manifest the registry does not have.
  const feedStore = SqlMetadataStore.open(metadataArgs.length > 0 ? { kind: 'postgres', url: metadataArgs[1]! } : { kind: 'sqlite', path: join(dataDir, 'berth.db') });
  try {
    const pushed = new Map<string, string>();
    for (let after = 0; ; ) {
      const page = await feedStore.changes.readChanges(after, 1000);
      if (page.length === 0) break;
      for (const c of page) if (c.type === 'image.pushed' && typeof c.detail.tag === 'string') pushed.set(`${c.repository}:${c.detail.tag}`, String(c.detail.digest));
      after = page[page.length - 1]!.seq;
    }
    const attempted = new Map(ledger.attemptedManifests.map((m) => [`${m.repo}:${m.tag}`, m.digest]));
    for (const m of ledger.ackedManifests) assert.equal(pushed.get(`${m.repo}:${m.tag}`), m.digest, `no image.pushed event for the acknowledged ${m.repo}:${m.tag}`);
    for (const [key, digest] of pushed) if (key.split(':')[1] !== 'after') assert.equal(attempted.get(key), digest, `an event for ${key} that was never pushed`);
    t.diagnostic(`${pushed.size} image.pushed events for ${ledger.ackedManifests.length} acknowledged manifests (${ledger.attemptedManifests.length} attempted)`);
  } finally {
    await feedStore.close();
  }
  t.diagnostic(`pushing ${killedAt - began} ms, restart and verification ${Date.now() - killedAt} ms`);
}

describe('durability: SIGKILL in the middle of concurrent pushes', { timeout: 180_000 }, () => {
  test('SQLite metadata: every acknowledged blob and manifest survives, nothing partial is exposed', async (t) => {
    await crashAndRecover(t, []);
  });

  test('PostgreSQL metadata: every acknowledged blob and manifest survives, nothing partial is exposed', async (t) => {
    if (!(await requirePostgres(t))) return;
    const database = await createTestDatabase();
    t.after(() => database.drop());
    await crashAndRecover(t, ['--metadata', database.url]);
  });
});
