import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnBerth, type BerthProcess } from '../test/helpers/berth-process.js';
import { createTestDatabase, postgresAvailable, type TestDatabase } from '../test/helpers/postgres.js';
import { removePrefix, s3TestEnv, testBucket } from '../test/helpers/s3.js';

// npm run bench:cluster — the same small workload against
//   1. one node on a folder + SQLite (the embedded default),
//   2. one node on S3 + PostgreSQL,
//   3. two nodes on S3 + PostgreSQL, clients round-robin over them,
//   4. one node on S3 + PostgreSQL with storage.redirect (pulls go to the engine),
// each node a real `berth serve` process on loopback, reported side by side.
// S3 is the engine named by S3_ENDPOINT/S3_ACCESS_KEY/S3_SECRET_KEY (Ceph RGW in CI);
// PostgreSQL is 127.0.0.1:5432. Rows whose engines are missing are skipped.
// Sizes: BENCH_BLOBS (16) blobs of BENCH_BLOB_MIB (4) MiB, BENCH_SECONDS (5) of manifest GETs.

const BLOBS = Number(process.env.BENCH_BLOBS ?? 16);
const BLOB_MIB = Number(process.env.BENCH_BLOB_MIB ?? 4);
const BLOB_CONCURRENCY = 4;
const MANIFEST_CONCURRENCY = 32;
const MANIFEST_SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

const sha256 = (data: Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

interface Result {
  setup: string;
  pushMBps: number;
  pullMBps: number;
  manifestGetsPerSecond: number;
  note?: string;
}

interface Cluster {
  urls: string[];
  stop(): Promise<void>;
}

async function main(): Promise<void> {
  const results: Result[] = [];
  const setups: Array<{ name: string; start: () => Promise<Cluster | string> }> = [
    { name: 'fs + SQLite, 1 node', start: startEmbedded },
    { name: 'S3 + PostgreSQL, 1 node', start: () => startShared(1) },
    { name: 'S3 + PostgreSQL, 2 nodes', start: () => startShared(2) },
    // Pulls answered with a 307 to a presigned URL: the bytes come from the engine.
    { name: 'S3 + PostgreSQL, 1 node, storage.redirect', start: () => startShared(1, true) },
  ];
  for (const setup of setups) {
    process.stderr.write(`== ${setup.name}\n`);
    const cluster = await setup.start();
    if (typeof cluster === 'string') {
      results.push({ setup: setup.name, pushMBps: NaN, pullMBps: NaN, manifestGetsPerSecond: NaN, note: cluster });
      continue;
    }
    try {
      results.push({ setup: setup.name, ...(await workload(cluster.urls)) });
    } finally {
      await cluster.stop();
    }
  }
  report(results);
}

async function workload(urls: string[]): Promise<Omit<Result, 'setup'>> {
  let next = 0;
  // Round-robin: each request goes to the next node.
  const node = () => urls[next++ % urls.length]!;
  const repo = `bench/cluster-${randomBytes(3).toString('hex')}`;
  const seed = randomBytes(BLOB_MIB * 1024 * 1024);
  const blobs = Array.from({ length: BLOBS }, (_, i) => {
    const data = Buffer.from(seed);
    data.writeUInt32BE(i, 0);
    return { data, digest: sha256(data) };
  });

  // Push: POST + PUT (one chunk), as clients do for a layer.
  const pushStart = performance.now();
  await pool(blobs, BLOB_CONCURRENCY, async (blob) => {
    const base = node();
    const start = await fetch(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
    if (start.status !== 202) throw new Error(`upload POST answered ${start.status}`);
    const location = start.headers.get('location')!;
    const done = await fetch(`${base}${location}?digest=${blob.digest}`, { method: 'PUT', body: new Uint8Array(blob.data), headers: { 'Content-Type': 'application/octet-stream' } });
    if (done.status !== 201) throw new Error(`upload PUT answered ${done.status}: ${await done.text()}`);
  });
  const pushSeconds = (performance.now() - pushStart) / 1000;

  const pullStart = performance.now();
  await pool(blobs, BLOB_CONCURRENCY, async (blob) => {
    const res = await fetch(`${node()}/v2/${repo}/blobs/${blob.digest}`);
    if (res.status !== 200) throw new Error(`blob GET answered ${res.status}`);
    const hash = createHash('sha256');
    for await (const chunk of res.body!) hash.update(chunk);
    if (`sha256:${hash.digest('hex')}` !== blob.digest) throw new Error('pulled bytes do not match');
  });
  const pullSeconds = (performance.now() - pullStart) / 1000;

  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
  const configPush = await fetch(`${node()}/v2/${repo}/blobs/uploads/?digest=${sha256(config)}`, { method: 'POST', body: new Uint8Array(config), headers: { 'Content-Type': 'application/octet-stream' } });
  if (configPush.status !== 201) throw new Error(`config push answered ${configPush.status}`);
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
    layers: blobs.slice(0, 3).map((b) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: b.digest, size: b.data.length })),
  });
  const put = await fetch(`${node()}/v2/${repo}/manifests/latest`, { method: 'PUT', body: manifest, headers: { 'Content-Type': MANIFEST } });
  if (put.status !== 201) throw new Error(`manifest PUT answered ${put.status}`);

  let gets = 0;
  const until = performance.now() + MANIFEST_SECONDS * 1000;
  const manifestStart = performance.now();
  await Promise.all(
    Array.from({ length: MANIFEST_CONCURRENCY }, async () => {
      while (performance.now() < until) {
        const res = await fetch(`${node()}/v2/${repo}/manifests/latest`, { headers: { Accept: MANIFEST } });
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`manifest GET answered ${res.status}`);
        gets++;
      }
    }),
  );
  const manifestSeconds = (performance.now() - manifestStart) / 1000;
  const mb = (BLOBS * seed.length) / 1e6;
  return { pushMBps: mb / pushSeconds, pullMBps: mb / pullSeconds, manifestGetsPerSecond: gets / manifestSeconds };
}

async function startEmbedded(): Promise<Cluster> {
  const dataDir = await mkdtemp(join(tmpdir(), 'berth-bench-'));
  const node = await spawnBerth(['--data-dir', dataDir]);
  return {
    urls: [node.url],
    async stop() {
      await node.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

async function startShared(count: number, redirect = false): Promise<Cluster | string> {
  const env = s3TestEnv();
  if (!env) return 'skipped: no S3 engine (S3_ENDPOINT ...)';
  if (!(await postgresAvailable())) return 'skipped: PostgreSQL not reachable';
  const database: TestDatabase = await createTestDatabase();
  const prefix = `bench-${randomBytes(6).toString('hex')}`;
  const storage = `s3://${testBucket}/${prefix}?endpoint=${encodeURIComponent(env.endpoint)}&region=${env.region}&createBucket=true&checksums=${env.checksums}${redirect ? '&redirect=true' : ''}`;
  const childEnv = {
    ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('BERTH_') && !name.startsWith('AWS_'))),
    AWS_ACCESS_KEY_ID: env.accessKeyId,
    AWS_SECRET_ACCESS_KEY: env.secretAccessKey,
  };
  const nodes: BerthProcess[] = [];
  for (let i = 0; i < count; i++) nodes.push(await spawnBerth(['--metadata', database.url, '--storage', storage], { env: childEnv }));
  return {
    urls: nodes.map((n) => n.url),
    async stop() {
      for (const n of nodes) await n.stop();
      await database.drop();
      await removePrefix(testBucket, `${prefix}/`);
    },
  };
}

async function pool<T>(items: T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (i < items.length) await work(items[i++]!);
    }),
  );
}

function report(results: Result[]): void {
  const header = ['setup', 'blob push MB/s', 'blob pull MB/s', `manifest GET/s (c=${MANIFEST_CONCURRENCY})`];
  const rows = results.map((r) =>
    r.note ? [r.setup, '-', '-', '-'] : [r.setup, r.pushMBps.toFixed(1), r.pullMBps.toFixed(1), r.manifestGetsPerSecond.toFixed(0)],
  );
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(`Berth cluster benchmark: ${BLOBS} blobs x ${BLOB_MIB} MiB at concurrency ${BLOB_CONCURRENCY}; manifest GETs for ${MANIFEST_SECONDS} s; all on 127.0.0.1`);
  console.log(line(header));
  for (const row of rows) console.log(line(row));
  for (const r of results) if (r.note) console.log(`${r.setup}: ${r.note}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
