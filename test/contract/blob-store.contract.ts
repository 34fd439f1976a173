import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { isDomainError, type ErrorName } from '../../src/domain/errors.js';
import { UploadOffsetMismatch, type BlobStore } from '../../src/stores/blob-store.js';
import { retainedMemory } from '../helpers/memory.js';

// One contract suite for every BlobStore backend. A backend's test file is three lines:
//   blobStoreContract('fs', async () => ({ store, cleanup }));
// Every test gets a fresh fixture, deletes what it created through the store's own API and
// then checks that the store lists no blob and no upload: nothing is left behind. The store
// is closed before fixture.cleanup() runs.

export interface BlobStoreFixture {
  store: BlobStore;
  /** Removes everything the fixture created. */
  cleanup(): Promise<void>;
  /**
   * Takes the storage away behind the store's back (removes the folder, deletes the
   * bucket), for the readiness check. Optional: backends that cannot skip that test.
   */
  loseStorage?(): Promise<void>;
}

export function blobStoreContract(name: string, make: () => Promise<BlobStoreFixture>): void {
  const it = (title: string, body: (s: Scope) => Promise<void>) => test(title, () => withStore(make, body));

  describe(`BlobStore contract: ${name}`, () => {
    // ---- uploads ----

    it('createUpload makes an empty upload that statUpload, readUpload and listUploads see', async (s) => {
      const before = Date.now();
      const id = await s.newUpload();
      const info = await s.store.statUpload(id);
      assert.ok(info, 'statUpload finds the new upload');
      assert.equal(info.id, id);
      assert.equal(info.size, 0);
      assertRecent(info.modifiedAt, before);
      assert.equal((await readAll(await s.store.readUpload(id))).length, 0);
      assert.deepEqual((await collect(s.store.listUploads())).map((u) => u.id), [id]);
    });

    it('statUpload of an unknown upload is null', async (s) => {
      assert.equal(await s.store.statUpload(randomUUID()), null);
    });

    it('appendUpload appends several chunks in order and resolves to the new size each time', async (s) => {
      const id = await s.newUpload();
      const chunks = [randomBytes(1), randomBytes(70_000), randomBytes(3), randomBytes(200_000)];
      let size = 0;
      for (const chunk of chunks) {
        size = await s.store.appendUpload(id, size, Readable.from([chunk]));
        const info = await s.store.statUpload(id);
        assert.equal(info?.size, size);
      }
      const all = Buffer.concat(chunks);
      assert.equal(size, all.length);
      assertBytes(await readAll(await s.store.readUpload(id)), all);
    });

    it('appendUpload of an empty body changes nothing', async (s) => {
      const id = await s.newUpload();
      assert.equal(await s.store.appendUpload(id, 0, Readable.from([Buffer.from('abc')])), 3);
      assert.equal(await s.store.appendUpload(id, 3, Readable.from([])), 3);
      assertBytes(await readAll(await s.store.readUpload(id)), Buffer.from('abc'));
    });

    it('appendUpload refuses a chunk that does not start at the end (UploadOffsetMismatch) and changes nothing', async (s) => {
      const id = await s.newUpload();
      const first = randomBytes(10);
      await s.store.appendUpload(id, 0, Readable.from([first]));
      for (const offset of [0, 9, 11, 1000]) {
        await assert.rejects(s.store.appendUpload(id, offset, Readable.from([randomBytes(5)])), (err: unknown) => {
          assert.ok(err instanceof UploadOffsetMismatch, `offset ${offset}: ${String(err)}`);
          assert.equal(err.expected, offset, 'expected is where the chunk starts');
          assert.equal(err.actual, 10, 'actual is the upload size');
          return true;
        });
      }
      assert.equal((await s.store.statUpload(id))?.size, 10);
      assertBytes(await readAll(await s.store.readUpload(id)), first);
    });

    it('appendUpload and readUpload of an unknown upload fail with BlobUploadUnknown and create nothing', async (s) => {
      const id = randomUUID();
      await assert.rejects(s.store.appendUpload(id, 0, Readable.from([Buffer.from('x')])), domainError('BlobUploadUnknown'));
      await assert.rejects(s.store.readUpload(id), domainError('BlobUploadUnknown'));
      assert.equal(await s.store.statUpload(id), null);
    });

    it('an append whose source fails midway keeps a consistent size, and the upload resumes from it', async (s) => {
      // The source fails while the last chunk it handed over is still being written; big
      // chunks and a few rounds, because such a race does not show every time.
      const chunk = randomBytes(8 * 1024 * 1024);
      const head = randomBytes(100);
      const everything = Buffer.concat([head, chunk, chunk, chunk]);
      for (let round = 0; round < 3; round++) {
        const id = await s.newUpload();
        await s.store.appendUpload(id, 0, Readable.from([head]));
        let pushed = 0;
        const failing = new Readable({
          highWaterMark: 1024 * 1024,
          read() {
            if (pushed++ < 3) this.push(chunk);
            else this.destroy(new Error('client went away'));
          },
        });
        await assert.rejects(s.store.appendUpload(id, head.length, failing), /client went away/);

        // Whatever reached storage is a prefix of what was sent, and size says exactly how much.
        const size = (await s.store.statUpload(id))?.size;
        assert.ok(size !== undefined && size >= head.length && size <= everything.length, `size ${size}`);
        const stored = await readAll(await s.store.readUpload(id));
        assert.equal(stored.length, size, 'readUpload yields exactly statUpload.size bytes');
        assertBytes(stored, everything.subarray(0, size));
        await new Promise((resolve) => setTimeout(resolve, 20));
        assert.equal((await s.store.statUpload(id))?.size, size, 'the size does not change after the failed append returned');
        if (round > 0) continue;

        // The client resumes where the store says, and the result is whole.
        assert.equal(await s.store.appendUpload(id, size, Readable.from([everything.subarray(size)])), everything.length);
        assertBytes(await readAll(await s.store.readUpload(id)), everything);
      }
    });

    it('an append aborted through its signal keeps a consistent size, and the upload resumes from it', async (s) => {
      const id = await s.newUpload();
      const chunk = randomBytes(4 * 1024 * 1024);
      const abort = new AbortController();
      let pushed = 0;
      const endless = new Readable({
        highWaterMark: 1024 * 1024,
        read() {
          if (pushed++ === 2) abort.abort(); // while the chunks handed over are being written
          this.push(chunk);
        },
      });
      await assert.rejects(s.store.appendUpload(id, 0, endless, abort.signal), { name: 'AbortError' });
      const size = (await s.store.statUpload(id))?.size;
      assert.ok(size !== undefined && size % 1 === 0 && size <= pushed * chunk.length, `size ${size}`);
      const stored = await readAll(await s.store.readUpload(id));
      assert.equal(stored.length, size, 'readUpload yields exactly statUpload.size bytes');
      const everything = Buffer.concat(Array.from({ length: pushed }, () => chunk));
      assertBytes(stored, everything.subarray(0, size));
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal((await s.store.statUpload(id))?.size, size, 'the size does not change after the aborted append returned');
      assert.equal(await s.store.appendUpload(id, size, Readable.from([everything.subarray(size)])), everything.length);
      assertBytes(await readAll(await s.store.readUpload(id)), everything);
    });

    it('deleteUpload removes an upload and is idempotent', async (s) => {
      const id = await s.newUpload();
      await s.store.appendUpload(id, 0, Readable.from([randomBytes(1000)]));
      await s.store.deleteUpload(id);
      assert.equal(await s.store.statUpload(id), null);
      assert.deepEqual(await collect(s.store.listUploads()), []);
      await s.store.deleteUpload(id);
      await s.store.deleteUpload(randomUUID());
      await assert.rejects(s.store.appendUpload(id, 0, Readable.from([Buffer.from('x')])), domainError('BlobUploadUnknown'));
    });

    it('listUploads lists every upload with its size', async (s) => {
      const sizes = [0, 1, 5000];
      const ids: string[] = [];
      for (const size of sizes) {
        const id = await s.newUpload();
        if (size > 0) await s.store.appendUpload(id, 0, Readable.from([randomBytes(size)]));
        ids.push(id);
      }
      const listed = await collect(s.store.listUploads());
      assert.deepEqual(
        listed.map((u) => [u.id, u.size]).sort(),
        ids.map((id, i) => [id, sizes[i]]).sort(),
      );
      for (const u of listed) assertRecent(u.modifiedAt);
    });

    // ---- commit ----

    it('commitUpload makes the bytes visible under the digest and removes the upload', async (s) => {
      const content = randomBytes(12_345);
      const digest = sha256(content);
      const id = await s.newUpload();
      await s.store.appendUpload(id, 0, Readable.from([content]));
      assert.equal(await s.store.stat(digest), null, 'not visible before commit');
      const before = Date.now();
      await s.commit(id, digest);
      const stat = await s.store.stat(digest);
      assert.equal(stat?.size, content.length);
      assertRecent(stat.modifiedAt, before);
      assertBytes(await readAll(await s.store.read(digest)), content);
      assert.equal(await s.store.statUpload(id), null, 'the upload is gone');
      assert.deepEqual(await collect(s.store.listUploads()), []);
      await assert.rejects(s.store.readUpload(id), domainError('BlobUploadUnknown'));
    });

    it('commitUpload is idempotent when the content already exists, even while it is being read', async (s) => {
      const content = randomBytes(3 * 1024 * 1024);
      const digest = await s.putBlob(content);
      const reader = await s.store.read(digest);
      const id = await s.newUpload();
      await s.store.appendUpload(id, 0, Readable.from([content]));
      await s.commit(id, digest);
      assertBytes(await readAll(reader), content, 'a read that started before the second commit');
      assertBytes(await readAll(await s.store.read(digest)), content);
      assert.equal(await s.store.statUpload(id), null);
      assert.deepEqual((await collect(s.store.list())).map((b) => [b.digest, b.size]), [[digest, content.length]]);
    });

    it('commitUpload of an empty upload stores an empty blob', async (s) => {
      const digest = await s.putBlob(Buffer.alloc(0));
      assert.equal((await s.store.stat(digest))?.size, 0);
      assert.equal((await readAll(await s.store.read(digest))).length, 0);
    });

    it('commitUpload of an unknown upload fails with BlobUploadUnknown and stores nothing', async (s) => {
      const digest = sha256(Buffer.from('never uploaded'));
      await assert.rejects(s.store.commitUpload(randomUUID(), digest), domainError('BlobUploadUnknown'));
      assert.equal(await s.store.stat(digest), null);
    });

    // ---- blobs ----

    it('stat of an unknown blob is null', async (s) => {
      assert.equal(await s.store.stat(sha256(randomBytes(8))), null);
    });

    it('read streams a whole blob and exact inclusive ranges of it', async (s) => {
      const content = randomBytes(3 * 1024 * 1024 + 17);
      const digest = await s.putBlob(content);
      assertBytes(await readAll(await s.store.read(digest)), content);
      const last = content.length - 1;
      for (const [start, end] of [
        [0, 0],
        [0, last],
        [1, 1],
        [10, 19],
        [last, last],
        [1024 * 1024 - 1, 2 * 1024 * 1024 + 1],
        [last - 100, last],
      ] as const) {
        assertBytes(await readAll(await s.store.read(digest, { start, end })), content.subarray(start, end + 1), `range ${start}-${end}`);
      }
    });

    it('ping resolves while the storage is usable', async (s) => {
      await s.store.ping();
      await s.putBlob(randomBytes(10));
      await s.store.ping();
    });

    test('ping rejects once the storage is gone, and the store does not crash', async (t) => {
      const fixture = await make();
      try {
        if (!fixture.loseStorage) return void t.skip('this fixture cannot take its storage away');
        await fixture.store.ping();
        await fixture.loseStorage();
        await assert.rejects(fixture.store.ping());
      } finally {
        await fixture.store.close();
        await fixture.cleanup();
      }
    });

    it('read of a missing blob fails with BlobUnknown before any stream is returned', async (s) => {
      const digest = sha256(randomBytes(8));
      await assert.rejects(s.store.read(digest), domainError('BlobUnknown'));
      await assert.rejects(s.store.read(digest, { start: 0, end: 0 }), domainError('BlobUnknown'));
    });

    it('delete removes a blob and is idempotent', async (s) => {
      const keep = await s.putBlob(randomBytes(100));
      const gone = await s.putBlob(randomBytes(200));
      await s.store.delete(gone);
      assert.equal(await s.store.stat(gone), null);
      await assert.rejects(s.store.read(gone), domainError('BlobUnknown'));
      assert.deepEqual((await collect(s.store.list())).map((b) => b.digest), [keep]);
      await s.store.delete(gone);
      await s.store.delete(sha256(randomBytes(8)));
      assert.equal((await s.store.stat(keep))?.size, 100);
    });

    it('list yields every blob with its size, sha256 and sha512 alike', async (s) => {
      const contents = [Buffer.alloc(0), randomBytes(1), randomBytes(4096)];
      const expected: [string, number][] = [];
      for (const content of contents) expected.push([await s.putBlob(content), content.length]);
      const long = randomBytes(777);
      expected.push([await s.putBlob(long, 'sha512'), long.length]);
      const listed = await collect(s.store.list());
      assert.deepEqual(listed.map((b) => [b.digest, b.size]).sort(), expected.sort());
      for (const b of listed) assertRecent(b.modifiedAt);
      assertBytes(await readAll(await s.store.read(expected[3]![0])), long);
    });

    it('a 64 MiB blob goes in and out as a stream while memory stays flat', async (s) => {
      const size = 64 * 1024 * 1024;
      const chunk = 256 * 1024;
      const seed = randomBytes(chunk);
      const hash = createHash('sha256');
      const baseline = retainedMemory();
      let peak = 0;
      async function* generate() {
        for (let i = 0; i < size / chunk; i++) {
          const piece = Buffer.from(seed);
          piece.writeUInt32BE(i, 0); // every chunk differs, so a misplaced chunk changes the digest
          hash.update(piece);
          if (i % 32 === 31) peak = Math.max(peak, retainedMemory() - baseline);
          yield piece;
        }
      }
      const id = await s.newUpload();
      assert.equal(await s.store.appendUpload(id, 0, Readable.from(generate(), { objectMode: false, highWaterMark: 1024 * 1024 })), size);
      const digest = `sha256:${hash.digest('hex')}`;
      await s.commit(id, digest);
      assert.equal((await s.store.stat(digest))?.size, size);
      const limit = size / 4;
      assert.ok(peak < limit, `writing retained ${mib(peak)} MiB (limit ${mib(limit)} MiB)`);

      peak = 0;
      const readHash = createHash('sha256');
      let read = 0;
      let sampledAt = 0;
      for await (const piece of await s.store.read(digest)) {
        readHash.update(piece as Buffer);
        read += (piece as Buffer).length;
        if (read - sampledAt >= 8 * 1024 * 1024) {
          sampledAt = read;
          peak = Math.max(peak, retainedMemory() - baseline);
        }
      }
      assert.equal(read, size);
      assert.equal(`sha256:${readHash.digest('hex')}`, digest);
      assert.ok(peak < limit, `reading retained ${mib(peak)} MiB (limit ${mib(limit)} MiB)`);
    });
  });
}

/** What a test works with: the store plus helpers that remember what the test created. */
interface Scope {
  store: BlobStore;
  /** Creates an upload that is deleted after the test unless the test consumed it. */
  newUpload(): Promise<string>;
  /** Commits an upload and remembers the blob for deletion after the test. */
  commit(uploadId: string, digest: string): Promise<void>;
  /** Stores a whole blob through an upload; resolves to its digest. */
  putBlob(content: Buffer, algorithm?: 'sha256' | 'sha512'): Promise<string>;
}

async function withStore(make: () => Promise<BlobStoreFixture>, body: (s: Scope) => Promise<void>): Promise<void> {
  const fixture = await make();
  const { store } = fixture;
  const uploads = new Set<string>();
  const blobs = new Set<string>();
  const scope: Scope = {
    store,
    async newUpload() {
      const id = randomUUID();
      uploads.add(id);
      await store.createUpload(id);
      return id;
    },
    async commit(uploadId, digest) {
      blobs.add(digest);
      await store.commitUpload(uploadId, digest);
    },
    async putBlob(content, algorithm = 'sha256') {
      const id = await scope.newUpload();
      assert.equal(await store.appendUpload(id, 0, Readable.from([content])), content.length);
      const digest = `${algorithm}:${createHash(algorithm).update(content).digest('hex')}`;
      await scope.commit(id, digest);
      return digest;
    },
  };
  let closed = false;
  try {
    await body(scope);
    // Remove what this test made through the store itself; then nothing may remain.
    for (const id of uploads) await store.deleteUpload(id);
    for (const digest of blobs) await store.delete(digest);
    assert.deepEqual(await collect(store.listUploads()), [], 'no upload is left behind');
    assert.deepEqual(await collect(store.list()), [], 'no blob is left behind');
    closed = true;
    await store.close();
  } finally {
    if (!closed) await store.close().catch(() => {});
    await fixture.cleanup();
  }
}

function sha256(content: Buffer): string {
  return `sha256:${createHash('sha256').update(content).digest('hex')}`;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/** Compares bytes without printing megabytes of diff on failure. */
function assertBytes(actual: Buffer, expected: Buffer, what = 'bytes'): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  assert.ok(actual.equals(expected), `${what}: content differs`);
}

function assertRecent(time: number, notBefore = Date.now() - 60_000): void {
  assert.ok(Number.isFinite(time), `time ${time} is a number`);
  // Storage clocks (file mtimes, object stores) may be coarse or slightly skewed.
  assert.ok(time >= notBefore - 5_000 && time <= Date.now() + 5_000, `time ${new Date(time).toISOString()} is about now`);
}

function domainError(name: ErrorName) {
  return (err: unknown) => {
    assert.ok(isDomainError(err, name), `expected DomainError ${name}, got ${String(err)}`);
    return true;
  };
}

function mib(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}
