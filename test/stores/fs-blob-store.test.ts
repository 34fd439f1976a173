// The filesystem store's upload writer (early writeback, see UploadFileWriter): what the
// contract suite checks for every backend, pushed past the writeback threshold many times
// over, several uploads at once, plus the file handles it must give back.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { FsBlobStore } from '../../src/stores/blob/fs-blob-store.js';

const MiB = 1 << 20;

/** Open descriptors of this process that point into `dir`. */
async function openFilesUnder(dir: string): Promise<number> {
  let count = 0;
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(join('/proc/self/fd', fd)).catch(() => '');
    if (target.startsWith(dir)) count++;
  }
  return count;
}

/** `total` bytes of `block`, in pieces of odd sizes, each piece a fresh copy. */
function* pieces(block: Buffer, total: number, size: number): Generator<Buffer> {
  for (let at = 0; at < total; at += size) {
    const length = Math.min(size, total - at);
    const piece = Buffer.allocUnsafe(length);
    for (let i = 0; i < length; i++) piece[i] = block[(at + i) % block.length]!;
    yield piece;
  }
}

/**
 * Runs `body` on a fresh store, and fails when a file handle was left for the garbage
 * collector to close (node warns when it does: a handle the store forgot to close may be
 * closed that way before openFilesUnder can see it).
 */
async function withStore(body: (store: FsBlobStore, root: string) => Promise<void>): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'berth-fs-writer-'));
  const closedByGc: string[] = [];
  const onWarning = (warning: Error) => {
    if (/file descriptor .* garbage collection/i.test(warning.message)) closedByGc.push(warning.message);
  };
  process.on('warning', onWarning);
  try {
    await body(await new FsBlobStore(root).init(), root);
    assert.deepEqual(closedByGc, [], 'no file handle is left for the garbage collector to close');
  } finally {
    process.off('warning', onWarning);
    await rm(root, { recursive: true, force: true });
  }
}

async function digestOf(stream: AsyncIterable<Buffer>): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of stream) hash.update(chunk);
  return `sha256:${hash.digest('hex')}`;
}

test('four concurrent uploads of 40 MiB in odd-sized chunks and appends keep every byte, and close every file', async () => {
  await withStore(async (store, root) => {
    const uploads = [0, 1, 2, 3].map((n) => ({ id: `u${n}`, block: randomBytes(3 * MiB + 17 * n + 1), total: 40 * MiB + n }));
    await Promise.all(
      uploads.map(async ({ id, block, total }) => {
        await store.createUpload(id);
        // Two appends, the second from where the first ended, as two PATCHes would.
        const all = [...pieces(block, total, 777_777)];
        const half = Math.floor(all.length / 2);
        const first = await store.appendUpload(id, 0, Readable.from(all.slice(0, half)));
        const size = await store.appendUpload(id, first, Readable.from(all.slice(half)));
        assert.equal(size, total);
      }),
    );
    for (const { id, block, total } of uploads) {
      const expected = await digestOf(Readable.from(pieces(block, total, MiB)));
      assert.equal(await digestOf(await store.readUpload(id)), expected, `bytes of ${id}`);
      await store.commitUpload(id, expected);
      assert.equal((await store.stat(expected))?.size, total);
      assert.equal(await digestOf(await store.read(expected)), expected);
    }
    assert.equal(await openFilesUnder(root), 0, 'no file of the store is left open');
  });
});

test('an append whose source fails after the writeback threshold keeps what was written, and closes the file', async () => {
  await withStore(async (store, root) => {
    await store.createUpload('failing');
    const block = randomBytes(MiB);
    async function* failing(): AsyncGenerator<Buffer> {
      for (let i = 0; i < 20; i++) yield Buffer.from(block);
      throw new Error('client went away');
    }
    await assert.rejects(store.appendUpload('failing', 0, Readable.from(failing())), /client went away/);
    assert.equal(await openFilesUnder(root), 0, 'the upload file is closed once the append rejects');
    // Chunks still buffered when the source failed may be dropped; what is stored is a
    // prefix of what was sent, and the upload resumes from its size.
    const stored = (await store.statUpload('failing'))!.size;
    assert.ok(stored > 8 * MiB && stored <= 20 * MiB, `stored ${stored} bytes`);
    const sent = Buffer.concat(Array.from({ length: 20 }, () => block));
    const size = await store.appendUpload('failing', stored, Readable.from([sent.subarray(stored), Buffer.from('tail')]));
    assert.equal(size, 20 * MiB + 4);
    const expected = createHash('sha256').update(sent).update('tail');
    assert.equal(await digestOf(await store.readUpload('failing')), `sha256:${expected.digest('hex')}`);
  });
});
