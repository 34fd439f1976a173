import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { DomainError, isDomainError } from '../../src/domain/errors.js';
import { RegistryService } from '../../src/domain/registry-service.js';
import { UploadOffsetMismatch } from '../../src/stores/blob-store.js';
import { S3BlobStore } from '../../src/stores/blob/s3-blob-store.js';
import { SqlMetadataStore } from '../../src/stores/metadata/sql-metadata-store.js';
import { leftovers, openTestS3Store, rawS3Client, requireS3, type S3StoreFixture } from '../helpers/s3.js';

// What an upload costs in requests to the engine (listings are ~50 ms each on Ceph RGW,
// a HEAD a few ms), and that what a node remembers about an upload never hides what
// another node did to it: appends, deletion, completion.

const REGISTRY = '000000000000';
const sha256 = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

/** Requests the store sends while `work` runs, by operation. */
async function requestsDuring(store: S3BlobStore, work: () => Promise<unknown>): Promise<Record<string, number>> {
  const before = new Map(store.requestCounts);
  await work();
  const sent: Record<string, number> = {};
  for (const [operation, count] of store.requestCounts) if (count > (before.get(operation) ?? 0)) sent[operation] = count - (before.get(operation) ?? 0);
  return sent;
}

async function twoNodes(t: TestContext): Promise<(S3StoreFixture & { other: S3BlobStore }) | null> {
  if (!requireS3(t)) return null;
  const fixture = await openTestS3Store();
  const other = await S3BlobStore.open(fixture.settings);
  t.after(async () => {
    await other.close();
    await fixture.cleanup();
  });
  return { ...fixture, other };
}

async function staged(fixture: S3StoreFixture) {
  const client = rawS3Client();
  try {
    return await leftovers(client, fixture.settings.bucket, `${fixture.store.prefix}uploads/`);
  } finally {
    client.destroy();
  }
}

test('an upload staged and completed on one node lists nothing', async (t) => {
  const nodes = await twoNodes(t);
  if (!nodes) return;
  const { store } = nodes;
  const chunks = [randomBytes(1000), randomBytes(70_000), randomBytes(5)];
  const data = Buffer.concat(chunks);

  const sent = await requestsDuring(store, async () => {
    await store.createUpload('hot');
    let offset = 0;
    for (const chunk of chunks) {
      assert.equal((await store.statUpload('hot'))!.size, offset);
      offset = await store.appendUpload('hot', offset, Readable.from([chunk]));
    }
    assert.equal(sha256(await readAll(await store.readUpload('hot'))), sha256(data));
    await store.commitUpload('hot', sha256(data));
  });
  assert.equal(sent.ListObjectsV2, undefined, `no listing: ${JSON.stringify(sent)}`);
  assert.equal(sent.ListMultipartUploads, undefined, `no multipart listing: ${JSON.stringify(sent)}`);
  assert.equal(sha256(await readAll(await store.read(sha256(data)))), sha256(data));
  assert.equal(await store.statUpload('hot'), null);
  assert.deepEqual(await staged(nodes), { keys: [], multipart: [] }, 'the staging area is empty');

  // One whole blob (what a monolithic push does): no listing, 11 requests at most.
  const blob = randomBytes(4096);
  const monolithic = await requestsDuring(store, async () => {
    await store.createUpload('mono');
    await store.appendUpload('mono', 0, Readable.from([blob]));
    await store.commitUpload('mono', sha256(blob));
  });
  assert.equal(monolithic.ListObjectsV2 ?? 0, 0, JSON.stringify(monolithic));
  assert.ok(Object.values(monolithic).reduce((a, b) => a + b, 0) <= 11, JSON.stringify(monolithic));
});

test('what a node remembers about an upload yields to what another node did', async (t) => {
  const nodes = await twoNodes(t);
  if (!nodes) return;
  const { store: a, other: b } = nodes;
  const data = randomBytes(300);

  await a.createUpload('shared');
  await a.appendUpload('shared', 0, Readable.from([data.subarray(0, 100)]));
  await b.appendUpload('shared', 100, Readable.from([data.subarray(100, 150)]));
  // a remembered 100 bytes; the bucket holds 150.
  assert.equal((await a.statUpload('shared'))!.size, 150);
  await assert.rejects(a.appendUpload('shared', 100, Readable.from([Buffer.from('late')])), (err: unknown) => err instanceof UploadOffsetMismatch && err.actual === 150);
  await a.appendUpload('shared', 150, Readable.from([data.subarray(150, 200)]));
  await b.appendUpload('shared', 200, Readable.from([data.subarray(200, 300)]));
  assert.ok((await readAll(await a.readUpload('shared'))).equals(data), 'a reads the bytes b appended too');
  await a.commitUpload('shared', sha256(data));
  assert.ok((await readAll(await b.read(sha256(data)))).equals(data));
  assert.equal(await a.statUpload('shared'), null);
  assert.equal(await b.statUpload('shared'), null);
  assert.deepEqual(await staged(nodes), { keys: [], multipart: [] });

  // Deleted on b: a, which remembers it, sees it gone.
  await a.createUpload('gone');
  await a.appendUpload('gone', 0, Readable.from([Buffer.from('abc')]));
  await b.deleteUpload('gone');
  assert.equal(await a.statUpload('gone'), null);
  await assert.rejects(a.appendUpload('gone', 3, Readable.from([Buffer.from('d')])), (err: unknown) => err instanceof DomainError && err.errorName === 'BlobUploadUnknown');
  await assert.rejects(a.commitUpload('gone', sha256(Buffer.from('abc'))), (err: unknown) => err instanceof DomainError && err.errorName === 'BlobUploadUnknown');

  // Completed on b while a remembers it: a no longer knows the upload.
  await a.createUpload('done');
  await a.appendUpload('done', 0, Readable.from([Buffer.from('xyz')]));
  await b.commitUpload('done', sha256(Buffer.from('xyz')));
  assert.equal(await a.statUpload('done'), null);
  assert.deepEqual(await staged(nodes), { keys: [], multipart: [] });
});

test('chunks without Content-Range on two registry nodes go where the upload ends', async (t) => {
  const nodes = await twoNodes(t);
  if (!nodes) return;
  const dir = await mkdtemp(join(tmpdir(), 'berth-s3req-'));
  const meta = SqlMetadataStore.open({ kind: 'sqlite', path: join(dir, 'metadata.db') });
  await meta.migrate();
  t.after(async () => {
    await meta.close();
    await rm(dir, { recursive: true, force: true });
  });
  const limits = { manifestMaxBytes: 4 << 20, maxPageSize: 1000 };
  const nodeA = new RegistryService({ blobs: nodes.store, meta, limits });
  const nodeB = new RegistryService({ blobs: nodes.other, meta, limits });
  const chunks = [randomBytes(2000), randomBytes(3000), randomBytes(1000), randomBytes(10)];
  const data = Buffer.concat(chunks);

  const upload = await nodeA.startUpload(REGISTRY, 'app');
  assert.equal((await nodeA.appendToUpload(REGISTRY, 'app', upload.id, Readable.from([chunks[0]!]))).size, 2000);
  assert.equal((await nodeB.appendToUpload(REGISTRY, 'app', upload.id, Readable.from([chunks[1]!]))).size, 5000);
  // Node A last saw 2000 bytes: the chunk still goes to 5000, where the client means it.
  assert.equal((await nodeA.appendToUpload(REGISTRY, 'app', upload.id, Readable.from([chunks[2]!]))).size, 6000);
  // A stated offset that is not the end is refused, with the real size, and stores nothing.
  await assert.rejects(nodeA.appendToUpload(REGISTRY, 'app', upload.id, Readable.from([Buffer.from('stray')]), 2000), (err: unknown) => {
    return isDomainError(err) && err.errorName === 'UploadOutOfOrder' && (err.detail as { size: number }).size === 6000;
  });
  const blob = await nodeA.completeUpload(REGISTRY, 'app', upload.id, sha256(data), Readable.from([chunks[3]!]));
  assert.deepEqual(blob, { digest: sha256(data), size: data.length });
  const { stream } = await nodeB.openBlob(REGISTRY, 'app', sha256(data));
  assert.ok((await readAll(stream)).equals(data), 'the blob holds every chunk in order');
});
