import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { CreateMultipartUploadCommand, PutObjectCommand, UploadPartCommand, type S3Client } from '@aws-sdk/client-s3';
import { isDomainError } from '../../src/domain/errors.js';
import { collectGarbage, type GcOptions } from '../../src/domain/gc.js';
import { RegistryService } from '../../src/domain/registry-service.js';
import type { S3BlobStore, S3BlobStoreOptions } from '../../src/stores/blob/s3-blob-store.js';
import { SqlMetadataStore } from '../../src/stores/metadata/sql-metadata-store.js';
import { createTestDatabase, requirePostgres } from '../helpers/postgres.js';
import { leftovers, openTestS3Store, rawS3Client, requireS3 } from '../helpers/s3.js';

// The collector on PostgreSQL metadata with blobs in S3 (Ceph RGW): what it frees, what it
// keeps, abandoned uploads (staged chunks and multipart uploads a dead node left open), the
// grace period on the engine's own timestamps, dry runs, and listings longer than one page.

const REGISTRY = '000000000000';
const HOUR = 3_600_000;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

interface Rig {
  registry: RegistryService;
  store: S3BlobStore;
  meta: SqlMetadataStore;
  s3: S3Client;
  /** The registry's clock (claims and links); tests move it back to make blobs old. */
  clock: { now: number | null };
  gc(options?: Partial<GcOptions>): ReturnType<typeof collectGarbage>;
  /** Every key and open multipart upload under the store's prefix. */
  everything(): Promise<{ keys: string[]; multipart: { key: string; uploadId: string }[] }>;
}

async function rig(t: TestContext, options: S3BlobStoreOptions = {}): Promise<Rig | null> {
  if (!requireS3(t) || !(await requirePostgres(t))) return null;
  const fixture = await openTestS3Store({}, options);
  const database = await createTestDatabase();
  const meta = SqlMetadataStore.open({ kind: 'postgres', url: database.url });
  await meta.migrate();
  const s3 = rawS3Client();
  t.after(async () => {
    s3.destroy();
    await meta.close();
    await database.drop();
    await fixture.cleanup();
  });
  const clock: { now: number | null } = { now: null };
  const store = fixture.store;
  const registry = new RegistryService({ blobs: store, meta, limits: { manifestMaxBytes: 4 << 20, maxPageSize: 1000 }, clock: () => clock.now ?? Date.now() });
  return {
    registry,
    store,
    meta,
    s3,
    clock,
    gc: (o = {}) => collectGarbage(store, meta, { graceMs: HOUR, ...o }),
    everything: () => leftovers(s3, fixture.settings.bucket, store.prefix),
  };
}

function blobOf(bytes: Buffer = randomBytes(1000 + Math.floor(Math.random() * 3000))) {
  return { bytes, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}` };
}
type TestBlob = ReturnType<typeof blobOf>;

const push = (r: Rig, repo: string, b: TestBlob) => r.registry.uploadMonolithic(REGISTRY, repo, b.digest, Readable.from([b.bytes]), b.bytes.length);

async function putImage(r: Rig, repo: string, tag: string, config: TestBlob, layers: TestBlob[]): Promise<void> {
  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.bytes.length },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: l.digest, size: l.bytes.length })),
  };
  await r.registry.putManifest(REGISTRY, repo, tag, OCI_MANIFEST, Buffer.from(JSON.stringify(manifest)));
}

/** Bytes under their content address with no metadata at all (a node died before recording them). */
async function orphan(r: Rig, b: TestBlob): Promise<void> {
  await r.s3.send(new PutObjectCommand({ Bucket: r.store.bucket, Key: `${r.store.prefix}blobs/sha256/${b.digest.slice(7)}`, Body: b.bytes }));
}

async function storedHash(r: Rig, digest: string): Promise<string | null> {
  if (!(await r.store.stat(digest))) return null;
  const hash = createHash('sha256');
  for await (const chunk of await r.store.read(digest)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

/** An open multipart upload with one part, as a node that died mid-write leaves it. */
async function openMultipart(r: Rig, key: string): Promise<void> {
  const { UploadId } = await r.s3.send(new CreateMultipartUploadCommand({ Bucket: r.store.bucket, Key: `${r.store.prefix}${key}` }));
  await r.s3.send(new UploadPartCommand({ Bucket: r.store.bucket, Key: `${r.store.prefix}${key}`, UploadId, PartNumber: 1, Body: randomBytes(1024) }));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('unused blobs and orphan bytes are freed, referenced blobs kept byte-exact; a dry run deletes nothing', async (t) => {
  const r = await rig(t);
  if (!r) return;
  const config = blobOf();
  const layer = blobOf();
  const unreferenced = blobOf(); // uploaded into the repository, no manifest uses it
  const deleted = blobOf(); // uploaded, then its link deleted
  const stray = blobOf(); // bytes with no row
  r.clock.now = Date.now() - 2 * HOUR;
  for (const b of [config, layer, unreferenced, deleted]) await push(r, 'app', b);
  r.clock.now = null;
  await putImage(r, 'app', 'v1', config, [layer]);
  await r.registry.deleteBlob(REGISTRY, 'app', deleted.digest);
  await orphan(r, stray);
  // The collector two hours ahead: everything above is past its grace period, by the
  // database's clock and by the engine's LastModified alike.
  const later = () => Date.now() + 2 * HOUR;

  const before = await r.everything();
  const dry = await r.gc({ dryRun: true, clock: later });
  assert.deepEqual({ links: dry.linksRemoved, blobs: dry.blobsDeleted, orphans: dry.orphansDeleted }, { links: 1, blobs: 1, orphans: 1 });
  assert.equal(dry.bytesFreed, deleted.bytes.length + stray.bytes.length);
  assert.deepEqual(await r.everything(), before, 'a dry run changes nothing in the bucket');

  const freed = await r.gc({ clock: later });
  assert.deepEqual({ links: freed.linksRemoved, blobs: freed.blobsDeleted, orphans: freed.orphansDeleted }, { links: 1, blobs: 2, orphans: 1 });
  assert.equal(freed.bytesFreed, unreferenced.bytes.length + deleted.bytes.length + stray.bytes.length);
  for (const b of [unreferenced, deleted, stray]) assert.equal(await r.store.stat(b.digest), null, `${b.digest} freed`);
  for (const b of [config, layer]) assert.equal(await storedHash(r, b.digest), b.digest, 'referenced blobs stay, byte-exact');
  assert.deepEqual([...(await r.meta.existingBlobs([unreferenced.digest, deleted.digest, stray.digest]))], [], 'their rows and marks are gone');
  const again = await r.gc({ clock: later });
  assert.equal(again.linksRemoved + again.blobsDeleted + again.orphansDeleted, 0, 'nothing left to free');
  assert.deepEqual((await r.everything()).multipart, []);
});

test('the grace period holds on the engine timestamps: fresh orphan bytes and unlinked blobs wait for it', async (t) => {
  const r = await rig(t);
  if (!r) return;
  const unlinked = blobOf();
  const stray = blobOf();
  await push(r, 'app', unlinked);
  await r.registry.deleteBlob(REGISTRY, 'app', unlinked.digest);
  await orphan(r, stray);
  const graceMs = 1500;
  const early = await r.gc({ graceMs });
  assert.equal(early.blobsDeleted + early.orphansDeleted, 0, 'younger than the grace period: kept');
  assert.equal(await storedHash(r, stray.digest), stray.digest);
  assert.equal(await storedHash(r, unlinked.digest), unlinked.digest);
  await sleep(graceMs + 300);
  const late = await r.gc({ graceMs });
  assert.deepEqual({ blobs: late.blobsDeleted, orphans: late.orphansDeleted }, { blobs: 1, orphans: 1 });
  assert.equal(await r.store.stat(stray.digest), null);
  assert.equal(await r.store.stat(unlinked.digest), null);
});

test('abandoned uploads go: staged chunks, multipart uploads a dead node left open, leftovers of deleted uploads; fresh ones stay', async (t) => {
  // Two keys (and two multipart uploads) per listing page, so every listing here pages.
  const r = await rig(t, { pageSize: 2 });
  if (!r) return;
  // (a) a chunked upload the client walked away from (upload row, marker, staged chunk)
  const abandoned = await r.registry.startUpload(REGISTRY, 'app');
  await r.registry.appendToUpload(REGISTRY, 'app', abandoned.id, Readable.from([randomBytes(3000)]));
  // (b) an upload whose node died while streaming a chunk: its multipart upload is open
  await r.store.createUpload('crashed-append');
  await r.store.appendUpload('crashed-append', 0, Readable.from([randomBytes(100)]));
  await openMultipart(r, 'uploads/crashed-append/chunk-0000000000000100');
  // (c) a chunk that landed after its upload was deleted (on another node)
  await r.s3.send(new PutObjectCommand({ Bucket: r.store.bucket, Key: `${r.store.prefix}uploads/deleted-meanwhile/chunk-0000000000000000`, Body: randomBytes(700) }));
  // (d) a commit whose node died: a multipart upload open on the blob's own key
  const halfCommitted = blobOf();
  await openMultipart(r, `blobs/sha256/${halfCommitted.digest.slice(7)}`);
  // (e) an append that died on an upload since deleted: only the multipart upload is left
  await openMultipart(r, 'uploads/gone/chunk-0000000000000000');

  await sleep(50);
  const cutoff = Date.now();
  await sleep(50);
  // Fresh: an upload in progress and a commit in flight.
  const fresh = await r.registry.startUpload(REGISTRY, 'app');
  const freshBytes = randomBytes(2000);
  await r.registry.appendToUpload(REGISTRY, 'app', fresh.id, Readable.from([freshBytes]));
  const inFlight = blobOf();
  await openMultipart(r, `blobs/sha256/${inFlight.digest.slice(7)}`);

  const before = await r.everything();
  assert.equal(before.multipart.length, 4);
  const dry = await r.gc({ staleUploadsBefore: cutoff, dryRun: true });
  assert.equal(dry.uploadsPurged, 0);
  assert.deepEqual(await r.everything(), before, 'a dry run leaves uploads alone');

  const result = await r.gc({ staleUploadsBefore: cutoff });
  assert.equal(result.uploadsPurged, 5, '(a) to (e)');
  const after = await r.everything();
  assert.deepEqual(after.multipart.map((m) => m.key), [`${r.store.prefix}blobs/sha256/${inFlight.digest.slice(7)}`], 'only the fresh commit stays open');
  const staged = after.keys.filter((k) => k.includes('/uploads/'));
  assert.ok(staged.length > 0 && staged.every((k) => k.includes(`/uploads/${fresh.id}/`)), `only the fresh upload is staged: ${staged.join(', ')}`);
  await assert.rejects(r.registry.uploadStatus(REGISTRY, 'app', abandoned.id), (err) => isDomainError(err, 'BlobUploadUnknown'));
  assert.equal(await r.store.statUpload('crashed-append'), null);
  // The fresh upload carries on and completes.
  const digest = `sha256:${createHash('sha256').update(freshBytes).digest('hex')}`;
  await r.registry.completeUpload(REGISTRY, 'app', fresh.id, digest, null);
  assert.equal(await storedHash(r, digest), digest);
});

test('listings of more than 1000 objects page through: every orphan goes, the referenced blobs stay', { timeout: 180_000 }, async (t) => {
  const r = await rig(t);
  if (!r) return;
  const config = blobOf();
  const layer = blobOf();
  r.clock.now = Date.now() - 2 * HOUR;
  await push(r, 'app', config);
  await push(r, 'app', layer);
  r.clock.now = null;
  await putImage(r, 'app', 'v1', config, [layer]);
  const strays = Array.from({ length: 1234 }, () => blobOf(randomBytes(16)));
  let next = 0;
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < strays.length) await orphan(r, strays[next++]!);
  }));
  let listed = 0;
  for await (const _ of r.store.list()) listed++;
  assert.equal(listed, strays.length + 2, 'the store lists past the first 1000 keys');

  const result = await r.gc({ clock: () => Date.now() + 2 * HOUR });
  assert.equal(result.orphansDeleted, strays.length);
  assert.equal(result.bytesFreed, strays.length * 16);
  const keys = (await r.everything()).keys;
  assert.deepEqual(keys.sort(), [config, layer].map((b) => `${r.store.prefix}blobs/sha256/${b.digest.slice(7)}`).sort());
  for (const b of [config, layer]) assert.equal(await storedHash(r, b.digest), b.digest);
});
