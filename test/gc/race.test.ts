import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { collectGarbage, type GcOptions } from '../../src/domain/gc.js';
import { isDomainError } from '../../src/domain/errors.js';
import { RegistryService, type RegistryHooks } from '../../src/domain/registry-service.js';
import { FsBlobStore } from '../../src/stores/blob/fs-blob-store.js';
import { SqlMetadataStore } from '../../src/stores/metadata/sql-metadata-store.js';
import { createTestDatabase, postgresAvailable } from '../helpers/postgres.js';

// The collector against a push, interleaved deterministically: each side pauses at a
// named point (test seams in the domain) while the other runs. Real SQLite / PostgreSQL
// and a real filesystem blob store, no HTTP.

const REGISTRY = '000000000000';
const HOUR = 3_600_000;

interface Rig {
  registry: RegistryService;
  hooks: RegistryHooks;
  blobs: FsBlobStore;
  meta: SqlMetadataStore;
  /** The registry's clock (pushes); tests move it to make blobs old. */
  clock: { now: number | null };
  gc(options?: Partial<GcOptions>): ReturnType<typeof collectGarbage>;
  close(): Promise<void>;
}

async function rig(backend: 'sqlite' | 'postgres'): Promise<Rig> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-gc-race-'));
  const blobs = await new FsBlobStore(join(dir, 'storage')).init();
  const database = backend === 'postgres' ? await createTestDatabase() : null;
  const meta = SqlMetadataStore.open(database ? { kind: 'postgres', url: database.url } : { kind: 'sqlite', path: join(dir, 'meta.db') });
  await meta.migrate();
  const hooks: RegistryHooks = {};
  const clock: { now: number | null } = { now: null };
  const registry = new RegistryService({ blobs, meta, hooks, limits: { manifestMaxBytes: 4 << 20, maxPageSize: 1000 }, clock: () => clock.now ?? Date.now() });
  return {
    registry,
    hooks,
    blobs,
    meta,
    clock,
    gc: (options = {}) => collectGarbage(blobs, meta, { graceMs: HOUR, ...options }),
    async close() {
      await meta.close();
      await database?.drop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A promise with its resolver, for pausing one side. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

function blobOf(bytes: Buffer) {
  return { bytes, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}` };
}

async function push(r: Rig, repo: string, blob: { bytes: Buffer; digest: string }) {
  return r.registry.uploadMonolithic(REGISTRY, repo, blob.digest, Readable.from([blob.bytes]), blob.bytes.length);
}

async function storedHash(r: Rig, digest: string): Promise<string | null> {
  if (!(await r.blobs.stat(digest))) return null;
  const hash = createHash('sha256');
  for await (const chunk of await r.blobs.read(digest)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

function settledWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  return Promise.race([promise.then(() => true, () => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms))]);
}

const backends: ('sqlite' | 'postgres')[] = ['sqlite', ...((await postgresAvailable()) ? (['postgres'] as const) : [])];

for (const backend of backends) {
  describe(`GC never races a push (${backend})`, () => {
    const rigs: Rig[] = [];
    after(async () => {
      for (const r of rigs) await r.close();
    });
    const open = async () => {
      const r = await rig(backend);
      rigs.push(r);
      return r;
    };

    test('a push of bytes the collector is deleting waits for it, then stores them again', async () => {
      const r = await open();
      const blob = blobOf(randomBytes(4096));
      // An old blob nothing links any more: collectable.
      r.clock.now = Date.now() - 2 * HOUR;
      await push(r, 'app', blob);
      r.clock.now = null;
      await r.registry.deleteBlob(REGISTRY, 'app', blob.digest);

      const marked = gate();
      const release = gate();
      const collecting = r.gc({ hooks: { afterMark: async (digests) => { if (digests.includes(blob.digest)) { marked.open(); await release.opened; } } } });
      await marked.opened;
      // The collector holds its mark and has not deleted the bytes yet. A push of the same
      // bytes now must not commit them (the collector would delete them under it).
      const pushing = push(r, 'other', blob);
      assert.equal(await settledWithin(pushing, 300), false, 'the push waits while the blob is marked');
      release.open();
      const freed = await collecting;
      assert.equal(freed.blobsDeleted, 1);
      assert.deepEqual(await pushing, { digest: blob.digest, size: blob.bytes.length });
      assert.equal(await storedHash(r, blob.digest), blob.digest, 'the pushed bytes are stored');
      assert.deepEqual(await r.meta.getLinkedBlob((await r.meta.getRepository(REGISTRY, 'other'))!.id, blob.digest), { digest: blob.digest, size: blob.bytes.length });
      const again = await r.gc();
      assert.equal(again.blobsDeleted + again.orphansDeleted, 0, 'a linked, fresh blob is kept');
      assert.equal(await storedHash(r, blob.digest), blob.digest);
    });

    test('a push whose claim outlived the grace period fails rather than link bytes the collector deleted', async () => {
      const r = await open();
      const blob = blobOf(randomBytes(2048));
      const committed = gate();
      const release = gate();
      r.hooks.beforeBlobLink = async (digest) => {
        if (digest !== blob.digest) return;
        committed.open();
        await release.opened;
      };
      const pushing = push(r, 'app', blob);
      await committed.opened;
      assert.equal(await storedHash(r, blob.digest), blob.digest, 'bytes committed, not linked yet');
      // A collector with a normal grace period leaves the claimed blob alone, even when its
      // bytes look old (a rename keeps the staging file's mtime) and no repository links it.
      const old = new Date(Date.now() - 2 * HOUR);
      await utimes(blobPath(r, blob.digest), old, old);
      const gentle = await r.gc();
      assert.equal(gentle.blobsDeleted + gentle.orphansDeleted, 0);
      assert.equal(await storedHash(r, blob.digest), blob.digest);
      // A collector whose grace period the push outlived (grace 0) takes the blob: the
      // push's link must then fail, never record a blob whose bytes are gone.
      await new Promise((resolve) => setTimeout(resolve, 5));
      const harsh = await r.gc({ graceMs: 0 });
      assert.equal(harsh.blobsDeleted, 1);
      assert.equal(await r.blobs.stat(blob.digest), null);
      release.open();
      await assert.rejects(pushing, (err) => isDomainError(err, 'TooManyRequests'));
      const repo = (await r.meta.getRepository(REGISTRY, 'app'))!;
      assert.equal(await r.meta.getLinkedBlob(repo.id, blob.digest), null, 'no link to missing bytes');
      r.hooks.beforeBlobLink = undefined;
      await push(r, 'app', blob);
      assert.equal(await storedHash(r, blob.digest), blob.digest, 'pushing again works');
      assert.ok(await r.meta.getLinkedBlob(repo.id, blob.digest));
    });

    test('mounting a blob the collector is deleting does not link missing bytes', async () => {
      const r = await open();
      const blob = blobOf(randomBytes(1024));
      await push(r, 'source', blob);
      const marked = gate();
      const release = gate();
      // The source link and the blob grow old; the collector unlinks and marks the blob.
      const source = (await r.meta.getRepository(REGISTRY, 'source'))!;
      await r.meta.db.updateTable('blobs').set({ created_at: Date.now() - 2 * HOUR }).where('digest', '=', blob.digest).execute();
      await r.meta.db.updateTable('repository_blobs').set({ created_at: Date.now() - 2 * HOUR }).where('repository_id', '=', source.id).execute();
      const collecting = r.gc({ hooks: { afterMark: async (digests) => { if (digests.includes(blob.digest)) { marked.open(); await release.opened; } } } });
      await marked.opened;
      assert.equal(await r.meta.claimBlob({ digest: blob.digest, size: 1024 }, Date.now()), null, 'claims wait while marked');
      const mounting = r.registry.mountBlob(REGISTRY, 'target', blob.digest, 'source');
      assert.equal(await mounting, null, 'the source no longer links it: the client uploads instead');
      release.open();
      await collecting;
      assert.equal(await r.blobs.stat(blob.digest), null);
      const target = await r.meta.getRepository(REGISTRY, 'target');
      assert.equal(target && (await r.meta.getLinkedBlob(target.id, blob.digest)), null);
    });

    test('bytes without any row are deleted only once older than the grace period', async () => {
      const r = await open();
      const oldBlob = blobOf(randomBytes(512));
      const newBlob = blobOf(randomBytes(512));
      for (const [i, b] of [oldBlob, newBlob].entries()) {
        await r.blobs.createUpload(`orphan-${i}`);
        await r.blobs.appendUpload(`orphan-${i}`, 0, Readable.from([b.bytes]));
        await r.blobs.commitUpload(`orphan-${i}`, b.digest);
      }
      const old = new Date(Date.now() - 2 * HOUR);
      await utimes(blobPath(r, oldBlob.digest), old, old);
      const dry = await r.gc({ dryRun: true });
      assert.equal(dry.orphansDeleted, 1);
      assert.equal(await storedHash(r, oldBlob.digest), oldBlob.digest, 'a dry run deletes nothing');
      const freed = await r.gc();
      assert.equal(freed.orphansDeleted, 1);
      assert.equal(freed.bytesFreed, 512);
      assert.equal(await r.blobs.stat(oldBlob.digest), null);
      assert.equal(await storedHash(r, newBlob.digest), newBlob.digest);
      assert.deepEqual([...(await r.meta.existingBlobs([oldBlob.digest, newBlob.digest]))], [], 'the orphan mark is gone too');
    });

    test('a collector that died holding marks is finished by the next one', async () => {
      const r = await open();
      const blob = blobOf(randomBytes(256));
      r.clock.now = Date.now() - 2 * HOUR;
      await push(r, 'app', blob);
      r.clock.now = null;
      await r.registry.deleteBlob(REGISTRY, 'app', blob.digest);
      const dying = r.gc({ hooks: { afterMark: async () => { throw new Error('collector died'); } } });
      await assert.rejects(dying, /collector died/);
      assert.equal(await r.meta.claimBlob({ digest: blob.digest, size: 256 }, Date.now()), null, 'still marked');
      const next = await r.gc({ markLeaseMs: 0 });
      assert.ok(next.durationMs >= 0);
      assert.equal(await r.blobs.stat(blob.digest), null);
      assert.deepEqual([...(await r.meta.existingBlobs([blob.digest]))], []);
      await push(r, 'app', blob);
      assert.equal(await storedHash(r, blob.digest), blob.digest);
    });
  });
}

function blobPath(r: Rig, digest: string): string {
  const hex = digest.slice('sha256:'.length);
  return join(r.blobs.root, 'blobs', 'sha256', hex.slice(0, 2), hex);
}

