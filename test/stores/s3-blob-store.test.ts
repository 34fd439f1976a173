import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { CreateMultipartUploadCommand } from '@aws-sdk/client-s3';
import { DomainError } from '../../src/domain/errors.js';
import { UploadOffsetMismatch } from '../../src/stores/blob-store.js';
import { S3BlobStore } from '../../src/stores/blob/s3-blob-store.js';
import { S3StorageError } from '../../src/stores/blob/s3-client.js';
import { leftovers, openTestS3Store, rawS3Client, removePrefix, requireS3, s3TestSettings, type S3StoreFixture } from '../helpers/s3.js';
import { retainedMemory } from '../helpers/memory.js';

// S3-specific behaviour of S3BlobStore against a real engine (Ceph RGW in CI): chunk
// staging below and above S3's 5 MiB part minimum, uploads continued through a second
// store instance (another node), ranged reads, bounded memory, bucket set-up and errors.

const MiB = 1024 * 1024;

const sha256 = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`;


async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

/** Opens a fixture and a second store on the same bucket and prefix, as a second node would. */
async function twoNodes(): Promise<S3StoreFixture & { other: S3BlobStore }> {
  const fixture = await openTestS3Store();
  const other = await S3BlobStore.open(fixture.settings);
  return {
    ...fixture,
    other,
    async cleanup() {
      await other.close();
      await fixture.cleanup();
    },
  };
}

/** Appends `data` cut at `sizes`, alternating between the stores; returns the final size. */
async function appendChunks(stores: S3BlobStore[], id: string, data: Buffer, sizes: number[]): Promise<number> {
  let offset = 0;
  for (const [i, size] of sizes.entries()) {
    const chunk = data.subarray(offset, offset + size);
    offset = await stores[i % stores.length]!.appendUpload(id, offset, Readable.from([chunk]));
  }
  assert.equal(offset, data.length);
  return offset;
}

async function assertNothingStaged(fixture: S3StoreFixture) {
  const client = rawS3Client();
  try {
    const left = await leftovers(client, fixture.settings.bucket, `${fixture.store.prefix}uploads/`);
    assert.deepEqual(left, { keys: [], multipart: [] }, 'staging area is empty');
  } finally {
    client.destroy();
  }
}

test('small chunks (< 5 MiB) appended on two nodes, completed on the second', async (t) => {
  if (!requireS3(t)) return;
  const nodes = await twoNodes();
  t.after(() => nodes.cleanup());
  const { store: a, other: b } = nodes;
  const data = randomBytes(1 + 1000 + 64 * 1024 + 300 * 1024 + 17);
  const digest = sha256(data);

  await a.createUpload('small-chunks');
  assert.deepEqual(await b.statUpload('small-chunks').then((u) => u && u.size), 0);
  await appendChunks([a, b], 'small-chunks', data, [1, 1000, 64 * 1024, 300 * 1024, 17]);

  // Another node sees every byte: size, and the bytes it would re-hash on completion.
  assert.equal((await b.statUpload('small-chunks'))!.size, data.length);
  assert.equal(sha256(await readAll(await b.readUpload('small-chunks'))), digest);
  await assert.rejects(a.appendUpload('small-chunks', 5, Readable.from([Buffer.from('x')])), (err: unknown) => {
    return err instanceof UploadOffsetMismatch && err.actual === data.length;
  });

  assert.equal(await a.stat(digest), null, 'not visible before commit');
  await b.commitUpload('small-chunks', digest);
  assert.equal((await a.stat(digest))!.size, data.length);
  assert.equal(sha256(await readAll(await a.read(digest))), digest, 'committed bytes hash to the digest');
  assert.equal(await a.statUpload('small-chunks'), null);
  await assertNothingStaged(nodes);
});

test('large and mixed chunks are assembled by server-side part copies, ranges read back exactly', async (t) => {
  if (!requireS3(t)) return;
  const nodes = await twoNodes();
  t.after(() => nodes.cleanup());
  const { store: a, other: b } = nodes;
  // A small chunk before a big one, a big one cut mid-part, chunks of exactly 5 MiB, a 3-byte tail.
  const sizes = [700 * 1024, 6 * MiB, 3 * MiB, 12 * MiB + 5, 5 * MiB, 100, 3];
  const data = randomBytes(sizes.reduce((x, y) => x + y, 0));
  const digest = sha256(data);

  await b.createUpload('large-chunks');
  await appendChunks([b, a], 'large-chunks', data, sizes);
  await a.commitUpload('large-chunks', digest);

  const stat = await b.stat(digest);
  assert.equal(stat!.size, data.length);
  assert.equal(sha256(await readAll(await b.read(digest))), digest);
  for (const [start, end] of [
    [0, 0],
    [0, 99],
    [5 * MiB - 10, 5 * MiB + 10],
    [700 * 1024 - 1, 700 * 1024 + 6 * MiB],
    [data.length - 3, data.length - 1],
    [12345, data.length - 1],
  ] as const) {
    const bytes = await readAll(await b.read(digest, { start, end }));
    assert.ok(bytes.equals(data.subarray(start, end + 1)), `range ${start}-${end}`);
  }
  await assertNothingStaged(nodes);
});

test('a 64 MiB blob streams in and out with flat memory', async (t) => {
  if (!requireS3(t)) return;
  const fixture = await openTestS3Store();
  t.after(() => fixture.cleanup());
  const { store } = fixture;
  const size = 64 * MiB;
  const block = randomBytes(MiB);
  const sent = createHash('sha256');
  const baseline = retainedMemory();
  let peak = 0;
  // 64 KiB pieces of a 1 MiB pattern, numbered so no two MiB are alike.
  function* pieces(from: number, to: number) {
    for (let at = from; at < to; at += 64 * 1024) {
      const piece = Buffer.from(block.subarray(at % MiB, (at % MiB) + 64 * 1024));
      piece.writeUInt32BE(at, 0);
      sent.update(piece);
      if (at % (4 * MiB) === 0) peak = Math.max(peak, retainedMemory() - baseline);
      yield piece;
    }
  }

  await store.createUpload('big');
  // Two appends of 32 MiB: two staged multipart objects, committed by part copies.
  let offset = await store.appendUpload('big', 0, Readable.from(pieces(0, size / 2), { objectMode: false }));
  offset = await store.appendUpload('big', offset, Readable.from(pieces(size / 2, size), { objectMode: false }));
  assert.equal(offset, size);
  const digest = `sha256:${sent.digest('hex')}`;
  await store.commitUpload('big', digest);
  const writing = peak;

  peak = 0;
  const received = createHash('sha256');
  let bytes = 0;
  for await (const chunk of await store.read(digest)) {
    received.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
    if (bytes % (4 * MiB) < (chunk as Buffer).length) peak = Math.max(peak, retainedMemory() - baseline);
  }
  assert.equal(bytes, size);
  assert.equal(`sha256:${received.digest('hex')}`, digest);
  t.diagnostic(`retained while writing ${(writing / MiB).toFixed(1)} MiB, while reading ${(peak / MiB).toFixed(1)} MiB`);
  // One 5 MiB part and stream buffers at most; a whole blob would be 64 MiB.
  assert.ok(writing < 12 * MiB, `writing retained ${(writing / MiB).toFixed(1)} MiB`);
  assert.ok(peak < 12 * MiB, `reading retained ${(peak / MiB).toFixed(1)} MiB`);
});

test('a failed chunk body keeps the bytes that arrived, and the upload resumes there', async (t) => {
  if (!requireS3(t)) return;
  const fixture = await openTestS3Store();
  t.after(() => fixture.cleanup());
  const { store } = fixture;
  const data = randomBytes(6 * MiB + 100);
  await store.createUpload('broken');
  // The client goes away after 6 MiB: one part is stored, the rest of what came is too.
  const failing = Readable.from(
    (async function* () {
      yield data.subarray(0, 3 * MiB);
      yield data.subarray(3 * MiB, 6 * MiB);
      throw new Error('client went away');
    })(),
    { objectMode: false },
  );
  await assert.rejects(store.appendUpload('broken', 0, failing), /client went away/);
  const kept = (await store.statUpload('broken'))!.size;
  assert.equal(kept, 6 * MiB);
  assert.equal(await store.appendUpload('broken', kept, Readable.from([data.subarray(kept)])), data.length);
  assert.equal(sha256(await readAll(await store.readUpload('broken'))), sha256(data));

  // An aborted request likewise: once the store has taken 1000 bytes, the request is aborted.
  const controller = new AbortController();
  let served = false;
  const endless = new Readable({
    highWaterMark: 1,
    read() {
      if (served) return void setTimeout(() => controller.abort(), 20);
      served = true;
      this.push(Buffer.alloc(1000, 1));
    },
  });
  await assert.rejects(store.appendUpload('broken', data.length, endless, controller.signal));
  assert.equal((await store.statUpload('broken'))!.size, data.length + 1000);
});

test('deleteUpload removes staged chunks and multipart uploads a crashed node left open', async (t) => {
  if (!requireS3(t)) return;
  const fixture = await openTestS3Store();
  t.after(() => fixture.cleanup());
  const { store, settings } = fixture;
  await store.createUpload('abandoned');
  await store.appendUpload('abandoned', 0, Readable.from([randomBytes(1000)]));
  const client = rawS3Client();
  t.after(() => client.destroy());
  await client.send(new CreateMultipartUploadCommand({ Bucket: settings.bucket, Key: `${store.prefix}uploads/abandoned/chunk-0000000000001000` }));

  const listed = [];
  for await (const u of store.listUploads()) listed.push(u);
  assert.deepEqual(listed.map((u) => [u.id, u.size]), [['abandoned', 1000]]);

  await store.deleteUpload('abandoned');
  await store.deleteUpload('abandoned'); // already gone: no error
  assert.equal(await store.statUpload('abandoned'), null);
  await assert.rejects(store.readUpload('abandoned'), (err: unknown) => err instanceof DomainError && err.errorName === 'BlobUploadUnknown');
  await assertNothingStaged(fixture);
});

test('stat, missing blobs, delete, and listing across pages', async (t) => {
  if (!requireS3(t)) return;
  const fixture = await openTestS3Store({}, { pageSize: 2 });
  t.after(() => fixture.cleanup());
  const { store } = fixture;
  const blobs = [Buffer.alloc(0), Buffer.from('a'), Buffer.from('bb'), randomBytes(3000), randomBytes(10)];
  for (const [i, blob] of blobs.entries()) {
    await store.createUpload(`u${i}`);
    await store.appendUpload(`u${i}`, 0, Readable.from([blob]));
    await store.commitUpload(`u${i}`, sha256(blob));
  }
  // Committing content that already exists is a no-op that still clears the staging area.
  await store.createUpload('again');
  await store.appendUpload('again', 0, Readable.from([Buffer.from('bb')]));
  await store.commitUpload('again', sha256(Buffer.from('bb')));
  assert.equal(await store.statUpload('again'), null);

  const listed = [];
  for await (const b of store.list()) listed.push([b.digest, b.size]);
  assert.deepEqual(listed.sort(), blobs.map((b) => [sha256(b), b.length]).sort());
  assert.equal((await readAll(await store.read(sha256(Buffer.alloc(0))))).length, 0);

  const missing = sha256(Buffer.from('never stored'));
  assert.equal(await store.stat(missing), null);
  await assert.rejects(store.read(missing), (err: unknown) => err instanceof DomainError && err.errorName === 'BlobUnknown');
  await store.delete(sha256(Buffer.from('a')));
  await store.delete(sha256(Buffer.from('a')));
  assert.equal(await store.stat(sha256(Buffer.from('a'))), null);
  await assert.rejects(store.stat('sha256:../../etc'), (err: unknown) => err instanceof DomainError && err.errorName === 'DigestMalformed');
  await assert.rejects(store.createUpload('../escape'), (err: unknown) => err instanceof DomainError && err.errorName === 'BlobUploadUnknown');
});

test('a missing bucket is created only when allowed', async (t) => {
  if (!requireS3(t)) return;
  const bucket = `berth-test-new-${randomBytes(4).toString('hex')}`;
  await assert.rejects(S3BlobStore.open(s3TestSettings({ bucket, createBucket: false })), (err: unknown) => {
    return err instanceof S3StorageError && err.message.includes(bucket) && /does not exist/.test(err.message);
  });
  const store = await S3BlobStore.open(s3TestSettings({ bucket, createBucket: true }));
  t.after(() => removePrefix(bucket, '', true));
  try {
    await store.createUpload('first');
    await store.commitUpload('first', sha256(Buffer.alloc(0)));
    assert.equal((await store.stat(sha256(Buffer.alloc(0))))!.size, 0);
    // Another node opening the same bucket finds it there.
    await (await S3BlobStore.open(s3TestSettings({ bucket, createBucket: true }))).close();
  } finally {
    await store.close();
  }
});

test('wrong credentials and an unreachable endpoint give errors that say so', async (t) => {
  if (!requireS3(t)) return;
  const good = s3TestSettings();
  await assert.rejects(
    S3BlobStore.open({ ...good, credentials: { accessKeyId: good.credentials!.accessKeyId, secretAccessKey: 'wrong-secret-0000000000000000000000000' } }),
    (err: unknown) => err instanceof S3StorageError && /SignatureDoesNotMatch/.test(err.message) && /secret key is wrong/.test(err.message),
  );
  await assert.rejects(
    S3BlobStore.open({ ...good, credentials: { accessKeyId: 'AKIANOSUCHKEY0000000', secretAccessKey: 'x' } }),
    (err: unknown) => err instanceof S3StorageError && /InvalidAccessKeyId/.test(err.message),
  );
  await assert.rejects(
    S3BlobStore.open({ ...good, endpoint: 'http://127.0.0.1:1' }),
    (err: unknown) => err instanceof S3StorageError && /cannot be reached/.test(err.message),
  );
});
