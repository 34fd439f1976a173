import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OciLayoutBuilder } from '../test/helpers/images.js';
import { removePrefix, s3TestEnv, testBucket } from '../test/helpers/s3.js';
import { startBerth } from '../test/helpers/server.js';
import { runOk } from '../test/helpers/process.js';

// node dist/bench/s3-push.js — skopeo pushes S3PUSH_IMAGES (5) fresh 3-layer images
// (S3PUSH_LAYER_KIB (1024) KiB layers) to an in-process Berth on S3 (the Ceph RGW of
// S3_ENDPOINT...) with SQLite metadata, one after another; reports the mean wall time per
// image and the S3 requests per image, by operation, from berth_storage_requests_total.

const IMAGES = Number(process.env.S3PUSH_IMAGES ?? 5);
const LAYER_KIB = Number(process.env.S3PUSH_LAYER_KIB ?? 1024);

async function storageRequests(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const counts = new Map<string, number>();
  for (const m of text.matchAll(/^berth_storage_requests_total\{operation="([^"]+)"\} (\d+)$/gm)) counts.set(m[1]!, Number(m[2]));
  return counts;
}

async function main(): Promise<void> {
  const env = s3TestEnv();
  if (!env) throw new Error('set S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY (source /tmp/ceph-rgw/s3.env)');
  Object.assign(process.env, { AWS_ENDPOINT_URL_S3: env.endpoint, AWS_ACCESS_KEY_ID: env.accessKeyId, AWS_SECRET_ACCESS_KEY: env.secretAccessKey, AWS_REGION: env.region });
  const prefix = `bench-push-${randomBytes(6).toString('hex')}/`;
  const dir = await mkdtemp(join(tmpdir(), 'berth-s3push-'));
  const server = await startBerth({ storage: { kind: 's3', bucket: testBucket, prefix, createBucket: true, checksums: env.checksums } });
  try {
    const layout = await OciLayoutBuilder.create(dir);
    for (let i = 0; i < IMAGES; i++) {
      const layers = [];
      for (let l = 0; l < 3; l++) layers.push(await layout.addLayer([{ path: `file-${l}`, content: randomBytes(LAYER_KIB * 1024) }]));
      await layout.tag(`v${i}`, (await layout.addImage(layers)).manifest);
    }
    const before = await storageRequests(server.url);
    const started = performance.now();
    for (let i = 0; i < IMAGES; i++) {
      await runOk('skopeo', ['--insecure-policy', 'copy', '--preserve-digests', '--dest-tls-verify=false', `oci:${dir}:v${i}`, `docker://${server.host}/bench/app:v${i}`], { timeoutMs: 120_000 });
    }
    const ms = (performance.now() - started) / IMAGES;
    const after = await storageRequests(server.url);
    const per: string[] = [];
    let total = 0;
    for (const [operation, count] of [...after].sort()) {
      const n = (count - (before.get(operation) ?? 0)) / IMAGES;
      if (n === 0) continue;
      total += n;
      per.push(`${operation} ${+n.toFixed(1)}`);
    }
    console.log(`skopeo push of a 3-layer image (${LAYER_KIB} KiB layers, config, manifest): ${ms.toFixed(0)} ms, ${+total.toFixed(1)} S3 requests: ${per.join(', ')}`);
  } finally {
    await server.stop();
    await removePrefix(testBucket, prefix);
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
