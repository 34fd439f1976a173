import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { collectGarbage } from '../src/domain/gc.js';
import { RegistryService } from '../src/domain/registry-service.js';
import { SqlMetadataStore } from '../src/stores/metadata/sql-metadata-store.js';
import { openTestS3Store, rawS3Client, s3TestEnv } from '../test/helpers/s3.js';

// node dist/bench/s3-requests.js — how many requests each registry operation sends to the
// S3 engine, and how long it takes, through RegistryService on an S3BlobStore (the Ceph
// RGW of S3_ENDPOINT...) with SQLite metadata. Counts come from the store's own request
// counter (berth_storage_requests_total). Sizes: S3REQ_ROUNDS (10) of each operation,
// S3REQ_ORPHANS (2000) orphan blobs for the GC figure.

const ROUNDS = Number(process.env.S3REQ_ROUNDS ?? 10);
const ORPHANS = Number(process.env.S3REQ_ORPHANS ?? 2000);
const REGISTRY = '000000000000';
const sha256 = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

async function main(): Promise<void> {
  if (!s3TestEnv()) throw new Error('set S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY (source /tmp/ceph-rgw/s3.env)');
  const fixture = await openTestS3Store();
  const dir = await mkdtemp(join(tmpdir(), 's3req-'));
  const meta = SqlMetadataStore.open({ kind: 'sqlite', path: join(dir, 'metadata.db') });
  await meta.migrate();
  const store = fixture.store;
  const registry = new RegistryService({ blobs: store, meta, limits: { manifestMaxBytes: 4 << 20, maxPageSize: 1000 } });
  const rows: Array<{ operation: string; requests: string; total: number; ms: number }> = [];

  const measure = async (operation: string, rounds: number, run: (round: number) => Promise<void>) => {
    const before = new Map(store.requestCounts);
    const started = performance.now();
    for (let i = 0; i < rounds; i++) await run(i);
    const ms = (performance.now() - started) / rounds;
    const per: string[] = [];
    let total = 0;
    for (const [name, count] of [...store.requestCounts].sort()) {
      const n = (count - (before.get(name) ?? 0)) / rounds;
      if (n === 0) continue;
      total += n;
      per.push(`${name} ${+n.toFixed(2)}`);
    }
    rows.push({ operation, requests: per.join(', '), total: +total.toFixed(2), ms: +ms.toFixed(1) });
  };

  try {
    // Orphans: bytes under blobs/ with no row, written straight into the bucket.
    const s3 = rawS3Client();
    let next = 0;
    const put = async () => {
      while (next < ORPHANS) {
        next++;
        const data = randomBytes(64);
        const [, hex] = sha256(data).split(':');
        await s3.send(new PutObjectCommand({ Bucket: fixture.settings.bucket, Key: `${store.prefix}blobs/sha256/${hex}`, Body: data }));
      }
    };
    await Promise.all(Array.from({ length: 16 }, put));
    s3.destroy();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    let gcResult: unknown;
    // First, while the bucket holds nothing else: graceMs 0 takes everything older than now.
    await measure(`GC of ${ORPHANS} orphans`, 1, async () => {
      gcResult = await collectGarbage(store, meta, { graceMs: 0 });
    });
    console.error(JSON.stringify(gcResult));

    const pushed: string[] = [];
    await measure('monolithic push (256 KiB)', ROUNDS, async () => {
      const data = randomBytes(256 * 1024);
      await registry.uploadMonolithic(REGISTRY, 'bench/app', sha256(data), Readable.from([data]), data.length);
      pushed.push(sha256(data));
    });
    await measure('chunked push, 3 chunks of 96 KiB (POST, 3 PATCH, PUT)', ROUNDS, async () => {
      const chunks = [randomBytes(96 * 1024), randomBytes(96 * 1024), randomBytes(96 * 1024)];
      const upload = await registry.startUpload(REGISTRY, 'bench/app');
      let start = 0;
      for (const chunk of chunks) {
        await registry.appendToUpload(REGISTRY, 'bench/app', upload.id, Readable.from([chunk]), start);
        start += chunk.length;
      }
      await registry.completeUpload(REGISTRY, 'bench/app', upload.id, sha256(Buffer.concat(chunks)), null);
    });
    await measure('blob HEAD', ROUNDS, async (i) => {
      await registry.statBlob(REGISTRY, 'bench/app', pushed[i % pushed.length]!);
    });
    await measure('blob pull (256 KiB)', ROUNDS, async (i) => {
      const { stream } = await registry.openBlob(REGISTRY, 'bench/app', pushed[i % pushed.length]!);
      for await (const _ of stream) void _;
    });

    console.log('| operation | S3 requests (by operation) | total | ms |');
    console.log('| --- | --- | --- | --- |');
    for (const r of rows) console.log(`| ${r.operation} | ${r.requests} | ${r.total} | ${r.ms} |`);
  } finally {
    await meta.close();
    await rm(dir, { recursive: true, force: true });
    await fixture.cleanup();
  }
}

await main();
